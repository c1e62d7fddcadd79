//! One remediation step carried out under its permit: the incident becomes
//! `acting` and names the step, the step takes its budget unit, the
//! executor acts (its rerun marked with the step's token), and the started
//! run is linked and recorded.
//!
//! A step that does not finish cleanly is never guessed at. A failure that
//! may have left an effect behind (a 5xx, a reset, a timeout, a lost answer,
//! a record that could not be written after the effect) hands the step
//! over: the incident stays `acting` and the next delivery settles it from
//! Glue's own record (`daemon::settle`). A process that dies mid-step leaves
//! the same state behind. Only a refusal that proves nothing happened
//! (access denied, a bound the executor will not cross) goes to a person.

use std::collections::BTreeMap;

use chrono::Duration as ChronoDuration;
use serde_json::json;

use crate::audit::Stage;
use crate::core::decision::Decision;
use crate::core::evidence::DecideRequest;
use crate::core::model::{Action, ActionKind};
use crate::core::safety::Permit;
use crate::daemon::context::PipelineContext;
use crate::daemon::decision_round::RoundEnd;
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::executor::{Executed, ExecutionError, StepInput, execute};
use crate::daemon::incident::{self, ActionFailure, StepError, audit};
use crate::ports::incident_store::step_token;
use crate::ports::queue::MAX_VISIBILITY_SECS;
use crate::ports::{ActionStep, IncidentRecord};

/// What a step is decided on: the request and decision of its round (a
/// fresh one, or the recorded one replayed), and the job's own arguments.
pub struct Round<'a> {
    pub request: &'a DecideRequest,
    /// The round's decision (none for an approved proposal: its decision
    /// was recorded when it was proposed).
    pub decision: Option<&'a Decision>,
    /// The job's default arguments, when GetJob could be read.
    pub job_defaults: Option<&'a BTreeMap<String, String>>,
}

/// Carry out a permitted action. A `wait_and_retry` first hides the message
/// for its delay (the incident waits in the store, no task sleeps); when it
/// comes back the round is decided again and the rerun starts.
/// `request_key` is the audit key of the round's request record.
pub async fn act(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    permit: &Permit,
    request_key: String,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    if let Action::WaitAndRetry { delay_s } = permit.action()
        && record.state == crate::ports::IncidentState::Open
    {
        let delay_secs = u32::try_from(*delay_s).unwrap_or(MAX_VISIBILITY_SECS).min(MAX_VISIBILITY_SECS);
        incident::wait(context, record, now + ChronoDuration::seconds(i64::from(delay_secs)), permit.action()).await?;
        return Ok(RoundEnd::WaitSecs(delay_secs));
    }
    let number = record.attempt + 1;
    let step = ActionStep {
        number,
        token: step_token(&record.incident_id, number),
        action: permit.action().clone(),
        begun_at: now,
        request_key,
        tries: 1,
        handed_over: false,
    };
    carry_out(context, record, round, permit, step).await
}

/// Carry out `step` (a first try, or a try after a look found no trace of
/// the previous one): take the step's budget unit (the one it already holds,
/// on a second try), record the permit, then begin the step, stored with the
/// version guard so that of two handlers settling one step only one goes on.
pub async fn carry_out(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    permit: &Permit,
    step: ActionStep,
) -> Result<RoundEnd, StepError> {
    let safety = &context.settings.safety;
    let job_name = record.job_name.clone();
    let grant = context
        .ports
        .incidents
        .consume_budget(&job_name, safety.job_budget_window_s, safety.job_action_budget, step.begun_at, &step.token)
        .await?;
    if !grant.granted {
        // Another worker spent the budget between our read and now.
        context.metrics.safety_replacements_total.with_label_values(&["job_action_budget"]).inc();
        let reason = format!(
            "job action budget of {} per {} s used up by other workers",
            safety.job_action_budget, safety.job_budget_window_s
        );
        escalate(context, record, round, reason).await?;
        return Ok(RoundEnd::Recorded);
    }
    let run_id = record.failed_run_id.clone();
    let permit_record = json!({"action": permit.action(), "job_name": permit.job_name(), "run_id": permit.run_id(),
                               "budget_used": grant.used, "step": step.token, "try": step.tries});
    audit(context, record, Stage::Permit, &run_id, permit_record).await?;
    let token = step.token.clone();
    incident::begin_step(context, record, step).await?;
    let result = carry_out_begun(context, record, round, permit, &token).await;
    match result {
        Err(error) if outcome_may_be_unknown(&error) => {
            tracing::warn!(error = %error, marker = %token, "step outcome unknown; settling it from Glue's record");
            if hand_over(context, &record.incident_id, &token, &error).await {
                Ok(RoundEnd::HandedOver)
            } else {
                // Not recorded: the step is settled once it is stale.
                Err(error)
            }
        }
        other => other,
    }
}

/// Whether a failure may have come after (or during) an effect of the step.
fn outcome_may_be_unknown(error: &StepError) -> bool {
    match error {
        StepError::Port(port) => port.is_retryable(),
        StepError::Audit(_) => true,
    }
}

async fn carry_out_begun(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    permit: &Permit,
    token: &str,
) -> Result<RoundEnd, StepError> {
    // Noted before the run exists, so that its event, however early, is
    // held back until the run is linked (see `pipeline::run_owner`).
    let now = context.ports.clock.now();
    context.ports.incidents.note_starting(&record.job_name, &record.incident_id, now).await?;
    let input = StepInput { request: round.request, job_defaults: round.job_defaults, step_token: token };
    let end = match execute(context, permit, &input).await {
        Ok(executed) => executed_action(context, record, round, permit, executed).await?,
        Err(ExecutionError::Port(error)) if error.is_retryable() => return Err(StepError::Port(error)),
        Err(error) => failed_action(context, record, round, permit.action().kind(), error).await?,
    };
    done_starting(context, record).await;
    Ok(end)
}

/// The handler does not know the step's outcome: the incident says so (an
/// execution record, and the step marked handed over), so that it can be
/// settled at once (by this handler after a pause, or by the next delivery
/// if this one dies) instead of waiting for the handler to be presumed
/// dead. Read afresh, because this handler's copy of the record may hold a
/// transition that was never stored. Whether it was recorded: when it
/// could not be, the step is settled once it is stale.
async fn hand_over(context: &PipelineContext, incident_id: &str, token: &str, cause: &StepError) -> bool {
    let handed_over = async {
        let Some(mut record) = context.ports.incidents.get_incident(incident_id).await? else {
            return Ok(false);
        };
        let still_acting = record.state == crate::ports::IncidentState::Acting
            && record.step.as_ref().is_some_and(|step| step.token == token);
        if !still_acting {
            return Ok(false);
        }
        let run_id = record.failed_run_id.clone();
        let body = json!({"ok": false, "outcome_unknown": true, "step": token, "error": cause.to_string()});
        audit(context, &mut record, Stage::Execution, &run_id, body).await?;
        if let Some(step) = record.step.as_mut() {
            step.handed_over = true;
        }
        incident::store(context, &mut record).await?;
        Ok::<bool, StepError>(true)
    };
    match handed_over.await {
        Ok(recorded) => recorded,
        Err(error) => {
            tracing::warn!(error = %error, "could not hand the step over; it is settled once stale");
            false
        }
    }
}

async fn executed_action(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    permit: &Permit,
    executed: Executed,
) -> Result<RoundEnd, StepError> {
    if let Some(started) = executed.started_run_id.as_deref() {
        // Link the run first: its own event may already be on the way,
        // and is only recognised as ours once the link is stored.
        context.ports.incidents.link_run(&record.job_name, started, &record.incident_id).await?;
    }
    let started = executed.started_run_id.as_deref();
    incident::acted(context, record, permit.action(), started, &executed.detail).await?;
    notify_observer(context, record, round.request, permit.action(), started);
    Ok(match started {
        Some(_) => RoundEnd::Recorded,
        // Nothing to wait for: decide again when the message comes back.
        None => RoundEnd::RetrySecs(ACTION_RETRY_SECS),
    })
}

/// Seconds before a message whose action started nothing comes back.
const ACTION_RETRY_SECS: u32 = 30;

/// A permitted action refused in a way that proves nothing happened (the
/// executor's bounds, access denied, a concurrent-runs limit): count the
/// attempt and hand the incident to a person.
async fn failed_action(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    kind: ActionKind,
    error: ExecutionError,
) -> Result<RoundEnd, StepError> {
    tracing::warn!(error = %error, "action failed, escalating");
    let reason = format!("{} could not be carried out: {error}", kind.as_str());
    let detail = json!({"ok": false, "retryable": false, "error": error.to_string()});
    incident::action_failed(context, record, kind, ActionFailure::Tried, detail).await?;
    escalate(context, record, round, reason).await?;
    Ok(RoundEnd::Recorded)
}

pub async fn escalate(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    round: &Round<'_>,
    reason: String,
) -> Result<(), StepError> {
    let input = EscalationInput { request: Some(round.request), decision: round.decision, reason, approval: None };
    escalate_and_close(context, record, input).await
}

/// The run is linked (or none started): events of the job need not wait
/// for this incident any more. A failure here only delays such events until
/// the entry is stale, so it is logged, not retried.
pub async fn done_starting(context: &PipelineContext, record: &IncidentRecord) {
    if let Err(error) = context.ports.incidents.clear_starting(&record.job_name, &record.incident_id).await {
        tracing::warn!(error = %error, "could not clear the incident's starting entry; it goes stale by itself");
    }
}

pub fn notify_observer(
    context: &PipelineContext,
    record: &IncidentRecord,
    request: &DecideRequest,
    action: &Action,
    started_run_id: Option<&str>,
) {
    if let Some(observer) = &context.observer {
        observer.action_taken(record, request, action, started_run_id);
    }
}
