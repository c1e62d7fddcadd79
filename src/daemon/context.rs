//! Everything one incident handler needs, assembled once by the
//! application (`daemon::app`) and shared by every handler of the pool: the
//! ports (every call already timed at their border), the settings, the
//! policy, the metrics and the audit log.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::core::evidence::DecideRequest;
use crate::core::model::Action;
use crate::daemon::policy::PolicyHandle;
use crate::metrics::Metrics;
use crate::ports::{IncidentRecord, Ports};

/// Told about every action carried out and every incident closed. The demo
/// uses it to drive its simulated estate; the daemon runs without one.
pub trait IncidentObserver: Send + Sync {
    /// A decision was carried out (or recorded, in shadow mode). `started_run_id`
    /// is the run started for it, if any.
    fn action_taken(
        &self,
        incident: &IncidentRecord,
        request: &DecideRequest,
        action: &Action,
        started_run_id: Option<&str>,
    );

    /// The incident reached a closed state; `outcome` is its incidents_total label.
    fn incident_closed(&self, incident: &IncidentRecord, outcome: &'static str);
}

/// The shared context of the pool.
pub struct PipelineContext {
    pub ports: Ports,
    pub settings: Settings,
    /// The policy in use; swapped between decisions when a new one is promoted.
    pub policy: PolicyHandle,
    pub metrics: Metrics,
    pub audit: AuditLog,
    pub observer: Option<Arc<dyn IncidentObserver>>,
}
