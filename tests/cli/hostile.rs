//! Text written by a job must not steer what `decide` moves, where it acts
//! or how much it asks for (issue #18), through the real binary in auto
//! mode: error messages and log lines carry data values, file names and
//! whatever the job's code prints, so they are partly an attacker's.
//!
//! - quarantine takes objects only that the JobRun error message names,
//!   under the job's *input* arguments (not its output path, its script,
//!   an `s3:///` argument, nor an object an output-log line names);
//! - a wide table whose columns were only reordered, or got one in front,
//!   is not breaking drift, so "Job aborted" cannot roll it back;
//! - a class set to `auto` does not switch a job in shadow to acting;
//! - a run already above the largest allowed worker type gets no more;
//! - a line of countless empty list entries is refused while it is read;
//! - unsafe quarantine prefixes are refused at start-up;
//! - text that keeps the rules' counted gaps open costs no more than
//!   realistic logs do.

use serde_json::{Value, json};

use super::protocol::run;

const AUTO: [&str; 5] = ["decide", "--mode", "auto", "--policy", "rules"];

/// A failed run of `orders_daily` with `message` as its JobRun error message.
fn request(id: &str, message: &str) -> Value {
    json!({
        "id": id,
        "event": {"version": "0", "id": "e-1", "detail-type": "Glue Job State Change", "source": "aws.glue",
                  "account": "123456789012", "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
                  "detail": {"jobName": "orders_daily", "severity": "ERROR", "state": "FAILED", "jobRunId": "jr_1",
                             "message": message}},
        "job_run": {"id": "jr_1", "error_message": message, "worker_type": "G.1X", "number_of_workers": 10,
                    "arguments": {"--source_path": "s3://lake/raw/orders/"}},
        "history": {"attempt": 0, "recent_runs": [{"state": "SUCCEEDED", "started_at": "2026-11-28T02:00:00Z"}]},
        "job": {"risk_tier": "low"}
    })
}

fn decide(requests: &[Value], environment: &[(&str, &str)]) -> Vec<Value> {
    let input: String = requests.iter().map(|request| request.to_string() + "\n").collect();
    let (code, answers, stderr) = run(&AUTO, &input, environment);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answers.len(), requests.len(), "{stderr}");
    answers
}

const MALFORMED: &str = "Malformed records are detected in record parsing. Parse Mode: FAILFAST. File:";

#[test]
fn quarantine_moves_only_objects_the_error_message_names_under_the_jobs_input_arguments() {
    let mut output_path = request("output-path", &format!("{MALFORMED} s3://lake/curated/orders/part-0000.json"));
    output_path["job_run"]["arguments"]["--output_path"] = json!("s3://lake/curated/orders/");
    let mut script = request("script", &format!("{MALFORMED} s3://lake/scripts/orders_daily.py"));
    script["job_run"]["arguments"]["--extra-py-files"] = json!("s3://lake/scripts/orders_daily.py");
    let mut printed = request("printed-by-the-job", MALFORMED.trim_end_matches(" File:"));
    printed["logs"] = json!({"output": [format!("{MALFORMED} s3://lake/raw/orders/part-0003.json")]});
    let mut root = request("root-argument", &format!("{MALFORMED} s3://finance/ledger/2026.json"));
    root["job_run"]["arguments"]["--TempDir"] = json!("s3:///");
    let input = request("input", &format!("{MALFORMED} s3://lake/raw/orders/part-0007.json"));
    let answers = decide(&[output_path, script, printed, root, input], &[]);
    for answer in &answers[..4] {
        assert_eq!(answer["diagnosis"]["class"], "data_quality", "{answer}");
        assert_eq!(answer["action"]["kind"], "quarantine_bad_records", "{answer}");
        assert_eq!(answer["action"]["params"]["strategy"], "bad_records_argument", "nothing moves: {answer}");
    }
    let moved = &answers[4]["action"]["params"];
    assert_eq!(moved["strategy"], "move_objects", "{}", answers[4]);
    assert_eq!(moved["objects"], json!(["s3://lake/raw/orders/part-0007.json"]));
}

#[test]
fn a_job_names_its_own_input_arguments_and_a_request_cannot_widen_them() {
    let directory = std::env::temp_dir().join(format!("etl-medic-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let file = directory.join("inputs.toml");
    std::fs::write(&file, "[jobs.\"orders_daily\"]\ninput_arguments = [\"--raw_path\"]\n").expect("write config");
    let mut own = request("own", &format!("{MALFORMED} s3://lake/landing/orders/part-0001.json"));
    own["job_run"]["arguments"]["--raw_path"] = json!("s3://lake/landing/orders/");
    let mut widened = request("widened", &format!("{MALFORMED} s3://lake/curated/orders/part-0000.json"));
    widened["job_run"]["arguments"]["--output_path"] = json!("s3://lake/curated/orders/");
    widened["job"]["input_arguments"] = json!(["--output_path"]);
    let input: String = [own, widened].iter().map(|request| request.to_string() + "\n").collect();
    let path = file.to_str().expect("path");
    let (code, answers, stderr) =
        run(&["decide", "--mode", "auto", "--policy", "rules", "--config", path], &input, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answers[0]["action"]["params"]["objects"], json!(["s3://lake/landing/orders/part-0001.json"]));
    assert_eq!(answers[1]["action"]["params"]["strategy"], "bad_records_argument", "{}", answers[1]);
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn unsafe_quarantine_prefixes_are_refused_at_start_naming_the_key() {
    for value in ["", "s3://lake/raw/,", "s3://lake", "s3:///", "lake/raw/"] {
        for command in [&["config"][..], &["decide", "--policy", "rules"][..]] {
            let (code, _, stderr) = run(command, "", &[("ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES", value)]);
            assert_eq!(code, 64, "{value:?} accepted by {command:?}: {stderr}");
            assert!(stderr.contains("quarantine.allowed_prefixes"), "{value:?}: {stderr}");
        }
    }
    let accepted = [("ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES", "s3://lake/raw/,s3://lake/etl-medic-quarantine/")];
    let (code, _, stderr) = run(&["decide", "--policy", "rules"], "", &accepted);
    assert_eq!(code, 0, "{stderr}");
}

/// Two versions of `sales.orders`, the newer updated after the last success.
fn wide_table(baseline: &[String], newest: &[String]) -> Value {
    let columns =
        |names: &[String]| -> Vec<Value> { names.iter().map(|name| json!({"name": name, "type": "string"})).collect() };
    json!([{"database": "sales", "table": "orders", "versions": [
        {"version_id": "2", "updated_at": "2026-11-29T01:00:00Z", "columns": columns(newest)},
        {"version_id": "1", "updated_at": "2026-11-01T00:00:00Z", "columns": columns(baseline)}]}])
}

#[test]
fn a_reordered_or_front_extended_wide_table_is_no_breaking_drift_and_is_not_rolled_back() {
    let baseline: Vec<String> = (0..2_001).map(|index| format!("c{index}")).collect();
    let mut reordered = baseline.clone();
    reordered.reverse();
    let mut front = vec!["inserted_first".to_string()];
    front.extend(baseline.iter().cloned());
    let aborted = "An error occurred while calling o150.count. Job aborted.";
    let mut requests = Vec::new();
    for (id, newest) in [("reordered", &reordered), ("front", &front)] {
        let mut shaped = request(id, aborted);
        shaped["catalog"] = wide_table(&baseline, newest);
        requests.push(shaped);
    }
    let mut dropped = request("dropped-last", aborted);
    dropped["catalog"] = wide_table(&baseline, &baseline[..2_000]);
    requests.push(dropped);
    let answers = decide(&requests, &[]);
    for answer in &answers[..2] {
        assert_ne!(answer["diagnosis"]["drift"]["kind"], "breaking", "{:.600}", answer.to_string());
        assert_ne!(answer["action"]["kind"], "rollback_schema", "{:.600}", answer.to_string());
    }
    assert_eq!(answers[2]["diagnosis"]["drift"]["removed"], json!(["c2000"]), "a column past 2,000 counts too");
}

#[test]
fn a_class_set_to_auto_does_not_make_a_job_in_shadow_act() {
    // A code bug whose message quotes a data value that reads as throttling.
    let quoted = "KeyError: 'Status Code: 503; Error Code: SlowDown'";
    let class_auto =
        [("ETL_MEDIC__SAFETY__MODE", "shadow"), ("ETL_MEDIC__SAFETY__CLASS_MODES__TRANSIENT_INFRA", "auto")];
    let input = request("quoted", quoted).to_string() + "\n";
    let (code, answers, stderr) = run(&["decide", "--policy", "rules"], &input, &class_auto);
    assert_eq!(code, 0, "{stderr}");
    let answer = &answers[0];
    assert_eq!(answer["diagnosis"]["class"], "transient_infra", "the premise: the text reads as transient");
    assert_eq!(answer["mode"], "shadow", "{answer}");
    let reason = answer["safety"]["mode_reason"].as_str().expect("mode_reason");
    assert!(reason.starts_with("mode = shadow") && reason.contains("class_modes.transient_infra = auto"), "{reason}");

    let job_opted_in = [class_auto[0], class_auto[1], ("ETL_MEDIC__SAFETY__JOB_MODES__ORDERS_DAILY", "auto")];
    let (_, answers, _) = run(&["decide", "--policy", "rules"], &input, &job_opted_in);
    assert_eq!(answers[0]["mode"], "auto", "{}", answers[0]);
    assert_eq!(answers[0]["safety"]["mode_reason"], "job_modes.orders_daily = auto");
    let held_back = [
        ("ETL_MEDIC__SAFETY__JOB_MODES__ORDERS_DAILY", "auto"),
        ("ETL_MEDIC__SAFETY__CLASS_MODES__TRANSIENT_INFRA", "shadow"),
    ];
    let (_, answers, _) = run(&["decide", "--policy", "rules"], &input, &held_back);
    assert_eq!(answers[0]["mode"], "shadow", "a class set to shadow holds a job in auto back: {}", answers[0]);
}

#[test]
fn a_run_above_the_largest_allowed_worker_type_gets_no_more_capacity() {
    let mut big = request("g8x", "java.lang.OutOfMemoryError: Java heap space");
    big["job_run"]["worker_type"] = json!("G.8X");
    big["job_run"]["number_of_workers"] = json!(60);
    let mut allowed = request("g1x", "java.lang.OutOfMemoryError: Java heap space");
    allowed["job_run"]["number_of_workers"] = json!(60);
    let answers = decide(&[big, allowed], &[]);
    assert_eq!(answers[0]["policy"]["proposed"], "retry_with_more_capacity", "{}", answers[0]);
    assert_eq!(answers[0]["action"]["kind"], "escalate", "{}", answers[0]);
    assert_eq!(answers[0]["safety"]["rule"], "capacity_ceiling");
    // 60 G.1X workers double to the ceiling of 100: 100 DPU, under 100 x G.2X.
    assert_eq!(answers[1]["action"]["params"]["number_of_workers"], 100, "{}", answers[1]);
}

#[test]
fn a_line_of_countless_empty_list_entries_is_refused_naming_the_field_and_the_next_is_answered() {
    let event = request("x", "boom")["event"].clone();
    let mut input = String::with_capacity(17 << 20);
    for field in ["recent_runs", "actions_taken"] {
        let entry = if field == "recent_runs" { "{}" } else { "\"\"" };
        input.push_str(&format!(r#"{{"id": "{field}", "event": {event}, "history": {{"{field}": ["#));
        let count = (15 << 20) / (entry.len() + 1);
        input.push_str(&vec![entry; count].join(","));
        input.push_str("]}}\n");
    }
    input.push_str(&format!(r#"{{"event": {event}, "id": [{}]}}"#, vec!["[]"; 2_000_000].join(",")));
    input.push('\n');
    input.push_str(&(request("after", "boom").to_string() + "\n"));
    let (code, answers, stderr) = run(&AUTO, &input, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answers.len(), 4);
    for (answer, field) in answers.iter().zip(["history.recent_runs", "history.actions_taken"]) {
        let error = answer["error"].as_str().unwrap_or_else(|| panic!("not refused: {answer:.300}"));
        assert!(error.contains(field) && error.contains("at most 100"), "{error}");
    }
    assert!(answers[2]["error"].as_str().is_some_and(|error| error.contains("nodes")), "{:.300}", answers[2]);
    assert_eq!(answers[3]["id"], "after");
    assert!(answers[3]["action"]["kind"].is_string());
}

/// 64 KiB of words after which rules allow a counted gap (`.{0,200}`),
/// at irregular distances, new for every `seed`.
fn gap_openers(seed: u64) -> Vec<String> {
    const OPENERS: [&str; 5] =
        ["load into table ", "cannot resolve ", "failed to connect to db:5432 ", "reference ", "partition "];
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut text = String::new();
    while text.len() < 64 * 1024 {
        text.push_str(OPENERS[next() % OPENERS.len()]);
        text.push_str(&"x".repeat(next() % 31));
        text.push(' ');
    }
    text.as_bytes().chunks(8 * 1024).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect()
}

#[test]
fn hostile_text_costs_a_decision_about_what_realistic_logs_cost() {
    // Before the classifier matched its counted-gap rules apart, each of
    // these took seconds (debug build) as the lazy DFA built a state per byte.
    let requests: Vec<Value> = (0..3)
        .map(|seed| {
            let mut hostile = request(&format!("gaps-{seed}"), "Connection reset by peer");
            hostile["logs"] = json!({"error": gap_openers(seed)});
            hostile
        })
        .collect();
    let started = std::time::Instant::now();
    let answers = decide(&requests, &[]);
    let elapsed = started.elapsed();
    assert!(answers.iter().all(|answer| answer["action"]["kind"].is_string()));
    assert!(elapsed < std::time::Duration::from_secs(10), "three hostile decisions took {elapsed:?}");
}
