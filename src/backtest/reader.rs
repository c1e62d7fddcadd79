//! One job's backtest: read its history, group its failures in the window
//! into incidents, and for every failure read the evidence the daemon would
//! have read then (logs, catalog versions as of the failure, the source as
//! it had landed), assemble the daemon's own request (`daemon::gather`),
//! decide in shadow, and set what really happened next beside it. Every
//! call is a read; throttling is retried with backoff, absent evidence is
//! noted, never fatal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backtest::asof::{ended_at, failure_event, history_as_of, objects_as_of, versions_as_of};
use crate::backtest::estimate::OutcomeModel;
use crate::backtest::follow_up::{FollowUpContext, Streak, follow_up, streaks};
use crate::backtest::incident::{Observed, Step, experience_lines, incident_report};
use crate::backtest::record::IncidentReport;
use crate::backtest::retry::{Backoff, is_credentials_problem};
use crate::backtest::window::Window;
use crate::config::Settings;
use crate::core::decide::decide;
use crate::core::evidence::{DecideRequest, FleetContext, LogsEvidence, TableEvidence, TableVersion};
use crate::core::policy::Policy;
use crate::daemon::gather::{
    EvidenceReadings, HISTORY_RUNS, SOURCE_LISTING_LIMIT, assemble_request, glue_retry_pending, source_age,
    source_path, tables_of_job,
};
use crate::ports::incident_store::incident_id_for;
use crate::ports::object_store::parse_s3_uri;
use crate::ports::{JobDefinition, JobRun, LogLimits, ObjectSummary, PortError, Ports};

/// Catalog versions read per table: all Glue returns to the adapter's bound,
/// so versions as of any failure in the window are among them.
const CATALOG_VERSIONS: u32 = 2_000;

/// What every job's backtest shares.
pub struct ReadContext {
    pub ports: Ports,
    /// The settings, with every autonomy mode set to shadow.
    pub settings: Arc<Settings>,
    pub policy: Arc<Policy>,
    pub window: Window,
    /// The end of observation: incidents not fixed by now are open.
    pub now: DateTime<Utc>,
    pub backoff: Backoff,
    pub model: Arc<OutcomeModel>,
    pub region: Option<String>,
    pub account: Option<String>,
}

/// One job's part of the report, its decide requests and its experience lines.
#[derive(Debug, Default)]
pub struct JobResult {
    pub job: String,
    pub failures: u32,
    pub incidents: Vec<IncidentReport>,
    pub requests: Vec<String>,
    pub experience: Vec<String>,
    pub notes: JobNotes,
}

/// What could not be read completely for a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobNotes {
    pub runs_read: usize,
    /// `max_runs_per_job` cut the history before it reached the window's start.
    pub history_truncated: bool,
    /// The oldest run Glue returned started after the window opened (a newer
    /// job, or older runs no longer kept).
    pub history_starts_in_window: bool,
    pub failures_without_logs: u32,
    pub unreadable_tables: Vec<String>,
    /// The job no longer exists.
    pub job_gone: bool,
}

/// Why a job's backtest stopped.
#[derive(Debug)]
pub enum JobFailure {
    /// Nothing more can be read (credentials, access to the job history):
    /// stop the whole backtest.
    Fatal(PortError),
    /// Still throttled or failing after every attempt: the job stays undone
    /// and a rerun picks it up.
    Unfinished(PortError),
}

fn job_level(error: PortError) -> JobFailure {
    if error.is_retryable() && !is_credentials_problem(&error) {
        JobFailure::Unfinished(error)
    } else {
        JobFailure::Fatal(error)
    }
}

/// An evidence read: a retryable failure after every attempt leaves the job
/// undone, bad credentials stop everything, any other failure is absent
/// evidence (`Ok(None)`).
fn evidence<T>(result: Result<T, PortError>) -> Result<Option<T>, JobFailure> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if is_credentials_problem(&error) => Err(JobFailure::Fatal(error)),
        Err(error) if error.is_retryable() => Err(JobFailure::Unfinished(error)),
        Err(_) => Ok(None),
    }
}

/// The job's evidence that does not change from one failure to the next.
struct JobEvidence {
    runs: Vec<JobRun>,
    /// `database.table` -> versions newest first, as read now.
    tables: BTreeMap<String, Vec<TableVersion>>,
    /// Source path -> objects listed now (None: could not be listed).
    sources: HashMap<String, Option<Vec<ObjectSummary>>>,
}

pub async fn read_job(context: &ReadContext, job: &JobDefinition) -> Result<JobResult, JobFailure> {
    let mut result = JobResult { job: job.name.clone(), ..JobResult::default() };
    let max_runs = context.settings.backtest.max_runs_per_job;
    let control = &context.ports.job_control;
    let history =
        context.backoff.call(|| control.job_runs_back_to(&job.name, context.window.from, HISTORY_RUNS, max_runs)).await;
    let history = match history {
        Ok(history) => history,
        Err(error) if error.is_not_found() => {
            result.notes.job_gone = true;
            return Ok(result);
        }
        Err(error) => return Err(job_level(error)),
    };
    result.notes.runs_read = history.runs.len();
    result.notes.history_truncated = !history.complete;
    let oldest_start = history.runs.iter().filter_map(|run| run.started_on).min();
    result.notes.history_starts_in_window = oldest_start.is_some_and(|oldest| oldest > context.window.from);
    let found = streaks(&history.runs, context.window.from, context.window.to);
    if found.is_empty() {
        return Ok(result);
    }
    let mut evidence_of_job = JobEvidence { runs: history.runs, tables: BTreeMap::new(), sources: HashMap::new() };
    read_tables(context, job, &found, &mut evidence_of_job, &mut result.notes).await?;
    for streak in &found {
        read_incident(context, job, streak, &mut evidence_of_job, &mut result).await?;
    }
    Ok(result)
}

/// Catalog versions of every table the job's failures name, read once.
async fn read_tables(
    context: &ReadContext,
    job: &JobDefinition,
    found: &[Streak],
    evidence_of_job: &mut JobEvidence,
    notes: &mut JobNotes,
) -> Result<(), JobFailure> {
    let configured = context.settings.job(&job.name).map(|settings| settings.tables.clone()).unwrap_or_default();
    let mut names: Vec<(String, String)> = Vec::new();
    for failure in found.iter().flat_map(|streak| &streak.failures) {
        for table in tables_of_job(&configured, Some(failure)) {
            if !names.contains(&table) {
                names.push(table);
            }
        }
    }
    let catalog = &context.ports.catalog;
    for (database, table) in names {
        let read = context.backoff.call(|| catalog.get_table_versions(&database, &table, CATALOG_VERSIONS)).await;
        match evidence(read)? {
            Some(versions) => {
                evidence_of_job.tables.insert(format!("{database}.{table}"), versions);
            }
            None => notes.unreadable_tables.push(format!("{database}.{table}")),
        }
    }
    Ok(())
}

async fn read_incident(
    context: &ReadContext,
    job: &JobDefinition,
    streak: &Streak,
    evidence_of_job: &mut JobEvidence,
    result: &mut JobResult,
) -> Result<(), JobFailure> {
    let mut steps = Vec::new();
    for failure in &streak.failures {
        let Some(failed_at) = ended_at(failure) else { continue };
        let (request, missing) = assemble_as_of(context, job, failure, failed_at, evidence_of_job).await?;
        if missing.iter().any(|note| note.starts_with("logs")) {
            result.notes.failures_without_logs += 1;
        }
        let fleet = request.fleet_context();
        let decision = decide(&request, &context.policy, &context.settings.safety, &fleet).decision;
        result.requests.push(serde_json::to_string(&request).unwrap_or_default());
        steps.push(Step { run: failure.clone(), failed_at, request, decision, missing });
    }
    result.failures += steps.len() as u32;
    if steps.is_empty() {
        return Ok(());
    }
    let what_happened = follow_up(
        streak,
        &FollowUpContext {
            runs: &evidence_of_job.runs,
            tables: &evidence_of_job.tables,
            bad_records_argument: &context.settings.safety.bad_records_argument,
        },
    );
    let observed = Observed { model: &context.model, now: context.now, runs: &evidence_of_job.runs };
    result.experience.extend(experience_lines(context.now, &steps, &what_happened));
    result.incidents.extend(incident_report(&observed, &steps, streak, what_happened));
    Ok(())
}

/// The request the daemon would have assembled when `failure` was reported.
async fn assemble_as_of(
    context: &ReadContext,
    job: &JobDefinition,
    failure: &JobRun,
    failed_at: DateTime<Utc>,
    evidence_of_job: &mut JobEvidence,
) -> Result<(DecideRequest, Vec<String>), JobFailure> {
    let mut missing = Vec::new();
    let logs = read_logs(context, &failure.id).await?;
    if logs.error.is_empty() && logs.output.is_empty() {
        missing.push("logs: no lines in either log group (expired, or never written)".to_string());
    }
    let job_settings = context.settings.job(&job.name).cloned().unwrap_or_default();
    let mut catalog = Vec::new();
    for (database, table) in tables_of_job(&job_settings.tables, Some(failure)) {
        let name = format!("{database}.{table}");
        let Some(versions) = evidence_of_job.tables.get(&name) else {
            missing.push(format!("catalog: {name} could not be read"));
            continue;
        };
        let (then, certain) = versions_as_of(versions, failed_at);
        if !certain {
            missing.push(format!("catalog: {name} has versions without a time"));
        }
        if !then.is_empty() {
            catalog.push(TableEvidence { database, table, versions: then });
        }
    }
    let (source_age_s, input_object_count) = match source_at(context, failure, job, failed_at, evidence_of_job).await? {
        Some(objects) => source_age(&objects, failed_at),
        None => (None, None),
    };
    let history = history_as_of(&evidence_of_job.runs, failed_at);
    let envelope = failure_event(failure, failed_at, context.region.as_deref(), context.account.as_deref());
    let incident_id = incident_id_for(&job.name, &failure.id);
    let mut request = assemble_request(EvidenceReadings {
        incident_id: &incident_id,
        attempt: 0,
        actions_taken: Vec::new(),
        envelope: &envelope,
        run_id: &failure.id,
        failed_run: Some(failure),
        history_runs: &history,
        logs,
        catalog,
        source_age_s,
        job_settings: &job_settings,
    });
    // As the daemon records it: nothing acted on in shadow, so no budget used.
    request.context.fleet = Some(FleetContext {
        glue_retry_pending: glue_retry_pending(Some(failure), Some(job)),
        input_object_count,
        ..FleetContext::default()
    });
    Ok((request, missing))
}

async fn read_logs(context: &ReadContext, run_id: &str) -> Result<LogsEvidence, JobFailure> {
    let settings = &context.settings.logs;
    let limits = LogLimits { max_lines: settings.max_lines, max_line_bytes: settings.max_line_bytes };
    let logs = &context.ports.logs;
    let error = context.backoff.call(|| logs.run_lines(&settings.error_group, run_id, limits)).await;
    let output = context.backoff.call(|| logs.run_lines(&settings.output_group, run_id, limits)).await;
    Ok(LogsEvidence {
        error: evidence(error)?.map(|lines| lines.lines).unwrap_or_default(),
        output: evidence(output)?.map(|lines| lines.lines).unwrap_or_default(),
    })
}

/// The source objects that had landed by the failure, listed once per path.
async fn source_at(
    context: &ReadContext,
    failure: &JobRun,
    job: &JobDefinition,
    failed_at: DateTime<Utc>,
    evidence_of_job: &mut JobEvidence,
) -> Result<Option<Vec<ObjectSummary>>, JobFailure> {
    let Some(path) = source_path(Some(failure), Some(job)).map(str::to_string) else { return Ok(None) };
    if !evidence_of_job.sources.contains_key(&path) {
        let listed = match parse_s3_uri(&path) {
            Some((bucket, prefix)) => {
                let objects = &context.ports.objects;
                evidence(context.backoff.call(|| objects.list_objects(bucket, prefix, SOURCE_LISTING_LIMIT)).await)?
            }
            None => None,
        };
        evidence_of_job.sources.insert(path.clone(), listed);
    }
    Ok(evidence_of_job.sources.get(&path).cloned().flatten().map(|objects| objects_as_of(&objects, failed_at)))
}
