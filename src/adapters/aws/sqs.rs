//! The incident queue on SQS: long-poll receive, batch delete with per-entry
//! results, visibility changes, and queue depth for the main queue and its
//! dead-letter queue.
//!
//! The dead-letter queue is either given or found from the main queue's
//! RedrivePolicy (deadLetterTargetArn -> GetQueueUrl), once.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::{classify_code, port_error};
use crate::ports::Operation;
use crate::ports::queue::{MAX_BATCH, MAX_SEND_DELAY_SECS, MAX_VISIBILITY_SECS};
use crate::ports::{DeleteOutcome, IncidentQueue, PortError, QueueDepth, QueueMessage, ReceiptHandle};

/// SQS's longest long poll.
const MAX_WAIT_SECS: u64 = 20;

pub struct SqsIncidentQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// `Some(None)` once we know there is no DLQ.
    dead_letter_queue_url: OnceCell<Option<String>>,
}

impl SqsIncidentQueue {
    /// `dead_letter_queue_url`: `None` to find it from the RedrivePolicy.
    pub fn new(connection: &AwsConnection, queue_url: &str, dead_letter_queue_url: Option<&str>) -> SqsIncidentQueue {
        let known_dead_letter = OnceCell::new();
        if let Some(url) = dead_letter_queue_url {
            // A fresh cell cannot already be set.
            let _ = known_dead_letter.set(Some(url.to_string()));
        }
        SqsIncidentQueue {
            client: connection.sqs_client(),
            queue_url: queue_url.to_string(),
            dead_letter_queue_url: known_dead_letter,
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn depth_of(&self, queue_url: &str) -> Result<(QueueDepth, HashMap<QueueAttributeName, String>), PortError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetQueueAttributes, error))?;
        let attributes = output.attributes.unwrap_or_default();
        let count =
            |name: QueueAttributeName| attributes.get(&name).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
        let depth = QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        };
        Ok((depth, attributes))
    }

    async fn resolve_dead_letter_queue_url(&self) -> Result<Option<String>, PortError> {
        let resolved = self
            .dead_letter_queue_url
            .get_or_try_init(|| async {
                let (_, attributes) = self.depth_of(&self.queue_url).await?;
                let Some(queue_name) = attributes
                    .get(&QueueAttributeName::RedrivePolicy)
                    .and_then(|policy| dead_letter_queue_name(policy))
                else {
                    return Ok::<Option<String>, PortError>(None);
                };
                let output = self
                    .client
                    .get_queue_url()
                    .queue_name(queue_name)
                    .send()
                    .await
                    .map_err(|error| port_error(Operation::GetQueueUrl, error))?;
                let url = output.queue_url;
                Ok(url)
            })
            .await?;
        Ok(resolved.clone())
    }
}

/// The queue name at the end of the RedrivePolicy's deadLetterTargetArn.
fn dead_letter_queue_name(redrive_policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    let target_arn = policy.get("deadLetterTargetArn")?.as_str()?;
    let queue_name = target_arn.rsplit(':').next()?;
    (!queue_name.is_empty()).then(|| queue_name.to_string())
}

fn into_queue_message(message: Message) -> Option<QueueMessage> {
    let attributes = message.attributes.unwrap_or_default();
    let receive_count = attributes
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let sent_at = attributes
        .get(&MessageSystemAttributeName::SentTimestamp)
        .and_then(|millis| millis.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    Some(QueueMessage {
        // A message without a handle could never be deleted; SQS always sends one.
        handle: ReceiptHandle(message.receipt_handle?),
        message_id: message.message_id.unwrap_or_default(),
        body: message.body.unwrap_or_default(),
        receive_count,
        sent_at,
    })
}

#[async_trait]
impl IncidentQueue for SqsIncidentQueue {
    async fn receive(&self, max_messages: u32, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        let batch_size = max_messages.clamp(1, MAX_BATCH);
        let wait_secs = wait.as_secs().min(MAX_WAIT_SECS);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(batch_size as i32)
            .wait_time_seconds(wait_secs as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|error| port_error(Operation::ReceiveMessage, error))?;
        Ok(output.messages.unwrap_or_default().into_iter().filter_map(into_queue_message).collect())
    }

    async fn delete_batch(&self, handles: &[ReceiptHandle]) -> Result<Vec<DeleteOutcome>, PortError> {
        debug_assert!(handles.len() <= MAX_BATCH as usize, "callers split deletes into batches of 10");
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = handles
            .iter()
            .enumerate()
            .map(|(index, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{index}"))
                    .receipt_handle(&handle.0)
                    .build()
                    .map_err(|error| PortError::rejected(Operation::DeleteMessageBatch, error.to_string()))
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        let output = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| port_error(Operation::DeleteMessageBatch, error))?;
        let failures: HashMap<String, PortError> = output
            .failed
            .iter()
            .map(|failure| {
                let message = failure.message.clone().unwrap_or_else(|| failure.code.clone());
                let status = if failure.sender_fault { 400 } else { 500 };
                (failure.id.clone(), classify_code(Operation::DeleteMessageBatch, &failure.code, status, message))
            })
            .collect();
        Ok(handles
            .iter()
            .enumerate()
            .map(|(index, handle)| DeleteOutcome {
                handle: handle.clone(),
                result: failures.get(&format!("m{index}")).cloned().map_or(Ok(()), Err),
            })
            .collect())
    }

    async fn set_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        let bounded_secs = visibility_secs.min(MAX_VISIBILITY_SECS);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&handle.0)
            .visibility_timeout(bounded_secs as i32)
            .send()
            .await
            .map_err(|error| port_error(Operation::ChangeMessageVisibility, error))?;
        Ok(())
    }

    async fn send(&self, body: &str, delay_secs: u32) -> Result<String, PortError> {
        let bounded_delay = delay_secs.min(MAX_SEND_DELAY_SECS);
        let output = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(bounded_delay as i32)
            .send()
            .await
            .map_err(|error| port_error(Operation::SendMessage, error))?;
        output.message_id.ok_or_else(|| PortError::transient(Operation::SendMessage, "SQS returned no MessageId"))
    }

    async fn depth(&self) -> Result<QueueDepth, PortError> {
        Ok(self.depth_of(&self.queue_url).await?.0)
    }

    async fn dead_letter_depth(&self) -> Result<Option<QueueDepth>, PortError> {
        match self.resolve_dead_letter_queue_url().await? {
            Some(url) => Ok(Some(self.depth_of(&url).await?.0)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_queue_name_comes_from_the_redrive_policy() {
        let policy =
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:etl-medic-dlq","maxReceiveCount":"3"}"#;
        assert_eq!(dead_letter_queue_name(policy), Some("etl-medic-dlq".to_string()));
        assert_eq!(dead_letter_queue_name("{}"), None);
        assert_eq!(dead_letter_queue_name("not json"), None);
    }

    #[test]
    fn a_received_message_carries_its_receive_count_and_sent_time() {
        let message = Message::builder()
            .receipt_handle("rh-1")
            .message_id("id-1")
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1795917600000")
            .build();
        let converted = into_queue_message(message).unwrap();
        assert_eq!(converted.handle, ReceiptHandle("rh-1".into()));
        assert_eq!(converted.receive_count, 3);
        assert_eq!(converted.sent_at.map(|at| at.timestamp()), Some(1_795_917_600));
        assert!(into_queue_message(Message::builder().body("x").build()).is_none());
    }
}
