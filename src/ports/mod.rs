//! Ports: one trait per external system the daemon talks to.
//!
//! Each port is held as `Arc<dyn Port>` and speaks only domain types; the AWS
//! adapters (SQS, Glue, CloudWatch Logs, S3, DynamoDB, SNS) convert SDK types
//! at their border and the in-memory adapters under `adapters::memory` are
//! real implementations the demo and the tests run on. Every fallible call
//! returns [`PortError`], whose variant tells the caller what to do next:
//! retry later (throttled, transient), give up on this item (not found,
//! rejected) or re-read and decide again (conflict).

pub mod approvals;
pub mod catalog;
pub mod clock;
pub mod incident_store;
pub mod job_control;
pub mod logs;
pub mod notifier;
pub mod object_store;
pub mod observed;
pub mod operation;
pub mod queue;

pub use approvals::{ApprovalInbox, ApprovalReplies, SecretSource, SlackDelivery};
pub use catalog::{Catalog, CatalogTable, RollbackOutcome};
pub use clock::{Clock, SystemClock};
pub use incident_store::{
    ActionStep, ApprovalDecision, BudgetGrant, ClaimOutcome, FleetCounters, IncidentRecord, IncidentState,
    IncidentStore, PendingApproval, RunClaim, SourceWatch,
};
pub use job_control::{JobControl, JobDefinition, JobRun, RUN_MARKER_ARGUMENT, RunHistory, StartRunRequest};
pub use logs::{LogLimits, LogLines, RunLogs};
pub use notifier::{ApprovalRequest, Escalation, EvidencePacket, Notifier};
pub use object_store::{ObjectStore, ObjectSummary};
pub use observed::CallObserver;
pub use operation::Operation;
pub use queue::{DeleteOutcome, IncidentQueue, QueueDepth, QueueMessage, ReceiptHandle};

use std::sync::Arc;

use thiserror::Error;

/// One adapter per port: what the daemon runs on. `adapters::wiring`
/// builds the AWS set and the in-memory set; tests may swap one adapter.
#[derive(Clone)]
pub struct Ports {
    pub queue: Arc<dyn IncidentQueue>,
    pub job_control: Arc<dyn JobControl>,
    pub logs: Arc<dyn RunLogs>,
    pub catalog: Arc<dyn Catalog>,
    pub objects: Arc<dyn ObjectStore>,
    pub incidents: Arc<dyn IncidentStore>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
}

/// Why a port call failed, in the terms a caller decides on.
///
/// `operation` is the outside call that failed (the AWS operation, or for
/// in-memory adapters the one they stand in for), from the closed set
/// [`Operation`]: it becomes the `operation` label of
/// `etl_medic_aws_errors_total`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The service asked us to slow down (SQS/Glue/DynamoDB throttling). Retryable after backoff.
    #[error("{operation} throttled: {message}")]
    Throttled { operation: Operation, message: String },
    /// Network trouble, a timeout or a 5xx. Retryable; the effect may or may not have happened.
    #[error("{operation} failed transiently: {message}")]
    Transient { operation: Operation, message: String },
    /// The named thing does not exist (job, run, table, version, object, receipt handle).
    #[error("{operation} found nothing: {message}")]
    NotFound { operation: Operation, message: String },
    /// A conditional write lost: someone else changed the item first (DynamoDB
    /// ConditionalCheckFailed, Glue ConcurrentModification, VersionId mismatch).
    /// Re-read and decide again; never blindly retry.
    #[error("{operation} conflict: {message}")]
    Conflict { operation: Operation, message: String },
    /// The request can never succeed as made (access denied, validation,
    /// concurrent-runs limit reached, message too large). Not retryable.
    #[error("{operation} rejected: {message}")]
    Rejected { operation: Operation, message: String },
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
    pub fn operation(&self) -> Operation {
        match self {
            PortError::Throttled { operation, .. }
            | PortError::Transient { operation, .. }
            | PortError::NotFound { operation, .. }
            | PortError::Conflict { operation, .. }
            | PortError::Rejected { operation, .. } => *operation,
        }
    }

    pub fn not_found(operation: Operation, message: impl Into<String>) -> PortError {
        PortError::NotFound { operation, message: message.into() }
    }

    pub fn conflict(operation: Operation, message: impl Into<String>) -> PortError {
        PortError::Conflict { operation, message: message.into() }
    }

    pub fn rejected(operation: Operation, message: impl Into<String>) -> PortError {
        PortError::Rejected { operation, message: message.into() }
    }

    pub fn transient(operation: Operation, message: impl Into<String>) -> PortError {
        PortError::Transient { operation, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttled_and_transient_errors_are_retryable() {
        assert!(PortError::Throttled { operation: Operation::GetJobRun, message: String::new() }.is_retryable());
        assert!(PortError::transient(Operation::GetJobRun, "reset").is_retryable());
        assert!(!PortError::conflict(Operation::PutItem, "lost").is_retryable());
        assert!(!PortError::not_found(Operation::GetTable, "gone").is_retryable());
        assert!(!PortError::rejected(Operation::StartJobRun, "denied").is_retryable());
        assert_eq!(PortError::conflict(Operation::PutItem, "lost").operation(), Operation::PutItem);
    }
}
