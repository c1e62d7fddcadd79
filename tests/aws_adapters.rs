//! Every AWS adapter against a real moto server over HTTP: one moto per test,
//! started and stopped by `support::Moto`. One test binary for all adapters,
//! because each binary links the whole AWS SDK.
//!
//! Run: `cargo test --test aws_adapters` (installs the pinned moto on first use).

mod support;

#[path = "aws_adapters/catalog.rs"]
mod catalog;
#[path = "aws_adapters/dynamodb.rs"]
mod dynamodb;
#[path = "aws_adapters/glue_jobs.rs"]
mod glue_jobs;
#[path = "aws_adapters/logs.rs"]
mod logs;
#[path = "aws_adapters/s3.rs"]
mod s3;
#[path = "aws_adapters/sns.rs"]
mod sns;
#[path = "aws_adapters/sqs.rs"]
mod sqs;
#[path = "aws_adapters/timeouts.rs"]
mod timeouts;
