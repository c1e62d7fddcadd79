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

use crate::backtest::asof::{ended_at, failure_event, history_as_of, objects_as_of, rfc3339, versions_as_of};
use crate::backtest::estimate::{JobShape, OutcomeModel, percentile, seed_of};
use crate::backtest::follow_up::{FixKind, FollowUp, FollowUpContext, Streak, follow_up, streaks};
use crate::backtest::record::{
    DiagnosisSummary, EvidenceNotes, ExperienceLine, ExperienceOutcome, IncidentReport, LaterFailure, Proposal,
    observed_decision,
};
use crate::backtest::retry::Backoff;
use crate::backtest::window::Window;
use crate::config::Settings;
use crate::core::decide::decide;
use crate::core::decision::Decision;
use crate::core::evidence::{DecideRequest, FleetContext, LogsEvidence, TableEvidence, TableVersion};
use crate::core::model::ActionKind;
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
/// Error messages longer than this are cut in the report (the request keeps them whole).
const MESSAGE_CHARS: usize = 400;

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

/// Whether an error means no further call can succeed: the credentials are
/// missing, expired or wrong.
pub fn is_credentials_problem(error: &PortError) -> bool {
    let text = error.to_string();
    [
        "ExpiredToken",
        "UnrecognizedClient",
        "InvalidClientTokenId",
        "InvalidSignature",
        "SignatureDoesNotMatch",
        "security token",
        "credentials",
        "Credentials",
    ]
    .iter()
    .any(|needle| text.contains(needle))
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

/// The decision the daemon would have made on one failed run, and the request it rests on.
struct Step {
    run: JobRun,
    failed_at: DateTime<Utc>,
    request: DecideRequest,
    decision: Decision,
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
        steps.push((Step { run: failure.clone(), failed_at, request, decision }, missing));
    }
    result.failures += steps.len() as u32;
    let Some((first, missing)) = steps.first() else { return Ok(()) };
    let follow = follow_up(
        streak,
        &FollowUpContext {
            runs: &evidence_of_job.runs,
            tables: &evidence_of_job.tables,
            bad_records_argument: &context.settings.safety.bad_records_argument,
        },
    );
    let report = incident_report(context, first, missing.clone(), &steps, streak, follow, &evidence_of_job.runs);
    let plain_steps: Vec<&Step> = steps.iter().map(|(step, _)| step).collect();
    result.experience.extend(experience_lines(context, &plain_steps, &report.what_happened));
    result.incidents.push(report);
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

/// The job's typical run time and schedule before `at`, from its history.
fn job_shape(runs: &[JobRun], failed: &JobRun, at: DateTime<Utc>) -> JobShape {
    let mut before: Vec<&JobRun> = runs.iter().filter(|run| run.started_on.is_some_and(|start| start < at)).collect();
    before.sort_by_key(|run| std::cmp::Reverse(run.started_on));
    before.truncate(HISTORY_RUNS as usize + 1);
    let mut durations: Vec<f64> = before
        .iter()
        .filter(|run| run.state == crate::core::event::JobRunState::Succeeded)
        .filter_map(|run| run.execution_time_s)
        .map(|seconds| seconds as f64 / 60.0)
        .collect();
    durations.sort_by(f64::total_cmp);
    let starts: Vec<DateTime<Utc>> = before.iter().filter_map(|run| run.started_on).collect();
    let mut gaps: Vec<f64> = starts.windows(2).map(|pair| (pair[0] - pair[1]).num_seconds() as f64 / 60.0).collect();
    gaps.sort_by(f64::total_cmp);
    let fallback_run = failed.execution_time_s.map_or(30.0, |seconds| (seconds as f64 / 60.0).max(1.0));
    JobShape {
        run_minutes: if durations.is_empty() { fallback_run } else { percentile(&durations, 0.5).max(1.0) },
        schedule_minutes: if gaps.is_empty() { 1_440.0 } else { percentile(&gaps, 0.5).max(5.0) },
        worker_type: failed.worker_type.clone(),
        number_of_workers: failed.number_of_workers,
    }
}

fn incident_report(
    context: &ReadContext,
    first: &Step,
    missing: Vec<String>,
    steps: &[(Step, Vec<String>)],
    streak: &Streak,
    what_happened: FollowUp,
    runs: &[JobRun],
) -> IncidentReport {
    let decision = &first.decision;
    let request = &first.request;
    let incident_id = incident_id_for(&first.run.job_name, &first.run.id);
    let shape = job_shape(runs, &first.run, first.failed_at);
    let estimate = context.model.estimate(decision.diagnosis.class, &decision.action, &shape, seed_of(&incident_id));
    let final_kind = decision.action.kind();
    let proposal_matches_fix =
        (what_happened.fix != FixKind::NotFixed).then(|| what_happened.fix.matching_actions().contains(&final_kind));
    let open_for_s = (what_happened.fix == FixKind::NotFixed)
        .then(|| u64::try_from((context.now - first.failed_at).num_seconds()).unwrap_or(0));
    IncidentReport {
        incident_id,
        job: first.run.job_name.clone(),
        run_id: first.run.id.clone(),
        state: first.run.state.as_str().to_string(),
        failed_at: rfc3339(first.failed_at),
        error_message: first.run.error_message.as_deref().map(|message| cut(message, MESSAGE_CHARS)),
        began_before_window: streak.began_before_window,
        diagnosis: DiagnosisSummary {
            class: decision.diagnosis.class,
            confidence: decision.diagnosis.confidence,
            signals: decision.diagnosis.signals.iter().take(3).map(|signal| cut(signal, MESSAGE_CHARS)).collect(),
        },
        proposal: Proposal::from_decision(decision),
        evidence: EvidenceNotes {
            error_log_lines: request.logs.error.len(),
            output_log_lines: request.logs.output.len(),
            catalog_tables: request.catalog.len(),
            history_runs: request.history.recent_runs.len(),
            source_age_s: request.context.source_last_modified_age_s,
            missing,
        },
        later_failures: steps
            .iter()
            .skip(1)
            .map(|(step, _)| LaterFailure {
                run_id: step.run.id.clone(),
                failed_at: rfc3339(step.failed_at),
                class: step.decision.diagnosis.class,
                action: step.decision.action.kind(),
            })
            .collect(),
        observed_time_to_fix_s: what_happened.time_to_fix_s,
        what_happened,
        open_for_s,
        proposal_matches_fix,
        estimated_time_to_fix: estimate,
    }
}

/// The incident's decision steps as experience lines: between failures
/// nothing was done (`log_and_wait`, not resolved, until the next failure);
/// the last step is resolved by the job's next run or by a person, or still
/// open at the end of observation.
fn experience_lines(context: &ReadContext, steps: &[&Step], what_happened: &FollowUp) -> Vec<String> {
    let fixed_at = what_happened.fixed_at.as_deref().and_then(crate::backtest::asof::parse_time);
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| u64::try_from((to - from).num_seconds()).unwrap_or(0);
    let incident_id = steps.first().map(|step| incident_id_for(&step.run.job_name, &step.run.id)).unwrap_or_default();
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let next = steps.get(index + 1).map(|next| next.failed_at);
            let (carried_out, outcome) = match (next, fixed_at, what_happened.resolved_by.as_deref()) {
                (Some(next), _, _) => (
                    ActionKind::LogAndWait,
                    ExperienceOutcome { resolved: false, resolved_by: None, elapsed_s: seconds(step.failed_at, next) },
                ),
                (None, Some(fixed), Some(by)) => (
                    if by == "person" { ActionKind::Escalate } else { ActionKind::LogAndWait },
                    ExperienceOutcome {
                        resolved: true,
                        resolved_by: Some(by.to_string()),
                        elapsed_s: seconds(step.failed_at, fixed),
                    },
                ),
                _ => (
                    ActionKind::LogAndWait,
                    ExperienceOutcome {
                        resolved: false,
                        resolved_by: None,
                        elapsed_s: seconds(step.failed_at, context.now),
                    },
                ),
            };
            let line = ExperienceLine {
                incident_id: incident_id.clone(),
                step: index as u32,
                request: serde_json::to_value(&step.request).unwrap_or_default(),
                decision: observed_decision(&step.decision, carried_out),
                outcome: Some(outcome),
            };
            serde_json::to_string(&line).unwrap_or_default()
        })
        .collect()
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
