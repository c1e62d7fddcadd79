//! Writes N `decide` requests (JSON lines) to stdout for throughput runs.
//! Each request takes one of the sample incidents of `examples/incidents.jsonl`
//! as its shape (catalog versions, history, job profile) and one of the
//! labelled real error messages of `tests/fixtures/` as its error text, in
//! the JobRun error message and the error log, so the classifier sees the
//! variety of a real estate rather than six strings over and over. Ids, job
//! names, run ids, attempt numbers and executor numbers vary per line.
//!
//! `cargo run --release --example make_requests -- 100000 > /tmp/requests.jsonl`

use std::io::Write;

const TEMPLATES: &str = include_str!("incidents.jsonl");
const DEV_MESSAGES: &str = include_str!("../tests/fixtures/glue_errors_dev.jsonl");
const EXTRA_MESSAGES: &str = include_str!("../tests/fixtures/glue_errors_extra.jsonl");

fn messages() -> Vec<String> {
    DEV_MESSAGES
        .lines()
        .chain(EXTRA_MESSAGES.lines())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| record["text"].as_str().map(str::to_string))
        .collect()
}

fn main() -> std::io::Result<()> {
    let count: usize = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(100_000);
    let templates: Vec<serde_json::Value> =
        TEMPLATES.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let texts = messages();
    if templates.is_empty() || texts.is_empty() {
        return Err(std::io::Error::other("no sample incidents or messages to build requests from"));
    }
    let stdout = std::io::stdout();
    let mut writer = std::io::BufWriter::new(stdout.lock());
    for index in 0..count {
        let mut request = templates[index % templates.len()].clone();
        // Every third request keeps its template's own text, so the typed
        // shapes (drift, OOM, late source) stay represented.
        if index % 3 != 0 {
            let text = texts[(index * 7) % texts.len()].replace("38", &(index % 97).to_string());
            request["event"]["detail"]["message"] = serde_json::json!(text);
            if request["job_run"].is_object() {
                request["job_run"]["error_message"] = serde_json::json!(text);
            }
            request["logs"] = serde_json::json!({"error": [text], "output": []});
        }
        request["id"] = serde_json::json!(format!("req-{index}"));
        request["event"]["detail"]["jobName"] = serde_json::json!(format!("job_{:04}", index % 1000));
        request["event"]["detail"]["jobRunId"] = serde_json::json!(format!("jr_{index:064x}"));
        request["history"]["attempt"] = serde_json::json!(index % 3);
        serde_json::to_writer(&mut writer, &request)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}
