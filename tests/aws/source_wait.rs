//! `wait_for_source` end to end on moto: a run that failed because its input
//! was not there is rerun only once an object newer than its start lands
//! under its `--source_path`; input that never lands is escalated at the
//! deadline; a restart in the middle of the wait starts exactly one run.
//!
//! Run: `cargo test --test aws source_wait::`.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use etl_medic::core::model::Mode;
use etl_medic::core::safety::SafetySettings;
use etl_medic::daemon::app::Application;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::estate::{DATA_BUCKET, Estate, JOB, metrics_text, run_pool_until};

const MISSING: &str =
    "An error occurred while calling o91.getDynamicFrame. Path does not exist: s3://lake/raw/orders/dt=2026-11-29/";
const SOURCE: &str = "s3://lake/raw/orders/";
const CHECK_SECS: u32 = 2;

/// Put an input object; returns when it was put, in epoch seconds.
async fn put_input(estate: &Estate, key: &str) -> i64 {
    let s3 = estate.moto.s3_setup_client();
    s3.put_object().bucket(DATA_BUCKET).key(key).body(ByteStream::from_static(b"{\"id\": 1}\n")).send().await.unwrap();
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs() as i64)
}

/// A job whose first run fails for want of input. (No older input sits
/// under the prefix: moto cannot backdate an object, and one put just
/// before the run would read as fresh input, which the rules retry at once.)
async fn estate_with_missing_source() -> (Estate, String) {
    let estate =
        Estate::new(json!({JOB: [{"state": "FAILED", "error_message": MISSING}, {"state": "SUCCEEDED"}]}), 30).await;
    let failed_run = estate.start_run(&[("--source_path", SOURCE), ("--day", "2026-11-29")]).await;
    estate.put_error_log(&failed_run, &["py4j.protocol.Py4JJavaError", MISSING]).await;
    estate.put_glue_event(&failed_run, "FAILED", MISSING).await;
    (estate, failed_run)
}

/// Auto mode, a check every [`CHECK_SECS`], and `max_wait_s` (no history,
/// so the default wait) of `wait_s`.
fn daemon(estate: &Estate, wait_s: u64) -> (Application, prometheus::Registry) {
    let mut settings = estate.settings(4);
    settings.incidents.source_check_secs = CHECK_SECS;
    let safety = SafetySettings { wait_for_source_default_s: wait_s, ..estate.safety(Mode::Auto) };
    estate.daemon(settings, safety)
}

async fn poll_until<F, Fut>(timeout: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Whether the audit trail shows the watch started.
async fn watching(estate: &Estate) -> bool {
    estate.audit_records().await.values().any(|record| record.to_string().contains("\"watching\""))
}

#[tokio::test]
async fn the_rerun_starts_after_the_missing_input_lands_and_not_before() {
    let (estate, failed_run) = estate_with_missing_source().await;
    let (daemon, registry) = daemon(&estate, 120);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.pool().run(shutdown.clone()));

    let started = poll_until(Duration::from_secs(30), || watching(&estate)).await;
    assert!(started, "the watch never started: {:#?}", estate.audit_records().await);
    let watch_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(watch_started.elapsed())).await;
    assert_eq!(estate.runs().await.len(), 1, "a run started before the input landed");
    let landed_at = put_input(&estate, "raw/orders/dt=2026-11-29/part-0.json").await;
    let rerun = poll_until(Duration::from_secs(30), || async { estate.runs().await.len() == 2 }).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), running).await.expect("the pool drains").unwrap();
    assert!(rerun, "no run after the input landed");

    let runs = estate.runs().await;
    let started = runs.iter().find(|run| run.id.as_deref() != Some(failed_run.as_str())).expect("the rerun");
    let started_on = started.started_on.expect("a start time").secs();
    assert!(started_on >= landed_at - 1, "the run started at {started_on}, before the input landed");
    let arguments = started.arguments.clone().unwrap_or_default();
    assert_eq!(arguments.get("--source_path").map(String::as_str), Some(SOURCE), "the failed run's arguments");
    assert_eq!(arguments.get("--day").map(String::as_str), Some("2026-11-29"));
    let metrics = metrics_text(&registry);
    assert!(metrics.contains("etl_medic_source_waits_total{outcome=\"landed\"} 1"), "{metrics}");
    let audit = estate.audit_records().await;
    assert!(
        audit.values().any(|record| record.to_string().contains("dt=2026-11-29/part-0.json")),
        "the audit names the object that landed"
    );
}

#[tokio::test]
async fn input_that_never_lands_is_escalated_with_the_evidence_at_the_deadline() {
    let (estate, failed_run) = estate_with_missing_source().await;
    let (daemon, registry) = daemon(&estate, 10);
    let started = Instant::now();
    let (escalated, _) =
        run_pool_until(&daemon, Duration::from_secs(60), || async { estate.depth(&estate.oncall_url).await.0 >= 1 })
            .await;
    assert!(escalated, "nothing reached the on-call queue");
    assert!(started.elapsed() >= Duration::from_secs(10), "escalated before the deadline");
    assert_eq!(estate.runs().await.len(), 1, "no run without input");
    let sqs = aws_sdk_sqs::Client::new(&estate.config);
    let received = sqs.receive_message().queue_url(&estate.oncall_url).send().await.unwrap().messages.unwrap();
    let envelope: serde_json::Value = serde_json::from_str(received[0].body.as_deref().unwrap()).unwrap();
    let escalation: serde_json::Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(escalation["packet"]["run_id"], failed_run.as_str());
    let text = escalation.to_string();
    assert!(text.contains("did not land within max_wait_s = 10 s"), "{text}");
    assert!(text.contains(SOURCE), "the packet names what was watched: {text}");
    assert!(text.contains("Path does not exist"), "the packet carries the evidence: {text}");
    assert!(metrics_text(&registry).contains("etl_medic_source_waits_total{outcome=\"deadline\"} 1"));
}

#[tokio::test]
async fn a_restart_in_the_middle_of_the_wait_loses_nothing_and_starts_one_run() {
    let (estate, _) = estate_with_missing_source().await;
    let (first, _) = daemon(&estate, 120);
    let (waiting, _) = run_pool_until(&first, Duration::from_secs(30), || watching(&estate)).await;
    assert!(waiting, "the watch never started");
    drop(first);
    // Nothing runs while the daemon is down; the input lands meanwhile.
    put_input(&estate, "raw/orders/dt=2026-11-29/part-0.json").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(estate.runs().await.len(), 1);

    let (second, registry) = daemon(&estate, 120);
    // Keep the daemon running for several check intervals after the rerun
    // started: the message and the store agree the wait is over.
    let rerun_seen: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    let settle = Duration::from_secs(u64::from(CHECK_SECS) * 4);
    let (settled, _) = run_pool_until(&second, Duration::from_secs(60), || async {
        let started = estate.runs().await.len() >= 2;
        let mut seen = rerun_seen.lock().unwrap();
        if started && seen.is_none() {
            *seen = Some(Instant::now());
        }
        seen.is_some_and(|at| at.elapsed() >= settle)
    })
    .await;
    assert!(settled, "the restarted daemon never started the run");
    assert_eq!(estate.runs().await.len(), 2, "exactly one run was started");
    assert!(metrics_text(&registry).contains("etl_medic_source_waits_total{outcome=\"landed\"} 1"));
}
