//! The one place a set of adapters is assembled into [`Ports`]: every port
//! on AWS for `etl-medic run` (escalations to SNS, and to the webhook when
//! one is configured), or every port in memory for the demo and the tests.
//! The application (`daemon::app`) then times every call of whichever set
//! it is given at the port border (`Ports::observed`).
//!
//! Adding a port means: its trait in `ports`, an AWS and an in-memory
//! adapter, a line in each set below, and its methods in `ports::observed`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::adapters::aws::{
    AwsConnection, CloudWatchRunLogs, DynamoIncidentStore, GlueCatalog, GlueJobControl, S3ObjectStore, SnsNotifier,
    SqsIncidentQueue,
};
use crate::adapters::fan_out::escalation_notifier;
use crate::adapters::memory::{
    MemoryCatalog, MemoryIncidentStore, MemoryJobControl, MemoryLogs, MemoryNotifier, MemoryObjectStore, MemoryQueue,
};
use crate::adapters::webhook::{WebhookError, WebhookTimeouts};
use crate::config::Settings;
use crate::ports::{Clock, Escalation, Notifier, Operation, PortError, Ports, SystemClock};

/// Every port on AWS, with the host's clock. Fails only when the escalation
/// webhook cannot be set up (no TLS roots for an `https://` URL).
pub fn aws_ports(connection: &AwsConnection, settings: &Settings) -> Result<Ports, WebhookError> {
    let sns: Arc<dyn Notifier> = match settings.escalation.sns_topic_arn.as_deref().filter(|arn| !arn.is_empty()) {
        Some(topic_arn) => Arc::new(SnsNotifier::new(connection, topic_arn)),
        None => Arc::new(NoEscalationTopic),
    };
    let notifier = escalation_notifier(sns, &settings.escalation, WebhookTimeouts::default())?;
    Ok(Ports {
        queue: Arc::new(SqsIncidentQueue::new(
            connection,
            &settings.queue.url,
            settings.queue.dead_letter_url.as_deref(),
        )),
        job_control: Arc::new(GlueJobControl::new(connection)),
        logs: Arc::new(CloudWatchRunLogs::new(connection)),
        catalog: Arc::new(GlueCatalog::new(connection)),
        objects: Arc::new(S3ObjectStore::new(connection)),
        incidents: Arc::new(DynamoIncidentStore::new(connection, &settings.incidents.table)),
        notifier,
        clock: Arc::new(SystemClock),
    })
}

/// What `etl-medic backtest` reads, on AWS: Glue jobs and catalog, CloudWatch
/// Logs, S3 listings. The ports it never calls (the queue, the incident
/// store, escalations) are in-memory ones here, so no AWS call to SQS,
/// DynamoDB or SNS can come from a backtest at all.
pub fn aws_backtest_ports(connection: &AwsConnection) -> Ports {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ports {
        queue: Arc::new(MemoryQueue::new(Duration::from_secs(30), MEMORY_MAX_RECEIVE_COUNT)),
        job_control: Arc::new(GlueJobControl::new(connection)),
        logs: Arc::new(CloudWatchRunLogs::new(connection)),
        catalog: Arc::new(GlueCatalog::new(connection)),
        objects: Arc::new(S3ObjectStore::new(connection)),
        incidents: Arc::new(MemoryIncidentStore::new()),
        notifier: Arc::new(MemoryNotifier::new()),
        clock,
    }
}

/// Without `[escalation] sns_topic_arn` an escalation cannot reach anyone:
/// say so on every publish instead of pretending it was delivered.
struct NoEscalationTopic;

#[async_trait]
impl Notifier for NoEscalationTopic {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        Err(PortError::rejected(
            Operation::Publish,
            format!(
                "no [escalation] sns_topic_arn configured; escalation of {} not delivered",
                escalation.packet.incident_id
            ),
        ))
    }
}

/// Receives before the in-memory queue moves a message to its DLQ.
pub const MEMORY_MAX_RECEIVE_COUNT: u32 = 5;

/// Every port in memory. Each adapter stays reachable by its concrete type,
/// so a caller can seed the estate and inspect the effects.
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
