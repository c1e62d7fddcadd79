//! The policy file: round trip, byte-for-byte determinism, clear errors, and
//! greedy choice with a deterministic tie-break.

use serde_json::json;

use super::*;
use crate::core::decision::Basis;
use crate::core::policy::Policy;

const DRIFT_KEY: &str =
    "class=schema_drift|ran=late|drift=breaking_known_good|attempt=0|risk=low|source=fresh|recent=healthy|last=none";
const TRANSIENT_KEY: &str =
    "class=transient_infra|ran=late|drift=none|attempt=0|risk=medium|source=unknown|recent=healthy|last=none";

fn trained_table() -> QTable {
    let mut table = QTable::new("2026-11-29.1");
    table.set_trained("seed", json!(42));
    table.set_trained("episodes", json!(20000));
    table.set_q(DRIFT_KEY, ActionKind::RollbackSchema, 2.7).expect("valid");
    table.set_q(DRIFT_KEY, ActionKind::Retry, -4.1).expect("valid");
    table.set_q(TRANSIENT_KEY, ActionKind::Retry, 1.25).expect("valid");
    table.add_visit(DRIFT_KEY, ActionKind::RollbackSchema).expect("valid");
    table
}

#[test]
fn file_round_trips_and_is_byte_for_byte_deterministic() {
    let table = trained_table();
    let text = table.to_json_pretty();
    assert_eq!(QTable::from_json(&text), Ok(table.clone()));
    // Same values inserted in another order give the same bytes.
    let mut reordered = QTable::new("2026-11-29.1");
    reordered.add_visit(DRIFT_KEY, ActionKind::RollbackSchema).expect("valid");
    reordered.set_q(TRANSIENT_KEY, ActionKind::Retry, 1.25).expect("valid");
    reordered.set_q(DRIFT_KEY, ActionKind::Retry, -4.1).expect("valid");
    reordered.set_q(DRIFT_KEY, ActionKind::RollbackSchema, 2.7).expect("valid");
    reordered.set_trained("episodes", json!(20000));
    reordered.set_trained("seed", json!(42));
    assert_eq!(reordered.to_json_pretty(), text);
    assert!(text.starts_with("{\n  \"format\": \"etl-medic-policy/1\",\n  \"version\": \"2026-11-29.1\""), "{text}");
}

#[test]
fn values_are_written_with_six_decimals() {
    let mut table = QTable::new("v");
    table.set_q(TRANSIENT_KEY, ActionKind::Retry, 0.1 + 0.2).expect("valid");
    table.set_q(TRANSIENT_KEY, ActionKind::Escalate, -0.000_000_1).expect("valid");
    let text = table.to_json_pretty();
    assert!(text.contains("\"retry\": 0.3"), "{text}");
    assert!(text.contains("\"escalate\": 0.0"), "{text}");
    let reread = QTable::from_json(&text).expect("reads back");
    assert_eq!(reread.to_json_pretty(), text, "rounding is stable across a round trip");
}

fn error_of(text: &str) -> String {
    QTable::from_json(text).expect_err("must be refused").to_string()
}

#[test]
fn bad_files_get_clear_errors() {
    let valid = trained_table().to_json_pretty();
    assert!(
        error_of(&valid.replace("etl-medic-policy/1", "etl-medic-policy/9")).contains("format \"etl-medic-policy/9\"")
    );
    assert!(error_of("{\"states\": {}}").contains("format missing"));
    assert!(error_of("not json").contains("not a valid etl-medic-policy/1 document"));
    let unknown_action = valid.replace("\"rollback_schema\": 2.7", "\"reboot\": 2.7");
    assert!(error_of(&unknown_action).contains("unknown action \"reboot\""), "{}", error_of(&unknown_action));
    let bad_key = valid.replace("attempt=0|risk=low", "attempt=7|risk=low");
    assert!(error_of(&bad_key).contains("unknown attempt value \"7\""));
    let bad_default = valid.replace("\"default\": \"rules\"", "\"default\": \"retry\"");
    assert!(error_of(&bad_default).contains("only supported fallback is \"rules\""));
    let typo = valid.replace("\"trained\"", "\"trianed\"");
    assert!(error_of(&typo).contains("unknown field `trianed`"));
    let huge = valid.replace("2.7", "1e999");
    assert!(error_of(&huge).contains("not a valid"), "JSON has no infinity: out-of-range numbers are refused");
    let unlisted =
        valid.replace("\"quarantine_bad_records\",\n", "").replace("\"escalate\",", "\"quarantine_bad_records\",");
    let without_escalate_q = json!({"format": "etl-medic-policy/1", "version": "v", "actions": ["retry"],
        "states": {TRANSIENT_KEY: {"q": {"escalate": 1.0}}}});
    assert!(error_of(&without_escalate_q.to_string()).contains("not in the file's \"actions\" list"));
    assert!(QTable::from_json(&unlisted).is_ok(), "action order in the list does not matter");
    let empty_version = json!({"format": "etl-medic-policy/1", "version": " ", "actions": []});
    assert!(error_of(&empty_version.to_string()).contains("empty version"));
}

#[test]
fn set_q_refuses_what_the_file_could_not_hold() {
    let mut table = QTable::new("v");
    assert!(matches!(table.set_q(TRANSIENT_KEY, ActionKind::Retry, f64::NAN), Err(PolicyError::NonFinite { .. })));
    assert!(matches!(table.set_q("class=nope", ActionKind::Retry, 1.0), Err(PolicyError::StateKey(_))));
    assert_eq!(table.q(TRANSIENT_KEY, ActionKind::Retry), None);
}

#[test]
fn greedy_choice_breaks_ties_toward_the_less_invasive_action() {
    let mut table = QTable::new("v");
    table.set_q(TRANSIENT_KEY, ActionKind::WaitAndRetry, 1.0).expect("valid");
    table.set_q(TRANSIENT_KEY, ActionKind::Retry, 1.0).expect("valid");
    table.set_q(TRANSIENT_KEY, ActionKind::Escalate, -1.0).expect("valid");
    let reversed = [ActionKind::WaitAndRetry, ActionKind::Retry, ActionKind::Escalate];
    assert_eq!(table.greedy(TRANSIENT_KEY, &reversed), Some((ActionKind::Retry, 1.0)));
    assert_eq!(
        table.greedy(TRANSIENT_KEY, &[ActionKind::Escalate, ActionKind::RollbackSchema]),
        Some((ActionKind::Escalate, -1.0))
    );
    assert_eq!(table.greedy(TRANSIENT_KEY, &[ActionKind::RollbackSchema]), None);
    assert_eq!(table.greedy(DRIFT_KEY, &ActionKind::ALL), None);
}

#[test]
fn table_policy_proposes_greedily_and_falls_back_to_rules_for_unseen_states() {
    let policy = Policy::from_json(&trained_table().to_json_pretty()).expect("valid file");
    assert!(policy.is_trained());
    assert_eq!(policy.version(), "2026-11-29.1");
    let seen = State::parse(DRIFT_KEY).expect("valid");
    let proposal = policy.propose(&seen, &ActionKind::ALL);
    assert_eq!(
        (proposal.proposed, proposal.basis, proposal.propensity),
        (ActionKind::RollbackSchema, Basis::Table, 1.0)
    );
    assert_eq!(proposal.q_values.get(&ActionKind::Retry), Some(&-4.1));
    let unseen = State::parse(&TRANSIENT_KEY.replace("risk=medium", "risk=high")).expect("valid");
    let fallback = policy.propose(&unseen, &ActionKind::ALL);
    assert_eq!((fallback.proposed, fallback.basis), (ActionKind::Retry, Basis::RulesFallback));
    let rules = Policy::rules().propose(&unseen, &ActionKind::ALL);
    assert_eq!((rules.proposed, rules.basis), (ActionKind::Retry, Basis::Rules));
    assert!(!Policy::rules().is_trained());
}

#[test]
fn epsilon_greedy_propensities_form_a_distribution() {
    let q_values = std::collections::BTreeMap::from([(ActionKind::Retry, 2.0), (ActionKind::Escalate, 0.5)]);
    let candidates = [ActionKind::Escalate, ActionKind::Retry, ActionKind::WaitAndRetry];
    let total: f64 = candidates.iter().map(|kind| epsilon_greedy_propensity(&q_values, &candidates, *kind, 0.3)).sum();
    assert!((total - 1.0).abs() < 1e-12);
    assert!((epsilon_greedy_propensity(&q_values, &candidates, ActionKind::Retry, 0.3) - 0.8).abs() < 1e-12);
    assert!((epsilon_greedy_propensity(&q_values, &candidates, ActionKind::Escalate, 0.3) - 0.1).abs() < 1e-12);
    assert_eq!(epsilon_greedy_propensity(&q_values, &candidates, ActionKind::RollbackSchema, 0.3), 0.0);
    assert_eq!(epsilon_greedy_propensity(&q_values, &candidates, ActionKind::Retry, 0.0), 1.0);
}
