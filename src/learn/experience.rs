//! Experience lines (spec/experience.md, section 2): one JSON line per
//! decision step, `{"incident_id", "step", "request", "decision", "outcome"?}`.
//! The writer emits exactly that shape; the reader validates every line and
//! refuses a malformed one with an error naming its file and line number,
//! so `learn` never trains on something it misread.
//!
//! What the reader checks: the line is a JSON object; `incident_id` is a
//! non-empty string; `step` a non-negative integer, and the lines of one
//! incident (within one file) come in step order 0, 1, ...; `request`
//! parses as a decide request (spec/decide.md); `decision.action.kind` is an
//! action name; `decision.policy.propensity`, when present, is within (0, 1];
//! `outcome`, when present, has a boolean `resolved`, a `resolved_by` of
//! `action`, `next_run`, `person` or null, and a finite `elapsed_s` >= 0.
//! Unknown fields are ignored; blank lines are skipped.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;

/// Who or what resolved the incident at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedBy {
    /// The action taken at this step fixed it.
    Action,
    /// After `log_and_wait`, the job's own next run succeeded.
    NextRun,
    /// Someone fixed it after an escalation.
    Person,
}

/// What followed a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub resolved: bool,
    pub resolved_by: Option<ResolvedBy>,
    /// Seconds from the decision until the incident was resolved (resolved)
    /// or until the incident's next decision (not resolved).
    pub elapsed_s: f64,
}

/// One experience line as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperienceLine {
    pub incident_id: String,
    pub step: u32,
    /// The decide request, exactly as sent.
    pub request: serde_json::Value,
    /// The decide answer, exactly as received.
    pub decision: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// Appends one line (JSON and a newline).
pub fn write_line(output: &mut impl Write, line: &ExperienceLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *output, line).map_err(std::io::Error::other)?;
    output.write_all(b"\n")
}

/// A decision step as the learner uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub step: u32,
    /// 1-based line number in its file, for messages.
    pub line: usize,
    pub request: DecideRequest,
    /// The final action that was carried out (`decision.action.kind`).
    pub action: ActionKind,
    /// Probability the logging policy returned that action (1.0 when not logged).
    pub propensity: f64,
    pub explored: bool,
    pub outcome: Option<Outcome>,
}

/// The steps of one incident, in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `<file index>:<incident_id>`: ids are scoped to their file.
    pub key: String,
    pub steps: Vec<Step>,
}

/// A file that cannot be read (line 0) or a malformed line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: {message}", if *line == 0 { file.clone() } else { format!("{file}:{line}") })]
pub struct ExperienceError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Reads experience files; incidents come out ordered by file, then by first appearance.
pub fn read_files(paths: &[impl AsRef<Path>]) -> Result<Vec<Incident>, ExperienceError> {
    let mut incidents = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let path = path.as_ref();
        let file_name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|error| ExperienceError {
            file: file_name.clone(),
            line: 0,
            message: error.to_string(),
        })?;
        incidents.extend(read(std::io::BufReader::new(file), &file_name, index)?);
    }
    Ok(incidents)
}

/// Reads one file's lines; `file_index` scopes its incident ids.
pub fn read(input: impl BufRead, file_name: &str, file_index: usize) -> Result<Vec<Incident>, ExperienceError> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    for (index, text) in input.lines().enumerate() {
        let line = index + 1;
        let fail = |message: String| ExperienceError { file: file_name.to_string(), line, message };
        let text = text.map_err(|error| fail(format!("cannot read: {error}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let (incident_id, step) = parse_line(&text, line).map_err(fail)?;
        let steps = by_id.entry(incident_id.clone()).or_insert_with(|| {
            order.push(incident_id.clone());
            Vec::new()
        });
        let expected = steps.len() as u32;
        if step.step != expected {
            return Err(fail(format!(
                "incident {incident_id:?}: step {} where step {expected} was expected",
                step.step
            )));
        }
        if let Some(resolved_at) = steps.iter().find(|earlier| earlier.outcome.as_ref().is_some_and(|o| o.resolved)) {
            return Err(fail(format!(
                "incident {incident_id:?} was resolved at step {} (line {}), yet has a step {}",
                resolved_at.step, resolved_at.line, step.step
            )));
        }
        steps.push(step);
    }
    Ok(order
        .into_iter()
        .map(|incident_id| {
            let steps = by_id.remove(&incident_id).unwrap_or_default();
            Incident { key: format!("{file_index}:{incident_id}"), steps }
        })
        .collect())
}

fn parse_line(text: &str, line: usize) -> Result<(String, Step), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    let object = value.as_object().ok_or("an experience line must be a JSON object")?;
    let incident_id = match object.get("incident_id") {
        Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err("incident_id must be a non-empty string".to_string()),
    };
    let step = object
        .get("step")
        .and_then(serde_json::Value::as_u64)
        .and_then(|step| u32::try_from(step).ok())
        .ok_or("step must be a non-negative integer")?;
    let request_value = object.get("request").ok_or("request is missing")?;
    let request: DecideRequest = serde_path_to_error::deserialize(request_value)
        .map_err(|error| format!("request is not a decide request: {}: {}", error.path(), error.inner()))?;
    let decision = object.get("decision").filter(|value| value.is_object()).ok_or("decision must be an object")?;
    let kind_name = decision
        .pointer("/action/kind")
        .and_then(serde_json::Value::as_str)
        .ok_or("decision.action.kind is missing")?;
    let action =
        ActionKind::parse(kind_name).ok_or_else(|| format!("decision.action.kind {kind_name:?} is not an action"))?;
    let propensity = match decision.pointer("/policy/propensity") {
        None | Some(serde_json::Value::Null) => 1.0,
        Some(value) => match value.as_f64() {
            Some(probability) if probability > 0.0 && probability <= 1.0 => probability,
            _ => return Err(format!("decision.policy.propensity must be within (0, 1], got {value}")),
        },
    };
    let explored = decision.pointer("/policy/explored").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let outcome = match object.get("outcome") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(parse_outcome(value)?),
    };
    Ok((incident_id, Step { step, line, request, action, propensity, explored, outcome }))
}

fn parse_outcome(value: &serde_json::Value) -> Result<Outcome, String> {
    let resolved =
        value.get("resolved").and_then(serde_json::Value::as_bool).ok_or("outcome.resolved must be true or false")?;
    let resolved_by = match value.get("resolved_by") {
        None | Some(serde_json::Value::Null) => None,
        Some(by) => Some(
            serde_json::from_value::<ResolvedBy>(by.clone())
                .map_err(|_| format!("outcome.resolved_by must be action, next_run, person or null, got {by}"))?,
        ),
    };
    let elapsed_s = value
        .get("elapsed_s")
        .and_then(serde_json::Value::as_f64)
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .ok_or("outcome.elapsed_s must be a number of seconds >= 0")?;
    Ok(Outcome { resolved, resolved_by, elapsed_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"{"id":"inc-1-0","event":{"source":"aws.glue","detail-type":"Glue Job State Change","detail":{"jobName":"j","jobRunId":"jr_1","state":"FAILED","message":"boom"}}}"#;

    fn line(id: &str, step: u32, outcome: &str) -> String {
        format!(
            r#"{{"incident_id":"{id}","step":{step},"request":{REQUEST},"decision":{{"action":{{"kind":"retry","params":{{}}}},"policy":{{"propensity":0.85,"explored":false}}}}{outcome}}}"#
        )
    }

    #[test]
    fn lines_round_trip_and_interleaved_incidents_are_grouped() {
        let text = [
            line("a", 0, r#","outcome":{"resolved":false,"resolved_by":null,"elapsed_s":60}"#),
            line("b", 0, ""),
            String::new(),
            line("a", 1, r#","outcome":{"resolved":true,"resolved_by":"action","elapsed_s":1200.5}"#),
        ]
        .join("\n");
        let incidents = read(text.as_bytes(), "x.jsonl", 0).expect("valid");
        assert_eq!(incidents.len(), 2);
        assert_eq!(incidents[0].key, "0:a");
        assert_eq!(incidents[0].steps.len(), 2);
        assert_eq!(incidents[0].steps[1].line, 4);
        assert_eq!(
            incidents[0].steps[1].outcome.as_ref().map(|outcome| outcome.resolved_by),
            Some(Some(ResolvedBy::Action))
        );
        assert_eq!(incidents[1].steps[0].outcome, None);
        assert_eq!(incidents[0].steps[0].propensity, 0.85);
        let parsed: ExperienceLine = serde_json::from_str(&line("a", 0, "")).expect("shape");
        let mut buffer = Vec::new();
        write_line(&mut buffer, &parsed).expect("in memory");
        assert!(String::from_utf8(buffer).expect("utf-8").starts_with(r#"{"incident_id":"a","step":0,"request":"#));
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let cases = [
            ("not json", "not JSON"),
            (r#"[1]"#, "JSON object"),
            (&line("a", 1, "") as &str, "step 1 where step 0 was expected"),
            (&line("a", 0, r#","outcome":{"resolved":"yes","elapsed_s":1}"#), "outcome.resolved"),
            (&line("a", 0, r#","outcome":{"resolved":true,"resolved_by":"robot","elapsed_s":1}"#), "resolved_by"),
            (&line("a", 0, r#","outcome":{"resolved":true,"elapsed_s":-5}"#), "elapsed_s"),
            (&line("a", 0, "").replace("\"retry\"", "\"reboot\""), "not an action"),
            (&line("a", 0, "").replace("0.85", "0"), "propensity"),
            (&line("a", 0, "").replace(r#""source":"aws.glue","#, r#""source":7,"#), "request is not a decide request"),
        ];
        for (bad, expected) in cases {
            let text = format!("{}\n{bad}\n", line("ok", 0, ""));
            let error = read(text.as_bytes(), "exp.jsonl", 0).expect_err("must be refused");
            assert_eq!(error.line, 2, "{bad}");
            let message = error.to_string();
            assert!(message.starts_with("exp.jsonl:2: ") && message.contains(expected), "{message}");
        }
        let resolved_then_more = format!(
            "{}\n{}\n",
            line("r", 0, r#","outcome":{"resolved":true,"resolved_by":"action","elapsed_s":1}"#),
            line("r", 1, "")
        );
        let error = read(resolved_then_more.as_bytes(), "exp.jsonl", 0).expect_err("must be refused");
        assert_eq!(error.line, 2);
        assert!(error.message.contains("was resolved at step 0"), "{error}");
    }
}
