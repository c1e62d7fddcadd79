//! AWS SDK adapters: one file per port, each converting SDK types into the
//! port's domain types at its border, so that no `aws_sdk_*` type leaves this
//! module. `client` builds the shared SDK configuration (endpoint, region,
//! credentials, timeouts, retries); `error` maps SDK errors into `PortError`.
//! `adapters::wiring::aws_ports` assembles one adapter per port.
//!
//! Production: `aws_ports(&AwsConnection::from_environment().await, &settings)`.
//! Tests: `AwsConnection::for_endpoint(&ExplicitEndpoint::local(moto_url))`,
//! see tests/support and tests/moto.

pub mod approvals_sqs;
pub mod client;
pub mod cloudwatch_logs;
pub mod dynamodb;
mod error;
pub mod glue_catalog;
pub mod glue_jobs;
pub mod s3;
pub mod secrets;
pub mod sns;
pub mod sqs;

pub use approvals_sqs::SqsApprovalInbox;
pub use client::{AwsConnection, CallBudget, CallBudgets, ExplicitEndpoint};
pub use cloudwatch_logs::CloudWatchRunLogs;
pub use dynamodb::DynamoIncidentStore;
pub use glue_catalog::GlueCatalog;
pub use glue_jobs::GlueJobControl;
pub use s3::S3ObjectStore;
pub use secrets::SecretsManagerSecrets;
pub use sns::SnsNotifier;
pub use sqs::SqsIncidentQueue;
