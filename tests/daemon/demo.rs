//! The embedded demo end to end: the real pool on the in-memory estate,
//! driven by the simulator, ends by itself with a summary whose numbers
//! add up, and serves /metrics while it runs.

use etl_medic::config::Settings;
use etl_medic::core::model::Mode;
use etl_medic::demo::{DemoOptions, run};
use etl_medic::sim::SimConfig;

/// The shipped settings with the rules baseline as the policy.
fn rules_settings() -> Settings {
    let mut settings = Settings::default();
    settings.policy.path = "rules".to_string();
    settings
}

fn options(mode: Mode, incidents: usize) -> DemoOptions {
    DemoOptions {
        incidents,
        seed: 7,
        mode,
        listen: "127.0.0.1:0".to_string(),
        linger_secs: 0,
        speedup: 12_000.0,
        time_limit_secs: 60,
        audit_dir: None,
        sim: SimConfig::embedded_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_works_every_incident_and_summarises_them() {
    let mut progress: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let summary = run(options(Mode::Auto, 12), rules_settings(), &mut progress, &mut out).await.unwrap();
    let progress = String::from_utf8(progress).unwrap();
    let out = String::from_utf8(out).unwrap();
    eprintln!("{progress}\n{out}");
    assert_eq!(summary.finished, 12, "every incident closed before the time limit");
    assert_eq!(summary.fixed_without_a_person + summary.fixed_by_a_person, 12);
    assert!(summary.fixed_without_a_person > 0, "some incidents heal automatically");
    assert!(summary.actions.values().sum::<usize>() >= 12);
    assert!(progress.contains("http://127.0.0.1:"), "the metrics URL is printed");
    let numbers: Vec<usize> =
        progress.lines().filter_map(|line| line.strip_prefix('[')?.split('/').next()?.trim().parse().ok()).collect();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>(), "one progress line per incident, in incident order");
    assert_eq!(summary.manual_minutes.len(), summary.all_minutes.len(), "the manual policy on the same incidents");
    assert!(out.contains("for the manual policy on the same incidents"), "{out}");
    assert!(!out.contains("http://"), "the summary names no URL that is gone once the demo ends");
    assert!(out.contains("fixed without a person"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_shadow_mode_starts_no_run() {
    let mut progress: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let summary = run(options(Mode::Shadow, 6), rules_settings(), &mut progress, &mut out).await.unwrap();
    assert_eq!(summary.finished, 6);
    assert_eq!(summary.fixed_without_a_person, 0, "shadow mode fixes nothing itself");
    assert_eq!(summary.all_minutes, summary.manual_minutes, "touching nothing is exactly the manual policy");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("would have done"));
    assert!(out.contains("shadow mode touched nothing"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_writes_its_audit_trail_in_the_s3_layout() {
    let directory = std::env::temp_dir().join(format!("etl-medic-demo-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let mut with_trail = options(Mode::Auto, 4);
    with_trail.audit_dir = Some(directory.clone());
    let (mut progress, mut out) = (Vec::new(), Vec::new());
    run(with_trail, rules_settings(), &mut progress, &mut out).await.unwrap();
    let mut records = Vec::new();
    let mut pending = vec![directory.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                records.push(record);
            }
        }
    }
    let decisions = records.iter().filter(|record| record["stage"] == "decision").count();
    assert!(decisions >= 4, "at least one decision per incident: {decisions} of {} records", records.len());
    assert!(records.iter().all(|record| record["incident_id"].is_string()), "every record is an audit record");
    let _ = std::fs::remove_dir_all(&directory);
}
