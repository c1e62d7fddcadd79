//! The audit trail: every stage of every incident as one JSON object in the
//! object store, under the key layout documented in `docs/audit-layout.md`.
//! A record that cannot be written after retries is an error the caller must
//! act on (the pipeline then keeps the queue message so the work is redone):
//! an audit record is never silently dropped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::metrics::Metrics;
use crate::ports::{Clock, ObjectStore, PortError};

/// Version tag of the record format, first field of every record.
pub const AUDIT_SCHEMA: &str = "etl-medic-audit/1";

/// Longest wait between two write attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The stages an incident's audit trail records, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The event as received and what it was taken to mean.
    Intake,
    /// The `decide` request exactly as `etl-medic decide` reads it.
    Request,
    /// The decision: diagnosis, state, Q-values, propensity, safety verdict, action, mode.
    Decision,
    /// The permit the safety layer issued (auto mode, mutating action).
    Permit,
    /// What the executor did (or, in shadow mode, would have done).
    Execution,
    /// The follow-up of a run we started: success, failure, or still running.
    Validation,
    /// The escalation packet sent to a person.
    Escalation,
    /// `approve` mode: the proposal waiting for a person, then who decided it, when and how.
    Approval,
    /// The incident's final state.
    Closed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Intake => "intake",
            Stage::Request => "request",
            Stage::Decision => "decision",
            Stage::Permit => "permit",
            Stage::Execution => "execution",
            Stage::Validation => "validation",
            Stage::Escalation => "escalation",
            Stage::Approval => "approval",
            Stage::Closed => "closed",
        }
    }
}

/// One audit object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub schema: &'static str,
    pub incident_id: String,
    pub job_name: String,
    /// The run whose failure opened the incident.
    pub failed_run_id: String,
    /// The run this stage is about (a later run of ours, for validations).
    pub run_id: String,
    pub stage: Stage,
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub body: serde_json::Value,
}

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("audit write of s3://{bucket}/{key} failed after {attempts} attempts: {source}")]
    WriteFailed { bucket: String, key: String, attempts: u32, source: PortError },
    #[error("audit record {key} could not be serialised: {source}")]
    Serialise { key: String, source: serde_json::Error },
}

/// Where an incident's records live and how hard to try writing them.
pub struct AuditLog {
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    bucket: String,
    prefix: String,
    write_attempts: u32,
    retry_base: Duration,
}

/// Object keys may hold anything but the separators this layout relies on.
fn key_segment(text: &str) -> String {
    text.chars().map(|character| if character == '/' || character.is_control() { '_' } else { character }).collect()
}

/// `{prefix}{yyyy}/{mm}/{dd}/{job}/{failed_run_id}/{seq:03}-{stage}.json`,
/// dated by the original failure so one incident's records sit together.
pub fn incident_key(
    prefix: &str,
    opened_at: DateTime<Utc>,
    job_name: &str,
    failed_run_id: &str,
    seq: u32,
    stage: Stage,
) -> String {
    format!(
        "{prefix}{:04}/{:02}/{:02}/{}/{}/{seq:03}-{}.json",
        opened_at.year(),
        opened_at.month(),
        opened_at.day(),
        key_segment(job_name),
        key_segment(failed_run_id),
        stage.as_str()
    )
}

/// The folder of one incident's records (ends with `/`).
pub fn incident_folder(prefix: &str, opened_at: DateTime<Utc>, job_name: &str, failed_run_id: &str) -> String {
    format!(
        "{prefix}{:04}/{:02}/{:02}/{}/{}/",
        opened_at.year(),
        opened_at.month(),
        opened_at.day(),
        key_segment(job_name),
        key_segment(failed_run_id)
    )
}

/// `{prefix}poison/{yyyy}/{mm}/{dd}/{message_id}-{receive_count}.json`.
pub fn poison_key(prefix: &str, at: DateTime<Utc>, message_id: &str, receive_count: u32) -> String {
    format!(
        "{prefix}poison/{:04}/{:02}/{:02}/{}-{receive_count}.json",
        at.year(),
        at.month(),
        at.day(),
        key_segment(message_id)
    )
}

impl AuditLog {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        bucket: String,
        prefix: String,
        write_attempts: u32,
        retry_base: Duration,
    ) -> AuditLog {
        AuditLog { store, clock, metrics, bucket, prefix, write_attempts: write_attempts.max(1), retry_base }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Write one stage of an incident; returns the key written.
    pub async fn write_stage(&self, opened_at: DateTime<Utc>, record: AuditRecord) -> Result<String, AuditError> {
        let key =
            incident_key(&self.prefix, opened_at, &record.job_name, &record.failed_run_id, record.seq, record.stage);
        let body =
            serde_json::to_vec_pretty(&record).map_err(|source| AuditError::Serialise { key: key.clone(), source })?;
        self.put_with_retries(&key, body).await?;
        Ok(key)
    }

    /// Record a poison message: its reason, receive count and body (bounded).
    pub async fn write_poison(
        &self,
        message_id: &str,
        receive_count: u32,
        reason: &str,
        detail: &str,
        body_excerpt: &str,
    ) -> Result<String, AuditError> {
        let at = self.clock.now();
        let key = poison_key(&self.prefix, at, message_id, receive_count);
        let record = serde_json::json!({
            "schema": AUDIT_SCHEMA,
            "stage": "poison",
            "message_id": message_id,
            "receive_count": receive_count,
            "reason": reason,
            "detail": detail,
            "at": at,
            "body_excerpt": body_excerpt,
        });
        let body =
            serde_json::to_vec_pretty(&record).map_err(|source| AuditError::Serialise { key: key.clone(), source })?;
        self.put_with_retries(&key, body).await?;
        Ok(key)
    }

    async fn put_with_retries(&self, key: &str, body: Vec<u8>) -> Result<(), AuditError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The store is the application's observed port: the call is timed at its border.
            let result = self.store.put_object(&self.bucket, key, body.clone(), "application/json").await;
            match result {
                Ok(()) => return Ok(()),
                Err(error) if error.is_retryable() && attempt < self.write_attempts => {
                    let backoff = self.retry_base.saturating_mul(1 << (attempt - 1).min(10)).min(MAX_BACKOFF);
                    tracing::warn!(key, attempt, error = %error, "audit write failed, retrying");
                    tokio::time::sleep(backoff).await;
                    crate::metrics::note_awaited(backoff.as_secs_f64());
                }
                Err(source) => {
                    self.metrics.audit_write_failures_total.inc();
                    return Err(AuditError::WriteFailed {
                        bucket: self.bucket.clone(),
                        key: key.to_string(),
                        attempts: attempt,
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryObjectStore};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap()
    }

    fn audit_log(store: Arc<MemoryObjectStore>, attempts: u32) -> (AuditLog, prometheus::Registry) {
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        let clock = Arc::new(ManualClock::starting_at(at("2026-11-29T02:05:00Z")));
        let log = AuditLog::new(
            store,
            clock,
            metrics,
            "audit-bucket".into(),
            "audit/".into(),
            attempts,
            Duration::from_millis(10),
        );
        (log, registry)
    }

    fn record(stage: Stage, seq: u32) -> AuditRecord {
        AuditRecord {
            schema: AUDIT_SCHEMA,
            incident_id: "orders/jr_1".into(),
            job_name: "orders".into(),
            failed_run_id: "jr_1".into(),
            run_id: "jr_1".into(),
            stage,
            seq,
            at: at("2026-11-29T02:05:00Z"),
            body: serde_json::json!({"x": 1}),
        }
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        let opened = at("2026-11-29T02:00:00Z");
        assert_eq!(
            incident_key("audit/", opened, "orders/daily", "jr_1", 7, Stage::Decision),
            "audit/2026/11/29/orders_daily/jr_1/007-decision.json"
        );
        assert_eq!(poison_key("audit/", opened, "m-1", 2), "audit/poison/2026/11/29/m-1-2.json");
        assert!(
            incident_key("audit/", opened, "orders", "jr_1", 0, Stage::Intake)
                .starts_with(&incident_folder("audit/", opened, "orders", "jr_1"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_the_record_parses() {
        let store = Arc::new(MemoryObjectStore::new());
        let (log, _registry) = audit_log(store.clone(), 3);
        store.fail_next_puts(2);
        let key = log.write_stage(at("2026-11-29T02:00:00Z"), record(Stage::Decision, 2)).await.unwrap();
        let stored: serde_json::Value =
            serde_json::from_slice(&store.get_object("audit-bucket", &key).await.unwrap()).unwrap();
        assert_eq!(stored["stage"], "decision");
        assert_eq!(stored["schema"], AUDIT_SCHEMA);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_keeps_failing_is_an_error_and_is_counted() {
        let store = Arc::new(MemoryObjectStore::new());
        let (log, registry) = audit_log(store.clone(), 2);
        store.fail_next_puts(5);
        let error = log.write_stage(at("2026-11-29T02:00:00Z"), record(Stage::Intake, 0)).await.unwrap_err();
        assert!(matches!(error, AuditError::WriteFailed { attempts: 2, .. }));
        assert!(crate::metrics::render(&registry).unwrap().contains("etl_medic_audit_write_failures_total 1"));
    }
}
