//! AWS SDK adapters: one file per port, each converting SDK types into the
//! port's domain types at its border, so that no `aws_sdk_*` type leaves this
//! module. `client` builds the shared SDK configuration (endpoint, region,
//! credentials, timeouts, retries); `error` maps SDK errors into `PortError`.

pub mod client;
mod error;

pub use client::{AwsConnection, CallBudget, ExplicitEndpoint};
