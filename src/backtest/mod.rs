//! `etl-medic backtest`: what etl-medic would have done about an account's
//! past Glue failures, and what that would have saved, read-only.
//!
//! For every failed run in the window it assembles the `decide` request the
//! daemon would have assembled then (`reader`, with the daemon's own
//! assembly and the account as it was at the failure: `asof`), decides in
//! shadow, reads what really happened next from the same history
//! (`follow_up`), estimates the time to fix under the proposal with the
//! simulator's outcome model (`estimate`), and writes the report (`report`,
//! `summary`, `charts`) and optionally experience lines (spec/experience.md).
//!
//! Jobs are read a few at a time (`[backtest] concurrency`), each finished
//! job committed to a checkpoint in the output directory, so memory stays
//! bounded by the jobs in flight and a rerun continues where a run stopped.
//! The only calls made are reads (`iam::BACKTEST_OPERATIONS`).

pub mod asof;
pub mod charts;
pub mod checkpoint;
pub mod demo;
pub mod estimate;
pub mod follow_up;
pub mod iam;
pub mod incident;
pub mod reader;
pub mod record;
pub mod report;
pub mod retry;
pub mod summary;
pub mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use crate::backtest::checkpoint::{Checkpoint, CheckpointState, Opened};
use crate::backtest::estimate::{OutcomeModel, seed_of};
use crate::backtest::reader::{JobFailure, ReadContext, read_job};
use crate::backtest::retry::{Backoff, is_credentials_problem};
use crate::backtest::summary::{Summary, SummaryContext};
use crate::backtest::window::{JobGlob, WindowSpec};
use crate::config::Settings;
use crate::core::model::Mode;
use crate::core::policy::Policy;
use crate::ports::{JobDefinition, PortError, Ports};
use crate::sim::SimConfig;

/// What to backtest and where the report goes.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    pub window: WindowSpec,
    pub jobs: JobGlob,
    pub out: PathBuf,
    pub experience: Option<PathBuf>,
}

/// The account to read: its ports, and what the request's event carries.
pub struct Account {
    pub ports: Ports,
    pub region: Option<String>,
    pub account_id: Option<String>,
    /// Names the source in the checkpoint, so a demo run never resumes an AWS one.
    pub label: String,
}

/// Why a backtest stopped: the user's input (exit 64) or the world (exit 1).
#[derive(Debug)]
pub enum BacktestError {
    Usage(String),
    World(anyhow::Error),
}

impl From<anyhow::Error> for BacktestError {
    fn from(error: anyhow::Error) -> BacktestError {
        BacktestError::World(error)
    }
}

/// Told how far the reading is.
pub trait Progress: Send + Sync {
    fn start(&self, jobs: u64, already_done: u64);
    fn job_done(&self, failures: u32);
    fn finish(&self);
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _jobs: u64, _already_done: u64) {}
    fn job_done(&self, _failures: u32) {}
    fn finish(&self) {}
}

/// What a finished backtest did.
#[derive(Debug)]
pub struct BacktestOutcome {
    pub summary: Summary,
    /// Jobs read by this run (the rest came from the checkpoint).
    pub jobs_read_now: u64,
}

/// The whole backtest: list, read, decide, compare, report.
pub async fn run(
    options: &BacktestOptions,
    account: Account,
    mut settings: Settings,
    policy: Policy,
    now: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<BacktestOutcome, BacktestError> {
    settings.safety.set_mode_everywhere(Mode::Shadow);
    let backoff = Backoff::new(settings.backtest.max_attempts, Duration::from_millis(settings.backtest.retry_base_ms));
    let listed = backoff.call(|| account.ports.job_control.list_jobs()).await;
    let all_jobs = listed.map_err(|error| world_error(error, &settings))?;
    let mut jobs: Vec<JobDefinition> = all_jobs.iter().filter(|job| options.jobs.matches(&job.name)).cloned().collect();
    jobs.sort_by(|left, right| left.name.cmp(&right.name));
    if jobs.is_empty() {
        return Err(BacktestError::Usage(no_jobs_message(&options.jobs, &all_jobs, account.region.as_deref())));
    }
    let window = options.window.resolve(now).map_err(BacktestError::Usage)?;
    std::fs::create_dir_all(&options.out)
        .map_err(|error| BacktestError::Usage(format!("--out {}: {error}", options.out.display())))?;
    let fingerprint = fingerprint(options, &account, &settings, &policy);
    let state = CheckpointState { format: String::new(), fingerprint, window, now };
    let mut checkpoint = match Checkpoint::open(&options.out, state)? {
        Opened::Ready(checkpoint) => checkpoint,
        Opened::Mismatch { existing } => {
            return Err(BacktestError::Usage(format!(
                "{} holds a backtest started with other arguments or settings (window {} to {}); \
                 use another --out, or delete {}/{} to start afresh",
                options.out.display(),
                existing.window.from.to_rfc3339(),
                existing.window.to.to_rfc3339(),
                options.out.display(),
                checkpoint::CHECKPOINT_DIR
            )));
        }
    };
    let policy_version = policy.version();
    let model = Arc::new(OutcomeModel::new(SimConfig::embedded_default()));
    let context = Arc::new(ReadContext {
        ports: account.ports.clone(),
        settings: Arc::new(settings.clone()),
        policy: Arc::new(policy),
        window: checkpoint.state.window,
        now: checkpoint.state.now,
        backoff: backoff.clone(),
        model: model.clone(),
        region: account.region.clone(),
        account: account.account_id.clone(),
    });
    let pending: Vec<JobDefinition> = jobs.iter().filter(|job| !checkpoint.is_done(&job.name)).cloned().collect();
    progress.start(jobs.len() as u64, (jobs.len() - pending.len()) as u64);
    let read = read_all(&context, pending, settings.backtest.concurrency, &mut checkpoint, progress).await;
    progress.finish();
    let jobs_read_now = read?;
    let summary_context = SummaryContext {
        window: checkpoint.state.window,
        observed_until: checkpoint.state.now,
        policy: policy_version,
        throttled_retries: backoff.retries(),
    };
    let summary =
        report::write_report(&options.out, &checkpoint, &model, summary_context, options.experience.as_deref())?;
    checkpoint.remove()?;
    Ok(BacktestOutcome { summary, jobs_read_now })
}

/// Read the pending jobs, `concurrency` at a time, committing each as it ends.
async fn read_all(
    context: &Arc<ReadContext>,
    pending: Vec<JobDefinition>,
    concurrency: usize,
    checkpoint: &mut Checkpoint,
    progress: &dyn Progress,
) -> Result<u64, BacktestError> {
    let mut queue = pending.into_iter();
    let mut running = JoinSet::new();
    let mut unfinished: Vec<(String, PortError)> = Vec::new();
    let mut read = 0_u64;
    loop {
        while running.len() < concurrency.max(1) {
            let Some(job) = queue.next() else { break };
            let context = context.clone();
            running.spawn(async move {
                let outcome = read_job(&context, &job).await;
                (job.name, outcome)
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let (job, outcome) =
            joined.map_err(|error| BacktestError::World(anyhow::anyhow!("a job's read panicked: {error}")))?;
        match outcome {
            Ok(result) => {
                checkpoint.commit(&result)?;
                progress.job_done(result.failures);
                read += 1;
            }
            Err(JobFailure::Fatal(error)) => {
                running.abort_all();
                return Err(world_error(error, &context.settings));
            }
            Err(JobFailure::Unfinished(error)) => {
                progress.job_done(0);
                unfinished.push((job, error));
            }
        }
    }
    if let Some((job, error)) = unfinished.first() {
        return Err(BacktestError::World(anyhow::anyhow!(
            "{} of the jobs could not be read (first: {job}: {error}) even after {} attempts with backoff; \
             {} jobs are done and kept in the checkpoint: run the same command again to continue{}",
            unfinished.len(),
            context.backoff.max_attempts,
            checkpoint.jobs.len(),
            if error.is_throttled() {
                " (AWS is limiting the request rate: lower [backtest] concurrency, ETL_MEDIC__BACKTEST__CONCURRENCY)"
            } else {
                ""
            }
        )));
    }
    Ok(read)
}

/// A failure of the world, said with what to do about it.
fn world_error(error: PortError, settings: &Settings) -> BacktestError {
    let advice = if is_credentials_problem(&error) {
        "the AWS credentials are missing, expired or invalid: refresh them and run the same command again \
         (finished jobs are kept)"
            .to_string()
    } else if error.is_throttled() {
        format!(
            "AWS kept throttling after {} attempts with backoff: run again later or lower [backtest] concurrency \
             (ETL_MEDIC__BACKTEST__CONCURRENCY)",
            settings.backtest.max_attempts
        )
    } else if error.is_retryable() {
        format!(
            "the call kept failing after {} attempts: run the same command again later",
            settings.backtest.max_attempts
        )
    } else {
        "the credentials lack a permission the backtest needs: `etl-medic backtest --print-iam-policy` prints the \
         read-only policy it needs"
            .to_string()
    };
    BacktestError::World(anyhow::anyhow!("{error}\n{advice}"))
}

fn no_jobs_message(glob: &JobGlob, all_jobs: &[JobDefinition], region: Option<&str>) -> String {
    if all_jobs.is_empty() {
        return format!(
            "the account has no Glue jobs in region {} (set AWS_REGION to the region of your jobs)",
            region.unwrap_or("(none set)")
        );
    }
    let mut names: Vec<&str> = all_jobs.iter().map(|job| job.name.as_str()).collect();
    names.sort_unstable();
    let shown = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    let more = if names.len() > 5 { format!(", and {} more", names.len() - 5) } else { String::new() };
    format!("no job matches --jobs {:?}; the account has {} jobs: {shown}{more}", glob.0, names.len())
}

/// What a checkpoint must match to be continued.
fn fingerprint(options: &BacktestOptions, account: &Account, settings: &Settings, policy: &Policy) -> String {
    let settings_text = serde_json::to_string(settings).unwrap_or_default();
    serde_json::json!({
        "source": account.label,
        "window": options.window,
        "jobs": options.jobs.0,
        "policy": policy.version(),
        "settings": format!("{:016x}", seed_of(&settings_text)),
    })
    .to_string()
}

#[cfg(test)]
mod tests;
