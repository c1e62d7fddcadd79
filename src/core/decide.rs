//! decide: diagnosis -> state -> policy proposal -> parameters -> safety
//! review, one pure function. The daemon, the simulator, `decide` and
//! `replay` all call it, so a production decision replays exactly.
//!
//! The policy proposes over every action kind; the safety layer then
//! replaces what it must and says which rule did. Proposing only among
//! allowed actions would hide why a remedy was not taken.

use crate::core::decision::{Decision, PolicyReport};
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;
use crate::core::policy::params::parametrise;
use crate::core::policy::{Basis, Policy, State};
use crate::core::safety::{FleetContext, Permit, SafetySettings, review};

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
pub fn decide(request: &DecideRequest, policy: &Policy, settings: &SafetySettings, fleet: &FleetContext) -> DecideOutcome {
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
