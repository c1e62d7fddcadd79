//! From a chosen action kind to a concrete [`Action`]: how long to wait, how
//! many workers, which table version, which objects. Parameters come from
//! the evidence and the safety settings' bounds, never from the policy, so a
//! learnt table can pick *what* to do but not *how much*.
//!
//! When the evidence cannot fill a kind's parameters (a rollback with no
//! known-good version) the parameters are left empty; the safety rules
//! refuse such a proposal, so it never becomes a final action.

use crate::core::diagnosis::Diagnosis;
use crate::core::evidence::DecideRequest;
use crate::core::model::{Action, ActionKind, QuarantinePlan};
use crate::core::safety::settings::{SafetySettings, WORKER_TYPE_LADDER};

/// Workers assumed when GetJobRun did not say: Glue's default for G.1X jobs.
pub const ASSUMED_CURRENT_WORKERS: u32 = 10;

/// At most this many object URIs are read from the evidence.
pub const MAX_OBJECTS_READ: usize = 64;

pub fn parametrise(kind: ActionKind, request: &DecideRequest, diagnosis: &Diagnosis, settings: &SafetySettings) -> Action {
    match kind {
        ActionKind::Escalate => Action::Escalate { reason: escalation_reason(diagnosis) },
        ActionKind::LogAndWait => Action::LogAndWait {},
        ActionKind::Retry => Action::Retry {},
        ActionKind::WaitAndRetry => Action::WaitAndRetry { delay_s: wait_delay_s(request.history.attempt, settings) },
        ActionKind::RetryWithMoreCapacity => more_capacity(request, settings),
        ActionKind::RollbackSchema => rollback(diagnosis),
        ActionKind::QuarantineBadRecords => quarantine(request, settings),
    }
}

fn escalation_reason(diagnosis: &Diagnosis) -> String {
    let mut reason = format!(
        "{} failure (confidence {:.2}) needs a person",
        diagnosis.class.as_str(),
        diagnosis.confidence
    );
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

/// Multiply the workers by the growth factor up to the ceiling; when the
/// workers are already at the ceiling, move one step up the worker-type
/// ladder instead (bounded by `max_worker_type`).
fn more_capacity(request: &DecideRequest, settings: &SafetySettings) -> Action {
    let ceiling = settings.workers_ceiling(request.job.max_workers);
    let run = request.job_run.as_ref();
    let current_workers = run.and_then(|job_run| job_run.number_of_workers).unwrap_or(ASSUMED_CURRENT_WORKERS);
    let current_type = run.and_then(|job_run| job_run.worker_type.clone());
    if current_workers < ceiling {
        let number_of_workers = current_workers.saturating_mul(settings.capacity_growth_factor).min(ceiling);
        return Action::RetryWithMoreCapacity { number_of_workers, worker_type: None };
    }
    let larger_type = current_type.as_deref().and_then(|type_name| next_worker_type(type_name, &settings.max_worker_type));
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

/// Move the objects the error evidence names, when it names any; otherwise
/// rerun with the bad-records argument so the job diverts bad rows itself.
fn quarantine(request: &DecideRequest, settings: &SafetySettings) -> Action {
    let objects = objects_named_in_errors(request);
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

/// S3 object URIs (not prefixes) in the JobRun error message and the error
/// log, deduplicated in order of appearance, at most [`MAX_OBJECTS_READ`].
/// Hadoop's `s3a://` and `s3n://` spellings are normalised to `s3://`.
pub fn objects_named_in_errors(request: &DecideRequest) -> Vec<String> {
    let mut objects: Vec<String> = Vec::new();
    let texts = request.error_message().into_iter().chain(request.logs.error.iter().map(String::as_str));
    for text in texts {
        for uri in s3_uris(text) {
            if objects.len() >= MAX_OBJECTS_READ {
                return objects;
            }
            if !uri.ends_with('/') && !objects.contains(&uri) {
                objects.push(uri);
            }
        }
    }
    objects
}

/// Every `s3://bucket/key` in a text, ending at whitespace or punctuation
/// that cannot end a key in a log line (quotes, brackets, commas).
pub fn s3_uris(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("s3") {
        let candidate = &rest[start..];
        let matched_scheme = ["s3://", "s3a://", "s3n://"].into_iter().find(|scheme| candidate.starts_with(scheme));
        let Some(scheme) = matched_scheme else {
            rest = &candidate[2..];
            continue;
        };
        let body = &candidate[scheme.len()..];
        let end = body
            .find(|character: char| character.is_whitespace() || "\"'`,;()[]{}<>|".contains(character))
            .unwrap_or(body.len());
        let path = body[..end].trim_end_matches(['.', ':']);
        if path.contains('/') && !path.starts_with('/') {
            found.push(format!("s3://{path}"));
        }
        rest = &body[end..];
    }
    found
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
