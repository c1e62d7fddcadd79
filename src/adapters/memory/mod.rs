//! In-memory adapters for every port. They follow the ports' contracts
//! (conditional writes, visibility timeouts, redrive to a DLQ) closely enough
//! that the worker pool behaves on them as it does on AWS; each has tests of
//! its own. Time comes from `tokio::time` (queue visibility, so tests can
//! pause it) or from an injected `Clock` (timestamps).

pub mod approvals;
pub mod catalog;
pub mod clock;
pub mod incident_store;
pub mod job_control;
pub mod logs;
pub mod notifier;
pub mod object_store;
pub mod queue;

pub use approvals::{MemoryApprovalInbox, MemoryApprovalReplies, MemorySecrets};
pub use catalog::MemoryCatalog;
pub use clock::ManualClock;
pub use incident_store::MemoryIncidentStore;
pub use job_control::MemoryJobControl;
pub use logs::MemoryLogs;
pub use notifier::MemoryNotifier;
pub use object_store::MemoryObjectStore;
pub use queue::MemoryQueue;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Lock a mutex, recovering from poisoning. Every critical section in these
/// adapters leaves its data consistent before any call that could panic, so
/// the data behind a poisoned lock is still valid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
