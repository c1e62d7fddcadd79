//! Escalations on SNS: one Publish per escalation to the configured topic,
//! the subject made acceptable to SNS and the evidence packet as JSON.
//!
//! A Publish may be sent twice for one escalation (an SDK retry after a
//! lost answer, or a redelivery before the send was recorded), so every
//! message carries a stable deduplication key, the same for every send of
//! one incident's escalation: the message attribute [`DEDUP_KEY_ATTRIBUTE`]
//! (`<incident id>/escalation`, visible to SQS, Lambda and HTTP
//! subscribers), and on a FIFO topic the MessageDeduplicationId, so that
//! SNS itself drops the repeat within its five-minute window.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::ports::{Escalation, Notifier, Operation, PortError};

/// The message attribute carrying an escalation's deduplication key.
pub const DEDUP_KEY_ATTRIBUTE: &str = "etl_medic_dedup_key";
/// SNS FIFO message group and deduplication ids: at most 128 characters.
const MAX_FIFO_ID_CHARS: usize = 128;

/// The deduplication key of an incident's escalation: an incident is
/// escalated once (escalation closes it), so its id names the send.
pub fn dedup_key(escalation: &Escalation) -> String {
    format!("{}/escalation", escalation.packet.incident_id)
}

/// A FIFO id from `key`: SNS accepts letters, digits and punctuation, up to
/// 128 characters. Anything else becomes `_`; a longer key keeps its end,
/// where the run id that tells incidents apart is.
fn fifo_id(key: &str) -> String {
    let cleaned: Vec<char> =
        key.chars().map(|character| if character.is_ascii_graphic() { character } else { '_' }).collect();
    cleaned[cleaned.len().saturating_sub(MAX_FIFO_ID_CHARS)..].iter().collect()
}

/// SNS subjects: under 100 characters, printable ASCII, no line breaks.
const MAX_SUBJECT_CHARS: usize = 99;
/// SNS messages: at most 256 KiB; keep a margin for the envelope.
const MAX_MESSAGE_BYTES: usize = 250 * 1024;

pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(connection: &AwsConnection, topic_arn: &str) -> SnsNotifier {
        SnsNotifier { client: connection.sns_client(), topic_arn: topic_arn.to_string() }
    }
}

fn sns_subject(subject: &str) -> String {
    let printable: String = subject
        .chars()
        .map(|character| if character.is_ascii_graphic() || character == ' ' { character } else { ' ' })
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let trimmed = printable.trim();
    if trimmed.is_empty() { "etl-medic escalation".to_string() } else { trimmed.to_string() }
}

/// The escalation as JSON, dropping log lines from the front (oldest first)
/// until it fits SNS's size limit: the subject and diagnosis always go out.
fn sns_message(escalation: &Escalation) -> Result<String, PortError> {
    let mut bounded = escalation.clone();
    loop {
        let message = serde_json::to_string(&bounded).map_err(|error| {
            PortError::rejected(Operation::Publish, format!("escalation is not serialisable: {error}"))
        })?;
        if message.len() <= MAX_MESSAGE_BYTES || bounded.packet.log_excerpt.is_empty() {
            return Ok(message);
        }
        let drop_count = bounded.packet.log_excerpt.len().div_ceil(2);
        bounded.packet.log_excerpt.drain(..drop_count);
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        let message = sns_message(escalation)?;
        let key = dedup_key(escalation);
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&key)
            .build()
            .map_err(|error| PortError::rejected(Operation::Publish, format!("dedup key attribute: {error}")))?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&escalation.subject))
            .message(message)
            .message_attributes(DEDUP_KEY_ATTRIBUTE, attribute);
        if self.topic_arn.ends_with(".fifo") {
            request = request.message_group_id(fifo_id(&key)).message_deduplication_id(fifo_id(&key));
        }
        request.send().await.map_err(|error| port_error(Operation::Publish, error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::EvidencePacket;

    fn escalation(log_excerpt: Vec<String>) -> Escalation {
        Escalation {
            subject: "etl-medic: orders_daily\nschema_drift blocked".into(),
            packet: EvidencePacket {
                incident_id: "orders_daily/jr_1".into(),
                job_name: "orders_daily".into(),
                run_id: "jr_1".into(),
                diagnosis: serde_json::json!({"class": "schema_drift"}),
                log_excerpt,
                drift: None,
                tried: vec![],
                proposal: "rollback_schema".into(),
                blocked_because: Some("critical_job_needs_approval".into()),
                audit_prefix: "audit/orders_daily/jr_1/".into(),
                approval: None,
            },
        }
    }

    #[test]
    fn subjects_are_single_line_printable_and_short() {
        let subject = sns_subject(&format!("{}\nnext line é {}", "a".repeat(10), "b".repeat(200)));
        assert!(subject.len() <= MAX_SUBJECT_CHARS);
        assert!(subject.chars().all(|character| character.is_ascii_graphic() || character == ' '));
        assert_eq!(sns_subject(" \n "), "etl-medic escalation");
    }

    #[test]
    fn every_send_of_one_escalation_carries_the_same_key_and_fifo_ids_are_valid() {
        let first = escalation(vec!["a".into()]);
        let again = escalation(vec!["a".into(), "b".into()]);
        assert_eq!(dedup_key(&first), "orders_daily/jr_1/escalation");
        assert_eq!(dedup_key(&first), dedup_key(&again));
        let long = format!("{}/jr_9é", "j".repeat(200));
        let id = fifo_id(&long);
        assert_eq!(id.chars().count(), MAX_FIFO_ID_CHARS);
        assert!(id.ends_with("/jr_9_") && id.chars().all(|character| character.is_ascii_graphic()), "{id}");
    }

    #[test]
    fn oversized_evidence_loses_old_log_lines_but_keeps_the_newest() {
        let lines: Vec<String> = (0..600).map(|index| format!("{index:04} {}", "x".repeat(1_000))).collect();
        let message = sns_message(&escalation(lines)).unwrap();
        assert!(message.len() <= MAX_MESSAGE_BYTES);
        let parsed: Escalation = serde_json::from_str(&message).unwrap();
        assert!(parsed.packet.log_excerpt.last().unwrap().starts_with("0599"));
        assert_eq!(parsed.packet.proposal, "rollback_schema");
    }
}
