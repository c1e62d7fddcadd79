//! `etl-medic replay DIR`: re-decide recorded production decisions.
//!
//! Reads an audit trail copied from S3 (`aws s3 sync s3://bucket/audit/ DIR`,
//! layout in docs/audit-layout.md), pairs every `request` record with the
//! `decision` record that followed it in the same incident, runs the current
//! decision core (policy, settings, mode) on the recorded request, and writes
//! one JSON line per decision saying what was decided then and what would be
//! decided now. A summary goes to stderr. This is how a new policy or a
//! safety change is checked against real incidents before it is promoted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::config::Settings;
use crate::core::decide::decide;
use crate::core::evidence::DecideRequest;
use crate::core::policy::Policy;

/// Audit files larger than this are not audit records; they are skipped.
const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// One recorded decision and what the current core decides on the same request.
#[derive(Debug, Serialize)]
pub struct Replayed {
    pub incident_id: String,
    pub request_seq: u64,
    pub recorded: Side,
    pub replayed: Side,
    /// The final action kind differs.
    pub changed: bool,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Side {
    pub policy_version: Option<String>,
    pub state: Option<String>,
    pub proposed: Option<String>,
    #[serde(rename = "final")]
    pub final_kind: Option<String>,
    pub rule: Option<String>,
}

/// Counts for the summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub decisions: u64,
    pub changed: u64,
    pub unreadable: u64,
    /// The first few files that could not be read as audit records, and why.
    pub unreadable_examples: Vec<String>,
}

/// Unreadable files named in the summary.
const NAMED_UNREADABLE: usize = 5;

impl ReplaySummary {
    fn unreadable(&mut self, path: &Path, why: &str) {
        self.unreadable += 1;
        if self.unreadable_examples.len() < NAMED_UNREADABLE {
            self.unreadable_examples.push(format!("{} ({why})", path.display()));
        }
    }
}

struct Record {
    incident_id: String,
    seq: u64,
    stage: String,
    body: serde_json::Value,
}

/// Replay every decision found under `directory`, writing one line each to `output`.
pub fn run(
    directory: &Path,
    policy: &Policy,
    settings: &Settings,
    output: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let mut files = Vec::new();
    collect_json_files(directory, &mut files).with_context(|| format!("reading {}", directory.display()))?;
    let mut summary = ReplaySummary::default();
    let mut incidents: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for file in files {
        match read_record(&file) {
            Ok(record) => incidents.entry(record.incident_id.clone()).or_default().push(record),
            Err(why) => summary.unreadable(&file, why),
        }
    }
    for records in incidents.values_mut() {
        records.sort_by_key(|record| record.seq);
        for (position, record) in records.iter().enumerate() {
            if record.stage != "request" {
                continue;
            }
            let recorded_decision = records[position + 1..].iter().find(|later| later.stage == "decision");
            let Some(recorded_decision) = recorded_decision else { continue };
            let Ok(request) = serde_json::from_value::<DecideRequest>(record.body.clone()) else {
                summary.unreadable += 1;
                if summary.unreadable_examples.len() < NAMED_UNREADABLE {
                    let name = format!("{} request {} (not a decide request)", record.incident_id, record.seq);
                    summary.unreadable_examples.push(name);
                }
                continue;
            };
            let outcome = decide(&request, policy, &settings.safety, &request.fleet_context());
            let now = serde_json::to_value(&outcome.decision).context("encoding a decision")?;
            let recorded = side(&recorded_decision.body);
            let replayed = side(&now);
            let changed = recorded.final_kind != replayed.final_kind;
            summary.decisions += 1;
            summary.changed += u64::from(changed);
            let line = Replayed {
                incident_id: record.incident_id.clone(),
                request_seq: record.seq,
                recorded,
                replayed,
                changed,
            };
            serde_json::to_writer(&mut *output, &line).context("writing a replay line")?;
            output.write_all(b"\n").context("writing a replay line")?;
        }
    }
    output.flush().context("flushing replay output")?;
    Ok(summary)
}

fn side(decision: &serde_json::Value) -> Side {
    let text = |pointer: &str| decision.pointer(pointer).and_then(serde_json::Value::as_str).map(str::to_string);
    Side {
        policy_version: text("/policy/version"),
        state: text("/state"),
        proposed: text("/policy/proposed"),
        final_kind: text("/action/kind"),
        rule: text("/safety/rule"),
    }
}

fn read_record(path: &Path) -> Result<Record, &'static str> {
    let size = std::fs::metadata(path).map_err(|_| "cannot be read")?.len();
    if size > MAX_RECORD_BYTES {
        return Err("larger than an audit record");
    }
    let text = std::fs::read_to_string(path).map_err(|_| "cannot be read as UTF-8")?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| "not JSON")?;
    let field = |name: &str| value.get(name);
    let record = Some(()).and_then(|()| {
        Some(Record {
            incident_id: field("incident_id")?.as_str()?.to_string(),
            seq: field("seq")?.as_u64()?,
            stage: field("stage")?.as_str()?.to_string(),
            body: field("body")?.clone(),
        })
    });
    record.ok_or("not an audit record (incident_id, seq, stage, body)")
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
