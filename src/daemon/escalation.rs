//! Escalation: hand an incident to a person with everything needed to act
//! (diagnosis, log excerpt, drift, what was tried, the proposal and why it
//! was not carried out), then close it as escalated. An escalation is a
//! first-class outcome, never an error.

use serde_json::json;

use crate::audit::Stage;
use crate::core::decision::Decision;
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;
use crate::daemon::context::PipelineContext;
use crate::daemon::incident::{StepError, audit, audit_location, class_label, close};
use crate::ports::{ApprovalRequest, Escalation, EvidencePacket, IncidentRecord, IncidentState};

/// Error lines kept in the packet.
const LOG_EXCERPT_LINES: usize = 20;

/// What an escalation knows: the latest decision round, when there was one.
pub struct EscalationInput<'a> {
    pub request: Option<&'a DecideRequest>,
    pub decision: Option<&'a Decision>,
    /// Why a person is needed, in one sentence.
    pub reason: String,
    /// `approve` mode: the proposal a person is asked to approve, or the
    /// one that expired or was rejected.
    pub approval: Option<ApprovalRequest>,
}

pub fn packet(context: &PipelineContext, record: &IncidentRecord, input: &EscalationInput<'_>) -> EvidencePacket {
    let run_id = record.current_run_id.clone().unwrap_or_else(|| record.failed_run_id.clone());
    let log_excerpt = input
        .request
        .map(|request| {
            let lines = if request.logs.error.is_empty() { &request.logs.output } else { &request.logs.error };
            let skip = lines.len().saturating_sub(LOG_EXCERPT_LINES);
            let mut excerpt: Vec<String> = lines.iter().skip(skip).cloned().collect();
            if let Some(message) = request.error_message() {
                excerpt.insert(0, message.to_string());
            }
            excerpt
        })
        .unwrap_or_default();
    let diagnosis = input.decision.map_or_else(
        || json!({"class": class_label(record)}),
        |decision| serde_json::to_value(&decision.diagnosis).unwrap_or_else(|_| json!({"class": class_label(record)})),
    );
    let drift = input
        .decision
        .and_then(|decision| decision.diagnosis.drift.as_ref())
        .and_then(|drift| serde_json::to_value(drift).ok());
    let proposal = input.decision.map_or_else(
        || ActionKind::Escalate.as_str().to_string(),
        |decision| decision.policy.proposed.as_str().to_string(),
    );
    let blocked_because = input.decision.and_then(|decision| {
        decision.safety.rule.map(|rule| format!("{rule}: {}", decision.safety.reason.clone().unwrap_or_default()))
    });
    EvidencePacket {
        incident_id: record.incident_id.clone(),
        job_name: record.job_name.clone(),
        run_id,
        diagnosis,
        log_excerpt,
        drift,
        tried: record.actions_taken.iter().map(|kind| kind.as_str().to_string()).collect(),
        proposal,
        blocked_because: blocked_because.or_else(|| Some(input.reason.clone())),
        audit_prefix: audit_location(context, record),
        approval: input.approval.clone(),
    }
}

fn subject(record: &IncidentRecord) -> String {
    let mut subject = format!("etl-medic: {} {} needs a person", record.job_name, class_label(record));
    if subject.len() > 99 {
        let mut end = 99;
        while !subject.is_char_boundary(end) {
            end -= 1;
        }
        subject.truncate(end);
    }
    subject
}

/// Publish the escalation and close the incident as escalated. A retryable
/// publish failure is returned (the message is kept and the escalation
/// retried); a permanent one closes the incident as failed, loudly. The
/// send is recorded on the incident as soon as it is made, so a redelivery
/// closes the incident without paging again; receivers deduplicate a send
/// repeated before that on the incident id (the notifier's contract).
pub async fn escalate_and_close(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    input: EscalationInput<'_>,
) -> Result<(), StepError> {
    let escalation = Escalation { subject: subject(record), packet: packet(context, record, &input) };
    let run_id = escalation.packet.run_id.clone();
    let already_sent = record.notified_at.is_some();
    // Timed at the port border; a webhook failure behind the fan-out is
    // counted under WebhookPost, so SNS's series does not take the blame.
    let published = if already_sent { Ok(()) } else { context.ports.notifier.publish(&escalation).await };
    let now = context.ports.clock.now();
    match published {
        Ok(()) => {
            if !already_sent {
                crate::daemon::incident::notified(context, record).await?;
            }
            audit(context, record, Stage::Escalation, &run_id, json!({"sent": true, "escalation": escalation})).await?;
            context.metrics.escalations_total.with_label_values(&[class_label(record)]).inc();
            close(context, record, IncidentState::Escalated, ActionKind::Escalate.as_str(), now).await
        }
        Err(error) if error.is_retryable() => Err(StepError::Port(error)),
        Err(error) => {
            tracing::error!(error = %error, "escalation could not be sent; a person must look at this incident");
            audit(
                context,
                record,
                Stage::Escalation,
                &run_id,
                json!({"sent": false, "error": error.to_string(), "escalation": escalation}),
            )
            .await?;
            close(context, record, IncidentState::Failed, ActionKind::Escalate.as_str(), now).await
        }
    }
}
