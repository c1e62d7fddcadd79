//! Evidence gathering, read-only: the failed run, its job (with Glue's own
//! MaxRetries), the job's history, its logs from both log groups, the
//! catalog versions of the tables it touches and the freshness of its
//! source, assembled into exactly the `decide` request of `spec/decide.md`.
//!
//! A missing piece (no such run, no logs, access denied to one table) is
//! absent evidence, recorded in the logs and never fatal; a throttled or
//! transient failure aborts the gathering so the message is retried later
//! with complete evidence.
//!
//! Reading and assembling are apart: [`assemble_request`] turns what was
//! read into the request, and the backtest calls it with the same pieces
//! read as they were at a past failure, so both build the request one way.

use std::collections::BTreeSet;

use crate::core::event::{EventEnvelope, JobStateChange};
use chrono::{DateTime, Utc};

use crate::config::JobSettings;
use crate::core::evidence::{
    ContextEvidence, DecideRequest, HistoryEvidence, JobProfile, JobRunEvidence, LogsEvidence, RunSummary,
    TableEvidence,
};
use crate::daemon::context::PipelineContext;
use crate::ports::object_store::parse_s3_uri;
use crate::ports::{IncidentRecord, JobDefinition, JobRun, LogLimits, ObjectSummary, PortError};

/// Earlier runs read for history (the failed run itself is dropped from them).
pub const HISTORY_RUNS: u32 = 10;
/// Catalog versions read per table.
pub const TABLE_VERSIONS: u32 = 5;
/// Objects listed under a source path to judge its freshness.
pub const SOURCE_LISTING_LIMIT: u32 = 1_000;

/// The gathered evidence and the facts beside it that the executor and the
/// safety layer's fleet context need.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub request: DecideRequest,
    pub failed_run: Option<JobRun>,
    pub job: Option<JobDefinition>,
    /// Glue will rerun this run itself (MaxRetries not used up).
    pub glue_retry_pending: bool,
    /// Objects under the job's source path, when it has one we could list.
    pub input_object_count: Option<u64>,
}

/// Turn "absent" answers into `None` and keep retryable failures as errors.
fn optional<T>(result: Result<T, PortError>, what: &str) -> Result<Option<T>, PortError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_retryable() => Err(error),
        Err(error) => {
            tracing::warn!(evidence = what, error = %error, "evidence unavailable, deciding without it");
            Ok(None)
        }
    }
}

pub async fn gather(
    context: &PipelineContext,
    incident: &IncidentRecord,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<Gathered, PortError> {
    let ports = &context.ports;
    let job_name = change.job_name.as_str();
    let run_id = change.job_run_id.as_str();
    let failed_run = optional(ports.job_control.get_job_run(job_name, run_id).await, "job run")?;
    let job = optional(ports.job_control.get_job(job_name).await, "job")?;
    let history_runs =
        optional(ports.job_control.get_job_runs(job_name, HISTORY_RUNS + 1).await, "job history")?.unwrap_or_default();
    let logs = gather_logs(context, run_id).await?;
    let job_settings = context.settings.jobs.get(job_name).cloned().unwrap_or_default();
    let catalog = gather_catalog(context, &job_settings.tables, failed_run.as_ref()).await?;
    let (source_age_s, input_object_count) = source_freshness(context, failed_run.as_ref(), job.as_ref()).await?;
    let glue_retry_pending = glue_retry_pending(failed_run.as_ref(), job.as_ref());
    let request = assemble_request(EvidenceReadings {
        incident_id: &incident.incident_id,
        attempt: incident.attempt,
        actions_taken: incident.actions_taken.iter().map(|kind| kind.as_str().to_string()).collect(),
        envelope,
        run_id,
        failed_run: failed_run.as_ref(),
        history_runs: &history_runs,
        logs,
        catalog,
        source_age_s,
        job_settings: &job_settings,
    });
    Ok(Gathered { request, failed_run, job, glue_retry_pending, input_object_count })
}

/// What was read about one failure, ready to be assembled into its request.
#[derive(Debug)]
pub struct EvidenceReadings<'a> {
    pub incident_id: &'a str,
    /// Remediations already tried for the incident, and their names in order.
    pub attempt: u32,
    pub actions_taken: Vec<String>,
    pub envelope: &'a EventEnvelope,
    /// The failed run's id (dropped from the history).
    pub run_id: &'a str,
    pub failed_run: Option<&'a JobRun>,
    /// The job's runs, newest first; the failed run may be among them.
    pub history_runs: &'a [JobRun],
    pub logs: LogsEvidence,
    pub catalog: Vec<TableEvidence>,
    pub source_age_s: Option<u64>,
    pub job_settings: &'a JobSettings,
}

/// The `decide` request of spec/decide.md from what was read.
pub fn assemble_request(readings: EvidenceReadings<'_>) -> DecideRequest {
    let job_settings = readings.job_settings;
    DecideRequest {
        id: serde_json::Value::String(readings.incident_id.to_string()),
        event: readings.envelope.clone(),
        job_run: readings.failed_run.map(run_evidence),
        logs: readings.logs,
        catalog: readings.catalog,
        history: HistoryEvidence {
            attempt: readings.attempt,
            actions_taken: readings.actions_taken,
            recent_runs: readings
                .history_runs
                .iter()
                .filter(|run| run.id != readings.run_id)
                .take(HISTORY_RUNS as usize)
                .map(run_summary)
                .collect(),
        },
        job: JobProfile {
            risk_tier: job_settings.risk_tier,
            max_workers: job_settings.max_workers,
            input_arguments: job_settings.input_arguments.clone(),
            sources: (!job_settings.sources.is_empty()).then(|| job_settings.sources.clone()),
        },
        context: ContextEvidence { source_last_modified_age_s: readings.source_age_s, fleet: None },
    }
}

/// Glue will rerun this run itself: its MaxRetries is not used up.
pub fn glue_retry_pending(failed_run: Option<&JobRun>, job: Option<&JobDefinition>) -> bool {
    match (failed_run, job) {
        (Some(run), Some(job)) => run.attempt < job.max_retries,
        _ => false,
    }
}

pub fn run_evidence(run: &JobRun) -> JobRunEvidence {
    JobRunEvidence {
        id: Some(run.id.clone()),
        arguments: run.arguments.clone(),
        error_message: run.error_message.clone(),
        worker_type: run.worker_type.clone(),
        number_of_workers: run.number_of_workers,
        execution_time_s: run.execution_time_s,
        timeout_minutes: run.timeout_minutes,
    }
}

pub fn run_summary(run: &JobRun) -> RunSummary {
    RunSummary {
        state: run.state.as_str().to_string(),
        started_at: run.started_on.map(|time| time.to_rfc3339()),
        execution_time_s: run.execution_time_s,
        error_message: run.error_message.clone(),
    }
}

async fn gather_logs(context: &PipelineContext, run_id: &str) -> Result<LogsEvidence, PortError> {
    let settings = &context.settings.logs;
    let limits = LogLimits { max_lines: settings.max_lines, max_line_bytes: settings.max_line_bytes };
    let logs = &context.ports.logs;
    let error_lines = optional(logs.run_lines(&settings.error_group, run_id, limits).await, "error log")?;
    let output_lines = optional(logs.run_lines(&settings.output_group, run_id, limits).await, "output log")?;
    Ok(LogsEvidence {
        error: error_lines.map(|lines| lines.lines).unwrap_or_default(),
        output: output_lines.map(|lines| lines.lines).unwrap_or_default(),
    })
}

/// The tables a job touches: configured ones first, then any named by the
/// run's `--database` with `--table_name` or `--table` arguments.
pub fn tables_of_job(configured: &[String], run: Option<&JobRun>) -> Vec<(String, String)> {
    let mut tables: BTreeSet<(String, String)> = BTreeSet::new();
    let mut ordered = Vec::new();
    let from_arguments = run.and_then(|run| {
        let database = run.arguments.get("--database")?;
        let table = run.arguments.get("--table_name").or_else(|| run.arguments.get("--table"))?;
        Some(format!("{database}.{table}"))
    });
    for name in configured.iter().cloned().chain(from_arguments) {
        if let Some((database, table)) = name.split_once('.') {
            let pair = (database.to_string(), table.to_string());
            if tables.insert(pair.clone()) {
                ordered.push(pair);
            }
        }
    }
    ordered
}

async fn gather_catalog(
    context: &PipelineContext,
    configured: &[String],
    run: Option<&JobRun>,
) -> Result<Vec<TableEvidence>, PortError> {
    let mut catalog = Vec::new();
    for (database, table) in tables_of_job(configured, run) {
        let versions = context.ports.catalog.get_table_versions(&database, &table, TABLE_VERSIONS).await;
        if let Some(versions) = optional(versions, "table versions")? {
            catalog.push(TableEvidence { database, table, versions });
        }
    }
    Ok(catalog)
}

/// The run's (or else the job's) `--source_path`.
pub fn source_path<'a>(run: Option<&'a JobRun>, job: Option<&'a JobDefinition>) -> Option<&'a str> {
    run.and_then(|run| run.arguments.get("--source_path"))
        .or_else(|| job.and_then(|job| job.default_arguments.get("--source_path")))
        .map(String::as_str)
}

/// Age at `now` of the newest of `objects`, and how many there are.
pub fn source_age(objects: &[ObjectSummary], now: DateTime<Utc>) -> (Option<u64>, Option<u64>) {
    let newest = objects.iter().filter_map(|object| object.last_modified).max();
    let age_s = newest.map(|modified| u64::try_from((now - modified).num_seconds()).unwrap_or(0));
    (age_s, Some(objects.len() as u64))
}

/// Age of the newest object under the run's (or job's) `--source_path`, and
/// how many objects are there.
async fn source_freshness(
    context: &PipelineContext,
    run: Option<&JobRun>,
    job: Option<&JobDefinition>,
) -> Result<(Option<u64>, Option<u64>), PortError> {
    let Some((bucket, prefix)) = source_path(run, job).and_then(parse_s3_uri) else {
        return Ok((None, None));
    };
    let listing = context.ports.objects.list_objects(bucket, prefix, SOURCE_LISTING_LIMIT).await;
    let Some(objects) = optional(listing, "source listing")? else {
        return Ok((None, None));
    };
    Ok(source_age(&objects, context.ports.clock.now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn tables_come_from_configuration_and_run_arguments_without_duplicates() {
        let run = JobRun {
            id: "jr_1".into(),
            job_name: "orders".into(),
            state: crate::core::event::JobRunState::Failed,
            arguments: BTreeMap::from([
                ("--database".to_string(), "sales".to_string()),
                ("--table_name".to_string(), "orders".to_string()),
            ]),
            error_message: None,
            worker_type: None,
            number_of_workers: None,
            execution_time_s: None,
            timeout_minutes: None,
            started_on: None,
            completed_on: None,
            attempt: 0,
            previous_run_id: None,
        };
        let configured = vec!["sales.orders".to_string(), "sales.customers".to_string(), "not-a-table".to_string()];
        assert_eq!(
            tables_of_job(&configured, Some(&run)),
            vec![("sales".to_string(), "orders".to_string()), ("sales".to_string(), "customers".to_string())]
        );
    }

    #[test]
    fn the_request_drops_the_failed_run_from_history_and_takes_the_job_profile_from_settings() {
        let run_at = |id: &str, state| JobRun {
            id: id.into(),
            job_name: "orders".into(),
            state,
            arguments: BTreeMap::new(),
            error_message: None,
            worker_type: None,
            number_of_workers: None,
            execution_time_s: Some(60),
            timeout_minutes: None,
            started_on: None,
            completed_on: None,
            attempt: 0,
            previous_run_id: None,
        };
        let failed = run_at("jr_failed", crate::core::event::JobRunState::Failed);
        let mut history = vec![failed.clone()];
        history.extend((0..12).map(|index| run_at(&format!("jr_{index}"), crate::core::event::JobRunState::Succeeded)));
        let settings = JobSettings {
            tables: vec![],
            risk_tier: Some(crate::core::model::RiskTier::High),
            max_workers: Some(12),
            input_arguments: None,
            sources: vec![],
        };
        let envelope = EventEnvelope::default();
        let request = assemble_request(EvidenceReadings {
            incident_id: "orders/jr_failed",
            attempt: 1,
            actions_taken: vec!["retry".into()],
            envelope: &envelope,
            run_id: "jr_failed",
            failed_run: Some(&failed),
            history_runs: &history,
            logs: LogsEvidence::default(),
            catalog: vec![],
            source_age_s: Some(30),
            job_settings: &settings,
        });
        assert_eq!(request.id, serde_json::json!("orders/jr_failed"));
        assert_eq!(request.history.recent_runs.len(), HISTORY_RUNS as usize);
        assert!(request.history.recent_runs.iter().all(|run| run.state == "SUCCEEDED"));
        assert_eq!((request.history.attempt, request.history.actions_taken.len()), (1, 1));
        assert_eq!(request.job.max_workers, Some(12));
        assert_eq!(request.context.source_last_modified_age_s, Some(30));
        assert_eq!(request.job_run.and_then(|run| run.id).as_deref(), Some("jr_failed"));
    }
}
