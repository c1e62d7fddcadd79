//! `etl-medic autonomy report` over a real audit trail (the demo's, in auto
//! mode, whose actions' outcomes score them), and `etl-medic approve`'s
//! refusal of a malformed incident id before any AWS call.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

#[test]
fn the_report_scores_each_job_and_class_and_suggests_the_next_rung() {
    let directory = std::env::temp_dir().join(format!("etl-medic-autonomy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let demo = Command::new(BINARY)
        .args(["demo", "--incidents", "6", "--speedup", "12000", "--policy", "rules", "--audit-dir"])
        .arg(&directory)
        .output()
        .expect("demo runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let report = Command::new(BINARY)
        .args(["autonomy", "report", "--min-decisions", "1", "--threshold", "0.0"])
        .arg(&directory)
        .output()
        .expect("report runs");
    let text = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("precision") && lines[0].contains("wilson") && lines[0].contains("suggested"), "{text}");
    assert!(lines.len() >= 2, "a row per (job, class): {text}");
    // The shipped configuration is shadow everywhere; scored evidence
    // suggests one rung up, never straight to auto.
    let scored: Vec<&&str> = lines[1..].iter().filter(|line| !line.contains(" - ")).collect();
    assert!(!scored.is_empty(), "some proposals were scored: {text}");
    assert!(scored.iter().all(|line| line.contains("shadow") && line.trim_end().ends_with("approve")), "{text}");
    let missing = Command::new(BINARY).args(["autonomy", "report"]).arg(directory.join("nope")).output().unwrap();
    assert_eq!(missing.status.code(), Some(64));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn approve_refuses_a_malformed_incident_id_with_exit_64() {
    let output = Command::new(BINARY).args(["approve", "not-an-incident", "--by", "alice"]).output().unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("JOB_NAME/RUN_ID"));
}
