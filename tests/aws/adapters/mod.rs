//! Every AWS adapter against a real moto server over HTTP: one moto per test,
//! started and stopped by `support::Moto`.
//!
//! Run: `cargo test --test aws adapters::` (installs the pinned moto on first use).

mod catalog;
mod dynamodb;
mod glue_jobs;
mod logs;
mod s3;
mod sns;
mod sqs;
mod timeouts;
