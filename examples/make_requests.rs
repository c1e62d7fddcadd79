//! Writes N `decide` requests (JSON lines) to stdout for throughput runs:
//! the sample incidents of `examples/incidents.jsonl`, cycled, each with its
//! own id, job name and run id so no two lines are identical.
//!
//! `cargo run --release --example make_requests -- 100000 > /tmp/requests.jsonl`

use std::io::Write;

const TEMPLATES: &str = include_str!("incidents.jsonl");

fn main() -> std::io::Result<()> {
    let count: usize = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(100_000);
    let templates: Vec<serde_json::Value> =
        TEMPLATES.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    if templates.is_empty() {
        return Err(std::io::Error::other("examples/incidents.jsonl has no requests"));
    }
    let stdout = std::io::stdout();
    let mut writer = std::io::BufWriter::new(stdout.lock());
    for index in 0..count {
        let mut request = templates[index % templates.len()].clone();
        request["id"] = serde_json::json!(format!("req-{index}"));
        let job_name = format!("job_{:04}", index % 1000);
        request["event"]["detail"]["jobName"] = serde_json::json!(job_name);
        request["event"]["detail"]["jobRunId"] = serde_json::json!(format!("jr_{index:064x}"));
        request["history"]["attempt"] = serde_json::json!(index % 3);
        serde_json::to_writer(&mut writer, &request)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}
