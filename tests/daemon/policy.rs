//! Promotion of a policy while the daemon runs: `[policy] path` names an
//! object; a new valid version is swapped in between decisions and named in
//! `etl_medic_policy_info` and in every decision record after it; a broken
//! one is refused, the running policy kept, and the refusal counted.

use crate::support::harness::{self as daemon_support, Harness};

use etl_medic::daemon::app::Application;
use etl_medic::daemon::policy::{Reload, reload_once};
use etl_medic::policy_source::SHIPPED_POLICY;

const BUCKET: &str = "policies";
const KEY: &str = "etl-medic/policy.json";

/// The shipped policy under another version name.
fn renamed_policy(version: &str) -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_str(SHIPPED_POLICY).expect("the shipped policy is JSON");
    document["version"] = serde_json::Value::String(version.to_string());
    serde_json::to_vec(&document).expect("JSON")
}

async fn put(harness: &Harness, body: Vec<u8>) {
    etl_medic::ports::ObjectStore::put_object(harness.estate.objects.as_ref(), BUCKET, KEY, body, "application/json")
        .await
        .expect("in-memory put");
}

#[tokio::test(start_paused = true)]
async fn a_new_policy_object_is_swapped_in_and_a_broken_one_refused() {
    let harness = Harness::new(etl_medic::core::model::Mode::Auto);
    put(&harness, renamed_policy("promoted-1")).await;
    let mut settings = daemon_support::settings();
    settings.policy.path = format!("s3://{BUCKET}/{KEY}");
    let application =
        Application::build(settings, harness.estate.ports(), None).await.expect("builds with the S3 policy");
    let context = application.context().clone();
    let metrics = || etl_medic::metrics::render(application.registry()).expect("metrics");
    assert_eq!(context.policy.current().version(), "promoted-1");
    assert!(metrics().contains("etl_medic_policy_info{version=\"promoted-1\"} 1"));

    assert_eq!(reload_once(&context).await, Reload::Unchanged, "the same bytes are no new policy");

    put(&harness, renamed_policy("promoted-2")).await;
    let held = context.policy.current();
    assert_eq!(reload_once(&context).await, Reload::Swapped { version: "promoted-2".to_string() });
    assert_eq!(held.version(), "promoted-1", "a decision holds the policy it started with");
    assert_eq!(context.policy.current().version(), "promoted-2");
    let text = metrics();
    assert!(text.contains("etl_medic_policy_info{version=\"promoted-2\"} 1"), "{text}");
    assert!(!text.contains("version=\"promoted-1\""), "only the version in use is exported");

    put(&harness, b"{\"format\": \"etl-medic-policy/1\", \"version\": \"broken\"".to_vec()).await;
    assert!(matches!(reload_once(&context).await, Reload::Refused { .. }));
    assert_eq!(context.policy.current().version(), "promoted-2", "the running policy is kept");
    assert!(metrics().contains("etl_medic_policy_load_errors_total 1"));
}

#[tokio::test(start_paused = true)]
async fn every_decision_record_names_the_policy_version_that_made_it() {
    let harness = Harness::new(etl_medic::core::model::Mode::Auto);
    put(&harness, renamed_policy("recorded-version")).await;
    let mut settings = daemon_support::settings();
    settings.policy.path = format!("s3://{BUCKET}/{KEY}");
    let application = Application::build(settings, harness.estate.ports(), None).await.expect("builds");
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "java.net.SocketTimeoutException: Read timed out",
        &["java.net.SocketTimeoutException: Read timed out"],
        &[],
    );
    harness.estate.queue.push(body);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(application.pool().run(shutdown.clone()));
    for _ in 0..600 {
        if harness.decisions().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    running.await.expect("pool");
    let records = harness.audit_records();
    let decision = records.iter().find(|(_, record)| record["stage"] == "decision").expect("a decision record");
    assert_eq!(decision.1["body"]["policy"]["version"], "recorded-version");
}
