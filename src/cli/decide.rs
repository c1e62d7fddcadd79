//! `etl-medic decide`: the decision core over JSON lines (spec/decide.md).
//! Each line is a failed run with its gathered evidence; the answer is the
//! diagnosis, the policy's proposal, the safety verdict and the final action.
//! A line whose event is explicitly not a failure (another source, a
//! SUCCEEDED or STOPPED run) is answered `{"id", "ignored": "<why>"}`.

use std::io::{Read, Write};

use crate::cli::jsonl::{self, Answer, LineStats};
use crate::config::Settings;
use crate::core::decide::decide;
use crate::core::event::{GLUE_SOURCE, JobRunState};
use crate::core::evidence::DecideRequest;
use crate::core::policy::Policy;
use crate::core::safety::FleetContext;

/// Everything a decision depends on besides the request; fixed for a conversation.
pub struct Decider {
    pub policy: Policy,
    pub settings: Settings,
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
                return Answer::Error { id: jsonl::salvage_id(text), message: format!("invalid decide request: {}", jsonl::explain_parse_error::<DecideRequest>(text, &error)) };
            }
        };
        if let Some(reason) = ignored_reason(&request) {
            let answer = serde_json::json!({ "id": request.id, "ignored": reason });
            return write(output, &answer, request.id);
        }
        self.settings.fill_job_profile(&mut request);
        let outcome = decide(&request, &self.policy, &self.settings.safety, &FleetContext::default());
        write(output, &outcome.decision, request.id)
    }
}

fn write<T: serde::Serialize>(output: &mut Vec<u8>, value: &T, id: serde_json::Value) -> Answer {
    match serde_json::to_writer(output, value) {
        Ok(()) => Answer::Written,
        Err(error) => Answer::Error { id, message: format!("could not encode the answer: {error}") },
    }
}

/// `decide` is lenient: it decides unless the event says plainly that there
/// is nothing to decide (another source, or a state that is not a failure).
fn ignored_reason(request: &DecideRequest) -> Option<String> {
    if let Some(source) = request.event.source.as_deref()
        && source != GLUE_SOURCE
    {
        return Some(format!("event source {source:?} is not aws.glue"));
    }
    let state_text = request.event.detail_str("state")?;
    match JobRunState::parse(state_text) {
        Some(state) if !state.is_failure() => Some(format!("state {} needs no action", state.as_str())),
        _ => None,
    }
}
