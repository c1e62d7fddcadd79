//! Job control on the Glue jobs API: GetJobRun, GetJob (Glue's own
//! MaxRetries, capacity, timeout), GetJobRuns history, and StartJobRun with
//! arguments and capacity overrides; for the backtest, GetJobs and a longer
//! read of GetJobRuns back to a point in time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_glue::types::{Job, JobRun as GlueJobRun, WorkerType};
use chrono::{DateTime, Utc};

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::core::event::JobRunState;
use crate::ports::Operation;
use crate::ports::{JobControl, JobDefinition, JobRun, PortError, RunHistory, StartRunRequest};

/// GetJobRuns' largest page.
const MAX_RUNS_PAGE: u32 = 200;
/// Pages of history read at most, so a job with years of runs stays cheap.
const MAX_HISTORY_PAGES: usize = 5;
/// GetJobs' largest page.
const MAX_JOBS_PAGE: i32 = 1_000;

pub struct GlueJobControl {
    client: aws_sdk_glue::Client,
}

impl GlueJobControl {
    pub fn new(connection: &AwsConnection) -> GlueJobControl {
        GlueJobControl { client: connection.glue_client() }
    }
}

pub(super) fn to_chrono(instant: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(instant.secs(), instant.subsec_nanos())
}

fn non_negative(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn into_job_run(operation: Operation, run: GlueJobRun) -> Result<JobRun, PortError> {
    let state_text = run.job_run_state.as_ref().map(|state| state.as_str()).unwrap_or_default();
    let state = JobRunState::parse(state_text).ok_or_else(|| {
        PortError::transient(operation, format!("job run state {state_text:?} is not one etl-medic knows"))
    })?;
    Ok(JobRun {
        id: run.id.unwrap_or_default(),
        job_name: run.job_name.unwrap_or_default(),
        state,
        arguments: run.arguments.unwrap_or_default().into_iter().collect(),
        error_message: run.error_message,
        worker_type: run.worker_type.map(|worker_type| worker_type.as_str().to_string()),
        number_of_workers: run.number_of_workers.map(non_negative),
        execution_time_s: Some(u64::from(non_negative(run.execution_time))),
        timeout_minutes: run.timeout.map(|minutes| u64::from(non_negative(minutes))),
        started_on: run.started_on.as_ref().and_then(to_chrono),
        completed_on: run.completed_on.as_ref().and_then(to_chrono),
        attempt: non_negative(run.attempt),
        previous_run_id: run.previous_run_id,
    })
}

fn into_job_definition(job: Job) -> JobDefinition {
    JobDefinition {
        name: job.name.unwrap_or_default(),
        max_retries: non_negative(job.max_retries),
        worker_type: job.worker_type.map(|worker_type| worker_type.as_str().to_string()),
        number_of_workers: job.number_of_workers.map(non_negative),
        timeout_minutes: job.timeout.map(|minutes| u64::from(non_negative(minutes))),
        default_arguments: job.default_arguments.unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>(),
    }
}

/// Newest first by start time; runs without one (not started yet) first.
fn newest_first(runs: &mut [JobRun]) {
    runs.sort_by(|left, right| match (left.started_on, right.started_on) {
        (Some(left_start), Some(right_start)) => right_start.cmp(&left_start),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

fn capacity_as_i32(operation: Operation, what: &str, value: u64) -> Result<i32, PortError> {
    i32::try_from(value).map_err(|_| PortError::rejected(operation, format!("{what} {value} is out of range")))
}

#[async_trait]
impl JobControl for GlueJobControl {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        let output = self
            .client
            .get_job_run()
            .job_name(job_name)
            .run_id(run_id)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetJobRun, error))?;
        let run =
            output.job_run.ok_or_else(|| PortError::not_found(Operation::GetJobRun, format!("{job_name}/{run_id}")))?;
        into_job_run(Operation::GetJobRun, run)
    }

    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        let output = self
            .client
            .get_job()
            .job_name(job_name)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetJob, error))?;
        let job = output.job.ok_or_else(|| PortError::not_found(Operation::GetJob, job_name.to_string()))?;
        Ok(into_job_definition(job))
    }

    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        if max_runs == 0 {
            return Ok(Vec::new());
        }
        let mut runs = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let page_size = max_runs.saturating_sub(runs.len() as u32).clamp(1, MAX_RUNS_PAGE);
            let output = self
                .client
                .get_job_runs()
                .job_name(job_name)
                .max_results(page_size as i32)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::GetJobRuns, error))?;
            for run in output.job_runs.unwrap_or_default() {
                runs.push(into_job_run(Operation::GetJobRuns, run)?);
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() || runs.len() >= max_runs as usize {
                break;
            }
        }
        newest_first(&mut runs);
        runs.truncate(max_runs as usize);
        Ok(runs)
    }

    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        let mut jobs = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .get_jobs()
                .max_results(MAX_JOBS_PAGE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::GetJobs, error))?;
            jobs.extend(output.jobs.unwrap_or_default().into_iter().map(into_job_definition));
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                return Ok(jobs);
            }
        }
    }

    /// Pages newest first (GetJobRuns answers in that order) until the
    /// history ends, `max_runs` are read, or a whole page started before
    /// `oldest` once `before` such runs are in hand.
    async fn job_runs_back_to(
        &self,
        job_name: &str,
        oldest: DateTime<Utc>,
        before: u32,
        max_runs: u32,
    ) -> Result<RunHistory, PortError> {
        let mut runs = Vec::new();
        let mut next_token: Option<String> = None;
        let mut older = 0_usize;
        let complete = loop {
            let page_size = max_runs.saturating_sub(runs.len() as u32).clamp(1, MAX_RUNS_PAGE);
            let output = self
                .client
                .get_job_runs()
                .job_name(job_name)
                .max_results(page_size as i32)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::GetJobRuns, error))?;
            let mut page_reaches_window = false;
            for run in output.job_runs.unwrap_or_default() {
                let run = into_job_run(Operation::GetJobRuns, run)?;
                match run.started_on {
                    Some(started) if started < oldest => older += 1,
                    _ => page_reaches_window = true,
                }
                runs.push(run);
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() || (!page_reaches_window && older >= before as usize) {
                break true;
            }
            if runs.len() >= max_runs as usize {
                break false;
            }
        };
        newest_first(&mut runs);
        runs.truncate(max_runs as usize);
        Ok(RunHistory { runs, complete })
    }

    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        let number_of_workers = request
            .number_of_workers
            .map(|workers| capacity_as_i32(Operation::StartJobRun, "number_of_workers", u64::from(workers)))
            .transpose()?;
        let timeout_minutes = request
            .timeout_minutes
            .map(|minutes| capacity_as_i32(Operation::StartJobRun, "timeout_minutes", minutes))
            .transpose()?;
        let arguments = request.arguments.clone().into_iter().collect();
        let output = self
            .client
            .start_job_run()
            .job_name(&request.job_name)
            .set_arguments(Some(arguments))
            .set_worker_type(request.worker_type.as_deref().map(WorkerType::from))
            .set_number_of_workers(number_of_workers)
            .set_timeout(timeout_minutes)
            // StartJobRun has no idempotency token: an SDK retry after
            // a lost answer (reset, timeout, 5xx) would start a second
            // run. One attempt; the pipeline decides what a failure means.
            .customize()
            .config_override(
                aws_sdk_glue::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|error| port_error(Operation::StartJobRun, error))?;
        output.job_run_id.ok_or_else(|| PortError::transient(Operation::StartJobRun, "Glue returned no JobRunId"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::types::JobRunState as GlueState;

    #[test]
    fn a_glue_run_becomes_a_port_run_with_capacity_and_error() {
        let run = GlueJobRun::builder()
            .id("jr_1")
            .job_name("orders_daily")
            .job_run_state(GlueState::Timeout)
            .arguments("--source_path", "s3://lake/raw/")
            .error_message("Job run timed out")
            .worker_type(WorkerType::G2X)
            .number_of_workers(12)
            .execution_time(3_600)
            .timeout(60)
            .attempt(1)
            .started_on(aws_smithy_types::DateTime::from_secs(1_795_917_600))
            .build();
        let converted = into_job_run(Operation::GetJobRun, run).unwrap();
        assert_eq!(converted.state, JobRunState::Timeout);
        assert_eq!(converted.worker_type.as_deref(), Some("G.2X"));
        assert_eq!(converted.number_of_workers, Some(12));
        assert_eq!(converted.timeout_minutes, Some(60));
        assert_eq!(converted.attempt, 1);
        assert_eq!(converted.arguments.get("--source_path").map(String::as_str), Some("s3://lake/raw/"));
        assert_eq!(converted.started_on.map(|at| at.timestamp()), Some(1_795_917_600));
    }

    #[test]
    fn history_is_sorted_newest_first() {
        let run_at = |id: &str, secs: i64| JobRun {
            id: id.into(),
            job_name: "j".into(),
            state: JobRunState::Failed,
            arguments: BTreeMap::new(),
            error_message: None,
            worker_type: None,
            number_of_workers: None,
            execution_time_s: None,
            timeout_minutes: None,
            started_on: DateTime::<Utc>::from_timestamp(secs, 0),
            completed_on: None,
            attempt: 0,
            previous_run_id: None,
        };
        let mut runs = vec![run_at("old", 10), run_at("new", 30), run_at("mid", 20)];
        newest_first(&mut runs);
        let order: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
        assert_eq!(order, vec!["new", "mid", "old"]);
    }
}
