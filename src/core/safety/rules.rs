//! The safety rules, one function each, with stable names that audit
//! records, metrics (`etl_medic_safety_replacements_total{rule}`) and
//! docs/safety.md use. A rule looks at the proposed action and the evidence
//! and either passes it, lowers it (capacity only), or blocks it.
//!
//! Rules run in [`SAFETY_RULES`] order and the first block wins, so the reported
//! rule is the most fundamental reason: approval before identity, identity
//! before fleet state, evidence before budgets.

use crate::core::diagnosis::{Diagnosis, DriftKind};
use crate::core::evidence::DecideRequest;
use crate::core::evidence::FleetContext;
use crate::core::model::{Action, ActionKind, FailureClass, QuarantinePlan, RiskTier};
use crate::core::params::{input_locations, may_be_moved, source_locations, worker_type_rank};
use crate::core::safety_settings::{OverCeiling, SafetySettings, WORKER_TYPE_DPU};

pub const CRITICAL_JOB_REQUIRES_APPROVAL: &str = "critical_job_requires_approval";
pub const RUN_IDENTITY_REQUIRED: &str = "run_identity_required";
pub const GLUE_RETRY_PENDING: &str = "glue_retry_pending";
pub const CIRCUIT_BREAKER: &str = "circuit_breaker";
pub const CLASS_ALLOWLIST: &str = "class_allowlist";
pub const LOG_ONLY_EVIDENCE: &str = "log_only_evidence";
pub const ROLLBACK_REQUIRES_BREAKING_DRIFT: &str = "rollback_requires_breaking_drift";
pub const QUARANTINE_ONLY_DATA_QUALITY: &str = "quarantine_only_data_quality";
pub const QUARANTINE_BOUNDS: &str = "quarantine_bounds";
pub const SOURCE_WAIT_BOUNDS: &str = "source_wait_bounds";
pub const ATTEMPT_LIMIT: &str = "attempt_limit";
pub const JOB_ACTION_BUDGET: &str = "job_action_budget";
pub const FLEET_RATE_LIMIT: &str = "fleet_rate_limit";
pub const CAPACITY_CEILING: &str = "capacity_ceiling";

/// Everything a rule may look at.
pub struct RuleInput<'a> {
    pub request: &'a DecideRequest,
    pub diagnosis: &'a Diagnosis,
    pub settings: &'a SafetySettings,
    pub fleet: &'a FleetContext,
    /// The incident is in `approve` mode: nothing runs before a person
    /// approves exactly this action, which is the approval a critical job needs.
    pub approving: bool,
}

/// What a blocked proposal turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedTo {
    /// `settings.replacement` (escalate unless configured to log_and_wait).
    Configured,
    /// Always escalate: a person has to look (approval, open breaker).
    Escalate,
    /// Always log and wait: Glue itself is about to act.
    LogAndWait,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Pass,
    Lower { action: Action, reason: String },
    Block { reason: String, to: BlockedTo },
}

pub type Rule = fn(&Action, &RuleInput<'_>) -> Check;

/// Every rule that can change a proposal, in evaluation order.
pub const SAFETY_RULES: [(&str, Rule); 14] = [
    (CRITICAL_JOB_REQUIRES_APPROVAL, critical_job_requires_approval),
    (RUN_IDENTITY_REQUIRED, run_identity_required),
    (GLUE_RETRY_PENDING, glue_retry_pending),
    (CIRCUIT_BREAKER, circuit_breaker),
    (CLASS_ALLOWLIST, class_allowlist),
    (LOG_ONLY_EVIDENCE, log_only_evidence),
    (ROLLBACK_REQUIRES_BREAKING_DRIFT, rollback_requires_breaking_drift),
    (QUARANTINE_ONLY_DATA_QUALITY, quarantine_only_data_quality),
    (QUARANTINE_BOUNDS, quarantine_bounds),
    (SOURCE_WAIT_BOUNDS, source_wait_bounds),
    (ATTEMPT_LIMIT, attempt_limit),
    (JOB_ACTION_BUDGET, job_action_budget),
    (FLEET_RATE_LIMIT, fleet_rate_limit),
    (CAPACITY_CEILING, capacity_ceiling),
];

fn block(reason: impl Into<String>) -> Check {
    Check::Block { reason: reason.into(), to: BlockedTo::Configured }
}

fn critical_job_requires_approval(action: &Action, input: &RuleInput<'_>) -> Check {
    if action.kind().mutates() && input.request.risk_tier() == RiskTier::Critical && !input.approving {
        return Check::Block {
            reason: format!("job is critical: {} needs a person's approval", action.kind()),
            to: BlockedTo::Escalate,
        };
    }
    Check::Pass
}

fn run_identity_required(action: &Action, input: &RuleInput<'_>) -> Check {
    if action.kind().mutates() && (input.request.job_name().is_none() || run_id(input.request).is_none()) {
        return block("the event names no job or no run id, so nothing can be acted on");
    }
    Check::Pass
}

/// The failed run's id: from the event, else from GetJobRun.
pub fn run_id(request: &DecideRequest) -> Option<&str> {
    request.event.detail_str("jobRunId").or_else(|| request.job_run.as_ref().and_then(|run| run.id.as_deref()))
}

fn glue_retry_pending(action: &Action, input: &RuleInput<'_>) -> Check {
    if action.kind().mutates() && input.fleet.glue_retry_pending {
        return Check::Block {
            reason: "Glue will retry this run itself (job MaxRetries); acting now would race it".to_string(),
            to: BlockedTo::LogAndWait,
        };
    }
    Check::Pass
}

/// Open when at least `breaker_min_outcomes` remediations finished within
/// `breaker_window_s` and the share that failed reached `breaker_failure_ratio`.
pub fn breaker_open(settings: &SafetySettings, fleet: &FleetContext) -> bool {
    let finished = u64::from(fleet.recent_remediation_successes) + u64::from(fleet.recent_remediation_failures);
    if finished == 0 || finished < u64::from(settings.breaker_min_outcomes) {
        return false;
    }
    (f64::from(fleet.recent_remediation_failures) / finished as f64) >= settings.breaker_failure_ratio
}

fn circuit_breaker(action: &Action, input: &RuleInput<'_>) -> Check {
    if action.kind().mutates() && breaker_open(input.settings, input.fleet) {
        return Check::Block {
            reason: format!(
                "circuit breaker open: {} of the last {} remediations failed; escalate-only until they recover",
                input.fleet.recent_remediation_failures,
                input.fleet.recent_remediation_successes + input.fleet.recent_remediation_failures
            ),
            to: BlockedTo::Escalate,
        };
    }
    Check::Pass
}

fn class_allowlist(action: &Action, input: &RuleInput<'_>) -> Check {
    let class = input.diagnosis.class;
    if !input.settings.allows(class, action.kind()) {
        return block(format!("{} is not on the allowlist of {class}", action.kind()));
    }
    Check::Pass
}

/// Catalog and data mutations need evidence beyond log text. A rollback
/// needs the catalog to corroborate the diagnosis; moving objects needs a
/// diagnosis that does not rest on log lines alone, and objects that the
/// diagnosis names as bad input, that the JobRun error message names, and
/// that lie under the job's input locations (the values of its input
/// arguments in GetJobRun, parsed and compared by bucket and key): a log
/// line, printed by the job's own code, can name any URI.
fn log_only_evidence(action: &Action, input: &RuleInput<'_>) -> Check {
    let diagnosis = input.diagnosis;
    let changes_catalog_or_data = matches!(
        action,
        Action::RollbackSchema { .. } | Action::QuarantineBadRecords(QuarantinePlan::MoveObjects { .. })
    );
    if !changes_catalog_or_data {
        return Check::Pass;
    }
    if diagnosis.rests_on_log_lines_alone() || diagnosis.evidence_sources.is_empty() {
        return block(format!("the {} diagnosis rests on log lines alone", diagnosis.class));
    }
    match action {
        Action::RollbackSchema { .. } if !diagnosis.catalog_corroborated() || diagnosis.drift.is_none() => block(
            "the catalog does not corroborate the diagnosis: a schema error in the logs never rolls back the catalog",
        ),
        Action::QuarantineBadRecords(QuarantinePlan::MoveObjects { objects, .. }) => {
            let inputs = input_locations(input.request, input.settings);
            let stray = objects.iter().find(|object| {
                !diagnosis.bad_objects.contains(object) || !may_be_moved(input.request, &inputs, object)
            });
            match stray {
                Some(object) => block(format!(
                    "{object} is not named as bad input by both the diagnosis and the JobRun error message, under an input location of the job"
                )),
                None => Check::Pass,
            }
        }
        _ => Check::Pass,
    }
}

fn rollback_requires_breaking_drift(action: &Action, input: &RuleInput<'_>) -> Check {
    let Action::RollbackSchema { database, table, version_id } = action else {
        return Check::Pass;
    };
    let Some(drift) = input.diagnosis.drift.as_ref() else {
        return block("no catalog drift evidence");
    };
    if drift.kind != DriftKind::Breaking {
        return block(format!("catalog drift on {} is not breaking", drift.table));
    }
    let Some(known_good) = drift.known_good_version.as_deref() else {
        return block(format!("no known-good version of {} to roll back to", drift.table));
    };
    if database != &drift.database || table != &drift.table_name || version_id != known_good {
        return block(format!(
            "rollback target {database}.{table} version {version_id:?} is not the known-good version {known_good} of {}",
            drift.table
        ));
    }
    if known_good == drift.to_version {
        return block(format!("version {known_good} of {} is already current", drift.table));
    }
    Check::Pass
}

fn quarantine_only_data_quality(action: &Action, input: &RuleInput<'_>) -> Check {
    if action.kind() == ActionKind::QuarantineBadRecords && input.diagnosis.class != FailureClass::DataQuality {
        return block(format!("quarantine is for data_quality failures, not {}", input.diagnosis.class));
    }
    Check::Pass
}

fn quarantine_bounds(action: &Action, input: &RuleInput<'_>) -> Check {
    let settings = input.settings;
    let Action::QuarantineBadRecords(plan) = action else {
        return Check::Pass;
    };
    match plan {
        QuarantinePlan::MoveObjects { objects, quarantine_prefix } => {
            if objects.is_empty() {
                return block("quarantine names no objects");
            }
            if quarantine_prefix != &settings.quarantine_prefix {
                return block(format!("quarantine prefix {quarantine_prefix:?} is not the configured one"));
            }
            let count = objects.len() as u64;
            if count > u64::from(settings.quarantine_max_objects) {
                return block(format!(
                    "{count} objects exceed quarantine_max_objects = {}",
                    settings.quarantine_max_objects
                ));
            }
            if let Some(total) = input.fleet.input_object_count {
                let fraction = if total == 0 { 1.0 } else { count as f64 / total as f64 };
                if fraction > settings.quarantine_max_fraction {
                    return block(format!(
                        "{count} of {total} input objects exceed quarantine_max_fraction = {}",
                        settings.quarantine_max_fraction
                    ));
                }
            }
            Check::Pass
        }
        QuarantinePlan::BadRecordsArgument { argument, value } => {
            if argument != &settings.bad_records_argument || !value.starts_with(&settings.bad_records_location) {
                return block(format!("bad-records argument {argument}={value} is not the configured one"));
            }
            Check::Pass
        }
    }
}

/// `wait_for_source` needs an input to watch (an S3 location of the failed
/// run's input arguments, or the job's configured `sources`) and a wait of
/// at least a second and at most `wait_for_source_max_s`; a longer wait is
/// lowered to the bound (or refused when `over_ceiling = "replace"`).
fn source_wait_bounds(action: &Action, input: &RuleInput<'_>) -> Check {
    let Action::WaitForSource { max_wait_s } = action else {
        return Check::Pass;
    };
    if source_locations(input.request, input.settings).is_empty() {
        return block(
            "nothing to watch: the failed run has no S3 input argument and the job no configured sources, so a landing cannot be seen",
        );
    }
    if *max_wait_s == 0 {
        return block("max_wait_s = 0 watches nothing");
    }
    let bound = input.settings.wait_for_source_max_s;
    if *max_wait_s <= bound {
        return Check::Pass;
    }
    let reason = format!("max_wait_s {max_wait_s} above wait_for_source_max_s = {bound}");
    match input.settings.over_ceiling {
        OverCeiling::Replace => block(reason),
        OverCeiling::Clamp => {
            Check::Lower { action: Action::WaitForSource { max_wait_s: bound }, reason: format!("lowered: {reason}") }
        }
    }
}

fn attempt_limit(action: &Action, input: &RuleInput<'_>) -> Check {
    let history = &input.request.history;
    let attempts = u64::from(history.attempt).max(history.actions_taken.len() as u64);
    let limit = input.settings.max_attempts_per_incident;
    if action.kind().mutates() && attempts >= u64::from(limit) {
        return block(format!("{attempts} remediations already tried; max_attempts_per_incident = {limit}"));
    }
    Check::Pass
}

fn job_action_budget(action: &Action, input: &RuleInput<'_>) -> Check {
    let (used, budget) = (input.fleet.job_actions_in_window, input.settings.job_action_budget);
    if action.kind().mutates() && used >= budget {
        return block(format!(
            "job used {used} actions in the last {} s; job_action_budget = {budget}",
            input.settings.job_budget_window_s
        ));
    }
    Check::Pass
}

fn fleet_rate_limit(action: &Action, input: &RuleInput<'_>) -> Check {
    let (used, limit) = (input.fleet.fleet_actions_in_window, input.settings.fleet_action_limit);
    if action.kind().mutates() && used >= limit {
        return block(format!(
            "fleet took {used} actions in the last {} s; fleet_action_limit = {limit}",
            input.settings.fleet_window_s
        ));
    }
    Check::Pass
}

/// Workers within `min(jobs.<job>.max_workers, max_workers_ceiling)`, a
/// worker type within `max_worker_type`, and so a total DPU within
/// [`SafetySettings::dpu_ceiling`]. The rerun runs on the type the action
/// names or else on the run's own type, so a run whose type is unknown, off
/// the ladder or already above `max_worker_type` has no room to grow.
fn capacity_ceiling(action: &Action, input: &RuleInput<'_>) -> Check {
    let Action::RetryWithMoreCapacity { number_of_workers, worker_type } = action else {
        return Check::Pass;
    };
    let settings = input.settings;
    let ceiling = settings.workers_ceiling(input.request.job.max_workers);
    let max_rank = worker_type_rank(&settings.max_worker_type);
    let run = input.request.job_run.as_ref();
    let current_workers = run.and_then(|job_run| job_run.number_of_workers);
    let current_type = run.and_then(|job_run| job_run.worker_type.as_deref());
    let Some(current_rank) = current_type.and_then(worker_type_rank) else {
        return block(format!(
            "the run's worker type {} is not one etl-medic can size, so the rerun's DPU cannot be bounded",
            current_type.map_or_else(|| "(unknown)".to_string(), |type_name| format!("{type_name:?}"))
        ));
    };
    if max_rank.is_none_or(|max| current_rank > max) {
        return block(format!(
            "no room to grow: the run already uses {}, above max_worker_type {}",
            current_type.unwrap_or_default(),
            settings.max_worker_type
        ));
    }

    let mut workers = *number_of_workers;
    let mut new_type = worker_type.clone();
    let mut lowered = Vec::new();
    if workers > ceiling {
        lowered.push(format!("number_of_workers {workers} above the ceiling {ceiling}"));
        workers = ceiling;
    }
    if let Some(type_name) = worker_type.as_deref() {
        match worker_type_rank(type_name) {
            None => return block(format!("worker type {type_name:?} is not one etl-medic may choose")),
            Some(rank) if max_rank.is_none_or(|max| rank > max) => {
                lowered.push(format!("worker type {type_name} above max_worker_type {}", settings.max_worker_type));
                new_type = None;
            }
            Some(_) => {}
        }
    }
    if workers < 2 {
        return block(format!("{workers} workers is not a valid Glue capacity"));
    }
    let rerun_rank = new_type.as_deref().and_then(worker_type_rank).unwrap_or(current_rank);
    let rerun_dpu = f64::from(workers) * WORKER_TYPE_DPU.get(rerun_rank).copied().unwrap_or(f64::INFINITY);
    let dpu_ceiling = settings.dpu_ceiling(input.request.job.max_workers);
    if rerun_dpu > dpu_ceiling {
        return block(format!("{rerun_dpu} DPU is above the job's ceiling of {dpu_ceiling} DPU"));
    }
    let grows_workers = current_workers.is_none_or(|current| workers > current);
    let grows_type = rerun_rank > current_rank;
    if !grows_workers && !grows_type {
        return block(format!("no capacity headroom: the job is at the ceiling of {ceiling} workers"));
    }
    if lowered.is_empty() {
        return Check::Pass;
    }
    let reason = lowered.join("; ");
    match settings.over_ceiling {
        OverCeiling::Replace => block(reason),
        OverCeiling::Clamp => Check::Lower {
            action: Action::RetryWithMoreCapacity { number_of_workers: workers, worker_type: new_type },
            reason: format!("lowered: {reason}"),
        },
    }
}
