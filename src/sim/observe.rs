//! Observations of a simulated failure, assembled the way the daemon gathers
//! them (spec/decide.md): the EventBridge envelope, GetJobRun, the error and
//! output log groups, Data Catalog table versions, run history and context.
//! The ground truth shapes the evidence but never appears in it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat};
use serde_json::json;

use crate::core::event::EventEnvelope;
use crate::core::evidence::{
    Column, ContextEvidence, DecideRequest, HistoryEvidence, JobProfile, JobRunEvidence, LogsEvidence, RunSummary,
    TableEvidence, TableVersion,
};
use crate::sim::SimIncident;
use crate::sim::cause::SimCause;

/// How the catalog of the incident's first table looks.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogStory {
    /// Nothing changed since the last successful run.
    Unchanged,
    /// A harmless new column appeared after the last successful run.
    Additive,
    /// A breaking change (`column` retyped or dropped) after the last success.
    Breaking { retyped: bool },
}

/// Catalog columns every simulated table starts from.
fn base_columns(column: &str) -> Vec<Column> {
    let mut columns = vec![
        Column { name: "id".to_string(), data_type: "bigint".to_string() },
        Column { name: "created_at".to_string(), data_type: "timestamp".to_string() },
        Column { name: "status".to_string(), data_type: "string".to_string() },
    ];
    columns.push(Column { name: column.to_string(), data_type: "double".to_string() });
    columns
}

pub(crate) fn rfc3339(time: DateTime<FixedOffset>) -> String {
    time.to_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn minutes(value: f64) -> Duration {
    Duration::seconds((value * 60.0).round() as i64)
}

/// The decide request for the incident's current failure (attempt
/// `incident.actions_taken.len()`).
pub fn build_request(incident: &SimIncident, account: &str, region: &str) -> DecideRequest {
    let truth = &incident.truth;
    let job = &incident.job;
    let attempt = incident.actions_taken.len() as u32;
    let failed_at = incident.failed_at + minutes(incident.elapsed_minutes);
    let run_id = format!("jr_{}_{attempt}", incident.id.trim_start_matches("inc-"));
    let message = if truth.wrapper_only { truth.wrapper.clone() } else { truth.symptom.message.clone() };
    let state = truth.symptom.state;
    let event = EventEnvelope {
        version: Some("0".to_string()),
        id: Some(format!("{}-{attempt}", truth.event_id)),
        detail_type: Some("Glue Job State Change".to_string()),
        source: Some("aws.glue".to_string()),
        account: Some(account.to_string()),
        time: Some(rfc3339(failed_at)),
        region: Some(region.to_string()),
        resources: Vec::new(),
        detail: json!({"jobName": job.name, "severity": "ERROR", "state": state,
                       "jobRunId": run_id, "message": message}),
    };
    let execution_time_s = (truth.failed_run_minutes * 60.0).round() as u64;
    let mut arguments = BTreeMap::new();
    arguments.insert("--source_path".to_string(), job.source_path.clone());
    arguments.insert("--TempDir".to_string(), format!("s3://acme-glue-temp/{}/", job.name));
    arguments.insert("--job-bookmark-option".to_string(), "job-bookmark-enable".to_string());
    let job_run = JobRunEvidence {
        id: Some(run_id),
        arguments,
        error_message: Some(message),
        worker_type: Some(incident.worker_type.clone()),
        number_of_workers: Some(incident.number_of_workers),
        execution_time_s: Some(execution_time_s),
        timeout_minutes: Some(job.timeout_minutes),
    };
    DecideRequest {
        id: json!(format!("{}-{attempt}", incident.id)),
        event,
        job_run: Some(job_run),
        logs: build_logs(incident),
        catalog: build_catalog(incident),
        history: HistoryEvidence {
            attempt,
            actions_taken: incident.actions_taken.iter().map(|kind| kind.as_str().to_string()).collect(),
            recent_runs: if truth.history_missing { Vec::new() } else { build_history(incident) },
        },
        job: JobProfile {
            risk_tier: Some(job.risk_tier),
            max_workers: Some(job.max_workers),
            input_arguments: None,
            sources: None,
        },
        context: ContextEvidence {
            source_last_modified_age_s: (!truth.context_missing).then(|| source_age_s(incident)),
            fleet: None,
        },
    }
}

fn build_logs(incident: &SimIncident) -> LogsEvidence {
    let truth = &incident.truth;
    let table = incident.job.tables.first().map(String::as_str).unwrap_or("default.input");
    let mut output = vec![
        format!("INFO GlueContext: reading {} for {}", incident.job.source_path, incident.job.name),
        format!("INFO ExecutorAllocationManager: requesting {} executors", incident.number_of_workers),
    ];
    if truth.stale_schema_warning {
        output.push(format!(
            "WARN GlueCatalog: schema of table {table} may be stale, crawler last ran {} days ago",
            truth.stale_days
        ));
    }
    let error = if truth.error_log_present { truth.symptom.error_log.clone() } else { Vec::new() };
    LogsEvidence { error, output }
}

fn build_catalog(incident: &SimIncident) -> Vec<TableEvidence> {
    let truth = &incident.truth;
    let last_success = incident.failed_at - minutes(incident.job.schedule_interval_minutes);
    incident
        .job
        .tables
        .iter()
        .enumerate()
        .map(|(index, qualified)| {
            let (database, table) = qualified.split_once('.').unwrap_or(("default", qualified.as_str()));
            let story = if index == 0 { &truth.catalog_story } else { &CatalogStory::Unchanged };
            let old = base_columns(&truth.column);
            let old_version = 3 + index as u32;
            let old_time = last_success - Duration::days(truth.stale_days as i64);
            let mut versions = Vec::new();
            let new_columns = match story {
                CatalogStory::Unchanged => None,
                CatalogStory::Additive => {
                    let mut columns = old.clone();
                    columns.push(Column { name: "ingest_source".to_string(), data_type: "string".to_string() });
                    Some(columns)
                }
                CatalogStory::Breaking { retyped: true } => Some(
                    old.iter()
                        .map(|column| match column.name == truth.column {
                            true => Column { name: column.name.clone(), data_type: "string".to_string() },
                            false => column.clone(),
                        })
                        .collect(),
                ),
                CatalogStory::Breaking { retyped: false } => {
                    Some(old.iter().filter(|column| column.name != truth.column).cloned().collect())
                }
            };
            if let Some(columns) = new_columns {
                let changed_at = incident.failed_at - minutes(truth.drift_age_minutes);
                versions.push(TableVersion {
                    version_id: (old_version + 1).to_string(),
                    updated_at: Some(rfc3339(changed_at)),
                    columns,
                });
            }
            versions.push(TableVersion {
                version_id: old_version.to_string(),
                updated_at: Some(rfc3339(old_time)),
                columns: old.clone(),
            });
            let mut older = old;
            older.retain(|column| column.name != "status");
            versions.push(TableVersion {
                version_id: (old_version - 1).to_string(),
                updated_at: Some(rfc3339(old_time - Duration::days(60))),
                columns: older,
            });
            TableEvidence { database: database.to_string(), table: table.to_string(), versions }
        })
        .collect()
}

fn build_history(incident: &SimIncident) -> Vec<RunSummary> {
    let truth = &incident.truth;
    (1..=5)
        .map(|back| {
            let started = incident.failed_at - minutes(incident.job.schedule_interval_minutes * back as f64);
            let failed_earlier = truth.earlier_failure == Some(back);
            RunSummary {
                state: if failed_earlier { "FAILED" } else { "SUCCEEDED" }.to_string(),
                started_at: Some(rfc3339(started)),
                execution_time_s: Some((incident.job.run_minutes * 60.0 * (0.9 + 0.04 * back as f64)).round() as u64),
                error_message: failed_earlier.then(|| "java.net.SocketTimeoutException: Read timed out".to_string()),
            }
        })
        .collect()
}

/// Seconds since the source last changed, as the daemon would read it from
/// S3: normal lag after the last landing, or a whole schedule interval more
/// when today's data has not landed yet.
fn source_age_s(incident: &SimIncident) -> u64 {
    let truth = &incident.truth;
    let late_cause = truth.cause == SimCause::SourceUnavailable;
    if late_cause && incident.elapsed_minutes >= truth.lateness_minutes {
        // Landed meanwhile: the source is as fresh as the landing.
        return ((incident.elapsed_minutes - truth.lateness_minutes) * 60.0).round() as u64 + 60;
    }
    let not_landed = late_cause || truth.unrelated_late_source;
    let mut age_minutes = truth.normal_source_lag_minutes + incident.elapsed_minutes;
    if not_landed {
        age_minutes += incident.job.schedule_interval_minutes;
    }
    (age_minutes * 60.0).round() as u64
}
