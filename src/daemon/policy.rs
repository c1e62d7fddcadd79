//! The policy the daemon decides with, and its promotion while it runs:
//! every `[policy] reload_interval_secs` the daemon re-reads `[policy]
//! path` (a file, or `s3://bucket/key` through the object store port); a
//! new version that parses and validates is swapped in atomically between
//! decisions, one that does not is refused and the running policy is kept,
//! with a log line and `etl_medic_policy_load_errors_total`. A decision
//! holds the policy it started with to its end.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::core::policy::Policy;
use crate::daemon::context::PipelineContext;
use crate::policy_source::{LoadedPolicy, PolicyLocation};

/// The policy in use, shared by every handler.
pub struct PolicyHandle {
    current: RwLock<Arc<Policy>>,
    /// The bytes the current policy was read from, to notice a change.
    bytes: RwLock<Vec<u8>>,
}

impl PolicyHandle {
    pub fn new(policy: Policy) -> PolicyHandle {
        PolicyHandle { current: RwLock::new(Arc::new(policy)), bytes: RwLock::new(Vec::new()) }
    }

    /// The policy to decide with now; a swap later does not affect it.
    pub fn current(&self) -> Arc<Policy> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn changed(&self, bytes: &[u8]) -> bool {
        *self.bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner) != bytes
    }

    fn swap(&self, loaded: LoadedPolicy) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded.policy);
        *self.bytes.write().unwrap_or_else(std::sync::PoisonError::into_inner) = loaded.bytes;
    }

    /// Remember the bytes of the policy the daemon started with, so the
    /// first look does not count it as new.
    pub fn started_from(&self, bytes: Vec<u8>) {
        *self.bytes.write().unwrap_or_else(std::sync::PoisonError::into_inner) = bytes;
    }
}

/// What one look at the policy's location found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The same bytes as the policy in use.
    Unchanged,
    /// A new version is in use from now on.
    Swapped { version: String },
    /// The location could not be read or held no valid policy; the running one is kept.
    Refused { reason: String },
}

/// Look once at `[policy] path` and swap in a new valid policy.
pub async fn reload_once(context: &PipelineContext) -> Reload {
    let location = PolicyLocation::parse(&context.settings.policy.path);
    if !location.is_reloadable() {
        return Reload::Unchanged;
    }
    match location.load(context.ports.objects.as_ref()).await {
        Ok(loaded) if !context.policy.changed(&loaded.bytes) => Reload::Unchanged,
        Ok(loaded) => {
            let version = loaded.policy.version();
            tracing::info!(version, origin = %loaded.origin, "new policy in use");
            context.metrics.set_policy_version(&version);
            context.policy.swap(loaded);
            Reload::Swapped { version }
        }
        Err(error) => {
            let running = context.policy.current().version();
            tracing::warn!(error = %error, running, "new policy refused; the running policy is kept");
            context.metrics.policy_load_errors_total.inc();
            Reload::Refused { reason: error.to_string() }
        }
    }
}

/// Re-read the policy every `[policy] reload_interval_secs` until `shutdown`.
pub async fn run_reloader(context: Arc<PipelineContext>, shutdown: CancellationToken) {
    if !PolicyLocation::parse(&context.settings.policy.path).is_reloadable() {
        return;
    }
    let period = Duration::from_secs(context.settings.policy.reload_interval_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                reload_once(&context).await;
            }
        }
    }
}
