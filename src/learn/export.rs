//! `etl-medic experience export DIR`: experience lines (spec/experience.md)
//! from an audit trail copied from S3 (docs/audit-layout.md), so that
//! production learning and offline learning read the same thing.
//!
//! Each `decision` record is paired with the `request` record before it in
//! the same incident; the records that follow, up to the next decision,
//! say what happened (times are the records' `at`):
//!
//! | what followed | outcome |
//! |---|---|
//! | `execution` ok, then the `validation` of the started run with `remediated: true` | resolved by `action`, elapsed to the closing record's `closed_at` (else the validation) |
//! | the started run failed, or `execution` waiting (`wait_and_retry`), and a next decision | not resolved, elapsed to the next decision |
//! | `execution` `log_and_wait`, incident closed `deferred` | resolved by `next_run`: elapsed to `closed_at` when the closing record came later than the decision, else to the expected end of the job's next scheduled run (its usual cadence and run time from the request's run history); when another incident of the same job opened from that run's start to half a cadence after its expected end, not resolved (the next run failed) |
//! | `escalation`, and a closing record saying `resolved_by: "person"` with `resolved_at` | resolved by `person`, elapsed to `resolved_at` |
//! | anything else (shadow mode, an action that could not be carried out, an escalation nobody reported back on, a run still going) | no `outcome`: unknown |
//!
//! Today's daemon closes an escalated incident when the person is notified,
//! so a person's fix is only known when a later record says so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::core::evidence::DecideRequest;
use crate::core::policy::state::usual_cadence_s;
use crate::learn::experience::{ExperienceLine, Outcome, ResolvedBy, write_line};

/// Audit files larger than this are not audit records.
const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;
/// A deferred incident whose closing record came this long after the
/// decision was closed by the next run itself.
const DEFERRED_CLOSE_AFTER_S: f64 = 60.0;

#[derive(Debug, Clone)]
struct Record {
    seq: u64,
    stage: String,
    at: DateTime<FixedOffset>,
    run_id: String,
    body: Value,
}

/// What an export wrote and skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub incidents: usize,
    pub lines: usize,
    pub lines_without_outcome: usize,
    pub unreadable_files: usize,
}

struct Round {
    request: Value,
    decision: Value,
    decided_at: DateTime<FixedOffset>,
    after: Vec<Record>,
}

/// Writes the experience of every incident under `directory` to `output`.
pub fn export(directory: &Path, output: &mut impl Write) -> anyhow::Result<ExportSummary> {
    let mut files = Vec::new();
    collect_json_files(directory, &mut files).with_context(|| format!("reading {}", directory.display()))?;
    files.sort();
    let mut summary = ExportSummary::default();
    let mut incidents: BTreeMap<String, (String, Vec<Record>)> = BTreeMap::new();
    for file in files {
        match read_record(&file) {
            Some((incident_id, job, record)) => {
                incidents.entry(incident_id).or_insert((job, Vec::new())).1.push(record)
            }
            None => summary.unreadable_files += 1,
        }
    }
    let mut openings: BTreeMap<String, Vec<DateTime<FixedOffset>>> = BTreeMap::new();
    for (job, records) in incidents.values_mut() {
        records.sort_by_key(|record| record.seq);
        if let Some(first) = records.first() {
            openings.entry(job.clone()).or_default().push(first.at);
        }
    }
    for (incident_id, (job, records)) in &incidents {
        let rounds = rounds(records);
        summary.incidents += usize::from(!rounds.is_empty());
        for (step, round) in rounds.iter().enumerate() {
            let next_at = rounds.get(step + 1).map(|next| next.decided_at);
            let outcome = outcome_of(round, next_at, openings.get(job).map_or(&[][..], Vec::as_slice));
            summary.lines_without_outcome += usize::from(outcome.is_none());
            let line = ExperienceLine {
                incident_id: incident_id.clone(),
                step: step as u32,
                request: round.request.clone(),
                decision: round.decision.clone(),
                outcome,
            };
            write_line(output, &line).context("writing an experience line")?;
            summary.lines += 1;
        }
    }
    Ok(summary)
}

fn collect_json_files(directory: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json_files(&path, found)?;
        } else if path.extension().is_some_and(|extension| extension == "json") {
            found.push(path);
        }
    }
    Ok(())
}

/// (incident id, job name, record) of an incident record; `None` for
/// anything else (poison records, foreign or broken files).
fn read_record(path: &Path) -> Option<(String, String, Record)> {
    if std::fs::metadata(path).ok()?.len() > MAX_RECORD_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if value.get("schema")?.as_str()? != crate::audit::AUDIT_SCHEMA {
        return None;
    }
    let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
    let record = Record {
        seq: value.get("seq")?.as_u64()?,
        stage: text("stage")?,
        at: DateTime::parse_from_rfc3339(&text("at")?).ok()?,
        run_id: text("run_id").unwrap_or_default(),
        body: value.get("body").cloned().unwrap_or(Value::Null),
    };
    Some((text("incident_id")?, text("job_name").unwrap_or_default(), record))
}

/// Each decision with the request before it and the records after it.
fn rounds(records: &[Record]) -> Vec<Round> {
    let mut rounds: Vec<Round> = Vec::new();
    let mut request: Option<&Value> = None;
    for record in records {
        match record.stage.as_str() {
            "request" => request = Some(&record.body),
            "decision" => {
                if let Some(request) = request.take() {
                    rounds.push(Round {
                        request: request.clone(),
                        decision: record.body.clone(),
                        decided_at: record.at,
                        after: Vec::new(),
                    });
                }
            }
            _ => {
                if let Some(round) = rounds.last_mut() {
                    round.after.push(record.clone());
                }
            }
        }
    }
    rounds
}

fn seconds_between(from: DateTime<FixedOffset>, to: DateTime<FixedOffset>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1_000.0).max(0.0)
}

fn resolved(by: ResolvedBy, elapsed_s: f64) -> Option<Outcome> {
    Some(Outcome { resolved: true, resolved_by: Some(by), elapsed_s: elapsed_s.round() })
}

fn unresolved(elapsed_s: f64) -> Option<Outcome> {
    Some(Outcome { resolved: false, resolved_by: None, elapsed_s: elapsed_s.round() })
}

fn body_time(record: &Record, field: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(record.body.get(field)?.as_str()?).ok()
}

fn outcome_of(
    round: &Round,
    next_at: Option<DateTime<FixedOffset>>,
    job_openings: &[DateTime<FixedOffset>],
) -> Option<Outcome> {
    let find = |stage: &str| round.after.iter().find(|record| record.stage == stage);
    let closed = find("closed");
    let until_next = || next_at.and_then(|at| unresolved(seconds_between(round.decided_at, at)));
    if let Some(execution) = find("execution") {
        let body = &execution.body;
        if body.get("waiting_secs").is_some() {
            return until_next();
        }
        if body.get("log_and_wait").and_then(Value::as_bool) == Some(true) {
            return deferred(round, closed, job_openings);
        }
        if body.get("ok").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let started = body.get("started_run_id").and_then(Value::as_str)?;
        let validation = round.after.iter().find(|record| record.stage == "validation" && record.run_id == started)?;
        if validation.body.get("remediated").and_then(Value::as_bool) == Some(true) {
            let at = closed.and_then(|record| body_time(record, "closed_at")).unwrap_or(validation.at);
            return resolved(ResolvedBy::Action, seconds_between(round.decided_at, at));
        }
        return until_next();
    }
    find("escalation")?;
    let closing = closed?;
    if closing.body.get("resolved_by").and_then(Value::as_str) != Some("person") {
        return None;
    }
    let at = body_time(closing, "resolved_at")?;
    resolved(ResolvedBy::Person, seconds_between(round.decided_at, at))
}

/// `log_and_wait`: the job's next scheduled run decides.
fn deferred(round: &Round, closed: Option<&Record>, job_openings: &[DateTime<FixedOffset>]) -> Option<Outcome> {
    if let Some(closed_at) = closed.and_then(|record| body_time(record, "closed_at")) {
        let elapsed = seconds_between(round.decided_at, closed_at);
        if elapsed >= DEFERRED_CLOSE_AFTER_S {
            return resolved(ResolvedBy::NextRun, elapsed);
        }
    }
    let request: DecideRequest = serde_json::from_value(round.request.clone()).ok()?;
    let (start_s, end_s, cadence_s) = next_scheduled_run(&request, round.decided_at)?;
    let failed_again = job_openings
        .iter()
        .map(|opened| (*opened - round.decided_at).num_milliseconds() as f64 / 1_000.0)
        .find(|after_s| *after_s >= start_s && *after_s <= end_s + cadence_s / 2.0);
    match failed_again {
        Some(after_s) => unresolved(after_s),
        None => resolved(ResolvedBy::NextRun, end_s),
    }
}

/// Seconds from the decision to the start and the expected end of the
/// job's next scheduled run (the failed run's start plus one usual cadence;
/// plus the median run time of its recent successful runs), and the cadence.
fn next_scheduled_run(request: &DecideRequest, decided_at: DateTime<FixedOffset>) -> Option<(f64, f64, f64)> {
    let cadence_s = usual_cadence_s(&request.history.recent_runs)? as f64;
    let failed_at = DateTime::parse_from_rfc3339(request.event.time.as_deref()?).ok()?;
    let ran_s = request.job_run.as_ref().and_then(|run| run.execution_time_s).unwrap_or(0) as f64;
    let mut usual: Vec<u64> = request
        .history
        .recent_runs
        .iter()
        .filter(|run| run.state.eq_ignore_ascii_case("SUCCEEDED"))
        .filter_map(|run| run.execution_time_s)
        .collect();
    usual.sort_unstable();
    let usual_run_s = usual.get(usual.len() / 2).copied().unwrap_or(0) as f64;
    let failed_started = failed_at - chrono::Duration::milliseconds((ran_s * 1_000.0) as i64);
    let start_s = (failed_started - decided_at).num_milliseconds() as f64 / 1_000.0 + cadence_s;
    Some((start_s.max(0.0), (start_s + usual_run_s).max(0.0), cadence_s))
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
