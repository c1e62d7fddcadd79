//! `etl-medic decide`: the decision core over JSON lines (spec/decide.md).
//! Each line is a failed run with its gathered evidence; the answer is the
//! diagnosis, the policy's proposal, the safety verdict and the final action.
//! The event is read by the daemon's own rules (`core::event::interpret`):
//! a line whose event needs no action (another source, another Glue
//! detail-type such as a crawler or catalog change, a run that did not fail)
//! is answered `{"id", "ignored": "<why>"}`; a "Glue Job State Change"
//! without the fields it needs is answered with an error naming the field.

use std::io::{Read, Write};

use crate::cli::jsonl::{self, Answer, LineStats};
use crate::config::Settings;
use crate::core::decide::decide_exploring;
use crate::core::event::{EventError, Interpretation, interpret};
use crate::core::evidence::DecideRequest;
use crate::core::policy::{Exploration, Policy};

/// Everything a decision depends on besides the request; fixed for a conversation.
pub struct Decider {
    pub policy: Policy,
    pub settings: Settings,
    /// `--explore` and `--explore-seed` (no exploration by default).
    pub exploration: Exploration,
}

impl Decider {
    pub fn run<R: Read, W: Write>(&self, input: R, output: W) -> std::io::Result<LineStats> {
        jsonl::converse(input, output, jsonl::MAX_LINE_BYTES, |text, buffer| self.answer_line(text, buffer))
    }

    /// Answer one line of `decide`.
    pub fn answer_line(&self, text: &str, output: &mut Vec<u8>) -> Answer {
        let mut request: DecideRequest = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(error) => {
                return Answer::Error {
                    id: jsonl::salvage_id(text),
                    message: format!(
                        "invalid decide request: {}",
                        jsonl::explain_parse_error::<DecideRequest>(text, &error)
                    ),
                };
            }
        };
        match interpret(&request.event) {
            Ok(Interpretation::Failure(_)) => {}
            Ok(Interpretation::Terminal(change)) => {
                let reason = format!("state {} needs no action", change.state.as_str());
                return write(output, &IgnoredLine { id: &request.id, ignored: &reason }, request.id.clone());
            }
            Ok(Interpretation::Ignored(reason)) => {
                return write(output, &IgnoredLine { id: &request.id, ignored: &reason }, request.id.clone());
            }
            Err(error) => {
                let message = format!("invalid decide request: {}", event_error(&request, error));
                return Answer::Error { id: request.id, message };
            }
        }
        self.settings.fill_job_profile(&mut request);
        let outcome = decide_exploring(
            &request,
            &self.policy,
            &self.settings.safety,
            &request.fleet_context(),
            &self.exploration,
        );
        write(output, &outcome.decision, request.id)
    }
}

fn write<T: serde::Serialize>(output: &mut Vec<u8>, value: &T, id: serde_json::Value) -> Answer {
    match serde_json::to_writer(output, value) {
        Ok(()) => Answer::Written,
        Err(error) => Answer::Error { id, message: format!("could not encode the answer: {error}") },
    }
}

/// The answer to a line whose event needs no action.
#[derive(serde::Serialize)]
struct IgnoredLine<'a> {
    id: &'a serde_json::Value,
    ignored: &'a str,
}

/// Say what is wrong with the event, naming the field by its path in the request.
fn event_error(request: &DecideRequest, error: EventError) -> String {
    let event = &request.event;
    match error {
        EventError::MissingField(field) => format!(
            "event.detail.{field} is missing: a Glue Job State Change event needs detail.jobName, detail.jobRunId and detail.state"
        ),
        EventError::WrongType { field } => format!("event.detail.{field} must be a string"),
        EventError::UnknownState(state) => format!("event.detail.state {state:?} is not a Glue job run state"),
        EventError::NotEnvelope(_) | EventError::NotJson(_) if event.source.is_none() => {
            "event.source is missing (expected \"aws.glue\")".to_string()
        }
        EventError::NotEnvelope(_) | EventError::NotJson(_) if event.detail_type.is_none() => {
            "event.detail-type is missing (expected \"Glue Job State Change\")".to_string()
        }
        EventError::NotEnvelope(_) | EventError::NotJson(_) if event.detail.is_null() => {
            "event.detail is missing: a Glue Job State Change event needs detail.jobName, detail.jobRunId and detail.state".to_string()
        }
        EventError::NotEnvelope(reason) | EventError::NotJson(reason) => format!("event: {reason}"),
    }
}
