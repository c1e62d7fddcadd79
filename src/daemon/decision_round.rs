//! One decision round of an incident: gather evidence, ask the pure
//! decision core, record everything, and carry out the decision. Only a
//! safety `Permit` lets the round reach the executor; shadow mode records
//! the would-be action and touches nothing.

use std::time::{Duration, Instant};

use chrono::Duration as ChronoDuration;
use serde_json::json;

use crate::audit::Stage;
use crate::core::decide::{DecideOutcome, decide};
use crate::core::decision::Decision;
use crate::core::event::{EventEnvelope, JobStateChange};
use crate::core::evidence::FleetContext;
use crate::core::model::{Action, ActionKind, Mode};
use crate::core::safety::{Permit, breaker_open};
use crate::daemon::approval;
use crate::daemon::context::PipelineContext;
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::executor::{Executed, ExecutionError, execute};
use crate::daemon::gather::{Gathered, gather};
use crate::daemon::incident::{self, ActionFailure, StepError, audit, close};
use crate::ports::queue::MAX_VISIBILITY_SECS;
use crate::ports::{IncidentRecord, IncidentState, Operation};

/// How a round ended, for the message that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundEnd {
    /// The work is recorded; the message may be deleted.
    Recorded,
    /// `wait_and_retry`: bring the message back after this many seconds.
    WaitSecs(u32),
    /// Something retryable failed; try the message again after this many seconds.
    RetrySecs(u32),
}

/// Seconds before a message whose action hit a retryable error comes back.
const ACTION_RETRY_SECS: u32 = 30;

pub(crate) async fn fleet_context(
    context: &PipelineContext,
    job_name: &str,
    gathered: &Gathered,
) -> Result<FleetContext, StepError> {
    let store_port = &context.ports.incidents;
    let safety = &context.settings.safety;
    let now = context.ports.clock.now();
    let job_used = store_port.budget_used(job_name, safety.job_budget_window_s, now).await?;
    let fleet = store_port.fleet_counters(safety.fleet_window_s, now).await?;
    let breaker = store_port.fleet_counters(safety.breaker_window_s, now).await?;
    Ok(FleetContext {
        job_actions_in_window: job_used,
        fleet_actions_in_window: fleet.actions_in_window,
        recent_remediation_successes: breaker.remediations_succeeded_in_window,
        recent_remediation_failures: breaker.remediations_failed_in_window,
        glue_retry_pending: gathered.glue_retry_pending,
        input_object_count: gathered.input_object_count,
    })
}

/// Decide on the blocking thread pool, within `policy.decision_budget_ms`.
/// The decision is pure and usually takes microseconds, but its cost grows
/// with the evidence, which hostile text can inflate; on the blocking pool
/// it never holds a runtime worker (heartbeats, other incidents, shutdown
/// go on). `Err` says why there is no decision: the budget ran out (the
/// decision finishes on its own and is dropped) or it failed.
async fn timed_decide(
    context: &PipelineContext,
    gathered: &Gathered,
    fleet: &FleetContext,
) -> Result<DecideOutcome, String> {
    let started = Instant::now();
    let budget = Duration::from_millis(context.settings.policy.decision_budget_ms);
    let (request, policy, safety, fleet) =
        (gathered.request.clone(), context.policy.current(), context.settings.safety.clone(), fleet.clone());
    let deciding = tokio::task::spawn_blocking(move || decide(&request, &policy, &safety, &fleet));
    let outcome = tokio::time::timeout(budget, deciding).await;
    context.metrics.decision_duration_seconds.observe(started.elapsed().as_secs_f64());
    match outcome {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(failed)) => Err(format!("the decision failed ({failed}); a person decides")),
        Err(_elapsed) => Err(format!(
            "the decision took longer than policy.decision_budget_ms = {} ms (oversized or hostile evidence?); a person decides",
            budget.as_millis()
        )),
    }
}

/// No decision within the budget: record the request (so it replays) and
/// hand the incident to a person with the reason.
async fn undecided(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    reason: String,
) -> Result<RoundEnd, StepError> {
    tracing::warn!(reason, "no decision, escalating");
    let run_id = record.failed_run_id.clone();
    audit(context, record, Stage::Request, &run_id, serde_json::to_value(&gathered.request).unwrap_or_default())
        .await?;
    let input = EscalationInput { request: Some(&gathered.request), decision: None, reason, approval: None };
    escalate_and_close(context, record, input).await?;
    Ok(RoundEnd::Recorded)
}

/// Gather, decide, record and act for an incident in state `open` (or a
/// `waiting` one whose delay is over).
pub async fn decide_and_act(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let run_id = change.job_run_id.as_str();
    audit(context, record, Stage::Intake, run_id, json!({"event": envelope, "state": record.state.as_str()})).await?;
    let mut gathered = gather(context, record, change, envelope).await?;
    let fleet = fleet_context(context, &change.job_name, &gathered).await?;
    // Recorded with the request, so the audit record replays to this decision.
    gathered.request.context.fleet = Some(fleet.clone());
    context.metrics.circuit_breaker_open.set(i64::from(breaker_open(&context.settings.safety, &fleet)));
    let DecideOutcome { decision, permit } = match timed_decide(context, &gathered, &fleet).await {
        Ok(outcome) => outcome,
        Err(reason) => return undecided(context, record, &gathered, reason).await,
    };
    audit(context, record, Stage::Request, run_id, serde_json::to_value(&gathered.request).unwrap_or_default()).await?;
    audit(context, record, Stage::Decision, run_id, serde_json::to_value(&decision).unwrap_or_default()).await?;
    if let Some(rule) = decision.safety.rule {
        context.metrics.safety_replacements_total.with_label_values(&[rule]).inc();
    }
    context.metrics.decisions_total.with_label_values(&[decision.mode.as_str()]).inc();
    incident::diagnosed(record, decision.diagnosis.class);
    tracing::info!(
        class = decision.diagnosis.class.as_str(),
        proposed = decision.policy.proposed.as_str(),
        action = decision.action.kind().as_str(),
        mode = decision.mode.as_str(),
        "decided"
    );
    match (decision.mode, permit) {
        (Mode::Shadow, _) => record_shadow(context, record, &gathered, &decision).await,
        (Mode::Approve, _) if decision.action.kind().mutates() => {
            approval::propose(context, record, &gathered, &decision, envelope).await
        }
        (Mode::Auto, Some(permit)) => act(context, record, &gathered, Some(&decision), &permit).await,
        (Mode::Auto | Mode::Approve, _) => act_without_permit(context, record, &gathered, &decision).await,
    }
}

async fn record_shadow(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: &Decision,
) -> Result<RoundEnd, StepError> {
    let run_id = record.failed_run_id.clone();
    audit(
        context,
        record,
        Stage::Execution,
        &run_id,
        json!({"shadow": true, "would_do": decision.action, "touched": "nothing"}),
    )
    .await?;
    notify_observer(context, record, gathered, &decision.action, None);
    let now = context.ports.clock.now();
    close(context, record, IncidentState::Shadowed, decision.action.kind().as_str(), now).await?;
    Ok(RoundEnd::Recorded)
}

/// Auto mode without a permit: the final action changes nothing (escalate,
/// log_and_wait) or safety refused to issue one.
async fn act_without_permit(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: &Decision,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    match &decision.action {
        Action::LogAndWait {} => {
            let run_id = record.failed_run_id.clone();
            audit(context, record, Stage::Execution, &run_id, json!({"log_and_wait": true, "touched": "nothing"}))
                .await?;
            notify_observer(context, record, gathered, &decision.action, None);
            close(context, record, IncidentState::Deferred, ActionKind::LogAndWait.as_str(), now).await?;
        }
        Action::Escalate { reason } => {
            notify_observer(context, record, gathered, &decision.action, None);
            let input = EscalationInput {
                request: Some(&gathered.request),
                decision: Some(decision),
                reason: reason.clone(),
                approval: None,
            };
            escalate_and_close(context, record, input).await?;
        }
        mutating => {
            let reason = format!("safety issued no permit for {}", mutating.kind().as_str());
            tracing::warn!(reason, "escalating instead of acting");
            notify_observer(context, record, gathered, &Action::Escalate { reason: reason.clone() }, None);
            let input =
                EscalationInput { request: Some(&gathered.request), decision: Some(decision), reason, approval: None };
            escalate_and_close(context, record, input).await?;
        }
    }
    Ok(RoundEnd::Recorded)
}

/// Carry out a permitted action. A `wait_and_retry` first hides the message
/// for its delay (the incident waits in the store, no task sleeps); when it
/// comes back the round is decided again and the rerun starts. `decision`
/// is the round's decision (none for an approved proposal, whose decision
/// was recorded when it was proposed).
pub(crate) async fn act(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: Option<&Decision>,
    permit: &Permit,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    if let Action::WaitAndRetry { delay_s } = permit.action()
        && record.state == IncidentState::Open
    {
        let delay_secs = u32::try_from(*delay_s).unwrap_or(MAX_VISIBILITY_SECS).min(MAX_VISIBILITY_SECS);
        incident::wait(context, record, now + ChronoDuration::seconds(i64::from(delay_secs)), permit.action()).await?;
        return Ok(RoundEnd::WaitSecs(delay_secs));
    }
    let job_name = record.job_name.clone();
    let safety = &context.settings.safety;
    let grant = context
        .ports
        .incidents
        .consume_budget(&job_name, safety.job_budget_window_s, safety.job_action_budget, now)
        .await?;
    if !grant.granted {
        // Another worker spent the budget between our read and now.
        context.metrics.safety_replacements_total.with_label_values(&["job_action_budget"]).inc();
        let reason = format!(
            "job action budget of {} per {} s used up by other workers",
            safety.job_action_budget, safety.job_budget_window_s
        );
        escalate(context, record, gathered, decision, reason).await?;
        return Ok(RoundEnd::Recorded);
    }
    let run_id = record.failed_run_id.clone();
    let permit_record = json!({"action": permit.action(), "job_name": permit.job_name(), "run_id": permit.run_id(), "budget_used": grant.used});
    audit(context, record, Stage::Permit, &run_id, permit_record).await?;
    // Noted before the run exists, so that its event, however early, is
    // held back until the run is linked (see `pipeline::run_owner`).
    context.ports.incidents.note_starting(&job_name, &record.incident_id, now).await?;
    incident::begin_acting(context, record).await?;
    let end = match execute(context, permit, gathered).await {
        Ok(executed) => executed_action(context, record, gathered, permit, executed).await?,
        Err(error) => failed_action(context, record, gathered, decision, permit.action().kind(), error).await?,
    };
    done_starting(context, record).await;
    Ok(end)
}

async fn executed_action(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
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
    notify_observer(context, record, gathered, permit.action(), started);
    Ok(match started {
        Some(_) => RoundEnd::Recorded,
        // Nothing to wait for: decide again when the message comes back.
        None => RoundEnd::RetrySecs(ACTION_RETRY_SECS),
    })
}

/// One path for every way a permitted action can fail: retry the round
/// later when nothing can have happened yet, else count the attempt and
/// hand the incident to a person.
async fn failed_action(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: Option<&Decision>,
    kind: ActionKind,
    error: ExecutionError,
) -> Result<RoundEnd, StepError> {
    // StartJobRun has no idempotency token: after a timeout, a reset or a
    // 5xx the run may have started, and calling again could start it
    // twice. A person checks the job's runs instead.
    let outcome_unknown = matches!(&error, ExecutionError::Port(port)
        if port.operation() == Operation::StartJobRun && port.is_retryable() && !port.is_throttled());
    let (failure, detail, reason) = if outcome_unknown {
        tracing::warn!(error = %error, "StartJobRun outcome unknown, escalating instead of calling again");
        let reason =
            format!("{} may or may not have started a run ({error}); check the job's recent runs", kind.as_str());
        (ActionFailure::Tried, json!({"ok": false, "outcome_unknown": true, "error": error.to_string()}), reason)
    } else if error.is_retryable() {
        tracing::warn!(error = %error, "action failed transiently, will retry");
        (ActionFailure::Retryable, json!({"ok": false, "retryable": true, "error": error.to_string()}), String::new())
    } else {
        tracing::warn!(error = %error, "action failed, escalating");
        let reason = format!("{} could not be carried out: {error}", kind.as_str());
        (ActionFailure::Tried, json!({"ok": false, "retryable": false, "error": error.to_string()}), reason)
    };
    incident::action_failed(context, record, kind, failure, detail).await?;
    match failure {
        ActionFailure::Retryable => Ok(RoundEnd::RetrySecs(ACTION_RETRY_SECS)),
        ActionFailure::Tried => {
            escalate(context, record, gathered, decision, reason).await?;
            Ok(RoundEnd::Recorded)
        }
    }
}

async fn escalate(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: Option<&Decision>,
    reason: String,
) -> Result<(), StepError> {
    let input = EscalationInput { request: Some(&gathered.request), decision, reason, approval: None };
    escalate_and_close(context, record, input).await
}

/// The run is linked (or none started): events of the job need not wait
/// for this incident any more. A failure here only delays such events until
/// the entry is stale, so it is logged, not retried.
async fn done_starting(context: &PipelineContext, record: &IncidentRecord) {
    if let Err(error) = context.ports.incidents.clear_starting(&record.job_name, &record.incident_id).await {
        tracing::warn!(error = %error, "could not clear the incident's starting entry; it goes stale by itself");
    }
}

fn notify_observer(
    context: &PipelineContext,
    record: &IncidentRecord,
    gathered: &Gathered,
    action: &Action,
    started_run_id: Option<&str>,
) {
    if let Some(observer) = &context.observer {
        observer.action_taken(record, &gathered.request, action, started_run_id);
    }
}
