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

use crate::core::decision::{SafetyReport, Verdict};
use crate::core::diagnosis::Diagnosis;
use crate::core::evidence::{DecideRequest, FleetContext};
use crate::core::model::{Action, ActionKind, FailureClass, Mode};
use crate::core::params::parametrise;

pub use crate::core::safety_settings::{OverCeiling, Replacement, SafetySettings, SafetySettingsError};
pub use permit::Permit;
pub use rules::breaker_open;

use rules::{BlockedTo, Check, RuleInput};

/// The outcome of a review.
#[derive(Debug, PartialEq)]
pub struct Review {
    pub report: SafetyReport,
    /// What will be done (auto) or would be done (shadow).
    pub final_action: Action,
    pub mode: Mode,
    /// Present only in `auto` mode for a final action that mutates (in
    /// `approve` mode the permit comes from [`permit_approved`]).
    pub permit: Option<Permit>,
}

/// The autonomy mode for one incident, and which setting decided it.
///
/// `force_shadow = true` records only, everywhere. Otherwise the *job* must
/// opt in: its `job_modes.<job>`, else the global `mode`, else `shadow`.
/// The incident's class can only hold an opted-in job back (modes are
/// ordered shadow < approve < auto, and the lower of the two wins): a class
/// set to `shadow` keeps a job in `auto` or `approve` from acting on that
/// class, a class set to `approve` makes a job in `auto` ask first, while a
/// class set higher than its job grants nothing. The class comes from the
/// job's own text (an error message can quote `503 SlowDown` as a data
/// value), so it must never be what switches a job to acting.
pub fn resolve_mode(settings: &SafetySettings, job_name: Option<&str>, class: FailureClass) -> (Mode, String) {
    if settings.force_shadow {
        return (Mode::Shadow, "force_shadow = true".to_string());
    }
    let job_mode = job_name.and_then(|name| Some((name, *settings.job_modes.get(name)?)));
    let (job_level, job_said) = match (job_mode, settings.mode) {
        (Some((name, mode)), _) => (mode, format!("job_modes.{name} = {}", mode.as_str())),
        (None, Some(mode)) => (mode, format!("mode = {}", mode.as_str())),
        (None, None) => (Mode::Shadow, "default: shadow".to_string()),
    };
    match settings.class_modes.get(&class).copied() {
        Some(class_level) if class_level < job_level => {
            (class_level, format!("class_modes.{class} = {} (holds back {job_said})", class_level.as_str()))
        }
        Some(class_level) if class_level > job_level => (
            job_level,
            format!(
                "{job_said} (class_modes.{class} = {} grants {} only to a job that opted in)",
                class_level.as_str(),
                class_level.as_str()
            ),
        ),
        _ => (job_level, job_said),
    }
}

/// Why an approved action may not be carried out after all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRefused {
    /// The safety rule (or `force_shadow`, `mode`) that refused.
    pub rule: &'static str,
    pub reason: String,
}

/// Safety again, at the moment a person approves `approved`: the kill
/// switch, the mode (configuration may have been turned down since the
/// proposal), and every rule on fresh evidence and fleet counters (a
/// budget, the breaker or the rate limit can still refuse). A permit is
/// issued only for exactly the approved action: a rule that would lower
/// it (a smaller capacity, say) refuses, since the person approved the
/// original parameters, not the lowered ones.
pub fn permit_approved(
    approved: &Action,
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> Result<Permit, ApprovalRefused> {
    if settings.force_shadow {
        return Err(ApprovalRefused { rule: "force_shadow", reason: "the kill switch force_shadow is on".into() });
    }
    let (mode, mode_reason) = resolve_mode(settings, request.job_name(), diagnosis.class);
    if mode == Mode::Shadow {
        return Err(ApprovalRefused { rule: "mode", reason: format!("the job is in shadow mode now ({mode_reason})") });
    }
    let input = RuleInput { request, diagnosis, settings, fleet, approving: true };
    match apply_rules(approved.clone(), &input) {
        RulesOutcome::Allowed(action) if &action == approved => {}
        RulesOutcome::Allowed(_) => {
            return Err(ApprovalRefused {
                rule: "binding",
                reason: "the reviewed action differs from the approved one".into(),
            });
        }
        RulesOutcome::Lowered { rule, reason, .. } | RulesOutcome::Blocked { rule, reason, .. } => {
            return Err(ApprovalRefused { rule, reason });
        }
    }
    permit_for(Mode::Auto, approved, request)
        .ok_or(ApprovalRefused { rule: "permit", reason: format!("{} changes nothing to permit", approved.kind()) })
}

/// Applies every rule to `proposal`. Pure and deterministic.
pub fn review(
    proposal: Action,
    request: &DecideRequest,
    diagnosis: &Diagnosis,
    settings: &SafetySettings,
    fleet: &FleetContext,
) -> Review {
    let (mode, mode_reason) = resolve_mode(settings, request.job_name(), diagnosis.class);
    let input = RuleInput { request, diagnosis, settings, fleet, approving: mode == Mode::Approve };
    let proposed_kind = proposal.kind();
    let (final_action, verdict, rule, reason) = match apply_rules(proposal, &input) {
        RulesOutcome::Allowed(action) => (action, Verdict::Allowed, None, None),
        RulesOutcome::Lowered { action, rule, reason } => (action, Verdict::Replaced, Some(rule), Some(reason)),
        RulesOutcome::Blocked { rule, reason, to } => {
            (replacement(to, settings, rule, &reason, proposed_kind), Verdict::Replaced, Some(rule), Some(reason))
        }
    };
    let permit = permit_for(mode, &final_action, request);
    debug_assert!(permit.is_none() || mode == Mode::Auto, "a permit only in auto mode");
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
    let input = RuleInput { request, diagnosis, settings, fleet, approving: false };
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
    for (name, rule) in rules::SAFETY_RULES {
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
