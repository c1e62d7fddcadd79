//! An in-memory SQS standard queue with visibility timeouts, receive
//! counts, long polling and a redrive policy to a dead-letter queue.
//! Visibility runs on `tokio::time`, so tests can pause and advance it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::adapters::memory::lock;
use crate::ports::queue::{MAX_BATCH, MAX_SEND_DELAY_SECS, MAX_VISIBILITY_SECS};
use crate::ports::{DeleteOutcome, IncidentQueue, Operation, PortError, QueueDepth, QueueMessage, ReceiptHandle};

#[derive(Debug, Clone)]
struct StoredMessage {
    message_id: String,
    body: String,
    receive_count: u32,
    sent_at: Option<DateTime<Utc>>,
    visible_at: Instant,
    /// The handle of the latest delivery; older handles are stale.
    current_handle: Option<String>,
    /// Whether it was ever delivered (delayed vs in flight when hidden).
    delivered: bool,
}

#[derive(Debug, Default)]
struct QueueContents {
    messages: Vec<StoredMessage>,
    dead_letters: Vec<StoredMessage>,
    next_message_number: u64,
    deleted_total: u64,
}

/// An in-memory queue. `max_receive_count` is the redrive policy: a message
/// received that many times moves to the dead-letter queue on its next receive.
#[derive(Debug)]
pub struct MemoryQueue {
    contents: Mutex<QueueContents>,
    arrivals: Notify,
    visibility_timeout: Duration,
    max_receive_count: u32,
    /// `delay` runs this many times faster than real time (the demo's accelerated clock).
    delay_speedup: f64,
}

impl MemoryQueue {
    pub fn new(visibility_timeout: Duration, max_receive_count: u32) -> MemoryQueue {
        debug_assert!(max_receive_count >= 1, "a redrive policy needs at least one receive");
        MemoryQueue {
            contents: Mutex::new(QueueContents::default()),
            arrivals: Notify::new(),
            visibility_timeout,
            max_receive_count,
            delay_speedup: 1.0,
        }
    }

    /// A queue whose `delay` and `send` delays (only) run `speedup` times faster than real
    /// time, matching an accelerated clock: heartbeats and releases keep
    /// their real meaning.
    pub fn with_delay_speedup(mut self, speedup: f64) -> MemoryQueue {
        debug_assert!(speedup >= 1.0, "a speedup slows nothing down");
        self.delay_speedup = speedup.max(1.0);
        self
    }

    fn hide_for(&self, handle: &ReceiptHandle, hidden_for: Duration) -> Result<(), PortError> {
        let made_visible = {
            let mut contents = lock(&self.contents);
            let message = contents
                .messages
                .iter_mut()
                .find(|message| message.current_handle.as_deref() == Some(handle.0.as_str()))
                .ok_or_else(|| {
                    PortError::not_found(
                        Operation::ChangeMessageVisibility,
                        format!("receipt handle {} is stale", handle.0),
                    )
                })?;
            message.visible_at = Instant::now() + hidden_for;
            hidden_for.is_zero()
        };
        if made_visible {
            self.arrivals.notify_waiters();
        }
        Ok(())
    }

    /// Put a message on the queue, visible after `delay`; returns its message id.
    pub fn send_delayed(&self, body: impl Into<String>, delay: Duration, sent_at: Option<DateTime<Utc>>) -> String {
        let message_id = {
            let mut contents = lock(&self.contents);
            contents.next_message_number += 1;
            let message_id = format!("msg-{:06}", contents.next_message_number);
            contents.messages.push(StoredMessage {
                message_id: message_id.clone(),
                body: body.into(),
                receive_count: 0,
                sent_at,
                visible_at: Instant::now() + delay,
                current_handle: None,
                delivered: false,
            });
            message_id
        };
        self.arrivals.notify_waiters();
        message_id
    }

    /// Put a message on the queue, visible at once (as EventBridge would).
    pub fn push(&self, body: impl Into<String>) -> String {
        self.send_delayed(body, Duration::ZERO, None)
    }

    /// Messages not yet deleted nor dead-lettered, visible or not.
    pub fn len(&self) -> usize {
        lock(&self.contents).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bodies of the messages the redrive policy moved to the DLQ.
    pub fn dead_letter_bodies(&self) -> Vec<String> {
        lock(&self.contents).dead_letters.iter().map(|message| message.body.clone()).collect()
    }

    pub fn deleted_total(&self) -> u64 {
        lock(&self.contents).deleted_total
    }

    /// Bodies of messages still on the main queue, visible or not.
    pub fn pending_bodies(&self) -> Vec<String> {
        lock(&self.contents).messages.iter().map(|message| message.body.clone()).collect()
    }

    fn take_visible(&self, max_messages: usize) -> (Vec<QueueMessage>, Option<Instant>) {
        let now = Instant::now();
        let mut contents = lock(&self.contents);
        let mut taken = Vec::new();
        let mut index = 0;
        while index < contents.messages.len() && taken.len() < max_messages {
            if contents.messages[index].visible_at > now {
                index += 1;
                continue;
            }
            if contents.messages[index].receive_count >= self.max_receive_count {
                let dead = contents.messages.remove(index);
                contents.dead_letters.push(dead);
                continue;
            }
            let message = &mut contents.messages[index];
            message.receive_count += 1;
            message.delivered = true;
            message.visible_at = now + self.visibility_timeout;
            let handle = format!("{}#{}", message.message_id, message.receive_count);
            message.current_handle = Some(handle.clone());
            taken.push(QueueMessage {
                handle: ReceiptHandle(handle),
                message_id: message.message_id.clone(),
                body: message.body.clone(),
                receive_count: message.receive_count,
                sent_at: message.sent_at,
            });
            index += 1;
        }
        let next_visible = contents.messages.iter().map(|message| message.visible_at).filter(|at| *at > now).min();
        (taken, next_visible)
    }
}

#[async_trait]
impl IncidentQueue for MemoryQueue {
    async fn receive(&self, max_messages: u32, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        if max_messages == 0 || max_messages > MAX_BATCH {
            return Err(PortError::rejected(
                Operation::ReceiveMessage,
                format!("max_messages {max_messages} not in 1..=10"),
            ));
        }
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so a send between the look and the wait still wakes us.
            let arrival = self.arrivals.notified();
            let (taken, next_visible) = self.take_visible(max_messages as usize);
            if !taken.is_empty() || Instant::now() >= deadline {
                return Ok(taken);
            }
            let wake_at = next_visible.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                () = arrival => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn delete_batch(&self, handles: &[ReceiptHandle]) -> Result<Vec<DeleteOutcome>, PortError> {
        if handles.is_empty() || handles.len() > MAX_BATCH as usize {
            return Err(PortError::rejected(
                Operation::DeleteMessageBatch,
                format!("{} handles not in 1..=10", handles.len()),
            ));
        }
        let mut contents = lock(&self.contents);
        let mut outcomes = Vec::with_capacity(handles.len());
        for handle in handles {
            let position = contents
                .messages
                .iter()
                .position(|message| message.current_handle.as_deref() == Some(handle.0.as_str()));
            let result = match position {
                Some(index) => {
                    contents.messages.remove(index);
                    contents.deleted_total += 1;
                    Ok(())
                }
                None => Err(PortError::not_found(
                    Operation::DeleteMessageBatch,
                    format!("receipt handle {} is stale", handle.0),
                )),
            };
            outcomes.push(DeleteOutcome { handle: handle.clone(), result });
        }
        Ok(outcomes)
    }

    async fn set_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        if visibility_secs > MAX_VISIBILITY_SECS {
            return Err(PortError::rejected(
                Operation::ChangeMessageVisibility,
                format!("{visibility_secs} s exceeds 12 h"),
            ));
        }
        self.hide_for(handle, Duration::from_secs(u64::from(visibility_secs)))
    }

    async fn delay(&self, handle: &ReceiptHandle, delay_secs: u32) -> Result<(), PortError> {
        if delay_secs > MAX_VISIBILITY_SECS {
            return Err(PortError::rejected(
                Operation::ChangeMessageVisibility,
                format!("{delay_secs} s exceeds 12 h"),
            ));
        }
        self.hide_for(handle, Duration::from_secs_f64(f64::from(delay_secs) / self.delay_speedup))
    }

    async fn send(&self, body: &str, delay_secs: u32) -> Result<String, PortError> {
        if delay_secs > MAX_SEND_DELAY_SECS {
            return Err(PortError::rejected(Operation::SendMessage, format!("delay {delay_secs} s exceeds 900 s")));
        }
        // Delays follow the accelerated clock, as `delay` does.
        Ok(self.send_delayed(body, Duration::from_secs_f64(f64::from(delay_secs) / self.delay_speedup), None))
    }

    async fn depth(&self) -> Result<QueueDepth, PortError> {
        let now = Instant::now();
        let contents = lock(&self.contents);
        let mut depth = QueueDepth::default();
        for message in &contents.messages {
            if message.visible_at <= now {
                depth.visible += 1;
            } else if message.delivered {
                depth.in_flight += 1;
            } else {
                depth.delayed += 1;
            }
        }
        Ok(depth)
    }

    async fn dead_letter_depth(&self) -> Result<Option<QueueDepth>, PortError> {
        let dead = lock(&self.contents).dead_letters.len() as u64;
        Ok(Some(QueueDepth { visible: dead, in_flight: 0, delayed: 0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> MemoryQueue {
        MemoryQueue::new(Duration::from_secs(30), 3)
    }

    #[tokio::test(start_paused = true)]
    async fn a_received_message_is_hidden_until_its_visibility_expires() {
        let queue = queue();
        queue.push("a");
        let first = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
        tokio::time::advance(Duration::from_secs(31)).await;
        let again = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again[0].message_id, first[0].message_id);
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_wakes_on_send_and_returns_empty_at_the_deadline() {
        let queue = std::sync::Arc::new(queue());
        let sender = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            sender.push("late");
        });
        let started = Instant::now();
        let received = queue.receive(1, Duration::from_secs(20)).await.unwrap();
        assert_eq!(received[0].body, "late");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let empty = queue.receive(1, Duration::from_secs(20)).await.unwrap();
        assert!(empty.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn delete_reports_each_handle_and_stale_handles_fail() {
        let queue = queue();
        queue.push("a");
        queue.push("b");
        let received = queue.receive(10, Duration::ZERO).await.unwrap();
        let mut handles: Vec<ReceiptHandle> = received.iter().map(|message| message.handle.clone()).collect();
        handles.push(ReceiptHandle("msg-999999#1".into()));
        let outcomes = queue.delete_batch(&handles).await.unwrap();
        assert!(outcomes[0].result.is_ok() && outcomes[1].result.is_ok());
        assert!(outcomes[2].result.as_ref().unwrap_err().is_not_found());
        assert!(queue.is_empty());
        assert_eq!(queue.deleted_total(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn release_and_delay_control_when_a_message_returns() {
        let queue = queue();
        queue.push("a");
        let received = queue.receive(1, Duration::ZERO).await.unwrap();
        queue.delay(&received[0].handle, 600).await.unwrap();
        assert_eq!(queue.depth().await.unwrap().in_flight, 1);
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        let again = queue.receive(1, Duration::ZERO).await.unwrap();
        queue.release(&again[0].handle).await.unwrap();
        assert_eq!(queue.depth().await.unwrap().visible, 1);
        // The older handle no longer names the message.
        assert!(queue.extend_visibility(&received[0].handle, 30).await.unwrap_err().is_not_found());
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_never_deleted_reaches_the_dead_letter_queue() {
        let queue = queue();
        queue.push("poison");
        for _ in 0..3 {
            let received = queue.receive(1, Duration::ZERO).await.unwrap();
            queue.release(&received[0].handle).await.unwrap();
        }
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(queue.dead_letter_bodies(), vec!["poison".to_string()]);
        assert_eq!(queue.dead_letter_depth().await.unwrap().unwrap().visible, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_accelerated_queue_shortens_only_delays() {
        let queue = MemoryQueue::new(Duration::from_secs(30), 3).with_delay_speedup(60.0);
        queue.send("a", 0).await.unwrap();
        let received = queue.receive(1, Duration::ZERO).await.unwrap();
        queue.delay(&received[0].handle, 600).await.unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        let again = queue.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1, "600 s at 60x is 10 s");
        queue.extend_visibility(&again[0].handle, 20).await.unwrap();
        tokio::time::advance(Duration::from_secs(19)).await;
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "heartbeats keep real time");
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_messages_count_as_delayed() {
        let queue = queue();
        queue.send_delayed("later", Duration::from_secs(60), None);
        let depth = queue.depth().await.unwrap();
        assert_eq!((depth.visible, depth.in_flight, depth.delayed), (0, 0, 1));
    }
}
