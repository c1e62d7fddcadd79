//! `policy show` and `policy explain` render what a reviewer needs.

use etl_medic::core::decide::decide;
use etl_medic::core::policy::{Policy, QTable};
use etl_medic::learn::show::{explain, render_summary, render_table};
use etl_medic::learn::train::training_safety_settings;
use etl_medic::sim::{Estate, SimCause, SimConfig};

const SHIPPED_POLICY: &str = include_str!("../../config/policy.json");

#[test]
fn show_renders_states_by_actions_with_the_best_marked_and_visits() {
    let table = QTable::from_json(SHIPPED_POLICY).unwrap();
    let text = render_table(&table, Some("class=schema_drift"), 100);
    assert!(text.contains("rollback_schema"), "unabbreviated action names: {text}");
    let rows: Vec<&str> = text.lines().filter(|line| line.starts_with("class=schema_drift")).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|row| row.contains('*')), "every state marks its greedy action");
    assert!(rows.iter().all(|row| row.contains('(')), "visit counts are shown");
    assert!(!text.contains("class=code_bug"), "the filter keeps only matching states");
}

#[test]
fn explain_walks_a_request_through_diagnosis_state_values_and_safety() {
    let estate = Estate::new(SimConfig::embedded_default(), 21);
    let number = (0..300).find(|number| estate.incident(*number).cause == SimCause::SchemaDrift).unwrap();
    let request = estate.incident(number).request;
    let policy = Policy::from_json(SHIPPED_POLICY).unwrap();
    let settings = training_safety_settings();
    let outcome = decide(&request, &policy, &settings, &request.fleet_context());
    let text = explain(&request, &outcome, &policy, &settings);
    for expected in ["diagnosis: schema_drift", "state: class=schema_drift", "Q-value", "safety:", "final action:"] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[test]
fn the_summary_gives_every_class_its_greedy_actions_in_a_few_lines() {
    let table = QTable::from_json(SHIPPED_POLICY).unwrap();
    let text = render_summary(&table);
    for class in ["transient_infra", "resource_exhaustion", "schema_drift", "source_unavailable", "code_bug"] {
        let row = text.lines().find(|line| line.starts_with(class)).unwrap_or_else(|| panic!("{class} row in\n{text}"));
        assert!(row.contains('%'), "shares of the greedy actions: {row}");
    }
    assert!(text.lines().count() < 30, "a summary, not the {} states:\n{text}", table.states().len());
    assert!(text.contains("--full"), "says how to see every state");
}
