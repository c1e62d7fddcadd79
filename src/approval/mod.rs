//! `approve` mode's pure parts: the hash that binds an approval to exactly
//! one proposal, Slack's request signature and interaction payloads, and
//! the precision ledger behind the autonomy ladder. No I/O here: the
//! daemon (`daemon::approval`) and the `approve` command do the reading and
//! writing around these functions.

pub mod binding;
pub mod ladder;
pub mod ledger;
pub mod slack;

pub use binding::binding_hash;
