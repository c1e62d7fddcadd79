//! The approvals queue on SQS: the stack's HTTP API sends each Slack
//! request there, the raw body as the message body and the signature
//! headers as message attributes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::Message;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::ports::approvals::{SIGNATURE_ATTRIBUTE, TIMESTAMP_ATTRIBUTE};
use crate::ports::{ApprovalInbox, Operation, PortError, ReceiptHandle, SlackDelivery};

/// SQS's longest long poll and largest batch.
const MAX_WAIT_SECS: u64 = 20;
const MAX_MESSAGES: i32 = 10;

pub struct SqsApprovalInbox {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsApprovalInbox {
    pub fn new(connection: &AwsConnection, queue_url: &str) -> SqsApprovalInbox {
        SqsApprovalInbox { client: connection.sqs_client(), queue_url: queue_url.to_string() }
    }
}

#[async_trait]
impl ApprovalInbox for SqsApprovalInbox {
    async fn receive(&self, wait: Duration) -> Result<Vec<SlackDelivery>, PortError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(wait.as_secs().min(MAX_WAIT_SECS) as i32)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|error| port_error(Operation::ReceiveMessage, error))?;
        Ok(output.messages.unwrap_or_default().into_iter().filter_map(into_delivery).collect())
    }

    async fn delete(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&handle.0)
            .send()
            .await
            .map_err(|error| port_error(Operation::DeleteMessage, error))?;
        Ok(())
    }
}

/// A message without a receipt handle cannot be acknowledged; SQS always sends one.
fn into_delivery(message: Message) -> Option<SlackDelivery> {
    let attribute = |name: &str| {
        message.message_attributes.as_ref().and_then(|attributes| {
            attributes
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.string_value.clone())
                .filter(|value| !value.is_empty())
        })
    };
    Some(SlackDelivery {
        signature: attribute(SIGNATURE_ATTRIBUTE),
        timestamp: attribute(TIMESTAMP_ATTRIBUTE),
        handle: ReceiptHandle(message.receipt_handle.clone()?),
        message_id: message.message_id.clone().unwrap_or_default(),
        body: message.body.unwrap_or_default(),
    })
}
