//! Every outside call timed once, at the port border: [`Ports::observed`]
//! wraps each adapter of a set in a decorator that reports the call's
//! [`Operation`], its wall-clock duration (the SDK's own retries included)
//! and whether it failed to a [`CallObserver`]. The daemon's application
//! installs one that feeds `etl_medic_aws_request_duration_seconds` and
//! `etl_medic_aws_errors_total`; no call site times anything itself.
//!
//! Each port method names the operation it stands for. A failure is
//! reported under the operation its error names, which is more precise when
//! one port call makes several (a quarantine move's DeleteObject, the
//! escalation webhook behind a fan-out notifier).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::core::evidence::TableVersion;
use crate::ports::{
    ApprovalInbox, ApprovalReplies, BudgetGrant, Catalog, CatalogTable, ClaimOutcome, DeleteOutcome, Escalation,
    FleetCounters, IncidentQueue, IncidentRecord, IncidentStore, JobControl, JobDefinition, JobRun, LogLimits,
    LogLines, Notifier, ObjectStore, ObjectSummary, Operation, PortError, Ports, QueueDepth, QueueMessage,
    ReceiptHandle, RollbackOutcome, RunClaim, RunHistory, RunLogs, SecretSource, SlackDelivery, StartRunRequest,
};

/// Told about every call: its operation, how long it took, whether it failed.
pub type CallObserverFn = dyn Fn(Operation, Duration, bool) + Send + Sync;

/// Where timed calls are reported.
#[derive(Clone)]
pub struct CallObserver {
    callback: Arc<CallObserverFn>,
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CallObserver")
    }
}

impl CallObserver {
    pub fn new(callback: Arc<CallObserverFn>) -> CallObserver {
        CallObserver { callback }
    }

    /// Await `call` and report it under `operation` (or, when it failed,
    /// under the operation its error names).
    async fn time<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let started = tokio::time::Instant::now();
        let result = call.await;
        let reported = result.as_ref().err().map_or(operation, PortError::operation);
        (self.callback)(reported, started.elapsed(), result.is_err());
        result
    }
}

impl Ports {
    /// The same adapters, each call reported to `observer`.
    pub fn observed(self, observer: &CallObserver) -> Ports {
        Ports {
            queue: Arc::new(Observed { inner: self.queue, observer: observer.clone() }),
            job_control: Arc::new(Observed { inner: self.job_control, observer: observer.clone() }),
            logs: Arc::new(Observed { inner: self.logs, observer: observer.clone() }),
            catalog: Arc::new(Observed { inner: self.catalog, observer: observer.clone() }),
            objects: Arc::new(Observed { inner: self.objects, observer: observer.clone() }),
            incidents: Arc::new(Observed { inner: self.incidents, observer: observer.clone() }),
            notifier: Arc::new(Observed { inner: self.notifier, observer: observer.clone() }),
            clock: self.clock,
        }
    }
}

/// One adapter and the observer its calls are reported to.
struct Observed<P: ?Sized> {
    inner: Arc<P>,
    observer: CallObserver,
}

#[async_trait]
impl IncidentQueue for Observed<dyn IncidentQueue> {
    async fn receive(&self, max_messages: u32, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        self.observer.time(Operation::ReceiveMessage, self.inner.receive(max_messages, wait)).await
    }
    async fn delete_batch(&self, handles: &[ReceiptHandle]) -> Result<Vec<DeleteOutcome>, PortError> {
        self.observer.time(Operation::DeleteMessageBatch, self.inner.delete_batch(handles)).await
    }
    async fn set_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        self.observer.time(Operation::ChangeMessageVisibility, self.inner.set_visibility(handle, visibility_secs)).await
    }
    async fn send(&self, body: &str, delay_secs: u32) -> Result<String, PortError> {
        self.observer.time(Operation::SendMessage, self.inner.send(body, delay_secs)).await
    }
    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.observer.time(Operation::GetQueueAttributes, self.inner.depth()).await
    }
    async fn dead_letter_depth(&self) -> Result<Option<QueueDepth>, PortError> {
        self.observer.time(Operation::GetQueueAttributes, self.inner.dead_letter_depth()).await
    }
    async fn extend_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        self.observer
            .time(Operation::ChangeMessageVisibility, self.inner.extend_visibility(handle, visibility_secs))
            .await
    }
    async fn release(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        self.observer.time(Operation::ChangeMessageVisibility, self.inner.release(handle)).await
    }
    async fn delay(&self, handle: &ReceiptHandle, delay_secs: u32) -> Result<(), PortError> {
        self.observer.time(Operation::ChangeMessageVisibility, self.inner.delay(handle, delay_secs)).await
    }
}

#[async_trait]
impl JobControl for Observed<dyn JobControl> {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        self.observer.time(Operation::GetJobRun, self.inner.get_job_run(job_name, run_id)).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.observer.time(Operation::GetJob, self.inner.get_job(job_name)).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        self.observer.time(Operation::GetJobRuns, self.inner.get_job_runs(job_name, max_runs)).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        self.observer.time(Operation::StartJobRun, self.inner.start_job_run(request)).await
    }
    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        self.observer.time(Operation::GetJobs, self.inner.list_jobs()).await
    }
    async fn job_runs_back_to(
        &self,
        job_name: &str,
        oldest: DateTime<Utc>,
        before: u32,
        max_runs: u32,
    ) -> Result<RunHistory, PortError> {
        let call = self.inner.job_runs_back_to(job_name, oldest, before, max_runs);
        self.observer.time(Operation::GetJobRuns, call).await
    }
}

#[async_trait]
impl RunLogs for Observed<dyn RunLogs> {
    async fn run_lines(&self, group: &str, run_id: &str, limits: LogLimits) -> Result<LogLines, PortError> {
        self.observer.time(Operation::GetLogEvents, self.inner.run_lines(group, run_id, limits)).await
    }
}

#[async_trait]
impl Catalog for Observed<dyn Catalog> {
    async fn get_table(&self, database: &str, table: &str) -> Result<CatalogTable, PortError> {
        self.observer.time(Operation::GetTable, self.inner.get_table(database, table)).await
    }
    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<TableVersion>, PortError> {
        self.observer
            .time(Operation::GetTableVersions, self.inner.get_table_versions(database, table, max_versions))
            .await
    }
    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<RollbackOutcome, PortError> {
        let call = self.inner.rollback_to_version(database, table, version_id, expected_current_version);
        self.observer.time(Operation::UpdateTable, call).await
    }
}

#[async_trait]
impl ObjectStore for Observed<dyn ObjectStore> {
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), PortError> {
        self.observer.time(Operation::PutObject, self.inner.put_object(bucket, key, body, content_type)).await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        self.observer.time(Operation::GetObject, self.inner.get_object(bucket, key)).await
    }
    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError> {
        self.observer.time(Operation::ListObjectsV2, self.inner.list_objects(bucket, prefix, max_keys)).await
    }
    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError> {
        self.observer.time(Operation::CopyObject, self.inner.move_object(bucket, from_key, to_key)).await
    }
}

#[async_trait]
impl IncidentStore for Observed<dyn IncidentStore> {
    async fn claim_run(&self, claim: &RunClaim) -> Result<ClaimOutcome, PortError> {
        self.observer.time(Operation::PutItem, self.inner.claim_run(claim)).await
    }
    async fn create_incident(&self, record: &IncidentRecord) -> Result<(), PortError> {
        self.observer.time(Operation::PutItem, self.inner.create_incident(record)).await
    }
    async fn get_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError> {
        self.observer.time(Operation::GetItem, self.inner.get_incident(incident_id)).await
    }
    async fn update_incident(&self, record: &IncidentRecord) -> Result<IncidentRecord, PortError> {
        self.observer.time(Operation::UpdateItem, self.inner.update_incident(record)).await
    }
    async fn link_run(&self, job_name: &str, run_id: &str, incident_id: &str) -> Result<(), PortError> {
        self.observer.time(Operation::PutItem, self.inner.link_run(job_name, run_id, incident_id)).await
    }
    async fn incident_for_run(&self, job_name: &str, run_id: &str) -> Result<Option<String>, PortError> {
        self.observer.time(Operation::GetItem, self.inner.incident_for_run(job_name, run_id)).await
    }
    async fn note_starting(&self, job_name: &str, incident_id: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        self.observer.time(Operation::PutItem, self.inner.note_starting(job_name, incident_id, at)).await
    }
    async fn clear_starting(&self, job_name: &str, incident_id: &str) -> Result<(), PortError> {
        self.observer.time(Operation::DeleteItem, self.inner.clear_starting(job_name, incident_id)).await
    }
    async fn starting_between(
        &self,
        job_name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        self.observer.time(Operation::Query, self.inner.starting_between(job_name, since, until)).await
    }
    async fn list_open_runs(&self, limit: u32) -> Result<Vec<IncidentRecord>, PortError> {
        self.observer.time(Operation::Scan, self.inner.list_open_runs(limit)).await
    }
    async fn consume_budget(
        &self,
        job_name: &str,
        window_secs: u64,
        limit: u32,
        at: DateTime<Utc>,
        step_token: &str,
    ) -> Result<BudgetGrant, PortError> {
        let call = self.inner.consume_budget(job_name, window_secs, limit, at, step_token);
        self.observer.time(Operation::UpdateItem, call).await
    }
    async fn budget_used(&self, job_name: &str, window_secs: u64, now: DateTime<Utc>) -> Result<u32, PortError> {
        self.observer.time(Operation::GetItem, self.inner.budget_used(job_name, window_secs, now)).await
    }
    async fn record_remediation_outcome(&self, success: bool, at: DateTime<Utc>) -> Result<(), PortError> {
        self.observer.time(Operation::PutItem, self.inner.record_remediation_outcome(success, at)).await
    }
    async fn fleet_counters(&self, window_secs: u64, now: DateTime<Utc>) -> Result<FleetCounters, PortError> {
        self.observer.time(Operation::Query, self.inner.fleet_counters(window_secs, now)).await
    }
}

#[async_trait]
impl Notifier for Observed<dyn Notifier> {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        self.observer.time(Operation::Publish, self.inner.publish(escalation)).await
    }
}

/// The Slack approval ports, each call reported to `observer` (they sit
/// outside [`Ports`]: only a daemon with `[approvals] queue_url` has them).
pub fn observed_approvals(
    inbox: Arc<dyn ApprovalInbox>,
    replies: Arc<dyn ApprovalReplies>,
    secrets: Arc<dyn SecretSource>,
    observer: &CallObserver,
) -> (Arc<dyn ApprovalInbox>, Arc<dyn ApprovalReplies>, Arc<dyn SecretSource>) {
    (
        Arc::new(Observed { inner: inbox, observer: observer.clone() }),
        Arc::new(Observed { inner: replies, observer: observer.clone() }),
        Arc::new(Observed { inner: secrets, observer: observer.clone() }),
    )
}

#[async_trait]
impl ApprovalInbox for Observed<dyn ApprovalInbox> {
    async fn receive(&self, wait: Duration) -> Result<Vec<SlackDelivery>, PortError> {
        self.observer.time(Operation::ReceiveMessage, self.inner.receive(wait)).await
    }
    async fn delete(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        self.observer.time(Operation::DeleteMessage, self.inner.delete(handle)).await
    }
}

#[async_trait]
impl ApprovalReplies for Observed<dyn ApprovalReplies> {
    async fn reply(&self, response_url: &str, text: &str) -> Result<(), PortError> {
        self.observer.time(Operation::WebhookPost, self.inner.reply(response_url, text)).await
    }
}

#[async_trait]
impl SecretSource for Observed<dyn SecretSource> {
    async fn secret_string(&self, id: &str) -> Result<String, PortError> {
        self.observer.time(Operation::GetSecretValue, self.inner.secret_string(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Failing;

    #[async_trait]
    impl Notifier for Failing {
        async fn publish(&self, _escalation: &Escalation) -> Result<(), PortError> {
            Err(PortError::transient(Operation::WebhookPost, "503"))
        }
    }

    #[tokio::test]
    async fn a_failure_is_reported_once_under_the_operation_its_error_names() {
        let seen: Arc<Mutex<Vec<(Operation, bool)>>> = Arc::default();
        let sink = seen.clone();
        let observer = CallObserver::new(Arc::new(move |operation, _elapsed, failed| {
            sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((operation, failed));
        }));
        let notifier = Observed::<dyn Notifier> { inner: Arc::new(Failing), observer };
        let escalation = Escalation { subject: "s".into(), packet: crate::ports::EvidencePacket::default() };
        assert!(notifier.publish(&escalation).await.is_err());
        assert_eq!(
            *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            vec![(Operation::WebhookPost, true)]
        );
    }
}
