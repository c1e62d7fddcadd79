//! Readable renderings of a policy: `policy show` prints the Q-table as a
//! state x action grid (best action marked, visit counts), `policy explain`
//! walks one decide request through diagnosis, state, Q-values and the
//! safety verdict, as a person reviewing the policy would want to read it.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use crate::core::decide::{DecideOutcome, allowed_unchanged};
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;
use crate::core::policy::{Policy, QTable, State};
use crate::core::safety::SafetySettings;

/// A serialised enum's name as the JSON contract spells it (`allowed`,
/// `rules_fallback`), so every printed name is the public lower-case one.
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => "?".to_string(),
    }
}

/// The failure class a state key names (`class=transient_infra|...`).
fn class_of(key: &str) -> &str {
    key.split('|').find_map(|part| part.strip_prefix("class=")).unwrap_or("?")
}

fn header(table: &QTable) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "policy {} ({} states)", table.version(), table.states().len());
    if let Some(episodes) = table.trained().get("episodes") {
        let sims = table.trained().get("sims").map(ToString::to_string).unwrap_or_default();
        let _ = writeln!(text, "trained: {episodes} episodes on {sims}");
    }
    text
}

/// The summary `policy show` prints by default: per failure class, how many
/// states the table holds, how often training visited them, and which action
/// the table picks, weighted by visits (the states a real estate meets most).
pub fn render_summary(table: &QTable) -> String {
    let mut text = header(table);
    let _ = writeln!(
        text,
        "per failure class: the greedy action of its states, weighted by training visits \
         (`policy show --full` prints every state)\n"
    );
    let mut classes: BTreeMap<&str, (usize, u64, BTreeMap<ActionKind, u64>)> = BTreeMap::new();
    for (key, entry) in table.states() {
        let visits: u64 = entry.visits.values().sum();
        let class = classes.entry(class_of(key)).or_default();
        class.0 += 1;
        class.1 += visits;
        if let Some((kind, _)) = table.greedy(key, &ActionKind::ALL) {
            *class.2.entry(kind).or_default() += visits.max(1);
        }
    }
    let width = classes.keys().map(|class| class.len()).max().unwrap_or(5).max("class".len());
    let _ = writeln!(text, "{:<width$} {:>7} {:>12}  greedy action (share of visits)", "class", "states", "visits");
    for (class, (states, visits, picks)) in &classes {
        let total: u64 = picks.values().sum();
        let mut ranked: Vec<(&ActionKind, &u64)> = picks.iter().collect();
        ranked.sort_by(|left, right| right.1.cmp(left.1).then(left.0.cmp(right.0)));
        let shares: Vec<String> = ranked
            .iter()
            .map(|(kind, count)| format!("{} {:.0}%", kind.as_str(), 100.0 * **count as f64 / total.max(1) as f64))
            .collect();
        let _ = writeln!(text, "{class:<width$} {states:>7} {visits:>12}  {}", shares.join(", "));
    }
    text
}

/// The full grid; `filter` keeps states whose key contains it, `min_visits`
/// hides rarely visited states. Q-values are minus expected minutes (with
/// penalties) to recovery: higher is better, `*` marks the greedy choice.
pub fn render_table(table: &QTable, filter: Option<&str>, min_visits: u64) -> String {
    let mut text = header(table);
    let _ = writeln!(
        text,
        "cells: Q-value (visits); * = greedy choice; Q is minus expected minutes to recovery, higher is better\n"
    );
    let width = table.states().keys().map(String::len).max().unwrap_or(5).max(5);
    let column = table.actions().iter().map(|kind| kind.as_str().len()).max().unwrap_or(8).max(14);
    let _ = write!(text, "{:<width$} {:>8}", "state", "visits");
    for kind in table.actions() {
        let _ = write!(text, " {:>column$}", kind.as_str());
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
            let _ = write!(text, " {cell:>column$}");
        }
        text.push('\n');
    }
    let _ = writeln!(text, "\n{shown} states shown");
    text
}

/// Explains a decision `decide` made (the same request, policy, settings
/// and answer): evidence and diagnosis, the state, the Q-values, what safety
/// allows unchanged, its verdict and the final action.
pub fn explain(request: &DecideRequest, outcome: &DecideOutcome, policy: &Policy, settings: &SafetySettings) -> String {
    let decision = &outcome.decision;
    let diagnosis = &decision.diagnosis;
    let state = State::from_evidence(request, diagnosis);
    let allowed = allowed_unchanged(request, diagnosis, settings, &request.fleet_context());
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
            "  drift: {} {} {} -> {} (known good: {})",
            drift.table,
            name(&drift.kind),
            drift.from_version,
            drift.to_version,
            drift.known_good_version.as_deref().unwrap_or("none")
        );
    }
    let _ = writeln!(text, "\nstate: {}", state.key());
    let _ = writeln!(text, "policy: {} (basis {})", decision.policy.version, name(&decision.policy.basis));
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
        let verdict = if allowed.contains(&kind) { "allowed" } else { "not allowed unchanged" };
        let mark = if kind == decision.policy.proposed { "*" } else { " " };
        let _ = writeln!(text, "{mark} {:<26} {value:>12} {visits:>8}  {verdict}", kind.as_str());
    }
    let _ = writeln!(
        text,
        "\nsafety: {}{}",
        name(&decision.safety.verdict),
        decision.safety.rule.map(|rule| format!(" by rule {rule}")).unwrap_or_default()
    );
    if let Some(reason) = &decision.safety.reason {
        let _ = writeln!(text, "  reason: {reason}");
    }
    let action = serde_json::to_string(&decision.action).unwrap_or_default();
    let _ = writeln!(text, "mode: {} ({})", name(&decision.mode), decision.safety.mode_reason);
    let _ = writeln!(text, "final action: {action}");
    text
}
