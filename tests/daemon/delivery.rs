//! Delivery semantics on the in-memory queue through the real pool:
//! at-least-once delivery gives exactly-once effects, poison messages reach
//! the DLQ without stopping the worker, the follow-up event of a run we
//! started closes or continues its incident, and the reconciler replays
//! events that never came.

use crate::support::harness as daemon_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etl_medic::adapters::memory::{MemoryJobControl, MemoryQueue};
use etl_medic::ports::{JobControl, JobDefinition, JobRun, PortError, StartRunRequest};
use tokio_util::sync::CancellationToken;

use daemon_support::{Harness, START, event};
use etl_medic::core::event::JobRunState;
use etl_medic::core::model::Mode;
use etl_medic::daemon::reconciler::reconcile_once;
use etl_medic::ports::IncidentState;

const RESET: &str = "An error occurred while calling o112.pyWriteDynamicFrame. Connection reset by peer";

fn transient_failure(harness: &Harness, run_id: &str) -> String {
    harness.failed_run("orders_daily", run_id, RESET, &["java.net.SocketException: Connection reset by peer"], &[])
}

#[tokio::test(start_paused = true)]
async fn the_same_event_three_times_across_concurrent_handlers_starts_one_run() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = transient_failure(&harness, "jr_1");
    for _ in 0..3 {
        harness.estate.queue.push(body.clone());
    }
    let (drained, _) = harness.run_pool_until(30, |harness| harness.estate.queue.is_empty()).await;
    assert!(drained, "all three deliveries were acknowledged");
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
    assert_eq!(harness.estate.incidents.incidents().len(), 1);
    assert!(harness.metrics_text().contains("etl_medic_events_ignored_total 2"), "two duplicates counted");
}

#[tokio::test(start_paused = true)]
async fn events_that_need_nothing_are_acknowledged_counted_and_touch_nothing() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    // The schedule's own run succeeded: not a run etl-medic started.
    harness.estate.queue.push(event("orders_daily", "jr_scheduled", "SUCCEEDED", "", "2026-11-29T02:00:00Z"));
    // A crawler failed: a Glue event, but not a job run.
    let crawler = serde_json::json!({
        "version": "0", "id": "c0", "detail-type": "Glue Crawler State Change", "source": "aws.glue",
        "account": "123456789012", "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"crawlerName": "orders_crawler", "state": "Failed", "message": "Internal Service Exception"}
    });
    harness.estate.queue.push(crawler.to_string());
    let (drained, _) = harness.run_pool_until(30, |harness| harness.estate.queue.is_empty()).await;
    assert!(drained, "both were acknowledged: {:?}", harness.estate.queue.pending_bodies());
    assert!(harness.metrics_text().contains("etl_medic_events_ignored_total 2"), "{}", harness.metrics_text());
    assert!(harness.estate.incidents.incidents().is_empty(), "no incident for events that need nothing");
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert!(harness.estate.notifier.published().is_empty());
    assert!(harness.estate.queue.dead_letter_bodies().is_empty(), "ignored is not poison");
}

#[tokio::test(start_paused = true)]
async fn a_malformed_message_is_never_deleted_and_the_worker_goes_on() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push("this is not json");
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "the good message was worked on");
    assert_eq!(harness.estate.queue.pending_bodies(), vec!["this is not json".to_string()]);
    assert!(harness.metrics_text().contains("etl_medic_poison_messages_total{reason=\"not_json\"}"));
    // After maxReceiveCount deliveries the redrive policy moves it to the DLQ.
    let (dead, _) = harness.run_pool_until(600, |harness| !harness.estate.queue.dead_letter_bodies().is_empty()).await;
    assert!(dead, "the poison message reached the DLQ");
    let poison_audits = harness.audit_records().into_iter().filter(|(key, _)| key.contains("/poison/")).count();
    assert!(poison_audits >= 1, "poison deliveries are audited");
}

#[tokio::test(start_paused = true)]
async fn the_follow_up_success_closes_the_incident_and_reports_mttr() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let (started, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(started);
    let run_id = harness.estate.incidents.incidents()[0].current_run_id.clone().expect("the run we started");
    harness.estate.job_control.finish_run(&run_id, JobRunState::Succeeded, None).unwrap();
    // The rerun succeeded ten minutes after the original failure.
    harness.estate.queue.push(event("orders_daily", &run_id, "SUCCEEDED", "", "2026-11-29T02:10:00Z"));
    let (closed, _) = harness
        .run_pool_until(30, |harness| harness.estate.incidents.incidents()[0].state == IncidentState::Resolved)
        .await;
    assert!(closed);
    let metrics = harness.metrics_text();
    assert!(metrics.contains("etl_medic_mttr_seconds_sum{class=\"transient_infra\"} 600"), "{metrics}");
    assert!(metrics.contains("etl_medic_mttr_seconds_count{class=\"transient_infra\"} 1"));
    assert!(metrics.contains("etl_medic_remediations_total{action=\"retry\",outcome=\"success\"} 1"));
    assert!(
        metrics
            .contains("etl_medic_incidents_total{action=\"retry\",class=\"transient_infra\",outcome=\"resolved\"} 1")
    );
    // 600 s is the distance from the original failure's event time (START).
    assert_eq!(START, "2026-11-29T02:00:00Z");
}

#[tokio::test(start_paused = true)]
async fn a_failed_rerun_continues_the_incident_with_the_next_attempt() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let (started, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(started);
    let run_id = harness.estate.incidents.incidents()[0].current_run_id.clone().expect("the run we started");
    harness.estate.job_control.finish_run(&run_id, JobRunState::Failed, Some(RESET.to_string())).unwrap();
    harness.estate.logs.append(
        daemon_support::ERROR_GROUP,
        &run_id,
        vec!["java.net.SocketException: Connection reset by peer".to_string()],
    );
    harness.estate.queue.push(event("orders_daily", &run_id, "FAILED", RESET, "2026-11-29T02:10:00Z"));
    let (continued, _) = harness
        .run_pool_until(30, |harness| harness.estate.incidents.incidents()[0].state == IncidentState::Waiting)
        .await;
    assert!(continued, "decisions: {:?}", harness.decisions());
    let incident = &harness.estate.incidents.incidents()[0];
    assert_eq!(incident.attempt, 1);
    assert_eq!(incident.incident_id, "orders_daily/jr_1", "the same incident continues");
    let requests: Vec<serde_json::Value> = harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == "request")
        .map(|(_, record)| record["body"].clone())
        .collect();
    assert_eq!(requests.last().map(|request| request["history"]["attempt"].clone()), Some(serde_json::json!(1)));
    assert!(harness.metrics_text().contains("etl_medic_remediations_total{action=\"retry\",outcome=\"failure\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn the_reconciler_replays_the_event_of_a_run_that_finished_silently() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let (started, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(started);
    let run_id = harness.estate.incidents.incidents()[0].current_run_id.clone().expect("the run we started");
    assert_eq!(reconcile_once(&harness.context).await.unwrap(), 0, "a fresh run is not polled yet");
    harness.clock.advance(chrono::Duration::minutes(20));
    harness.estate.job_control.finish_run(&run_id, JobRunState::Succeeded, None).unwrap();
    assert_eq!(reconcile_once(&harness.context).await.unwrap(), 1);
    let (closed, _) = harness
        .run_pool_until(30, |harness| harness.estate.incidents.incidents()[0].state == IncidentState::Resolved)
        .await;
    assert!(closed, "the replayed event closed the incident");
}

#[tokio::test(start_paused = true)]
async fn glue_s_own_pending_retry_is_never_raced() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 1);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let (closed, _) = harness
        .run_pool_until(30, |harness| {
            harness.estate.incidents.incidents().first().is_some_and(|incident| incident.state.is_closed())
        })
        .await;
    assert!(closed, "decisions: {:?}", harness.decisions());
    assert!(harness.estate.job_control.started_requests().is_empty(), "Glue reruns it itself");
    assert!(harness.decisions()[0].contains("glue_retry_pending"), "{:?}", harness.decisions());
}

#[tokio::test(start_paused = true)]
async fn run_once_never_takes_more_messages_than_free_slots() {
    let mut settings = daemon_support::settings();
    settings.queue.concurrency = 2;
    let harness = Harness::with(settings, daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    for number in 0..5 {
        harness.estate.queue.push(transient_failure(&harness, &format!("jr_{number}")));
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut pool = harness.pool();
    let started = pool.run_once(&shutdown).await.unwrap();
    assert_eq!(started, 2);
    let depth = etl_medic::ports::IncidentQueue::depth(harness.estate.queue.as_ref()).await.unwrap();
    assert_eq!(depth.visible, 3, "the rest stay on the queue for other workers");
    pool.drain(Duration::from_secs(30)).await;
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_action_whose_step_is_not_recorded_is_escalated_not_repeated() {
    use etl_medic::ports::IncidentStore;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = transient_failure(&harness, "jr_1");
    // A worker of a version that did not record its steps claimed the run
    // and began acting, then died: its message comes back, and there is no
    // step marker to look for (tests/daemon/settle.rs covers steps that have one).
    let message_id = harness.estate.queue.push(body);
    let claim = etl_medic::ports::RunClaim {
        job_name: "orders_daily".into(),
        run_id: "jr_1".into(),
        incident_id: "orders_daily/jr_1".into(),
        message_id: message_id.clone(),
        claimed_at: daemon_support::at("2026-11-29T02:05:00Z"),
    };
    harness.estate.incidents.claim_run(&claim).await.unwrap();
    let mut record = etl_medic::daemon::incident::new_record(
        "orders_daily/jr_1",
        "orders_daily",
        "jr_1",
        daemon_support::at(START),
        &message_id,
        daemon_support::at("2026-11-29T02:05:00Z"),
    );
    harness.estate.incidents.create_incident(&record).await.unwrap();
    record.state = IncidentState::Acting;
    harness.estate.incidents.update_incident(&record).await.unwrap();
    // Shortly after, the owner may still be working: nothing happens yet.
    let (early, _) = harness.run_pool_until(3, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(!early, "an incident another handler may still be acting on is left alone");
    // Long after, the action's fate is unknown: a person decides, nothing is rerun.
    harness.clock.advance(chrono::Duration::minutes(10));
    let (escalated, _) = harness.run_pool_until(60, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(escalated);
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert!(
        harness.estate.notifier.published()[0]
            .packet
            .blocked_because
            .as_deref()
            .unwrap_or_default()
            .contains("interrupted")
    );
}

/// Glue whose runs end at once: StartJobRun ends the run it started in
/// `end_as`, puts the run's event on the queue, and only then answers, after
/// `answer_after`. The event is there before the starter can link the run.
struct InstantGlue {
    inner: Arc<MemoryJobControl>,
    queue: Arc<MemoryQueue>,
    end_as: (JobRunState, &'static str),
    answer_after: Duration,
}

#[async_trait]
impl JobControl for InstantGlue {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        self.inner.get_job_run(job_name, run_id).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.inner.get_job(job_name).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        self.inner.get_job_runs(job_name, max_runs).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        let run_id = self.inner.start_job_run(request).await?;
        let (state, message) = self.end_as;
        self.inner.finish_run(&run_id, state, Some(message.to_string()).filter(|text| !text.is_empty()))?;
        self.queue.push(event(&request.job_name, &run_id, state.as_str(), message, "2026-11-29T02:06:00Z"));
        tokio::time::sleep(self.answer_after).await;
        Ok(run_id)
    }
}

/// Auto mode with two handler slots.
fn two_slot_harness() -> Harness {
    let mut settings = daemon_support::settings();
    settings.queue.concurrency = 2;
    Harness::with(settings, daemon_support::safety(Mode::Auto))
}

/// The pool on `harness`'s estate with Glue replaced by `glue`, until `done`.
async fn run_pool_with_glue(
    harness: &Harness,
    glue: InstantGlue,
    max_secs: u64,
    done: impl Fn(&Harness) -> bool,
) -> bool {
    let mut ports = harness.estate.ports();
    ports.job_control = Arc::new(glue);
    let application = harness.application_on(ports);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.pool().run(shutdown.clone()));
    let mut reached = false;
    for _ in 0..max_secs * 10 {
        if done(harness) {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    reached
}

#[tokio::test(start_paused = true)]
async fn a_success_event_that_beats_the_link_of_its_run_waits_for_it_and_closes_the_incident() {
    let harness = two_slot_harness();
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let glue = InstantGlue {
        inner: harness.estate.job_control.clone(),
        queue: harness.estate.queue.clone(),
        end_as: (JobRunState::Succeeded, ""),
        answer_after: Duration::from_secs(3),
    };
    let closed = run_pool_with_glue(&harness, glue, 60, |harness| {
        harness.estate.incidents.incidents().iter().any(|record| record.state == IncidentState::Resolved)
            && harness.estate.queue.is_empty()
    })
    .await;
    let incidents = harness.estate.incidents.incidents();
    assert!(closed, "{incidents:?}");
    assert_eq!(incidents.len(), 1);
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_event_that_beats_the_link_of_its_run_continues_the_same_incident() {
    let harness = two_slot_harness();
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness, "jr_1"));
    let glue = InstantGlue {
        inner: harness.estate.job_control.clone(),
        queue: harness.estate.queue.clone(),
        end_as: (JobRunState::Failed, RESET),
        answer_after: Duration::from_secs(3),
    };
    let continued = run_pool_with_glue(&harness, glue, 60, |harness| {
        harness.estate.incidents.incidents().iter().any(|record| record.state == IncidentState::Waiting)
    })
    .await;
    let incidents = harness.estate.incidents.incidents();
    assert!(continued, "{incidents:?}");
    assert_eq!(incidents.len(), 1, "the rerun's failure is not a new incident: {incidents:?}");
    assert_eq!(incidents[0].attempt, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_for_a_starter_that_never_links_only_a_few_seconds() {
    use etl_medic::ports::IncidentStore;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    // A starter noted it was about to start a run of the job and then died.
    let now = daemon_support::at("2026-11-29T02:05:00Z");
    harness.estate.incidents.note_starting("orders_daily", "orders_daily/jr_0", now).await.unwrap();
    // A new failure of the same job, after the note, waits twice, then opens its own incident.
    transient_failure(&harness, "jr_1");
    harness.estate.queue.push(event("orders_daily", "jr_1", "FAILED", RESET, "2026-11-29T02:06:00Z"));
    let (opened, _) =
        harness.run_pool_until(60, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(opened, "the failure was worked on: {:?}", harness.estate.incidents.incidents());
    assert!(harness.estate.queue.dead_letter_bodies().is_empty(), "nothing walked to the DLQ");
    assert_eq!(harness.estate.incidents.incidents()[0].incident_id, "orders_daily/jr_1");
}
