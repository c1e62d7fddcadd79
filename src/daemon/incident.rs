//! The incident state machine and its bookkeeping: audit records numbered in
//! order, transitions stored with the optimistic version guard, and the
//! metrics and observer calls that belong to closing an incident.
//!
//! ```text
//!            claim           decide: shadow ───────────────► shadowed
//! (failure) ──────► open ──► decide: escalate ─────────────► escalated
//!                    ▲  │    decide: log_and_wait ─────────► deferred
//!                    │  │    decide: wait_and_retry ──► waiting ──(due)──► open (decide again)
//!                    │  ├──► decide: approve mode ──► awaiting_approval ──(approved, permit)──► acting
//!                    │  │                                  └──(expired, rejected)──► escalated
//!                    │  └──► decide: act (permit) ──► acting ──► remediating
//!                    │                                             │
//!                    └──────── run we started FAILED ◄─────────────┤
//!                                run we started SUCCEEDED ─────────┴──► resolved
//! ```
//!
//! An `acting` incident names its step. When the step's outcome is lost,
//! `daemon::settle` moves it on from Glue's own record: to `remediating`
//! when the run carrying the step's marker is found, through `acting` again
//! when the step is carried out anew, to `open` when it is dropped and
//! decided afresh.
//!
//! Every transition writes its audit record first and stores the new state
//! second, so a state is never stored without its record. This module owns
//! every change of an incident's state and of the fields that go with it:
//! the pipeline and the decision round call the transitions below and never
//! write a field of the record themselves.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{AUDIT_SCHEMA, AuditError, AuditRecord, Stage, incident_folder};
use crate::core::model::{Action, ActionKind, FailureClass};
use crate::daemon::context::PipelineContext;
use crate::metrics::incident_outcome;
use crate::ports::{
    ActionStep, ApprovalDecision, IncidentRecord, IncidentState, PendingApproval, PortError, SourceWatch,
};

/// The incidents_total outcome label of a closed state.
pub fn outcome_label(state: IncidentState) -> &'static str {
    match state {
        IncidentState::Resolved => incident_outcome::RESOLVED,
        IncidentState::Escalated => incident_outcome::ESCALATED,
        IncidentState::Shadowed => incident_outcome::SHADOWED,
        // Closed without a fix by etl-medic: the action could not be done.
        IncidentState::Failed => incident_outcome::FAILED,
        // Left to the job's next run (log_and_wait) or Glue's own retry.
        IncidentState::Deferred => incident_outcome::DEFERRED,
        IncidentState::Open
        | IncidentState::Acting
        | IncidentState::Waiting
        | IncidentState::Remediating
        | IncidentState::AwaitingApproval => {
            debug_assert!(false, "only closed states have an outcome label");
            incident_outcome::FAILED
        }
    }
}

/// The class label of an incident (unknown until diagnosed).
pub fn class_label(record: &IncidentRecord) -> &'static str {
    record.class.unwrap_or(FailureClass::Unknown).as_str()
}

/// The action label of an incident: the last action tried, or the one it closed with.
pub fn last_action_label(record: &IncidentRecord) -> &'static str {
    record.actions_taken.last().copied().unwrap_or(ActionKind::LogAndWait).as_str()
}

/// Failures while moving an incident along.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Write one audit stage of `record`, using and advancing its sequence number.
pub async fn audit(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    stage: Stage,
    run_id: &str,
    body: serde_json::Value,
) -> Result<String, AuditError> {
    let entry = AuditRecord {
        schema: AUDIT_SCHEMA,
        incident_id: record.incident_id.clone(),
        job_name: record.job_name.clone(),
        failed_run_id: record.failed_run_id.clone(),
        run_id: run_id.to_string(),
        stage,
        seq: record.audit_seq,
        at: context.ports.clock.now(),
        body,
    };
    let key = context.audit.write_stage(record.opened_at, entry).await?;
    record.audit_seq += 1;
    Ok(key)
}

/// Where the incident's audit trail is, as an `s3://` URI.
pub fn audit_location(context: &PipelineContext, record: &IncidentRecord) -> String {
    let folder = incident_folder(context.audit.prefix(), record.opened_at, &record.job_name, &record.failed_run_id);
    format!("s3://{}/{folder}", context.audit.bucket())
}

/// A token naming one write of an incident record, unique across workers:
/// a writer whose answer was lost recognises its own write by it.
fn fresh_write_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Store a transition; on success `record` becomes the stored version.
pub async fn store(context: &PipelineContext, record: &mut IncidentRecord) -> Result<(), PortError> {
    record.updated_at = context.ports.clock.now();
    record.write_token = fresh_write_token();
    let stored = context.ports.incidents.update_incident(record).await?;
    *record = stored;
    Ok(())
}

/// Close an incident in `state` at `closed_at`: audit, store, then count it
/// (after the store, so a lost race is never counted twice).
pub async fn close(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    state: IncidentState,
    action: &str,
    closed_at: DateTime<Utc>,
) -> Result<(), StepError> {
    debug_assert!(state.is_closed(), "close needs a closed state");
    let mttr_s = (closed_at - record.opened_at).num_milliseconds().max(0) as f64 / 1_000.0;
    let outcome = outcome_label(state);
    let run_id = record.current_run_id.clone().unwrap_or_else(|| record.failed_run_id.clone());
    audit(
        context,
        record,
        Stage::Closed,
        &run_id,
        json!({"state": state.as_str(), "outcome": outcome, "action": action, "attempts": record.attempt,
               "actions_taken": record.actions_taken, "closed_at": closed_at, "mttr_s": mttr_s}),
    )
    .await?;
    record.state = state;
    record.closed_at = Some(closed_at);
    record.step = None;
    store(context, record).await?;
    let class = class_label(record);
    context.metrics.incidents_total.with_label_values(&[class, action, outcome]).inc();
    if state == IncidentState::Resolved {
        context.metrics.mttr_seconds.with_label_values(&[class]).observe(mttr_s);
    }
    if let Some(observer) = &context.observer {
        observer.incident_closed(record, outcome);
    }
    tracing::info!(state = state.as_str(), action, mttr_s, "incident closed");
    Ok(())
}

/// The diagnosis of the latest decision round; stored with the next transition.
pub fn diagnosed(record: &mut IncidentRecord, class: FailureClass) {
    record.class = Some(class);
}

/// `wait_and_retry`: the message is hidden until `until`; then the round is
/// decided again (the world may have changed) and `planned` is what it
/// meant to do.
pub async fn wait(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    until: DateTime<Utc>,
    planned: &Action,
) -> Result<(), StepError> {
    let waiting_secs = (until - context.ports.clock.now()).num_seconds().max(0);
    let run_id = record.failed_run_id.clone();
    audit(context, record, Stage::Execution, &run_id, json!({"waiting_secs": waiting_secs, "until": until})).await?;
    record.state = IncidentState::Waiting;
    record.wait_until = Some(until);
    record.planned_action = Some(planned.clone());
    store(context, record).await?;
    Ok(())
}

/// `wait_for_source`: the incident waits until `deadline` for new input
/// under `watch.locations`; its message comes back every
/// `incidents.source_check_secs` to look (no task sleeps, and the watch
/// is in the store, so a restart resumes it).
pub async fn watch_source(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    deadline: DateTime<Utc>,
    planned: &Action,
    watch: SourceWatch,
) -> Result<(), StepError> {
    let run_id = record.failed_run_id.clone();
    let body = json!({"watching": watch.locations, "newer_than": watch.since, "until": deadline, "max_wait_s": watch.max_wait_s});
    audit(context, record, Stage::Execution, &run_id, body).await?;
    record.state = IncidentState::Waiting;
    record.wait_until = Some(deadline);
    record.planned_action = Some(planned.clone());
    record.source_watch = Some(watch);
    store(context, record).await?;
    Ok(())
}

/// `approve` mode: the proposal waits for a person in the store; the
/// incident's message stays hidden until it expires.
pub async fn await_approval(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    pending: PendingApproval,
    body: serde_json::Value,
) -> Result<(), StepError> {
    let run_id = record.failed_run_id.clone();
    audit(context, record, Stage::Approval, &run_id, body).await?;
    record.state = IncidentState::AwaitingApproval;
    record.pending = Some(pending);
    store(context, record).await?;
    Ok(())
}

/// A waiting incident is carried on by another message (a scheduled
/// re-delivery of its event): that message's deliveries resume it now.
pub async fn hand_to_message(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message_id: &str,
) -> Result<(), PortError> {
    record.owner_message_id = message_id.to_string();
    store(context, record).await
}

/// A permitted step is about to be carried out (or carried out again, after
/// a look found no trace of its last try): the incident is `acting` and
/// names the step, so that whoever finds it so can settle the step from
/// Glue's own record. Stored with the version guard before anything is
/// done, so of two handlers settling the same step only one goes on.
pub async fn begin_step(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    step: ActionStep,
) -> Result<(), PortError> {
    record.state = IncidentState::Acting;
    record.step = Some(step);
    store(context, record).await
}

/// A person decided the pending proposal. The store is written *before*
/// the audit record here: this conditional write (on the version read) is
/// what makes an approval single use, and a click that lost the race must
/// leave no record claiming it decided. An approval moves the incident to
/// `acting` (the permitted action comes next); a rejection leaves it
/// `awaiting_approval` with the decision noted, to be escalated.
pub async fn approval_decided(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    decision: ApprovalDecision,
) -> Result<(), StepError> {
    debug_assert_eq!(record.state, IncidentState::AwaitingApproval);
    let approved = decision.approved;
    let binding = record.pending.as_ref().map(|pending| pending.binding.clone()).unwrap_or_default();
    if let Some(pending) = record.pending.as_mut() {
        pending.decided = Some(decision.clone());
    }
    if approved {
        record.state = IncidentState::Acting;
    }
    store(context, record).await?;
    let run_id = record.failed_run_id.clone();
    let body = json!({"status": if approved { "approved" } else { "rejected" }, "by": decision.by,
                      "channel": decision.channel, "at": decision.at, "binding": binding});
    audit(context, record, Stage::Approval, &run_id, body).await?;
    Ok(())
}

/// The action was carried out. When it started a run, the incident waits
/// for that run's end (`remediating`); an action that starts no run leaves
/// it `open`, to be decided again.
pub async fn acted(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    action: &Action,
    started_run_id: Option<&str>,
    detail: &serde_json::Value,
) -> Result<(), StepError> {
    let run_id = started_run_id.map_or_else(|| record.failed_run_id.clone(), str::to_string);
    audit(
        context,
        record,
        Stage::Execution,
        &run_id,
        json!({"ok": true, "action": action, "started_run_id": started_run_id, "detail": detail}),
    )
    .await?;
    record.attempt += 1;
    record.actions_taken.push(action.kind());
    record.planned_action = None;
    record.wait_until = None;
    record.step = None;
    record.source_watch = None;
    match started_run_id {
        Some(started) => {
            record.state = IncidentState::Remediating;
            record.current_run_id = Some(started.to_string());
            record.run_started_at = Some(context.ports.clock.now());
        }
        None => record.state = IncidentState::Open,
    }
    store(context, record).await?;
    Ok(())
}

/// An interrupted step that left no trace and may no longer be carried out
/// under its permit: the incident is open again, to be decided afresh (the
/// caller wrote the execution record saying why).
pub async fn drop_step(context: &PipelineContext, record: &mut IncidentRecord) -> Result<(), PortError> {
    record.state = IncidentState::Open;
    record.step = None;
    store(context, record).await
}

/// How a permitted action that did not complete ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionFailure {
    /// It may work later (throttling, a blip before anything happened): the
    /// incident is open again and its message comes back.
    Retryable,
    /// It was tried and failed, or whether it happened is unknown: it counts
    /// as an attempt, and a person takes over.
    Tried,
}

/// Record a failed action: `Retryable` reopens the incident; `Tried` counts
/// the attempt (the caller escalates next).
pub async fn action_failed(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    kind: ActionKind,
    failure: ActionFailure,
    detail: serde_json::Value,
) -> Result<(), StepError> {
    let run_id = record.failed_run_id.clone();
    audit(context, record, Stage::Execution, &run_id, detail).await?;
    record.step = None;
    match failure {
        ActionFailure::Retryable => {
            record.state = IncidentState::Open;
            store(context, record).await?;
        }
        ActionFailure::Tried => {
            context.metrics.remediations_total.with_label_values(&[kind.as_str(), "failure"]).inc();
            record.actions_taken.push(kind);
        }
    }
    Ok(())
}

/// The escalation was published: stored at once, so that a redelivery of
/// the incident finishes closing it without paging anyone again.
pub async fn notified(context: &PipelineContext, record: &mut IncidentRecord) -> Result<(), PortError> {
    record.notified_at = Some(context.ports.clock.now());
    store(context, record).await
}

/// The run we started failed: the incident is open for another round,
/// carried from now on by `message_id` (the failure event of that run).
pub async fn remediation_failed(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message_id: &str,
    run_id: &str,
    body: serde_json::Value,
) -> Result<(), StepError> {
    audit(context, record, Stage::Validation, run_id, body).await?;
    record.state = IncidentState::Open;
    record.owner_message_id = message_id.to_string();
    store(context, record).await?;
    Ok(())
}

/// A fresh incident for the failure of (job, run) observed at `opened_at`.
pub fn new_record(
    incident_id: &str,
    job_name: &str,
    run_id: &str,
    opened_at: DateTime<Utc>,
    message_id: &str,
    now: DateTime<Utc>,
) -> IncidentRecord {
    IncidentRecord {
        incident_id: incident_id.to_string(),
        job_name: job_name.to_string(),
        failed_run_id: run_id.to_string(),
        opened_at,
        state: IncidentState::Open,
        attempt: 0,
        actions_taken: Vec::new(),
        class: None,
        current_run_id: None,
        run_started_at: None,
        planned_action: None,
        wait_until: None,
        source_watch: None,
        owner_message_id: message_id.to_string(),
        updated_at: now,
        closed_at: None,
        audit_seq: 0,
        pending: None,
        version: 1,
        step: None,
        write_token: fresh_write_token(),
        notified_at: None,
    }
}
