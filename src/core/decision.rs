//! The answer of the decision core, serialised exactly as `spec/decide.md`
//! shows: diagnosis, the policy's state key and proposal with its Q-values,
//! the safety verdict, the final action and the autonomy mode.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::diagnosis::Diagnosis;
use crate::core::model::{Action, ActionKind, Mode};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub id: serde_json::Value,
    pub diagnosis: Diagnosis,
    /// The policy's readable state key.
    pub state: String,
    pub policy: PolicyReport,
    pub safety: SafetyReport,
    pub action: Action,
    pub mode: Mode,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyReport {
    pub version: String,
    pub proposed: ActionKind,
    /// Value of each action the policy considered, by action name.
    pub q_values: BTreeMap<ActionKind, f64>,
    /// Probability with which the behaviour policy returns this decision's
    /// final action (1.0 for greedy decisions; below 1 when exploring, see
    /// `core::policy::explore`), kept for off-policy evaluation of logged decisions.
    pub propensity: f64,
    /// The proposal was drawn by exploration instead of being the greedy one.
    pub explored: bool,
    /// What the choice rests on: `rules`, `table`, or `rules_fallback` (a
    /// trained table that never saw this state).
    pub basis: Basis,
    /// Set when the rules baseline decided (no trained policy file in use,
    /// or a state the table never saw), saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allowed,
    /// A rule replaced the proposal: by another action, or by the same kind
    /// with lowered parameters (the capacity ceiling); `rule` names it.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyReport {
    pub verdict: Verdict,
    /// Name of the rule that replaced or lowered the proposal; `null` when allowed.
    pub rule: Option<&'static str>,
    #[serde(rename = "final")]
    pub final_kind: ActionKind,
    /// Why the rule fired, for a person reading the audit record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which setting decided the autonomy mode, e.g. `job_modes.orders_daily = auto`.
    pub mode_reason: String,
}

/// What the policy's choice rests on; reported so a reader knows whether a
/// learnt value or a hand-written rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The rules baseline is the policy in use.
    Rules,
    /// The trained table had values for this state.
    Table,
    /// A trained table is in use but never saw this state: the rules decided.
    RulesFallback,
}
