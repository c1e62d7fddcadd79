//! Intake: from a raw queue message to what it means. Bad input gets a
//! precise poison reason (the metric label and the audit record say which);
//! well-formed events that need nothing are "ignored" and acknowledged.

use chrono::{DateTime, Utc};

use crate::core::event::{EventEnvelope, EventError, Interpretation, JobStateChange, interpret, parse_envelope};
use crate::metrics::poison_reason;

/// What a message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// A failed run: open or continue an incident.
    Failure { change: JobStateChange, envelope: EventEnvelope },
    /// A finished run: may close an incident of ours.
    Terminal { change: JobStateChange, envelope: EventEnvelope },
    /// Well-formed, nothing to do.
    Ignored { reason: String },
    /// Can never be worked on; left for the redrive policy.
    Poison { reason: &'static str, detail: String },
}

/// Read a message body, rejecting anything over `max_message_bytes`.
pub fn read_message(body: &str, max_message_bytes: usize) -> Intake {
    if body.len() > max_message_bytes {
        return Intake::Poison {
            reason: poison_reason::OVERSIZED,
            detail: format!("body is {} bytes, more than {max_message_bytes}", body.len()),
        };
    }
    let envelope = match parse_envelope(body) {
        Ok(envelope) => envelope,
        Err(error) => return poison(&error),
    };
    match interpret(&envelope) {
        Ok(Interpretation::Failure(change)) => Intake::Failure { change, envelope },
        Ok(Interpretation::Terminal(change)) => Intake::Terminal { change, envelope },
        Ok(Interpretation::Ignored(reason)) => Intake::Ignored { reason },
        Err(error) => poison(&error),
    }
}

fn poison(error: &EventError) -> Intake {
    let reason = match error {
        EventError::NotJson(_) => poison_reason::NOT_JSON,
        EventError::NotEnvelope(_) => poison_reason::NOT_ENVELOPE,
        EventError::MissingField(_) | EventError::WrongType { .. } | EventError::UnknownState(_) => {
            poison_reason::INVALID_EVENT
        }
    };
    Intake::Poison { reason, detail: error.to_string() }
}

/// The event's time, when it carries a valid RFC 3339 one.
pub fn event_time(envelope: &EventEnvelope) -> Option<DateTime<Utc>> {
    let text = envelope.time.as_deref()?;
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}

/// The first `max_chars` characters of a body, for a poison audit record.
pub fn excerpt(body: &str, max_chars: usize) -> String {
    body.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: &str = r#"{"version":"0","id":"e1","detail-type":"Glue Job State Change","source":"aws.glue",
        "time":"2026-11-29T02:00:00Z","detail":{"jobName":"orders","jobRunId":"jr_1","state":"FAILED","message":"boom"}}"#;

    #[test]
    fn each_kind_of_bad_input_gets_its_own_reason() {
        assert!(matches!(read_message("{nope", 1024), Intake::Poison { reason: "not_json", .. }));
        assert!(matches!(read_message("[1]", 1024), Intake::Poison { reason: "not_envelope", .. }));
        let missing =
            r#"{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":"j","state":"FAILED"}}"#;
        assert!(matches!(read_message(missing, 1024), Intake::Poison { reason: "invalid_event", .. }));
        assert!(matches!(read_message(FAILED, 10), Intake::Poison { reason: "oversized", .. }));
    }

    #[test]
    fn failures_terminals_and_ignorable_events_are_told_apart() {
        let Intake::Failure { change, envelope } = read_message(FAILED, 262_144) else { panic!("not a failure") };
        assert_eq!(change.job_run_id, "jr_1");
        assert_eq!(event_time(&envelope).map(|time| time.to_rfc3339()), Some("2026-11-29T02:00:00+00:00".to_string()));
        let succeeded = FAILED.replace("FAILED", "SUCCEEDED");
        assert!(matches!(read_message(&succeeded, 262_144), Intake::Terminal { .. }));
        let running = FAILED.replace("FAILED", "RUNNING");
        assert!(matches!(read_message(&running, 262_144), Intake::Ignored { .. }));
    }
}
