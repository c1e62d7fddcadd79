//! The JSON-lines contract of `classify` and `decide` (spec/decide.md),
//! exercised through the real binary: one answer per line, in order,
//! flushed per line so a caller can converse over a pipe, errors per line,
//! exit code 0 unless the stream fails; and exit code 64 with the offending
//! key named on bad usage or configuration.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");
const CLASSES: &[&str] = &[
    "transient_infra",
    "resource_exhaustion",
    "schema_drift",
    "data_quality",
    "source_unavailable",
    "permission_config",
    "code_bug",
    "timeout",
    "unknown",
];
const ACTIONS: &[&str] = &[
    "retry",
    "wait_and_retry",
    "retry_with_more_capacity",
    "rollback_schema",
    "quarantine_bad_records",
    "escalate",
    "log_and_wait",
];

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))).expect("example file")
}

/// Run the binary with `input` on stdin and extra environment; returns (exit code, stdout lines, stderr).
fn run(arguments: &[&str], input: &str, environment: &[(&str, &str)]) -> (i32, Vec<serde_json::Value>, String) {
    let mut command = Command::new(BINARY);
    command.args(arguments).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, value) in environment {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input_owned = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input_owned.as_bytes());
    });
    let output = child.wait_with_output().expect("binary ends");
    writer.join().expect("writer thread");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("answer is not JSON ({error}): {line}")))
        .collect();
    (output.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn failure_event(state: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "ev-1", "detail-type": "Glue Job State Change", "source": "aws.glue",
        "account": "123456789012", "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"jobName": "orders_daily", "severity": "ERROR", "state": state,
                   "jobRunId": "jr_1", "message": "java.lang.OutOfMemoryError: Java heap space"}
    })
}

#[test]
fn classify_answers_every_line_in_order_with_a_known_class() {
    let input = format!("{}{{\"id\":\"bad\"}}\nnot json\n", example("messages.jsonl"));
    let (code, answers, _) = run(&["classify"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), 5);
    for (index, answer) in answers.iter().take(3).enumerate() {
        assert_eq!(answer["id"], format!("m{}", index + 1));
        assert!(CLASSES.contains(&answer["class"].as_str().expect("class")), "{answer}");
        let confidence = answer["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&confidence), "{answer}");
        assert!(answer["signals"].is_array());
    }
    assert_eq!(answers[3]["id"], "bad");
    assert!(answers[3]["error"].as_str().expect("error").contains("text"), "{}", answers[3]);
    assert_eq!(answers[4]["id"], serde_json::Value::Null);
    assert!(answers[4]["error"].is_string());
}

#[test]
fn decide_answers_every_example_with_the_full_decision_shape() {
    let (code, answers, _) = run(&["decide"], &example("incidents.jsonl"), &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), example("incidents.jsonl").lines().count());
    for answer in &answers {
        assert!(answer["id"].as_str().expect("id").starts_with("inc-"));
        assert!(CLASSES.contains(&answer["diagnosis"]["class"].as_str().expect("class")), "{answer}");
        assert!(answer["diagnosis"]["signals"].is_array());
        assert!(answer["state"].is_string());
        assert!(answer["policy"]["version"].is_string());
        assert!(ACTIONS.contains(&answer["policy"]["proposed"].as_str().expect("proposed")), "{answer}");
        assert!(answer["policy"]["q_values"].is_object());
        let verdict = answer["safety"]["verdict"].as_str().expect("verdict");
        assert!(verdict == "allowed" || verdict == "replaced", "{answer}");
        assert!(answer["safety"].get("rule").is_some(), "rule is present, null when allowed");
        let final_kind = answer["safety"]["final"].as_str().expect("final");
        assert_eq!(answer["action"]["kind"], final_kind);
        assert!(answer["action"]["params"].is_object());
        assert_eq!(answer["mode"], "shadow", "shadow is the default");
    }
}

#[test]
fn decide_mode_flag_and_environment_select_auto() {
    let (_, from_flag, _) = run(&["decide", "--mode", "auto"], &example("incidents.jsonl"), &[]);
    assert!(from_flag.iter().all(|answer| answer["mode"] == "auto"));
    let (_, from_env, _) = run(&["decide"], &example("incidents.jsonl"), &[("ETL_MEDIC__SAFETY__MODE", "auto")]);
    assert!(from_env.iter().all(|answer| answer["mode"] == "auto"));
}

#[test]
fn decide_is_deterministic() {
    let input = example("incidents.jsonl");
    let (_, first, _) = run(&["decide", "--mode", "auto"], &input, &[]);
    let (_, second, _) = run(&["decide", "--mode", "auto"], &input, &[]);
    assert_eq!(first, second);
}

#[test]
fn decide_needs_only_the_event_and_tolerates_unknown_fields() {
    let minimal = serde_json::json!({"id": 7, "event": failure_event("FAILED"), "something_new": {"x": 1}});
    let nulls = serde_json::json!({"id": 8, "event": failure_event("FAILED"), "job_run": null, "logs": {"error": []},
                                   "history": {"attempt": 2}, "job": {}, "context": {}});
    let input = format!("{minimal}\n{nulls}\n");
    let (code, answers, _) = run(&["decide"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers[0]["id"], 7);
    assert!(answers[0]["action"]["kind"].is_string(), "{}", answers[0]);
    assert_eq!(answers[1]["id"], 8);
    assert!(answers[1]["action"]["kind"].is_string(), "{}", answers[1]);
}

#[test]
fn decide_reports_bad_lines_and_ignored_events_and_goes_on() {
    let succeeded = serde_json::json!({"id": "ok", "event": failure_event("SUCCEEDED")});
    let no_event = serde_json::json!({"id": "no-event"});
    let wrong_type = serde_json::json!({"id": "wrong", "event": failure_event("FAILED"), "history": {"attempt": "two"}});
    let good = serde_json::json!({"id": "good", "event": failure_event("TIMEOUT")});
    let input = format!("{succeeded}\n{no_event}\n{{broken\n{wrong_type}\n{good}\n");
    let (code, answers, stderr) = run(&["decide"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), 5);
    assert_eq!(answers[0]["id"], "ok");
    assert!(answers[0]["ignored"].as_str().expect("ignored").contains("SUCCEEDED"));
    assert_eq!(answers[1]["id"], "no-event");
    assert!(answers[1]["error"].as_str().expect("error").contains("event"), "{}", answers[1]);
    assert!(answers[2]["error"].is_string());
    assert_eq!(answers[3]["id"], "wrong");
    assert!(answers[3]["error"].as_str().expect("error").contains("attempt"), "{}", answers[3]);
    assert_eq!(answers[4]["id"], "good");
    assert!(answers[4]["action"].is_object());
    assert!(stderr.contains("3 answered with an error"), "{stderr}");
}

#[test]
fn decide_holds_a_conversation_over_a_pipe() {
    let mut child = Command::new(BINARY)
        .args(["decide", "--policy", "rules"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for turn in 0..3 {
        let request = serde_json::json!({"id": turn, "event": failure_event("FAILED")});
        writeln!(stdin, "{request}").expect("write request");
        stdin.flush().expect("flush request");
        // The answer must arrive while stdin is still open: that is the flush-per-line promise.
        let mut answer = String::new();
        stdout.read_line(&mut answer).expect("read answer");
        let parsed: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
        assert_eq!(parsed["id"], turn);
    }
    drop(stdin);
    assert!(child.wait().expect("exit").success());
}

#[test]
fn rules_policy_says_it_is_the_rules_baseline() {
    let (_, answers, _) = run(&["decide", "--policy", "rules"], &example("incidents.jsonl"), &[]);
    for answer in answers {
        assert!(answer["policy"]["note"].as_str().expect("note").contains("rules"), "{answer}");
    }
}

#[test]
fn bad_usage_exits_64() {
    let (code, _, stderr) = run(&["decide", "--mode", "sometimes"], "", &[]);
    assert_eq!(code, 64, "{stderr}");
    let (code, _, _) = run(&["no-such-command"], "", &[]);
    assert_eq!(code, 64);
    let (code, _, stderr) = run(&["decide", "--policy", "/no/such/policy.json"], "", &[]);
    assert_eq!(code, 64);
    assert!(stderr.contains("/no/such/policy.json"), "{stderr}");
}

#[test]
fn bad_configuration_exits_64_naming_the_key() {
    let (code, _, stderr) = run(&["config"], "", &[("ETL_MEDIC__QUEUE__CONCURRENCY", "lots")]);
    assert_eq!(code, 64);
    assert!(stderr.contains("queue.concurrency"), "{stderr}");
    let directory = std::env::temp_dir().join(format!("etl-medic-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let file = directory.join("bad.toml");
    std::fs::write(&file, "[queue]\nconcurency = 3\n").expect("write config");
    let (code, _, stderr) = run(&["decide", "--config", file.to_str().expect("path")], "", &[]);
    assert_eq!(code, 64);
    assert!(stderr.contains("concurency"), "{stderr}");
    std::fs::write(&file, "[queue\n").expect("write config");
    let (code, _, stderr) = run(&["config", "--config", file.to_str().expect("path")], "", &[]);
    assert_eq!(code, 64);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn config_shows_effective_settings_with_overrides() {
    let output = Command::new(BINARY)
        .arg("config")
        .env("ETL_MEDIC__QUEUE__URL", "https://example.invalid/q")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let settings: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON settings");
    assert_eq!(settings["queue"]["url"], "https://example.invalid/q");
    // No global mode is set by default: shadow unless a job or class says auto.
    assert!(settings["safety"]["mode"].is_null(), "{}", settings["safety"]);
    assert_eq!(settings["safety"]["max_attempts_per_incident"], 3);
    assert_eq!(settings["logs"]["error_group"], "/aws-glue/jobs/error");
}
