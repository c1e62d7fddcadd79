//! The AWS SDK adapters and the daemon on them, against moto servers over
//! real HTTP, and the operation labels they report.

#[path = "../support/mod.rs"]
mod support;

mod adapters;
mod approve;
mod backtest;
mod daemon_process;
mod end_to_end;
mod operation_labels;
mod policy_promotion;
mod source_wait;
