//! Policy: state encoding, the rules baseline and the tabular Q-policy.
//! INTERFACE SKELETON: the policy work replaces the bodies.

use std::collections::BTreeMap;

use crate::core::diagnosis::Diagnosis;
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State {
    pub key: String,
}

impl State {
    pub fn from_evidence(_request: &DecideRequest, diagnosis: &Diagnosis) -> State {
        State { key: diagnosis.class.as_str().to_string() }
    }
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub proposed: ActionKind,
    pub q_values: BTreeMap<ActionKind, f64>,
    pub propensity: f64,
}

#[derive(Debug, Clone)]
pub enum Policy {
    Rules,
}

impl Policy {
    pub fn rules() -> Policy {
        Policy::Rules
    }
    pub fn from_json(_text: &str) -> Result<Policy, String> {
        Err("skeleton".to_string())
    }
    pub fn version(&self) -> String {
        "rules-v1".to_string()
    }
    pub fn is_trained(&self) -> bool {
        false
    }
    pub fn propose(&self, _state: &State, _candidates: &[ActionKind]) -> Proposal {
        Proposal { proposed: ActionKind::Escalate, q_values: BTreeMap::new(), propensity: 1.0 }
    }
}
