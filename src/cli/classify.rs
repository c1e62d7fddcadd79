//! `etl-medic classify`: the error classifier over JSON lines.
//! In: `{"id", "text", "where"?}`. Out: `{"id", "class", "confidence", "signals"}`.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::cli::jsonl::{self, Answer, LineStats};
use crate::core::diagnosis::classify_text;
use crate::core::lenient::{bounded_json, bounds};
use crate::core::model::{FailureClass, TextSource};

#[derive(Deserialize)]
struct ClassifyRequest {
    #[serde(default, deserialize_with = "bounded_json::<_, { bounds::JSON_NODES }>")]
    id: serde_json::Value,
    text: String,
    /// `job_run_error_message`, `error_log` or `output_log`; absent or null: unknown.
    #[serde(default, rename = "where", deserialize_with = "bounded_json::<_, { bounds::JSON_NODES }>")]
    source: serde_json::Value,
}

#[derive(Serialize)]
struct ClassifyAnswer<'a> {
    id: &'a serde_json::Value,
    class: FailureClass,
    confidence: f64,
    signals: &'a [String],
}

pub fn run<R: Read, W: Write>(input: R, output: W) -> std::io::Result<LineStats> {
    jsonl::converse(input, output, jsonl::MAX_LINE_BYTES, answer_line)
}

/// Answer one line of `classify`.
pub fn answer_line(text: &str, output: &mut Vec<u8>) -> Answer {
    let request: ClassifyRequest = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(error) => {
            return Answer::Error {
                id: jsonl::salvage_id(text),
                message: format!(
                    "invalid classify request: {}",
                    jsonl::explain_parse_error::<ClassifyRequest>(text, &error)
                ),
            };
        }
    };
    let source = match request.source {
        serde_json::Value::Null => None,
        value => match serde_json::from_value::<TextSource>(value.clone()) {
            Ok(source) => Some(source),
            Err(_) => {
                return Answer::Error {
                    id: request.id,
                    message: format!(
                        "where: {value} is not one of \"job_run_error_message\", \"error_log\", \"output_log\" (or leave it out)"
                    ),
                };
            }
        },
    };
    let classification = classify_text(&request.text, source);
    let answer = ClassifyAnswer {
        id: &request.id,
        class: classification.class,
        confidence: classification.confidence,
        signals: &classification.signals,
    };
    match serde_json::to_writer(output, &answer) {
        Ok(()) => Answer::Written,
        Err(error) => Answer::Error { id: request.id, message: format!("could not encode the answer: {error}") },
    }
}
