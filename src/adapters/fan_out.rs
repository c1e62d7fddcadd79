//! One escalation, every channel: SNS and, when `[escalation] webhook_url`
//! is set, the Slack-compatible webhook.
//!
//! The notifier contract is "delivered at least once to every configured
//! channel, or an error; safe to call again". So every channel is tried
//! (a person hears through whichever works, even when another is down),
//! and any failure is returned, naming the channels that did deliver. A
//! retryable failure wins over a permanent one: the escalation step is
//! retried, SNS subscribers may then get the escalation twice and
//! deduplicate on `incident_id`, which is the price of never losing the
//! webhook copy to a blip. A channel that keeps refusing (a revoked hook's
//! 404) fails the escalation permanently, loudly, as a misconfiguration
//! must. Channels are tried one after another, SNS first: the two bounded
//! calls fit well inside one visibility extension.

use std::sync::Arc;

use async_trait::async_trait;

use crate::adapters::webhook::{WebhookError, WebhookNotifier, WebhookTimeouts, WebhookUrl};
use crate::config::EscalationSettings;
use crate::ports::{Escalation, Notifier, PortError};

/// A notifier that publishes to each of its channels in order.
pub struct FanOutNotifier {
    channels: Vec<(&'static str, Arc<dyn Notifier>)>,
}

impl FanOutNotifier {
    /// `channels`: a short name for messages (`sns`, `webhook`) and the notifier.
    pub fn new(channels: Vec<(&'static str, Arc<dyn Notifier>)>) -> FanOutNotifier {
        debug_assert!(!channels.is_empty(), "a fan-out without channels delivers nothing");
        FanOutNotifier { channels }
    }
}

#[async_trait]
impl Notifier for FanOutNotifier {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        let mut delivered: Vec<&'static str> = Vec::new();
        let mut failures: Vec<(&'static str, PortError)> = Vec::new();
        for (name, channel) in &self.channels {
            match channel.publish(escalation).await {
                Ok(()) => delivered.push(name),
                Err(error) => failures.push((name, error)),
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        let chosen = failures.iter().position(|(_, error)| error.is_retryable()).unwrap_or(0);
        let summary = failures
            .iter()
            .map(|(name, error)| format!("{name}: {error}"))
            .chain((!delivered.is_empty()).then(|| format!("delivered to {}", delivered.join(", "))))
            .collect::<Vec<_>>()
            .join("; ");
        Err(with_message(&failures[chosen].1, summary))
    }
}

/// The escalation notifier of a daemon whose SNS notifier is `sns`: SNS
/// alone, or SNS and the webhook when `settings.webhook_url` is set and not
/// blank (deploy templates pass an empty string for "none").
pub fn escalation_notifier(
    sns: Arc<dyn Notifier>,
    settings: &EscalationSettings,
    timeouts: WebhookTimeouts,
) -> Result<Arc<dyn Notifier>, WebhookError> {
    let Some(url) = settings.webhook() else {
        return Ok(sns);
    };
    let webhook = WebhookNotifier::new(WebhookUrl::parse(url)?, timeouts)?;
    Ok(Arc::new(FanOutNotifier::new(vec![("sns", sns), ("webhook", Arc::new(webhook))])))
}

/// `error` with the same variant and operation, so the caller's decision
/// (retry or not) and the metric label follow the chosen failure.
fn with_message(error: &PortError, message: String) -> PortError {
    let operation = error.operation();
    match error {
        PortError::Throttled { .. } => PortError::Throttled { operation, message },
        PortError::Transient { .. } => PortError::Transient { operation, message },
        PortError::NotFound { .. } => PortError::NotFound { operation, message },
        PortError::Conflict { .. } => PortError::Conflict { operation, message },
        PortError::Rejected { .. } => PortError::Rejected { operation, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryNotifier;
    use crate::ports::EvidencePacket;
    use crate::ports::Operation;

    struct Failing(PortError);

    #[async_trait]
    impl Notifier for Failing {
        async fn publish(&self, _escalation: &Escalation) -> Result<(), PortError> {
            Err(self.0.clone())
        }
    }

    fn escalation() -> Escalation {
        let packet = EvidencePacket {
            incident_id: "j/jr_1".into(),
            job_name: "j".into(),
            run_id: "jr_1".into(),
            diagnosis: serde_json::json!({"class": "unknown"}),
            log_excerpt: vec![],
            drift: None,
            tried: vec![],
            proposal: "escalate".into(),
            blocked_because: None,
            audit_prefix: "audit/j/jr_1/".into(),
            approval: None,
        };
        Escalation { subject: "etl-medic: j".into(), packet }
    }

    #[tokio::test]
    async fn a_retryable_failure_wins_and_every_channel_is_still_tried() {
        let sns = Arc::new(MemoryNotifier::new());
        let fan_out = FanOutNotifier::new(vec![
            ("webhook-a", Arc::new(Failing(PortError::rejected(Operation::WebhookPost, "404")))),
            ("sns", sns.clone()),
            ("webhook-b", Arc::new(Failing(PortError::transient(Operation::WebhookPost, "503")))),
        ]);
        let error = fan_out.publish(&escalation()).await.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert_eq!(error.operation(), Operation::WebhookPost);
        assert!(error.to_string().contains("webhook-a") && error.to_string().contains("delivered to sns"), "{error}");
        assert_eq!(sns.published().len(), 1);
    }

    #[tokio::test]
    async fn permanent_failures_only_stay_permanent() {
        let fan_out = FanOutNotifier::new(vec![(
            "webhook",
            Arc::new(Failing(PortError::rejected(Operation::WebhookPost, "410"))),
        )]);
        assert!(!fan_out.publish(&escalation()).await.unwrap_err().is_retryable());
    }

    #[test]
    fn without_a_webhook_url_the_sns_notifier_is_used_alone() {
        let sns: Arc<dyn Notifier> = Arc::new(MemoryNotifier::new());
        for webhook_url in [None, Some(String::new()), Some("  ".to_string())] {
            let settings = EscalationSettings { sns_topic_arn: None, webhook_url };
            let notifier = escalation_notifier(sns.clone(), &settings, WebhookTimeouts::default()).unwrap();
            assert!(Arc::ptr_eq(&notifier, &sns));
        }
        let bad = EscalationSettings { sns_topic_arn: None, webhook_url: Some("hooks.slack.com/x".into()) };
        assert!(escalation_notifier(sns, &bad, WebhookTimeouts::default()).is_err());
    }
}
