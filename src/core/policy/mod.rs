//! Policy: from the encoded state of an incident to a proposed action kind,
//! with the values that explain the choice. Two policies exist: the
//! hand-written rules baseline, and a trained Q-table read from a versioned
//! JSON file that falls back to the rules for states it never saw.
//!
//! A policy only proposes. It picks a kind among candidates; parameters are
//! filled by [`crate::core::params`] and the safety layer has the last word.

pub mod baseline;
pub mod explore;
pub mod state;
pub mod table;

use std::collections::BTreeMap;

use crate::core::decision::Basis;
use crate::core::model::ActionKind;

pub use explore::{Exploration, ExplorationError};
pub use state::{State, StateKeyError};
pub use table::{FORMAT_TAG, PolicyError, QTable, epsilon_greedy_propensity};

#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub proposed: ActionKind,
    /// The value of each candidate the policy considered.
    pub q_values: BTreeMap<ActionKind, f64>,
    /// Probability the policy chose `proposed`: 1.0, decisions are greedy.
    pub propensity: f64,
    pub basis: Basis,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    Rules,
    Table(QTable),
}

impl Policy {
    pub fn rules() -> Policy {
        Policy::Rules
    }

    /// Reads an `etl-medic-policy/1` file's text.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        QTable::from_json(text).map(Policy::Table)
    }

    pub fn version(&self) -> String {
        match self {
            Policy::Rules => baseline::BASELINE_VERSION.to_string(),
            Policy::Table(table) => table.version().to_string(),
        }
    }

    pub fn is_trained(&self) -> bool {
        matches!(self, Policy::Table(_))
    }

    /// The greedy choice among `candidates`. Deterministic: equal values
    /// resolve to the earlier [`ActionKind`]. Candidates are taken in
    /// [`ActionKind`] order whatever order the caller gives.
    pub fn propose(&self, state: &State, candidates: &[ActionKind]) -> Proposal {
        if let Policy::Table(table) = self {
            let key = state.key();
            if let Some((proposed, _)) = table.greedy(&key, candidates) {
                let q_values =
                    candidates.iter().filter_map(|kind| table.q(&key, *kind).map(|value| (*kind, value))).collect();
                return Proposal { proposed, q_values, propensity: 1.0, basis: Basis::Table };
            }
        }
        let proposed = baseline::choose(state, candidates);
        let basis = if self.is_trained() { Basis::RulesFallback } else { Basis::Rules };
        Proposal { proposed, q_values: baseline::scores(proposed, candidates), propensity: 1.0, basis }
    }
}
