//! `etl-medic autonomy report DIR`: the autonomy ladder per (job, failure
//! class), from an audit trail copied from S3 (aws s3 sync
//! s3://BUCKET/audit/ DIR): decisions, scored proposals, precision with its
//! Wilson lower bound, the mode the configuration gives now and the mode
//! the evidence suggests (`approval::ladder`). Read only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::approval::ladder::{LadderRule, WILSON_Z, suggested_mode, wilson_lower_bound};
use crate::approval::ledger::{Trail, ledger};
use crate::config::Settings;
use crate::core::model::{FailureClass, Mode, RiskTier};
use crate::core::safety::resolve_mode;

#[derive(Debug, Clone, Args)]
pub struct AutonomyReportArgs {
    /// Directory holding audit records (searched recursively for *.json).
    #[arg(value_name = "DIR")]
    pub directory: PathBuf,
    /// Wilson lower bound (one-sided 95%) a (job, class) must reach to climb a rung.
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    /// Scored proposals needed before climbing.
    #[arg(long, default_value_t = 20)]
    pub min_decisions: u32,
    /// Wrong proposals in a row that suggest one rung down.
    #[arg(long, default_value_t = 3)]
    pub demote_streak: u32,
    /// Never suggest above this mode.
    #[arg(long, value_parser = ["shadow", "approve", "auto"], default_value = "auto")]
    pub cap: String,
}

/// Prints the report; `Err` names what could not be read.
pub fn run_report(args: &AutonomyReportArgs, settings: &Settings) -> Result<String, String> {
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(format!("--threshold {} must be between 0 and 1", args.threshold));
    }
    let trails = read_trails(&args.directory)?;
    let cap = match args.cap.as_str() {
        "shadow" => Mode::Shadow,
        "approve" => Mode::Approve,
        _ => Mode::Auto,
    };
    let rule = LadderRule {
        threshold: args.threshold,
        min_decisions: args.min_decisions,
        demote_failure_streak: args.demote_streak,
        cap,
    };
    let mut out = format!(
        "{:<28} {:<20} {:>9} {:>6} {:>9} {:>7} {:<8} {:<9}\n",
        "job", "class", "decisions", "scored", "precision", "wilson", "mode", "suggested"
    );
    for ((job, class_name), row) in ledger(&trails) {
        let class: FailureClass =
            serde_json::from_value(Value::String(class_name.clone())).unwrap_or(FailureClass::Unknown);
        let (mode, _) = resolve_mode(&settings.safety, Some(&job), class);
        let critical = settings.job(&job).and_then(|job| job.risk_tier) == Some(RiskTier::Critical);
        let lower = wilson_lower_bound(row.correct, row.scored, WILSON_Z);
        let suggested = suggested_mode(mode, row.scored, lower, row.failure_streak, critical, &rule);
        let precision = if row.scored == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", f64::from(row.correct) / f64::from(row.scored))
        };
        out.push_str(&format!(
            "{:<28} {:<20} {:>9} {:>6} {:>9} {:>7.3} {:<8} {:<9}\n",
            job,
            class_name,
            row.decisions,
            row.scored,
            precision,
            lower,
            mode.as_str(),
            suggested.as_str()
        ));
    }
    Ok(out)
}

/// (seq, stage, body) of one audit record.
type NumberedStage = (u64, String, Value);

fn read_trails(directory: &Path) -> Result<Vec<(String, Trail)>, String> {
    let mut files = Vec::new();
    collect(directory, &mut files).map_err(|error| format!("{}: {error}", directory.display()))?;
    let mut incidents: BTreeMap<String, (String, Vec<NumberedStage>)> = BTreeMap::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let Ok(record) = serde_json::from_str::<Value>(&text) else { continue };
        let field = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_string);
        let (Some(incident), Some(job), Some(stage)) = (field("incident_id"), field("job_name"), field("stage")) else {
            continue;
        };
        let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let body = record.get("body").cloned().unwrap_or(Value::Null);
        incidents.entry(incident).or_insert_with(|| (job, Vec::new())).1.push((seq, stage, body));
    }
    Ok(incidents
        .into_values()
        .map(|(job, mut stages)| {
            stages.sort_by_key(|(seq, _, _)| *seq);
            (job, stages.into_iter().map(|(_, stage, body)| (stage, body)).collect())
        })
        .collect())
}

fn collect(directory: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, found)?;
        } else if path.extension().is_some_and(|extension| extension == "json") {
            found.push(path);
        }
    }
    Ok(())
}
