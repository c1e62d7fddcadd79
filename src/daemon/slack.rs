//! Slack approvals: the daemon reads the approvals queue, and each request
//! counts only when Slack's signature over its raw body verifies (within
//! the 5-minute replay window) and the person is on `[approvals]
//! allowed_users`; then it is applied with `approval::settle`, exactly as
//! `etl-medic approve` applies it, and answered in the thread. Every
//! refusal is counted in `etl_medic_approval_refusals_total` and nothing
//! runs for it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::approval::slack::{SlackRefusal, SlackRequest, parse_request, verify_signature};
use crate::daemon::approval::{Answer, AnswerRefused, Channel, Settled, settle};
use crate::daemon::context::PipelineContext;
use crate::metrics::approval_refusal;
use crate::ports::{ApprovalInbox, ApprovalReplies, PortError, SlackDelivery};

/// Long-poll wait of one receive on the approvals queue.
const RECEIVE_WAIT: Duration = Duration::from_secs(20);
/// Pause after a failed receive.
const RECEIVE_BACKOFF: Duration = Duration::from_secs(5);

/// What the approvals loop needs besides the daemon's context.
pub struct SlackApprovals {
    pub inbox: Arc<dyn ApprovalInbox>,
    pub replies: Arc<dyn ApprovalReplies>,
    /// The Slack app's signing secret (read from Secrets Manager at start-up).
    pub signing_secret: String,
    pub allowed_users: Vec<String>,
}

impl std::fmt::Debug for SlackApprovals {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SlackApprovals").field("allowed_users", &self.allowed_users).finish_non_exhaustive()
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Applied: the answer ran, was rejected or ended in an escalation.
    Applied(Settled),
    /// Refused with this `etl_medic_approval_refusals_total` reason; nothing ran.
    Refused(&'static str),
    /// A store or AWS failure: left on the queue for another try.
    Retry,
}

/// Until `stop`: receive, handle, acknowledge.
pub async fn run(context: Arc<PipelineContext>, slack: Arc<SlackApprovals>, stop: CancellationToken) {
    tracing::info!(allowed_users = slack.allowed_users.len(), "slack approvals on");
    loop {
        let polled = tokio::select! {
            () = stop.cancelled() => return,
            polled = poll_once(&context, &slack, RECEIVE_WAIT) => polled,
        };
        if let Err(error) = polled {
            tracing::warn!(error = %error, "approvals queue not read; trying again");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RECEIVE_BACKOFF) => {}
            }
        }
    }
}

/// One receive from the approvals queue and every request it brought.
pub async fn poll_once(
    context: &PipelineContext,
    slack: &SlackApprovals,
    wait: Duration,
) -> Result<Vec<Handled>, PortError> {
    let deliveries = slack.inbox.receive(wait).await?;
    let mut handled = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let outcome = handle(context, slack, &delivery).await;
        if outcome != Handled::Retry
            && let Err(error) = slack.inbox.delete(&delivery.handle).await
        {
            // It comes back and is refused as already decided: nothing runs twice.
            tracing::warn!(error = %error, "approval request not deleted");
        }
        handled.push(outcome);
    }
    Ok(handled)
}

async fn handle(context: &PipelineContext, slack: &SlackApprovals, delivery: &SlackDelivery) -> Handled {
    let now_secs = context.ports.clock.now().timestamp();
    let verified = verify_signature(
        &slack.signing_secret,
        delivery.timestamp.as_deref(),
        &delivery.body,
        delivery.signature.as_deref(),
        now_secs,
    )
    .and_then(|()| parse_request(&delivery.body));
    let request = match verified {
        Ok(request) => request,
        Err(refusal) => return refuse_unverified(context, delivery, &refusal),
    };
    if !slack.allowed_users.iter().any(|user| user == &request.user_id) {
        tracing::warn!(user_id = %request.user_id, incident_id = %request.incident_id, "approval from a user not on approvals.allowed_users refused");
        let text = format!("<@{}> is not allowed to approve etl-medic actions; nothing was done.", request.user_id);
        answer(slack, &request, &text).await;
        return refused(context, approval_refusal::UNKNOWN_USER);
    }
    let answer_of = Answer {
        incident_id: request.incident_id.clone(),
        approve: request.approve,
        by: request.user_id.clone(),
        channel: Channel::Slack,
        binding: request.binding.clone(),
    };
    match settle(context, &answer_of).await {
        Ok(settled) => {
            answer(slack, &request, &settled_text(&request, &settled)).await;
            Handled::Applied(settled)
        }
        Err(AnswerRefused::Step(error)) => {
            tracing::warn!(error = %error, "approval not applied yet; the request comes back");
            Handled::Retry
        }
        Err(refusal) => {
            let reason = refusal.metric_reason().unwrap_or(approval_refusal::MALFORMED);
            answer(slack, &request, &format!("Nothing was done: {refusal}.")).await;
            refused(context, reason)
        }
    }
}

fn refuse_unverified(context: &PipelineContext, delivery: &SlackDelivery, refusal: &SlackRefusal) -> Handled {
    // Not from Slack as far as anyone can tell: no answer goes anywhere.
    tracing::warn!(message_id = %delivery.message_id, reason = %refusal, "approval request refused");
    let reason = match refusal {
        SlackRefusal::MissingHeaders => approval_refusal::MISSING_HEADERS,
        SlackRefusal::StaleTimestamp(_) => approval_refusal::STALE_TIMESTAMP,
        SlackRefusal::BadSignature => approval_refusal::BAD_SIGNATURE,
        SlackRefusal::Malformed(_) => approval_refusal::MALFORMED,
    };
    refused(context, reason)
}

fn refused(context: &PipelineContext, reason: &'static str) -> Handled {
    context.metrics.approval_refusals_total.with_label_values(&[reason]).inc();
    Handled::Refused(reason)
}

fn settled_text(request: &SlackRequest, settled: &Settled) -> String {
    let who = format!("<@{}>", request.user_id);
    match settled {
        Settled::Ran { action, started_run_id } => {
            let run = started_run_id.as_deref().map(|run| format!(" (run {run})")).unwrap_or_default();
            format!("{who} approved {}: {} started{run}.", request.incident_id, action.kind())
        }
        Settled::Escalated { action, reason } => {
            format!("{who} approved {}, but {} did not run: {reason}.", request.incident_id, action.kind())
        }
        Settled::Rejected => format!("{who} rejected {}: escalated, nothing ran.", request.incident_id),
    }
}

/// Answer in the thread; a failed answer is logged, never retried (the
/// decision is recorded in the audit either way).
async fn answer(slack: &SlackApprovals, request: &SlackRequest, text: &str) {
    let Some(response_url) = request.response_url.as_deref() else {
        return;
    };
    if let Err(error) = slack.replies.reply(response_url, text).await {
        tracing::warn!(error = %error, "answer not posted in the thread");
    }
}
