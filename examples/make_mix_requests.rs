//! Writes N realistic `decide` requests (JSON lines, about 2.4 KB each) to
//! stdout, for the mixed throughput bench (`benches/decide_mix.sh`).
//!
//! `make_requests` reuses six sample incidents of about 1 KB; a real request
//! is larger and noisier. Each request here carries one of the labelled real
//! messages of `tests/fixtures/` (some 800, chosen per line and varied: its
//! numbers are shifted, so no two lines repeat a text), as the JobRun error
//! message and as the last error-log line after a Spark ERROR line, four
//! ordinary INFO/WARN lines of a Glue run in the output log, one catalog table
//! with two versions (a type change in one request of four), five earlier
//! runs with their execution times, the run's own timing and arguments.
//! Deterministic: the same N gives the same bytes.
//!
//! `cargo run --release --example make_mix_requests -- 100000 > /tmp/mix.jsonl`

use std::io::Write;

use serde_json::{Value, json};

const CORPORA: [&str; 5] = [
    include_str!("../tests/fixtures/glue_errors_public_dev.jsonl"),
    include_str!("../tests/fixtures/glue_errors_dev.jsonl"),
    include_str!("../tests/fixtures/glue_errors_extra.jsonl"),
    include_str!("../tests/fixtures/glue_errors_blind.jsonl"),
    include_str!("../tests/fixtures/glue_errors_blind2.jsonl"),
];

const OUTPUT_LINES: [&str; 12] = [
    "INFO GlueContext: GlueMetrics configured and enabled",
    "INFO SparkContext: Running Spark version 3.3.0-amzn-1",
    "INFO ResourceUtils: ==============================================================",
    "INFO Utils: Successfully started service 'sparkDriver' on port 38{n}.",
    "INFO BlockManagerMasterEndpoint: Registering block manager 172.34.{n}.12:40{n} with 5.8 GiB RAM",
    "WARN MetricsConfig: Cannot locate configuration: tried hadoop-metrics2-s3a-file-system.properties",
    "INFO ExecutorAllocationManager: Requesting {n} new executors because tasks are backlogged",
    "INFO S3NativeFileSystem: Opening 's3://lake/raw/orders/dt=2026-11-{n}/part-000{n}.snappy.parquet' for reading",
    "WARN ExecutorAllocationManager: Dynamic allocation without a shuffle service is an experimental feature.",
    "INFO DAGScheduler: Submitting 200 missing tasks from ResultStage {n} (MapPartitionsRDD[{n}] at save)",
    "INFO TaskSetManager: Finished task {n}.0 in stage 3.0 (TID 1{n}) in 2{n} ms on 172.34.5.12 (executor 4)",
    "INFO GlueLogger: processed {n}000 records from the source",
];

fn messages() -> Vec<String> {
    CORPORA
        .iter()
        .flat_map(|corpus| corpus.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record["text"].as_str().map(str::to_string))
        .collect()
}

/// Shift every digit run by `salt`, so the same message never repeats byte for byte.
fn vary(text: &str, salt: usize) -> String {
    let mut varied = String::with_capacity(text.len() + 8);
    let mut digits = String::new();
    let flush = |digits: &mut String, varied: &mut String| {
        if !digits.is_empty() {
            let value: u64 = digits.parse().unwrap_or(0);
            let shifted = if digits.len() <= 2 { value } else { value.wrapping_add(salt as u64) };
            varied.push_str(&shifted.to_string());
            digits.clear();
        }
    };
    for character in text.chars() {
        if character.is_ascii_digit() && digits.len() < 18 {
            digits.push(character);
        } else {
            flush(&mut digits, &mut varied);
            varied.push(character);
        }
    }
    flush(&mut digits, &mut varied);
    varied
}

fn columns(changed: bool) -> Value {
    json!([
        {"name": "order_id", "type": "bigint"},
        {"name": "customer_id", "type": "bigint"},
        {"name": "amount", "type": if changed { "string" } else { "decimal(12,2)" }},
        {"name": "created_at", "type": "timestamp"}
    ])
}

fn request(index: usize, text: &str) -> Value {
    let n = index % 97;
    let risk_tier = ["low", "medium", "high"][index % 3];
    let usual_s = 600 + (index % 7) as u64 * 60;
    let output: Vec<String> = (0..4)
        .map(|line| OUTPUT_LINES[(index + line * 5) % OUTPUT_LINES.len()].replace("{n}", &n.to_string()))
        .collect();
    let history: Vec<Value> = (0..5)
        .map(|run| {
            json!({"state": if run == 2 && index.is_multiple_of(5) { "FAILED" } else { "SUCCEEDED" },
                   "started_at": format!("2026-11-{:02}T02:00:00Z", 28 - run),
                   "execution_time_s": usual_s + run as u64 * 13})
        })
        .collect();
    json!({
        "id": format!("mix-{index}"),
        "event": {"version": "0", "id": format!("evt-{index:08x}"), "detail-type": "Glue Job State Change",
                  "source": "aws.glue", "account": "123456789012", "time": "2026-11-29T02:00:00Z",
                  "region": "us-east-1", "resources": [],
                  "detail": {"jobName": format!("job_{:04}", index % 1000), "severity": "ERROR", "state": "FAILED",
                             "jobRunId": format!("jr_{index:064x}"), "message": text}},
        "job_run": {"id": format!("jr_{index:064x}"),
                    "arguments": {"--source_path": "s3://lake/raw/orders/", "--enable-metrics": "true"},
                    "error_message": text, "worker_type": "G.1X", "number_of_workers": 10,
                    "execution_time_s": (index as u64 * 37) % (usual_s * 2), "timeout_minutes": 120},
        "logs": {"error": [format!("26/11/29 02:{:02}:11 ERROR ApplicationMaster: User application exited with status 1", n % 60),
                           text],
                 "output": output},
        "catalog": [{"database": "sales", "table": "orders", "versions": [
            {"version_id": "7", "updated_at": "2026-11-28T23:10:00Z", "columns": columns(index.is_multiple_of(4))},
            {"version_id": "6", "updated_at": "2026-11-20T09:00:00Z", "columns": columns(false)}]}],
        "history": {"attempt": index % 3, "actions_taken": [], "recent_runs": history},
        "job": {"risk_tier": risk_tier, "max_workers": 40},
        "context": {"source_last_modified_age_s": 1800 + (index % 11) as u64 * 600}
    })
}

fn main() -> std::io::Result<()> {
    let count: usize = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(100_000);
    let texts = messages();
    if texts.is_empty() {
        return Err(std::io::Error::other("no labelled messages to build requests from"));
    }
    let stdout = std::io::stdout();
    let mut writer = std::io::BufWriter::new(stdout.lock());
    for index in 0..count {
        let text = vary(&texts[(index * 7919) % texts.len()], index);
        serde_json::to_writer(&mut writer, &request(index, &text))?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}
