//! Safety: fixed guardrails outside the policy.
//! INTERFACE SKELETON: the safety work replaces the bodies.

use serde::{Deserialize, Serialize};

use crate::core::model::Mode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SafetySettings {
    #[serde(default)]
    pub mode: Mode,
}

/// Fleet-wide facts the safety layer needs that one request does not carry
/// (shared budgets, breaker state). `Default` means nothing is known yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetContext {}

impl SafetySettings {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
