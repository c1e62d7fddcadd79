//! decide: diagnosis -> policy -> safety, one pure function.
//! INTERFACE SKELETON: the policy/safety work replaces the body.

use crate::core::decision::{Decision, PolicyReport, SafetyReport, Verdict};
use crate::core::diagnosis::diagnose;
use crate::core::evidence::DecideRequest;
use crate::core::model::{Action, ActionKind};
use crate::core::policy::{Policy, State};
use crate::core::safety::{FleetContext, SafetySettings};

pub struct DecideOutcome {
    pub decision: Decision,
}

pub fn decide(request: &DecideRequest, policy: &Policy, settings: &SafetySettings, _fleet: &FleetContext) -> DecideOutcome {
    let diagnosis = diagnose(request);
    let state = State::from_evidence(request, &diagnosis);
    let proposal = policy.propose(&state, &ActionKind::ALL);
    DecideOutcome { decision: Decision {
        id: request.id.clone(),
        diagnosis,
        state: state.key().to_string(),
        policy: PolicyReport {
            version: policy.version(),
            proposed: proposal.proposed,
            q_values: proposal.q_values,
            propensity: proposal.propensity,
            note: None,
        },
        safety: SafetyReport { verdict: Verdict::Allowed, rule: None, final_kind: ActionKind::Escalate, reason: None },
        action: Action::Escalate { reason: "skeleton".to_string() },
        mode: settings.mode,
    }
}}
