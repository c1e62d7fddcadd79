//! From the simulator's observation of a failure (a `decide`-shaped
//! request) to the in-memory Glue, CloudWatch Logs, Data Catalog and S3 that
//! the daemon then reads like the real ones: the job, the failed run, its
//! log streams, the table versions, the job's history and its source data.

use chrono::{DateTime, Duration, Utc};

use crate::adapters::wiring::InMemoryEstate;
use crate::config::LogsSettings;
use crate::core::diagnosis::diagnose;
use crate::core::event::JobRunState;
use crate::core::evidence::DecideRequest;
use crate::ports::object_store::parse_s3_uri;
use crate::ports::{JobDefinition, JobRun};

/// Objects seeded under a job's source path, so quarantine bounds by
/// fraction see a realistic input.
const SOURCE_OBJECTS: u32 = 40;

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(text).ok()).map(|time| time.with_timezone(&Utc))
}

/// The failed run's state as the event says (FAILED unless TIMEOUT or ERROR).
fn failed_state(request: &DecideRequest) -> JobRunState {
    request
        .event
        .detail_str("state")
        .and_then(JobRunState::parse)
        .filter(|state| state.is_failure())
        .unwrap_or(JobRunState::Failed)
}

/// Seed the first failure of an incident: a fresh story for its job.
pub fn seed_first_failure(estate: &InMemoryEstate, logs: &LogsSettings, request: &DecideRequest) {
    let Some(job_name) = request.job_name() else { return };
    let run = request.job_run.clone().unwrap_or_default();
    estate.job_control.put_job(JobDefinition {
        name: job_name.to_string(),
        max_retries: 0,
        worker_type: run.worker_type.clone(),
        number_of_workers: run.number_of_workers,
        timeout_minutes: run.timeout_minutes,
        default_arguments: Default::default(),
    });
    estate.job_control.remove_runs_of(job_name);
    for (index, summary) in request.history.recent_runs.iter().enumerate() {
        let started_on = parse_time(summary.started_at.as_deref());
        estate.job_control.put_run(JobRun {
            id: format!("jr_history_{job_name}_{index}"),
            job_name: job_name.to_string(),
            state: JobRunState::parse(&summary.state).unwrap_or(JobRunState::Succeeded),
            arguments: run.arguments.clone(),
            error_message: summary.error_message.clone(),
            worker_type: run.worker_type.clone(),
            number_of_workers: run.number_of_workers,
            execution_time_s: summary.execution_time_s,
            timeout_minutes: run.timeout_minutes,
            started_on,
            completed_on: started_on
                .zip(summary.execution_time_s)
                .map(|(start, secs)| start + Duration::seconds(secs as i64)),
            attempt: 0,
            previous_run_id: None,
        });
    }
    let run_id = run.id.clone().unwrap_or_else(|| format!("jr_{job_name}"));
    let event_time = parse_time(request.event.time.as_deref()).unwrap_or_else(|| estate.clock.now());
    let execution_s = run.execution_time_s.unwrap_or(0);
    estate.job_control.put_run(JobRun {
        id: run_id.clone(),
        job_name: job_name.to_string(),
        state: failed_state(request),
        arguments: run.arguments.clone(),
        error_message: request.error_message().map(str::to_string),
        worker_type: run.worker_type.clone(),
        number_of_workers: run.number_of_workers,
        execution_time_s: run.execution_time_s,
        timeout_minutes: run.timeout_minutes,
        started_on: Some(event_time - Duration::seconds(execution_s as i64)),
        completed_on: Some(event_time),
        attempt: 0,
        previous_run_id: None,
    });
    seed_run_evidence(estate, logs, request, &run_id);
}

/// Seed the failure of a run etl-medic started: the run ends as the
/// simulator says, with its logs, and the catalog and source as they are now.
pub fn seed_follow_up_failure(
    estate: &InMemoryEstate,
    logs: &LogsSettings,
    request: &DecideRequest,
    started_run_id: &str,
) {
    if let Err(error) = estate.job_control.finish_run(
        started_run_id,
        failed_state(request),
        request.error_message().map(str::to_string),
    ) {
        tracing::warn!(error = %error, "demo: the run to fail is unknown");
    }
    seed_run_evidence(estate, logs, request, started_run_id);
}

fn seed_run_evidence(estate: &InMemoryEstate, logs: &LogsSettings, request: &DecideRequest, run_id: &str) {
    estate.logs.append(&logs.error_group, run_id, request.logs.error.iter().cloned());
    estate.logs.append(&logs.output_group, run_id, request.logs.output.iter().cloned());
    for table in &request.catalog {
        estate.catalog.put_table(&table.database, &table.table, table.versions.clone(), None);
    }
    seed_source(estate, request);
}

/// The job's input: objects under `--source_path` last modified as long ago
/// as the simulator says, plus every object the errors name.
fn seed_source(estate: &InMemoryEstate, request: &DecideRequest) {
    let now = estate.clock.now();
    let age_s = request.context.source_last_modified_age_s.unwrap_or(0);
    let modified = now - Duration::seconds(i64::try_from(age_s).unwrap_or(0));
    let source = request.job_run.as_ref().and_then(|run| run.arguments.get("--source_path"));
    if let Some((bucket, prefix)) = source.and_then(|path| parse_s3_uri(path)) {
        for part in 0..SOURCE_OBJECTS {
            estate.objects.put_object_at(bucket, &format!("{prefix}part-{part:04}.json"), b"{}\n".to_vec(), modified);
        }
    }
    for uri in diagnose(request).bad_objects {
        if let Some((bucket, key)) = parse_s3_uri(&uri) {
            estate.objects.put_object_at(bucket, key, b"{\"broken\": \n".to_vec(), modified);
        }
    }
}
