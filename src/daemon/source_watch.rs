//! `wait_for_source`: watch the job's input and rerun as soon as new input
//! lands, or hand the incident to a person at the deadline.
//!
//! No task sleeps. Starting the watch stores it in the incident (state
//! `waiting`, `wait_until` = the deadline, `source_watch` = what is
//! watched) and hides the queue message for `incidents.source_check_secs`.
//! Each time the message comes back, the inputs are listed once
//! (ListObjectsV2): an object modified after the failed run started means
//! the source landed, and the round decides again on fresh evidence and
//! carries out the decision through the same permit path as every other
//! action (budget, `acting` guard, run linking), so a redelivered or
//! duplicated message never starts a second run. A restart loses nothing:
//! the next process finds the incident waiting and the message coming back.
//!
//! A wait of hours is many checks, more than the queue's `maxReceiveCount`
//! lets one message be received before the redrive policy moves it to the
//! dead-letter queue. So after a check that found nothing, the event is
//! sent again as a new message delayed by the check interval (a scheduled
//! re-delivery), the incident is handed to that message
//! (`owner_message_id`, stored before the old message is deleted), and the
//! old one is deleted. A crash between the two leaves either the old
//! message (it comes back and sends again) or both (the acting guard lets
//! only one of them start the run).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::json;

use crate::audit::Stage;
use crate::core::event::{EventEnvelope, JobStateChange};
use crate::core::model::Action;
use crate::core::params::source_locations;
use crate::core::s3::S3Location;
use crate::daemon::context::PipelineContext;
use crate::daemon::decision_round::{RoundEnd, decide_and_act};
use crate::daemon::escalation::{EscalationInput, escalate_and_close};
use crate::daemon::gather::{Gathered, gather};
use crate::daemon::incident::{self, StepError, audit};
use crate::ports::queue::QueueMessage;
use crate::ports::{IncidentRecord, PortError, SourceWatch};

/// Objects listed per watched location and check. ListObjectsV2 lists in
/// key order, so in a larger prefix a new object beyond this many keys is
/// not seen; point `jobs.<job>.sources` at the partition prefix instead.
pub const WATCH_LISTING_LIMIT: u32 = 5_000;

/// SQS DelaySeconds maximum: the longest a re-delivery can wait, so also
/// the longest `incidents.source_check_secs`.
pub const MAX_DELAY_SECS: u32 = 900;

/// Start watching: record the watch and bring the message back after one
/// check interval (or at the deadline, if sooner).
pub async fn start(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    gathered: &Gathered,
    action: &Action,
    max_wait_s: u64,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    let locations: Vec<String> =
        source_locations(&gathered.request, &context.settings.safety).iter().map(ToString::to_string).collect();
    // Landed = modified after the failed run started; the failure time when GetJobRun did not say.
    let since = gathered.failed_run.as_ref().and_then(|run| run.started_on).unwrap_or(record.opened_at);
    let deadline = now + ChronoDuration::seconds(i64::try_from(max_wait_s).unwrap_or(i64::MAX / 2_000));
    let watch = SourceWatch { locations, since, max_wait_s };
    incident::watch_source(context, record, deadline, action, watch).await?;
    Ok(RoundEnd::WaitSecs(next_check_secs(context, now, deadline)))
}

/// The message of a watching incident came back: look at the inputs once.
pub async fn check(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    watch: SourceWatch,
    message: &QueueMessage,
    change: &JobStateChange,
    envelope: &EventEnvelope,
) -> Result<RoundEnd, StepError> {
    let now = context.ports.clock.now();
    let deadline = record.wait_until.unwrap_or(now);
    match newest_landed(context, &watch).await {
        Ok(Some(landed)) => {
            tracing::info!(object = %landed.uri, "the watched source landed; deciding again");
            let run_id = record.failed_run_id.clone();
            let body =
                json!({"source_landed": landed.uri, "last_modified": landed.modified, "newer_than": watch.since});
            audit(context, record, Stage::Execution, &run_id, body).await?;
            context.metrics.source_waits_total.with_label_values(&["landed"]).inc();
            decide_and_act(context, record, change, envelope).await
        }
        Ok(None) if now >= deadline => {
            context.metrics.source_waits_total.with_label_values(&["deadline"]).inc();
            let reason = format!(
                "the source did not land within max_wait_s = {} s: no object modified after {} under {}",
                watch.max_wait_s,
                watch.since.to_rfc3339(),
                watch.locations.join(", ")
            );
            give_up(context, record, change, envelope, reason).await
        }
        Ok(None) => redeliver(context, record, message, next_check_secs(context, now, deadline)).await,
        Err(error) if error.is_retryable() => Err(error.into()),
        Err(error) => {
            // Access denied, no such bucket: watching on cannot see a landing.
            context.metrics.source_waits_total.with_label_values(&["unwatchable"]).inc();
            let reason = format!("the source cannot be watched ({error}); a person checks the input");
            give_up(context, record, change, envelope, reason).await
        }
    }
}

/// Send the event again, visible after `delay_secs`, and hand the incident
/// to the new message; the current one is then deleted.
async fn redeliver(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    message: &QueueMessage,
    delay_secs: u32,
) -> Result<RoundEnd, StepError> {
    let new_message_id = context.ports.queue.send(&message.body, delay_secs.min(MAX_DELAY_SECS)).await?;
    incident::hand_to_message(context, record, &new_message_id).await?;
    Ok(RoundEnd::Recorded)
}

/// Escalate with the evidence gathered afresh (the run, its logs, the
/// catalog), so the person sees what the watch saw.
async fn give_up(
    context: &PipelineContext,
    record: &mut IncidentRecord,
    change: &JobStateChange,
    envelope: &EventEnvelope,
    reason: String,
) -> Result<RoundEnd, StepError> {
    tracing::warn!(reason, "escalating a source wait");
    let gathered = gather(context, record, change, envelope).await?;
    let input = EscalationInput { request: Some(&gathered.request), decision: None, reason, approval: None };
    escalate_and_close(context, record, input).await?;
    Ok(RoundEnd::Recorded)
}

/// Seconds until the next look: the check interval, or the deadline if
/// that comes first (at least 1).
fn next_check_secs(context: &PipelineContext, now: DateTime<Utc>, deadline: DateTime<Utc>) -> u32 {
    let remaining = u32::try_from((deadline - now).num_seconds().max(1)).unwrap_or(MAX_DELAY_SECS);
    context.settings.incidents.source_check_secs.min(remaining).clamp(1, MAX_DELAY_SECS)
}

#[derive(Debug, Clone, PartialEq)]
struct Landed {
    uri: String,
    modified: DateTime<Utc>,
}

/// The newest object under the watched locations modified after
/// `watch.since`, if any.
async fn newest_landed(context: &PipelineContext, watch: &SourceWatch) -> Result<Option<Landed>, PortError> {
    let mut newest: Option<Landed> = None;
    for location in watch.locations.iter().filter_map(|text| S3Location::parse(text)) {
        let objects = context.ports.objects.list_objects(&location.bucket, &location.key, WATCH_LISTING_LIMIT).await?;
        for object in objects {
            let Some(modified) = object.last_modified else {
                continue;
            };
            if modified > watch.since && newest.as_ref().is_none_or(|seen| modified > seen.modified) {
                newest = Some(Landed { uri: format!("s3://{}/{}", location.bucket, object.key), modified });
            }
        }
    }
    Ok(newest)
}
