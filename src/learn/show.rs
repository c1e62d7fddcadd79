//! Readable renderings of a policy: `policy show` prints the Q-table as a
//! state x action grid (best action marked, visit counts), `policy explain`
//! walks one decide request through diagnosis, state, Q-values and the
//! safety verdict, as a person reviewing the policy would want to read it.

use std::fmt::Write as _;

use crate::core::decide::decide_diagnosed;
use crate::core::diagnosis::diagnose;
use crate::core::evidence::DecideRequest;
use crate::core::evidence::FleetContext;
use crate::core::model::ActionKind;
use crate::core::policy::{Policy, QTable, State};
use crate::core::safety::allowed_actions;
use crate::learn::train::training_safety_settings;

/// Short column headers, in [`ActionKind`] order.
fn short_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Escalate => "escalate",
        ActionKind::LogAndWait => "log_wait",
        ActionKind::Retry => "retry",
        ActionKind::WaitAndRetry => "wait_retry",
        ActionKind::WaitForSource => "wait_source",
        ActionKind::RetryWithMoreCapacity => "capacity",
        ActionKind::RollbackSchema => "rollback",
        ActionKind::QuarantineBadRecords => "quarantine",
    }
}

/// The grid; `filter` keeps states whose key contains it, `min_visits`
/// hides rarely visited states. Q-values are minus expected minutes (with
/// penalties) to recovery: higher is better, `*` marks the greedy choice.
pub fn render_table(table: &QTable, filter: Option<&str>, min_visits: u64) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "policy {} ({} states)", table.version(), table.states().len());
    if let Some(episodes) = table.trained().get("episodes") {
        let sims = table.trained().get("sims").map(ToString::to_string).unwrap_or_default();
        let _ = writeln!(text, "trained: {episodes} episodes on {sims}");
    }
    let _ = writeln!(
        text,
        "cells: Q-value (visits); * = greedy choice; Q is minus expected minutes to recovery, higher is better\n"
    );
    let width = table.states().keys().map(String::len).max().unwrap_or(5).max(5);
    let _ = write!(text, "{:<width$} {:>8}", "state", "visits");
    for kind in table.actions() {
        let _ = write!(text, " {:>18}", short_name(*kind));
    }
    text.push('\n');
    let mut shown = 0;
    for (key, entry) in table.states() {
        let visits: u64 = entry.visits.values().sum();
        if filter.is_some_and(|needle| !key.contains(needle)) || visits < min_visits {
            continue;
        }
        shown += 1;
        let best = table.greedy(key, &ActionKind::ALL).map(|(kind, _)| kind);
        let _ = write!(text, "{key:<width$} {visits:>8}");
        for kind in table.actions() {
            let cell = match entry.q.get(kind) {
                Some(value) => {
                    let mark = if Some(*kind) == best { "*" } else { " " };
                    format!("{mark}{value:.0} ({})", entry.visits.get(kind).copied().unwrap_or(0))
                }
                None => "-".to_string(),
            };
            let _ = write!(text, " {cell:>18}");
        }
        text.push('\n');
    }
    let _ = writeln!(text, "\n{shown} states shown");
    text
}

/// Explains the decision on one request: evidence and diagnosis, the state,
/// the Q-values, what safety allows, its verdict and the final action.
/// Uses the training safety settings (auto mode, default bounds).
pub fn explain(request: &DecideRequest, policy: &Policy) -> String {
    let settings = training_safety_settings();
    let fleet = FleetContext::default();
    let diagnosis = diagnose(request);
    let state = State::from_evidence(request, &diagnosis);
    let allowed = allowed_actions(request, &diagnosis, &settings, &fleet);
    let outcome = decide_diagnosed(request, diagnosis.clone(), policy, &settings, &fleet);
    let decision = &outcome.decision;
    let mut text = String::new();
    let _ = writeln!(text, "request {}: job {}", request.id, request.job_name().unwrap_or("?"));
    let _ = writeln!(text, "error message: {}", request.error_message().unwrap_or("(none)"));
    let _ = writeln!(text, "\ndiagnosis: {} (confidence {:.2})", diagnosis.class, diagnosis.confidence);
    for signal in &diagnosis.signals {
        let _ = writeln!(text, "  signal: {signal}");
    }
    if let Some(drift) = &diagnosis.drift {
        let _ = writeln!(
            text,
            "  drift: {} {:?} {} -> {} (known good: {})",
            drift.table,
            drift.kind,
            drift.from_version,
            drift.to_version,
            drift.known_good_version.as_deref().unwrap_or("none")
        );
    }
    let _ = writeln!(text, "\nstate: {}", state.key());
    let _ = writeln!(text, "policy: {} (basis {:?})", decision.policy.version, decision.policy.basis);
    if let Some(note) = &decision.policy.note {
        let _ = writeln!(text, "  note: {note}");
    }
    let _ = writeln!(text, "  {:<26} {:>12} {:>8}  safety", "action", "Q-value", "visits");
    let table = match policy {
        Policy::Table(table) => Some(table),
        Policy::Rules => None,
    };
    for kind in ActionKind::ALL {
        let value = decision.policy.q_values.get(&kind).map_or("-".to_string(), |value| format!("{value:.1}"));
        let visits = table.map_or(0, |table| table.visits(&state.key(), kind));
        let verdict = if allowed.contains(&kind) { "allowed" } else { "blocked" };
        let mark = if kind == decision.policy.proposed { "*" } else { " " };
        let _ = writeln!(text, "{mark} {:<26} {value:>12} {visits:>8}  {verdict}", kind.as_str());
    }
    let _ = writeln!(
        text,
        "\nsafety: {:?}{}",
        decision.safety.verdict,
        decision.safety.rule.map(|rule| format!(" by rule {rule}")).unwrap_or_default()
    );
    if let Some(reason) = &decision.safety.reason {
        let _ = writeln!(text, "  reason: {reason}");
    }
    let action = serde_json::to_string(&decision.action).unwrap_or_default();
    let _ = writeln!(text, "final action: {action}");
    text
}
