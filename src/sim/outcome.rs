//! The outcome model: what an action does to an incident, given its true
//! cause and context. Context matters on purpose, because that is where a
//! learned policy can beat fixed rules: a late source heals only once it has
//! landed (a wait that covers the lateness, or the next schedule), more
//! capacity fixes memory and timeouts only when it is enough, a rollback
//! fixes breaking drift only with the version that worked.

use rand::Rng;

use crate::core::model::{Action, ActionKind};
use crate::sim::cause::SimCause;
use crate::sim::config::{SimConfig, dpu_per_worker};
use crate::sim::estate::{expected_failed_run_minutes, failed_run_minutes};
use crate::sim::observe::build_request;
use crate::sim::{Resolution, SimIncident, StepOutcome};

/// How a run scales with capacity: run time ~ (capacity)^-SPEEDUP_EXPONENT.
const SPEEDUP_EXPONENT: f64 = 0.8;

/// How long after a landing the daemon's watch sees it: one look per
/// `incidents.source_check_secs` (60 s by default), counted in full.
pub const SOURCE_CHECK_MINUTES: f64 = 1.0;

/// `wait_for_source` in the simulated world: minutes until the watch sees
/// new input and starts the run, or `None` when nothing new lands within
/// `max_wait_s` (the daemon then escalates at the deadline). Only a late
/// source lands; for every other cause the input is already there and
/// nothing new comes within the wait.
pub fn source_wait_minutes(incident: &SimIncident, max_wait_s: u64) -> Option<f64> {
    if incident.truth.cause != SimCause::SourceUnavailable {
        return None;
    }
    let until_landing = (incident.truth.lateness_minutes - incident.elapsed_minutes).max(0.0);
    let wait = until_landing + SOURCE_CHECK_MINUTES;
    (wait <= max_wait_s as f64 / 60.0).then_some(wait)
}

/// Success probability of the run an action starts. `wait_for_source`
/// starts a plain rerun once the input landed: its own entry when the
/// parameter file has one, else the cause's `retry` entry.
fn run_probability(config: &SimConfig, incident: &SimIncident, kind: ActionKind) -> f64 {
    if kind == ActionKind::WaitForSource && !config.has_outcome(incident.cause, kind) {
        return config.success_probability(incident.cause, ActionKind::Retry);
    }
    config.success_probability(incident.cause, kind)
}

/// What an action would do to an incident, in expectation: the oracle
/// plans with it. Nothing is drawn; `on_failure` is the incident after the
/// action failed with the expected run time of a failure.
#[derive(Debug, Clone)]
pub struct Preview {
    pub success_probability: f64,
    /// Minutes the step takes when it heals (for escalate: the person's
    /// expected delay, fix and rerun).
    pub success_minutes: f64,
    pub failure_minutes: f64,
    pub harmful: bool,
    /// `None` for escalate, which always closes the incident.
    pub on_failure: Option<SimIncident>,
}

pub(crate) fn preview(config: &SimConfig, incident: &SimIncident, action: &Action) -> Preview {
    let kind = action.kind();
    let harmful = harm_of(incident, action).is_some();
    if kind == ActionKind::Escalate {
        let human = 60.0 * config.human.median_hours * (config.human.sigma * config.human.sigma / 2.0).exp();
        let minutes = human + config.human.fix_minutes + incident.job.run_minutes;
        return Preview {
            success_probability: 1.0,
            success_minutes: minutes,
            failure_minutes: minutes,
            harmful,
            on_failure: None,
        };
    }
    if let Action::WaitForSource { max_wait_s } = action
        && source_wait_minutes(incident, *max_wait_s).is_none()
    {
        // Nothing lands: the watch runs to its deadline, then a person.
        let human = 60.0 * config.human.median_hours * (config.human.sigma * config.human.sigma / 2.0).exp();
        let minutes = *max_wait_s as f64 / 60.0 + human + config.human.fix_minutes + incident.job.run_minutes;
        return Preview {
            success_probability: 1.0,
            success_minutes: minutes,
            failure_minutes: minutes,
            harmful,
            on_failure: None,
        };
    }
    let plan = RunPlan::of(config, incident, action);
    let probability = if plan.condition { run_probability(config, incident, kind) } else { 0.0 };
    let current_dpu = dpu_of(incident.number_of_workers, &incident.worker_type);
    let success_run = expected_success_run_minutes(incident, plan.run_dpu, current_dpu);
    let failure_run = expected_failed_run_minutes(incident.cause, &incident.job);
    let fixed = plan.wait_minutes + config.estate.run_start_minutes;
    let mut next = incident.clone();
    next.elapsed_minutes += fixed + failure_run;
    next.actions_taken.push(kind);
    next.number_of_workers = plan.workers;
    next.worker_type = plan.worker_type;
    next.truth.failed_run_minutes = failure_run;
    next.request = build_request(&next, &config.estate.account, &config.estate.region);
    Preview {
        success_probability: probability,
        success_minutes: fixed + success_run,
        failure_minutes: fixed + failure_run,
        harmful,
        on_failure: Some(next),
    }
}

/// The run an action starts: capacity, wait before it, and whether the
/// cause's context condition holds for it.
struct RunPlan {
    workers: u32,
    worker_type: String,
    run_dpu: f64,
    wait_minutes: f64,
    condition: bool,
}

impl RunPlan {
    fn of(config: &SimConfig, incident: &SimIncident, action: &Action) -> RunPlan {
        let (workers, worker_type) = match action {
            Action::RetryWithMoreCapacity { number_of_workers, worker_type } => {
                ((*number_of_workers).max(1), worker_type.clone().unwrap_or_else(|| incident.worker_type.clone()))
            }
            _ => (incident.number_of_workers, incident.worker_type.clone()),
        };
        let run_dpu = dpu_of(workers, &worker_type);
        let wait_minutes = match action {
            Action::WaitAndRetry { delay_s } => *delay_s as f64 / 60.0,
            Action::WaitForSource { max_wait_s } => {
                source_wait_minutes(incident, *max_wait_s).unwrap_or(*max_wait_s as f64 / 60.0)
            }
            Action::LogAndWait {} => incident.job.schedule_interval_minutes,
            Action::QuarantineBadRecords(_) => config.estate.quarantine_minutes,
            _ => 0.0,
        };
        let run_starts_at = incident.elapsed_minutes + wait_minutes + config.estate.run_start_minutes;
        let condition = condition_holds(incident, action, run_starts_at, run_dpu);
        RunPlan { workers, worker_type, run_dpu, wait_minutes, condition }
    }
}

pub(crate) fn apply(config: &SimConfig, incident: &mut SimIncident, action: &Action) -> StepOutcome {
    let kind = action.kind();
    if incident.closed {
        return StepOutcome {
            action: kind,
            success: false,
            closed: true,
            resolution: None,
            minutes: 0.0,
            dpu_hours: 0.0,
            job_runs: 0,
            failed_runs: 0,
            harm: None,
            next_request: None,
        };
    }
    let harm = harm_of(incident, action);
    if kind == ActionKind::Escalate {
        return escalate(config, incident, harm);
    }
    if let Action::WaitForSource { max_wait_s } = action
        && source_wait_minutes(incident, *max_wait_s).is_none()
    {
        // Nothing lands: the watch runs to its deadline, no run starts, then a person.
        let waited = *max_wait_s as f64 / 60.0;
        incident.elapsed_minutes += waited;
        incident.actions_taken.push(kind);
        let mut outcome = escalate(config, incident, harm);
        outcome.action = kind;
        outcome.minutes += waited;
        return outcome;
    }
    let current_dpu = dpu_of(incident.number_of_workers, &incident.worker_type);
    let RunPlan { workers, worker_type, run_dpu, wait_minutes, condition } = RunPlan::of(config, incident, action);
    let probability = run_probability(config, incident, kind);
    let draw: f64 = incident.rng.random();
    let success = condition && draw < probability;
    let run_minutes = if success {
        success_run_minutes(incident, run_dpu, current_dpu)
    } else {
        failed_run_minutes(incident.cause, &incident.job, &mut incident.rng)
    };
    let minutes = wait_minutes + config.estate.run_start_minutes + run_minutes;
    incident.elapsed_minutes += minutes;
    incident.actions_taken.push(kind);
    incident.number_of_workers = workers;
    incident.worker_type = worker_type;
    let dpu_hours = run_dpu * run_minutes / 60.0;
    let next_request = if success {
        incident.closed = true;
        None
    } else {
        incident.truth.failed_run_minutes = run_minutes;
        incident.request = build_request(incident, &config.estate.account, &config.estate.region);
        Some(incident.request.clone())
    };
    StepOutcome {
        action: kind,
        success,
        closed: success,
        resolution: success.then_some(Resolution::Remediated),
        minutes,
        dpu_hours,
        job_runs: 1,
        failed_runs: u32::from(!success),
        harm,
        next_request,
    }
}

/// A person takes over: the delay drawn with the incident, the fix, a rerun.
fn escalate(config: &SimConfig, incident: &mut SimIncident, harm: Option<String>) -> StepOutcome {
    let run_dpu = dpu_of(incident.number_of_workers, &incident.worker_type);
    let human = &incident.truth;
    let fix_minutes = config.human.fix_minutes;
    let run_minutes = incident.job.run_minutes;
    let minutes = human.human_delay_minutes + fix_minutes + run_minutes;
    incident.elapsed_minutes += minutes;
    incident.actions_taken.push(ActionKind::Escalate);
    incident.closed = true;
    StepOutcome {
        action: ActionKind::Escalate,
        success: false,
        closed: true,
        resolution: Some(Resolution::Human),
        minutes,
        dpu_hours: run_dpu * run_minutes / 60.0,
        job_runs: 1,
        failed_runs: 0,
        harm,
        next_request: None,
    }
}

fn dpu_of(workers: u32, worker_type: &str) -> f64 {
    workers as f64 * dpu_per_worker(worker_type).unwrap_or(1.0)
}

fn condition_holds(incident: &SimIncident, action: &Action, run_starts_at: f64, run_dpu: f64) -> bool {
    let truth = &incident.truth;
    match (truth.cause, action) {
        (SimCause::SourceUnavailable, _) => run_starts_at >= truth.lateness_minutes,
        (SimCause::ResourceExhaustion | SimCause::Timeout, Action::RetryWithMoreCapacity { .. }) => {
            run_dpu >= truth.needed_dpu
        }
        (SimCause::SchemaDrift, Action::RollbackSchema { database, table, version_id }) => {
            truth.good_version.as_ref().is_some_and(|(good_database, good_table, good_version)| {
                good_database == database && good_table == table && good_version == version_id
            })
        }
        _ => true,
    }
}

fn success_run_minutes(incident: &mut SimIncident, run_dpu: f64, current_dpu: f64) -> f64 {
    let jitter: f64 = incident.rng.random_range(0.85..1.15);
    let base = match incident.cause {
        // A timeout's data outgrew the job: it needs the larger capacity.
        SimCause::Timeout => incident.job.run_minutes * incident.truth.needed_dpu / current_dpu.max(0.25),
        _ => incident.job.run_minutes,
    };
    let speedup = (current_dpu.max(0.25) / run_dpu.max(0.25)).powf(SPEEDUP_EXPONENT);
    (base * jitter * speedup).min(incident.job.timeout_minutes as f64)
}

/// The mean of `success_run_minutes` (its jitter averages 1).
fn expected_success_run_minutes(incident: &SimIncident, run_dpu: f64, current_dpu: f64) -> f64 {
    let base = match incident.cause {
        SimCause::Timeout => incident.job.run_minutes * incident.truth.needed_dpu / current_dpu.max(0.25),
        _ => incident.job.run_minutes,
    };
    let speedup = (current_dpu.max(0.25) / run_dpu.max(0.25)).powf(SPEEDUP_EXPONENT);
    (base * speedup).min(incident.job.timeout_minutes as f64)
}

/// Harm done by an action for the true cause (not merely a wasted run).
fn harm_of(incident: &SimIncident, action: &Action) -> Option<String> {
    let cause = incident.cause;
    let kind = action.kind();
    if cause.is_harmful(kind) {
        return Some(format!("{kind} on a {cause} failure"));
    }
    match action {
        Action::RollbackSchema { version_id, .. } => {
            let right = incident.truth.good_version.as_ref().is_some_and(|(_, _, good)| good == version_id);
            (!right).then(|| format!("rollback_schema to version {version_id}, not the version that worked"))
        }
        Action::RetryWithMoreCapacity { number_of_workers, .. } if *number_of_workers > incident.job.max_workers => {
            Some(format!("{number_of_workers} workers above the ceiling of {}", incident.job.max_workers))
        }
        _ => None,
    }
}
