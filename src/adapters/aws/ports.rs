//! The daemon's ports wired to AWS: one adapter per port, built from one
//! `AwsConnection` and the resource names of the daemon's settings
//! (`[queue] url`, `dead_letter_url`, `[incidents] table`,
//! `[escalation] sns_topic_arn`). Log groups, the audit bucket and job
//! settings are read by the pipeline itself.

use std::sync::Arc;

use async_trait::async_trait;

use crate::adapters::aws::{
    AwsConnection, CloudWatchRunLogs, DynamoIncidentStore, GlueCatalog, GlueJobControl, S3ObjectStore, SnsNotifier,
    SqsIncidentQueue,
};
use crate::daemon::context::Ports;
use crate::daemon::settings::DaemonSettings;
use crate::ports::{Escalation, Notifier, PortError, SystemClock};

/// Every port on AWS, with the host's clock.
pub fn aws_ports(connection: &AwsConnection, settings: &DaemonSettings) -> Ports {
    let notifier: Arc<dyn Notifier> = match settings.escalation.sns_topic_arn.as_deref().filter(|arn| !arn.is_empty()) {
        Some(topic_arn) => Arc::new(SnsNotifier::new(connection, topic_arn)),
        None => Arc::new(NoEscalationTopic),
    };
    Ports {
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
    }
}

/// Without `[escalation] sns_topic_arn` an escalation cannot reach anyone:
/// say so on every publish instead of pretending it was delivered.
struct NoEscalationTopic;

#[async_trait]
impl Notifier for NoEscalationTopic {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        Err(PortError::rejected(
            "Publish",
            format!(
                "no [escalation] sns_topic_arn configured; escalation of {} not delivered",
                escalation.packet.incident_id
            ),
        ))
    }
}
