//! The learning protocol over the binary, as an outside program uses it
//! (spec/experience.md): `decide --explore`, `sim collect`, and `learn`'s
//! exit codes, error messages and determinism.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use etl_medic::core::decide::allowed_unchanged;
use etl_medic::core::diagnosis::diagnose;
use etl_medic::core::evidence::DecideRequest;
use etl_medic::learn::experience::read_files;
use etl_medic::learn::train::training_safety_settings;
use etl_medic::sim::{Estate, SimConfig};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

fn temp(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-learn-protocol-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    directory.join(name)
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Written from another thread: decide answers each line at once, and a
    // full stdout pipe would otherwise stop both sides.
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("the binary ends");
    writer.join().expect("the writer ends").expect("stdin written");
    output
}

fn requests(count: u64) -> Vec<DecideRequest> {
    let estate = Estate::new(SimConfig::embedded_default(), 41);
    (0..count).map(|number| estate.incident(number).request).collect()
}

fn lines(requests: &[DecideRequest]) -> String {
    requests.iter().map(|request| serde_json::to_string(request).expect("json") + "\n").collect()
}

#[test]
fn decide_explores_only_among_allowed_actions_with_the_spec_propensities() {
    let requests = requests(120);
    let input = lines(&requests);
    let args = ["decide", "--mode", "auto", "--explore", "0.4", "--explore-seed", "9"];
    let output = run(&args, &input);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, run(&args, &input).stdout, "the same input gives the same answers");
    let settings = training_safety_settings();
    let mut explored = 0;
    for (request, answer) in requests.iter().zip(String::from_utf8_lossy(&output.stdout).lines()) {
        let answer: serde_json::Value = serde_json::from_str(answer).expect("a JSON answer");
        let critical = request.job.risk_tier.is_some_and(|tier| tier.as_str() == "critical");
        let allowed = allowed_unchanged(request, &diagnose(request), &settings, &request.fleet_context());
        let kind = answer["action"]["kind"].as_str().expect("an action");
        let propensity = answer["policy"]["propensity"].as_f64().expect("a propensity");
        let was_explored = answer["policy"]["explored"].as_bool().expect("explored is said");
        if critical {
            assert!(!was_explored && propensity == 1.0, "never for a critical job: {answer}");
            continue;
        }
        assert_eq!(answer["safety"]["verdict"], "allowed", "{answer}");
        assert!(allowed.iter().any(|allowed_kind| allowed_kind.as_str() == kind), "{kind} not allowed: {answer}");
        let share = 0.4 / allowed.len() as f64;
        let greedy = (propensity - (0.6 + share)).abs() < 1e-9;
        let other = (propensity - share).abs() < 1e-9;
        assert!(greedy || other, "propensity {propensity} with {} allowed: {answer}", allowed.len());
        explored += usize::from(was_explored);
    }
    assert!((20..=80).contains(&explored), "about 40% explore: {explored}");

    let shadow = run(&["decide", "--mode", "shadow", "--explore", "1", "--explore-seed", "9"], &input);
    for answer in String::from_utf8_lossy(&shadow.stdout).lines() {
        let answer: serde_json::Value = serde_json::from_str(answer).expect("a JSON answer");
        assert_eq!(answer["policy"]["explored"], false, "no exploration in shadow mode");
        assert_eq!(answer["policy"]["propensity"], 1.0);
    }
    let refused = run(&["decide", "--explore", "1.5"], "");
    assert_eq!(refused.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--explore"));
}

fn collect(sim: &str, incidents: &str, explore: &str, seed: &str, out: &Path) -> String {
    let output = run(
        &[
            "sim",
            "collect",
            "--sim",
            sim,
            "--incidents",
            incidents,
            "--explore",
            explore,
            "--explore-seed",
            seed,
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        "",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn learn_refuses_a_malformed_line_naming_it_with_exit_64() {
    let experience = temp("one.jsonl");
    collect("config/sim.toml", "3", "0.2", "1", &experience);
    let mut text = std::fs::read_to_string(&experience).expect("experience");
    let good_lines = text.lines().count();
    text.push_str("{\"incident_id\": \"x\", \"step\": 0, \"request\": {}, \"decision\": {}}\n");
    let broken = temp("broken.jsonl");
    std::fs::write(&broken, text).expect("write");
    let out = temp("never.json");
    let output =
        run(&["learn", "--experience", broken.to_str().expect("path"), "--out", out.to_str().expect("path")], "");
    assert_eq!(output.status.code(), Some(64));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(&format!("broken.jsonl:{}:", good_lines + 1)), "{message}");
    assert!(!out.exists(), "nothing is written from bad input");
}

#[test]
fn collect_then_learn_is_deterministic_and_keep_exits_3_when_promotion_is_required() {
    let experience = temp("collected.jsonl");
    let summary = collect("config/sim-cause-mix.toml", "300", "0.2", "5", &experience);
    assert!(summary.contains(" 0 unsafe"), "{summary}");
    let incidents = read_files(&[&experience]).expect("the collection is valid experience");
    assert_eq!(incidents.len(), 300);
    assert!(incidents.iter().flat_map(|incident| &incident.steps).any(|step| step.propensity < 1.0));
    let first = temp("first.json");
    let second = temp("second.json");
    let learn = |out: &Path, extra: &[&str]| {
        let mut args = vec!["learn", "--experience", experience.to_str().expect("path"), "--out"];
        args.push(out.to_str().expect("path"));
        args.extend_from_slice(extra);
        run(&args, "")
    };
    let output = learn(&first, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    for expected in ["doubly robust", "weighted IS", "300 incidents", "used", "skipped", "verdict:"] {
        assert!(report.contains(expected), "{expected} missing from\n{report}");
    }
    let required = learn(&second, &["--require-promotion"]);
    let expected_code = if report.contains("verdict: keep") { 3 } else { 0 };
    assert_eq!(required.status.code(), Some(expected_code), "{report}");
    assert_eq!(std::fs::read(&first).expect("first"), std::fs::read(&second).expect("second"), "same bytes");
    let candidate: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&first).expect("candidate")).expect("a policy file");
    assert_eq!(candidate["format"], "etl-medic-policy/1");
    assert!(candidate["version"].as_str().is_some_and(|version| version.starts_with("learnt-")));
    assert!(candidate["trained"]["off_policy_mean_minutes"].is_object());
}
