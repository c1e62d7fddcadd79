//! Promoting a policy on AWS: `[policy] path = "s3://..."`; the running
//! daemon (started as `etl-medic run` starts it) picks up a new policy object
//! without a restart, keeps the old one when the new one is broken, and
//! every decision record names the version that made it.

use crate::support;
use crate::support::estate::{DATA_BUCKET, Estate, JOB};

use std::time::Duration;

use etl_medic::config::Settings;
use etl_medic::core::model::Mode;
use etl_medic::daemon::app::Application;
use etl_medic::policy_source::SHIPPED_POLICY;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const POLICY_KEY: &str = "policies/etl-medic.json";
const TRANSIENT: &str = "java.net.SocketTimeoutException: Read timed out";

fn renamed_policy(version: &str) -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_str(SHIPPED_POLICY).expect("the shipped policy is JSON");
    document["version"] = json!(version);
    serde_json::to_vec(&document).expect("JSON")
}

async fn put_policy(estate: &Estate, body: Vec<u8>) {
    let s3 = estate.moto.s3_setup_client();
    s3.put_object().bucket(DATA_BUCKET).key(POLICY_KEY).body(body.into()).send().await.expect("put the policy object");
}

async fn metrics(port: u16) -> String {
    let (status, text) = tokio::task::spawn_blocking(move || support::http_request(port, "GET", "/metrics", None))
        .await
        .expect("join")
        .expect("GET /metrics");
    assert_eq!(status, 200);
    text
}

async fn wait_for_metrics(port: u16, wanted: &str) -> bool {
    for _ in 0..60 {
        if metrics(port).await.contains(wanted) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test]
async fn the_daemon_promotes_a_new_s3_policy_without_a_restart_and_refuses_a_broken_one() {
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": TRANSIENT}]}), 30).await;
    put_policy(&estate, renamed_policy("promoted-1")).await;
    let mut settings: Settings = estate.settings(2);
    settings.safety = estate.safety(Mode::Auto);
    settings.policy.path = format!("s3://{DATA_BUCKET}/{POLICY_KEY}");
    settings.policy.reload_interval_secs = 1;
    let ports = etl_medic::adapters::wiring::aws_ports(&estate.moto.connection(), &settings).expect("ports");
    let daemon = Application::build(settings, ports, None).await.expect("the daemon reads its S3 policy");
    let running = daemon.start().await.expect("the daemon starts");
    let port = running.address().port();
    let shutdown = CancellationToken::new();
    let stopped = tokio::spawn(running.run_until(shutdown.clone()));

    assert!(wait_for_metrics(port, "etl_medic_policy_info{version=\"promoted-1\"} 1").await);
    put_policy(&estate, renamed_policy("promoted-2")).await;
    assert!(
        wait_for_metrics(port, "etl_medic_policy_info{version=\"promoted-2\"} 1").await,
        "the new policy object was not picked up:\n{}",
        metrics(port).await
    );

    put_policy(&estate, b"not a policy".to_vec()).await;
    assert!(wait_for_metrics(port, "etl_medic_policy_load_errors_total 1").await, "{}", metrics(port).await);
    assert!(metrics(port).await.contains("etl_medic_policy_info{version=\"promoted-2\"} 1"), "the old one is kept");

    let run = estate.start_run(&[]).await;
    estate.put_glue_event(&run, "FAILED", TRANSIENT).await;
    let mut decided = None;
    for _ in 0..80 {
        let records = estate.audit_records().await;
        decided = records.values().find(|record| record["stage"] == "decision").cloned();
        if decided.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    shutdown.cancel();
    stopped.await.expect("join").expect("the daemon stops cleanly");
    let decision = decided.expect("the failure was decided");
    assert_eq!(decision["body"]["policy"]["version"], "promoted-2", "the decision names the policy that made it");
}
