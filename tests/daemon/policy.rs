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

/// The decision records of the incidents handled, as (explored, propensity, action kind).
fn explorations(harness: &Harness) -> Vec<(bool, f64, String)> {
    harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == "decision")
        .map(|(_, record)| {
            let body = &record["body"];
            (
                body["policy"]["explored"].as_bool().expect("explored is recorded"),
                body["policy"]["propensity"].as_f64().expect("propensity is recorded"),
                body["action"]["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Handle one transient failure of `job` with `[policy] explore = 1` (every
/// decision that may explore does) and return its decision records.
async fn one_failure_with_full_exploration(
    mode: etl_medic::core::model::Mode,
    risk_tier: Option<etl_medic::core::model::RiskTier>,
) -> Vec<(bool, f64, String)> {
    let mut settings = daemon_support::settings();
    settings.policy.explore = 1.0;
    settings.policy.explore_seed = 11;
    settings
        .jobs
        .insert("orders_daily".to_string(), etl_medic::config::JobSettings { risk_tier, ..Default::default() });
    let harness = Harness::with(settings, daemon_support::safety(mode));
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run(
        "orders_daily",
        "jr_1",
        "Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[],
    ));
    let (decided, _) = harness.run_pool_until(30, |harness| !harness.decisions().is_empty()).await;
    assert!(decided, "no decision recorded");
    explorations(&harness)
}

/// `[policy] explore` explores in `auto` mode, only among what safety allows
/// unchanged (the action carried out is the one drawn), and records the
/// propensity of the action; shadow mode and critical jobs never explore.
#[tokio::test(start_paused = true)]
async fn the_daemon_explores_only_in_auto_mode_for_jobs_that_are_not_critical() {
    use etl_medic::core::model::{Mode, RiskTier};
    let auto = one_failure_with_full_exploration(Mode::Auto, None).await;
    let (explored, propensity, _) = &auto[0];
    assert!(*explored, "explore = 1 in auto mode draws every decision: {auto:?}");
    assert!(*propensity > 0.0 && *propensity < 1.0, "a uniform draw among several allowed actions: {auto:?}");

    let shadow = one_failure_with_full_exploration(Mode::Shadow, None).await;
    assert!(shadow.iter().all(|(explored, propensity, _)| !explored && *propensity == 1.0), "{shadow:?}");

    let critical = one_failure_with_full_exploration(Mode::Auto, Some(RiskTier::Critical)).await;
    assert!(critical.iter().all(|(explored, propensity, _)| !explored && *propensity == 1.0), "{critical:?}");
}
