//! The tabular Q-policy and its file format `etl-medic-policy/1`
//! (docs/policy-format.md). The trainer builds a [`QTable`] and writes it
//! with [`QTable::to_json_pretty`]; `decide` loads it with [`QTable::from_json`].
//!
//! The file is meant to be read by a person and diffed in review, so it is
//! deterministic: maps are ordered (BTreeMap), Q-values are rounded to six
//! decimals, and the same table always serialises to the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use thiserror::Error;

use crate::core::model::ActionKind;
use crate::core::policy::state::{State, StateKeyError};

#[derive(Debug, Clone, PartialEq, Error)]
pub enum PolicyError {
    #[error("policy file is not a valid etl-medic-policy/1 document: {0}")]
    Json(String),
    /// `found` is the file's `format` value as JSON, or `missing`.
    #[error("policy file has format {found}; this build reads \"etl-medic-policy/1\"")]
    WrongFormat { found: String },
    #[error("policy file has an empty version")]
    EmptyVersion,
    #[error("policy file has default {0:?}; the only supported fallback is \"rules\"")]
    UnknownDefault(String),
    #[error(
        "policy file names unknown action {name:?} in {location}; known actions are escalate, log_and_wait, retry, wait_and_retry, wait_for_source, retry_with_more_capacity, rollback_schema, quarantine_bad_records"
    )]
    UnknownAction { name: String, location: String },
    #[error("policy file has a non-finite Q-value for {action} in state {state:?}")]
    NonFinite { state: String, action: String },
    #[error("policy state {state:?} has a Q-value for {action}, which is not in the file's \"actions\" list")]
    ActionNotListed { state: String, action: ActionKind },
    #[error("policy file has an {0}")]
    StateKey(#[from] StateKeyError),
}

/// The format tag this build reads and writes.
pub const FORMAT_TAG: &str = "etl-medic-policy/1";

/// Decimals kept when a Q-value is written; more is noise to a reader.
const Q_DECIMALS: f64 = 1e6;

/// Values learnt for one state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateEntry {
    pub q: BTreeMap<ActionKind, f64>,
    pub visits: BTreeMap<ActionKind, u64>,
}

/// A versioned Q-table. State keys are validated with [`State::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct QTable {
    version: String,
    trained: BTreeMap<String, serde_json::Value>,
    actions: Vec<ActionKind>,
    states: BTreeMap<String, StateEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    format: String,
    version: String,
    #[serde(default)]
    trained: BTreeMap<String, serde_json::Value>,
    actions: Vec<String>,
    #[serde(default = "default_fallback")]
    default: String,
    #[serde(default)]
    states: BTreeMap<String, StateFileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFileEntry {
    q: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    visits: BTreeMap<String, u64>,
}

fn default_fallback() -> String {
    "rules".to_string()
}

impl QTable {
    /// An empty table over every action.
    pub fn new(version: impl Into<String>) -> QTable {
        QTable {
            version: version.into(),
            trained: BTreeMap::new(),
            actions: ActionKind::ALL.to_vec(),
            states: BTreeMap::new(),
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Training metadata (seed, episodes, simulator parameter hash, ...), free-form.
    pub fn trained(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.trained
    }

    pub fn set_trained(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.trained.insert(key.into(), value);
    }

    /// The actions the table covers, in [`ActionKind`] order.
    pub fn actions(&self) -> &[ActionKind] {
        &self.actions
    }

    pub fn states(&self) -> &BTreeMap<String, StateEntry> {
        &self.states
    }

    pub fn entry(&self, state_key: &str) -> Option<&StateEntry> {
        self.states.get(state_key)
    }

    pub fn q(&self, state_key: &str, action: ActionKind) -> Option<f64> {
        self.states.get(state_key).and_then(|entry| entry.q.get(&action)).copied()
    }

    /// Sets one Q-value; refuses an invalid state key, a non-finite value or
    /// an action outside [`QTable::actions`].
    pub fn set_q(&mut self, state_key: &str, action: ActionKind, value: f64) -> Result<(), PolicyError> {
        State::parse(state_key)?;
        if !value.is_finite() {
            return Err(PolicyError::NonFinite { state: state_key.to_string(), action: action.as_str().to_string() });
        }
        if !self.actions.contains(&action) {
            return Err(PolicyError::ActionNotListed { state: state_key.to_string(), action });
        }
        self.states.entry(state_key.to_string()).or_default().q.insert(action, value);
        Ok(())
    }

    pub fn visits(&self, state_key: &str, action: ActionKind) -> u64 {
        self.states.get(state_key).and_then(|entry| entry.visits.get(&action)).copied().unwrap_or(0)
    }

    /// Sets the visit count of (state, action) in one go.
    pub fn set_visits(&mut self, state_key: &str, action: ActionKind, count: u64) -> Result<(), PolicyError> {
        State::parse(state_key)?;
        self.states.entry(state_key.to_string()).or_default().visits.insert(action, count);
        Ok(())
    }

    /// Counts one more visit of (state, action); saturates rather than wraps.
    pub fn add_visit(&mut self, state_key: &str, action: ActionKind) -> Result<(), PolicyError> {
        State::parse(state_key)?;
        let count = self.states.entry(state_key.to_string()).or_default().visits.entry(action).or_insert(0);
        *count = count.saturating_add(1);
        Ok(())
    }

    /// The greedy action among `candidates` that have a Q-value in this
    /// state, ties broken by [`ActionKind`] order (the less invasive wins);
    /// `None` when the state is unseen or none of the candidates was learnt.
    pub fn greedy(&self, state_key: &str, candidates: &[ActionKind]) -> Option<(ActionKind, f64)> {
        let entry = self.states.get(state_key)?;
        let mut best: Option<(ActionKind, f64)> = None;
        for kind in ActionKind::ALL.into_iter().filter(|kind| candidates.contains(kind)) {
            if let Some(value) = entry.q.get(&kind).copied() {
                // Strictly greater: an equal value never displaces an earlier kind.
                if best.is_none_or(|(_, best_value)| value > best_value) {
                    best = Some((kind, value));
                }
            }
        }
        best
    }

    /// Reads a policy file, with an error that says what is wrong and where.
    pub fn from_json(text: &str) -> Result<QTable, PolicyError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| PolicyError::Json(error.to_string()))?;
        // The tag is checked before the shape, so a file of another format
        // gets "wrong format" rather than a confusing field error.
        match value.get("format") {
            Some(serde_json::Value::String(tag)) if tag == FORMAT_TAG => {}
            Some(other) => return Err(PolicyError::WrongFormat { found: other.to_string() }),
            None => return Err(PolicyError::WrongFormat { found: "missing".to_string() }),
        }
        let file: PolicyFile = serde_json::from_value(value).map_err(|error| PolicyError::Json(error.to_string()))?;
        if file.version.trim().is_empty() {
            return Err(PolicyError::EmptyVersion);
        }
        if file.default != "rules" {
            return Err(PolicyError::UnknownDefault(file.default));
        }
        let mut actions = Vec::with_capacity(file.actions.len());
        for name in &file.actions {
            let kind = parse_action(name, "actions")?;
            if !actions.contains(&kind) {
                actions.push(kind);
            }
        }
        actions.sort_unstable();
        let mut table = QTable { version: file.version, trained: file.trained, actions, states: BTreeMap::new() };
        for (state_key, file_entry) in file.states {
            State::parse(&state_key)?;
            let mut entry = StateEntry::default();
            for (name, value) in file_entry.q {
                let kind = parse_action(&name, &format!("states[{state_key:?}].q"))?;
                if !value.is_finite() {
                    return Err(PolicyError::NonFinite { state: state_key.clone(), action: name });
                }
                if !table.actions.contains(&kind) {
                    return Err(PolicyError::ActionNotListed { state: state_key.clone(), action: kind });
                }
                entry.q.insert(kind, value);
            }
            for (name, count) in file_entry.visits {
                let kind = parse_action(&name, &format!("states[{state_key:?}].visits"))?;
                entry.visits.insert(kind, count);
            }
            table.states.insert(state_key, entry);
        }
        Ok(table)
    }

    /// The file text: pretty JSON, byte-for-byte deterministic.
    pub fn to_json_pretty(&self) -> String {
        let file = PolicyFile {
            format: FORMAT_TAG.to_string(),
            version: self.version.clone(),
            trained: self.trained.clone(),
            actions: self.actions.iter().map(|kind| kind.as_str().to_string()).collect(),
            default: default_fallback(),
            states: self
                .states
                .iter()
                .map(|(key, entry)| {
                    let file_entry = StateFileEntry {
                        q: entry.q.iter().map(|(kind, value)| (kind.as_str().to_string(), round_q(*value))).collect(),
                        visits: entry.visits.iter().map(|(kind, count)| (kind.as_str().to_string(), *count)).collect(),
                    };
                    (key.clone(), file_entry)
                })
                .collect(),
        };
        // Serialising plain strings, integers, finite floats and JSON values
        // into a String cannot fail: no I/O, no non-string map keys.
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn round_q(value: f64) -> f64 {
    debug_assert!(value.is_finite(), "set_q and from_json refuse non-finite values");
    let rounded = (value * Q_DECIMALS).round() / Q_DECIMALS;
    // -0.0 would print as "-0.0"; one zero reads better and compares equal.
    if rounded == 0.0 { 0.0 } else { rounded }
}

fn parse_action(name: &str, location: &str) -> Result<ActionKind, PolicyError> {
    ActionKind::parse(name)
        .ok_or_else(|| PolicyError::UnknownAction { name: name.to_string(), location: location.to_string() })
}

/// Probability that an epsilon-greedy policy picks `chosen` among
/// `candidates` given their Q-values: `1 - epsilon + epsilon / n` for the
/// greedy action, `epsilon / n` for any other candidate, 0 outside them.
/// The trainer logs it with each exploratory action for off-policy evaluation.
pub fn epsilon_greedy_propensity(
    q_values: &BTreeMap<ActionKind, f64>,
    candidates: &[ActionKind],
    chosen: ActionKind,
    epsilon: f64,
) -> f64 {
    let bounded_epsilon = epsilon.clamp(0.0, 1.0);
    let candidate_kinds: Vec<ActionKind> =
        ActionKind::ALL.into_iter().filter(|kind| candidates.contains(kind)).collect();
    if !candidate_kinds.contains(&chosen) {
        return 0.0;
    }
    let count = candidate_kinds.len() as f64;
    let mut greedy: Option<(ActionKind, f64)> = None;
    for kind in &candidate_kinds {
        let value = q_values.get(kind).copied().unwrap_or(f64::NEG_INFINITY);
        if greedy.is_none_or(|(_, best)| value > best) {
            greedy = Some((*kind, value));
        }
    }
    let explore_share = bounded_epsilon / count;
    if greedy.map(|(kind, _)| kind) == Some(chosen) { 1.0 - bounded_epsilon + explore_share } else { explore_share }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
