//! Settling a step whose outcome was lost: the process died between
//! deciding an action and recording its result, or AWS's answer to the
//! action did not arrive. Instead of paging a person for work the agent can
//! finish, the step is settled from Glue's own record:
//!
//! - a run carrying the step's marker exists: it is linked and recorded as
//!   the step's run, and validated like any other (its event replayed if it
//!   ended before the link);
//! - no run carries it, within `[incidents] settle_deadline_secs` of the
//!   step's start: the step is carried out again under its own permit,
//!   obtained by replaying the recorded request through the decision core
//!   (the same permit, or none if policy or settings changed since), with
//!   the budget unit the step already holds and the same marker;
//! - no run carries it and the deadline has passed: the step is dropped and
//!   the incident decided afresh on current evidence;
//! - Glue's runs of the job cannot be read: looked at again later, and only
//!   once the deadline has passed is the incident escalated, as before.
//!
//! Every second try follows a look that found no trace of the first, so a
//! step never starts two runs. The only window left is a handler that is
//! still working although it looks dead (its heartbeats failing for a whole
//! visibility timeout) while another settles its step: Glue's StartJobRun
//! takes no idempotency token to close it (RELIABILITY.md, "Known limits").

use chrono::Duration as ChronoDuration;
use serde_json::json;

use crate::audit::Stage;
use crate::core::decide::DecideOutcome;
use crate::core::decision::Decision;
use crate::core::event::{EventEnvelope, JobStateChange};
use crate::core::evidence::DecideRequest;
use crate::core::model::Mode;
use crate::core::safety::Permit;
use crate::daemon::context::PipelineContext;
use crate::daemon::decision_round::{RoundEnd, decide_and_act, timed_decide};
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::incident::{self, StepError, audit};
use crate::daemon::reconciler::{is_finished, replayed_event};
use crate::daemon::step::{self, Round};
use crate::ports::queue::MAX_VISIBILITY_SECS;
use crate::ports::{ActionStep, IncidentRecord, JobRun, PortError, QueueMessage};

/// Runs of the job read to find a step's run: those started since the step
/// began are the newest, so this many suffice unless the job started more
/// than this many runs since.
const SETTLE_HISTORY_RUNS: u32 = 50;
/// Seconds before looking again at an incident another handler may be acting on.
const ACTING_RECHECK_SECS: u32 = 5;

/// An incident found `acting`. While the handler that began the step may
/// still be working (it handed nothing over, and the step is younger than
/// a visibility timeout, the time a live handler's message stays hidden),
/// look again later; otherwise settle the step.
pub async fn on_acting(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    let stale_after = ChronoDuration::seconds(i64::from(context.settings.queue.visibility_timeout_secs));
    let handed_over = record.step.as_ref().is_some_and(|step| step.handed_over);
    let stale_in = record.updated_at + stale_after - now;
    if !handed_over && stale_in > ChronoDuration::zero() {
        // The owner's own message back means its handler stopped: come back
        // once, when the step is stale. Any other message looks again soon.
        let wait_secs = if message.message_id == record.owner_message_id {
            u32::try_from(stale_in.num_seconds() + 1).unwrap_or(MAX_VISIBILITY_SECS).clamp(1, MAX_VISIBILITY_SECS)
        } else {
            ACTING_RECHECK_SECS
        };
        return Ok(RoundEnd::RetrySecs(wait_secs));
    }
    let Some(step) = record.step.clone() else {
        // Written by a version that did not name its steps: nothing to look for.
        let reason =
            "an action was interrupted before its result was recorded; check the job's recent runs".to_string();
        escalate_and_close(context, record, EscalationInput { request: None, decision: None, reason, approval: None })
            .await?;
        return Ok(RoundEnd::Recorded);
    };
    let is_owner = message.message_id == record.owner_message_id;
    settle_step(context, record, step, is_owner, change, envelope).await
}

async fn settle_step(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    step: ActionStep,
    is_owner: bool,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let deadline_secs = context.settings.incidents.settle_deadline_secs;
    let deadline = step.begun_at + ChronoDuration::seconds(i64::try_from(deadline_secs).unwrap_or(i64::MAX / 2_000));
    let within_deadline = context.ports.clock.now() < deadline;
    match find_marked_run(context, &record.job_name, &step.token).await {
        Ok(Some(run)) => adopt(context, record, &step, run).await,
        Ok(None) if within_deadline => redo(context, record, step, is_owner, change, envelope).await,
        Ok(None) => {
            let reason = format!("no run carries the step's marker {} and its settle deadline has passed", step.token);
            afresh(context, record, is_owner, change, envelope, &reason).await
        }
        Err(error) if error.is_retryable() && within_deadline => {
            tracing::warn!(error = %error, marker = %step.token, "cannot read the job's runs yet; settling later");
            Err(error.into())
        }
        Err(error) => {
            let reason = format!(
                "the outcome of {} (step {}) could not be settled: the job's runs could not be read within {deadline_secs} s ({error}); check the job's recent runs",
                step.action.kind().as_str(),
                step.token
            );
            escalate_and_close(
                context,
                record,
                EscalationInput { request: None, decision: None, reason, approval: None },
            )
            .await?;
            Ok(RoundEnd::Recorded)
        }
    }
}

/// The run carrying `token` as its marker, among the job's newest runs.
pub async fn find_marked_run(
    context: &PipelineContext,
    job_name: &str,
    token: &str,
) -> Result<Option<JobRun>, PortError> {
    let runs = context.ports.job_control.get_job_runs(job_name, SETTLE_HISTORY_RUNS).await?;
    Ok(runs.into_iter().find(|run| run.marker() == Some(token)))
}

/// The step did start its run: link it and record it, as the step itself
/// would have. Its event may have come and gone before the link (taken for
/// a stranger's run, dropped); if the run has ended, its event is replayed
/// through the queue, where claims let it be validated once.
async fn adopt(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    step: &ActionStep,
    run: JobRun,
) -> Result<RoundEnd, StepError> {
    tracing::info!(run_id = %run.id, marker = %step.token, "settled: the step's run was found by its marker");
    context.ports.incidents.link_run(&record.job_name, &run.id, &record.incident_id).await?;
    let detail = json!({"settled": "the run carrying the step's marker was found", "marker": step.token,
                        "tries": step.tries});
    incident::acted(context, record, &step.action, Some(&run.id), &detail).await?;
    step::done_starting(context, record).await;
    replay_if_finished(context, record).await;
    Ok(RoundEnd::Recorded)
}

/// The run a `remediating` incident waits for may have ended before it was
/// linked, its event taken for a stranger's and dropped: read it (after the
/// link, so an event handled from now on finds the link) and, if it has
/// ended, replay its event through the queue, where a claim lets one copy
/// validate it. Called when a step's run is found, and when the owner's
/// message comes back to an incident already `remediating` (its handler
/// died before the replay). A failure only leaves the run to the reconciler.
pub async fn replay_if_finished(context: &PipelineContext, record: &IncidentRecord) {
    let Some(run_id) = record.current_run_id.as_deref() else {
        return;
    };
    match context.ports.job_control.get_job_run(&record.job_name, run_id).await {
        Ok(latest) if is_finished(latest.state) => {
            let body = replayed_event(&latest, "", "").to_string();
            match context.ports.queue.send(&body, 0).await {
                Ok(_) => tracing::info!(run_id, state = latest.state.as_str(), "replayed the event of the step's run"),
                Err(error) => tracing::warn!(error = %error, "could not replay the run's event; the reconciler will"),
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %error, "could not read the step's run; the reconciler will"),
    }
}

/// No run carries the marker: carry the step out again, under the permit
/// its recorded request still earns.
async fn redo(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    step: ActionStep,
    is_owner: bool,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let Some(replayed) = replay(context, &step).await? else {
        let reason = "the recorded decision no longer earns the step's permit (policy or settings changed)";
        return afresh(context, record, is_owner, change, envelope, reason).await;
    };
    let job = match context.ports.job_control.get_job(&record.job_name).await {
        Ok(job) => Some(job),
        Err(error) if error.is_retryable() => return Err(error.into()),
        Err(_) => None,
    };
    tracing::info!(marker = %step.token, tries = step.tries, "settled: no run carries the step's marker; carrying it out again");
    let round = Round {
        request: &replayed.request,
        decision: Some(&replayed.decision),
        job_defaults: job.as_ref().map(|job| &job.default_arguments),
    };
    let next = ActionStep { tries: step.tries + 1, handed_over: false, ..step };
    step::carry_out(context, record, &round, &replayed.permit, next).await
}

/// A step's decision, replayed.
struct Replayed {
    request: DecideRequest,
    decision: Decision,
    permit: Permit,
}

/// Replay the step's recorded request through the decision core with the
/// fleet facts it was decided on: the same policy and safety settings give
/// the same decision, and the safety layer issues the same permit. `None`
/// when the record is gone or unreadable, or the permit is not the step's.
async fn replay(context: &PipelineContext, step: &ActionStep) -> Result<Option<Replayed>, PortError> {
    let bytes = match context.ports.objects.get_object(context.audit.bucket(), &step.request_key).await {
        Ok(bytes) => bytes,
        Err(error) if error.is_retryable() => return Err(error),
        Err(error) => {
            tracing::warn!(error = %error, key = %step.request_key, "the step's request record cannot be read");
            return Ok(None);
        }
    };
    let request = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|mut record| serde_json::from_value::<DecideRequest>(record["body"].take()).ok());
    let Some(request) = request else {
        tracing::warn!(key = %step.request_key, "the step's request record is not a decide request");
        return Ok(None);
    };
    let fleet = request.context.fleet.clone().unwrap_or_default();
    let DecideOutcome { decision, permit } = match timed_decide(context, &request, &fleet).await {
        Ok(outcome) => outcome,
        Err(reason) => {
            tracing::warn!(reason, key = %step.request_key, "the step's request did not replay to a decision");
            return Ok(None);
        }
    };
    Ok(match permit {
        Some(permit) if decision.mode == Mode::Auto && *permit.action() == step.action => {
            Some(Replayed { request, decision, permit })
        }
        _ => None,
    })
}

/// The step left no trace and can no longer be carried out under its
/// permit: drop it and decide again on current evidence. Only the message
/// that owns the incident decides its rounds; another looks again later.
async fn afresh(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    is_owner: bool,
    change: &JobStateChange,
    envelope: &EventEnvelope,
    reason: &str,
) -> Result<RoundEnd, StepError> {
    if !is_owner {
        return Ok(RoundEnd::RetrySecs(ACTING_RECHECK_SECS));
    }
    tracing::info!(reason, "settled: the step left no trace; deciding afresh");
    let run_id = record.failed_run_id.clone();
    let token = record.step.as_ref().map(|step| step.token.clone());
    let body = json!({"ok": false, "settled": "no run carries the step's marker; deciding afresh", "step": token,
                      "reason": reason});
    audit(context, record, Stage::Execution, &run_id, body).await?;
    incident::drop_step(context, record).await?;
    decide_and_act(context, record, change, envelope).await
}
