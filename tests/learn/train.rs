//! Training is reproducible and produces a policy `decide` can load.

use etl_medic::core::policy::{Policy, QTable};
use etl_medic::learn::train::{TrainOptions, train};
use etl_medic::sim::SimConfig;

fn small_options(seed: u64) -> TrainOptions {
    TrainOptions::new(vec![SimConfig::embedded_default()], 120, seed)
}

#[test]
fn same_seed_gives_the_same_policy_file_byte_for_byte() {
    let first = train(&small_options(11), |_| {}).unwrap().to_json_pretty();
    let second = train(&small_options(11), |_| {}).unwrap().to_json_pretty();
    assert_eq!(first, second);
    let other = train(&small_options(12), |_| {}).unwrap().to_json_pretty();
    assert_ne!(first, other, "another seed explores differently");
}

#[test]
fn the_trained_file_loads_as_a_policy_and_records_its_learning_curve() {
    let mut progress_calls = 0;
    let table = train(&small_options(3), |_| progress_calls += 1).unwrap();
    assert_eq!(progress_calls, 120);
    let text = table.to_json_pretty();
    let policy = Policy::from_json(&text).unwrap();
    assert!(policy.is_trained());
    let reloaded = QTable::from_json(&text).unwrap();
    assert!(!reloaded.states().is_empty());
    let curve = reloaded.trained()["learning_curve"].as_array().unwrap();
    assert!(curve.len() >= 10, "a point per block of episodes");
    assert_eq!(curve.last().unwrap()["episodes"], 120);
    assert_eq!(reloaded.trained()["seed"], 3);
}
