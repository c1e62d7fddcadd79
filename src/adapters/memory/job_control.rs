//! An in-memory Glue: job definitions, runs, and a log of every StartJobRun,
//! so tests and the demo can see exactly which runs etl-medic started.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::core::event::JobRunState;
use crate::ports::{Clock, JobControl, JobDefinition, JobRun, Operation, PortError, StartRunRequest};

#[derive(Debug, Default)]
struct Estate {
    jobs: BTreeMap<String, JobDefinition>,
    /// Runs in the order they were added or started (oldest first).
    runs: Vec<JobRun>,
    started: Vec<StartRunRequest>,
    next_run_number: u64,
}

pub struct MemoryJobControl {
    estate: Mutex<Estate>,
    clock: Arc<dyn Clock>,
}

impl MemoryJobControl {
    pub fn new(clock: Arc<dyn Clock>) -> MemoryJobControl {
        MemoryJobControl { estate: Mutex::new(Estate::default()), clock }
    }

    pub fn put_job(&self, job: JobDefinition) {
        lock(&self.estate).jobs.insert(job.name.clone(), job);
    }

    /// Add a run (a failed run to work on, or history), replacing one with the same id.
    pub fn put_run(&self, run: JobRun) {
        let mut estate = lock(&self.estate);
        estate.runs.retain(|existing| existing.id != run.id);
        estate.runs.push(run);
    }

    /// Move a run to a new state (as Glue would when it finishes).
    pub fn finish_run(
        &self,
        run_id: &str,
        state: JobRunState,
        error_message: Option<String>,
    ) -> Result<JobRun, PortError> {
        let now = self.clock.now();
        let mut estate = lock(&self.estate);
        let run = estate
            .runs
            .iter_mut()
            .find(|run| run.id == run_id)
            .ok_or_else(|| PortError::not_found(Operation::GetJobRun, format!("run {run_id}")))?;
        run.state = state;
        run.error_message = error_message;
        run.completed_on = Some(now);
        if let Some(started_on) = run.started_on {
            run.execution_time_s = Some(u64::try_from((now - started_on).num_seconds()).unwrap_or(0));
        }
        Ok(run.clone())
    }

    /// Forget every run of `job_name` (a simulated estate starting a fresh story for the job).
    pub fn remove_runs_of(&self, job_name: &str) {
        lock(&self.estate).runs.retain(|run| run.job_name != job_name);
    }

    /// Every StartJobRun request received, in order.
    pub fn started_requests(&self) -> Vec<StartRunRequest> {
        lock(&self.estate).started.clone()
    }
}

#[async_trait]
impl JobControl for MemoryJobControl {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        lock(&self.estate)
            .runs
            .iter()
            .find(|run| run.id == run_id && run.job_name == job_name)
            .cloned()
            .ok_or_else(|| PortError::not_found(Operation::GetJobRun, format!("run {run_id} of job {job_name}")))
    }

    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        lock(&self.estate)
            .jobs
            .get(job_name)
            .cloned()
            .ok_or_else(|| PortError::not_found(Operation::GetJob, format!("job {job_name}")))
    }

    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        let estate = lock(&self.estate);
        if !estate.jobs.contains_key(job_name) {
            return Err(PortError::not_found(Operation::GetJobRuns, format!("job {job_name}")));
        }
        let mut runs: Vec<JobRun> = estate.runs.iter().filter(|run| run.job_name == job_name).cloned().collect();
        // Newest first by start time; runs without one keep insertion order (stable sort).
        runs.reverse();
        runs.sort_by_key(|run| std::cmp::Reverse(run.started_on));
        runs.truncate(max_runs as usize);
        Ok(runs)
    }

    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        Ok(lock(&self.estate).jobs.values().cloned().collect())
    }

    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        let now = self.clock.now();
        let mut estate = lock(&self.estate);
        let job = estate
            .jobs
            .get(&request.job_name)
            .cloned()
            .ok_or_else(|| PortError::not_found(Operation::StartJobRun, format!("job {}", request.job_name)))?;
        estate.next_run_number += 1;
        let run_id = format!("jr_medic_{:06}", estate.next_run_number);
        let mut arguments = job.default_arguments.clone();
        arguments.extend(request.arguments.clone());
        estate.runs.push(JobRun {
            id: run_id.clone(),
            job_name: request.job_name.clone(),
            state: JobRunState::Running,
            arguments,
            error_message: None,
            worker_type: request.worker_type.clone().or(job.worker_type.clone()),
            number_of_workers: request.number_of_workers.or(job.number_of_workers),
            execution_time_s: None,
            timeout_minutes: request.timeout_minutes.or(job.timeout_minutes),
            started_on: Some(now),
            completed_on: None,
            attempt: 0,
            previous_run_id: None,
        });
        estate.started.push(request.clone());
        Ok(run_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::ManualClock;
    use chrono::{DateTime, Duration, Utc};

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T02:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap()
    }

    fn glue() -> (Arc<ManualClock>, MemoryJobControl) {
        let clock = Arc::new(ManualClock::starting_at(start()));
        let glue = MemoryJobControl::new(clock.clone());
        glue.put_job(JobDefinition {
            name: "orders".into(),
            max_retries: 1,
            worker_type: Some("G.1X".into()),
            number_of_workers: Some(10),
            timeout_minutes: Some(60),
            default_arguments: BTreeMap::from([("--env".to_string(), "prod".to_string())]),
        });
        (clock, glue)
    }

    #[tokio::test]
    async fn started_runs_merge_default_arguments_and_apply_overrides() {
        let (clock, glue) = glue();
        let request = StartRunRequest {
            job_name: "orders".into(),
            arguments: BTreeMap::from([("--day".to_string(), "2026-11-28".to_string())]),
            number_of_workers: Some(20),
            ..StartRunRequest::default()
        };
        let run_id = glue.start_job_run(&request).await.unwrap();
        let run = glue.get_job_run("orders", &run_id).await.unwrap();
        assert_eq!(run.state, JobRunState::Running);
        assert_eq!(run.arguments.len(), 2);
        assert_eq!((run.number_of_workers, run.worker_type.as_deref()), (Some(20), Some("G.1X")));
        clock.advance(Duration::minutes(3));
        let finished = glue.finish_run(&run_id, JobRunState::Succeeded, None).unwrap();
        assert_eq!(finished.execution_time_s, Some(180));
        assert_eq!(glue.started_requests(), vec![request]);
    }

    #[tokio::test]
    async fn history_is_newest_first_and_unknown_things_are_not_found() {
        let (clock, glue) = glue();
        let first =
            glue.start_job_run(&StartRunRequest { job_name: "orders".into(), ..Default::default() }).await.unwrap();
        clock.advance(Duration::hours(1));
        let second =
            glue.start_job_run(&StartRunRequest { job_name: "orders".into(), ..Default::default() }).await.unwrap();
        let history = glue.get_job_runs("orders", 10).await.unwrap();
        assert_eq!(history.iter().map(|run| run.id.clone()).collect::<Vec<_>>(), vec![second, first]);
        assert!(glue.get_job("nope").await.unwrap_err().is_not_found());
        glue.remove_runs_of("orders");
        assert!(glue.get_job_runs("orders", 10).await.unwrap().is_empty());
        assert!(glue.get_job_run("orders", "jr_x").await.unwrap_err().is_not_found());
        assert!(
            glue.start_job_run(&StartRunRequest { job_name: "nope".into(), ..Default::default() })
                .await
                .unwrap_err()
                .is_not_found()
        );
    }

    #[tokio::test]
    async fn jobs_are_listed_and_history_reads_back_to_a_time() {
        let (clock, glue) = glue();
        let mut started = Vec::new();
        for _ in 0..4 {
            started.push(
                glue.start_job_run(&StartRunRequest { job_name: "orders".into(), ..Default::default() }).await.unwrap(),
            );
            clock.advance(Duration::hours(1));
        }
        let jobs = glue.list_jobs().await.unwrap();
        assert_eq!(jobs.iter().map(|job| job.name.as_str()).collect::<Vec<_>>(), vec!["orders"]);
        // Runs at +0h, +1h, +2h, +3h; back to +2h with one run before it.
        let history = glue.job_runs_back_to("orders", start() + Duration::hours(2), 1, 10).await.unwrap();
        assert!(history.complete);
        assert_eq!(history.runs.len(), 4);
        assert_eq!(history.runs[0].id, started[3], "newest first");
        let cut = glue.job_runs_back_to("orders", start(), 1, 2).await.unwrap();
        assert_eq!(cut.runs.len(), 2);
        assert!(!cut.complete, "two runs cannot reach back to the first one");
    }
}
