//! `etl-medic backtest` against moto over real HTTP: a Glue job with a
//! history of successes and failures of several kinds (placed in the past
//! by the launcher), a table whose versions change in between, error logs
//! for some runs; every request goes through the fault proxy, which shows
//! that nothing but reads reached the emulator. The backtest finds every
//! failure, sees the catalog as it was at each one, proposes what `decide`
//! proposes for that request, reads what fixed it, and its report adds up.
//! Then the world failing: throttling that passes and that does not,
//! expired credentials (exit 1, no report).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use chrono::{DateTime, Duration, Utc};
use etl_medic::adapters::aws::{AwsConnection, ExplicitEndpoint};
use etl_medic::adapters::wiring::aws_backtest_ports;
use etl_medic::backtest::window::{JobGlob, WindowSpec};
use etl_medic::backtest::{Account, BacktestOptions, Silent, iam};
use etl_medic::config::{JobSettings, Settings};
use etl_medic::core::decide::decide;
use etl_medic::core::evidence::DecideRequest;
use etl_medic::core::model::Mode;
use etl_medic::core::policy::Policy;
use etl_medic::ports::{Clock, SystemClock};
use serde_json::json;

use crate::support::Moto;
use crate::support::fault_proxy::{Fault, FaultPlan, FaultProxy};

const JOB: &str = "orders_daily";
const ERROR_GROUP: &str = "/aws-glue/jobs/error";
const OUTPUT_GROUP: &str = "/aws-glue/jobs/output";
const OOM: &str = "java.lang.OutOfMemoryError: Java heap space";
const PARQUET: &str = "Parquet column cannot be converted in file s3://lake/sales/orders/part-0001.parquet. Column: [amount], Expected: double, Found: BINARY";
const TRANSIENT: &str = "java.net.SocketTimeoutException: Read timed out";
const DENIED: &str = "An error occurred while calling o98.getDynamicFrame. Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)";

/// One run of the history: hours after the base, minutes it ran, how it ended.
struct Run {
    hour: i64,
    minutes: i64,
    state: &'static str,
    message: Option<&'static str>,
    workers: i32,
    connection: &'static str,
    logs: bool,
}

const fn run(hour: i64, minutes: i64, state: &'static str, message: Option<&'static str>) -> Run {
    Run { hour, minutes, state, message, workers: 2, connection: "warehouse", logs: message.is_some() }
}

fn history() -> Vec<Run> {
    vec![
        Run { workers: 2, ..run(0, 20, "SUCCEEDED", None) },
        run(24, 20, "SUCCEEDED", None),
        // Out of memory; a person reran it with twice the workers.
        run(48, 12, "FAILED", Some(OOM)),
        Run { workers: 4, ..run(54, 20, "SUCCEEDED", None) },
        Run { workers: 4, ..run(72, 20, "SUCCEEDED", None) },
        // The table's amount turned to string an hour before; a person rolled it back.
        Run { workers: 4, ..run(96, 3, "FAILED", Some(PARQUET)) },
        Run { workers: 4, ..run(102, 20, "SUCCEEDED", None) },
        Run { workers: 4, ..run(120, 20, "SUCCEEDED", None) },
        // A network blip, logs gone; the next day's run healed it.
        Run { workers: 4, logs: false, ..run(144, 6, "FAILED", Some(TRANSIENT)) },
        Run { workers: 4, ..run(168, 20, "SUCCEEDED", None) },
        // Access denied twice; a person changed the connection.
        Run { workers: 4, ..run(192, 1, "FAILED", Some(DENIED)) },
        Run { workers: 4, ..run(216, 1, "FAILED", Some(DENIED)) },
        Run { workers: 4, connection: "warehouse-v2", ..run(228, 20, "SUCCEEDED", None) },
        Run { workers: 4, connection: "warehouse-v2", ..run(240, 20, "SUCCEEDED", None) },
        // Still failing when the backtest runs.
        Run { workers: 4, connection: "warehouse-v2", logs: false, ..run(288, 4, "FAILED", Some(TRANSIENT)) },
    ]
}

struct Seeded {
    moto: Moto,
    base: DateTime<Utc>,
    run_ids: Vec<String>,
}

fn at(base: DateTime<Utc>, hours: f64) -> DateTime<Utc> {
    base + Duration::seconds((hours * 3_600.0) as i64)
}

fn table_input(amount: &str, extra: Option<&str>, version_time: DateTime<Utc>) -> TableInput {
    let column = |name: &str, data_type: &str| Column::builder().name(name).r#type(data_type).build().unwrap();
    let mut descriptor = StorageDescriptor::builder()
        .columns(column("id", "bigint"))
        .columns(column("amount", amount))
        .location("s3://lake/sales/orders/");
    if let Some(name) = extra {
        descriptor = descriptor.columns(column(name, "string"));
    }
    TableInput::builder()
        .name("orders")
        .parameters("etl_medic.version_time", version_time.timestamp().to_string())
        .storage_descriptor(descriptor.build())
        .build()
        .unwrap()
}

/// The job, its runs placed in the past, the table's versions and the error logs.
async fn build_account() -> Seeded {
    let now = SystemClock.now();
    let base = now - Duration::days(20);
    let runs = history();
    let outcomes: Vec<serde_json::Value> = runs
        .iter()
        .map(|run| {
            let started = at(base, run.hour as f64);
            json!({"state": run.state, "error_message": run.message, "execution_time_s": run.minutes * 60,
                   "started_on": started.timestamp(), "completed_on": (started + Duration::minutes(run.minutes)).timestamp()})
        })
        .collect();
    let moto = Moto::start_with_glue_outcomes(&json!({JOB: outcomes}));
    let config = moto.sdk_config();
    let glue = aws_sdk_glue::Client::new(&config);
    glue.create_job()
        .name(JOB)
        .role("arn:aws:iam::123456789012:role/glue")
        .command(
            aws_sdk_glue::types::JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/orders.py")
                .build(),
        )
        .default_arguments("--source_path", "s3://lake/raw/orders/")
        .worker_type(aws_sdk_glue::types::WorkerType::G1X)
        .number_of_workers(2)
        .timeout(60)
        .execution_property(aws_sdk_glue::types::ExecutionProperty::builder().max_concurrent_runs(50).build())
        .send()
        .await
        .unwrap();
    let mut run_ids = Vec::new();
    for run in &runs {
        let day = at(base, run.hour as f64).format("%Y-%m-%d").to_string();
        let started = glue
            .start_job_run()
            .job_name(JOB)
            .arguments("--day", day)
            .arguments("--connection_name", run.connection)
            .worker_type(aws_sdk_glue::types::WorkerType::G1X)
            .number_of_workers(run.workers)
            .send()
            .await
            .unwrap();
        run_ids.push(started.job_run_id.unwrap());
    }
    glue.create_database()
        .database_input(DatabaseInput::builder().name("sales").build().unwrap())
        .send()
        .await
        .unwrap();
    glue.create_table()
        .database_name("sales")
        .table_input(table_input("double", None, base - Duration::days(30)))
        .send()
        .await
        .unwrap();
    for (amount, extra, hours) in [("string", None, 95.0), ("double", None, 101.0), ("double", Some("note"), 250.0)] {
        glue.update_table()
            .database_name("sales")
            .table_input(table_input(amount, extra, at(base, hours)))
            .send()
            .await
            .unwrap();
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    for group in [ERROR_GROUP, OUTPUT_GROUP] {
        logs.create_log_group().log_group_name(group).send().await.unwrap();
    }
    for (run, id) in runs.iter().zip(&run_ids).filter(|(run, _)| run.logs) {
        logs.create_log_stream().log_group_name(ERROR_GROUP).log_stream_name(id).send().await.unwrap();
        let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            // CloudWatch refuses events older than 14 days; the stream is what ties lines to the run.
            .timestamp(now.timestamp_millis() - 60_000)
            .message(run.message.unwrap_or_default())
            .build()
            .unwrap();
        logs.put_log_events().log_group_name(ERROR_GROUP).log_stream_name(id).log_events(event).send().await.unwrap();
    }
    moto.s3_setup_client().create_bucket().bucket("lake").send().await.unwrap();
    Seeded { moto, base, run_ids }
}

fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.backtest.retry_base_ms = 10;
    settings.backtest.max_attempts = 2;
    settings.jobs.insert(
        JOB.to_string(),
        JobSettings {
            tables: vec!["sales.orders".to_string()],
            risk_tier: None,
            max_workers: Some(40),
            input_arguments: None,
            sources: vec![],
        },
    );
    settings
}

fn policy() -> Policy {
    Policy::from_json(etl_medic::policy_source::SHIPPED_POLICY).unwrap()
}

fn out_dir(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-aws-backtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

/// From a day and a half after the base (two runs of history before it) to now.
fn options(account: &Seeded, out: &Path) -> BacktestOptions {
    BacktestOptions {
        window: WindowSpec::Range { from: at(account.base, 36.0), to: DateTime::<Utc>::MAX_UTC },
        jobs: JobGlob("orders_*".into()),
        out: out.to_path_buf(),
        experience: Some(out.join("experience.jsonl")),
    }
}

async fn backtest(
    account: &Seeded,
    proxy: &FaultProxy,
    out: &Path,
) -> Result<etl_medic::backtest::BacktestOutcome, etl_medic::backtest::BacktestError> {
    let connection = AwsConnection::for_endpoint(&ExplicitEndpoint::local(proxy.endpoint_url.clone()));
    let target = Account {
        ports: aws_backtest_ports(&connection),
        region: Some("us-east-1".into()),
        account_id: None,
        label: "moto".into(),
    };
    etl_medic::backtest::run(&options(account, out), target, settings(), policy(), SystemClock.now(), &Silent).await
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_backtest_reads_history_as_it_was_decides_as_decide_does_and_writes_nothing() {
    let account = build_account().await;
    let proxy = FaultProxy::start(account.moto.port, FaultPlan::none());
    let out = out_dir("history");
    let outcome = backtest(&account, &proxy, &out).await.expect("the backtest runs");

    // Only reads reached the emulator, each allowed by the printed policy.
    let allowed = iam::policy_actions(&iam::policy(&settings()));
    for seen in proxy.seen() {
        assert!(seen.forwarded);
        let action = match (seen.service.as_str(), seen.operation.as_str()) {
            ("s3", "s3:GET") => "s3:ListBucket".to_string(),
            (service, operation) => format!("{service}:{operation}"),
        };
        assert!(allowed.contains(&action), "{action} reached the emulator and is not in the read-only policy");
        assert!(iam::is_read_only(&action), "{action}");
    }

    let report = read_json(&out.join("report.json"));
    let incidents = report["incidents"].as_array().unwrap();
    let by_run: BTreeMap<&str, &serde_json::Value> =
        incidents.iter().map(|incident| (incident["run_id"].as_str().unwrap(), incident)).collect();
    let id = |index: usize| account.run_ids[index].as_str();
    assert_eq!(by_run.len(), 5, "every failure in the window, streaks as one: {:?}", by_run.keys());
    let fix = |index: usize| by_run[id(index)]["what_happened"]["fix"].as_str().unwrap();
    assert_eq!(fix(2), "capacity_raised");
    assert_eq!(fix(5), "schema_rolled_back");
    assert_eq!(fix(8), "next_run");
    assert_eq!(fix(10), "configuration_changed");
    assert_eq!(fix(14), "not_fixed");
    assert_eq!(by_run[id(10)]["later_failures"][0]["run_id"], id(11));
    assert_eq!(by_run[id(2)]["what_happened"]["fixed_by_run"], id(3));
    assert_eq!(by_run[id(2)]["what_happened"]["resolved_by"], "person");
    assert_eq!(by_run[id(8)]["what_happened"]["resolved_by"], "next_run");
    // From the end of the failed run (48 h + 12 min) to the end of the fix (54 h + 20 min).
    assert_eq!(by_run[id(2)]["observed_time_to_fix_s"], (6 * 3_600 + 8 * 60));
    assert_eq!(by_run[id(2)]["diagnosis"]["class"], "resource_exhaustion");
    assert_eq!(by_run[id(5)]["diagnosis"]["class"], "schema_drift");
    assert_eq!(by_run[id(5)]["what_happened"]["changes"]["tables"][0]["rolled_back_to"], "1");
    assert!(by_run[id(14)]["open_for_s"].as_u64().is_some());
    assert!(by_run[id(8)]["evidence"]["missing"][0].as_str().unwrap().starts_with("logs"));

    // The report adds up.
    let summary = &outcome.summary;
    assert_eq!(summary.overall.incidents, 5);
    assert_eq!(summary.overall.failures, 6);
    assert_eq!(summary.overall.open, 1);
    assert_eq!(report["summary"]["overall"]["failures"], 6);
    assert_eq!(summary.by_class.iter().map(|group| group.incidents).sum::<u64>(), 5);

    // Each request is the catalog and history as they were, and decides as `decide` does.
    let mut safety = settings();
    safety.safety.set_mode_everywhere(Mode::Shadow);
    let requests: Vec<DecideRequest> = std::fs::read_to_string(out.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(requests.len(), 6);
    for request in &requests {
        let run_id = request.event.detail_str("jobRunId").unwrap();
        let decision = decide(request, &policy(), &safety.safety, &request.fleet_context()).decision;
        if let Some(incident) = by_run.get(run_id) {
            assert_eq!(serde_json::to_value(&decision.action).unwrap(), incident["proposal"]["action"], "{run_id}");
        }
        let failed_at = DateTime::parse_from_rfc3339(request.event.time.as_deref().unwrap()).unwrap();
        for earlier in &request.history.recent_runs {
            let started = DateTime::parse_from_rfc3339(earlier.started_at.as_deref().unwrap()).unwrap();
            assert!(started <= failed_at, "{run_id}: a run started after the failure is in its history");
        }
    }
    let drift = requests.iter().find(|request| request.event.detail_str("jobRunId") == Some(id(5))).unwrap();
    let versions: Vec<&str> = drift.catalog[0].versions.iter().map(|version| version.version_id.as_str()).collect();
    assert_eq!(versions, vec!["2", "1"], "the versions as they were at the failure, not the rollback after it");
    let oom = requests.iter().find(|request| request.event.detail_str("jobRunId") == Some(id(2))).unwrap();
    assert_eq!(oom.logs.error, vec![OOM.to_string()]);
    assert_eq!(oom.history.recent_runs.len(), 2, "the two runs before it, nothing later");
    assert_eq!(oom.catalog[0].versions.len(), 1, "only version 1 existed then");

    let experience = std::fs::read_to_string(out.join("experience.jsonl")).unwrap();
    assert_eq!(experience.lines().count(), 6);
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn throttling_that_passes_changes_nothing_but_the_time() {
    let account = build_account().await;
    let calm_proxy = FaultProxy::start(account.moto.port, FaultPlan::none());
    let calm = backtest(&account, &calm_proxy, &out_dir("calm")).await.expect("unthrottled");
    let mut plan = FaultPlan::everywhere(0.4, 17);
    plan.faults = vec![Fault::Throttle];
    let proxy = FaultProxy::start(account.moto.port, plan);
    let throttled = backtest(&account, &proxy, &out_dir("throttled")).await.expect("throttled but finished");
    assert!(proxy.seen().iter().any(|seen| seen.fault == Some(Fault::Throttle)), "the proxy throttled some calls");
    assert_eq!(throttled.summary.overall, calm.summary.overall);
    for name in ["calm", "throttled"] {
        let _ = std::fs::remove_dir_all(out_dir(name));
    }
}

/// The binary against the proxy, as a user runs it (AWS settings from its environment).
fn run_binary(proxy: &FaultProxy, out: &Path) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_etl-medic"))
        .args(["backtest", "--since", "30d", "--out"])
        .arg(out)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ETL_MEDIC__BACKTEST__MAX_ATTEMPTS", "2")
        .env("ETL_MEDIC__BACKTEST__RETRY_BASE_MS", "10")
        .output()
        .expect("the binary runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn expired_credentials_and_endless_throttling_end_with_exit_1_a_clear_message_and_no_report() {
    let account = build_account().await;
    for (fault, expected) in
        [(Fault::ExpiredToken, "credentials are missing, expired or invalid"), (Fault::Throttle, "kept throttling")]
    {
        let mut plan = FaultPlan::everywhere(1.0, 3);
        plan.faults = vec![fault];
        let proxy = FaultProxy::start(account.moto.port, plan);
        let out = out_dir("refused");
        let (code, stderr) = tokio::task::spawn_blocking({
            let out = out.clone();
            move || run_binary(&proxy, &out)
        })
        .await
        .unwrap();
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!out.join("report.json").exists() && !out.join("report.md").exists(), "nothing half-written");
        let _ = std::fs::remove_dir_all(&out);
    }
}
