//! The incident queue port (SQS semantics): EventBridge puts Glue job state
//! changes on it; the worker pool long-polls it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::PortError;

/// Opaque token naming one delivery of a message (SQS ReceiptHandle).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptHandle(pub String);

/// One delivery of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub handle: ReceiptHandle,
    /// Stable across redeliveries of the same message (SQS MessageId).
    pub message_id: String,
    pub body: String,
    /// How many times this message has been received, this delivery included
    /// (SQS ApproximateReceiveCount, at least 1).
    pub receive_count: u32,
    /// When the message was first sent (SQS SentTimestamp), if known.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The result of deleting one handle in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub handle: ReceiptHandle,
    pub result: Result<(), PortError>,
}

/// Approximate message counts (SQS GetQueueAttributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// Contract (SQS standard queue semantics, at-least-once):
/// - `receive` returns at most `max_messages` (1..=10) messages, waiting up to
///   `wait` for the first one (long poll, at most 20 s); an empty vector is a
///   normal answer. Each returned message is invisible to other receivers for
///   the queue's visibility timeout. The same message may be delivered more
///   than once, possibly concurrently.
/// - A message that is never deleted becomes visible again; after the queue's
///   `maxReceiveCount` receives the redrive policy moves it to the DLQ. The
///   daemon relies on this for poison messages: it never deletes them.
/// - `delete_batch` takes 1..=10 handles and reports each one separately; a
///   call-level `Err` means nothing is known to be deleted.
/// - `send(body, delay_secs)` enqueues a new message, visible after
///   `delay_secs` (0..=900); the reconciler uses it to replay a job-run
///   state change whose EventBridge event never came.
/// - `set_visibility(handle, secs)` makes the message invisible for `secs`
///   seconds from now (0 = visible at once, at most 43 200): it is the
///   heartbeat while a message is worked on, the way a message goes back at
///   once on shutdown, and the delay of `wait_and_retry`. A handle whose
///   message was deleted or re-received gives `NotFound`.
#[async_trait]
pub trait IncidentQueue: Send + Sync {
    async fn receive(&self, max_messages: u32, wait: Duration) -> Result<Vec<QueueMessage>, PortError>;

    async fn delete_batch(&self, handles: &[ReceiptHandle]) -> Result<Vec<DeleteOutcome>, PortError>;

    async fn set_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError>;

    /// Enqueue a message; returns its message id.
    async fn send(&self, body: &str, delay_secs: u32) -> Result<String, PortError>;

    /// Message counts of the main queue.
    async fn depth(&self) -> Result<QueueDepth, PortError>;

    /// Message counts of the dead-letter queue, `None` when there is none.
    async fn dead_letter_depth(&self) -> Result<Option<QueueDepth>, PortError>;

    /// Keep a message we are working on invisible for another `visibility_secs`.
    async fn extend_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        self.set_visibility(handle, visibility_secs).await
    }

    /// Give a message back for someone else to receive at once (shutdown).
    async fn release(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        self.set_visibility(handle, 0).await
    }

    /// Let a message come back after `delay_secs` (`wait_and_retry`).
    async fn delay(&self, handle: &ReceiptHandle, delay_secs: u32) -> Result<(), PortError> {
        self.set_visibility(handle, delay_secs).await
    }
}

/// SQS's largest visibility timeout, 12 hours.
pub const MAX_VISIBILITY_SECS: u32 = 43_200;
/// SQS's largest DelaySeconds, 15 minutes.
pub const MAX_SEND_DELAY_SECS: u32 = 900;
/// SQS's largest batch for receive and delete.
pub const MAX_BATCH: u32 = 10;
