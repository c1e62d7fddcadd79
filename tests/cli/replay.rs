//! `etl-medic replay` over an audit trail laid out as docs/audit-layout.md
//! says: every recorded decision is re-decided; the same policy and settings
//! give the same final action, and a tightened safety setting shows up as a
//! changed decision.

use std::path::Path;
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

fn decide(input: &str, arguments: &[&str]) -> Vec<serde_json::Value> {
    let mut child = Command::new(BINARY)
        .arg("decide")
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("binary ends");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect()
}

/// Write request and decision records for every sample incident, as the daemon does.
fn write_audit_trail(directory: &Path) -> usize {
    let incidents =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/incidents.jsonl")).expect("examples");
    let decisions = decide(&incidents, &["--policy", "rules", "--mode", "auto"]);
    for (request_line, decision) in incidents.lines().zip(&decisions) {
        let request: serde_json::Value = serde_json::from_str(request_line).expect("request");
        let job = request["event"]["detail"]["jobName"].as_str().expect("job");
        let run = request["event"]["detail"]["jobRunId"].as_str().expect("run");
        let folder = directory.join("audit/2026/11/29").join(job).join(run);
        std::fs::create_dir_all(&folder).expect("folder");
        for (seq, stage, body) in [(1, "request", &request), (2, "decision", decision)] {
            let record = serde_json::json!({
                "schema": "etl-medic-audit/1", "incident_id": format!("{job}/{run}"), "job_name": job,
                "failed_run_id": run, "run_id": run, "stage": stage, "seq": seq,
                "at": "2026-11-29T02:05:00Z", "body": body,
            });
            std::fs::write(folder.join(format!("{seq:03}-{stage}.json")), record.to_string()).expect("record");
        }
    }
    std::fs::write(directory.join("audit/stray.json"), "not json").expect("stray");
    decisions.len()
}

/// (exit code, answer lines, stderr) of `replay DIRECTORY ARGUMENTS`.
fn replay_status(directory: &Path, arguments: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let output = Command::new(BINARY).arg("replay").arg(directory).args(arguments).output().expect("binary runs");
    let lines = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    (output.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn replay(directory: &Path, arguments: &[&str]) -> (Vec<serde_json::Value>, String) {
    let output = Command::new(BINARY).arg("replay").arg(directory).args(arguments).output().expect("binary runs");
    let lines = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    (lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn replay_with_the_same_policy_changes_nothing_and_a_tighter_allowlist_shows() {
    let directory = std::env::temp_dir().join(format!("etl-medic-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let recorded = write_audit_trail(&directory);

    let (same, summary) = replay(&directory, &["--policy", "rules", "--mode", "auto"]);
    assert_eq!(same.len(), recorded);
    assert!(same.iter().all(|line| line["changed"] == false), "{same:?}");
    assert!(same.iter().all(|line| line["recorded"] == line["replayed"]), "{same:?}");
    assert!(
        summary.contains(&format!("{recorded} decisions, 0 with a different final action, 1 files unreadable")),
        "{summary}"
    );
    assert!(summary.contains("stray.json (not JSON)"), "the unreadable file is named: {summary}");
    let (code, _, _) = replay_status(&directory, &["--policy", "rules", "--mode", "auto"]);
    assert_eq!(code, 1, "an unreadable file is not a success");

    let config = directory.join("no-rollback.toml");
    std::fs::write(&config, "[safety.allowlist]\nschema_drift = [\"log_and_wait\"]\n").expect("config");
    let (tightened, _) =
        replay(&directory, &["--policy", "rules", "--mode", "auto", "--config", config.to_str().expect("path")]);
    let changed: Vec<&serde_json::Value> = tightened.iter().filter(|line| line["changed"] == true).collect();
    assert_eq!(changed.len(), 1, "{tightened:?}");
    assert_eq!(changed[0]["incident_id"], "orders_daily/jr_0001");
    assert_eq!(changed[0]["recorded"]["final"], "rollback_schema");
    assert_eq!(changed[0]["replayed"]["rule"], "class_allowlist");
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn replay_on_nothing_is_an_error_that_says_what_to_give_it() {
    let empty = std::env::temp_dir().join(format!("etl-medic-replay-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("empty dir");
    let (code, lines, stderr) = replay_status(&empty, &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(lines.is_empty());
    assert!(stderr.contains("no recorded decision") && stderr.contains("--audit-dir"), "{stderr}");
    let (code, _, stderr) = replay_status(&empty.join("missing"), &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn the_demo_audit_trail_replays_to_the_same_decisions() {
    let directory = std::env::temp_dir().join(format!("etl-medic-replay-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let demo = Command::new(BINARY)
        .args(["demo", "--incidents", "4", "--speedup", "12000", "--policy", "rules", "--audit-dir"])
        .arg(&directory)
        .output()
        .expect("demo runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let (code, lines, stderr) = replay_status(&directory, &["--policy", "rules", "--mode", "auto"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(lines.len() >= 4, "{stderr}");
    assert!(lines.iter().all(|line| line["changed"] == false), "{lines:?}");
    let _ = std::fs::remove_dir_all(&directory);
}
