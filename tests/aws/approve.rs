//! `approve` mode end to end on moto: a job in approve mode fails and no
//! run starts; a signed Slack click, put on the approvals queue as the
//! stack's HTTP API puts it (raw body, signature headers as message
//! attributes), starts exactly one run, and the same click again starts
//! none; the signing secret comes from Secrets Manager; the CLI's path
//! (`settle` on the same store) works the same; an approval after the
//! expiry is refused and escalated.

use crate::support::estate;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use etl_medic::adapters::aws::{SecretsManagerSecrets, SqsApprovalInbox};
use etl_medic::adapters::memory::MemoryApprovalReplies;
use etl_medic::approval::slack::{APPROVE_ACTION_ID, button_value, sign};
use etl_medic::core::model::Mode;
use etl_medic::daemon::app::Application;
use etl_medic::daemon::approval::{Answer, AnswerRefused, Channel, Settled, settle};
use etl_medic::daemon::slack::{Handled, poll_once};
use etl_medic::ports::IncidentState;
use serde_json::json;

use estate::{Estate, JOB, run_pool_until};

const TRANSIENT: &str = "java.net.SocketTimeoutException: Read timed out while reading s3://lake/raw/orders/";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const USER: &str = "U2CERLKJA";

async fn incident(daemon: &Application, incident_id: &str) -> etl_medic::ports::IncidentRecord {
    daemon.context().ports.incidents.get_incident(incident_id).await.unwrap().expect("the incident exists")
}

/// A failed run of the job in approve mode, worked by the real pool until its proposal waits.
async fn proposal(expiry_secs: u32) -> (Estate, Application, String) {
    let estate =
        Estate::new(json!({JOB: [{"state": "FAILED", "error_message": TRANSIENT}, {"state": "SUCCEEDED"}]}), 30).await;
    let failed_run = estate.start_run(&[("--day", "2026-11-29")]).await;
    estate.put_error_log(&failed_run, &[TRANSIENT]).await;
    estate.put_glue_event(&failed_run, "FAILED", TRANSIENT).await;
    let mut settings = estate.settings(2);
    settings.approvals.expiry_secs = expiry_secs;
    let (daemon, _registry) = estate.daemon(settings, estate.safety(Mode::Approve));
    let incident_id = format!("{JOB}/{failed_run}");
    let (waiting, _) = run_pool_until(&daemon, Duration::from_secs(45), || async {
        let stored = daemon.context().ports.incidents.get_incident(&incident_id).await.ok().flatten();
        stored.is_some_and(|record| record.state == IncidentState::AwaitingApproval)
    })
    .await;
    assert!(waiting, "the proposal waits for approval");
    assert_eq!(estate.runs().await.len(), 1, "no run starts in approve mode before an approval");
    (estate, daemon, incident_id)
}

#[tokio::test]
async fn a_slack_click_on_the_approvals_queue_starts_exactly_one_run() {
    let (estate, daemon, incident_id) = proposal(14_400).await;
    let sqs = aws_sdk_sqs::Client::new(&estate.config);
    let approvals_url = sqs.create_queue().queue_name("etl-medic-approvals").send().await.unwrap().queue_url.unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&estate.config);
    let secret_arn =
        secrets.create_secret().name("etl-medic/slack").secret_string(SECRET).send().await.unwrap().arn.unwrap();
    let mut settings = daemon.context().settings.clone();
    settings.approvals.queue_url = approvals_url.clone();
    settings.approvals.signing_secret_arn = secret_arn;
    settings.approvals.allowed_users = vec![USER.to_string()];
    let connection = estate.moto.connection();
    let ports = etl_medic::adapters::wiring::aws_ports(&connection, &settings).unwrap();
    let replies = Arc::new(MemoryApprovalReplies::new());
    let slack_daemon = Application::with_policy(settings, ports, crate::support::harness::rules(), None)
        .unwrap()
        .with_slack_approvals(
            Arc::new(SqsApprovalInbox::new(&connection, &approvals_url)),
            replies.clone(),
            Arc::new(SecretsManagerSecrets::new(&connection)),
        )
        .await
        .expect("the signing secret is read from Secrets Manager");
    let binding = incident(&slack_daemon, &incident_id).await.pending.expect("pending").binding;
    let payload = json!({
        "type": "block_actions", "user": {"id": USER},
        "actions": [{"action_id": APPROVE_ACTION_ID, "value": button_value(&binding, &incident_id)}],
        "response_url": "https://hooks.slack.com/actions/T1/2/3",
    });
    let body = form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
    let timestamp = etl_medic::ports::Clock::now(&etl_medic::ports::SystemClock).timestamp().to_string();
    let attribute =
        |value: &str| MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap();
    // The double click: the same signed request twice, as the HTTP API delivers it.
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&approvals_url)
            .message_body(&body)
            .message_attributes("X-Slack-Signature", attribute(&sign(SECRET, &timestamp, &body)))
            .message_attributes("X-Slack-Request-Timestamp", attribute(&timestamp))
            .send()
            .await
            .unwrap();
    }
    let slack = slack_daemon.slack().unwrap().clone();
    let mut handled = Vec::new();
    for _ in 0..5 {
        handled.extend(poll_once(slack_daemon.context(), &slack, Duration::from_secs(1)).await.unwrap());
        if handled.len() == 2 {
            break;
        }
    }
    assert_eq!(handled.len(), 2, "{handled:?}");
    assert!(matches!(handled[0], Handled::Applied(Settled::Ran { .. })), "{handled:?}");
    assert_eq!(handled[1], Handled::Refused("already_decided"));
    assert_eq!(estate.runs().await.len(), 2, "exactly one run for a double click");
    assert_eq!(estate.depth(&approvals_url).await, (0, 0), "both requests acknowledged");
    let record = incident(&slack_daemon, &incident_id).await;
    assert_eq!(record.state, IncidentState::Remediating);
    let decided = record.pending.and_then(|pending| pending.decided).expect("who decided");
    assert_eq!((decided.by.as_str(), decided.channel.as_str()), (USER, "slack"));
    assert!(replies.replies().iter().any(|(_, text)| text.contains("approved")), "{:?}", replies.replies());
}

#[tokio::test]
async fn the_cli_path_approves_once_and_an_expired_proposal_is_escalated() {
    let (estate, daemon, incident_id) = proposal(14_400).await;
    let answer = Answer {
        incident_id: incident_id.clone(),
        approve: true,
        by: "alice".into(),
        channel: Channel::Cli,
        binding: None,
    };
    assert!(matches!(settle(daemon.context(), &answer).await, Ok(Settled::Ran { .. })));
    assert!(matches!(settle(daemon.context(), &answer).await, Err(AnswerRefused::AlreadyDecided { .. })));
    assert_eq!(estate.runs().await.len(), 2, "one run");
    drop((estate, daemon));

    let (estate, daemon, incident_id) = proposal(60).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let late = Answer {
        incident_id: incident_id.clone(),
        approve: true,
        by: "alice".into(),
        channel: Channel::Cli,
        binding: None,
    };
    assert!(matches!(settle(daemon.context(), &late).await, Err(AnswerRefused::Expired { .. })));
    assert_eq!(incident(&daemon, &incident_id).await.state, IncidentState::Escalated);
    assert_eq!(estate.runs().await.len(), 1, "nothing ran");
    let sqs = aws_sdk_sqs::Client::new(&estate.config);
    let oncall = sqs.receive_message().queue_url(&estate.oncall_url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<String> =
        oncall.messages.unwrap_or_default().into_iter().filter_map(|message| message.body).collect();
    assert!(
        bodies.iter().any(|body| body.contains("expired")),
        "the escalation carries the expired proposal: {bodies:?}"
    );
}
