//! Shutdown and audit on the in-memory estate: a shutdown in the middle of
//! work loses no message and cuts no action off; readiness follows the
//! pool and turns at once on SIGTERM; every audit object of an incident parses, in order, and its
//! request replays through `decide`; a failed audit write keeps the message.

use crate::support::harness as daemon_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use daemon_support::{Harness, event};
use etl_medic::core::event::JobRunState;
use etl_medic::core::evidence::DecideRequest;
use etl_medic::core::model::Mode;
use etl_medic::core::policy::Policy;
use etl_medic::ports::{IncidentQueue, IncidentState, JobControl, JobDefinition, JobRun, PortError, StartRunRequest};
use tokio_util::sync::CancellationToken;

const RESET: &str = "An error occurred while calling o112.pyWriteDynamicFrame. Connection reset by peer";

/// Glue that takes `delay` to answer GetJobRun, so shutdown lands mid-work.
struct SlowGlue {
    inner: Arc<dyn JobControl>,
    delay: Duration,
}

#[async_trait]
impl JobControl for SlowGlue {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        tokio::time::sleep(self.delay).await;
        self.inner.get_job_run(job_name, run_id).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.inner.get_job(job_name).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        self.inner.get_job_runs(job_name, max_runs).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        self.inner.start_job_run(request).await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_work_loses_no_message_and_finishes_started_work() {
    let mut settings = daemon_support::settings();
    settings.queue.concurrency = 2;
    settings.shutdown.shutdown_grace_secs = 30;
    let harness = Harness::with(settings.clone(), daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    for number in 0..6 {
        let body = harness.failed_run("orders_daily", &format!("jr_{number}"), RESET, &[], &[]);
        harness.estate.queue.push(body);
    }
    let mut ports = harness.estate.ports();
    ports.job_control = Arc::new(SlowGlue { inner: harness.estate.job_control.clone(), delay: Duration::from_secs(5) });
    let application = harness.application_on(ports);
    let (context, health) = (application.context().clone(), application.health().clone());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.pool().run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(health.is_ready(), "ready once receiving");
    assert_eq!(context.metrics.in_flight_incidents.get(), 2, "two handlers are mid-work");
    shutdown.cancel();
    let report = running.await.unwrap();
    assert!(!health.is_ready(), "not ready after shutdown");
    assert_eq!((report.finished, report.abandoned), (2, 0), "started work finished within the grace");
    let started = harness.estate.job_control.started_requests().len();
    assert_eq!(started, 2, "the two in-flight incidents completed their action");
    let depth = harness.estate.queue.depth().await.unwrap();
    assert_eq!(depth.visible as usize, 6 - started, "every other message is back on the queue, visible at once");
    assert_eq!(depth.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn sigterm_during_a_long_poll_turns_readyz_503_at_once_and_starts_nothing_new() {
    let mut settings = daemon_support::settings();
    settings.queue.wait_time_secs = 20;
    settings.shutdown.shutdown_grace_secs = 30;
    let harness = Harness::with(settings.clone(), daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    let health = harness.health.clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(harness.pool().run(shutdown.clone()));
    // First poll: empty queue, so it returns after 20 s and the pool is ready.
    tokio::time::sleep(Duration::from_secs(21)).await;
    assert!(health.is_ready(), "ready once a receive came back");
    // The second long poll is under way with nothing to receive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    shutdown.cancel();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(!health.is_ready(), "/readyz turns 503 the moment SIGTERM arrives, not when the long poll ends");
    // A failure that arrives while that poll is still open is handed to it,
    // and goes straight back to the queue instead of being worked on.
    let body = harness.failed_run("orders_daily", "jr_late", RESET, &[], &[]);
    harness.estate.queue.push(body);
    let report =
        tokio::time::timeout(Duration::from_secs(25), running).await.expect("the pool stops within the poll").unwrap();
    assert_eq!((report.finished, report.abandoned), (0, 0));
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing new is started after SIGTERM");
    let depth = harness.estate.queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (1, 0), "the late message is visible again at once");
}

#[tokio::test(start_paused = true)]
async fn every_audit_object_of_an_incident_parses_in_order_and_replays() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run(
        "orders_daily",
        "jr_1",
        RESET,
        &["java.net.SocketException: Connection reset by peer"],
        &[],
    ));
    let (started, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(started);
    let run_id = harness.estate.incidents.incidents()[0].current_run_id.clone().unwrap();
    harness.estate.job_control.finish_run(&run_id, JobRunState::Succeeded, None).unwrap();
    harness.estate.queue.push(event("orders_daily", &run_id, "SUCCEEDED", "", "2026-11-29T02:12:00Z"));
    let (closed, _) =
        harness.run_pool_until(30, |harness| harness.estate.incidents.incidents()[0].state.is_closed()).await;
    assert!(closed);
    let records = harness.audit_records();
    let stages: Vec<String> = records.iter().map(|(_, record)| record["stage"].as_str().unwrap().to_string()).collect();
    assert_eq!(stages, ["intake", "request", "decision", "permit", "execution", "validation", "closed"]);
    for (seq, (key, record)) in records.iter().enumerate() {
        assert!(key.starts_with("audit/2026/11/29/orders_daily/jr_1/"), "{key}");
        assert_eq!(record["seq"], seq, "{key}");
        assert_eq!(record["schema"], "etl-medic-audit/1");
        assert_eq!(record["incident_id"], "orders_daily/jr_1");
    }
    let decision = &records[2].1["body"];
    assert!(decision["policy"]["q_values"].is_object() && decision["policy"]["propensity"].is_number());
    let request: DecideRequest =
        serde_json::from_value(records[1].1["body"].clone()).expect("the request replays through decide");
    assert_eq!(request.job_name(), Some("orders_daily"));
    assert_eq!(request.logs.error.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn every_recorded_decision_replays_to_itself_even_when_fleet_state_decided_it() {
    // A job budget of one action: the second failure is escalated by the
    // job_action_budget rule, a fact the request alone would not show.
    let mut safety = daemon_support::safety(Mode::Auto);
    safety.job_action_budget = 1;
    let harness = Harness::with(daemon_support::settings(), safety.clone());
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run("orders_daily", "jr_1", RESET, &[], &[]));
    let (first, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(first);
    harness.estate.queue.push(harness.failed_run("orders_daily", "jr_2", RESET, &[], &[]));
    let (second, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(second, "decisions: {:?}", harness.decisions());
    let records = harness.audit_records();
    let requests: Vec<&serde_json::Value> =
        records.iter().filter(|(_, record)| record["stage"] == "request").map(|(_, record)| &record["body"]).collect();
    let decisions: Vec<&serde_json::Value> =
        records.iter().filter(|(_, record)| record["stage"] == "decision").map(|(_, record)| &record["body"]).collect();
    assert_eq!((requests.len(), decisions.len()), (2, 2));
    assert_eq!(decisions[1]["safety"]["rule"], "job_action_budget", "{}", decisions[1]);
    assert_eq!(
        requests[1]["context"]["fleet"]["job_actions_in_window"], 1,
        "the fleet state is part of the recorded request"
    );
    for (request, recorded) in requests.iter().zip(&decisions) {
        let request: DecideRequest = serde_json::from_value((*request).clone()).expect("the recorded request parses");
        let replayed = etl_medic::core::decide::decide(&request, &Policy::rules(), &safety, &request.fleet_context());
        assert_eq!(
            &serde_json::to_value(&replayed.decision).unwrap(),
            *recorded,
            "replaying the audit record gives the recorded decision"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_audit_write_keeps_the_message_until_it_can_be_recorded() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run("orders_daily", "jr_1", RESET, &[], &[]));
    harness.estate.objects.fail_next_puts(10);
    let (counted, _) = harness
        .run_pool_until(200, |harness| harness.metrics_text().contains("etl_medic_audit_write_failures_total 2"))
        .await;
    assert!(counted, "{}", harness.metrics_text());
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing acts without its record");
    assert_eq!(harness.estate.queue.len(), 1, "the message stays");
    let (started, _) =
        harness.run_pool_until(300, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(started, "once writes work again the incident goes on");
    assert_eq!(harness.estate.incidents.incidents()[0].state, IncidentState::Remediating);
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_keeps_a_long_incident_from_being_received_twice() {
    let settings = daemon_support::settings();
    assert!(settings.queue.visibility_timeout_secs < 200 && settings.queue.heartbeat_secs < 60);
    let harness = Harness::with(settings.clone(), daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run("orders_daily", "jr_1", RESET, &[], &[]));
    let mut ports = harness.estate.ports();
    // Evidence takes 200 s: far past the 60 s visibility timeout.
    ports.job_control =
        Arc::new(SlowGlue { inner: harness.estate.job_control.clone(), delay: Duration::from_secs(200) });
    let application = harness.application_on(ports);
    let context = application.context().clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.pool().run(shutdown.clone()));
    for _ in 0..600 {
        if !harness.estate.job_control.started_requests().is_empty() && harness.estate.queue.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
    assert_eq!(
        context.metrics.messages_received_total.get(),
        1,
        "nobody else received the message while it was worked on"
    );
    assert!(harness.estate.queue.is_empty());
}
