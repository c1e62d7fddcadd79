//! The job control port (Glue jobs API): read a run, a job definition and its
//! history; start a run. The only mutation is `start_job_run`, which the
//! executor calls only with a safety permit. The backtest also lists the
//! account's jobs and reads a job's history back to a point in time, both
//! read-only.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::core::event::JobRunState;
use crate::ports::{Operation, PortError};

/// One job run as GetJobRun/GetJobRuns describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub id: String,
    pub job_name: String,
    pub state: JobRunState,
    pub arguments: BTreeMap<String, String>,
    pub error_message: Option<String>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<u32>,
    pub execution_time_s: Option<u64>,
    pub timeout_minutes: Option<u64>,
    pub started_on: Option<DateTime<Utc>>,
    pub completed_on: Option<DateTime<Utc>>,
    /// Glue's own retry counter: 0 for the first run, n for Glue's n-th retry.
    pub attempt: u32,
    /// Set on runs Glue started as a retry of another run.
    pub previous_run_id: Option<String>,
}

/// What GetJob says that matters to remediation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobDefinition {
    pub name: String,
    /// Glue's built-in retries. While `JobRun::attempt < max_retries` Glue
    /// itself will start another run, and etl-medic must not race it.
    pub max_retries: u32,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<u32>,
    pub timeout_minutes: Option<u64>,
    pub default_arguments: BTreeMap<String, String>,
}

/// A StartJobRun call. `arguments` replace the job's default arguments key
/// by key (Glue semantics); `None` overrides keep the job's own setting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StartRunRequest {
    pub job_name: String,
    pub arguments: BTreeMap<String, String>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<u32>,
    pub timeout_minutes: Option<u64>,
}

/// The job argument that marks every run etl-medic starts: its value is the
/// token of the incident step that started it (`<incident id>/<step>`, e.g.
/// `orders_daily/jr_1/1`). Glue hands unknown arguments to the script,
/// which reads only the ones it asks for (`getResolvedOptions`), so the
/// marker changes nothing in the run; GetJobRun(s) return it with the
/// run's other arguments, which is how a run whose StartJobRun answer was
/// lost is found again. Never copied from a failed run into its rerun (each
/// step gets its own), and never set over a job's own argument of that name.
pub const RUN_MARKER_ARGUMENT: &str = "--etl_medic_step";

impl JobRun {
    /// The step token of the etl-medic step that started this run, if any.
    pub fn marker(&self) -> Option<&str> {
        self.arguments.get(RUN_MARKER_ARGUMENT).map(String::as_str)
    }
}

/// A job's runs as far back as the backtest asked for them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunHistory {
    /// Newest first by start time.
    pub runs: Vec<JobRun>,
    /// False when the `max_runs` bound cut the history short of what was asked.
    pub complete: bool,
}

/// Contract:
/// - `get_job_run` / `get_job` give `NotFound` for an unknown job or run.
/// - `get_job_runs` returns at most `max_runs` runs of the job, newest first
///   (by start time), the failed run itself included.
/// - `get_job_runs` returns each run's arguments as the run received them
///   (the job's defaults merged with the StartJobRun arguments), so a run
///   started with [`RUN_MARKER_ARGUMENT`] can be found by its marker.
/// - `start_job_run` starts exactly one run per successful call and returns
///   its id; it is not idempotent, so callers guard it with the incident
///   store and mark the run. A concurrent-runs limit is `Rejected`,
///   throttling `Throttled` (nothing started); a transient error may or may
///   not have started the run.
#[async_trait]
pub trait JobControl: Send + Sync {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError>;

    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError>;

    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError>;

    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError>;

    /// Every job of the account (GetJobs), in any order. Read-only; only the
    /// backtest lists jobs, so adapters that never back one keep this default,
    /// which refuses.
    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        Err(PortError::rejected(Operation::GetJobs, "this job control adapter cannot list jobs"))
    }

    /// The job's runs newest first: every run started at or after `oldest`,
    /// and at least `before` runs started before it when there are that
    /// many (the history of the earliest ones), at most `max_runs` in all.
    /// The default reads `get_job_runs(job_name, max_runs)`, which is exact
    /// for adapters that honour `max_runs`; the Glue adapter pages further
    /// than `get_job_runs` does and stops once it has read far enough back.
    async fn job_runs_back_to(
        &self,
        job_name: &str,
        oldest: DateTime<Utc>,
        before: u32,
        max_runs: u32,
    ) -> Result<RunHistory, PortError> {
        let runs = self.get_job_runs(job_name, max_runs).await?;
        let older = runs.iter().filter(|run| run.started_on.is_some_and(|started| started < oldest)).count();
        let complete = runs.len() < max_runs as usize || older >= before as usize;
        Ok(RunHistory { runs, complete })
    }
}
