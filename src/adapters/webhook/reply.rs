//! Answers in a Slack thread: a JSON POST to the `response_url` of the
//! click, over the same client as escalations. Only Slack's own
//! `https://hooks.slack.com/` URLs are posted to: the URL comes from a
//! request body, and a signed request could still name any host.

use async_trait::async_trait;
use hyper::body::Bytes;
use serde_json::json;

use crate::adapters::webhook::{OPERATION, WebhookNotifier, WebhookTimeouts, WebhookUrl};
use crate::ports::{ApprovalReplies, PortError};

/// The only host answers go to.
pub const SLACK_RESPONSE_PREFIX: &str = "https://hooks.slack.com/";

#[derive(Debug, Default)]
pub struct SlackThreadReplies {
    timeouts: WebhookTimeouts,
}

impl SlackThreadReplies {
    pub fn new(timeouts: WebhookTimeouts) -> SlackThreadReplies {
        SlackThreadReplies { timeouts }
    }
}

#[async_trait]
impl ApprovalReplies for SlackThreadReplies {
    async fn reply(&self, response_url: &str, text: &str) -> Result<(), PortError> {
        if !response_url.starts_with(SLACK_RESPONSE_PREFIX) {
            return Err(PortError::rejected(
                OPERATION,
                "a response_url outside https://hooks.slack.com/ is never posted to",
            ));
        }
        let url = WebhookUrl::parse(response_url)
            .map_err(|error| PortError::rejected(OPERATION, format!("response_url: {error}")))?;
        let poster = WebhookNotifier::new(url, self.timeouts)
            .map_err(|error| PortError::rejected(OPERATION, format!("response_url: {error}")))?;
        let body = json!({"text": text, "response_type": "in_channel", "replace_original": false});
        poster.post(Bytes::from(body.to_string())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_slacks_own_response_urls_are_posted_to() {
        let replies = SlackThreadReplies::default();
        for url in
            ["http://127.0.0.1:1/x", "https://hooks.slack.com.evil.example/x", "https://example.com/hooks.slack.com/"]
        {
            let refused = replies.reply(url, "approved").await.expect_err("refused");
            assert!(!refused.is_retryable(), "{url}: {refused}");
        }
    }
}
