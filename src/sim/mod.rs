//! A simulated Glue estate: jobs, a fault model with a ground-truth cause per
//! incident, observations shaped exactly like the daemon's `decide` requests,
//! and an outcome model per (cause, action) with time and DPU costs. It is
//! seeded and reproducible: the same configuration and seed give the same
//! incidents and, for the same actions, the same outcomes. `train`,
//! `evaluate` and the daemon's `demo` all drive it.
//!
//! # Public API (stable: the demo builds on it)
//!
//! ```text
//! SimConfig::load(path: &Path) -> anyhow::Result<SimConfig>
//! SimConfig::embedded_default() -> SimConfig            // config/sim.toml, compiled in
//! SimConfig::from_toml(text: &str) -> anyhow::Result<SimConfig>
//! Estate::new(config: SimConfig, seed: u64) -> Estate
//! Estate::config(&self) -> &SimConfig
//! Estate::next_incident(&mut self) -> SimIncident        // incident n depends only on (config, seed, n)
//! Estate::incident(&self, number: u64) -> SimIncident    // the same incident, by number, without advancing
//! Estate::apply(&self, incident: &mut SimIncident, action: &Action) -> StepOutcome
//! SimIncident { id: String, cause: SimCause, job: JobSpec, request: DecideRequest,
//!               elapsed_minutes: f64, actions_taken: Vec<ActionKind>, closed: bool,
//!               number_of_workers: u32, worker_type: String, truth: IncidentTruth, .. }
//! StepOutcome { action: ActionKind, success: bool, closed: bool, resolution: Option<Resolution>,
//!               minutes: f64, dpu_hours: f64, job_runs: u32, failed_runs: u32,
//!               harm: Option<String>, next_request: Option<DecideRequest> }
//! Resolution::{Remediated, Human}
//! SimCause::{TransientInfra, ..., Timeout}.failure_class()
//! ```
//!
//! `apply` on a closed incident is a no-op outcome (0 minutes). After a
//! failed remediation `incident.request` (and `next_request`) is the new
//! failure: `history.attempt` raised and `actions_taken` extended.

pub mod cause;
pub mod config;
mod estate;
pub mod messages;
pub mod observe;
pub mod outcome;
pub mod randomize;

use chrono::{DateTime, FixedOffset};
use rand_chacha::ChaCha8Rng;

use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;

pub use cause::SimCause;
pub use config::{JobSpec, SimConfig};
pub use estate::Estate;
pub use messages::Symptom;
pub use observe::CatalogStory;
pub use outcome::Preview;

/// One incident of the estate: its hidden truth and its current observation.
#[derive(Debug, Clone)]
pub struct SimIncident {
    pub id: String,
    pub cause: SimCause,
    pub job: JobSpec,
    /// The failure to decide on now (the first one, or the latest after failed remediations).
    pub request: DecideRequest,
    /// Minutes since the first failure's event time.
    pub elapsed_minutes: f64,
    /// Remediations tried so far, in order.
    pub actions_taken: Vec<ActionKind>,
    /// Resolved, by a remediation or a person.
    pub closed: bool,
    /// Workers and worker type of the latest run (capacity actions change them).
    pub number_of_workers: u32,
    pub worker_type: String,
    pub truth: IncidentTruth,
    pub(crate) failed_at: DateTime<FixedOffset>,
    /// Outcome draws of this incident only, so incidents stay independent of
    /// the order in which policies or the demo work on them.
    pub(crate) rng: ChaCha8Rng,
}

/// What the simulator knows and the evidence only hints at.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentTruth {
    pub cause: SimCause,
    /// Minutes after the first failure at which a late source lands (0 unless source_unavailable).
    pub lateness_minutes: f64,
    /// DPUs a run needs to finish (resource_exhaustion, timeout); the current capacity otherwise.
    pub needed_dpu: f64,
    /// For schema_drift: (database, table, version that worked).
    pub good_version: Option<(String, String, String)>,
    /// Minutes the person needs before acting on an escalation.
    pub human_delay_minutes: f64,
    pub symptom: Symptom,
    pub wrapper: String,
    pub wrapper_only: bool,
    pub error_log_present: bool,
    pub catalog_story: CatalogStory,
    pub stale_schema_warning: bool,
    pub unrelated_late_source: bool,
    pub context_missing: bool,
    pub history_missing: bool,
    pub column: String,
    pub stale_days: u32,
    pub drift_age_minutes: f64,
    pub normal_source_lag_minutes: f64,
    /// How long the failing run ran before it failed.
    pub failed_run_minutes: f64,
    /// 1-based index into recent runs of an unrelated earlier failure.
    pub earlier_failure: Option<usize>,
    pub event_id: String,
}

/// Who closed an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// An automatic action's run succeeded.
    Remediated,
    /// A person fixed it after an escalation.
    Human,
}

/// What one action did to an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    pub action: ActionKind,
    /// The action's own run succeeded (never true for escalate).
    pub success: bool,
    /// The incident is over (success or a person fixed it).
    pub closed: bool,
    pub resolution: Option<Resolution>,
    /// Wall-clock minutes this step took, waits included.
    pub minutes: f64,
    pub dpu_hours: f64,
    /// Job runs started by this step, and how many of them failed.
    pub job_runs: u32,
    pub failed_runs: u32,
    /// Why the action was harmful for the true cause, if it was.
    pub harm: Option<String>,
    /// The next failure to decide on, when the incident is still open.
    pub next_request: Option<DecideRequest>,
}
