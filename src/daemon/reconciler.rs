//! The reconciler: Glue's state-change events are best-effort, so runs we
//! started and still wait for are polled with GetJobRun. A run that has
//! finished gets its missing event replayed through the queue, where the
//! ordinary pipeline (claims included) handles it exactly once even if the
//! real event turns up too. The queue depth gauges are refreshed here as well.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::core::event::{GLUE_SOURCE, JOB_STATE_CHANGE, JobRunState};
use crate::daemon::context::PipelineContext;
use crate::ports::{JobRun, PortError, QueueDepth};

/// Incidents looked at per reconciliation pass.
const OPEN_RUNS_PER_PASS: u32 = 100;
/// Marks replayed events in `resources`, so the audit shows where they came from.
pub const RECONCILER_RESOURCE: &str = "etl-medic:reconciler";

/// The EventBridge envelope Glue would have sent for `run`.
pub fn replayed_event(run: &JobRun, account: &str, region: &str) -> serde_json::Value {
    let severity = if run.state == JobRunState::Succeeded { "INFO" } else { "ERROR" };
    json!({
        "version": "0",
        "id": format!("reconciled-{}", run.id),
        "detail-type": JOB_STATE_CHANGE,
        "source": GLUE_SOURCE,
        "account": account,
        "time": run.completed_on.map(|time| time.to_rfc3339()),
        "region": region,
        "resources": [RECONCILER_RESOURCE],
        "detail": {
            "jobName": run.job_name,
            "severity": severity,
            "state": run.state.as_str(),
            "jobRunId": run.id,
            "message": run.error_message.clone().unwrap_or_default(),
        }
    })
}

/// Whether a run has reached a terminal state.
pub fn is_finished(state: JobRunState) -> bool {
    state.is_failure() || matches!(state, JobRunState::Succeeded | JobRunState::Stopped)
}

/// One pass: replay the events of finished runs we have waited on for long
/// enough. Returns how many events were replayed.
pub async fn reconcile_once(context: &PipelineContext) -> Result<usize, PortError> {
    let now = context.ports.clock.now();
    let overdue_after = ChronoDuration::seconds(
        i64::try_from(context.settings.incidents.reconcile_after_secs).unwrap_or(i64::MAX / 2_000),
    );
    let open = context.ports.incidents.list_open_runs(OPEN_RUNS_PER_PASS).await?;
    let mut replayed = 0;
    for record in open {
        let (Some(run_id), Some(started_at)) = (record.current_run_id.as_deref(), record.run_started_at) else {
            continue;
        };
        if now - started_at < overdue_after {
            continue;
        }
        let run = match context.ports.job_control.get_job_run(&record.job_name, run_id).await {
            Ok(run) => run,
            Err(error) => {
                tracing::warn!(error = %error, job_name = %record.job_name, run_id, "reconciler could not read a run");
                continue;
            }
        };
        if !is_finished(run.state) {
            continue;
        }
        let body = replayed_event(&run, "", "").to_string();
        context.ports.queue.send(&body, 0).await?;
        tracing::info!(job_name = %record.job_name, run_id, state = run.state.as_str(), "replayed a missing job run event");
        replayed += 1;
    }
    Ok(replayed)
}

fn set_depth(context: &PipelineContext, queue: &str, depth: QueueDepth) {
    let gauge = &context.metrics.queue_messages;
    for (state, value) in [("visible", depth.visible), ("in_flight", depth.in_flight), ("delayed", depth.delayed)] {
        gauge.with_label_values(&[queue, state]).set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

/// Refresh `etl_medic_queue_messages` for the main queue and the DLQ.
pub async fn refresh_queue_depth(context: &PipelineContext) -> Result<(), PortError> {
    let main = context.ports.queue.depth().await?;
    set_depth(context, "main", main);
    if let Some(dead) = context.ports.queue.dead_letter_depth().await? {
        set_depth(context, "dlq", dead);
    }
    Ok(())
}

/// Run reconciliation and depth refreshes until `shutdown`.
pub async fn run_background(context: Arc<PipelineContext>, shutdown: CancellationToken) {
    let reconcile_every = Duration::from_secs(context.settings.incidents.reconcile_interval_secs.max(1));
    let depth_every = Duration::from_secs(context.settings.queue.depth_poll_secs.max(1));
    let mut reconcile_tick = tokio::time::interval(reconcile_every);
    let mut depth_tick = tokio::time::interval(depth_every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reconcile_tick.tick() => {
                if let Err(error) = reconcile_once(&context).await {
                    tracing::warn!(error = %error, "reconciliation pass failed");
                }
            }
            _ = depth_tick.tick() => {
                if let Err(error) = refresh_queue_depth(&context).await {
                    tracing::warn!(error = %error, "queue depth refresh failed");
                }
            }
        }
    }
}
