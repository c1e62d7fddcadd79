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
pub(crate) fn run(
    arguments: &[&str],
    input: &str,
    environment: &[(&str, &str)],
) -> (i32, Vec<serde_json::Value>, String) {
    let output = run_output(arguments, input.as_bytes(), environment);
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("answer is not JSON ({error}): {line}")))
        .collect();
    (output.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Run the binary with `input` on stdin (written from another thread, so a
/// large input cannot deadlock against a full stdout pipe) until it ends.
fn run_output(arguments: &[&str], input: &[u8], environment: &[(&str, &str)]) -> std::process::Output {
    let mut child = Command::new(BINARY)
        .args(arguments)
        .envs(environment.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input_owned = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input_owned);
    });
    let output = child.wait_with_output().expect("binary ends");
    writer.join().expect("writer thread");
    output
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
    let wrong_type =
        serde_json::json!({"id": "wrong", "event": failure_event("FAILED"), "history": {"attempt": "two"}});
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
        .env("ETL_MEDIC__ESCALATION__WEBHOOK_URL", "https://hooks.example.invalid/services/T0/B0/s3cr3t")
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("s3cr3t"),
        "the webhook URL is a credential and never printed"
    );
    let settings: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON settings");
    assert_eq!(settings["escalation"]["webhook_url"], "<set, not shown>");
    assert_eq!(settings["queue"]["url"], "https://example.invalid/q");
    // Shadow globally by default; a job or class can still say auto.
    assert_eq!(settings["safety"]["mode"], "shadow", "{}", settings["safety"]);
    assert_eq!(settings["safety"]["max_attempts_per_incident"], 3);
    assert_eq!(settings["logs"]["error_group"], "/aws-glue/jobs/error");
}

/// Like [`run`], but the raw standard output, for checks on the bytes.
fn run_raw(arguments: &[&str], input: &[u8]) -> String {
    let output = run_output(arguments, input, &[]);
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// Read one answer line from a child's stdout, or `None` if none came within `seconds`.
fn answer_within(
    reader: std::sync::mpsc::Receiver<String>,
    seconds: u64,
) -> (Option<String>, std::sync::mpsc::Receiver<String>) {
    let answer = reader.recv_timeout(std::time::Duration::from_secs(seconds)).ok();
    (answer, reader)
}

#[test]
fn an_answer_is_flushed_even_when_part_of_the_next_line_is_already_written() {
    for (arguments, first, second) in [
        (
            vec!["classify"],
            serde_json::json!({"id": "first", "text": "java.lang.OutOfMemoryError: Java heap space"}),
            serde_json::json!({"id": "second", "text": "Connection reset by peer"}),
        ),
        (
            vec!["decide", "--policy", "rules"],
            serde_json::json!({"id": "first", "event": failure_event("FAILED")}),
            serde_json::json!({"id": "second", "event": failure_event("TIMEOUT")}),
        ),
    ] {
        let mut child = Command::new(BINARY)
            .args(&arguments)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (sender, receiver) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in stdout.lines() {
                if sender.send(line.expect("read answer")).is_err() {
                    break;
                }
            }
        });
        // One full line and the first half of the next, in one write.
        let second_text = second.to_string();
        let (head, tail) = second_text.split_at(second_text.len() / 2);
        stdin.write_all(format!("{first}\n{head}").as_bytes()).expect("write");
        stdin.flush().expect("flush");
        let (answer, receiver) = answer_within(receiver, 20);
        let answer =
            answer.unwrap_or_else(|| panic!("{arguments:?}: no answer to a complete line while the next is partial"));
        let parsed: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
        assert_eq!(parsed["id"], "first", "{answer}");
        assert!(parsed.get("error").is_none(), "{answer}");
        stdin.write_all(format!("{tail}\n").as_bytes()).expect("write rest");
        drop(stdin);
        let (answer, _receiver) = answer_within(receiver, 20);
        let parsed: serde_json::Value = serde_json::from_str(&answer.expect("second answer")).expect("JSON answer");
        assert_eq!(parsed["id"], "second", "{parsed}");
        assert!(child.wait().expect("exit").success());
        reader.join().expect("reader thread");
    }
}

#[test]
fn a_line_that_is_json_but_not_an_object_gets_an_error_line() {
    let input = "[\"a\",\"java.lang.OutOfMemoryError\"]\n\"java.lang.OutOfMemoryError\"\n42\n  true\nnull\n";
    for command in ["classify", "decide"] {
        let (code, answers, _) = run(&[command], input, &[]);
        assert_eq!(code, 0);
        assert_eq!(answers.len(), 5, "{command}: {answers:?}");
        for (answer, kind) in answers.iter().zip(["an array", "a string", "a number", "a boolean", "null"]) {
            assert_eq!(answer["id"], serde_json::Value::Null, "{command}: {answer}");
            let error = answer["error"].as_str().unwrap_or_else(|| panic!("{command}: not an error: {answer}"));
            assert!(error.contains("must be a JSON object") && error.contains(kind), "{command}: {error}");
            assert!(answer.get("class").is_none() && answer.get("action").is_none(), "{command}: {answer}");
        }
    }
}

#[test]
fn error_lines_put_id_first_and_echo_an_id_that_could_be_read() {
    let wrong = serde_json::json!({"id": "wrong", "event": failure_event("FAILED"), "history": {"attempt": "two"}});
    let stdout = run_raw(&["decide"], format!("{{broken\n{wrong}\n[1]\n").as_bytes());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with(r#"{"id":null,"error":""#), "{}", lines[0]);
    assert!(lines[1].starts_with(r#"{"id":"wrong","error":""#), "{}", lines[1]);
    assert!(lines[1].contains("history.attempt"), "{}", lines[1]);
    assert!(lines[2].starts_with(r#"{"id":null,"error":""#), "{}", lines[2]);
    let stdout = run_raw(&["classify"], b"{\"id\":\"no-text\"}\n");
    assert!(stdout.starts_with(r#"{"id":"no-text","error":""#), "{stdout}");
}

#[test]
fn explicit_null_optional_evidence_is_absent_evidence() {
    let event = || failure_event("FAILED");
    let bare = serde_json::json!({"id": "n", "event": event()});
    let mut event_with_nulls = event();
    event_with_nulls["resources"] = serde_json::Value::Null;
    event_with_nulls["account"] = serde_json::Value::Null;
    event_with_nulls["detail"]["severity"] = serde_json::Value::Null;
    let top_level_nulls = serde_json::json!({"id": "n", "event": event_with_nulls, "job_run": null, "logs": null,
        "catalog": null, "history": null, "job": null, "context": null});
    let nested_nulls = serde_json::json!({"id": "n", "event": event(),
        "job_run": {"id": null, "arguments": null, "error_message": null, "worker_type": null, "number_of_workers": null,
                    "execution_time_s": null, "timeout_minutes": null},
        "logs": {"error": null, "output": null},
        "catalog": [{"database": "sales", "table": "orders", "versions": null}],
        "history": {"attempt": null, "actions_taken": null, "recent_runs": null},
        "job": {"risk_tier": null, "max_workers": null},
        "context": {"source_last_modified_age_s": null}});
    let deep_nulls = serde_json::json!({"id": "n", "event": event(),
        "job_run": {"arguments": {"--source_path": "s3://lake/raw/"}},
        "catalog": [{"database": "sales", "table": "orders",
                     "versions": [{"version_id": "2", "updated_at": null, "columns": null},
                                  {"version_id": "1", "updated_at": null, "columns": [{"name": "id", "type": null}]}]}],
        "history": {"recent_runs": [{"state": null, "started_at": null, "execution_time_s": null, "error_message": null}]}});
    let input = format!("{bare}\n{top_level_nulls}\n{nested_nulls}\n{deep_nulls}\n");
    let (code, answers, _) = run(&["decide", "--policy", "rules"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), 4);
    for answer in &answers {
        assert!(answer.get("error").is_none(), "null must read as absent evidence: {answer}");
        assert!(ACTIONS.contains(&answer["action"]["kind"].as_str().expect("action")), "{answer}");
    }
    assert_eq!(answers[1], answers[0], "top-level nulls decide as if the fields were absent");
    assert_eq!(answers[2]["diagnosis"], answers[0]["diagnosis"], "nested nulls read as absent");
    assert_eq!(answers[2]["action"], answers[0]["action"]);

    let classify = "{\"id\":\"w\",\"text\":\"java.lang.OutOfMemoryError: Java heap space\",\"where\":null}\n\
                    {\"id\":\"w\",\"text\":\"java.lang.OutOfMemoryError: Java heap space\"}\n";
    let (code, answers, _) = run(&["classify"], classify, &[]);
    assert_eq!(code, 0);
    assert!(answers[0].get("error").is_none(), "{}", answers[0]);
    assert_eq!(answers[0], answers[1]);
}

fn fixture_events() -> Vec<serde_json::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eventbridge_glue_events.json");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture present")).expect("fixture is JSON");
    document["events"].as_array().expect("events").clone()
}

#[test]
fn decide_decides_only_failed_glue_job_runs_of_the_documented_events() {
    let events = fixture_events();
    assert!(events.len() >= 10);
    let input: String = events
        .iter()
        .enumerate()
        .map(|(index, example)| serde_json::json!({"id": index, "event": example["event"]}).to_string() + "\n")
        .collect();
    let (code, answers, _) = run(&["decide", "--policy", "rules"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), events.len());
    for (index, (example, answer)) in events.iter().zip(&answers).enumerate() {
        let title = example["title"].as_str().expect("title");
        assert_eq!(answer["id"], index, "{title}: {answer}");
        assert!(answer.get("error").is_none(), "{title}: a documented event is never an error: {answer}");
        let detail_type = example["detail_type"].as_str().expect("detail_type");
        let state = example["state"].as_str().expect("state");
        match (detail_type, state) {
            ("Glue Job State Change", "FAILED" | "TIMEOUT") => {
                assert!(answer.get("ignored").is_none(), "{title}: {answer}");
                assert!(ACTIONS.contains(&answer["action"]["kind"].as_str().expect("action")), "{title}: {answer}");
            }
            ("Glue Job State Change", _) => {
                let reason = answer["ignored"].as_str().unwrap_or_else(|| panic!("{title}: not ignored: {answer}"));
                assert!(reason.contains(state), "{title}: {reason}");
                assert_eq!(answer.as_object().expect("object").len(), 2, "{title}: only id and ignored: {answer}");
            }
            _ => {
                let reason = answer["ignored"].as_str().unwrap_or_else(|| panic!("{title}: not ignored: {answer}"));
                assert!(reason.contains(detail_type), "{title}: {reason}");
                assert_eq!(answer.as_object().expect("object").len(), 2, "{title}: only id and ignored: {answer}");
            }
        }
    }
}

#[test]
fn a_job_state_change_missing_a_required_field_gets_an_error_naming_it() {
    let without = |field: &str| {
        let mut event = failure_event("FAILED");
        event["detail"].as_object_mut().expect("detail").remove(field);
        serde_json::json!({"id": format!("no-{field}"), "event": event})
    };
    let mut no_detail = failure_event("FAILED");
    no_detail.as_object_mut().expect("event").remove("detail");
    let mut null_detail = failure_event("FAILED");
    null_detail["detail"] = serde_json::Value::Null;
    let mut numeric_name = failure_event("FAILED");
    numeric_name["detail"]["jobName"] = serde_json::json!(5);
    let mut exploded = failure_event("FAILED");
    exploded["detail"]["state"] = serde_json::json!("EXPLODED");
    let cases = [
        (serde_json::json!({"id": "no-detail", "event": no_detail}), "event.detail"),
        (serde_json::json!({"id": "null-detail", "event": null_detail}), "event.detail"),
        (without("jobName"), "event.detail.jobName"),
        (without("jobRunId"), "event.detail.jobRunId"),
        (without("state"), "event.detail.state"),
        (serde_json::json!({"id": "numeric-name", "event": numeric_name}), "event.detail.jobName"),
        (serde_json::json!({"id": "exploded", "event": exploded}), "event.detail.state"),
    ];
    let input: String = cases.iter().map(|(request, _)| request.to_string() + "\n").collect();
    let (code, answers, _) = run(&["decide", "--policy", "rules"], &input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), cases.len());
    for ((request, path), answer) in cases.iter().zip(&answers) {
        assert_eq!(answer["id"], request["id"], "{answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: decided instead of an error: {answer}", request["id"]));
        assert!(error.contains(path), "{}: {error} does not name {path}", request["id"]);
    }
}

#[test]
fn a_byte_order_mark_before_the_first_line_is_tolerated() {
    let mut input = "\u{feff}".as_bytes().to_vec();
    input.extend_from_slice(b"{\"id\":\"bom\",\"text\":\"java.lang.OutOfMemoryError: Java heap space\"}\n");
    let stdout = run_raw(&["classify"], &input);
    let answer: serde_json::Value = serde_json::from_str(stdout.lines().next().expect("an answer")).expect("JSON");
    assert_eq!(answer["id"], "bom", "{answer}");
    assert_eq!(answer["class"], "resource_exhaustion", "{answer}");
}

#[test]
fn blank_lines_are_no_requests_and_an_unknown_where_is_refused_naming_the_valid_values() {
    let input = "\n{\"id\":\"a\",\"text\":\"java.lang.OutOfMemoryError: Java heap space\"}\n   \n\
                 {\"id\":\"b\",\"text\":\"Connection reset\",\"where\":\"stderr\"}\n\
                 {\"id\":\"c\",\"text\":\"Connection reset\",\"where\":null}\n";
    let (code, answers, stderr) = run(&["classify"], input, &[]);
    assert_eq!(code, 0);
    assert_eq!(answers.len(), 3, "one answer per request, none for the blank lines");
    assert_eq!(answers[0]["class"], "resource_exhaustion");
    let refusal = answers[1]["error"].as_str().expect("an error line for an unknown where");
    assert!(refusal.contains("stderr") && refusal.contains("error_log"), "{refusal}");
    assert!(answers[2]["class"].is_string(), "null reads as absent: {}", answers[2]);
    assert!(stderr.contains("3 lines, 1 answered with an error"), "blank lines are not counted: {stderr}");
}

/// Start `arguments`, read the first line of its output, then close the
/// pipe as `| head -1` does; the command must stop quietly (no panic, no
/// message), killed by SIGPIPE or exiting on its own.
fn stops_quietly_when_its_reader_goes_away(arguments: &[&str]) {
    let mut child = Command::new(BINARY)
        .args(arguments)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a first line");
    assert!(!first.is_empty(), "{arguments:?} printed something");
    let output = child.wait_with_output().expect("binary ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(101), "{arguments:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{arguments:?}: {stderr}");
}

#[test]
fn every_command_stops_quietly_when_its_output_is_closed() {
    stops_quietly_when_its_reader_goes_away(&["policy", "show"]);
    stops_quietly_when_its_reader_goes_away(&["evaluate", "--incidents", "200"]);
    stops_quietly_when_its_reader_goes_away(&["config"]);
}

#[test]
fn run_refuses_the_shipped_defaults_naming_the_key_to_set() {
    let (code, _, stderr) = run(&["run"], "", &[("AWS_REGION", "us-east-1")]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("queue.url") && stderr.contains("ETL_MEDIC__QUEUE__URL"), "{stderr}");
    let example = [
        ("AWS_REGION", "us-east-1"),
        ("ETL_MEDIC__QUEUE__URL", "https://sqs.us-east-1.amazonaws.com/123456789012/etl-medic"),
    ];
    let (code, _, stderr) = run(&["run"], "", &example);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("example account"), "{stderr}");
}
