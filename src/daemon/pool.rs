//! The worker pool: M concurrent handlers per process. A slot is acquired
//! before receiving, so the pool never holds a message it cannot start on;
//! each message being worked on has a visibility heartbeat; finished
//! messages are deleted in batches; on shutdown receiving stops, messages
//! not yet started go back at once, and running handlers are drained
//! within a bounded grace (an action is never cut off by the shutdown
//! itself, only by the grace running out).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::DELETE_FLUSH_SECS;
use crate::daemon::context::PipelineContext;
use crate::daemon::deleter::{DeleteRequests, spawn_deleter};
use crate::daemon::pipeline::{Disposition, handle_message};
use crate::ports::queue::MAX_BATCH;
use crate::ports::{PortError, QueueMessage};

/// Readiness as `/readyz` reports it.
#[derive(Debug, Default)]
pub struct Health {
    received_once: AtomicBool,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    /// Ready once a receive has succeeded, and until shutdown starts.
    pub fn is_ready(&self) -> bool {
        self.received_once.load(Ordering::SeqCst) && !self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn mark_receiving(&self) {
        self.received_once.store(true, Ordering::SeqCst);
    }

    pub fn mark_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// What a drain achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Handlers that finished within the grace.
    pub finished: usize,
    /// Handlers still running when the grace ran out (their messages come back).
    pub abandoned: usize,
}

pub struct WorkerPool {
    context: Arc<PipelineContext>,
    health: Arc<Health>,
    slots: Arc<Semaphore>,
    handlers: JoinSet<()>,
    deletes: DeleteRequests,
    deleter: JoinHandle<()>,
}

impl WorkerPool {
    pub fn new(context: Arc<PipelineContext>, health: Arc<Health>) -> WorkerPool {
        let concurrency = context.settings.queue.concurrency.max(1);
        context.metrics.worker_slots.set(i64::try_from(concurrency).unwrap_or(i64::MAX));
        let (deletes, deleter) = spawn_deleter(context.ports.queue.clone(), context.metrics.clone());
        WorkerPool {
            context,
            health,
            slots: Arc::new(Semaphore::new(concurrency)),
            handlers: JoinSet::new(),
            deletes,
            deleter,
        }
    }

    /// Wait for a free slot, receive at most as many messages as there are
    /// free slots (and at most 10), and start a handler for each. Returns how
    /// many handlers were started; 0 when the long poll found nothing or the
    /// shutdown came first.
    pub async fn run_once(&mut self, shutdown: &CancellationToken) -> Result<usize, PortError> {
        while self.handlers.try_join_next().is_some() {}
        let first_slot = tokio::select! {
            () = shutdown.cancelled() => return Ok(0),
            slot = self.slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed while the pool exists.
                Err(_closed) => return Ok(0),
            },
        };
        let mut slots = vec![first_slot];
        while slots.len() < MAX_BATCH as usize {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slots.push(slot),
                Err(_) => break,
            }
        }
        let queue_settings = &self.context.settings.queue;
        let wait = Duration::from_secs(queue_settings.wait_time_secs.min(20));
        let max_messages = u32::try_from(slots.len()).unwrap_or(MAX_BATCH);
        let received = self.context.ports.queue.receive(max_messages, wait).await?;
        self.health.mark_receiving();
        if received.is_empty() {
            self.context.metrics.receive_empty_total.inc();
            return Ok(0);
        }
        debug_assert!(received.len() <= slots.len(), "the queue returned more messages than asked for");
        self.context.metrics.messages_received_total.inc_by(received.len() as u64);
        let mut started = 0;
        for message in received {
            if shutdown.is_cancelled() {
                self.release(&message).await;
                continue;
            }
            let Some(slot) = slots.pop() else {
                self.release(&message).await;
                continue;
            };
            self.spawn_handler(message, slot);
            started += 1;
        }
        Ok(started)
    }

    /// Give an unstarted message back to the queue at once.
    async fn release(&self, message: &QueueMessage) {
        let released = self.context.ports.queue.release(&message.handle).await;
        if let Err(error) = released {
            tracing::warn!(error = %error, message_id = %message.message_id, "could not release an unstarted message; it returns after its visibility timeout");
        }
    }

    fn spawn_handler(&mut self, message: QueueMessage, slot: OwnedSemaphorePermit) {
        let context = self.context.clone();
        let deletes = self.deletes.clone();
        self.handlers.spawn(async move {
            context.metrics.in_flight_incidents.inc();
            let heartbeat_stop = CancellationToken::new();
            let heartbeat = tokio::spawn(heartbeat(context.clone(), message.clone(), heartbeat_stop.clone()));
            let disposition =
                crate::metrics::measure_own_work(&context.metrics.own_work_seconds, handle_message(&context, &message))
                    .await;
            heartbeat_stop.cancel();
            if let Err(error) = heartbeat.await {
                tracing::warn!(error = %error, "heartbeat task ended abnormally");
            }
            settle_message(&context, &deletes, &message, disposition).await;
            context.metrics.in_flight_incidents.dec();
            drop(slot);
        });
    }

    /// Receive and work until `shutdown`, then drain within the configured
    /// grace, counted from the moment `shutdown` fired.
    ///
    /// `/readyz` turns 503 the moment `shutdown` fires, and no new receive
    /// starts. A long poll already under way is not aborted: SQS may already
    /// have handed its messages to the dropped request, and they would stay
    /// invisible for a whole visibility timeout. It ends within
    /// `queue.wait_time_secs` (at most 20 s, well inside the grace) and its
    /// messages go straight back to the queue unstarted.
    pub async fn run(mut self, shutdown: CancellationToken) -> DrainReport {
        let grace = Duration::from_secs(self.context.settings.shutdown.shutdown_grace_secs);
        let stop_clock = {
            let health = self.health.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                health.mark_shutting_down();
                tokio::time::Instant::now()
            })
        };
        let mut consecutive_failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.run_once(&shutdown).await {
                Ok(_) => consecutive_failures = 0,
                Err(error) => {
                    consecutive_failures = consecutive_failures.saturating_add(1);
                    let backoff =
                        Duration::from_millis(200_u64 << consecutive_failures.min(7)).min(Duration::from_secs(20));
                    tracing::warn!(error = %error, backoff_ms = backoff.as_millis() as u64, "receive failed");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        self.health.mark_shutting_down();
        let asked_at = stop_clock.await.unwrap_or_else(|_| tokio::time::Instant::now());
        self.drain_until(asked_at + grace).await
    }

    /// Wait for running handlers up to `grace`, then flush pending deletes.
    pub async fn drain(self, grace: Duration) -> DrainReport {
        self.drain_until(tokio::time::Instant::now() + grace).await
    }

    /// Wait for running handlers until `deadline`, then flush pending
    /// deletes for at most [`DELETE_FLUSH_SECS`].
    async fn drain_until(mut self, deadline: tokio::time::Instant) -> DrainReport {
        self.health.mark_shutting_down();
        let mut finished = 0;
        loop {
            match tokio::time::timeout_at(deadline, self.handlers.join_next()).await {
                Ok(Some(_)) => finished += 1,
                Ok(None) => break,
                Err(_elapsed) => break,
            }
        }
        let abandoned = self.handlers.len();
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "shutdown grace ran out; unfinished messages come back after their visibility timeout"
            );
            self.handlers.abort_all();
        }
        let WorkerPool { deletes, deleter, .. } = self;
        drop(deletes);
        if tokio::time::timeout(Duration::from_secs(DELETE_FLUSH_SECS), deleter).await.is_err() {
            tracing::warn!("pending deletes not flushed in time; those messages come back and are found done");
        }
        DrainReport { finished, abandoned }
    }
}

async fn settle_message(
    context: &PipelineContext,
    deletes: &DeleteRequests,
    message: &QueueMessage,
    disposition: Disposition,
) {
    match disposition {
        Disposition::Delete => deletes.delete(message.handle.clone()),
        Disposition::Keep => {}
        Disposition::ReturnAfterSecs(secs) => {
            let delayed = context.ports.queue.delay(&message.handle, secs).await;
            if let Err(error) = delayed {
                tracing::warn!(error = %error, secs, "could not set the message's return time; it returns after its visibility timeout");
            }
        }
    }
}

/// Keep a message invisible while it is worked on.
async fn heartbeat(context: Arc<PipelineContext>, message: QueueMessage, stop: CancellationToken) {
    let settings = &context.settings.queue;
    let period = Duration::from_secs(settings.heartbeat_secs.max(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let extended = context.ports.queue.extend_visibility(&message.handle, settings.visibility_timeout_secs).await;
        match extended {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {
                tracing::warn!(message_id = %message.message_id, "message no longer ours; heartbeat stops");
                return;
            }
            Err(error) => tracing::warn!(error = %error, "heartbeat failed; will try again"),
        }
    }
}
