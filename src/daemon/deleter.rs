//! Batched deletes: handlers hand over the receipt handles of messages
//! whose work is recorded, and one task deletes them in batches of up to
//! ten, handling each handle's result on its own. A retryable failure is
//! tried again in a later batch; a stale handle means the message was
//! received again, and its redelivery will find the work already done.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::ports::queue::MAX_BATCH;
use crate::ports::{IncidentQueue, ReceiptHandle};

/// How long the deleter waits for more handles before sending a partial batch.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Attempts per handle before leaving the message to come back.
const ATTEMPTS_PER_HANDLE: u32 = 3;

/// The sending side; dropping every clone stops the deleter after a final flush.
#[derive(Clone)]
pub struct DeleteRequests {
    sender: mpsc::UnboundedSender<ReceiptHandle>,
}

impl DeleteRequests {
    /// Ask for a message to be deleted. If the deleter is gone the message
    /// simply comes back later and is found done.
    pub fn delete(&self, handle: ReceiptHandle) {
        if self.sender.send(handle).is_err() {
            tracing::warn!("deleter stopped; the message will come back and be found done");
        }
    }
}

pub fn spawn_deleter(queue: Arc<dyn IncidentQueue>, metrics: Metrics) -> (DeleteRequests, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_deleter(queue, metrics, receiver));
    (DeleteRequests { sender }, task)
}

async fn run_deleter(
    queue: Arc<dyn IncidentQueue>,
    metrics: Metrics,
    mut receiver: mpsc::UnboundedReceiver<ReceiptHandle>,
) {
    let mut pending: Vec<(ReceiptHandle, u32)> = Vec::new();
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match receiver.recv().await {
                Some(handle) => pending.push((handle, 0)),
                None => break,
            }
        }
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while open && pending.len() < MAX_BATCH as usize {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(handle)) => pending.push((handle, 0)),
                Ok(None) => open = false,
                Err(_elapsed) => break,
            }
        }
        let batch: Vec<(ReceiptHandle, u32)> = pending.drain(..pending.len().min(MAX_BATCH as usize)).collect();
        pending.extend(delete_batch(queue.as_ref(), &metrics, batch).await);
    }
}

/// Delete one batch; returns the handles to try again.
async fn delete_batch(
    queue: &dyn IncidentQueue,
    metrics: &Metrics,
    batch: Vec<(ReceiptHandle, u32)>,
) -> Vec<(ReceiptHandle, u32)> {
    let handles: Vec<ReceiptHandle> = batch.iter().map(|(handle, _)| handle.clone()).collect();
    let outcomes = match queue.delete_batch(&handles).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            tracing::warn!(error = %error, count = handles.len(), "batch delete failed");
            return retry_or_give_up(batch, error.is_retryable());
        }
    };
    let mut again = Vec::new();
    for ((handle, attempts), outcome) in batch.into_iter().zip(outcomes) {
        debug_assert_eq!(handle, outcome.handle, "delete outcomes come back in request order");
        match outcome.result {
            Ok(()) => metrics.messages_deleted_total.inc(),
            Err(error) if error.is_retryable() && attempts + 1 < ATTEMPTS_PER_HANDLE => {
                again.push((handle, attempts + 1))
            }
            Err(error) => tracing::warn!(error = %error, "message not deleted; it will come back and be found done"),
        }
    }
    again
}

fn retry_or_give_up(batch: Vec<(ReceiptHandle, u32)>, retryable: bool) -> Vec<(ReceiptHandle, u32)> {
    if !retryable {
        return Vec::new();
    }
    batch
        .into_iter()
        .filter(|(_, attempts)| attempts + 1 < ATTEMPTS_PER_HANDLE)
        .map(|(handle, attempts)| (handle, attempts + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryQueue;

    #[tokio::test(start_paused = true)]
    async fn handles_are_deleted_in_batches_and_stale_ones_do_not_block_others() {
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
        for number in 0..12 {
            queue.push(format!("m{number}"));
        }
        let mut handles = queue.receive(10, Duration::ZERO).await.unwrap();
        handles.extend(queue.receive(10, Duration::ZERO).await.unwrap());
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        let (requests, task) = spawn_deleter(queue.clone(), metrics.clone());
        requests.delete(ReceiptHandle("msg-999999#1".into()));
        for message in &handles {
            requests.delete(message.handle.clone());
        }
        drop(requests);
        task.await.unwrap();
        assert!(queue.is_empty());
        assert_eq!(metrics.messages_deleted_total.get(), 12);
    }
}
