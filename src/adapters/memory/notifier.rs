//! An in-memory notifier that keeps every escalation it was asked to send.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::ports::{Escalation, Notifier, PortError};

#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Escalation>>,
}

impl MemoryNotifier {
    pub fn new() -> MemoryNotifier {
        MemoryNotifier::default()
    }

    pub fn published(&self) -> Vec<Escalation> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        lock(&self.published).push(escalation.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::EvidencePacket;

    #[tokio::test]
    async fn published_escalations_are_kept_in_order() {
        let notifier = MemoryNotifier::new();
        for job in ["a", "b"] {
            let packet = EvidencePacket {
                incident_id: format!("{job}/jr_1"),
                job_name: job.into(),
                run_id: "jr_1".into(),
                diagnosis: serde_json::json!({"class": "code_bug"}),
                log_excerpt: vec![],
                drift: None,
                tried: vec![],
                proposal: "escalate".into(),
                blocked_because: None,
                audit_prefix: "audit/".into(),
                approval: None,
            };
            notifier.publish(&Escalation { subject: format!("etl-medic: {job}"), packet }).await.unwrap();
        }
        let published = notifier.published();
        assert_eq!(
            published.iter().map(|escalation| escalation.packet.job_name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
