//! One incident from first failure to close, under one policy, with the
//! figures evaluation reports: time to recovery, who resolved it, unsafe
//! actions attempted, wasted runs and DPU-hours.

use serde::Serialize;

use crate::core::model::{Action, ActionKind};
use crate::sim::{Estate, Resolution, SimCause, SimIncident};

/// After this many steps an incident still open is handed to a person, so
/// no policy can loop forever (the safety layer's attempt limit bounds the
/// mutating actions; `log_and_wait` is not bounded by it).
pub const MAX_STEPS: usize = 8;

/// The result of one incident under one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeResult {
    pub incident: String,
    pub cause: SimCause,
    /// Minutes from the failure's event time to recovery.
    pub minutes: f64,
    pub resolution: Resolution,
    /// Proposals the safety layer replaced (or would have), plus actions
    /// harmful for the true cause.
    pub unsafe_actions: u32,
    /// Job runs started by remediations that failed again.
    pub wasted_runs: u32,
    pub dpu_hours: f64,
    pub actions: Vec<ActionKind>,
}

/// Runs `incident` to its close, asking `choose` for each step's action and
/// whether that step's proposal was unsafe by the safety layer's verdict.
pub fn run_episode(
    estate: &Estate,
    incident: &mut SimIncident,
    mut choose: impl FnMut(&SimIncident) -> (Action, bool),
) -> EpisodeResult {
    let mut result = EpisodeResult {
        incident: incident.id.clone(),
        cause: incident.cause,
        minutes: 0.0,
        resolution: Resolution::Human,
        unsafe_actions: 0,
        wasted_runs: 0,
        dpu_hours: 0.0,
        actions: Vec::new(),
    };
    for step_number in 0..MAX_STEPS {
        let (action, replaced) = if step_number + 1 == MAX_STEPS {
            (Action::Escalate { reason: "step limit of the simulation".to_string() }, false)
        } else {
            choose(incident)
        };
        let outcome = estate.apply(incident, &action);
        result.minutes += outcome.minutes;
        result.dpu_hours += outcome.dpu_hours;
        result.wasted_runs += outcome.failed_runs;
        result.unsafe_actions += u32::from(replaced) + u32::from(outcome.harm.is_some());
        result.actions.push(outcome.action);
        if let Some(resolution) = outcome.resolution {
            result.resolution = resolution;
            break;
        }
    }
    debug_assert!(incident.closed, "the last step escalates, which always closes");
    result
}
