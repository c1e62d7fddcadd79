//! The oracle of `evaluate`: it knows the true cause and the hidden context
//! of each incident (how late the source is, how much capacity the run
//! needs, which table version worked, this estate's odds of every action
//! and a person's mean delay) and plans with them: an expectimax over the
//! next [`PLAN_DEPTH`] + 1 decisions, each among the actions the safety
//! layer allows unchanged for the request at that point, minimising the
//! expected minutes to recovery (a person closes what is still open at the
//! horizon). It never takes an action that is harmful for the true cause.
//!
//! It does not know the luck of the draws (whether this particular rerun
//! succeeds), so a policy can come out slightly ahead of it on a sample;
//! but it is a bound a policy that cannot see the truth should not beat by
//! much. An earlier oracle followed a fixed remedy per cause and was beaten
//! clearly by the trained policy (late sources, transient faults on jobs
//! whose next run comes soon), which made ratios to it flattering.

use crate::core::decide::allowed_unchanged;
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::FleetContext;
use crate::core::model::Action;
use crate::core::params::parametrise;
use crate::core::safety::SafetySettings;
use crate::learn::episode::MAX_STEPS;
use crate::sim::{Estate, SimIncident};

/// Decisions planned beyond the current one.
pub const PLAN_DEPTH: usize = 3;

/// The oracle's action for the incident's current failure.
pub fn oracle_action(estate: &Estate, incident: &SimIncident, settings: &SafetySettings) -> Action {
    let steps_taken = incident.actions_taken.len();
    // The episode hands the incident to a person at its last step anyway.
    let depth = PLAN_DEPTH.min(MAX_STEPS.saturating_sub(steps_taken + 2));
    let diagnosis = diagnose(&incident.request);
    plan(estate, incident, &diagnosis, settings, depth).1
}

/// Expected minutes to recovery of the best plan, and its first action.
/// The diagnosis is made once per plan: a failed rerun of a simulated
/// incident fails with the same evidence (its message, logs and catalog do
/// not change, and a rerun only reaches the timeout when the first run did).
fn plan(
    estate: &Estate,
    incident: &SimIncident,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    depth: usize,
) -> (f64, Action) {
    let request = &incident.request;
    let fleet = FleetContext::default();
    let mut best: Option<(f64, Action)> = None;
    for kind in allowed_unchanged(request, diagnosis, settings, &fleet) {
        let action = parametrise(kind, request, diagnosis, settings);
        let preview = estate.preview(incident, &action);
        if preview.harmful {
            continue;
        }
        let probability = preview.success_probability;
        let value = match &preview.on_failure {
            None => preview.success_minutes,
            Some(_) if probability >= 1.0 => preview.success_minutes,
            Some(next) => {
                let continuation = if depth == 0 {
                    escalation_minutes(estate, next)
                } else {
                    plan(estate, next, diagnosis, settings, depth - 1).0
                };
                probability * preview.success_minutes + (1.0 - probability) * (preview.failure_minutes + continuation)
            }
        };
        // Strictly better: ties keep the earlier, less invasive kind.
        if best.as_ref().is_none_or(|(best_value, _)| value < *best_value - 1e-9) {
            best = Some((value, action));
        }
    }
    best.unwrap_or_else(|| {
        let escalate = Action::Escalate { reason: "oracle: nothing else allowed".to_string() };
        (escalation_minutes(estate, incident), escalate)
    })
}

fn escalation_minutes(estate: &Estate, incident: &SimIncident) -> f64 {
    estate.preview(incident, &Action::Escalate { reason: String::new() }).success_minutes
}
