//! What the backtest writes per incident: the report record (report.json,
//! one per incident) and the experience lines (spec/experience.md) of its
//! decision steps. An incident is a streak of failures of one job, from the
//! first failure in the window until the job next succeeded; each failure
//! in it got the decision the daemon would have made then.

use serde::{Deserialize, Serialize};

use crate::backtest::estimate::Estimate;
use crate::backtest::follow_up::FollowUp;
use crate::core::decision::Decision;
use crate::core::model::{Action, ActionKind, FailureClass};

/// One incident of report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentReport {
    /// The daemon's incident id for the first failure (`job/run`).
    pub incident_id: String,
    pub job: String,
    pub run_id: String,
    /// FAILED, TIMEOUT or ERROR.
    pub state: String,
    /// When the first failed run ended (RFC 3339).
    pub failed_at: String,
    pub error_message: Option<String>,
    /// The job was already failing when the window opened.
    pub began_before_window: bool,
    pub diagnosis: DiagnosisSummary,
    pub proposal: Proposal,
    pub evidence: EvidenceNotes,
    /// The failures after the first one, until the job succeeded, each with its own decision.
    pub later_failures: Vec<LaterFailure>,
    pub what_happened: FollowUp,
    /// Seconds from the first failure to the end of the run that fixed it.
    pub observed_time_to_fix_s: Option<u64>,
    /// For an incident not fixed yet: seconds it has been open at the backtest's end.
    pub open_for_s: Option<u64>,
    /// Whether the proposed action is one that would have done what fixed it.
    pub proposal_matches_fix: Option<bool>,
    pub estimated_time_to_fix: Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisSummary {
    pub class: FailureClass,
    pub confidence: f64,
    /// The strongest signals, as `decide` gives them (at most three).
    pub signals: Vec<String>,
}

/// What etl-medic would have done, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The final action, with its parameters, after the safety review.
    pub action: Action,
    /// What the policy proposed before the safety review.
    pub policy_proposed: ActionKind,
    pub policy_version: String,
    /// The policy's state key.
    pub state: String,
    pub safety_verdict: String,
    pub safety_rule: Option<String>,
    /// One sentence: why this action.
    pub why: String,
}

/// Which evidence the daemon would have had then, and what was missing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvidenceNotes {
    pub error_log_lines: usize,
    pub output_log_lines: usize,
    /// Tables with catalog versions as of the failure.
    pub catalog_tables: usize,
    pub history_runs: usize,
    pub source_age_s: Option<u64>,
    /// What could not be reconstructed (logs expired, catalog unreadable, ...).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaterFailure {
    pub run_id: String,
    pub failed_at: String,
    pub class: FailureClass,
    pub action: ActionKind,
}

impl Proposal {
    pub fn from_decision(decision: &Decision) -> Proposal {
        let action = decision.action.clone();
        let why = why(decision);
        Proposal {
            policy_proposed: decision.policy.proposed,
            policy_version: decision.policy.version.clone(),
            state: decision.state.clone(),
            safety_verdict: serde_json::to_value(decision.safety.verdict)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default(),
            safety_rule: decision.safety.rule.map(str::to_string),
            action,
            why,
        }
    }
}

fn why(decision: &Decision) -> String {
    let class = decision.diagnosis.class;
    let confidence = decision.diagnosis.confidence;
    let basis = match decision.policy.basis {
        crate::core::decision::Basis::Table => format!("policy {}", decision.policy.version),
        _ => "the rules baseline".to_string(),
    };
    let proposed = decision.policy.proposed;
    let final_kind = decision.action.kind();
    let mut text = format!("{class} ({confidence:.2}): {basis} proposed {proposed}");
    match decision.safety.rule {
        Some(rule) if final_kind != proposed => {
            text.push_str(&format!("; safety rule {rule} replaced it with {final_kind}"));
        }
        Some(rule) => text.push_str(&format!("; safety rule {rule} lowered its parameters")),
        None => text.push_str("; safety allowed it"),
    }
    if let Some(reason) = decision.safety.reason.as_deref() {
        text.push_str(&format!(" ({reason})"));
    }
    text
}

/// One line of spec/experience.md section 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperienceLine {
    pub incident_id: String,
    pub step: u32,
    /// The decide request, exactly as the daemon would have sent it.
    pub request: serde_json::Value,
    /// The decide answer, with `action` and `safety.final` set to what was
    /// really done then (see `observed_decision`).
    pub decision: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ExperienceOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperienceOutcome {
    pub resolved: bool,
    /// `person`, `next_run` or null.
    pub resolved_by: Option<String>,
    pub elapsed_s: u64,
}

/// The decide answer as an experience line carries it: a learner reads
/// `decision.action.kind` as the action carried out and `policy.propensity`
/// as the chance the behaviour policy chose it. In history nobody ran
/// etl-medic's proposal: between failures nothing was done (the job's own
/// next run came: `log_and_wait`), and a fix by a person is `escalate`. So
/// those are the action, chosen with certainty; the shadow decision rides
/// along under `backtest` (an optional field, as the spec allows).
pub fn observed_decision(decision: &Decision, carried_out: ActionKind) -> serde_json::Value {
    let shadow = serde_json::to_value(decision).unwrap_or_default();
    let mut observed = shadow.clone();
    let action = match carried_out {
        ActionKind::Escalate => {
            serde_json::json!({"kind": "escalate", "params": {"reason": "fixed by a person (backtest of history)"}})
        }
        kind => serde_json::json!({"kind": kind.as_str(), "params": {}}),
    };
    if let Some(object) = observed.as_object_mut() {
        object.insert("action".to_string(), action);
        object.insert(
            "safety".to_string(),
            serde_json::json!({"verdict": "allowed", "rule": null, "final": carried_out.as_str(),
                               "mode_reason": "backtest: what was done in history"}),
        );
        object.insert("mode".to_string(), serde_json::json!("shadow"));
        object.insert("backtest".to_string(), serde_json::json!({"carried_out": "history", "shadow_decision": shadow}));
        if let Some(policy) = object.get_mut("policy").and_then(serde_json::Value::as_object_mut) {
            policy.insert("propensity".to_string(), serde_json::json!(1.0));
        }
    }
    observed
}
