//! Parameters of a simulated Glue estate, read from TOML (`config/sim.toml`
//! and its variants `config/sim-*.toml`). Every section is strict
//! (`deny_unknown_fields`) so a typo in a parameter file is an error, not a
//! silently ignored knob. Units are in the key names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};

use crate::core::model::{ActionKind, RiskTier};
use crate::sim::cause::SimCause;

/// The default estate, compiled in so `demo`, `train` and `evaluate` work
/// from any directory.
const EMBEDDED_DEFAULT: &str = include_str!("../../config/sim.toml");

/// The held-out parameter sets, compiled in so `evaluate` reports them
/// from any directory. Nothing trains or tunes on them.
const EMBEDDED_HOLDOUTS: [&str; 2] = [
    include_str!("../../config/sim-holdout-retries-heal.toml"),
    include_str!("../../config/sim-holdout-slow-late.toml"),
];

/// Names of held-out sets start with this; `train` refuses them.
pub const HOLDOUT_PREFIX: &str = "holdout";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// A short name shown in evaluation tables.
    pub name: String,
    pub estate: EstateSettings,
    pub jobs: Vec<JobSpec>,
    /// Relative frequency of each ground-truth cause (need not sum to 1).
    pub causes: BTreeMap<SimCause, f64>,
    pub lateness: LatenessModel,
    pub evidence: EvidenceNoise,
    pub human: HumanModel,
    /// How much more capacity a memory or timeout failure needs.
    #[serde(default)]
    pub capacity: CapacityModel,
    /// Success probability of each action for each cause, when the context
    /// condition of the cause holds (see `sim::outcome`). Missing means 0.
    pub outcomes: BTreeMap<SimCause, BTreeMap<ActionKind, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstateSettings {
    /// RFC 3339 time of the first simulated incident.
    #[serde(default = "default_start_time")]
    pub start_time: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Glue start-up time of every new run.
    #[serde(default = "default_run_start_minutes")]
    pub run_start_minutes: f64,
    /// Mean time between two incidents of the estate.
    #[serde(default = "default_incident_interval_minutes")]
    pub incident_interval_minutes: f64,
    /// Extra minutes a quarantine takes to move objects before its rerun.
    #[serde(default = "default_quarantine_minutes")]
    pub quarantine_minutes: f64,
}

fn default_start_time() -> String {
    "2026-11-02T02:00:00Z".to_string()
}
fn default_account() -> String {
    "123456789012".to_string()
}
fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_run_start_minutes() -> f64 {
    1.5
}
fn default_incident_interval_minutes() -> f64 {
    45.0
}
fn default_quarantine_minutes() -> f64 {
    3.0
}

/// One Glue job of the estate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    #[serde(default = "default_worker_type")]
    pub worker_type: String,
    pub number_of_workers: u32,
    /// Capacity ceiling the operator configured for this job.
    pub max_workers: u32,
    /// Typical duration of a successful run.
    pub run_minutes: f64,
    pub timeout_minutes: u64,
    #[serde(default)]
    pub risk_tier: RiskTier,
    /// Time between two scheduled runs (1440 = daily).
    pub schedule_interval_minutes: f64,
    /// Catalog tables the job reads, as `database.table`.
    #[serde(default)]
    pub tables: Vec<String>,
    pub source_path: String,
    /// Relative share of the estate's incidents that hit this job.
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_worker_type() -> String {
    "G.1X".to_string()
}
fn default_weight() -> f64 {
    1.0
}

/// How late a source lands when the cause is `source_unavailable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatenessModel {
    pub median_minutes: f64,
    /// Log-space standard deviation of the lognormal lateness.
    pub sigma: f64,
}

/// How clean the evidence is. Each fraction is a probability per incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceNoise {
    /// The JobRun error message is only the generic py4j wrapper
    /// ("An error occurred while calling o123.pyWriteDynamicFrame") and the
    /// telling line is only in the error log, if at all.
    pub wrapper_only_fraction: f64,
    /// The error log group has the run's error lines (else it is empty).
    pub error_log_present_fraction: f64,
    /// The message comes from a family shared with another cause ("Lost
    /// executor", S3 404, futures timeout) instead of the cause's own.
    pub shared_family_fraction: f64,
    /// A harmless additive column change on a table of a non-drift failure.
    pub additive_drift_fraction: f64,
    /// A stale-schema warning in the output log of a non-drift failure.
    pub stale_schema_warning_fraction: f64,
    /// A non-source failure whose source is also old (an unrelated late feed).
    pub unrelated_late_source_fraction: f64,
    /// The request carries no source age (the daemon could not list the input).
    #[serde(default)]
    pub context_missing_fraction: f64,
    /// The request carries no run history (a new job, or GetJobRuns failed).
    #[serde(default)]
    pub history_missing_fraction: f64,
}

/// When a person takes an escalated incident: lognormal hours until they
/// act, then a fix and a rerun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanModel {
    pub median_hours: f64,
    pub sigma: f64,
    pub fix_minutes: f64,
}

/// The capacity a run that failed for memory or time needs, as a factor of
/// its current DPUs, drawn uniformly per incident from
/// `needed_factor_min..needed_factor_max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityModel {
    pub needed_factor_min: f64,
    pub needed_factor_max: f64,
}

impl Default for CapacityModel {
    fn default() -> CapacityModel {
        CapacityModel { needed_factor_min: 1.2, needed_factor_max: 2.2 }
    }
}

impl SimConfig {
    /// Reads and validates a parameter file.
    pub fn load(path: &Path) -> anyhow::Result<SimConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        SimConfig::from_toml(&text).with_context(|| format!("parsing simulator parameters {}", path.display()))
    }

    /// The compiled-in `config/sim.toml`.
    pub fn embedded_default() -> SimConfig {
        // The embedded file is checked by the unit test `embedded_default_parses`,
        // so this cannot fail in a build whose tests pass.
        SimConfig::from_toml(EMBEDDED_DEFAULT).expect("config/sim.toml is valid (tested)")
    }

    /// The compiled-in held-out sets (`config/sim-holdout-*.toml`).
    pub fn embedded_holdouts() -> Vec<SimConfig> {
        // Checked by the unit test `embedded_default_parses`, like the default.
        EMBEDDED_HOLDOUTS
            .iter()
            .map(|text| SimConfig::from_toml(text).expect("config/sim-holdout-*.toml are valid (tested)"))
            .collect()
    }

    /// A held-out set: evaluated every time, never trained or tuned on.
    pub fn is_held_out(&self) -> bool {
        self.name.starts_with(HOLDOUT_PREFIX)
    }

    pub fn from_toml(text: &str) -> anyhow::Result<SimConfig> {
        let config: SimConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(!self.jobs.is_empty(), "at least one [[jobs]] entry is needed");
        ensure!(self.causes.values().any(|weight| *weight > 0.0), "[causes] needs a positive weight");
        ensure!(self.causes.values().all(|weight| *weight >= 0.0), "[causes] weights must not be negative");
        for job in &self.jobs {
            ensure!(job.number_of_workers >= 1, "job {}: number_of_workers must be >= 1", job.name);
            ensure!(job.max_workers >= job.number_of_workers, "job {}: max_workers below number_of_workers", job.name);
            ensure!(job.run_minutes > 0.0 && job.weight >= 0.0, "job {}: run_minutes > 0 and weight >= 0", job.name);
            ensure!(
                (job.run_minutes as u64) < job.timeout_minutes,
                "job {}: run_minutes must be below timeout_minutes",
                job.name
            );
            if dpu_per_worker(&job.worker_type).is_none() {
                bail!("job {}: unknown worker_type {}", job.name, job.worker_type);
            }
        }
        for (cause, actions) in &self.outcomes {
            for (action, probability) in actions {
                ensure!((0.0..=1.0).contains(probability), "outcomes.{cause}.{action} must be a probability");
            }
        }
        let noise = &self.evidence;
        for (name, value) in [
            ("wrapper_only_fraction", noise.wrapper_only_fraction),
            ("error_log_present_fraction", noise.error_log_present_fraction),
            ("shared_family_fraction", noise.shared_family_fraction),
            ("additive_drift_fraction", noise.additive_drift_fraction),
            ("stale_schema_warning_fraction", noise.stale_schema_warning_fraction),
            ("unrelated_late_source_fraction", noise.unrelated_late_source_fraction),
            ("context_missing_fraction", noise.context_missing_fraction),
            ("history_missing_fraction", noise.history_missing_fraction),
        ] {
            ensure!((0.0..=1.0).contains(&value), "evidence.{name} must be within 0..=1");
        }
        ensure!(self.human.median_hours > 0.0 && self.human.sigma >= 0.0, "[human] median_hours > 0, sigma >= 0");
        ensure!(
            self.capacity.needed_factor_min >= 1.0 && self.capacity.needed_factor_min < self.capacity.needed_factor_max,
            "[capacity] needs 1 <= needed_factor_min < needed_factor_max"
        );
        ensure!(self.lateness.median_minutes > 0.0 && self.lateness.sigma >= 0.0, "[lateness] median_minutes > 0");
        Ok(())
    }

    /// Success probability of `action` against `cause` when its context holds.
    /// Whether the parameter file gives `action` an entry for `cause`.
    pub fn has_outcome(&self, cause: SimCause, action: ActionKind) -> bool {
        self.outcomes.get(&cause).is_some_and(|actions| actions.contains_key(&action))
    }

    pub fn success_probability(&self, cause: SimCause, action: ActionKind) -> f64 {
        self.outcomes.get(&cause).and_then(|actions| actions.get(&action)).copied().unwrap_or(0.0)
    }
}

/// DPUs of one worker of a Glue worker type.
pub fn dpu_per_worker(worker_type: &str) -> Option<f64> {
    match worker_type {
        "G.025X" => Some(0.25),
        "Standard" | "G.1X" => Some(1.0),
        "G.2X" => Some(2.0),
        "G.4X" => Some(4.0),
        "G.8X" => Some(8.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let config = SimConfig::from_toml(EMBEDDED_DEFAULT).unwrap();
        assert!(config.jobs.len() >= 4);
        assert_eq!(config.causes.len(), SimCause::ALL.len());
        assert!(!config.is_held_out());
        let holdouts = SimConfig::embedded_holdouts();
        assert_eq!(holdouts.len(), 2);
        assert!(holdouts.iter().all(SimConfig::is_held_out));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = format!("{EMBEDDED_DEFAULT}\n[typo]\nx = 1\n");
        assert!(SimConfig::from_toml(&text).is_err());
    }
}
