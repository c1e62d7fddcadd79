//! The notifier port (SNS, optionally a Slack-compatible webhook): tell a
//! person about an incident etl-medic will not or could not fix, with the
//! evidence needed to act without opening the console first.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ports::PortError;

/// What a person needs to take over an incident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvidencePacket {
    pub incident_id: String,
    pub job_name: String,
    pub run_id: String,
    /// The diagnosis (class, confidence, signals, drift) as the decision recorded it.
    pub diagnosis: serde_json::Value,
    /// The last error lines, bounded.
    pub log_excerpt: Vec<String>,
    /// Catalog drift, if any was detected.
    pub drift: Option<serde_json::Value>,
    /// Actions already tried for this incident, in order.
    pub tried: Vec<String>,
    /// What the policy proposed.
    pub proposal: String,
    /// Why the proposal was not carried out (safety rule and reason), if it was blocked.
    pub blocked_because: Option<String>,
    /// Where the full audit trail of the incident is.
    pub audit_prefix: String,
    /// `approve` mode: the proposal waiting for a person (or the one that
    /// expired or was rejected), and how to approve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRequest>,
}

/// A proposal of `approve` mode as a person sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// `pending`, `expired`, `rejected` or `refused` (safety said no after approval).
    pub status: String,
    /// The action and its parameters, as `{"kind": .., "params": {..}}`.
    pub action: serde_json::Value,
    pub policy_version: String,
    pub evidence_summary: Vec<String>,
    /// The hash the approval is bound to (Slack buttons carry it).
    pub binding: String,
    pub expires_at: String,
    /// The command that approves it, e.g. `etl-medic approve orders/jr_1`.
    pub approve_command: String,
    /// Who decided, when someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// One line, under 100 characters (SNS subjects are limited).
    pub subject: String,
    pub packet: EvidencePacket,
}

/// Contract: `publish` delivers the escalation at least once to every
/// configured channel or returns an error; it is safe to call again for the
/// same incident after an error (receivers deduplicate on `incident_id`).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError>;
}
