//! Escalations on a Slack-compatible incoming webhook (`[escalation]
//! webhook_url`): one JSON POST per escalation, the body built by
//! [`message`], over the hyper + rustls (ring) stack the AWS SDK already
//! links, with native root certificates for `https://` and plain `http://`
//! allowed for a receiver on loopback or inside the VPC.
//!
//! The URL is a secret (whoever has it can post to the channel): it is never
//! logged, never put in an error and never printed by `Debug`; only its host is.
//! Every call is bounded by a connect and a total timeout. Errors are
//! [`PortError`]s under the operation [`OPERATION`]: a timeout, a broken
//! connection, 408, 429 or a 5xx may succeed later; any other answer
//! (a revoked hook's 404 or 410, a 400 `invalid_payload`) will not.

pub mod message;
pub mod reply;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

use crate::ports::Operation;
use crate::ports::{Escalation, Notifier, PortError};

/// The `operation` of this adapter's errors and of its metric series.
pub const OPERATION: Operation = Operation::WebhookPost;
/// Bytes of an error answer kept for the message (Slack says `no_service`).
const ANSWER_SNIPPET_BYTES: usize = 200;
/// An answer body larger than this is not read at all.
const ANSWER_READ_LIMIT_BYTES: usize = 16 * 1024;

/// How long one POST may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookTimeouts {
    /// TCP connect (DNS included).
    pub connect: Duration,
    /// Everything: connect, TLS, request, answer and its body.
    pub total: Duration,
}

impl Default for WebhookTimeouts {
    fn default() -> WebhookTimeouts {
        WebhookTimeouts { connect: Duration::from_secs(5), total: Duration::from_secs(10) }
    }
}

/// Why a webhook notifier cannot be built. Never contains the URL.
#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("must be an http:// or https:// URL with a host ({0})")]
    InvalidUrl(&'static str),
    #[error("no TLS root certificates could be loaded for https: {0}")]
    TlsRoots(std::io::Error),
}

/// A checked webhook URL whose `Debug` shows the host only.
#[derive(Clone)]
pub struct WebhookUrl {
    uri: Uri,
    host: String,
}

impl WebhookUrl {
    /// The same rules as the configuration check (`config::sections::webhook_url_problem`), then hyper's parse.
    pub fn parse(text: &str) -> Result<WebhookUrl, WebhookError> {
        if let Some(problem) = crate::config::sections::webhook_url_problem(text) {
            return Err(WebhookError::InvalidUrl(problem));
        }
        let uri: Uri = text.trim().parse().map_err(|_| WebhookError::InvalidUrl("not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(WebhookError::InvalidUrl("the scheme is not http or https")),
        }
        let host = uri.host().filter(|host| !host.is_empty()).ok_or(WebhookError::InvalidUrl("no host"))?.to_string();
        Ok(WebhookUrl { uri, host })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "WebhookUrl({}://{}/…)", self.uri.scheme_str().unwrap_or("?"), self.host)
    }
}

pub struct WebhookNotifier {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: WebhookUrl,
    timeouts: WebhookTimeouts,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("WebhookNotifier").field("url", &self.url).field("timeouts", &self.timeouts).finish()
    }
}

impl WebhookNotifier {
    /// A notifier posting to `url`. Loads the native root certificates when
    /// the URL is https (an image without CA certificates fails here, at
    /// start-up, not at the first escalation).
    pub fn new(url: WebhookUrl, timeouts: WebhookTimeouts) -> Result<WebhookNotifier, WebhookError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = if url.is_https() {
            HttpsConnectorBuilder::new().with_provider_and_native_roots(provider).map_err(WebhookError::TlsRoots)?
        } else {
            // Plain http never does a handshake; an empty trust store keeps
            // start-up independent of the host's certificates.
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|error| WebhookError::TlsRoots(std::io::Error::other(error)))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config)
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        // Escalations are minutes apart: a pooled connection would mostly be
        // one the receiver has already closed, so none is kept.
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
        Ok(WebhookNotifier { client, url, timeouts })
    }

    pub(crate) async fn post(&self, body: Bytes) -> Result<(), PortError> {
        let request = Request::post(self.url.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("etl-medic/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|error| {
                PortError::rejected(OPERATION, format!("request to webhook host {} not built: {error}", self.url.host))
            })?;
        match tokio::time::timeout(self.timeouts.total, self.exchange(request)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(PortError::transient(
                OPERATION,
                format!("webhook host {} did not answer within {} ms", self.url.host, self.timeouts.total.as_millis()),
            )),
        }
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<(), PortError> {
        let response = self.client.request(request).await.map_err(|error| {
            PortError::transient(
                OPERATION,
                format!("webhook host {}: {}", self.url.host, self.redacted(&error_chain(&error))),
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = answer_snippet(response.into_body()).await;
        Err(status_error(
            status,
            &format!("webhook host {} answered {status}: {}", self.url.host, self.redacted(&answer)),
        ))
    }

    /// Transport errors may quote the URI; the URL's path and query are the secret part.
    fn redacted(&self, message: &str) -> String {
        let secret = self.url.uri.path_and_query().map(|path| path.as_str()).unwrap_or("");
        if secret.len() > 1 { message.replace(secret, "/[redacted]") } else { message.to_string() }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn publish(&self, escalation: &Escalation) -> Result<(), PortError> {
        let body = serde_json::to_vec(&message::webhook_body(escalation))
            .map_err(|error| PortError::rejected(OPERATION, format!("escalation is not serialisable: {error}")))?;
        self.post(Bytes::from(body)).await?;
        tracing::debug!(host = %self.url.host, incident_id = %escalation.packet.incident_id, "escalation posted to the webhook");
        Ok(())
    }
}

/// 408, 429 and 5xx may pass later; anything else is the receiver refusing
/// this hook or this body, which retrying will not change.
fn status_error(status: StatusCode, message: &str) -> PortError {
    match status {
        StatusCode::TOO_MANY_REQUESTS => PortError::Throttled { operation: OPERATION, message: message.to_string() },
        StatusCode::REQUEST_TIMEOUT => PortError::transient(OPERATION, message),
        status if status.is_server_error() => PortError::transient(OPERATION, message),
        _ => PortError::rejected(OPERATION, message),
    }
}

/// The start of an error answer, on one line; empty when it cannot be read.
async fn answer_snippet(body: Incoming) -> String {
    let Ok(collected) = Limited::new(body, ANSWER_READ_LIMIT_BYTES).collect().await else {
        return String::new();
    };
    let bytes = collected.to_bytes();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(ANSWER_SNIPPET_BYTES)]);
    text.chars()
        .map(|character| if character.is_control() { ' ' } else { character })
        .collect::<String>()
        .trim()
        .to_string()
}

/// An error and its causes, which is where hyper says what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_are_accepted() {
        assert_eq!(
            WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap().host(),
            "hooks.slack.com"
        );
        assert_eq!(WebhookUrl::parse(" http://127.0.0.1:8080/hook ").unwrap().host(), "127.0.0.1");
        for bad in ["", "hooks.slack.com/services/x", "ftp://example.com/x", "https://", "https:///path", "not a url"] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret_path() {
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/secret-token").unwrap();
        let shown = format!("{url:?}");
        assert!(shown.contains("hooks.slack.com") && !shown.contains("secret-token"), "{shown}");
        let error = WebhookUrl::parse("ftp://host/secret-token").unwrap_err().to_string();
        assert!(!error.contains("secret-token"), "{error}");
    }

    #[test]
    fn server_errors_and_throttling_are_retryable_and_client_errors_are_not() {
        for (status, retryable) in
            [(500, true), (503, true), (429, true), (408, true), (404, false), (400, false), (410, false), (301, false)]
        {
            let error = status_error(StatusCode::from_u16(status).unwrap(), "answered");
            assert_eq!(error.is_retryable(), retryable, "{status}");
            assert_eq!(error.operation(), OPERATION);
        }
    }
}
