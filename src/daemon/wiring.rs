//! The daemon wired to in-memory adapters: what the demo and the daemon
//! tests run on. Every adapter stays reachable by its concrete type, so a
//! caller can seed the estate and inspect the effects.

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::memory::{
    MemoryCatalog, MemoryIncidentStore, MemoryJobControl, MemoryLogs, MemoryNotifier, MemoryObjectStore, MemoryQueue,
};
use crate::daemon::context::Ports;
use crate::ports::Clock;

/// Receives before the in-memory queue moves a message to its DLQ.
pub const MEMORY_MAX_RECEIVE_COUNT: u32 = 5;

pub struct InMemoryEstate {
    pub queue: Arc<MemoryQueue>,
    pub job_control: Arc<MemoryJobControl>,
    pub logs: Arc<MemoryLogs>,
    pub catalog: Arc<MemoryCatalog>,
    pub objects: Arc<MemoryObjectStore>,
    pub incidents: Arc<MemoryIncidentStore>,
    pub notifier: Arc<MemoryNotifier>,
    pub clock: Arc<dyn Clock>,
}

impl InMemoryEstate {
    /// An empty estate on `clock`, with a queue whose visibility timeout is
    /// `visibility_timeout` and whose delays run `delay_speedup` times faster.
    pub fn new(clock: Arc<dyn Clock>, visibility_timeout: Duration, delay_speedup: f64) -> InMemoryEstate {
        InMemoryEstate {
            queue: Arc::new(
                MemoryQueue::new(visibility_timeout, MEMORY_MAX_RECEIVE_COUNT).with_delay_speedup(delay_speedup),
            ),
            job_control: Arc::new(MemoryJobControl::new(clock.clone())),
            logs: Arc::new(MemoryLogs::new()),
            catalog: Arc::new(MemoryCatalog::new()),
            objects: Arc::new(MemoryObjectStore::with_clock(clock.clone())),
            incidents: Arc::new(MemoryIncidentStore::new()),
            notifier: Arc::new(MemoryNotifier::new()),
            clock,
        }
    }

    pub fn ports(&self) -> Ports {
        Ports {
            queue: self.queue.clone(),
            job_control: self.job_control.clone(),
            logs: self.logs.clone(),
            catalog: self.catalog.clone(),
            objects: self.objects.clone(),
            incidents: self.incidents.clone(),
            notifier: self.notifier.clone(),
            clock: self.clock.clone(),
        }
    }
}
