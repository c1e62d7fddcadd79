//! The escalation webhook over real HTTP on loopback: what a receiver gets
//! for a hostile evidence packet, which answers are retried, that a
//! receiver that never answers costs no more than the timeout, and that the
//! daemon's notifier sends to SNS and the webhook both.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use etl_medic::adapters::fan_out::{FanOutNotifier, escalation_notifier};
use etl_medic::adapters::memory::MemoryNotifier;
use etl_medic::adapters::webhook::message::MAX_TEXT_BYTES;
use etl_medic::adapters::webhook::{OPERATION, WebhookNotifier, WebhookTimeouts, WebhookUrl};
use etl_medic::config::EscalationSettings;
use etl_medic::ports::{Escalation, EvidencePacket, Notifier};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SECRET_PATH: &str = "/services/T000/B000/secret-token";

/// What the receiver saw of one POST.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// An HTTP receiver on 127.0.0.1:0 that records every POST and answers `status`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{SECRET_PATH}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = move |State(sink): State<Arc<Mutex<Vec<Received>>>>,
                           uri: Uri,
                           headers: HeaderMap,
                           body: axum::body::Bytes| async move {
            let content_type = headers.get("content-type").and_then(|value| value.to_str().ok()).map(str::to_string);
            sink.lock().unwrap().push(Received { path: uri.path().to_string(), content_type, body: body.to_vec() });
            (status, if status.is_success() { "ok" } else { "no_service" })
        };
        let router = axum::Router::new().route("/{*path}", post(record)).with_state(received.clone());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).with_graceful_shutdown(shutdown).await.unwrap();
        });
        Receiver { url, received, stop, task }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn notifier(url: &str, total: Duration) -> WebhookNotifier {
    let timeouts = WebhookTimeouts { connect: Duration::from_secs(2), total };
    WebhookNotifier::new(WebhookUrl::parse(url).unwrap(), timeouts).unwrap()
}

fn hostile_escalation() -> Escalation {
    let log_excerpt = vec![
        "Traceback: \"quoted\" and 'single' \\ backslash".to_string(),
        "<script>alert(1)</script> <!channel> @here & <https://evil.example|click>".to_string(),
        "line\nbreak\r\nand\ttab and NUL \u{0} and bell \u{7}".to_string(),
        format!("{}END", "x".repeat(10 * 1024)),
        "\u{FFFD}\u{202E}gnp.exe \u{200D}\u{FEFF} \\ud800 é 🔥 ``` fence".to_string(),
        "java.lang.IllegalStateException: column `amount` changed type".to_string(),
    ];
    Escalation {
        subject: "etl-medic: orders_daily schema_drift needs a person".into(),
        packet: EvidencePacket {
            incident_id: "orders_daily/jr_42".into(),
            job_name: "orders_daily".into(),
            run_id: "jr_42".into(),
            diagnosis: serde_json::json!({"class": "schema_drift", "confidence": 0.87, "signals": ["type changed"]}),
            log_excerpt,
            drift: Some(serde_json::json!({"kind": "type_changed", "column": "amount\"</b>"})),
            tried: vec!["retry".into()],
            proposal: "rollback_schema".into(),
            blocked_because: Some("critical_job_needs_approval: orders_daily is critical".into()),
            audit_prefix: "s3://etl-medic-audit/audit/orders_daily/jr_42/".into(),
            approval: None,
        },
    }
}

#[tokio::test]
async fn a_hostile_escalation_arrives_as_bounded_valid_json_with_the_evidence() {
    let receiver = Receiver::start(StatusCode::OK).await;
    notifier(&receiver.url, Duration::from_secs(5)).publish(&hostile_escalation()).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let post = &received[0];
    assert_eq!(post.path, SECRET_PATH);
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    assert!(post.body.len() < 8 * 1024, "body of {} bytes", post.body.len());
    let body: serde_json::Value = serde_json::from_slice(&post.body).expect("the body is JSON");
    let text = body["text"].as_str().expect("a text field");
    assert!(text.len() <= MAX_TEXT_BYTES);
    for fragment in [
        "orders_daily",
        "jr_42",
        "`schema_drift` (confidence 0.87)",
        "rollback_schema",
        "critical_job_needs_approval",
        "s3://etl-medic-audit/audit/orders_daily/jr_42/",
        "column 'amount' changed type",
    ] {
        assert!(text.contains(fragment), "{fragment:?} missing from {text}");
    }
    assert!(text.contains("&lt;script&gt;") && !text.contains("<script>") && !text.contains("<!channel>"), "{text}");
    assert!(!text.contains('\u{0}') && !text.contains('\r') && !text.contains('\u{202E}'));
    assert_eq!(text.matches("```").count(), 2, "log text cannot close the code block: {text}");
    assert!(!text.contains(&"x".repeat(1_000)), "a 10 KB line is cut");
    receiver.stop().await;
}

#[tokio::test]
async fn a_server_error_is_retryable_and_a_missing_hook_is_not() {
    for (status, retryable) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::TOO_MANY_REQUESTS, true),
        (StatusCode::NOT_FOUND, false),
    ] {
        let receiver = Receiver::start(status).await;
        let error = notifier(&receiver.url, Duration::from_secs(5)).publish(&hostile_escalation()).await.unwrap_err();
        assert_eq!(error.is_retryable(), retryable, "{status}: {error}");
        assert_eq!(error.operation(), OPERATION);
        let message = error.to_string();
        assert!(message.contains(status.as_str()) && message.contains("127.0.0.1"), "{message}");
        assert!(!message.contains("secret-token"), "the URL is a secret: {message}");
        assert_eq!(receiver.received().len(), 1);
        receiver.stop().await;
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_within_the_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{SECRET_PATH}", listener.local_addr().unwrap());
    // Accepts and reads, never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = notifier(&url, Duration::from_millis(300)).publish(&hostile_escalation()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(error.is_retryable(), "{error}");
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(!error.to_string().contains("secret-token"), "{error}");
    silent.abort();
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{SECRET_PATH}", listener.local_addr().unwrap());
    drop(listener);
    let error = notifier(&url, Duration::from_secs(5)).publish(&hostile_escalation()).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(!error.to_string().contains("secret-token"), "{error}");
}

#[tokio::test]
async fn the_daemon_notifier_sends_to_sns_and_the_webhook() {
    let receiver = Receiver::start(StatusCode::OK).await;
    let sns = Arc::new(MemoryNotifier::new());
    let settings = EscalationSettings {
        sns_topic_arn: Some("arn:aws:sns:us-east-1:1:x".into()),
        webhook_url: Some(receiver.url.clone()),
    };
    let notifier = escalation_notifier(sns.clone(), &settings, WebhookTimeouts::default()).unwrap();
    notifier.publish(&hostile_escalation()).await.unwrap();
    assert_eq!(sns.published().len(), 1);
    assert_eq!(receiver.received().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn sns_delivering_does_not_hide_a_webhook_failure() {
    let receiver = Receiver::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let sns = Arc::new(MemoryNotifier::new());
    let webhook = Arc::new(notifier(&receiver.url, Duration::from_secs(5)));
    let fan_out = FanOutNotifier::new(vec![("sns", sns.clone()), ("webhook", webhook)]);
    let error = fan_out.publish(&hostile_escalation()).await.unwrap_err();
    assert!(error.is_retryable(), "the step is retried: {error}");
    assert_eq!(error.operation(), OPERATION, "counted under the webhook's operation");
    assert!(error.to_string().contains("delivered to sns"), "{error}");
    assert_eq!(sns.published().len(), 1);
    assert_eq!(receiver.received().len(), 1);
    receiver.stop().await;
}
