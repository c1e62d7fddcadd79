//! The EventBridge envelope and the "Glue Job State Change" event it carries.
//!
//! Parsing is two-step so that bad input gets a precise answer: the envelope
//! is decoded leniently (only the fields we read are required), then
//! [`interpret`] says whether the event is a failure to work on, something to
//! ignore (another source, a state that needs nothing), or malformed.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::lenient::{bounded_json, bounded_json_vec, bounds};

/// The EventBridge envelope. `account` and the other housekeeping fields may
/// be absent; `detail` is kept as raw JSON and read by [`interpret`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EventEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "detail-type", default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// RFC 3339 event time; MTTR is measured from the failure's event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `null` reads as empty, like a missing field. Bounded in entries and
    /// nodes (`lenient::bounds`), like `detail`.
    #[serde(
        default,
        deserialize_with = "bounded_json_vec::<_, { bounds::EVENT_RESOURCES }, { bounds::JSON_NODES }>",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "bounded_json::<_, { bounds::JSON_NODES }>")]
    pub detail: serde_json::Value,
}

impl EventEnvelope {
    /// A string field of `detail`, if present and a string.
    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.detail.get(key).and_then(serde_json::Value::as_str)
    }
}

/// Terminal and transitional job-run states as Glue spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobRunState {
    Starting,
    Running,
    Stopping,
    Stopped,
    Succeeded,
    Failed,
    Timeout,
    Error,
    Waiting,
    Expired,
}

impl JobRunState {
    pub fn parse(text: &str) -> Option<JobRunState> {
        serde_json::from_value(serde_json::Value::String(text.to_ascii_uppercase())).ok()
    }

    /// States that etl-medic diagnoses and remediates.
    pub fn is_failure(self) -> bool {
        matches!(self, JobRunState::Failed | JobRunState::Timeout | JobRunState::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobRunState::Starting => "STARTING",
            JobRunState::Running => "RUNNING",
            JobRunState::Stopping => "STOPPING",
            JobRunState::Stopped => "STOPPED",
            JobRunState::Succeeded => "SUCCEEDED",
            JobRunState::Failed => "FAILED",
            JobRunState::Timeout => "TIMEOUT",
            JobRunState::Error => "ERROR",
            JobRunState::Waiting => "WAITING",
            JobRunState::Expired => "EXPIRED",
        }
    }
}

/// A decoded "Glue Job State Change" detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStateChange {
    pub job_name: String,
    pub job_run_id: String,
    pub state: JobRunState,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub time: Option<String>,
}

/// What an envelope means to etl-medic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpretation {
    /// A failed run to diagnose.
    Failure(JobStateChange),
    /// A terminal state of a run that may close an incident (SUCCEEDED, STOPPED).
    Terminal(JobStateChange),
    /// Not for us; the reason says why. Acknowledged, counted, never an error.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("event is not JSON: {0}")]
    NotJson(String),
    #[error("event is not an EventBridge envelope: {0}")]
    NotEnvelope(String),
    #[error("Glue Job State Change event is missing detail.{0}")]
    MissingField(&'static str),
    #[error("Glue Job State Change event has detail.{field} of the wrong type (expected a string)")]
    WrongType { field: &'static str },
    #[error("Glue Job State Change event has an unknown detail.state {0:?}")]
    UnknownState(String),
}

pub const GLUE_SOURCE: &str = "aws.glue";
pub const JOB_STATE_CHANGE: &str = "Glue Job State Change";

/// Decode an envelope from raw bytes (an SQS message body, a JSON line).
pub fn parse_envelope(body: &str) -> Result<EventEnvelope, EventError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|error| EventError::NotJson(error.to_string()))?;
    envelope_from_value(value)
}

/// Decode an envelope from an already-parsed JSON value.
pub fn envelope_from_value(value: serde_json::Value) -> Result<EventEnvelope, EventError> {
    if !value.is_object() {
        return Err(EventError::NotEnvelope("expected a JSON object".to_string()));
    }
    if value.get("detail").is_none() {
        return Err(EventError::NotEnvelope("no \"detail\" field".to_string()));
    }
    serde_json::from_value(value).map_err(|error| EventError::NotEnvelope(error.to_string()))
}

/// Say what an envelope means: a failure to work on, a terminal state, or ignored.
pub fn interpret(envelope: &EventEnvelope) -> Result<Interpretation, EventError> {
    match envelope.source.as_deref() {
        Some(GLUE_SOURCE) => {}
        Some(other) => return Ok(Interpretation::Ignored(format!("source {other:?} is not aws.glue"))),
        None => return Err(EventError::NotEnvelope("no \"source\" field".to_string())),
    }
    match envelope.detail_type.as_deref() {
        Some(JOB_STATE_CHANGE) => {}
        Some(other) => return Ok(Interpretation::Ignored(format!("detail-type {other:?} needs no action"))),
        None => return Err(EventError::NotEnvelope("no \"detail-type\" field".to_string())),
    }
    if !envelope.detail.is_object() {
        return Err(EventError::NotEnvelope("\"detail\" is not an object".to_string()));
    }
    let change = job_state_change(envelope)?;
    if change.state.is_failure() {
        Ok(Interpretation::Failure(change))
    } else if matches!(change.state, JobRunState::Succeeded | JobRunState::Stopped) {
        Ok(Interpretation::Terminal(change))
    } else {
        Ok(Interpretation::Ignored(format!("state {} needs no action", change.state.as_str())))
    }
}

fn required_str<'a>(envelope: &'a EventEnvelope, field: &'static str) -> Result<&'a str, EventError> {
    match envelope.detail.get(field) {
        None | Some(serde_json::Value::Null) => Err(EventError::MissingField(field)),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => Err(EventError::MissingField(field)),
        Some(serde_json::Value::String(text)) => Ok(text),
        Some(_) => Err(EventError::WrongType { field }),
    }
}

fn optional_str(envelope: &EventEnvelope, field: &'static str) -> Result<Option<String>, EventError> {
    match envelope.detail.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EventError::WrongType { field }),
    }
}

fn job_state_change(envelope: &EventEnvelope) -> Result<JobStateChange, EventError> {
    let job_name = required_str(envelope, "jobName")?.to_string();
    let job_run_id = required_str(envelope, "jobRunId")?.to_string();
    let state_text = required_str(envelope, "state")?;
    let state = JobRunState::parse(state_text).ok_or_else(|| EventError::UnknownState(state_text.to_string()))?;
    Ok(JobStateChange {
        job_name,
        job_run_id,
        state,
        severity: optional_str(envelope, "severity")?,
        message: optional_str(envelope, "message")?,
        time: envelope.time.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_events() -> Vec<serde_json::Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eventbridge_glue_events.json");
        let text = std::fs::read_to_string(path).expect("fixture present");
        let document: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        document["events"].as_array().expect("events array").clone()
    }

    #[test]
    fn every_documented_example_is_understood() {
        let events = fixture_events();
        assert!(events.len() >= 10, "fixture has the documented examples");
        for example in events {
            let title = example["title"].as_str().unwrap_or("?").to_string();
            let envelope =
                envelope_from_value(example["event"].clone()).unwrap_or_else(|error| panic!("{title}: {error}"));
            let verbatim: serde_json::Value =
                serde_json::from_str(example["verbatim_text"].as_str().expect("verbatim")).expect("verbatim parses");
            assert_eq!(envelope_from_value(verbatim).expect("verbatim envelope"), envelope, "{title}");
            let meaning = interpret(&envelope).unwrap_or_else(|error| panic!("{title}: {error}"));
            match example["detail_type"].as_str() {
                Some(JOB_STATE_CHANGE) => {
                    let state = example["state"].as_str().expect("state");
                    match (&meaning, state) {
                        (Interpretation::Failure(change), "FAILED" | "TIMEOUT") => {
                            assert_eq!(change.state.as_str(), state, "{title}");
                            assert!(change.job_run_id.starts_with("jr_"), "{title}");
                        }
                        (Interpretation::Terminal(change), "SUCCEEDED" | "STOPPED") => {
                            assert_eq!(change.state.as_str(), state, "{title}")
                        }
                        other => panic!("{title}: unexpected {other:?}"),
                    }
                }
                _ => assert!(matches!(meaning, Interpretation::Ignored(_)), "{title}: {meaning:?}"),
            }
        }
    }

    #[test]
    fn failed_example_carries_the_job_run_error_text() {
        let failed = fixture_events()
            .into_iter()
            .find(|example| example["state"] == "FAILED" && example["detail_type"] == JOB_STATE_CHANGE)
            .expect("a FAILED example");
        let envelope = envelope_from_value(failed["event"].clone()).expect("parses");
        let Ok(Interpretation::Failure(change)) = interpret(&envelope) else { panic!("not a failure") };
        assert!(change.message.unwrap_or_default().contains("failed to execute"));
    }

    #[test]
    fn account_may_be_absent() {
        let body = r#"{"source":"aws.glue","detail-type":"Glue Job State Change",
            "detail":{"jobName":"j","jobRunId":"jr_1","state":"FAILED"}}"#;
        let envelope = parse_envelope(body).expect("parses");
        assert!(matches!(interpret(&envelope), Ok(Interpretation::Failure(_))));
    }

    #[test]
    fn malformed_events_get_errors_naming_what_is_wrong() {
        assert!(matches!(parse_envelope("not json"), Err(EventError::NotJson(_))));
        assert!(matches!(parse_envelope("[1,2]"), Err(EventError::NotEnvelope(_))));
        assert!(matches!(parse_envelope(r#"{"source":"aws.glue"}"#), Err(EventError::NotEnvelope(_))));
        let missing_run =
            r#"{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":"j","state":"FAILED"}}"#;
        let error = interpret(&parse_envelope(missing_run).expect("envelope")).expect_err("missing run id");
        assert_eq!(error.to_string(), "Glue Job State Change event is missing detail.jobRunId");
        let wrong_type = r#"{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":5,"jobRunId":"jr","state":"FAILED"}}"#;
        assert_eq!(
            interpret(&parse_envelope(wrong_type).expect("envelope")),
            Err(EventError::WrongType { field: "jobName" })
        );
        let bad_state = r#"{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":"j","jobRunId":"jr","state":"EXPLODED"}}"#;
        assert!(matches!(interpret(&parse_envelope(bad_state).expect("envelope")), Err(EventError::UnknownState(_))));
    }

    #[test]
    fn other_sources_and_states_are_ignored_not_errors() {
        let other = r#"{"source":"aws.s3","detail-type":"Object Created","detail":{}}"#;
        assert!(matches!(interpret(&parse_envelope(other).expect("envelope")), Ok(Interpretation::Ignored(_))));
        let running = r#"{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":"j","jobRunId":"jr","state":"RUNNING"}}"#;
        assert!(matches!(interpret(&parse_envelope(running).expect("envelope")), Ok(Interpretation::Ignored(_))));
    }
}
