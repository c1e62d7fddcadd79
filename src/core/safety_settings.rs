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
    pub const MAX_QUARANTINE_OBJECTS: u32 = 1_000;
    pub const MAX_QUARANTINE_FRACTION: f64 = 0.2;
}

/// Glue worker types from smallest to largest; capacity grows along it.
pub const WORKER_TYPE_LADDER: [&str; 5] = ["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"];

/// What a blocked proposal becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    #[default]
    Escalate,
    LogAndWait,
}

/// What the capacity rule does with a request above the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OverCeiling {
    /// Lower the request to the ceiling (verdict `replaced`, same action kind).
    #[default]
    Clamp,
    /// Refuse it (verdict `replaced`).
    Replace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetySettings {
    /// Kill switch: true records only, everywhere, whatever the modes say.
    #[serde(default)]
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
    #[serde(default)]
    pub replacement: Replacement,
    /// Actions allowed per failure class; a class not listed keeps its default.
    #[serde(default)]
    pub allowlist: BTreeMap<FailureClass, Vec<ActionKind>>,
    #[serde(default = "default_max_attempts_per_incident")]
    pub max_attempts_per_incident: u32,
    #[serde(default = "default_job_action_budget")]
    pub job_action_budget: u32,
    #[serde(default = "default_job_budget_window_s")]
    pub job_budget_window_s: u64,
    #[serde(default = "default_fleet_action_limit")]
    pub fleet_action_limit: u32,
    #[serde(default = "default_fleet_window_s")]
    pub fleet_window_s: u64,
    #[serde(default = "default_breaker_min_outcomes")]
    pub breaker_min_outcomes: u32,
    #[serde(default = "default_breaker_failure_ratio")]
    pub breaker_failure_ratio: f64,
    #[serde(default = "default_breaker_window_s")]
    pub breaker_window_s: u64,
    #[serde(default = "default_max_workers_ceiling")]
    pub max_workers_ceiling: u32,
    #[serde(default = "default_capacity_growth_factor")]
    pub capacity_growth_factor: u32,
    #[serde(default = "default_max_worker_type")]
    pub max_worker_type: String,
    #[serde(default)]
    pub over_ceiling: OverCeiling,
    #[serde(default = "default_wait_base_delay_s")]
    pub wait_base_delay_s: u64,
    #[serde(default = "default_wait_max_delay_s")]
    pub wait_max_delay_s: u64,
    #[serde(default = "default_quarantine_max_objects")]
    pub quarantine_max_objects: u32,
    #[serde(default = "default_quarantine_max_fraction")]
    pub quarantine_max_fraction: f64,
    #[serde(default = "default_quarantine_prefix")]
    pub quarantine_prefix: String,
    #[serde(default = "default_bad_records_argument")]
    pub bad_records_argument: String,
    #[serde(default = "default_bad_records_location")]
    pub bad_records_location: String,
}

fn default_max_attempts_per_incident() -> u32 {
    3
}
fn default_job_action_budget() -> u32 {
    6
}
fn default_job_budget_window_s() -> u64 {
    86_400
}
fn default_fleet_action_limit() -> u32 {
    60
}
fn default_fleet_window_s() -> u64 {
    3_600
}
fn default_breaker_min_outcomes() -> u32 {
    5
}
fn default_breaker_failure_ratio() -> f64 {
    0.5
}
fn default_breaker_window_s() -> u64 {
    3_600
}
fn default_max_workers_ceiling() -> u32 {
    100
}
fn default_capacity_growth_factor() -> u32 {
    2
}
fn default_max_worker_type() -> String {
    "G.2X".to_string()
}
fn default_wait_base_delay_s() -> u64 {
    300
}
fn default_wait_max_delay_s() -> u64 {
    3_600
}
fn default_quarantine_max_objects() -> u32 {
    10
}
fn default_quarantine_max_fraction() -> f64 {
    0.05
}
fn default_quarantine_prefix() -> String {
    "etl-medic-quarantine/".to_string()
}
fn default_bad_records_argument() -> String {
    "--bad_records_path".to_string()
}
fn default_bad_records_location() -> String {
    "s3://etl-medic-quarantine/bad-records/".to_string()
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

impl Default for SafetySettings {
    fn default() -> SafetySettings {
        SafetySettings {
            force_shadow: false,
            mode: None,
            job_modes: BTreeMap::new(),
            class_modes: BTreeMap::new(),
            replacement: Replacement::default(),
            allowlist: BTreeMap::new(),
            max_attempts_per_incident: default_max_attempts_per_incident(),
            job_action_budget: default_job_action_budget(),
            job_budget_window_s: default_job_budget_window_s(),
            fleet_action_limit: default_fleet_action_limit(),
            fleet_window_s: default_fleet_window_s(),
            breaker_min_outcomes: default_breaker_min_outcomes(),
            breaker_failure_ratio: default_breaker_failure_ratio(),
            breaker_window_s: default_breaker_window_s(),
            max_workers_ceiling: default_max_workers_ceiling(),
            capacity_growth_factor: default_capacity_growth_factor(),
            max_worker_type: default_max_worker_type(),
            over_ceiling: OverCeiling::default(),
            wait_base_delay_s: default_wait_base_delay_s(),
            wait_max_delay_s: default_wait_max_delay_s(),
            quarantine_max_objects: default_quarantine_max_objects(),
            quarantine_max_fraction: default_quarantine_max_fraction(),
            quarantine_prefix: default_quarantine_prefix(),
            bad_records_argument: default_bad_records_argument(),
            bad_records_location: default_bad_records_location(),
        }
    }
}

/// The built-in allowlist of a class: the remedies that make sense for it.
/// `escalate` is always allowed and is not listed.
pub fn default_allowlist(class: FailureClass) -> &'static [ActionKind] {
    use ActionKind::*;
    match class {
        FailureClass::TransientInfra => &[LogAndWait, Retry, WaitAndRetry],
        FailureClass::ResourceExhaustion | FailureClass::Timeout => &[LogAndWait, Retry, RetryWithMoreCapacity],
        FailureClass::SchemaDrift => &[LogAndWait, RollbackSchema],
        FailureClass::DataQuality => &[LogAndWait, QuarantineBadRecords],
        FailureClass::SourceUnavailable => &[LogAndWait, Retry, WaitAndRetry],
        FailureClass::PermissionConfig | FailureClass::CodeBug => &[],
        FailureClass::Unknown => &[LogAndWait, Retry],
    }
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

    /// The actions allowed for a class: the configured list, or the
    /// built-in default when the class is not configured. `escalate` is
    /// always allowed, because it is what every blocked proposal becomes.
    pub fn allows(&self, class: FailureClass, kind: ActionKind) -> bool {
        if kind == ActionKind::Escalate {
            return true;
        }
        match self.allowlist.get(&class) {
            Some(configured) => configured.contains(&kind),
            None => default_allowlist(class).contains(&kind),
        }
    }

    /// The ceiling on workers for one job: the safety ceiling, lowered by the
    /// job's own `max_workers` when that is set.
    pub fn workers_ceiling(&self, job_max_workers: Option<u32>) -> u32 {
        job_max_workers.map_or(self.max_workers_ceiling, |job_max| job_max.min(self.max_workers_ceiling))
    }
}

#[cfg(test)]
#[path = "safety_settings_tests.rs"]
mod tests;
