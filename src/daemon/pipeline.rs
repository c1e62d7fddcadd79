//! One message through the pipeline: intake, dedupe, then either a
//! decision round (a failure) or a validation (a run we started finished).
//! The answer is what to do with the message: it is deleted only once the
//! work it carries is recorded; anything else leaves it on the queue.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::Instrument;

use crate::audit::Stage;
use crate::core::event::{EventEnvelope, JobRunState, JobStateChange};
use crate::daemon::approval;
use crate::daemon::context::PipelineContext;
use crate::daemon::decision_round::{RoundEnd, decide_and_act};
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::incident::{self, StepError, audit, close, last_action_label, new_record};
use crate::daemon::intake::{Intake, event_time, excerpt, read_message};
use crate::daemon::settle;
use crate::daemon::source_watch;
use crate::ports::incident_store::incident_id_for;
use crate::ports::queue::MAX_VISIBILITY_SECS;
use crate::ports::{ClaimOutcome, IncidentRecord, IncidentState, Operation, PortError, QueueMessage, RunClaim};

/// What to do with a message once handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The work is recorded (or there was none): delete it.
    Delete,
    /// Leave it alone: it comes back when its visibility expires, and the
    /// redrive policy moves it to the DLQ after maxReceiveCount (poison).
    Keep,
    /// Bring it back after this many seconds (a retryable failure, or the
    /// delay of `wait_and_retry`).
    ReturnAfterSecs(u32),
}

/// Body characters kept in a poison audit record.
const POISON_EXCERPT_CHARS: usize = 4_096;
/// Seconds before looking again at an incident another handler is acting on.
const ACTING_RECHECK_SECS: u32 = 5;
/// Seconds before retrying after an audit write kept failing.
const AUDIT_RETRY_SECS: u32 = 60;

/// Handle one message; never panics on bad input, never loses work.
pub async fn handle_message(context: &PipelineContext, message: &QueueMessage) -> Disposition {
    match read_message(&message.body, context.settings.queue.max_message_bytes) {
        Intake::Poison { reason, detail } => on_poison(context, message, reason, &detail).await,
        Intake::Ignored { reason } => {
            tracing::debug!(reason, "event needs nothing");
            context.metrics.events_ignored_total.inc();
            Disposition::Delete
        }
        Intake::Failure { change, envelope } => {
            let span = incident_span(&change);
            let result = on_failure(context, message, &change, &envelope).instrument(span.clone()).await;
            span.in_scope(|| settle(context, message, result))
        }
        Intake::Terminal { change, envelope } => {
            let span = incident_span(&change);
            let result = on_terminal(context, message, &change, &envelope).instrument(span.clone()).await;
            span.in_scope(|| settle(context, message, result))
        }
    }
}

/// One span per incident event, carrying the job name and run id.
fn incident_span(change: &JobStateChange) -> tracing::Span {
    tracing::info_span!("incident", job_name = %change.job_name, run_id = %change.job_run_id, state = change.state.as_str())
}

async fn on_poison(
    context: &PipelineContext,
    message: &QueueMessage,
    reason: &'static str,
    detail: &str,
) -> Disposition {
    tracing::warn!(message_id = %message.message_id, receive_count = message.receive_count, reason, detail, "poison message left for the dead-letter queue");
    context.metrics.poison_messages_total.with_label_values(&[reason]).inc();
    let body_excerpt = excerpt(&message.body, POISON_EXCERPT_CHARS);
    if let Err(error) =
        context.audit.write_poison(&message.message_id, message.receive_count, reason, detail, &body_excerpt).await
    {
        tracing::warn!(error = %error, "poison message not audited");
    }
    Disposition::Keep
}

/// Turn a step's result into a disposition, logging what went wrong.
fn settle(context: &PipelineContext, message: &QueueMessage, result: Result<RoundEnd, StepError>) -> Disposition {
    match result {
        Ok(RoundEnd::Recorded) => Disposition::Delete,
        Ok(RoundEnd::WaitSecs(secs)) => Disposition::ReturnAfterSecs(secs),
        Ok(RoundEnd::RetrySecs(secs)) => Disposition::ReturnAfterSecs(secs),
        // Settled inline as often as allowed: the next delivery goes on.
        Ok(RoundEnd::HandedOver) => Disposition::ReturnAfterSecs(SETTLE_PAUSE_SECS),
        Err(StepError::Audit(error)) => {
            tracing::warn!(error = %error, "audit write failed; the message stays to redo the work");
            Disposition::ReturnAfterSecs(AUDIT_RETRY_SECS)
        }
        Err(StepError::Port(error)) => {
            let backoff =
                retry_backoff_secs(message.receive_count, &error, context.settings.queue.visibility_timeout_secs);
            tracing::warn!(error = %error, backoff, "step failed; the message comes back later");
            Disposition::ReturnAfterSecs(backoff)
        }
    }
}

/// Exponential in the receive count for retryable errors; soon for a lost
/// conditional write (re-read and go on); the visibility timeout otherwise.
fn retry_backoff_secs(receive_count: u32, error: &PortError, visibility_timeout_secs: u32) -> u32 {
    if error.is_conflict() {
        return 1;
    }
    if error.is_retryable() {
        let exponent = receive_count.saturating_sub(1).min(8);
        return (5_u32 << exponent).min(900);
    }
    visibility_timeout_secs.min(MAX_VISIBILITY_SECS)
}

fn failure_time(context: &PipelineContext, envelope: &EventEnvelope, message: &QueueMessage) -> DateTime<Utc> {
    event_time(envelope).or(message.sent_at).unwrap_or_else(|| context.ports.clock.now())
}

/// Claim (job, run) for this message. `Ok(false)`: another message already
/// carries this run's event, so this one is a duplicate.
async fn claim(
    context: &PipelineContext,
    message: &QueueMessage,
    change: &JobStateChange,
    incident_id: &str,
) -> Result<bool, PortError> {
    let claim = RunClaim {
        job_name: change.job_name.clone(),
        run_id: change.job_run_id.clone(),
        incident_id: incident_id.to_string(),
        message_id: message.message_id.clone(),
        claimed_at: context.ports.clock.now(),
    };
    match context.ports.incidents.claim_run(&claim).await? {
        ClaimOutcome::Claimed => Ok(true),
        ClaimOutcome::AlreadyClaimed(existing) if existing.message_id == message.message_id => Ok(true),
        // A scheduled re-delivery (`wait_for_source` sends the event again
        // and hands the incident to the new message) carries it on too.
        ClaimOutcome::AlreadyClaimed(_) => Ok(context
            .ports
            .incidents
            .get_incident(incident_id)
            .await?
            .is_some_and(|record| !record.state.is_closed() && record.owner_message_id == message.message_id)),
    }
}

/// Receives after which an event stops waiting for a starter to link its
/// run. A starter links within a second unless AWS fails it; one that failed
/// after StartJobRun leaves its incident `acting`, which its own message
/// settles later (linking the run, and replaying its event if it ended). Waiting on longer would only walk this event towards the
/// dead-letter queue (and a failure event that never opens its incident).
const MAX_RECEIVES_WAITING_FOR_A_LINK: u32 = 2;

fn may_look_again(message: &QueueMessage) -> bool {
    message.receive_count <= MAX_RECEIVES_WAITING_FOR_A_LINK
}

/// Who a run belongs to, as far as the store can tell.
enum RunOwner {
    /// A run we started for this incident.
    Incident(String),
    /// Not linked, but an incident of the job is about to start a run or
    /// has just started one: the run may be ours, its link not stored yet.
    MaybeStarting,
    /// Not a run we started.
    Nobody,
}

/// "About to start" entries first, then the link. A starter notes its entry
/// before StartJobRun (so before the run has an event) and clears it only
/// after storing the link: if the link is not there yet when read, the entry
/// was still there when read before it. Only entries noted before the
/// event's time count: a run started later cannot have produced it. That
/// time is EventBridge's, in whole seconds, so an entry noted within the
/// second before counts too (else a run that ends in the second it was
/// started has its event taken for a stranger's and dropped).
async fn run_owner(
    context: &PipelineContext,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RunOwner, PortError> {
    let incidents = &context.ports.incidents;
    let (job, run) = (change.job_name.as_str(), change.job_run_id.as_str());
    let now = context.ports.clock.now();
    let fresh_after = now - chrono::Duration::seconds(i64::from(context.settings.queue.visibility_timeout_secs));
    let happened_at = event_time(envelope).map_or(now, |time| time + chrono::Duration::seconds(1));
    let starting = incidents.starting_between(job, fresh_after, happened_at).await?;
    Ok(match incidents.incident_for_run(job, run).await? {
        Some(incident_id) => RunOwner::Incident(incident_id),
        None if starting => RunOwner::MaybeStarting,
        None => RunOwner::Nobody,
    })
}

async fn load(context: &PipelineContext, incident_id: &str) -> Result<IncidentRecord, PortError> {
    context
        .ports
        .incidents
        .get_incident(incident_id)
        .await?
        .ok_or_else(|| PortError::not_found(Operation::GetItem, format!("incident {incident_id}")))
}

async fn load_or_open(
    context: &PipelineContext,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
    incident_id: &str,
) -> Result<IncidentRecord, PortError> {
    if let Some(existing) = context.ports.incidents.get_incident(incident_id).await? {
        return Ok(existing);
    }
    let now = context.ports.clock.now();
    let record = new_record(
        incident_id,
        &change.job_name,
        &change.job_run_id,
        failure_time(context, envelope, message),
        &message.message_id,
        now,
    );
    match context.ports.incidents.create_incident(&record).await {
        Ok(()) => Ok(record),
        Err(error) if error.is_conflict() => load(context, incident_id).await,
        Err(error) => Err(error),
    }
}

async fn on_failure(
    context: &PipelineContext,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let incident_id = match run_owner(context, change, envelope).await? {
        RunOwner::Incident(incident_id) => incident_id,
        RunOwner::MaybeStarting if may_look_again(message) => return Ok(RoundEnd::RetrySecs(ACTING_RECHECK_SECS)),
        RunOwner::MaybeStarting | RunOwner::Nobody => incident_id_for(&change.job_name, &change.job_run_id),
    };
    if !claim(context, message, change, &incident_id).await? {
        tracing::info!("duplicate delivery of a claimed run, acknowledged");
        context.metrics.events_ignored_total.inc();
        return Ok(RoundEnd::Recorded);
    }
    let mut record = load_or_open(context, message, change, envelope, &incident_id).await?;
    let is_our_failed_run = record.state == IncidentState::Remediating
        && record.current_run_id.as_deref() == Some(change.job_run_id.as_str());
    if is_our_failed_run {
        remediation_failed(context, &mut record, message, change).await?;
    }
    let mut end = continue_incident(context, &mut record, message, change, envelope).await?;
    // A step whose outcome is unknown is settled here, after a pause that
    // lets a request still in flight land in Glue: without giving the
    // message back, whose receives a strict redrive policy counts.
    for _ in 0..INLINE_SETTLES {
        if end != RoundEnd::HandedOver {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(SETTLE_PAUSE_SECS))).await;
        let mut settling = load(context, &incident_id).await?;
        end = continue_incident(context, &mut settling, message, change, envelope).await?;
    }
    Ok(end)
}

/// Times one handling settles a step whose outcome it lost, before it gives
/// the message back for the next delivery to go on.
const INLINE_SETTLES: usize = 2;
/// Seconds between losing a step's outcome and looking for it in Glue.
const SETTLE_PAUSE_SECS: u32 = 2;

/// The run we started failed: count it, and reopen the incident for another round.
async fn remediation_failed(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message: &QueueMessage,
    change: &JobStateChange,
) -> Result<(), StepError> {
    let action = last_action_label(record);
    let body = json!({"run_state": change.state.as_str(), "remediated": false, "message": change.message});
    incident::remediation_failed(context, record, &message.message_id, &change.job_run_id, body).await?;
    context.metrics.remediations_total.with_label_values(&[action, "failure"]).inc();
    let now = context.ports.clock.now();
    context.ports.incidents.record_remediation_outcome(false, now).await?;
    Ok(())
}

async fn continue_incident(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    if record.notified_at.is_some() && !record.state.is_closed() {
        // A person was paged and the close was not stored: finish closing
        // (escalation never pages twice once the send is recorded).
        let reason = "the escalation was sent; closing the incident".to_string();
        escalate_and_close(context, record, EscalationInput { request: None, decision: None, reason, approval: None })
            .await?;
        return Ok(RoundEnd::Recorded);
    }
    match record.state {
        IncidentState::Open => decide_and_act(context, record, change, envelope).await,
        IncidentState::Waiting => {
            if let Some(watch) = record.source_watch.clone() {
                return source_watch::check(context, record, watch, message, change, envelope).await;
            }
            let now = context.ports.clock.now();
            let due_at = record.wait_until.unwrap_or(now);
            // Within a second counts as due: queue delays have one-second resolution.
            let remaining_secs = (due_at - now).num_seconds();
            if remaining_secs >= 1 {
                return Ok(RoundEnd::WaitSecs(
                    u32::try_from(remaining_secs).unwrap_or(MAX_VISIBILITY_SECS).min(MAX_VISIBILITY_SECS),
                ));
            }
            decide_and_act(context, record, change, envelope).await
        }
        // A step whose result is not recorded: settled from Glue's own record.
        IncidentState::Acting => settle::on_acting(context, record, message, change, envelope).await,
        IncidentState::Remediating => {
            // The owner's own message back: its handler recorded the run and
            // died before it could delete the message (or replay the event
            // of a settled step's run that had already ended).
            if message.message_id == record.owner_message_id {
                settle::replay_if_finished(context, record).await;
            }
            Ok(RoundEnd::Recorded)
        }
        IncidentState::AwaitingApproval => approval::on_redelivery(context, record).await,
        IncidentState::Resolved
        | IncidentState::Escalated
        | IncidentState::Shadowed
        | IncidentState::Failed
        | IncidentState::Deferred => Ok(RoundEnd::Recorded),
    }
}

/// A SUCCEEDED or STOPPED run: if it is a run we started and are waiting for, validate.
async fn on_terminal(
    context: &PipelineContext,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let incidents = &context.ports.incidents;
    let incident_id = match run_owner(context, change, envelope).await? {
        RunOwner::Incident(incident_id) => incident_id,
        RunOwner::MaybeStarting if may_look_again(message) => return Ok(RoundEnd::RetrySecs(ACTING_RECHECK_SECS)),
        RunOwner::MaybeStarting | RunOwner::Nobody => {
            context.metrics.events_ignored_total.inc();
            return Ok(RoundEnd::Recorded);
        }
    };
    let mut record = load(context, &incident_id).await?;
    if record.state == IncidentState::Acting && may_look_again(message) {
        // Linked but not yet recorded: the handler that started this run is
        // between the two writes. Look again once it has had time to finish.
        return Ok(RoundEnd::RetrySecs(ACTING_RECHECK_SECS));
    }
    let awaited = record.state == IncidentState::Remediating
        && record.current_run_id.as_deref() == Some(change.job_run_id.as_str());
    if !awaited {
        // Not (or no longer) the run the incident waits for. Acknowledged
        // without a claim: if the incident later takes the run as its own
        // (an interrupted step settled), the run's event is replayed then,
        // and must not be taken for a duplicate of this one.
        context.metrics.events_ignored_total.inc();
        return Ok(RoundEnd::Recorded);
    }
    if !claim(context, message, change, &incident_id).await? {
        context.metrics.events_ignored_total.inc();
        return Ok(RoundEnd::Recorded);
    }
    let action = last_action_label(&record).to_string();
    let closed_at = failure_time(context, envelope, message);
    let succeeded = change.state == JobRunState::Succeeded;
    audit(
        context,
        &mut record,
        Stage::Validation,
        &change.job_run_id,
        json!({"run_state": change.state.as_str(), "remediated": succeeded}),
    )
    .await?;
    let now = context.ports.clock.now();
    if succeeded {
        close(context, &mut record, IncidentState::Resolved, &action, closed_at).await?;
        context.metrics.remediations_total.with_label_values(&[&action, "success"]).inc();
        incidents.record_remediation_outcome(true, now).await?;
    } else {
        context.metrics.remediations_total.with_label_values(&[&action, "failure"]).inc();
        incidents.record_remediation_outcome(false, now).await?;
        let reason = format!("the {action} run we started ({}) was stopped before it finished", change.job_run_id);
        escalate_and_close(
            context,
            &mut record,
            EscalationInput { request: None, decision: None, reason, approval: None },
        )
        .await?;
    }
    Ok(RoundEnd::Recorded)
}
