//! What one `decide` costs on hostile text, next to realistic logs: the
//! classifier's rule keywords packed into the 64 KiB an incident may carry
//! (as many short lines, as a few long ones, with a wide catalog drift whose
//! column names the text repeats), and keywords that open the rules' counted
//! gaps (`.{0,80}`) at irregular distances, new text for every decision as
//! an attacker would send it. Prints the shortest wall time of a few
//! decisions per shape. RELIABILITY.md ("Hostile input") quotes its output.
//!
//! `cargo run --release --example hostile_cost`

use std::time::{Duration, Instant};

use etl_medic::config::Settings;
use etl_medic::core::decide::decide;
use etl_medic::core::evidence::{DecideRequest, FleetContext};
use etl_medic::core::policy::Policy;
use serde_json::{Value, json};

const CORPORA: [&str; 4] = [
    include_str!("../tests/fixtures/glue_errors_dev.jsonl"),
    include_str!("../tests/fixtures/glue_errors_extra.jsonl"),
    include_str!("../tests/fixtures/glue_errors_blind.jsonl"),
    include_str!("../tests/fixtures/glue_errors_blind2.jsonl"),
];
/// Bytes of text an incident may carry (diagnosis/text.rs MAX_INCIDENT_BYTES).
const INCIDENT_BYTES: usize = 64 * 1024;
const RUNS: usize = 7;

/// The labelled real error texts: every one matches at least one rule.
fn keywords() -> Vec<String> {
    CORPORA
        .iter()
        .flat_map(|corpus| corpus.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record["text"].as_str().map(|text| text.replace('\n', " ")))
        .collect()
}

/// `total` bytes of keyword text cut into lines of `line_bytes`.
fn keyword_lines(keywords: &[String], total: usize, line_bytes: usize) -> Vec<String> {
    let joined: String = keywords.join(" ").chars().filter(char::is_ascii).collect();
    let mut text = String::with_capacity(total);
    while text.len() < total {
        text.push_str(&joined);
    }
    text.truncate(total);
    text.as_bytes().chunks(line_bytes).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect()
}

fn request(message: &str, error_lines: &[String], catalog: Value) -> DecideRequest {
    let value = json!({
        "id": "cost",
        "event": {"source": "aws.glue", "detail-type": "Glue Job State Change", "time": "2026-11-29T02:00:00Z",
                  "detail": {"jobName": "orders_daily", "state": "FAILED", "jobRunId": "jr_1", "message": message}},
        "job_run": {"id": "jr_1", "arguments": {"--source_path": "s3://lake/raw/orders/"}, "error_message": message,
                    "worker_type": "G.1X", "number_of_workers": 10},
        "logs": {"error": error_lines, "output": []},
        "catalog": catalog,
        "history": {"recent_runs": [{"state": "SUCCEEDED", "started_at": "2026-11-28T02:00:00Z"}]}
    });
    serde_json::from_value(value).unwrap_or_else(|error| panic!("a well-formed request: {error}"))
}

/// Two versions of a table: the newer one dropped `columns` columns whose
/// names the hostile text repeats, so every hit is searched for each.
fn wide_drift(columns: usize) -> (Value, Vec<String>) {
    let names: Vec<String> = (0..columns).map(|index| format!("col_{index}")).collect();
    let old: Vec<Value> = names.iter().map(|name| json!({"name": name, "type": "string"})).collect();
    let catalog = json!([{"database": "sales", "table": "orders", "versions": [
        {"version_id": "2", "updated_at": "2026-11-29T01:00:00Z", "columns": [{"name": "id", "type": "bigint"}]},
        {"version_id": "1", "updated_at": "2026-11-01T00:00:00Z", "columns": old}]}]);
    (catalog, names)
}

/// Words after which a rule allows a counted gap, spaced irregularly (a
/// fixed-seed generator: every run of the example sees the same text), in
/// lines of `line_bytes`; `seed` makes each decision's text new.
fn gap_openers(seed: u64, line_bytes: usize) -> Vec<String> {
    const OPENERS: [&str; 8] = [
        "load into table ",
        "cannot resolve ",
        "failed to connect to db:5432 ",
        "reference ",
        "partition ",
        "connection ",
        "can't extract value from ",
        "writer schema ",
    ];
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut text = String::with_capacity(INCIDENT_BYTES + 64);
    while text.len() < INCIDENT_BYTES {
        text.push_str(OPENERS[next() as usize % OPENERS.len()]);
        text.push_str(&"x".repeat(next() as usize % 31));
        text.push(' ');
    }
    text.truncate(INCIDENT_BYTES);
    text.as_bytes().chunks(line_bytes).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect()
}

/// A request of one shape, new for every run when the seed matters.
type Shape<'a> = Box<dyn Fn(u64) -> DecideRequest + 'a>;

/// The shortest of `RUNS` decisions, each on `shape(run)`: on a shared
/// machine the least disturbed run is the closest to the real cost.
fn shortest_time(shape: &dyn Fn(u64) -> DecideRequest, policy: &Policy, settings: &Settings) -> Duration {
    let fleet = FleetContext::default();
    let times: Vec<Duration> = (0..RUNS as u64)
        .map(|run| {
            let request = shape(run);
            let started = Instant::now();
            let outcome = decide(&request, policy, &settings.safety, &fleet);
            std::hint::black_box(outcome.decision.action.kind());
            started.elapsed()
        })
        .collect();
    times.into_iter().min().unwrap_or_default()
}

fn main() {
    let settings = Settings::default();
    let policy = Policy::rules();
    let keywords = keywords();
    let realistic: Vec<String> = keywords.iter().take(200).cloned().collect();
    let short_lines = keyword_lines(&keywords, INCIDENT_BYTES, 160);
    let long_lines = keyword_lines(&keywords, INCIDENT_BYTES, 8 * 1024);
    let (catalog, columns) = wide_drift(400);
    let named = keyword_lines(&keywords, INCIDENT_BYTES, 160)
        .into_iter()
        .zip(columns.iter().cycle())
        .map(|(line, column)| format!("{line} Parquet column cannot be converted. Column: [{column}]"))
        .collect::<Vec<_>>();
    let shapes: Vec<(&str, Shape<'_>)> = vec![
        (
            "realistic: 200 labelled error texts as log lines",
            Box::new(|_| request(&keywords[0], &realistic, json!([]))),
        ),
        ("64 KiB of rule keywords, 160-byte lines", Box::new(|_| request(&short_lines[0], &short_lines, json!([])))),
        ("64 KiB of rule keywords, 8 KiB lines", Box::new(|_| request(&long_lines[0], &long_lines, json!([])))),
        ("64 KiB of keywords naming 400 dropped columns", Box::new(|_| request(&named[0], &named, catalog.clone()))),
        (
            "64 KiB opening counted gaps, 8 KiB lines, new text each time",
            Box::new(|seed| {
                let lines = gap_openers(seed, 8 * 1024);
                request(&lines[0], &lines, json!([]))
            }),
        ),
        (
            "64 KiB opening counted gaps, 160-byte lines, new text each time",
            Box::new(|seed| {
                let lines = gap_openers(seed, 160);
                request(&lines[0], &lines, json!([]))
            }),
        ),
    ];
    for (name, shape) in &shapes {
        let sample = shape(0);
        let bytes: usize = sample.logs.error.iter().map(String::len).sum();
        let time = shortest_time(shape.as_ref(), &policy, &settings);
        println!("{name}: {} lines, {bytes} bytes: {:.2} ms per decision", sample.logs.error.len(), ms(time));
    }
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}
