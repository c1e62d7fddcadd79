//! Everything one incident handler needs, assembled once and shared by every
//! handler of the pool: the ports, the settings, the policy, the metrics and
//! the audit log. Tests and the demo build it from in-memory adapters.

use std::future::Future;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::core::evidence::DecideRequest;
use crate::core::model::Action;
use crate::core::policy::Policy;
use crate::core::safety::SafetySettings;
use crate::daemon::settings::DaemonSettings;
use crate::metrics::Metrics;
use crate::ports::{
    Catalog, Clock, IncidentQueue, IncidentRecord, IncidentStore, JobControl, Notifier, ObjectStore, PortError, RunLogs,
};

/// One adapter per port.
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
    pub settings: DaemonSettings,
    pub safety: SafetySettings,
    pub policy: Policy,
    pub metrics: Metrics,
    pub audit: AuditLog,
    pub observer: Option<Arc<dyn IncidentObserver>>,
}

impl PipelineContext {
    /// Await one port call, recording its latency and failure under `operation`.
    pub async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let started = tokio::time::Instant::now();
        let result = call.await;
        self.metrics.observe_aws_call(operation, started.elapsed().as_secs_f64(), result.is_err());
        result
    }
}

impl PipelineContext {
    /// Assemble a context: declares the metrics on `registry` and sets up
    /// the audit log on the ports' object store.
    pub fn new(
        ports: Ports,
        settings: DaemonSettings,
        safety: SafetySettings,
        policy: Policy,
        registry: &prometheus::Registry,
        observer: Option<Arc<dyn IncidentObserver>>,
    ) -> Result<PipelineContext, prometheus::Error> {
        let metrics = Metrics::register(registry)?;
        metrics.set_policy_version(&policy.version());
        let audit = AuditLog::new(
            ports.objects.clone(),
            ports.clock.clone(),
            metrics.clone(),
            settings.audit.bucket.clone(),
            settings.audit.prefix.clone(),
            settings.audit.write_attempts,
            std::time::Duration::from_millis(settings.audit.retry_base_ms),
        );
        Ok(PipelineContext { ports, settings, safety, policy, metrics, audit, observer })
    }
}
