//! decide: diagnosis -> state -> policy proposal -> parameters -> safety
//! review, one pure function. The daemon, the simulator, `decide` and
//! `replay` all call it, so a production decision replays exactly.
//!
//! The rules baseline proposes over every action kind; the safety layer then
//! replaces what it must and says which rule did, so a reader sees why a
//! remedy was not taken. A trained table proposes only among the actions
//! the safety layer allows unchanged for this request (spec/experience.md:
//! a learned policy only ever chooses among what safety allows), so a
//! table learnt on one estate never proposes what another estate's
//! guardrails replace; for a state it never saw it falls back to the rules
//! among those same actions.
//!
//! With exploration (`Exploration`, `decide --explore`), in `auto` mode and
//! for a job that is not critical, the proposal is sometimes drawn
//! uniformly among the actions allowed unchanged instead (see
//! `core::policy::explore`); the decision then says so (`policy.explored`)
//! and gives the probability of its final action (`policy.propensity`).

use crate::core::decision::{Basis, Verdict};
use crate::core::decision::{Decision, PolicyReport};
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::DecideRequest;
use crate::core::evidence::FleetContext;
use crate::core::model::{ActionKind, Mode, RiskTier};
use crate::core::params::{parametrise, source_locations};
use crate::core::policy::explore::{Draw, draw, propensity};
use crate::core::policy::{Exploration, Policy, State};
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

/// Diagnoses the request, then decides greedily.
pub fn decide(
    request: &DecideRequest,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> DecideOutcome {
    decide_exploring(request, policy, settings, fleet, &Exploration::none())
}

/// Diagnoses the request, then decides with `exploration` (greedy when its
/// epsilon is 0). What the daemon's `[policy] explore` and `decide --explore` call.
pub fn decide_exploring(
    request: &DecideRequest,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
    exploration: &Exploration,
) -> DecideOutcome {
    let diagnosis = diagnose(request);
    decide_diagnosed_exploring(request, diagnosis, policy, settings, fleet, exploration)
}

/// Decides greedily on a request whose diagnosis is already known (the
/// simulator and the trainer diagnose once and decide many times).
pub fn decide_diagnosed(
    request: &DecideRequest,
    diagnosis: Diagnosis,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> DecideOutcome {
    decide_diagnosed_exploring(request, diagnosis, policy, settings, fleet, &Exploration::none())
}

/// The action kinds the safety layer lets through *unchanged* for this
/// request (not blocked, not lowered), in [`ActionKind`] order. `escalate`
/// is always among them. Trained tables and exploration choose only among these.
pub fn allowed_unchanged(
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|kind| {
            let proposal = parametrise(*kind, request, diagnosis, settings);
            review(proposal, request, diagnosis, settings, fleet).report.verdict == Verdict::Allowed
        })
        .collect()
}

/// What the rules baseline proposes among: every kind, except
/// `wait_for_source` when the job has no input to watch (the rules then
/// fall through to their next preference instead of an escalation).
fn rules_candidates(request: &DecideRequest, settings: &SafetySettings) -> Vec<ActionKind> {
    let watchable = !source_locations(request, settings).is_empty();
    ActionKind::ALL.into_iter().filter(|kind| *kind != ActionKind::WaitForSource || watchable).collect()
}

/// The full decision: greedy proposal, possibly an exploratory one instead,
/// parameters and the safety review.
pub fn decide_diagnosed_exploring(
    request: &DecideRequest,
    diagnosis: Diagnosis,
    policy: &Policy,
    settings: &SafetySettings,
    fleet: &FleetContext,
    exploration: &Exploration,
) -> DecideOutcome {
    let state = State::from_evidence(request, &diagnosis);
    let needs_allowed = policy.is_trained() || exploration.is_active();
    let allowed =
        if needs_allowed { allowed_unchanged(request, &diagnosis, settings, fleet) } else { ActionKind::ALL.to_vec() };
    let rules_candidates = rules_candidates(request, settings);
    let candidates: &[ActionKind] = if policy.is_trained() { &allowed } else { &rules_candidates };
    let proposal = policy.propose(&state, candidates);
    let greedy =
        review(parametrise(proposal.proposed, request, &diagnosis, settings), request, &diagnosis, settings, fleet);
    let may_explore = exploration.is_active() && greedy.mode == Mode::Auto && request.risk_tier() != RiskTier::Critical;
    let drawn =
        if may_explore { draw(exploration, &request.id, request.history.attempt, &allowed) } else { Draw::Greedy };
    let greedy_final = greedy.report.final_kind;
    let (proposed, reviewed, explored) = match drawn {
        Draw::Explore(kind) => {
            let action = parametrise(kind, request, &diagnosis, settings);
            (kind, review(action, request, &diagnosis, settings, fleet), true)
        }
        Draw::Greedy => (proposal.proposed, greedy, false),
    };
    debug_assert!(!explored || reviewed.report.verdict == Verdict::Allowed, "exploration draws only allowed actions");
    let probability = if may_explore {
        propensity(exploration.epsilon, greedy_final, reviewed.report.final_kind, &allowed)
    } else {
        proposal.propensity
    };
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
            proposed,
            q_values: proposal.q_values,
            propensity: probability,
            explored,
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
    use crate::core::safety::rules::CRITICAL_JOB_REQUIRES_APPROVAL;

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
    fn the_rules_proposal_the_safety_layer_refuses_is_replaced_and_named() {
        let mut critical = request();
        critical.job.risk_tier = Some(crate::core::model::RiskTier::Critical);
        let outcome = decide_diagnosed(
            &critical,
            diagnosis(FailureClass::TransientInfra),
            &Policy::rules(),
            &auto(),
            &FleetContext::default(),
        );
        assert_eq!(outcome.decision.policy.proposed, ActionKind::Retry, "the rules propose over every action");
        assert_eq!(outcome.decision.safety.verdict, Verdict::Replaced);
        assert_eq!(outcome.decision.safety.rule, Some(CRITICAL_JOB_REQUIRES_APPROVAL));
        assert_eq!(outcome.decision.action.kind(), ActionKind::Escalate);
    }

    #[test]
    fn a_trained_table_proposes_only_what_safety_allows_unchanged() {
        let state_key =
            "class=code_bug|ran=unknown|drift=none|attempt=0|risk=medium|source=unknown|recent=unknown|last=none";
        let mut table = QTable::new("t1");
        table.set_q(state_key, ActionKind::Retry, 5.0).expect("valid");
        table.set_q(state_key, ActionKind::Escalate, 1.0).expect("valid");
        let policy = Policy::Table(table);
        let outcome =
            decide_diagnosed(&request(), diagnosis(FailureClass::CodeBug), &policy, &auto(), &FleetContext::default());
        assert_eq!(outcome.decision.policy.proposed, ActionKind::Escalate, "retry is not allowed for a code bug");
        assert_eq!(outcome.decision.policy.basis, Basis::Table);
        assert_eq!(outcome.decision.policy.note, None);
        assert_eq!(outcome.decision.safety.verdict, Verdict::Allowed);
        assert!(!outcome.decision.policy.q_values.contains_key(&ActionKind::Retry));
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
        assert_eq!(unseen.decision.safety.verdict, Verdict::Allowed);
        assert!(unseen.permit.is_some());
    }

    #[test]
    fn exploration_draws_only_allowed_actions_in_auto_mode_and_reports_its_propensity() {
        let exploration = Exploration::new(0.5, 11).expect("valid");
        let mut explored = 0;
        for number in 0..200 {
            let mut incident = request();
            incident.id = serde_json::json!(format!("inc-{number}"));
            let diagnosed = diagnosis(FailureClass::TransientInfra);
            let allowed = allowed_unchanged(&incident, &diagnosed, &auto(), &FleetContext::default());
            let outcome = decide_diagnosed_exploring(
                &incident,
                diagnosed,
                &Policy::rules(),
                &auto(),
                &FleetContext::default(),
                &exploration,
            );
            let decision = &outcome.decision;
            assert_eq!(decision.safety.verdict, Verdict::Allowed);
            let kind = decision.action.kind();
            assert!(allowed.contains(&kind));
            let share = 0.5 / allowed.len() as f64;
            let expected = if kind == ActionKind::Retry { 0.5 + share } else { share };
            assert!((decision.policy.propensity - expected).abs() < 1e-12, "{kind}: {}", decision.policy.propensity);
            explored += usize::from(decision.policy.explored);
        }
        assert!((60..=140).contains(&explored), "{explored} of 200 explored");
        let shadow = decide_diagnosed_exploring(
            &request(),
            diagnosis(FailureClass::TransientInfra),
            &Policy::rules(),
            &SafetySettings::default(),
            &FleetContext::default(),
            &Exploration::new(1.0, 1).expect("valid"),
        );
        assert!(!shadow.decision.policy.explored, "no exploration in shadow mode");
        assert_eq!(shadow.decision.policy.propensity, 1.0);
        let mut critical = request();
        critical.job.risk_tier = Some(crate::core::model::RiskTier::Critical);
        let outcome = decide_diagnosed_exploring(
            &critical,
            diagnosis(FailureClass::TransientInfra),
            &Policy::rules(),
            &auto(),
            &FleetContext::default(),
            &Exploration::new(1.0, 1).expect("valid"),
        );
        assert!(!outcome.decision.policy.explored, "never for a critical job");
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
