//! The `[safety]` configuration section: every bound the safety rules apply,
//! with safe defaults, and the hard limits no configuration can pass.
//!
//! A configuration may tighten any bound freely. Widening one past its hard
//! limit is refused by [`SafetySettings::validate`], naming the key, so a
//! typo or a hurried override can never turn the guardrails off. The hard
//! limits live in code, where only a reviewed release can move them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::model::{ActionKind, FailureClass, Mode};

/// Bounds that configuration cannot widen past.
pub mod hard_limits {
    pub const MAX_ATTEMPTS_PER_INCIDENT: u32 = 10;
    pub const MAX_JOB_ACTION_BUDGET: u32 = 50;
    /// A shorter window would let a budget refill faster than this.
    pub const MIN_JOB_BUDGET_WINDOW_S: u64 = 3_600;
    pub const MAX_FLEET_ACTIONS: u32 = 1_000;
    pub const MIN_FLEET_WINDOW_S: u64 = 60;
    /// The breaker may not wait for more evidence than this before opening.
    pub const MAX_BREAKER_MIN_OUTCOMES: u32 = 50;
    /// The breaker may not tolerate a failure ratio above this.
    pub const MAX_BREAKER_FAILURE_RATIO: f64 = 0.9;
    pub const MAX_WORKERS_CEILING: u32 = 500;
    pub const MAX_CAPACITY_GROWTH_FACTOR: u32 = 4;
    /// SQS visibility can hold a message at most 12 hours.
    pub const MAX_WAIT_DELAY_S: u64 = 43_200;
    pub const MAX_QUARANTINE_OBJECTS: u32 = 100;
    /// `wait_for_source` never watches an input for longer than a day: a
    /// source a day late is an outage for a person, not a wait.
    pub const MAX_SOURCE_WAIT_S: u64 = 86_400;
    pub const MAX_QUARANTINE_FRACTION: f64 = 0.2;
}

/// Glue worker types from smallest to largest; capacity grows along it.
pub const WORKER_TYPE_LADDER: [&str; 5] = ["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"];
/// DPU of one worker of each type of [`WORKER_TYPE_LADDER`].
pub const WORKER_TYPE_DPU: [f64; 5] = [0.25, 1.0, 2.0, 4.0, 8.0];

/// DPU of one worker of `worker_type`; `None` for a type off the ladder.
pub fn worker_type_dpu(worker_type: &str) -> Option<f64> {
    let rank = WORKER_TYPE_LADDER.iter().position(|candidate| *candidate == worker_type)?;
    WORKER_TYPE_DPU.get(rank).copied()
}

/// What a blocked proposal becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    Escalate,
    LogAndWait,
}

/// What the capacity rule does with a request above the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverCeiling {
    /// Lower the request to the ceiling (verdict `replaced`, same action kind).
    Clamp,
    /// Refuse it (verdict `replaced`).
    Replace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetySettings {
    /// Kill switch: true records only, everywhere, whatever the modes say.
    pub force_shadow: bool,
    /// Global autonomy, the default for jobs and classes not set below;
    /// unset means shadow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Autonomy per Glue job name.
    #[serde(default)]
    pub job_modes: BTreeMap<String, Mode>,
    /// Autonomy per failure class.
    #[serde(default)]
    pub class_modes: BTreeMap<FailureClass, Mode>,
    pub replacement: Replacement,
    /// Actions allowed per failure class; a class not listed allows only
    /// `escalate` (the shipped defaults list every class).
    #[serde(default)]
    pub allowlist: BTreeMap<FailureClass, Vec<ActionKind>>,
    pub max_attempts_per_incident: u32,
    pub job_action_budget: u32,
    pub job_budget_window_s: u64,
    pub fleet_action_limit: u32,
    pub fleet_window_s: u64,
    pub breaker_min_outcomes: u32,
    pub breaker_failure_ratio: f64,
    pub breaker_window_s: u64,
    pub max_workers_ceiling: u32,
    pub capacity_growth_factor: u32,
    pub max_worker_type: String,
    pub over_ceiling: OverCeiling,
    pub wait_base_delay_s: u64,
    pub wait_max_delay_s: u64,
    /// `wait_for_source`: the longest `max_wait_s` a decision may carry.
    pub wait_for_source_max_s: u64,
    /// `wait_for_source`: the wait chosen when the job's history shows no
    /// late source to size it from (bounded by `wait_for_source_max_s`).
    pub wait_for_source_default_s: u64,
    pub quarantine_max_objects: u32,
    pub quarantine_max_fraction: f64,
    pub quarantine_prefix: String,
    /// Job arguments that hold a job's input (`--source_path` style): the
    /// only places quarantine may take objects from. `jobs.<job>.input_arguments`
    /// replaces the list for one job.
    pub input_arguments: Vec<String>,
    pub bad_records_argument: String,
    pub bad_records_location: String,
}

impl SafetySettings {
    /// One mode for every job and class, as a command-line `--mode` asks:
    /// the per-job and per-class settings are dropped. The kill switch
    /// (`force_shadow`) stays as configured.
    pub fn set_mode_everywhere(&mut self, mode: Mode) {
        self.mode = Some(mode);
        self.job_modes.clear();
        self.class_modes.clear();
    }
}

/// The shipped `config/default.toml`, whose `[safety]` section is the one
/// place the safety defaults are written down (compiled in: reading it is
/// no I/O).
const SHIPPED_CONFIGURATION: &str = include_str!("../../config/default.toml");

impl Default for SafetySettings {
    /// The `[safety]` section of the shipped `config/default.toml`.
    fn default() -> SafetySettings {
        static SHIPPED: std::sync::OnceLock<SafetySettings> = std::sync::OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                // A unit test loads the compiled-in file, so this cannot fail at run time.
                shipped_safety_section(SHIPPED_CONFIGURATION)
                    .unwrap_or_else(|error| unreachable!("config/default.toml [safety] does not load: {error}"))
            })
            .clone()
    }
}

/// The `[safety]` section of a whole configuration document.
fn shipped_safety_section(document: &str) -> Result<SafetySettings, String> {
    let mut table: toml::Table = toml::from_str(document).map_err(|error| error.to_string())?;
    let section = table.remove("safety").ok_or("no [safety] section")?;
    section.try_into().map_err(|error: toml::de::Error| error.to_string())
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SafetySettingsError {
    #[error(
        "safety.{key} = {value} is past its hard limit {limit}; configuration may tighten a safety bound, never widen it past the hard limit"
    )]
    PastHardLimit { key: String, value: String, limit: String },
    #[error("safety.{key} = {value} is invalid: {reason}")]
    Invalid { key: String, value: String, reason: String },
}

impl SafetySettingsError {
    /// The offending key, as written under `[safety]`.
    pub fn key(&self) -> &str {
        match self {
            SafetySettingsError::PastHardLimit { key, .. } | SafetySettingsError::Invalid { key, .. } => key,
        }
    }
}

fn above<T: PartialOrd + ToString>(key: &str, value: T, limit: T) -> Result<(), SafetySettingsError> {
    if value > limit {
        return Err(SafetySettingsError::PastHardLimit {
            key: key.to_string(),
            value: value.to_string(),
            limit: format!("(at most {})", limit.to_string()),
        });
    }
    Ok(())
}

fn below<T: PartialOrd + ToString>(key: &str, value: T, limit: T) -> Result<(), SafetySettingsError> {
    if value < limit {
        return Err(SafetySettingsError::PastHardLimit {
            key: key.to_string(),
            value: value.to_string(),
            limit: format!("(at least {})", limit.to_string()),
        });
    }
    Ok(())
}

fn invalid(key: &str, value: impl ToString, reason: &str) -> SafetySettingsError {
    SafetySettingsError::Invalid { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
}

/// Why `name` is not a Glue job argument name (`--source_path`), or `None`.
pub fn argument_name_problem(name: &str) -> Option<&'static str> {
    let plain = name.strip_prefix("--").is_some_and(|bare| {
        !bare.is_empty()
            && bare.chars().all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '.'))
    });
    (!plain).then_some("must be a Glue job argument name like --source_path")
}

impl SafetySettings {
    /// Checks every bound against its hard limit and every value for sense.
    pub fn validate(&self) -> Result<(), SafetySettingsError> {
        use hard_limits::*;
        above("max_attempts_per_incident", self.max_attempts_per_incident, MAX_ATTEMPTS_PER_INCIDENT)?;
        above("job_action_budget", self.job_action_budget, MAX_JOB_ACTION_BUDGET)?;
        below("job_budget_window_s", self.job_budget_window_s, MIN_JOB_BUDGET_WINDOW_S)?;
        above("fleet_action_limit", self.fleet_action_limit, MAX_FLEET_ACTIONS)?;
        below("fleet_window_s", self.fleet_window_s, MIN_FLEET_WINDOW_S)?;
        if self.breaker_min_outcomes == 0 {
            return Err(invalid("breaker_min_outcomes", 0, "must be at least 1"));
        }
        above("breaker_min_outcomes", self.breaker_min_outcomes, MAX_BREAKER_MIN_OUTCOMES)?;
        if !(self.breaker_failure_ratio.is_finite() && self.breaker_failure_ratio > 0.0) {
            return Err(invalid("breaker_failure_ratio", self.breaker_failure_ratio, "must be a number above 0"));
        }
        above("breaker_failure_ratio", self.breaker_failure_ratio, MAX_BREAKER_FAILURE_RATIO)?;
        if self.breaker_window_s == 0 {
            return Err(invalid("breaker_window_s", 0, "must be at least 1"));
        }
        above("max_workers_ceiling", self.max_workers_ceiling, MAX_WORKERS_CEILING)?;
        if self.max_workers_ceiling < 2 {
            return Err(invalid("max_workers_ceiling", self.max_workers_ceiling, "Glue needs at least 2 workers"));
        }
        if self.capacity_growth_factor < 2 {
            return Err(invalid("capacity_growth_factor", self.capacity_growth_factor, "must be at least 2"));
        }
        above("capacity_growth_factor", self.capacity_growth_factor, MAX_CAPACITY_GROWTH_FACTOR)?;
        if !WORKER_TYPE_LADDER.contains(&self.max_worker_type.as_str()) {
            return Err(invalid(
                "max_worker_type",
                &self.max_worker_type,
                "must be one of G.025X, G.1X, G.2X, G.4X, G.8X",
            ));
        }
        above("wait_max_delay_s", self.wait_max_delay_s, MAX_WAIT_DELAY_S)?;
        if self.wait_base_delay_s == 0 || self.wait_base_delay_s > self.wait_max_delay_s {
            return Err(invalid("wait_base_delay_s", self.wait_base_delay_s, "must be between 1 and wait_max_delay_s"));
        }
        above("wait_for_source_max_s", self.wait_for_source_max_s, MAX_SOURCE_WAIT_S)?;
        if self.wait_for_source_max_s == 0 {
            return Err(invalid("wait_for_source_max_s", 0, "must be at least 1"));
        }
        if self.wait_for_source_default_s == 0 || self.wait_for_source_default_s > self.wait_for_source_max_s {
            return Err(invalid(
                "wait_for_source_default_s",
                self.wait_for_source_default_s,
                "must be between 1 and wait_for_source_max_s",
            ));
        }
        above("quarantine_max_objects", self.quarantine_max_objects, MAX_QUARANTINE_OBJECTS)?;
        if !(self.quarantine_max_fraction.is_finite() && self.quarantine_max_fraction >= 0.0) {
            return Err(invalid("quarantine_max_fraction", self.quarantine_max_fraction, "must be a number from 0"));
        }
        above("quarantine_max_fraction", self.quarantine_max_fraction, MAX_QUARANTINE_FRACTION)?;
        if self.quarantine_prefix.is_empty()
            || self.quarantine_prefix.starts_with('/')
            || !self.quarantine_prefix.ends_with('/')
        {
            return Err(invalid(
                "quarantine_prefix",
                &self.quarantine_prefix,
                "must be a relative key prefix ending in '/'",
            ));
        }
        for name in &self.input_arguments {
            if let Some(problem) = argument_name_problem(name) {
                return Err(invalid("input_arguments", format!("{name:?}"), problem));
            }
        }
        if !self.bad_records_argument.starts_with("--") || self.bad_records_argument.len() < 3 {
            return Err(invalid(
                "bad_records_argument",
                &self.bad_records_argument,
                "must be a Glue job argument like --bad_records_path",
            ));
        }
        if !self.bad_records_location.starts_with("s3://") || !self.bad_records_location.ends_with('/') {
            return Err(invalid(
                "bad_records_location",
                &self.bad_records_location,
                "must be an s3:// prefix ending in '/'",
            ));
        }
        Ok(())
    }

    /// The actions allowed for a class: its configured list. `escalate` is
    /// always allowed, because it is what every blocked proposal becomes; a
    /// class with no list allows nothing else.
    pub fn allows(&self, class: FailureClass, kind: ActionKind) -> bool {
        kind == ActionKind::Escalate || self.allowlist.get(&class).is_some_and(|configured| configured.contains(&kind))
    }

    /// The ceiling on workers for one job: the safety ceiling, lowered by the
    /// job's own `max_workers` when that is set.
    pub fn workers_ceiling(&self, job_max_workers: Option<u32>) -> u32 {
        job_max_workers.map_or(self.max_workers_ceiling, |job_max| job_max.min(self.max_workers_ceiling))
    }

    /// The ceiling on a job's total DPU: its workers ceiling, each of the
    /// largest allowed worker type. A rerun never asks for more, whatever
    /// mix of workers and worker type it names.
    pub fn dpu_ceiling(&self, job_max_workers: Option<u32>) -> f64 {
        f64::from(self.workers_ceiling(job_max_workers)) * worker_type_dpu(&self.max_worker_type).unwrap_or(0.0)
    }
}

#[cfg(test)]
#[path = "safety_settings_tests.rs"]
mod tests;
