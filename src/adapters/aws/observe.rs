//! Timing of every AWS call for `etl_medic_aws_request_duration_seconds` and
//! `etl_medic_aws_errors_total`, without the adapters knowing the metrics
//! registry: the daemon hands in a callback when it builds the connection.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ports::PortError;

/// Called once per port-level AWS call with the operation name (a closed set
/// of `&'static str`), its wall-clock duration (SDK retries included) and
/// whether it failed.
pub type CallObserverFn = dyn Fn(&'static str, Duration, bool) + Send + Sync;

#[derive(Clone, Default)]
pub struct CallObserver {
    callback: Option<Arc<CallObserverFn>>,
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("CallObserver").field("installed", &self.callback.is_some()).finish()
    }
}

impl CallObserver {
    pub fn new(callback: Arc<CallObserverFn>) -> CallObserver {
        CallObserver { callback: Some(callback) }
    }

    /// Run `call` and report it. Expected outcomes that the adapter turns
    /// into `Ok` (a claim that was already taken) do not count as failures.
    pub(crate) async fn call<T, F>(&self, operation: &'static str, call: F) -> Result<T, PortError>
    where
        F: Future<Output = Result<T, PortError>>,
    {
        let started = Instant::now();
        let result = call.await;
        if let Some(callback) = &self.callback {
            callback(operation, started.elapsed(), result.is_err());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn every_call_is_reported_once_with_its_outcome() {
        let seen: Arc<Mutex<Vec<(&'static str, bool)>>> = Arc::default();
        let sink = seen.clone();
        let observer = CallObserver::new(Arc::new(move |operation, _elapsed, failed| {
            sink.lock().unwrap().push((operation, failed));
        }));
        let ok: Result<u32, PortError> = observer.call("GetJobRun", async { Ok(1) }).await;
        let failed: Result<u32, PortError> =
            observer.call("StartJobRun", async { Err(PortError::transient("StartJobRun", "reset")) }).await;
        assert_eq!(ok, Ok(1));
        assert!(failed.is_err());
        assert_eq!(*seen.lock().unwrap(), vec![("GetJobRun", false), ("StartJobRun", true)]);
    }
}
