//! The embedded demo end to end: the real pool on the in-memory estate,
//! driven by the simulator, ends by itself with a summary whose numbers
//! add up, and serves /metrics while it runs.

use etl_medic::config::Settings;
use etl_medic::core::model::Mode;
use etl_medic::core::policy::Policy;
use etl_medic::demo::{DemoOptions, run};
use etl_medic::sim::SimConfig;

fn options(mode: Mode, incidents: usize) -> DemoOptions {
    DemoOptions {
        incidents,
        seed: 7,
        mode,
        listen: "127.0.0.1:0".to_string(),
        linger_secs: 0,
        speedup: 12_000.0,
        time_limit_secs: 60,
        sim: SimConfig::embedded_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_works_every_incident_and_summarises_them() {
    let mut progress: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let summary =
        run(options(Mode::Auto, 12), Settings::default(), Policy::rules(), &mut progress, &mut out).await.unwrap();
    let progress = String::from_utf8(progress).unwrap();
    let out = String::from_utf8(out).unwrap();
    eprintln!("{progress}\n{out}");
    assert_eq!(summary.finished, 12, "every incident closed before the time limit");
    assert_eq!(summary.fixed_without_a_person + summary.fixed_by_a_person, 12);
    assert!(summary.fixed_without_a_person > 0, "some incidents heal automatically");
    assert!(summary.actions.values().sum::<usize>() >= 12);
    assert!(progress.contains("http://127.0.0.1:"), "the metrics URL is printed");
    assert_eq!(progress.lines().filter(|line| line.starts_with('[')).count(), 12, "one progress line per incident");
    assert!(out.contains("fixed without a person"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_shadow_mode_starts_no_run() {
    let mut progress: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let summary =
        run(options(Mode::Shadow, 6), Settings::default(), Policy::rules(), &mut progress, &mut out).await.unwrap();
    assert_eq!(summary.finished, 6);
    assert_eq!(summary.fixed_without_a_person, 0, "shadow mode fixes nothing itself");
    assert!(String::from_utf8(out).unwrap().contains("would have done"));
}
