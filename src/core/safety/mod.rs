//! Safety: fixed guardrails outside the policy. Every proposal passes
//! through [`review`], which applies the named rules of [`rules`] with the
//! bounds of [`SafetySettings`], resolves the autonomy mode, and issues a
//! [`Permit`] only for a mutating action in `auto` mode. A policy file can
//! never loosen any of this: the rules are code, the bounds are the
//! `[safety]` configuration section, and both sit behind hard limits.
//!
//! Facts no single request carries (budgets shared by all workers, the
//! breaker's recent outcomes, Glue's own pending retry) come in as a
//! [`FleetContext`] the daemon fills from its incident store.

pub mod permit;
pub mod rules;
pub mod settings;

use crate::core::decision::{SafetyReport, Verdict};
use crate::core::diagnosis::Diagnosis;
use crate::core::evidence::DecideRequest;
use crate::core::model::{Action, ActionKind, FailureClass, Mode};
use crate::core::policy::params::parametrise;

pub use permit::Permit;
pub use rules::breaker_open;
pub use settings::{OverCeiling, Replacement, SafetySettings, SafetySettingsError};

use rules::{BlockedTo, Check, RuleInput};

/// Fleet-wide facts the safety layer needs that one request does not carry.
/// `Default` means nothing is known yet: zero usage, no outcomes, no pending
/// Glue retry, unknown input size. The daemon fills it from the incident
/// store (shared by all workers, so budgets hold across the fleet) and
/// records it in the request's `context.fleet`, so that `decide` and
/// `replay` reach the same decision from the audit record alone.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FleetContext {
    /// Mutating actions etl-medic took on this job within the last
    /// `job_budget_window_s`, by any worker.
    pub job_actions_in_window: u32,
    /// Mutating actions etl-medic took on any job within the last `fleet_window_s`.
    pub fleet_actions_in_window: u32,
    /// Remediations that healed their run, among those finished within the
    /// last `breaker_window_s` (fleet-wide).
    pub recent_remediation_successes: u32,
    /// Remediations whose run failed again, within the same window.
    pub recent_remediation_failures: u32,
    /// Glue will retry this run itself (the job's MaxRetries is not used up),
    /// so anything that starts a run would race Glue's own retry.
    pub glue_retry_pending: bool,
    /// Number of objects under the job's input locations, when the daemon
    /// listed them; bounds a quarantine by fraction. `None`: only the count
    /// bound applies.
    pub input_object_count: Option<u64>,
}

/// The outcome of a review.
#[derive(Debug, PartialEq)]
pub struct Review {
    pub report: SafetyReport,
    /// What will be done (auto) or would be done (shadow).
    pub final_action: Action,
    pub mode: Mode,
    /// Present only in `auto` mode for a final action that mutates.
    pub permit: Option<Permit>,
}

/// The autonomy mode for one incident, and which setting decided it.
/// `force_shadow = true` records only, everywhere. Otherwise the most
/// specific setting wins: `job_modes.<job>`, then `class_modes.<class>`,
/// then the global `mode`, then the default, `shadow`. When the job's and
/// the class's settings are both present and disagree, `shadow` wins: a
/// person switched one of them off on purpose.
pub fn resolve_mode(settings: &SafetySettings, job_name: Option<&str>, class: FailureClass) -> (Mode, String) {
    if settings.force_shadow {
        return (Mode::Shadow, "force_shadow = true".to_string());
    }
    let said = |key: String, mode: Mode| (mode, format!("{key} = {}", mode.as_str()));
    let job = job_name.and_then(|name| Some((name, *settings.job_modes.get(name)?)));
    let class_mode = settings.class_modes.get(&class).copied();
    match (job, class_mode) {
        (Some((_, Mode::Auto)), Some(Mode::Shadow)) => said(format!("class_modes.{class}"), Mode::Shadow),
        (Some((name, mode)), _) => said(format!("job_modes.{name}"), mode),
        (None, Some(mode)) => said(format!("class_modes.{class}"), mode),
        (None, None) => match settings.mode {
            Some(mode) => said("mode".to_string(), mode),
            None => (Mode::Shadow, "default: shadow".to_string()),
        },
    }
}

/// Applies every rule to `proposal`. Pure and deterministic.
pub fn review(
    proposal: Action,
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> Review {
    let input = RuleInput { request, diagnosis, settings, fleet };
    let proposed_kind = proposal.kind();
    let (mode, mode_reason) = resolve_mode(settings, request.job_name(), diagnosis.class);
    let (final_action, verdict, rule, reason) = match apply_rules(proposal, &input) {
        RulesOutcome::Allowed(action) => (action, Verdict::Allowed, None, None),
        RulesOutcome::Lowered { action, rule, reason } => (action, Verdict::Replaced, Some(rule), Some(reason)),
        RulesOutcome::Blocked { rule, reason, to } => {
            (replacement(to, settings, rule, &reason, proposed_kind), Verdict::Replaced, Some(rule), Some(reason))
        }
    };
    let permit = permit_for(mode, &final_action, request);
    debug_assert!(permit.is_none() || mode == Mode::Auto, "no permit in shadow mode");
    let report = SafetyReport { verdict, rule, final_kind: final_action.kind(), reason, mode_reason };
    Review { report, final_action, mode, permit }
}

/// The action kinds safety would let through (possibly lowered) for this
/// incident, in [`ActionKind`] order; `escalate` is always among them. The
/// trainer explores only among these.
pub fn allowed_actions(
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> Vec<ActionKind> {
    let input = RuleInput { request, diagnosis, settings, fleet };
    ActionKind::ALL
        .into_iter()
        .filter(|kind| {
            let action = parametrise(*kind, request, diagnosis, settings);
            !matches!(apply_rules(action, &input), RulesOutcome::Blocked { .. })
        })
        .collect()
}

enum RulesOutcome {
    Allowed(Action),
    Lowered { action: Action, rule: &'static str, reason: String },
    Blocked { rule: &'static str, reason: String, to: BlockedTo },
}

/// Runs the rules in order; a lowered action is what later rules see, and
/// the first block ends the review.
fn apply_rules(proposal: Action, input: &RuleInput<'_>) -> RulesOutcome {
    let mut current = proposal;
    let mut lowered_by: Option<(&'static str, String)> = None;
    for (name, rule) in rules::RULES {
        match rule(&current, input) {
            Check::Pass => {}
            Check::Lower { action, reason } => {
                debug_assert_eq!(action.kind(), current.kind(), "lowering keeps the action kind");
                current = action;
                lowered_by = Some((name, reason));
            }
            Check::Block { reason, to } => return RulesOutcome::Blocked { rule: name, reason, to },
        }
    }
    match lowered_by {
        Some((rule, reason)) => RulesOutcome::Lowered { action: current, rule, reason },
        None => RulesOutcome::Allowed(current),
    }
}

fn replacement(to: BlockedTo, settings: &SafetySettings, rule: &str, reason: &str, proposed: ActionKind) -> Action {
    let escalate = || Action::Escalate { reason: format!("safety rule {rule} replaced {proposed}: {reason}") };
    match (to, settings.replacement) {
        (BlockedTo::LogAndWait, _) | (BlockedTo::Configured, Replacement::LogAndWait) => Action::LogAndWait {},
        (BlockedTo::Escalate, _) | (BlockedTo::Configured, Replacement::Escalate) => escalate(),
    }
}

fn permit_for(mode: Mode, final_action: &Action, request: &DecideRequest) -> Option<Permit> {
    if mode != Mode::Auto || !final_action.kind().mutates() {
        return None;
    }
    // The run-identity rule blocked every mutating action without these, so
    // both are present here; the `?` keeps that a checked fact, not a panic.
    let job_name = request.job_name()?;
    let run_id = rules::run_id(request)?;
    Some(Permit::issue(final_action.clone(), job_name.to_string(), run_id.to_string()))
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod rule_tests;

#[cfg(test)]
mod property_tests;
