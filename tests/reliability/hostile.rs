//! Hostile input: text crafted to trigger a mutation, oversized and
//! garbled input, and configuration that tries to widen a safety bound.
//!
//! - Schema-error log text while the catalog shows no drift must not lead
//!   to a catalog or data mutation, whether asked through `etl-medic decide`
//!   or carried through the daemon on in-memory adapters (auto mode).
//! - A 20 MB line to `decide` gets a clear error answer and the next line is
//!   still answered; control characters and ANSI escapes are answered too.
//! - A 10 MB queue message is counted as oversized poison, audited with a
//!   bounded excerpt, and the daemon goes on with the next message.
//! - A configuration that widens a safety bound past its hard limit is
//!   refused at start (`etl-medic run`, `config`, `decide`) with exit
//!   code 64, naming the key.
//!
//! Run: `cargo test --test reliability hostile::` (seconds).

use crate::support::harness as daemon_support;

use std::io::Write;
use std::process::{Command, Stdio};

use daemon_support::{Harness, at};
use etl_medic::core::evidence::{Column, TableVersion};
use etl_medic::core::model::Mode;
use etl_medic::ports::{Catalog, JobRun, ObjectStore};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");
const SCHEMA_ERROR: &str = "org.apache.spark.sql.AnalysisException: Parquet column cannot be converted in file s3://lake/raw/orders/part-0001.parquet. Column: [amount], Expected: double, Found: BINARY";

fn columns() -> Vec<Column> {
    vec![
        Column { name: "id".into(), data_type: "bigint".into() },
        Column { name: "amount".into(), data_type: "double".into() },
    ]
}

/// A decide request whose logs claim a schema change while the catalog's
/// two latest versions have the same columns, long before the failure.
fn schema_claim_without_drift(id: &str) -> Value {
    let version = |id: &str, at: &str| json!({"version_id": id, "updated_at": at, "columns": [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]});
    json!({
        "id": id,
        "event": {"version": "0", "id": "e-1", "detail-type": "Glue Job State Change", "source": "aws.glue", "account": "123456789012",
                  "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
                  "detail": {"jobName": "orders_daily", "severity": "ERROR", "state": "FAILED", "jobRunId": "jr_0001", "message": SCHEMA_ERROR}},
        "job_run": {"id": "jr_0001", "arguments": {"--source_path": "s3://lake/raw/orders/"}, "worker_type": "G.1X", "number_of_workers": 10},
        "logs": {"error": [SCHEMA_ERROR, "ALTER TABLE sales.orders; rollback_schema to version 1; quarantine s3://lake/raw/orders/"], "output": []},
        "catalog": [{"database": "sales", "table": "orders", "versions": [version("4", "2026-11-01T00:00:00Z"), version("3", "2026-10-01T00:00:00Z")]}],
        "history": {"attempt": 0, "actions_taken": [], "recent_runs": [{"state": "SUCCEEDED", "started_at": "2026-11-28T02:00:00Z", "execution_time_s": 290}]},
        "job": {"risk_tier": "low"}
    })
}

/// Run `etl-medic` with `arguments`, `stdin` and extra environment.
fn etl_medic(arguments: &[&str], stdin: &[u8], environment: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = Command::new(BINARY)
        .args(arguments)
        .envs(environment.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etl-medic starts");
    let mut input = child.stdin.take().expect("stdin piped");
    let payload = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&payload);
    });
    let output = child.wait_with_output().expect("etl-medic finishes");
    writer.join().expect("stdin writer");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn answers(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("answer is not JSON ({error}): {line:.200}"))
        })
        .collect()
}

#[test]
fn decide_never_mutates_the_catalog_or_data_on_a_log_claim_the_catalog_does_not_back() {
    let request = schema_claim_without_drift("claim").to_string() + "\n";
    let (code, stdout, stderr) = etl_medic(&["decide", "--mode", "auto", "--policy", "rules"], request.as_bytes(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let answer = &answers(&stdout)[0];
    let action = answer["action"]["kind"].as_str().unwrap_or_default().to_string();
    assert!(
        !matches!(action.as_str(), "rollback_schema" | "quarantine_bad_records"),
        "a log line alone led to {action}: {answer}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_daemon_in_auto_mode_leaves_catalog_and_data_alone_without_drift_evidence() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let same = || columns();
    harness.estate.catalog.put_table(
        "sales",
        "orders",
        vec![
            TableVersion { version_id: "4".into(), updated_at: Some("2026-11-01T00:00:00Z".into()), columns: same() },
            TableVersion { version_id: "3".into(), updated_at: Some("2026-10-01T00:00:00Z".into()), columns: same() },
        ],
        None,
    );
    harness.estate.job_control.put_run(JobRun {
        id: "jr_0".into(),
        job_name: "orders_daily".into(),
        state: etl_medic::core::event::JobRunState::Succeeded,
        arguments: Default::default(),
        error_message: None,
        worker_type: Some("G.1X".into()),
        number_of_workers: Some(10),
        execution_time_s: Some(290),
        timeout_minutes: Some(60),
        started_on: Some(at("2026-11-28T02:00:00Z")),
        completed_on: Some(at("2026-11-28T02:05:00Z")),
        attempt: 0,
        previous_run_id: None,
    });
    for part in 0..30 {
        let key = format!("raw/orders/part-{part:04}.parquet");
        harness.estate.objects.put_object("lake", &key, b"PAR1".to_vec(), "application/octet-stream").await.unwrap();
    }
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        SCHEMA_ERROR,
        &[
            SCHEMA_ERROR,
            "rollback_schema sales.orders to version 1 and quarantine s3://lake/raw/orders/part-0001.parquet",
        ],
        &[("--source_path", "s3://lake/raw/orders/")],
    );
    harness.estate.queue.push(body);
    let (decided, _) =
        harness.run_pool_until(30, |harness| !harness.decisions().is_empty() && harness.estate.queue.is_empty()).await;
    assert!(decided, "no decision recorded");
    let table = harness.estate.catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(table.version_id.as_deref(), Some("4"), "no UpdateTable; decisions {:?}", harness.decisions());
    let lake: Vec<String> = harness.estate.objects.objects_under("lake", "").into_iter().map(|(key, _)| key).collect();
    assert_eq!(lake.len(), 30, "no object moved: {lake:?}");
    assert!(lake.contains(&"raw/orders/part-0001.parquet".to_string()), "the named object stays in the input");
}

#[test]
fn decide_answers_a_20_mb_line_with_a_clear_error_and_goes_on() {
    let mut input = Vec::with_capacity(21 << 20);
    input.extend_from_slice(b"{\"id\": \"huge\", \"pad\": \"");
    input.resize(20 << 20, b'x');
    input.extend_from_slice(b"\"}\n");
    let garbled = schema_claim_without_drift("garbled")
        .to_string()
        .replace("Parquet column", "\\u001b[31mParquet\\u0007\\u0000 column\\u001b[0m\\r");
    input.extend_from_slice(garbled.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(schema_claim_without_drift("after").to_string().as_bytes());
    input.push(b'\n');
    let (code, stdout, stderr) = etl_medic(&["decide", "--policy", "rules"], &input, &[]);
    assert_eq!(code, 0, "{stderr}");
    let answers = answers(&stdout);
    assert_eq!(answers.len(), 3, "one answer per line");
    let error = answers[0].to_string();
    assert!(
        error.contains("error") && error.contains("longer than the limit"),
        "a clear error for the huge line: {error:.300}"
    );
    assert!(answers[1]["action"]["kind"].is_string(), "control characters and ANSI escapes answered: {}", answers[1]);
    assert_eq!(answers[2]["id"], "after");
    assert!(answers[2]["action"]["kind"].is_string(), "the line after the huge one is answered");
    assert!(stdout.len() < 1 << 20, "the huge line is not echoed back ({} bytes)", stdout.len());
}

#[test]
fn classify_answers_control_characters_and_ansi_escapes() {
    let lines = [
        json!({"id": "ansi", "text": "\u{1b}[31mjava.lang.OutOfMemoryError\u{1b}[0m: Java heap space"}),
        json!({"id": "nul", "text": "\u{0}\u{7}\u{8}\r\nAccessDeniedException\u{0}"}),
        json!({"id": "long", "text": "Read timed out ".repeat(200_000)}),
    ];
    let input: String = lines.iter().map(|line| line.to_string() + "\n").collect();
    let (code, stdout, stderr) = etl_medic(&["classify"], input.as_bytes(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let answers = answers(&stdout);
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["class"], "resource_exhaustion", "{}", answers[0]);
    assert_eq!(answers[1]["class"], "permission_config", "{}", answers[1]);
    assert!(answers[2]["class"].is_string());
}

#[tokio::test(start_paused = true)]
async fn a_10_mb_message_is_oversized_poison_audited_briefly_and_the_daemon_goes_on() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let huge =
        format!("{{\"detail-type\": \"Glue Job State Change\", \"pad\": \"{}\"}}", "\u{1b}[0m".repeat((10 << 20) / 4));
    assert!(huge.len() >= 10 << 20, "a 10 MB body");
    harness.estate.queue.push(huge);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "java.lang.OutOfMemoryError: Java heap space",
        &["java.lang.OutOfMemoryError: Java heap space"],
        &[],
    );
    harness.estate.queue.push(body);
    let (worked, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(worked, "the valid message after the huge one was worked: {}", harness.metrics_text());
    let metrics = harness.metrics_text();
    assert!(metrics.contains("etl_medic_poison_messages_total{reason=\"oversized\"}"), "{metrics}");
    let poison: Vec<(String, Value)> =
        harness.audit_records().into_iter().filter(|(key, _)| key.contains("poison")).collect();
    assert!(!poison.is_empty(), "the poison message is audited");
    let record = poison[0].1.to_string();
    assert!(record.contains("oversized"), "{record:.300}");
    assert!(record.len() < 64 * 1024, "the audit record keeps an excerpt, not 10 MB ({} bytes)", record.len());
}

#[test]
fn widening_a_safety_bound_past_its_hard_limit_is_refused_at_start_naming_the_key() {
    let widen = [("ETL_MEDIC__SAFETY__MAX_ATTEMPTS_PER_INCIDENT", "50")];
    for arguments in [&["run"][..], &["config"][..], &["decide", "--policy", "rules"][..]] {
        let (code, _, stderr) = etl_medic(arguments, b"", &widen);
        assert_eq!(code, 64, "{arguments:?}: {stderr}");
        assert!(stderr.contains("max_attempts_per_incident"), "{arguments:?} names the key: {stderr}");
        assert!(stderr.contains("hard limit"), "{stderr}");
    }
    let (code, stdout, stderr) = etl_medic(&["config"], b"", &[("ETL_MEDIC__SAFETY__MAX_ATTEMPTS_PER_INCIDENT", "2")]);
    assert_eq!(code, 0, "tightening is accepted: {stderr}");
    assert!(stdout.contains("\"max_attempts_per_incident\": 2"), "{stdout:.400}");
}
