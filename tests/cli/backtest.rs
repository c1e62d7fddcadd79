//! `etl-medic backtest` through the real binary: the demo account gives a
//! report with one command, every decision in it replays through `decide`,
//! the IAM policy it prints only reads, and bad usage exits 64 naming what
//! is wrong, with nothing written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

fn run(arguments: &[&str]) -> Output {
    Command::new(BINARY)
        .args(arguments)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ETL_MEDIC_CONFIG")
        .output()
        .expect("the binary runs")
}

fn out_dir(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-cli-backtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_demo_backtest_writes_a_report_whose_decisions_replay_through_decide() {
    let out = out_dir("demo");
    let output = run(&["backtest", "--demo", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("failed runs in") && stdout.contains("report.md"), "{stdout}");
    for file in ["report.json", "report.md", "time_to_fix.svg", "failures_by_class.svg", "requests.jsonl"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).expect("report.json parses");
    let proposals: std::collections::BTreeMap<String, serde_json::Value> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| (incident["incident_id"].as_str().unwrap().to_string(), incident["proposal"]["action"].clone()))
        .collect();
    assert!(!proposals.is_empty());
    let answers = decide_lines(&out.join("requests.jsonl"));
    let mut replayed = 0;
    for answer in answers {
        if let Some(recorded) = proposals.get(answer["id"].as_str().unwrap_or_default()) {
            assert_eq!(&answer["action"], recorded, "{}", answer["id"]);
            replayed += 1;
        }
    }
    assert_eq!(replayed, proposals.len(), "every incident's first decision replays");
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## By failure class") && markdown.contains("time_to_fix.svg"));
    let _ = std::fs::remove_dir_all(&out);
}

fn decide_lines(requests: &Path) -> Vec<serde_json::Value> {
    let input = std::fs::read(requests).unwrap();
    let mut child = Command::new(BINARY)
        .args(["decide", "--mode", "shadow"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ETL_MEDIC_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("decide starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn the_printed_iam_policy_only_reads() {
    let output = run(&["backtest", "--print-iam-policy"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON policy");
    let actions: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|statement| statement["Action"].as_array().unwrap().clone())
        .map(|action| action.as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"glue:GetJobRuns".to_string()), "{actions:?}");
    for action in &actions {
        let verb = action.split(':').nth(1).unwrap();
        assert!(["Get", "List", "Describe"].iter().any(|read| verb.starts_with(read)), "{action} is not a read");
    }
}

#[test]
fn bad_usage_exits_64_naming_what_is_wrong_and_writes_nothing() {
    let out = out_dir("usage");
    let dir = out.to_str().unwrap();
    for (arguments, expected) in [
        (vec!["backtest", "--demo", "--jobs", "payroll_*", "--out", dir], "no job matches"),
        (vec!["backtest", "--demo", "--from", "2026-11-10", "--to", "2026-11-09", "--out", dir], "empty"),
        (vec!["backtest", "--demo", "--since", "30", "--out", dir], "--since"),
        (vec!["backtest", "--demo", "--since", "3d", "--from", "2026-11-01", "--out", dir], "--from"),
        (vec!["backtest", "--demo"], "--out"),
        (vec!["backtest", "--demo", "--policy", "/nonexistent/policy.json", "--out", dir], "/nonexistent/policy.json"),
    ] {
        let output = run(&arguments);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{arguments:?}: {stderr}");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
        assert!(!out.join("report.json").exists(), "{arguments:?} wrote a report");
    }
    let _ = std::fs::remove_dir_all(&out);
}
