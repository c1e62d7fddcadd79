//! The ports of Slack approvals: the approvals queue (API Gateway HTTP API
//! -> SQS puts each request Slack sends there, raw body and signature
//! headers), the answer in the thread (Slack's `response_url`), and the
//! secret store holding the Slack app's signing secret. None of them is
//! trusted: every request is verified (`approval::slack`) before it counts.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{PortError, ReceiptHandle};

/// One request from Slack as the approvals queue delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackDelivery {
    pub handle: ReceiptHandle,
    pub message_id: String,
    /// The raw request body, byte for byte as Slack sent it.
    pub body: String,
    /// `X-Slack-Signature`, when the message carries it.
    pub signature: Option<String>,
    /// `X-Slack-Request-Timestamp`, when the message carries it.
    pub timestamp: Option<String>,
}

/// Message attribute names the stack's API Gateway integration sets.
pub const SIGNATURE_ATTRIBUTE: &str = "X-Slack-Signature";
pub const TIMESTAMP_ATTRIBUTE: &str = "X-Slack-Request-Timestamp";

/// Contract: `receive` long-polls up to `wait` and returns at most 10
/// requests (an empty vector is a normal answer); a request not deleted
/// comes back after the queue's visibility timeout (at-least-once, so a
/// request may be seen twice: applying an answer is single use anyway).
/// `delete` acknowledges one.
#[async_trait]
pub trait ApprovalInbox: Send + Sync {
    async fn receive(&self, wait: Duration) -> Result<Vec<SlackDelivery>, PortError>;

    async fn delete(&self, handle: &ReceiptHandle) -> Result<(), PortError>;
}

/// Contract: `reply` posts `text` in the thread of the message a person
/// clicked (`response_url`, Slack's own https://hooks.slack.com/ URL; any
/// other URL is refused, never posted to).
#[async_trait]
pub trait ApprovalReplies: Send + Sync {
    async fn reply(&self, response_url: &str, text: &str) -> Result<(), PortError>;
}

/// Contract: `secret_string` reads the current value of the secret `id`
/// (Secrets Manager GetSecretValue).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret_string(&self, id: &str) -> Result<String, PortError>;
}
