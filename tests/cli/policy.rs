//! `policy show`, `policy explain` and `evaluate` find the policy as every
//! other command does, and `explain` explains exactly what `decide` answers.

use crate::protocol::run;
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

fn examples() -> String {
    std::fs::read_to_string(format!("{}/examples/incidents.jsonl", env!("CARGO_MANIFEST_DIR"))).expect("examples")
}

/// Run in an empty directory (no config/policy.json beside it) with `input` on stdin.
fn run_elsewhere(arguments: &[&str], input: &str, environment: &[(&str, &str)]) -> (i32, String, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let directory = std::env::temp_dir().join(format!("etl-medic-policy-cli-{}-{number}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temporary directory");
    let mut child = Command::new(BINARY)
        .args(arguments)
        .envs(environment.iter().copied())
        .current_dir(&directory)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, input.as_bytes());
    });
    let output = child.wait_with_output().expect("binary ends");
    writer.join().expect("writer");
    let _ = std::fs::remove_dir_all(&directory);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_policy_command_works_outside_the_repository_and_names_the_version() {
    let (code, out, err) = run_elsewhere(&["policy", "show"], "", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("transient_infra"), "{out}");
    assert!(err.contains("built-in"), "the version and where it came from: {err}");
    let first = examples().lines().next().expect("an example").to_string();
    let (code, out, err) = run_elsewhere(&["policy", "explain"], &first, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("final action:"), "{out}");
    let (code, out, err) = run_elsewhere(&["evaluate", "--incidents", "20"], "", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MTTR mean h") && out.contains("columns:"), "units and a legend: {out}");
}

#[test]
fn an_explicitly_configured_policy_that_does_not_exist_is_an_error_for_every_command() {
    let missing = [("ETL_MEDIC__POLICY__PATH", "/nonexistent/policy.json")];
    for arguments in [&["decide"][..], &["policy", "show"], &["policy", "explain"], &["evaluate", "--incidents", "5"]] {
        let (code, _, err) = run_elsewhere(arguments, "{}", &missing);
        assert_eq!(code, 64, "{arguments:?}: {err}");
        assert!(err.contains("/nonexistent/policy.json"), "{arguments:?} names the file: {err}");
    }
    let (code, _, err) = run_elsewhere(&["policy", "show", "--policy", "/nonexistent/p.json"], "", &[]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn explain_walks_decides_path_for_every_line() {
    let input = examples();
    let (code, answers, err) = run(&["decide"], &input, &[]);
    assert_eq!(code, 0, "{err}");
    let output = Command::new(BINARY)
        .args(["policy", "explain", "--request", &format!("{}/examples/incidents.jsonl", env!("CARGO_MANIFEST_DIR"))])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("explain runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let explained: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(explained.len(), answers.len(), "one explanation per request");
    for (answer, explanation) in answers.iter().zip(&explained) {
        let action = serde_json::to_string(&answer["action"]).expect("JSON");
        assert!(explanation.contains(&format!("final action: {action}")), "explain = decide: {action}\n{explanation}");
        assert!(!explanation.contains("Allowed") && !explanation.contains("Table)"), "lower-case names: {explanation}");
    }
}

#[test]
fn explain_of_an_event_decide_ignores_says_it_is_ignored() {
    let crawler = serde_json::json!({
        "id": "crawl-1",
        "event": {"source": "aws.glue", "detail-type": "Glue Crawler State Change",
                  "detail": {"crawlerName": "orders", "state": "Failed"}}
    })
    .to_string();
    let (_, answers, _) = run(&["decide"], &crawler, &[]);
    assert!(answers[0]["ignored"].is_string(), "{answers:?}");
    let (code, out, err) = run_elsewhere(&["policy", "explain"], &crawler, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ignored"), "{out}");
    assert!(!out.contains("final action"), "{out}");
}

#[test]
fn explain_takes_the_mode_of_decide() {
    let first = examples().lines().next().expect("an example").to_string();
    let (_, out, _) = run_elsewhere(&["policy", "explain", "--mode", "auto"], &first, &[]);
    assert!(out.contains("mode: auto"), "{out}");
    let (_, out, _) = run_elsewhere(&["policy", "explain", "--mode", "shadow"], &first, &[]);
    assert!(out.contains("mode: shadow"), "{out}");
}
