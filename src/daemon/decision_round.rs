//! One decision round of an incident: gather evidence, ask the pure
//! decision core, record everything, and carry out the decision (a
//! permitted action as one step, `daemon::step`). Only a safety `Permit`
//! lets the round reach the executor; shadow mode records the would-be
//! action and touches nothing.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::audit::Stage;
use crate::core::decide::{DecideOutcome, decide_exploring};
use crate::core::decision::Decision;
use crate::core::event::{EventEnvelope, JobStateChange};
use crate::core::evidence::{DecideRequest, FleetContext};
use crate::core::model::{Action, ActionKind, Mode};
use crate::core::policy::explore::Exploration;
use crate::core::safety::{Permit, breaker_open};
use crate::daemon::approval;
use crate::daemon::context::PipelineContext;
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::gather::{Gathered, gather};
use crate::daemon::incident::{self, StepError, audit, close};
use crate::daemon::source_watch;
use crate::daemon::step::{self, Round, notify_observer};
use crate::ports::{IncidentRecord, IncidentState};

/// How a round ended, for the message that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundEnd {
    /// The work is recorded; the message may be deleted.
    Recorded,
    /// `wait_and_retry`: bring the message back after this many seconds.
    WaitSecs(u32),
    /// Something retryable failed; try the message again after this many seconds.
    RetrySecs(u32),
    /// A step's outcome is unknown and the incident says so: settle it from
    /// Glue's record, in this handling after a pause or on the next delivery.
    HandedOver,
}

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
/// The settler replays a step's recorded request through this same call
/// (same policy, settings and exploration seed give the same permit).
pub(crate) async fn timed_decide(
    context: &PipelineContext,
    request: &DecideRequest,
    fleet: &FleetContext,
) -> Result<DecideOutcome, String> {
    let started = Instant::now();
    let budget = Duration::from_millis(context.settings.policy.decision_budget_ms);
    let (request, policy, safety, fleet) =
        (request.clone(), context.policy.current(), context.settings.safety.clone(), fleet.clone());
    let exploration = Exploration::new(context.settings.policy.explore, context.settings.policy.explore_seed)
        .map_err(|refused| format!("policy.explore: {refused}; a person decides"))?;
    let deciding =
        tokio::task::spawn_blocking(move || decide_exploring(&request, &policy, &safety, &fleet, &exploration));
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
    let DecideOutcome { decision, permit } = match timed_decide(context, &gathered.request, &fleet).await {
        Ok(outcome) => outcome,
        Err(reason) => return undecided(context, record, &gathered, reason).await,
    };
    let request_key =
        audit(context, record, Stage::Request, run_id, serde_json::to_value(&gathered.request).unwrap_or_default())
            .await?;
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
        (Mode::Auto, Some(permit)) => {
            if let Action::WaitForSource { max_wait_s } = permit.action()
                && record.state == IncidentState::Open
            {
                let end = source_watch::start(context, record, &gathered, permit.action(), *max_wait_s).await?;
                notify_observer(context, record, &gathered.request, permit.action(), None);
                return Ok(end);
            }
            let job_defaults = gathered.job.as_ref().map(|job| &job.default_arguments);
            let round = Round { request: &gathered.request, decision: Some(&decision), job_defaults };
            step::act(context, record, &round, &permit, request_key).await
        }
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
    notify_observer(context, record, &gathered.request, &decision.action, None);
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
            notify_observer(context, record, &gathered.request, &decision.action, None);
            close(context, record, IncidentState::Deferred, ActionKind::LogAndWait.as_str(), now).await?;
        }
        Action::Escalate { reason } => {
            notify_observer(context, record, &gathered.request, &decision.action, None);
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
            notify_observer(context, record, &gathered.request, &Action::Escalate { reason: reason.clone() }, None);
            let input =
                EscalationInput { request: Some(&gathered.request), decision: Some(decision), reason, approval: None };
            escalate_and_close(context, record, input).await?;
        }
    }
    Ok(RoundEnd::Recorded)
}

/// Carry out an approved action under the permit safety issued for it now:
/// the fresh request is recorded (the step names it, as every step does)
/// and the step runs as any other. The proposal's decision was recorded
/// when it was proposed.
pub(crate) async fn act(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    decision: Option<&Decision>,
    permit: &Permit,
) -> Result<RoundEnd, StepError> {
    let run_id = record.failed_run_id.clone();
    let request_key =
        audit(context, record, Stage::Request, &run_id, serde_json::to_value(&gathered.request).unwrap_or_default())
            .await?;
    let job_defaults = gathered.job.as_ref().map(|job| &job.default_arguments);
    let round = Round { request: &gathered.request, decision, job_defaults };
    step::act(context, record, &round, permit, request_key).await
}
