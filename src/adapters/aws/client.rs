//! The one place that builds AWS SDK configuration: region, endpoint,
//! credentials, HTTPS client, timeouts and retries, for every adapter.
//!
//! Production reads the standard AWS environment (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, the credentials chain ending in the ECS task role),
//! never etl-medic's own keys. Tests use [`AwsConnection::for_endpoint`],
//! which reads nothing from the environment, so a test can point the SDK at
//! its own moto server without `std::env::set_var`.
//!
//! The SDK has no response timeout of its own: a hung connection would hold
//! a worker slot forever. Every client gets an attempt and an operation
//! timeout, with SQS's above the 20 s long poll, and standard retries with a
//! bounded number of attempts.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;

/// Timeouts and retries of one family of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    pub connect_timeout: Duration,
    /// One HTTP attempt, response body included.
    pub attempt_timeout: Duration,
    /// All attempts and the back-off between them.
    pub operation_timeout: Duration,
    /// Attempts in total, the first included (standard retry mode).
    pub max_attempts: u32,
}

/// SQS: ReceiveMessage long-polls for up to 20 s, so an attempt must be
/// allowed well past that, and the operation past one retry of it.
pub const QUEUE_CALLS: CallBudget = CallBudget {
    connect_timeout: Duration::from_secs(3),
    attempt_timeout: Duration::from_secs(30),
    operation_timeout: Duration::from_secs(60),
    max_attempts: 3,
};

/// Glue, CloudWatch Logs, DynamoDB, SNS: small request/response calls.
pub const CONTROL_CALLS: CallBudget = CallBudget {
    connect_timeout: Duration::from_secs(3),
    attempt_timeout: Duration::from_secs(10),
    operation_timeout: Duration::from_secs(30),
    max_attempts: 3,
};

/// S3: audit records and quarantine copies can carry more bytes.
pub const OBJECT_CALLS: CallBudget = CallBudget {
    connect_timeout: Duration::from_secs(3),
    attempt_timeout: Duration::from_secs(20),
    operation_timeout: Duration::from_secs(60),
    max_attempts: 3,
};

/// The budgets of the three families of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudgets {
    pub queue: CallBudget,
    pub control: CallBudget,
    pub object: CallBudget,
}

impl Default for CallBudgets {
    fn default() -> CallBudgets {
        CallBudgets { queue: QUEUE_CALLS, control: CONTROL_CALLS, object: OBJECT_CALLS }
    }
}

/// Settings for talking to one explicit endpoint with static credentials
/// (moto in tests, or a local emulator in development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplicitEndpoint {
    pub endpoint_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl ExplicitEndpoint {
    /// The settings a moto server accepts: any region and any keys.
    pub fn local(endpoint_url: impl Into<String>) -> ExplicitEndpoint {
        ExplicitEndpoint {
            endpoint_url: endpoint_url.into(),
            region: "us-east-1".to_string(),
            access_key_id: "testing".to_string(),
            secret_access_key: "testing".to_string(),
        }
    }
}

/// Shared AWS configuration from which every adapter builds its client.
/// Cheap to clone; holds no `aws_sdk_*` type in its public surface.
#[derive(Debug, Clone)]
pub struct AwsConnection {
    sdk_config: SdkConfig,
    budgets: CallBudgets,
}

impl AwsConnection {
    /// From the standard AWS environment and credentials chain.
    pub async fn from_environment() -> AwsConnection {
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(timeout_config(CONTROL_CALLS))
            .retry_config(retry_config(CONTROL_CALLS))
            .load()
            .await;
        AwsConnection { sdk_config, budgets: CallBudgets::default() }
    }

    /// For one explicit endpoint with static credentials; reads no
    /// environment variable and no profile file.
    pub fn for_endpoint(endpoint: &ExplicitEndpoint) -> AwsConnection {
        let credentials = Credentials::new(
            endpoint.access_key_id.clone(),
            endpoint.secret_access_key.clone(),
            None,
            None,
            "etl-medic-explicit",
        );
        let sdk_config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(endpoint.region.clone()))
            .endpoint_url(endpoint.endpoint_url.clone())
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(https_client())
            .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .timeout_config(timeout_config(CONTROL_CALLS))
            .retry_config(retry_config(CONTROL_CALLS))
            .build();
        AwsConnection { sdk_config, budgets: CallBudgets::default() }
    }

    /// Other timeouts and retries than the defaults (tests of the timeouts
    /// themselves; a deployment with unusual latency).
    pub fn with_call_budgets(mut self, budgets: CallBudgets) -> AwsConnection {
        self.budgets = budgets;
        self
    }

    /// The custom endpoint, when one is set (then S3 uses path-style URLs).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.sdk_config.endpoint_url()
    }

    pub fn region(&self) -> Option<&str> {
        self.sdk_config.region().map(|region| region.as_ref())
    }

    pub(in crate::adapters::aws) fn sqs_client(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.queue))
            .retry_config(retry_config(self.budgets.queue))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn glue_client(&self) -> aws_sdk_glue::Client {
        let config = aws_sdk_glue::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.control))
            .retry_config(retry_config(self.budgets.control))
            .build();
        aws_sdk_glue::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn logs_client(&self) -> aws_sdk_cloudwatchlogs::Client {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.control))
            .retry_config(retry_config(self.budgets.control))
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn s3_client(&self) -> aws_sdk_s3::Client {
        // Emulators and VPC endpoints do not serve virtual-hosted bucket names.
        let path_style = self.endpoint_url().is_some();
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config)
            .force_path_style(path_style)
            .timeout_config(timeout_config(self.budgets.object))
            .retry_config(retry_config(self.budgets.object))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.control))
            .retry_config(retry_config(self.budgets.control))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn secretsmanager_client(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.control))
            .retry_config(retry_config(self.budgets.control))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    pub(in crate::adapters::aws) fn sns_client(&self) -> aws_sdk_sns::Client {
        let config = aws_sdk_sns::config::Builder::from(&self.sdk_config)
            .timeout_config(timeout_config(self.budgets.control))
            .retry_config(retry_config(self.budgets.control))
            .build();
        aws_sdk_sns::Client::from_conf(config)
    }
}

/// rustls with ring: no aws-lc C build, and plain `http://` still allowed
/// for local endpoints.
fn https_client() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

fn timeout_config(budget: CallBudget) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(budget.connect_timeout)
        .operation_attempt_timeout(budget.attempt_timeout)
        .operation_timeout(budget.operation_timeout)
        .build()
}

fn retry_config(budget: CallBudget) -> RetryConfig {
    RetryConfig::standard().with_max_attempts(budget.max_attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_attempts_outlast_the_longest_long_poll() {
        let long_poll = Duration::from_secs(20);
        assert!(QUEUE_CALLS.attempt_timeout > long_poll);
        assert!(QUEUE_CALLS.operation_timeout >= QUEUE_CALLS.attempt_timeout * 2);
        for budget in [QUEUE_CALLS, CONTROL_CALLS, OBJECT_CALLS] {
            assert!(budget.max_attempts >= 2 && budget.max_attempts <= 5);
            assert!(budget.operation_timeout > budget.attempt_timeout);
        }
    }

    #[test]
    fn an_explicit_endpoint_sets_region_and_endpoint_without_the_environment() {
        let connection = AwsConnection::for_endpoint(&ExplicitEndpoint::local("http://127.0.0.1:5000"));
        assert_eq!(connection.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(connection.region(), Some("us-east-1"));
        let sqs_timeouts = connection.sqs_client().config().timeout_config().cloned();
        assert_eq!(
            sqs_timeouts.and_then(|timeouts| timeouts.operation_attempt_timeout()),
            Some(QUEUE_CALLS.attempt_timeout)
        );
    }
}
