//! `approve` mode in the daemon: a proposal is stored with its incident and
//! waits for a person; nothing runs before. `settle` is the one way an
//! answer is applied, whether it came from `etl-medic approve` or a Slack
//! button: a conditional write in the incident store makes it single use,
//! then safety reviews the approved action again on fresh evidence, and
//! only the permit it issues reaches the executor, for exactly that action.
//! An unanswered proposal expires when the incident's message comes back
//! (it is hidden until then) and is escalated as any other.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::json;

use crate::approval::binding_hash;
use crate::core::decision::Decision;
use crate::core::diagnosis::diagnose;
use crate::core::event::EventEnvelope;
use crate::core::model::Action;
use crate::core::safety::permit_approved;
use crate::daemon::context::PipelineContext;
use crate::daemon::decision_round::{RoundEnd, act, fleet_context};
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::gather::{Gathered, gather};
use crate::daemon::incident::{self, StepError};
use crate::daemon::intake::{Intake, read_message};
use crate::metrics::{approval_event, approval_refusal};
use crate::ports::queue::MAX_VISIBILITY_SECS;
use crate::ports::{
    ApprovalDecision, ApprovalRequest, Escalation, IncidentRecord, IncidentState, Operation, PendingApproval, PortError,
};

/// Characters kept per line of a proposal's evidence summary.
const SUMMARY_LINE_CHARS: usize = 300;

/// Where an answer came from; recorded in the audit as `channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Cli,
    Slack,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Slack => "slack",
        }
    }
}

/// A person's answer to the proposal of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub incident_id: String,
    pub approve: bool,
    pub by: String,
    pub channel: Channel,
    /// The proposal's hash the answer is bound to; `None` answers whatever
    /// is pending now (the CLI, which prints it, and a slash command).
    pub binding: Option<String>,
}

/// What an applied answer led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// Approved, and the action ran; `started_run_id` is the run it started.
    Ran { action: Action, started_run_id: Option<String> },
    /// Approved, but safety or the action itself ended in an escalation.
    Escalated { action: Action, reason: String },
    /// Rejected: escalated as any incident a person takes over.
    Rejected,
}

/// Why an answer was not applied; nothing ran.
#[derive(Debug, thiserror::Error)]
pub enum AnswerRefused {
    #[error("no incident {0}")]
    UnknownIncident(String),
    #[error("incident {incident_id} is {state}, not waiting for an approval{decided}")]
    AlreadyDecided { incident_id: String, state: &'static str, decided: String },
    #[error("the proposal of {incident_id} expired at {expires_at}; it has been escalated")]
    Expired { incident_id: String, expires_at: DateTime<Utc> },
    #[error("the answer names proposal {given}, but the proposal pending for {incident_id} is {pending}")]
    StaleProposal { incident_id: String, given: String, pending: String },
    #[error(transparent)]
    Step(#[from] StepError),
}

impl AnswerRefused {
    /// The `etl_medic_approval_refusals_total` reason, when the refusal counts as one.
    pub fn metric_reason(&self) -> Option<&'static str> {
        match self {
            AnswerRefused::UnknownIncident(_) => Some(approval_refusal::UNKNOWN_INCIDENT),
            AnswerRefused::AlreadyDecided { .. } => Some(approval_refusal::ALREADY_DECIDED),
            AnswerRefused::Expired { .. } => Some(approval_refusal::EXPIRED),
            AnswerRefused::StaleProposal { .. } => Some(approval_refusal::STALE_PROPOSAL),
            AnswerRefused::Step(_) => None,
        }
    }
}

impl From<PortError> for AnswerRefused {
    fn from(error: PortError) -> AnswerRefused {
        AnswerRefused::Step(StepError::Port(error))
    }
}

/// Store the round's proposal as pending, tell people how to approve it,
/// and hide the incident's message until the proposal expires.
pub async fn propose(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: &Decision,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    let expiry_secs = context.settings.approvals.expiry_secs.min(MAX_VISIBILITY_SECS);
    let pending = PendingApproval {
        action: decision.action.clone(),
        policy_version: decision.policy.version.clone(),
        class: decision.diagnosis.class,
        evidence_summary: evidence_summary(gathered, decision),
        binding: binding_hash(&record.incident_id, &decision.action, &decision.policy.version),
        requested_at: now,
        expires_at: now + ChronoDuration::seconds(i64::from(expiry_secs)),
        event: serde_json::to_string(envelope).unwrap_or_default(),
        decided: None,
    };
    let request = approval_request(record, &pending, "pending");
    // Told first: if the store below fails the round is redone and the
    // request sent again (receivers deduplicate on the incident id); a
    // stored proposal nobody heard of would only expire.
    let escalation = Escalation {
        subject: subject(&format!("approve {} for {}?", pending.action.kind(), record.job_name)),
        packet: crate::daemon::escalation::packet(
            context,
            record,
            &EscalationInput {
                request: Some(&gathered.request),
                decision: Some(decision),
                reason: format!("approve mode: {} waits for a person's approval", pending.action.kind()),
                approval: Some(request.clone()),
            },
        ),
    };
    context.ports.notifier.publish(&escalation).await?;
    let body = json!({"status": "pending", "proposal": request});
    incident::await_approval(context, record, pending, body).await?;
    context.metrics.approvals_total.with_label_values(&[approval_event::REQUESTED]).inc();
    tracing::info!(expires_in_secs = expiry_secs, "proposal waits for approval");
    Ok(RoundEnd::WaitSecs(expiry_secs))
}

/// The incident's message came back while a proposal is pending: hide it
/// again until the expiry, or escalate the expired proposal.
pub async fn on_redelivery(context: &PipelineContext, record: &mut IncidentRecord) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    let Some(expires_at) = record.pending.as_ref().map(|pending| pending.expires_at) else {
        let reason = "an approval was pending but its proposal is missing from the record".to_string();
        escalate_and_close(context, record, EscalationInput { request: None, decision: None, reason, approval: None })
            .await?;
        return Ok(RoundEnd::Recorded);
    };
    let remaining_secs = (expires_at - now).num_seconds();
    if remaining_secs >= 1 {
        return Ok(RoundEnd::WaitSecs(
            u32::try_from(remaining_secs).unwrap_or(MAX_VISIBILITY_SECS).min(MAX_VISIBILITY_SECS),
        ));
    }
    expire(context, record).await?;
    Ok(RoundEnd::Recorded)
}

async fn expire(context: &PipelineContext, record: &mut IncidentRecord) -> Result<(), StepError> {
    let Some(pending) = record.pending.clone() else {
        return Ok(());
    };
    let request = approval_request(record, &pending, "expired");
    let reason = format!("the proposal to {} was not approved before {}", pending.action.kind(), pending.expires_at);
    tracing::info!(reason, "approval expired, escalating");
    escalate_and_close(
        context,
        record,
        EscalationInput { request: None, decision: None, reason, approval: Some(request) },
    )
    .await?;
    context.metrics.approvals_total.with_label_values(&[approval_event::EXPIRED]).inc();
    Ok(())
}

/// Apply a person's answer. Single use: of any number of answers to one
/// proposal (double clicks, a click and the CLI, redelivered messages)
/// exactly one is applied; every other gets `AlreadyDecided`.
pub async fn settle(context: &PipelineContext, answer: &Answer) -> Result<Settled, AnswerRefused> {
    let incidents = &context.ports.incidents;
    let mut record = incidents
        .get_incident(&answer.incident_id)
        .await?
        .ok_or_else(|| AnswerRefused::UnknownIncident(answer.incident_id.clone()))?;
    let Some(pending) = record.pending.clone().filter(|_| record.state == IncidentState::AwaitingApproval) else {
        return Err(already_decided(&record));
    };
    if pending.decided.is_some() {
        return Err(already_decided(&record));
    }
    if let Some(given) = answer.binding.as_deref().filter(|given| *given != pending.binding) {
        return Err(AnswerRefused::StaleProposal {
            incident_id: record.incident_id.clone(),
            given: given.to_string(),
            pending: pending.binding.clone(),
        });
    }
    let now = context.ports.clock.now();
    if now >= pending.expires_at {
        expire(context, &mut record).await?;
        return Err(AnswerRefused::Expired { incident_id: record.incident_id.clone(), expires_at: pending.expires_at });
    }
    let decision = ApprovalDecision {
        approved: answer.approve,
        by: answer.by.clone(),
        channel: answer.channel.as_str().into(),
        at: now,
    };
    match incident::approval_decided(context, &mut record, decision).await {
        Err(StepError::Port(error)) if error.is_conflict() => {
            let current = incidents.get_incident(&answer.incident_id).await?.unwrap_or(record);
            return Err(already_decided(&current));
        }
        other => other?,
    }
    // Now with who decided, for the escalation and the audit.
    let pending = record.pending.clone().unwrap_or(pending);
    let span = tracing::info_span!("incident", job_name = %record.job_name, run_id = %record.failed_run_id);
    let _entered = span.enter();
    if !answer.approve {
        context.metrics.approvals_total.with_label_values(&[approval_event::REJECTED]).inc();
        let request = approval_request(&record, &pending, "rejected");
        let reason =
            format!("{} rejected the proposal to {} ({})", answer.by, pending.action.kind(), answer.channel.as_str());
        escalate_and_close(
            context,
            &mut record,
            EscalationInput { request: None, decision: None, reason, approval: Some(request) },
        )
        .await?;
        return Ok(Settled::Rejected);
    }
    context.metrics.approvals_total.with_label_values(&[approval_event::APPROVED]).inc();
    drop(_entered);
    run_approved(context, &mut record, &pending).await
}

/// Gather fresh evidence, let safety review the approved action again, and
/// run exactly that action with the permit it issues.
async fn run_approved(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    pending: &PendingApproval,
) -> Result<Settled, AnswerRefused> {
    let Intake::Failure { change, envelope } = read_message(&pending.event, usize::MAX) else {
        let reason = "the stored event of the approved proposal cannot be read again".to_string();
        return refused_by_safety(context, record, pending, reason, None).await;
    };
    let mut gathered = gather(context, record, &change, &envelope).await?;
    let fleet = fleet_context(context, &record.job_name, &gathered).await?;
    gathered.request.context.fleet = Some(fleet.clone());
    let request = gathered.request.clone();
    let diagnosis = tokio::task::spawn_blocking(move || diagnose(&request))
        .await
        .map_err(|error| PortError::rejected(Operation::GetJobRun, format!("diagnosis failed: {error}")))?;
    let permit = match permit_approved(&pending.action, &gathered.request, &diagnosis, &context.settings.safety, &fleet)
    {
        Ok(permit) => permit,
        Err(refusal) => {
            context.metrics.safety_replacements_total.with_label_values(&[refusal.rule]).inc();
            let reason = format!("approved, but safety rule {} refused it now: {}", refusal.rule, refusal.reason);
            return refused_by_safety(context, record, pending, reason, Some(&gathered)).await;
        }
    };
    act(context, record, &gathered, None, &permit).await?;
    match record.state {
        IncidentState::Remediating | IncidentState::Open => {
            Ok(Settled::Ran { action: pending.action.clone(), started_run_id: record.current_run_id.clone() })
        }
        _ => Ok(Settled::Escalated {
            action: pending.action.clone(),
            reason: "the approved action was refused or failed; escalated".to_string(),
        }),
    }
}

async fn refused_by_safety(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    pending: &PendingApproval,
    reason: String,
    gathered: Option<&Gathered>,
) -> Result<Settled, AnswerRefused> {
    context.metrics.approvals_total.with_label_values(&[approval_event::REFUSED_BY_SAFETY]).inc();
    tracing::warn!(reason, "approved action refused");
    let approval = Some(approval_request(record, pending, "refused"));
    let input = EscalationInput {
        request: gathered.map(|gathered| &gathered.request),
        decision: None,
        reason: reason.clone(),
        approval,
    };
    escalate_and_close(context, record, input).await?;
    Ok(Settled::Escalated { action: pending.action.clone(), reason })
}

fn already_decided(record: &IncidentRecord) -> AnswerRefused {
    let decided = record
        .pending
        .as_ref()
        .and_then(|pending| pending.decided.as_ref())
        .map(|decided| {
            format!(
                " ({} by {} via {} at {})",
                if decided.approved { "approved" } else { "rejected" },
                decided.by,
                decided.channel,
                decided.at
            )
        })
        .unwrap_or_default();
    AnswerRefused::AlreadyDecided { incident_id: record.incident_id.clone(), state: record.state.as_str(), decided }
}

/// The proposal as people see it in an escalation or an approval request.
pub fn approval_request(record: &IncidentRecord, pending: &PendingApproval, status: &str) -> ApprovalRequest {
    ApprovalRequest {
        status: status.to_string(),
        action: serde_json::to_value(&pending.action).unwrap_or_default(),
        policy_version: pending.policy_version.clone(),
        evidence_summary: pending.evidence_summary.clone(),
        binding: pending.binding.clone(),
        expires_at: pending.expires_at.to_rfc3339(),
        approve_command: format!("etl-medic approve {}", record.incident_id),
        decided_by: pending.decided.as_ref().map(|decided| format!("{} via {}", decided.by, decided.channel)),
    }
}

fn evidence_summary(gathered: &Gathered, decision: &Decision) -> Vec<String> {
    let diagnosis = &decision.diagnosis;
    let mut lines = vec![format!("diagnosis: {} (confidence {:.2})", diagnosis.class, diagnosis.confidence)];
    if !diagnosis.signals.is_empty() {
        lines.push(format!("signals: {}", diagnosis.signals.iter().take(5).cloned().collect::<Vec<_>>().join(", ")));
    }
    if let Some(message) = gathered.request.error_message() {
        lines.push(format!("error: {message}"));
    }
    if let Some(drift) = diagnosis.drift.as_ref().and_then(|drift| serde_json::to_string(drift).ok()) {
        lines.push(format!("drift: {drift}"));
    }
    lines.push(format!("mode: {}", decision.safety.mode_reason));
    lines.into_iter().map(|line| line.chars().take(SUMMARY_LINE_CHARS).collect()).collect()
}

fn subject(text: &str) -> String {
    let line = format!("etl-medic: {text}");
    line.chars().take(99).collect()
}
