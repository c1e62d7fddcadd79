//! decide: diagnosis -> state -> policy proposal -> parameters -> safety
//! review, one pure function. The daemon, the simulator, `decide` and
//! `replay` all call it, so a production decision replays exactly.
//!
//! The policy proposes over every action kind; the safety layer then
//! replaces what it must and says which rule did. Proposing only among
//! allowed actions would hide why a remedy was not taken.

use crate::core::decision::Basis;
use crate::core::decision::{Decision, PolicyReport};
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::DecideRequest;
use crate::core::evidence::FleetContext;
use crate::core::model::ActionKind;
use crate::core::params::parametrise;
use crate::core::policy::{Policy, State};
use crate::core::safety::{Permit, SafetySettings, review};

/// Note on a decision made by the rules baseline because no trained policy is loaded.
pub const UNTRAINED_NOTE: &str = "rules baseline: no trained policy file in use";

/// The decision, and the permit to carry it out when safety issued one
/// (auto mode, mutating final action). The permit is kept apart because it
/// is not data: it cannot be cloned, serialised or rebuilt.
#[derive(Debug, PartialEq)]
pub struct DecideOutcome {
    pub decision: Decision,
    pub permit: Option<Permit>,
}

/// Diagnoses the request, then decides.
pub fn decide(
    request: &DecideRequest,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> DecideOutcome {
    let diagnosis = diagnose(request);
    decide_diagnosed(request, diagnosis, policy, settings, fleet)
}

/// Decides on a request whose diagnosis is already known (the simulator and
/// the trainer diagnose once and decide many times).
pub fn decide_diagnosed(
    request: &DecideRequest,
    diagnosis: Diagnosis,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> DecideOutcome {
    let state = State::from_evidence(request, &diagnosis);
    let proposal = policy.propose(&state, &ActionKind::ALL);
    let proposed_action = parametrise(proposal.proposed, request, &diagnosis, settings);
    let reviewed = review(proposed_action, request, &diagnosis, settings, fleet);
    let note = match proposal.basis {
        Basis::Rules => Some(UNTRAINED_NOTE.to_string()),
        Basis::RulesFallback => {
            Some(format!("rules baseline: state not in trained policy {}, fell back to rules", policy.version()))
        }
        Basis::Table => None,
    };
    let decision = Decision {
        id: request.id.clone(),
        diagnosis,
        state: state.key(),
        policy: PolicyReport {
            version: policy.version(),
            proposed: proposal.proposed,
            q_values: proposal.q_values,
            propensity: proposal.propensity,
            basis: proposal.basis,
            note,
        },
        safety: reviewed.report,
        action: reviewed.final_action,
        mode: reviewed.mode,
    };
    DecideOutcome { decision, permit: reviewed.permit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::Verdict;
    use crate::core::diagnosis::DriftKind;
    use crate::core::model::{Action, FailureClass, Mode};
    use crate::core::policy::QTable;
    use crate::core::safety::fixtures::{diagnosis, request, schema_diagnosis};
    use crate::core::safety::rules::CLASS_ALLOWLIST;

    fn auto() -> SafetySettings {
        SafetySettings { mode: Some(Mode::Auto), ..SafetySettings::default() }
    }

    #[test]
    fn same_request_same_decision_and_says_rules_are_in_use() {
        let settings = SafetySettings::default();
        let first = decide(&request(), &Policy::rules(), &settings, &FleetContext::default());
        let second = decide(&request(), &Policy::rules(), &settings, &FleetContext::default());
        assert_eq!(first, second);
        let first_json = serde_json::to_string(&first.decision).expect("decision serialises");
        assert_eq!(first_json, serde_json::to_string(&second.decision).expect("decision serialises"));
        assert_eq!(first.decision.policy.note.as_deref(), Some(UNTRAINED_NOTE));
        assert_eq!(first.decision.policy.version, "rules-v1");
        assert_eq!(first.decision.mode, Mode::Shadow);
        assert!(first.permit.is_none(), "shadow mode never carries a permit");
    }

    #[test]
    fn breaking_drift_with_known_good_rolls_back_in_auto_mode() {
        let outcome = decide_diagnosed(
            &request(),
            schema_diagnosis(DriftKind::Breaking, Some("3")),
            &Policy::rules(),
            &auto(),
            &FleetContext::default(),
        );
        let expected =
            Action::RollbackSchema { database: "sales".into(), table: "orders".into(), version_id: "3".into() };
        assert_eq!(outcome.decision.action, expected);
        assert_eq!(outcome.decision.safety.verdict, Verdict::Allowed);
        assert_eq!(
            outcome.decision.state,
            "class=schema_drift|ran=unknown|drift=breaking_known_good|attempt=0|risk=medium|source=unknown|recent=unknown|last=none"
        );
        assert_eq!(outcome.permit.as_ref().map(|permit| permit.action()), Some(&expected));
        let json = serde_json::to_value(&outcome.decision).expect("serialises");
        assert_eq!(json["action"]["params"]["version_id"], "3");
        assert_eq!(json["safety"]["final"], "rollback_schema");
        assert_eq!(json["mode"], "auto");
    }

    #[test]
    fn a_trained_proposal_the_safety_layer_refuses_is_replaced_and_named() {
        let state_key =
            "class=code_bug|ran=unknown|drift=none|attempt=0|risk=medium|source=unknown|recent=unknown|last=none";
        let mut table = QTable::new("t1");
        table.set_q(state_key, ActionKind::Retry, 5.0).expect("valid");
        table.set_q(state_key, ActionKind::Escalate, 1.0).expect("valid");
        let policy = Policy::Table(table);
        let outcome =
            decide_diagnosed(&request(), diagnosis(FailureClass::CodeBug), &policy, &auto(), &FleetContext::default());
        assert_eq!(outcome.decision.policy.proposed, ActionKind::Retry);
        assert_eq!(outcome.decision.policy.basis, Basis::Table);
        assert_eq!(outcome.decision.policy.note, None);
        assert_eq!(outcome.decision.safety.verdict, Verdict::Replaced);
        assert_eq!(outcome.decision.safety.rule, Some(CLASS_ALLOWLIST));
        assert_eq!(outcome.decision.action.kind(), ActionKind::Escalate);
        assert!(outcome.permit.is_none());

        let unseen = decide_diagnosed(
            &request(),
            diagnosis(FailureClass::TransientInfra),
            &policy,
            &auto(),
            &FleetContext::default(),
        );
        assert_eq!(unseen.decision.policy.basis, Basis::RulesFallback);
        assert!(
            unseen.decision.policy.note.as_deref().is_some_and(|note| note.contains("state not in trained policy t1"))
        );
        assert_eq!(unseen.decision.action, Action::Retry {});
        assert!(unseen.permit.is_some());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::core::diagnosis::EvidenceSource;
        use crate::core::model::RiskTier;
        use crate::core::safety::fixtures::drift;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever a trained table prefers, the whole pipeline (state,
            /// proposal, parameters, review) never yields an unsafe action.
            #[test]
            fn any_learnt_preference_stays_safe(
                q_values in prop::collection::vec(-10.0_f64..10.0, ActionKind::ALL.len()),
                class in prop::sample::select(FailureClass::ALL.to_vec()),
                breaking in prop::bool::ANY,
                known_good in prop::bool::ANY,
                corroborated in prop::bool::ANY,
                risk in prop::sample::select(RiskTier::ALL.to_vec()),
                attempt in 0_u32..5,
                workers in prop::option::of(2_u32..400),
                job_max in prop::option::of(2_u32..600),
                auto_mode in prop::bool::ANY,
            ) {
                let mut incident = request();
                incident.job.risk_tier = Some(risk);
                incident.job.max_workers = job_max;
                incident.history.attempt = attempt;
                if let Some(run) = incident.job_run.as_mut() {
                    run.number_of_workers = workers;
                }
                let mut diagnosed = diagnosis(class);
                let kind = if breaking { DriftKind::Breaking } else { DriftKind::Additive };
                diagnosed.drift = Some(drift(kind, known_good.then_some("3")));
                diagnosed.bad_objects = vec!["s3://lake/raw/orders/part-1.json".to_string()];
                if corroborated {
                    diagnosed.evidence_sources.push(EvidenceSource::Catalog);
                }
                let state_key = State::from_evidence(&incident, &diagnosed).key();
                let mut table = QTable::new("random");
                for (action, value) in ActionKind::ALL.into_iter().zip(&q_values) {
                    table.set_q(&state_key, action, *value).expect("valid key and finite value");
                }
                let settings = if auto_mode { auto() } else { SafetySettings::default() };
                let outcome = decide_diagnosed(&incident, diagnosed, &Policy::Table(table), &settings, &FleetContext::default());
                let decision = &outcome.decision;
                let mutates = decision.action.kind().mutates();
                prop_assert_eq!(outcome.permit.is_some(), auto_mode && mutates);
                prop_assert_eq!(decision.safety.final_kind, decision.action.kind());
                if mutates {
                    prop_assert!(risk != RiskTier::Critical);
                    prop_assert!(attempt < settings.max_attempts_per_incident);
                    prop_assert!(settings.allows(class, decision.action.kind()));
                }
                match &decision.action {
                    Action::RollbackSchema { version_id, .. } => {
                        prop_assert!(breaking && known_good && corroborated);
                        prop_assert_eq!(version_id.as_str(), "3");
                    }
                    Action::RetryWithMoreCapacity { number_of_workers, .. } => {
                        prop_assert!(*number_of_workers <= settings.workers_ceiling(job_max));
                    }
                    Action::QuarantineBadRecords(_) => prop_assert_eq!(class, FailureClass::DataQuality),
                    _ => {}
                }
            }
        }
    }
}
