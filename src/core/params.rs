//! From a chosen action kind to a concrete [`Action`]: how long to wait, how
//! many workers, which table version, which objects. Parameters come from
//! the evidence and the safety settings' bounds, never from the policy, so a
//! learnt table can pick *what* to do but not *how much*.
//!
//! When the evidence cannot fill a kind's parameters (a rollback with no
//! known-good version) the parameters are left empty; the safety rules
//! refuse such a proposal, so it never becomes a final action.

use crate::core::diagnosis::Diagnosis;
use crate::core::evidence::{DecideRequest, RunSummary};
use crate::core::model::{Action, ActionKind, QuarantinePlan};
use crate::core::policy::state::{DEFAULT_CADENCE_S, usual_cadence_s};
use crate::core::s3::S3Location;
use crate::core::safety_settings::{SafetySettings, WORKER_TYPE_LADDER};

/// Workers assumed when GetJobRun did not say: Glue's default for G.1X jobs.
pub const ASSUMED_CURRENT_WORKERS: u32 = 10;

pub fn parametrise(
    kind: ActionKind,
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
) -> Action {
    match kind {
        ActionKind::Escalate => Action::Escalate { reason: escalation_reason(diagnosis) },
        ActionKind::LogAndWait => Action::LogAndWait {},
        ActionKind::Retry => Action::Retry {},
        ActionKind::WaitAndRetry => Action::WaitAndRetry { delay_s: wait_delay_s(request.history.attempt, settings) },
        ActionKind::WaitForSource => Action::WaitForSource { max_wait_s: source_wait_s(request, settings) },
        ActionKind::RetryWithMoreCapacity => more_capacity(request, settings),
        ActionKind::RollbackSchema => rollback(diagnosis),
        ActionKind::QuarantineBadRecords => quarantine(request, diagnosis, settings),
    }
}

fn escalation_reason(diagnosis: &Diagnosis) -> String {
    let mut reason =
        format!("{} failure (confidence {:.2}) needs a person", diagnosis.class.as_str(), diagnosis.confidence);
    if let Some(first_signal) = diagnosis.signals.first() {
        reason.push_str(": ");
        reason.push_str(first_signal);
    }
    reason
}

/// Exponential backoff from `wait_base_delay_s`, doubling per attempt,
/// bounded by `wait_max_delay_s`.
pub fn wait_delay_s(attempt: u32, settings: &SafetySettings) -> u64 {
    let doublings = attempt.min(20);
    settings.wait_base_delay_s.saturating_mul(1_u64 << doublings).min(settings.wait_max_delay_s)
}

/// A wait sized from the job's history is never shorter than this: a
/// source seen an hour late once may well be half an hour later next time.
pub const SOURCE_WAIT_FLOOR_S: u64 = 1_800;

/// How long `wait_for_source` watches the input: 1.5 x the longest gap the
/// job's recent runs show between a failed run and the next run that
/// succeeded (how late its source usually lands), at least
/// [`SOURCE_WAIT_FLOOR_S`]; with no such gap in the history,
/// `wait_for_source_default_s`. Never above `wait_for_source_max_s`.
pub fn source_wait_s(request: &DecideRequest, settings: &SafetySettings) -> u64 {
    let chosen = match usual_source_delay_s(&request.history.recent_runs) {
        Some(longest) => longest.saturating_mul(3).div_ceil(2).max(SOURCE_WAIT_FLOOR_S),
        None => settings.wait_for_source_default_s,
    };
    chosen.min(settings.wait_for_source_max_s)
}

/// The longest gap (seconds) between a run that did not succeed and the
/// next run that did, over `recent_runs` (newest first), counting only
/// gaps shorter than half the job's usual cadence: a recovery by the next
/// scheduled run says nothing about how late the source was. `None` when
/// the history shows no such recovery.
pub fn usual_source_delay_s(recent_runs: &[RunSummary]) -> Option<u64> {
    let horizon_s = i64::try_from(usual_cadence_s(recent_runs).unwrap_or(DEFAULT_CADENCE_S) / 2).unwrap_or(i64::MAX);
    let started = |run: &RunSummary| {
        run.started_at
            .as_deref()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map(|t| t.timestamp())
    };
    let mut next_success: Option<i64> = None;
    let mut longest: Option<u64> = None;
    // Newest first: walking the list, the last success seen is the next one in time.
    for run in recent_runs {
        let Some(at) = started(run) else {
            continue;
        };
        if run.state == "SUCCEEDED" {
            next_success = Some(at);
            continue;
        }
        if let Some(success) = next_success {
            let gap = success - at;
            if gap > 0 && gap < horizon_s {
                let gap = gap as u64;
                longest = Some(longest.map_or(gap, |seen| seen.max(gap)));
            }
        }
    }
    longest
}

/// The S3 locations `wait_for_source` watches: the input arguments'
/// locations in the failed run (GetJobRun, never log text), then the
/// job's configured `sources`, without duplicates.
pub fn source_locations(request: &DecideRequest, settings: &SafetySettings) -> Vec<S3Location> {
    let mut locations = input_locations(request, settings);
    for source in request.job.sources.iter().flatten() {
        if let Some(location) = S3Location::parse(source)
            && !locations.contains(&location)
        {
            locations.push(location);
        }
    }
    locations
}

/// Multiply the workers by the growth factor up to the ceiling; when the
/// workers are already at the ceiling, move one step up the worker-type
/// ladder instead (bounded by `max_worker_type`). A run whose worker type
/// is unknown, off the ladder or above `max_worker_type` has no room to
/// grow: the same capacity is asked for, which the capacity rule refuses.
fn more_capacity(request: &DecideRequest, settings: &SafetySettings) -> Action {
    let ceiling = settings.workers_ceiling(request.job.max_workers);
    let run = request.job_run.as_ref();
    let current_workers = run.and_then(|job_run| job_run.number_of_workers).unwrap_or(ASSUMED_CURRENT_WORKERS);
    let current_type = run.and_then(|job_run| job_run.worker_type.clone());
    let within_max_type = current_type
        .as_deref()
        .and_then(worker_type_rank)
        .zip(worker_type_rank(&settings.max_worker_type))
        .is_some_and(|(current_rank, max_rank)| current_rank <= max_rank);
    if !within_max_type {
        return Action::RetryWithMoreCapacity { number_of_workers: current_workers, worker_type: None };
    }
    if current_workers < ceiling {
        let number_of_workers = current_workers.saturating_mul(settings.capacity_growth_factor).min(ceiling);
        return Action::RetryWithMoreCapacity { number_of_workers, worker_type: None };
    }
    let larger_type =
        current_type.as_deref().and_then(|type_name| next_worker_type(type_name, &settings.max_worker_type));
    Action::RetryWithMoreCapacity { number_of_workers: ceiling, worker_type: larger_type.map(str::to_string) }
}

/// The next larger worker type, if there is one within `max_type`.
pub fn next_worker_type(current: &str, max_type: &str) -> Option<&'static str> {
    let current_rank = worker_type_rank(current)?;
    let max_rank = worker_type_rank(max_type)?;
    let next_rank = current_rank + 1;
    if next_rank > max_rank {
        return None;
    }
    WORKER_TYPE_LADDER.get(next_rank).copied()
}

pub fn worker_type_rank(type_name: &str) -> Option<usize> {
    WORKER_TYPE_LADDER.iter().position(|candidate| *candidate == type_name)
}

fn rollback(diagnosis: &Diagnosis) -> Action {
    match &diagnosis.drift {
        Some(drift) => Action::RollbackSchema {
            database: drift.database.clone(),
            table: drift.table_name.clone(),
            version_id: drift.known_good_version.clone().unwrap_or_default(),
        },
        None => Action::RollbackSchema { database: String::new(), table: String::new(), version_id: String::new() },
    }
}

/// Move the objects the diagnosis names as bad input, keeping only those
/// that the JobRun error message itself names and that lie under the job's
/// input locations; otherwise, or when the diagnosis rests on log lines
/// alone (no data may move on that), rerun with the bad-records argument so
/// the job diverts bad rows itself. Log lines are printed by the job's own
/// code and may name any object, so they never choose what moves.
fn quarantine(request: &DecideRequest, diagnosis: &Diagnosis, settings: &SafetySettings) -> Action {
    let may_move_data = !diagnosis.evidence_sources.is_empty() && !diagnosis.rests_on_log_lines_alone();
    let objects: Vec<String> = if may_move_data {
        let inputs = input_locations(request, settings);
        diagnosis.bad_objects.iter().filter(|object| may_be_moved(request, &inputs, object)).cloned().collect()
    } else {
        Vec::new()
    };
    if !objects.is_empty() {
        return Action::QuarantineBadRecords(QuarantinePlan::MoveObjects {
            objects,
            quarantine_prefix: settings.quarantine_prefix.clone(),
        });
    }
    let job = request.job_name().unwrap_or("unknown-job");
    let run = request.event.detail_str("jobRunId").unwrap_or("unknown-run");
    Action::QuarantineBadRecords(QuarantinePlan::BadRecordsArgument {
        argument: settings.bad_records_argument.clone(),
        value: format!("{}{job}/{run}/", settings.bad_records_location),
    })
}

/// The argument names that hold the job's input: the job's own list
/// (`jobs.<job>.input_arguments`, carried in the request's job profile),
/// else `safety.input_arguments`.
pub fn input_argument_names<'a>(request: &'a DecideRequest, settings: &'a SafetySettings) -> &'a [String] {
    request.job.input_arguments.as_deref().unwrap_or(&settings.input_arguments)
}

/// The job's input locations: the S3 values (comma-separated lists
/// included) of the failed run's input arguments only (GetJobRun, not log
/// text). Output paths, script and library locations and every other
/// argument are not input, so quarantine never takes objects from them.
pub fn input_locations(request: &DecideRequest, settings: &SafetySettings) -> Vec<S3Location> {
    let Some(run) = request.job_run.as_ref() else {
        return Vec::new();
    };
    input_argument_names(request, settings)
        .iter()
        .filter_map(|name| run.arguments.get(name))
        .flat_map(|value| value.split(','))
        .filter_map(|value| S3Location::parse(value.trim()))
        .collect()
}

/// Whether quarantine may move `object`: an S3 object that the JobRun
/// error message names and that lies under one of `inputs`.
pub fn may_be_moved(request: &DecideRequest, inputs: &[S3Location], object: &str) -> bool {
    let Some(location) = S3Location::parse_object(object) else {
        return false;
    };
    let named = request.error_message().is_some_and(|message| names_uri(message, object));
    named && inputs.iter().any(|input| input.contains(&location))
}

/// `text` names `uri` as a whole: not glued to a word before it, and
/// followed by the end of the text or by something that cannot continue a
/// URI (after trailing sentence punctuation), so that `s3://b/a.csv` is not
/// found in `s3://b/a.csv.bak`.
fn names_uri(text: &str, uri: &str) -> bool {
    let continues_word = |character: char| character.is_alphanumeric() || character == '_';
    let ends_uri = |character: char| {
        character.is_whitespace() || character.is_control() || "'\"[](){}<>,;|`\\".contains(character)
    };
    text.match_indices(uri).any(|(start, _)| {
        let before_ok = text[..start].chars().next_back().is_none_or(|character| !continues_word(character));
        let after = text[start + uri.len()..].trim_start_matches(['.', ':', '!', '?']);
        before_ok && after.chars().next().is_none_or(ends_uri)
    })
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
