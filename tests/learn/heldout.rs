//! Learning from an estate nobody trained on, measured the way an outside
//! evaluator measures it: experience collected in a HELD-OUT simulator set
//! with `sim collect` (decide --mode auto --explore 0.2), a candidate from
//! `learn`, and the candidate evaluated on other incidents of the same set
//! against the rules and the oracle. Also the off-policy estimate's sanity:
//! a policy identical to the logging one is estimated at the logged mean,
//! and the greedy base's estimate from exploring data covers its on-policy mean.

use std::path::{Path, PathBuf};
use std::process::Command;

use etl_medic::core::policy::Policy;
use etl_medic::learn::agent::PolicyName;
use etl_medic::learn::candidate::choices;
use etl_medic::learn::dataset::Dataset;
use etl_medic::learn::evaluate::{EvaluateOptions, PolicySummary, SimEvaluation, evaluate_sim};
use etl_medic::learn::experience::read_files;
use etl_medic::learn::ope::{OpeSettings, compare};
use etl_medic::learn::train::training_safety_settings;
use etl_medic::sim::SimConfig;

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");
const SHIPPED_POLICY: &str = include_str!("../../config/policy.json");

fn temp(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-learn-heldout-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    directory.join(name)
}

fn etl_medic(args: &[&str]) -> String {
    let output =
        Command::new(BINARY).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("the binary runs");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn collect(sim: &str, incidents: u64, explore: &str, seed: u64, out: &Path) -> String {
    etl_medic(&[
        "sim",
        "collect",
        "--sim",
        sim,
        "--incidents",
        &incidents.to_string(),
        "--seed",
        &seed.to_string(),
        "--explore",
        explore,
        "--explore-seed",
        "1",
        "--policy",
        "config/policy.json",
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
}

fn summary(evaluation: &SimEvaluation, name: PolicyName) -> PolicySummary {
    evaluation.summaries.iter().find(|summary| summary.policy == name).cloned().expect("every policy is evaluated")
}

/// Collect, learn, evaluate on one held-out set; returns (shipped, learnt, rules, oracle) on the same incidents.
fn learn_on(held_out: &str, file: &str) -> [PolicySummary; 4] {
    let sim_path = format!("config/{file}");
    let sim = SimConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(&sim_path)).expect("the held-out set");
    assert!(sim.is_held_out() && sim.name == held_out);
    let experience = temp(&format!("{held_out}.jsonl"));
    let collected = collect(&sim_path, 1_500, "0.2", 1, &experience);
    assert!(collected.contains(" 0 unsafe"), "no unsafe action while collecting: {collected}");
    let candidate = temp(&format!("{held_out}.json"));
    etl_medic(&[
        "learn",
        "--experience",
        experience.to_str().expect("path"),
        "--out",
        candidate.to_str().expect("path"),
    ]);
    let learnt = Policy::from_json(&std::fs::read_to_string(&candidate).expect("candidate")).expect("loads");
    let shipped = Policy::from_json(SHIPPED_POLICY).expect("the shipped policy loads");
    let options = EvaluateOptions::new(2_000, 2026);
    let after = evaluate_sim(&sim, &learnt, &options);
    let before = evaluate_sim(&sim, &shipped, &options);
    [
        summary(&before, PolicyName::Trained),
        summary(&after, PolicyName::Trained),
        summary(&after, PolicyName::Rules),
        summary(&after, PolicyName::Oracle),
    ]
}

fn check(held_out: &str, file: &str) {
    let [shipped, learnt, rules, oracle] = learn_on(held_out, file);
    let ratio = |summary: &PolicySummary| summary.mttr_mean_minutes / oracle.mttr_mean_minutes;
    let auto = |summary: &PolicySummary| summary.auto_resolution / oracle.auto_resolution;
    eprintln!(
        "{held_out}: shipped {:.3}x oracle MTTR, auto {:.3}; learnt {:.3}x, auto {:.3}; rules {:.3}x",
        ratio(&shipped),
        auto(&shipped),
        ratio(&learnt),
        auto(&learnt),
        ratio(&rules)
    );
    assert_eq!(learnt.unsafe_actions, 0);
    assert!(auto(&learnt) >= 0.95, "auto-resolution {:.3} of the oracle's", auto(&learnt));
    assert!(ratio(&learnt) <= 1.15, "MTTR {:.3} x the oracle's", ratio(&learnt));
    assert!(learnt.mttr_mean_minutes < rules.mttr_mean_minutes, "better than rules");
    // Learning must not lose ground the shipped policy held (2% is sampling noise on 2,000 incidents).
    assert!(
        ratio(&learnt) <= ratio(&shipped) + 0.02,
        "learnt {:.3} against shipped {:.3}",
        ratio(&learnt),
        ratio(&shipped)
    );
}

#[test]
fn learning_in_the_held_out_world_where_retries_heal_meets_the_targets() {
    check("holdout-retries-heal", "sim-holdout-retries-heal.toml");
}

#[test]
fn learning_in_the_held_out_world_of_slow_people_and_late_sources_meets_the_targets() {
    check("holdout-slow-late", "sim-holdout-slow-late.toml");
}

/// Mean minutes to recovery of the resolved incidents of an experience file.
fn logged_mean(path: &Path) -> f64 {
    let incidents = read_files(&[path]).expect("valid experience");
    let resolved: Vec<f64> = incidents
        .iter()
        .filter(|incident| incident.steps.last().and_then(|step| step.outcome.as_ref()).is_some_and(|o| o.resolved))
        .map(|incident| {
            incident.steps.iter().filter_map(|step| step.outcome.as_ref()).map(|o| o.elapsed_s / 60.0).sum()
        })
        .collect();
    resolved.iter().sum::<f64>() / resolved.len() as f64
}

#[test]
fn the_off_policy_estimate_of_the_logging_policy_covers_its_on_policy_mean() {
    let settings = training_safety_settings();
    let shipped = Policy::from_json(SHIPPED_POLICY).expect("the shipped policy loads");
    // Greedy logging: a candidate identical to the logging policy is estimated at the logged mean.
    let greedy = temp("greedy.jsonl");
    collect("config/sim-cause-mix.toml", 1_000, "0", 3, &greedy);
    let dataset = Dataset::build(&read_files(&[&greedy]).expect("valid"), &settings);
    let logging = choices(&dataset, &shipped, &settings);
    let comparison = compare(&dataset, &logging, &logging, &OpeSettings::default());
    let estimate = comparison.candidate.doubly_robust;
    assert!((estimate.estimate - comparison.logged_mean).abs() < 1e-6, "{estimate:?} vs {}", comparison.logged_mean);
    assert!(estimate.low <= comparison.logged_mean && comparison.logged_mean <= estimate.high);
    assert_eq!(comparison.difference.estimate, 0.0);
    // Exploring logging: the greedy policy's estimate covers what it does on other incidents.
    let exploring = temp("exploring.jsonl");
    collect("config/sim-cause-mix.toml", 1_500, "0.2", 4, &exploring);
    let dataset = Dataset::build(&read_files(&[&exploring]).expect("valid"), &settings);
    let greedy_choices = choices(&dataset, &shipped, &settings);
    let comparison = compare(&dataset, &greedy_choices, &greedy_choices, &OpeSettings::default());
    let on_policy = temp("on-policy.jsonl");
    collect("config/sim-cause-mix.toml", 3_000, "0", 5, &on_policy);
    let truth = logged_mean(&on_policy);
    let estimate = comparison.base.doubly_robust;
    eprintln!("greedy policy: on-policy mean {truth:.1} min, estimated from exploring data {estimate:?}");
    assert!(estimate.low <= truth && truth <= estimate.high, "{truth:.1} outside {estimate:?}");
    assert!(comparison.logged_mean > estimate.estimate, "exploring costs time the greedy policy does not spend");
}
