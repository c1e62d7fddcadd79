//! Slack approvals in memory: an inbox that hands out each pushed request
//! until it is deleted (a request received and not deleted comes back on
//! the next receive, as on SQS after its visibility timeout), the replies
//! a person would see in the thread, and a fixed secret.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::ports::{ApprovalInbox, ApprovalReplies, Operation, PortError, ReceiptHandle, SecretSource, SlackDelivery};

#[derive(Debug, Default)]
pub struct MemoryApprovalInbox {
    waiting: Mutex<BTreeMap<u64, SlackDelivery>>,
    next_id: AtomicU64,
    deleted: AtomicU64,
}

impl MemoryApprovalInbox {
    pub fn new() -> MemoryApprovalInbox {
        MemoryApprovalInbox::default()
    }

    /// Put a request on the inbox, as the HTTP API would.
    pub fn push(&self, body: &str, timestamp: Option<&str>, signature: Option<&str>) -> String {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message_id = format!("approval-{id}");
        let delivery = SlackDelivery {
            handle: ReceiptHandle(format!("handle-{id}")),
            message_id: message_id.clone(),
            body: body.to_string(),
            signature: signature.map(str::to_string),
            timestamp: timestamp.map(str::to_string),
        };
        lock(&self.waiting).insert(id, delivery);
        message_id
    }

    /// Requests not yet deleted.
    pub fn len(&self) -> usize {
        lock(&self.waiting).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn deleted_total(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl ApprovalInbox for MemoryApprovalInbox {
    async fn receive(&self, wait: Duration) -> Result<Vec<SlackDelivery>, PortError> {
        let waiting: Vec<SlackDelivery> = lock(&self.waiting).values().take(10).cloned().collect();
        if waiting.is_empty() {
            tokio::time::sleep(wait).await;
        }
        Ok(waiting)
    }

    async fn delete(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        let mut waiting = lock(&self.waiting);
        let id = waiting.iter().find(|(_, delivery)| &delivery.handle == handle).map(|(id, _)| *id);
        match id.and_then(|id| waiting.remove(&id)) {
            Some(_) => {
                self.deleted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => Err(PortError::not_found(Operation::DeleteMessage, format!("receipt handle {}", handle.0))),
        }
    }
}

/// Keeps every reply, as (response_url, text).
#[derive(Debug, Default)]
pub struct MemoryApprovalReplies {
    replies: Mutex<Vec<(String, String)>>,
}

impl MemoryApprovalReplies {
    pub fn new() -> MemoryApprovalReplies {
        MemoryApprovalReplies::default()
    }

    pub fn replies(&self) -> Vec<(String, String)> {
        lock(&self.replies).clone()
    }
}

#[async_trait]
impl ApprovalReplies for MemoryApprovalReplies {
    async fn reply(&self, response_url: &str, text: &str) -> Result<(), PortError> {
        lock(&self.replies).push((response_url.to_string(), text.to_string()));
        Ok(())
    }
}

/// Secrets by id.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    secrets: BTreeMap<String, String>,
}

impl MemorySecrets {
    pub fn with(id: &str, value: &str) -> MemorySecrets {
        MemorySecrets { secrets: BTreeMap::from([(id.to_string(), value.to_string())]) }
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn secret_string(&self, id: &str) -> Result<String, PortError> {
        self.secrets
            .get(id)
            .cloned()
            .ok_or_else(|| PortError::not_found(Operation::GetSecretValue, format!("secret {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_comes_back_until_deleted() {
        let inbox = MemoryApprovalInbox::new();
        inbox.push("payload=1", Some("1"), Some("v0=aa"));
        let first = inbox.receive(Duration::from_secs(1)).await.expect("receive");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].signature.as_deref(), Some("v0=aa"));
        assert_eq!(inbox.receive(Duration::from_secs(1)).await.expect("again").len(), 1, "not deleted: back");
        inbox.delete(&first[0].handle).await.expect("delete");
        assert!(inbox.receive(Duration::from_secs(1)).await.expect("empty").is_empty());
        assert!(inbox.delete(&first[0].handle).await.is_err(), "a deleted handle is gone");
        assert_eq!(inbox.deleted_total(), 1);
        let secrets = MemorySecrets::with("arn:slack", "s3cret");
        assert_eq!(secrets.secret_string("arn:slack").await.expect("known"), "s3cret");
        assert!(secrets.secret_string("arn:other").await.is_err());
    }
}
