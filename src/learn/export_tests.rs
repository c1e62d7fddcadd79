//! `experience export` over a small hand-made audit tree: one incident
//! resolved by its action, one that waited, failed and was escalated, one
//! deferred to the next run, a poison record and a stray file.

use serde_json::{Value, json};

use super::*;
use crate::learn::experience::read;

fn request(run_id: &str, time: &str, attempt: u32) -> Value {
    json!({
        "id": "incident",
        "event": {"source": "aws.glue", "detail-type": "Glue Job State Change", "time": time,
                  "detail": {"jobName": "orders", "jobRunId": run_id, "state": "FAILED", "message": "Read timed out"}},
        "job_run": {"id": run_id, "execution_time_s": 600},
        "history": {"attempt": attempt, "actions_taken": [],
                    "recent_runs": [
                        {"state": "SUCCEEDED", "started_at": "2026-11-28T02:00:00Z", "execution_time_s": 1200},
                        {"state": "SUCCEEDED", "started_at": "2026-11-27T02:00:00Z", "execution_time_s": 1200},
                        {"state": "SUCCEEDED", "started_at": "2026-11-26T02:00:00Z", "execution_time_s": 1200}]}
    })
}

fn decision(kind: &str) -> Value {
    json!({"id": "incident", "state": "x", "policy": {"proposed": kind, "propensity": 1.0},
           "action": {"kind": kind, "params": {}}, "mode": "auto"})
}

struct Trail {
    directory: PathBuf,
}

impl Trail {
    fn new(name: &str) -> Trail {
        let directory = std::env::temp_dir().join(format!("etl-medic-export-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).expect("temp dir");
        Trail { directory }
    }

    fn record(&self, incident: &str, seq: u32, stage: &str, at: &str, run_id: &str, body: Value) {
        let folder = self.directory.join("2026/11/29").join(incident);
        std::fs::create_dir_all(&folder).expect("folder");
        let record = json!({"schema": "etl-medic-audit/1", "incident_id": incident, "job_name": "orders",
                            "failed_run_id": "jr_1", "run_id": run_id, "stage": stage, "seq": seq, "at": at,
                            "body": body});
        let path = folder.join(format!("{seq:03}-{stage}.json"));
        std::fs::write(path, serde_json::to_vec_pretty(&record).expect("json")).expect("write");
    }
}

impl Drop for Trail {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

#[test]
fn decisions_are_paired_with_their_requests_and_outcomes_derived_from_what_followed() {
    let trail = Trail::new("tree");
    // A: retry, the run we started succeeded.
    let a = "orders/jr_1";
    trail.record(a, 0, "intake", "2026-11-29T02:00:05Z", "jr_1", json!({}));
    trail.record(a, 1, "request", "2026-11-29T02:00:06Z", "jr_1", request("jr_1", "2026-11-29T02:00:00Z", 0));
    trail.record(a, 2, "decision", "2026-11-29T02:00:06Z", "jr_1", decision("retry"));
    trail.record(a, 3, "permit", "2026-11-29T02:00:06Z", "jr_1", json!({}));
    trail.record(a, 4, "execution", "2026-11-29T02:00:07Z", "jr_2", json!({"ok": true, "started_run_id": "jr_2"}));
    trail.record(
        a,
        5,
        "validation",
        "2026-11-29T02:25:00Z",
        "jr_2",
        json!({"run_state": "SUCCEEDED", "remediated": true}),
    );
    trail.record(
        a,
        6,
        "closed",
        "2026-11-29T02:25:01Z",
        "jr_2",
        json!({"state": "resolved", "closed_at": "2026-11-29T02:24:06Z"}),
    );
    // B: wait, then the rerun fails, then an escalation nobody reported back on.
    let b = "orders/jr_7";
    trail.record(b, 0, "request", "2026-11-29T05:00:00Z", "jr_7", request("jr_7", "2026-11-29T04:59:00Z", 0));
    trail.record(b, 1, "decision", "2026-11-29T05:00:00Z", "jr_7", decision("wait_and_retry"));
    trail.record(b, 2, "execution", "2026-11-29T05:00:01Z", "jr_7", json!({"waiting_secs": 300}));
    trail.record(b, 3, "intake", "2026-11-29T05:05:00Z", "jr_7", json!({}));
    trail.record(b, 4, "request", "2026-11-29T05:05:00Z", "jr_7", request("jr_7", "2026-11-29T04:59:00Z", 0));
    trail.record(b, 5, "decision", "2026-11-29T05:05:00Z", "jr_7", decision("wait_and_retry"));
    trail.record(b, 6, "execution", "2026-11-29T05:05:01Z", "jr_8", json!({"ok": true, "started_run_id": "jr_8"}));
    trail.record(
        b,
        7,
        "validation",
        "2026-11-29T05:20:00Z",
        "jr_8",
        json!({"run_state": "FAILED", "remediated": false}),
    );
    trail.record(b, 8, "request", "2026-11-29T05:20:30Z", "jr_8", request("jr_8", "2026-11-29T05:20:00Z", 1));
    trail.record(b, 9, "decision", "2026-11-29T05:20:30Z", "jr_8", decision("escalate"));
    trail.record(b, 10, "escalation", "2026-11-29T05:20:31Z", "jr_8", json!({"sent": true}));
    trail.record(
        b,
        11,
        "closed",
        "2026-11-29T05:20:31Z",
        "jr_8",
        json!({"state": "escalated", "closed_at": "2026-11-29T05:20:31Z"}),
    );
    // C: log_and_wait on a daily job, closed deferred at once; the next run is
    // expected at 02:00 + 1 day (start of the failed run) + 20 minutes.
    let c = "orders/jr_9";
    trail.record(c, 0, "request", "2026-11-29T02:10:00Z", "jr_9", request("jr_9", "2026-11-29T02:10:00Z", 0));
    trail.record(c, 1, "decision", "2026-11-29T02:10:00Z", "jr_9", decision("log_and_wait"));
    trail.record(c, 2, "execution", "2026-11-29T02:10:00Z", "jr_9", json!({"log_and_wait": true}));
    trail.record(
        c,
        3,
        "closed",
        "2026-11-29T02:10:00Z",
        "jr_9",
        json!({"state": "deferred", "closed_at": "2026-11-29T02:10:00Z"}),
    );
    std::fs::create_dir_all(trail.directory.join("poison")).expect("poison folder");
    std::fs::write(trail.directory.join("poison/m-1-2.json"), r#"{"schema":"etl-medic-audit/1","stage":"poison"}"#)
        .expect("write");
    std::fs::write(trail.directory.join("notes.json"), "not json").expect("write");

    let mut output = Vec::new();
    let summary = export(&trail.directory, &mut output).expect("exports");
    assert_eq!(summary, ExportSummary { incidents: 3, lines: 5, lines_without_outcome: 1, unreadable_files: 2 });
    let text = String::from_utf8(output).expect("utf-8");
    let incidents = read(text.as_bytes(), "export", 0).expect("the export reads back as valid experience");
    let outcome = |incident: usize, step: usize| incidents[incident].steps[step].outcome.clone();
    assert_eq!(incidents[0].key, "0:orders/jr_1");
    assert_eq!(
        outcome(0, 0),
        Some(Outcome { resolved: true, resolved_by: Some(ResolvedBy::Action), elapsed_s: 1440.0 }),
        "to the closing record's closed_at"
    );
    assert_eq!(incidents[1].steps.len(), 3);
    assert_eq!(outcome(1, 0), Some(Outcome { resolved: false, resolved_by: None, elapsed_s: 300.0 }));
    assert_eq!(outcome(1, 1), Some(Outcome { resolved: false, resolved_by: None, elapsed_s: 930.0 }));
    assert_eq!(outcome(1, 2), None, "nobody said a person fixed it");
    assert_eq!(incidents[1].steps[2].request.history.attempt, 1);
    let deferred = outcome(2, 0).expect("deferred has an outcome");
    assert_eq!(deferred.resolved_by, Some(ResolvedBy::NextRun));
    // Failed run started 02:00, next run 02:00 next day, 20 minutes long; decided at 02:10.
    assert_eq!(deferred.elapsed_s, (24.0 * 3600.0) + 1200.0 - 600.0);
}

#[test]
fn a_person_is_credited_only_when_the_closing_record_says_so() {
    let trail = Trail::new("person");
    let d = "orders/jr_3";
    trail.record(d, 0, "request", "2026-11-29T02:00:00Z", "jr_3", request("jr_3", "2026-11-29T02:00:00Z", 0));
    trail.record(d, 1, "decision", "2026-11-29T02:00:00Z", "jr_3", decision("escalate"));
    trail.record(d, 2, "escalation", "2026-11-29T02:00:01Z", "jr_3", json!({"sent": true}));
    trail.record(
        d,
        3,
        "closed",
        "2026-11-29T02:00:01Z",
        "jr_3",
        json!({"state": "escalated", "resolved_by": "person", "resolved_at": "2026-11-29T12:00:00Z"}),
    );
    let mut output = Vec::new();
    export(&trail.directory, &mut output).expect("exports");
    let incidents = read(output.as_slice(), "export", 0).expect("valid");
    let outcome = incidents[0].steps[0].outcome.clone();
    assert_eq!(outcome, Some(Outcome { resolved: true, resolved_by: Some(ResolvedBy::Person), elapsed_s: 36_000.0 }));
}
