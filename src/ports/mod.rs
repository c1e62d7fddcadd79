//! Ports: one trait per external system the daemon talks to.
//!
//! Each port is held as `Arc<dyn Port>` and speaks only domain types; the AWS
//! adapters (SQS, Glue, CloudWatch Logs, S3, DynamoDB, SNS) convert SDK types
//! at their border and the in-memory adapters under `adapters::memory` are
//! real implementations the demo and the tests run on. Every fallible call
//! returns [`PortError`], whose variant tells the caller what to do next:
//! retry later (throttled, transient), give up on this item (not found,
//! rejected) or re-read and decide again (conflict).

pub mod catalog;
pub mod clock;
pub mod incident_store;
pub mod job_control;
pub mod logs;
pub mod notifier;
pub mod object_store;
pub mod queue;

pub use catalog::{Catalog, CatalogTable, RollbackOutcome};
pub use clock::{Clock, SystemClock};
pub use incident_store::{
    BudgetGrant, ClaimOutcome, FleetCounters, IncidentRecord, IncidentState, IncidentStore, RunClaim,
};
pub use job_control::{JobControl, JobDefinition, JobRun, StartRunRequest};
pub use logs::{LogLimits, LogLines, RunLogs};
pub use notifier::{Escalation, EvidencePacket, Notifier};
pub use object_store::{ObjectStore, ObjectSummary};
pub use queue::{DeleteOutcome, IncidentQueue, QueueDepth, QueueMessage, ReceiptHandle};

use thiserror::Error;

/// Why a port call failed, in the terms a caller decides on.
///
/// `operation` is the AWS operation name (`GetJobRun`, `ReceiveMessage`, ...)
/// or, for in-memory adapters, the operation they stand in for; it is the
/// `operation` label of `etl_medic_aws_errors_total`, so it must come from a
/// closed set of `&'static str`, never from data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The service asked us to slow down (SQS/Glue/DynamoDB throttling). Retryable after backoff.
    #[error("{operation} throttled: {message}")]
    Throttled { operation: &'static str, message: String },
    /// Network trouble, a timeout or a 5xx. Retryable; the effect may or may not have happened.
    #[error("{operation} failed transiently: {message}")]
    Transient { operation: &'static str, message: String },
    /// The named thing does not exist (job, run, table, version, object, receipt handle).
    #[error("{operation} found nothing: {message}")]
    NotFound { operation: &'static str, message: String },
    /// A conditional write lost: someone else changed the item first (DynamoDB
    /// ConditionalCheckFailed, Glue ConcurrentModification, VersionId mismatch).
    /// Re-read and decide again; never blindly retry.
    #[error("{operation} conflict: {message}")]
    Conflict { operation: &'static str, message: String },
    /// The request can never succeed as made (access denied, validation,
    /// concurrent-runs limit reached, message too large). Not retryable.
    #[error("{operation} rejected: {message}")]
    Rejected { operation: &'static str, message: String },
}

impl PortError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PortError::Throttled { .. } | PortError::Transient { .. })
    }

    pub fn is_throttled(&self) -> bool {
        matches!(self, PortError::Throttled { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, PortError::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, PortError::Conflict { .. })
    }

    /// The operation that failed, for the `operation` metric label.
    pub fn operation(&self) -> &'static str {
        match self {
            PortError::Throttled { operation, .. }
            | PortError::Transient { operation, .. }
            | PortError::NotFound { operation, .. }
            | PortError::Conflict { operation, .. }
            | PortError::Rejected { operation, .. } => operation,
        }
    }

    pub fn not_found(operation: &'static str, message: impl Into<String>) -> PortError {
        PortError::NotFound { operation, message: message.into() }
    }

    pub fn conflict(operation: &'static str, message: impl Into<String>) -> PortError {
        PortError::Conflict { operation, message: message.into() }
    }

    pub fn rejected(operation: &'static str, message: impl Into<String>) -> PortError {
        PortError::Rejected { operation, message: message.into() }
    }

    pub fn transient(operation: &'static str, message: impl Into<String>) -> PortError {
        PortError::Transient { operation, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttled_and_transient_errors_are_retryable() {
        assert!(PortError::Throttled { operation: "GetJobRun", message: String::new() }.is_retryable());
        assert!(PortError::transient("GetJobRun", "reset").is_retryable());
        assert!(!PortError::conflict("PutItem", "lost").is_retryable());
        assert!(!PortError::not_found("GetTable", "gone").is_retryable());
        assert!(!PortError::rejected("StartJobRun", "denied").is_retryable());
        assert_eq!(PortError::conflict("PutItem", "lost").operation(), "PutItem");
    }
}
