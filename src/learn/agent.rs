//! The policies `evaluate` compares, and one decision step of each on a
//! simulated incident. `rules` and `trained` go through the real decision
//! core (`decide_diagnosed`: diagnosis, state, proposal, parameters, safety),
//! exactly as `etl-medic decide` and the daemon run them. The oracle
//! (`learn::oracle`) knows the true cause and hidden context and plans with
//! them, but picks among the same actions the safety layer allows, so its
//! numbers are reachable under the same guards.
//! The two human baselines (manual, glue-retries) are not governed by
//! etl-medic's safety layer and act as they are.

use serde::Serialize;

use crate::core::decide::decide_diagnosed;
use crate::core::decision::Verdict;
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::DecideRequest;
use crate::core::evidence::FleetContext;
use crate::core::model::Action;
use crate::core::policy::Policy;
use crate::core::safety::{SafetySettings, review};
use crate::learn::oracle::oracle_action;
use crate::sim::{Estate, SimIncident};

/// Which policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    Manual,
    GlueRetries,
    Rules,
    Trained,
    Oracle,
}

impl PolicyName {
    pub const ALL: [PolicyName; 5] =
        [PolicyName::Manual, PolicyName::GlueRetries, PolicyName::Rules, PolicyName::Trained, PolicyName::Oracle];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Manual => "manual",
            PolicyName::GlueRetries => "glue-retries",
            PolicyName::Rules => "rules",
            PolicyName::Trained => "trained",
            PolicyName::Oracle => "oracle",
        }
    }
}

/// Glue's own MaxRetries baseline: this many reruns, then a person.
pub const GLUE_MAX_RETRIES: usize = 3;

/// What a policy did at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What will be executed.
    pub action: Action,
    /// The proposal was replaced by the safety layer (or would have been,
    /// for the baselines that act without it).
    pub replaced: bool,
}

/// Decides one step for `incident` with `policy`. `trained` is the loaded
/// policy file for [`PolicyName::Trained`].
pub fn step(
    name: PolicyName,
    trained: &Policy,
    incident: &SimIncident,
    estate: &Estate,
    settings: &SafetySettings,
) -> Step {
    let request = &incident.request;
    let fleet = FleetContext::default();
    match name {
        PolicyName::Manual => unreviewed(Action::Escalate { reason: "manual baseline".to_string() }, request, settings),
        PolicyName::GlueRetries => {
            let action = if incident.actions_taken.len() < GLUE_MAX_RETRIES {
                Action::Retry {}
            } else {
                Action::Escalate { reason: "glue retries exhausted".to_string() }
            };
            unreviewed(action, request, settings)
        }
        PolicyName::Rules | PolicyName::Trained => {
            let rules = Policy::rules();
            let policy = if name == PolicyName::Rules { &rules } else { trained };
            let outcome = decide_diagnosed(request, diagnose(request), policy, settings, &fleet);
            let replaced = outcome.decision.safety.verdict == Verdict::Replaced;
            Step { action: outcome.decision.action, replaced }
        }
        PolicyName::Oracle => {
            let diagnosis = diagnose(request);
            let proposal = oracle_action(estate, incident, settings);
            let reviewed = review(proposal, request, &diagnosis, settings, &fleet);
            Step { action: reviewed.final_action, replaced: reviewed.report.verdict == Verdict::Replaced }
        }
    }
}

/// A baseline acts without etl-medic's guards; `replaced` says whether the
/// safety layer would have replaced what it did.
fn unreviewed(action: Action, request: &DecideRequest, settings: &SafetySettings) -> Step {
    let diagnosis: Diagnosis = diagnose(request);
    let reviewed = review(action.clone(), request, &diagnosis, settings, &FleetContext::default());
    Step { action, replaced: reviewed.report.verdict == Verdict::Replaced }
}
