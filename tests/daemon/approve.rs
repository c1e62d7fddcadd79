//! `approve` mode on the in-memory estate: a failure in approve mode stores
//! its proposal and starts nothing; one approval starts exactly one run of
//! exactly the proposed action, with who approved it in the audit; a double
//! click, a stale proposal's hash, a rejection and an expiry never start a
//! run; safety can still refuse after an approval.

use crate::support::harness as daemon_support;

use daemon_support::Harness;
use etl_medic::core::model::{ActionKind, Mode};
use etl_medic::daemon::approval::{Answer, AnswerRefused, Channel, Settled, settle};
use etl_medic::ports::IncidentState;

const INCIDENT: &str = "orders_daily/jr_1";

fn transient_failure(harness: &Harness) -> String {
    harness.job("orders_daily", 0);
    harness.failed_run(
        "orders_daily",
        "jr_1",
        "An error occurred while calling o112.pyWriteDynamicFrame. Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[("--day", "2026-11-28")],
    )
}

fn approve_harness(expiry_secs: u32) -> Harness {
    let mut settings = daemon_support::settings();
    settings.approvals.expiry_secs = expiry_secs;
    Harness::with(settings, daemon_support::safety(Mode::Approve))
}

/// A failure in approve mode, run through the real pool until its proposal waits.
async fn pending(harness: &Harness) {
    harness.estate.queue.push(transient_failure(harness));
    let (reached, _) = harness
        .run_pool_until(30, |harness| {
            harness
                .estate
                .incidents
                .incidents()
                .iter()
                .any(|incident| incident.state == IncidentState::AwaitingApproval)
        })
        .await;
    assert!(reached, "the proposal waits; decisions: {:?}", harness.decisions());
}

fn answer(approve: bool, by: &str) -> Answer {
    Answer { incident_id: INCIDENT.to_string(), approve, by: by.to_string(), channel: Channel::Cli, binding: None }
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_approve_mode_proposes_and_starts_nothing() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing runs before an approval");
    let incident = &harness.estate.incidents.incidents()[0];
    let proposal = incident.pending.as_ref().expect("the proposal is stored with the incident");
    assert_eq!(proposal.action.kind(), ActionKind::Retry);
    assert_eq!(proposal.binding.len(), 64);
    assert_eq!((proposal.expires_at - proposal.requested_at).num_seconds(), 14_400);
    assert!(proposal.evidence_summary[0].starts_with("diagnosis: transient_infra"), "{:?}", proposal.evidence_summary);
    let published = harness.estate.notifier.published();
    assert_eq!(published.len(), 1, "people are asked once");
    let request = published[0].packet.approval.as_ref().expect("the request carries the proposal");
    assert_eq!(request.status, "pending");
    assert_eq!(request.approve_command, "etl-medic approve orders_daily/jr_1");
    assert_eq!(request.binding, proposal.binding);
    assert_eq!(request.action["kind"], "retry");
    assert!(!harness.estate.queue.is_empty(), "the incident's message waits, hidden, for the expiry");
    assert!(harness.metrics_text().contains("etl_medic_approvals_total{event=\"requested\"} 1"));
    assert!(harness.metrics_text().contains("etl_medic_decisions_total{mode=\"approve\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn one_approval_runs_exactly_the_proposed_action_once_and_a_second_click_is_refused() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    let settled = settle(&harness.context, &answer(true, "alice")).await.expect("approved");
    let Settled::Ran { action, started_run_id } = settled else { panic!("ran: {settled:?}") };
    assert_eq!(action.kind(), ActionKind::Retry);
    let started = harness.estate.job_control.started_requests();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].arguments.get("--day").map(String::as_str), Some("2026-11-28"));
    assert!(started_run_id.is_some());
    let again = settle(&harness.context, &answer(true, "bob")).await;
    assert!(
        matches!(&again, Err(AnswerRefused::AlreadyDecided { decided, .. }) if decided.contains("alice via cli")),
        "{again:?}"
    );
    assert_eq!(harness.estate.job_control.started_requests().len(), 1, "the second click starts nothing");
    let incident = &harness.estate.incidents.incidents()[0];
    assert_eq!(incident.state, IncidentState::Remediating);
    let approvals: Vec<_> = harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == "approval" && record["body"]["status"] == "approved")
        .collect();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].1["body"]["by"], "alice");
    assert_eq!(approvals[0].1["body"]["channel"], "cli");
    assert!(approvals[0].1["body"]["at"].is_string());
    assert!(harness.audit_records().iter().any(|(_, record)| record["stage"] == "permit"));
}

#[tokio::test(start_paused = true)]
async fn concurrent_clicks_start_one_run() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    let (alice, bob) = (answer(true, "alice"), answer(true, "bob"));
    let (first, second) = tokio::join!(settle(&harness.context, &alice), settle(&harness.context, &bob));
    let applied = [&first, &second].iter().filter(|result| result.is_ok()).count();
    assert_eq!(applied, 1, "exactly one click applies: {first:?} {second:?}");
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_click_on_another_proposal_is_refused() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    let stale = Answer { binding: Some("0".repeat(64)), ..answer(true, "alice") };
    let refused = settle(&harness.context, &stale).await;
    assert!(matches!(refused, Err(AnswerRefused::StaleProposal { .. })), "{refused:?}");
    assert!(harness.estate.job_control.started_requests().is_empty());
    let unknown = Answer { incident_id: "orders_daily/jr_404".into(), ..answer(true, "alice") };
    assert!(matches!(settle(&harness.context, &unknown).await, Err(AnswerRefused::UnknownIncident(_))));
}

#[tokio::test(start_paused = true)]
async fn a_rejection_escalates_with_the_proposal_and_runs_nothing() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    assert_eq!(settle(&harness.context, &answer(false, "carol")).await.expect("rejected"), Settled::Rejected);
    assert!(harness.estate.job_control.started_requests().is_empty());
    let incident = &harness.estate.incidents.incidents()[0];
    assert_eq!(incident.state, IncidentState::Escalated);
    let escalation = harness.estate.notifier.published().pop().expect("escalated");
    let approval = escalation.packet.approval.expect("the escalation carries the proposal");
    assert_eq!(approval.status, "rejected");
    assert_eq!(approval.decided_by.as_deref(), Some("carol via cli"));
    assert!(escalation.packet.blocked_because.unwrap_or_default().contains("carol rejected"));
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_proposal_expires_when_its_message_comes_back_and_is_escalated() {
    let harness = approve_harness(120);
    pending(&harness).await;
    harness.clock.advance(chrono::Duration::seconds(121));
    let (reached, _) = harness
        .run_pool_until(300, |harness| harness.estate.incidents.incidents()[0].state == IncidentState::Escalated)
        .await;
    assert!(reached, "escalated at expiry: {:?}", harness.estate.incidents.incidents());
    assert!(harness.estate.job_control.started_requests().is_empty());
    let escalation = harness.estate.notifier.published().pop().expect("escalated");
    assert_eq!(escalation.packet.approval.map(|approval| approval.status).as_deref(), Some("expired"));
    assert!(harness.estate.queue.is_empty(), "the message is done");
    assert!(harness.metrics_text().contains("etl_medic_approvals_total{event=\"expired\"} 1"));
    let late = settle(&harness.context, &answer(true, "alice")).await;
    assert!(matches!(late, Err(AnswerRefused::AlreadyDecided { .. })), "{late:?}");
}

#[tokio::test(start_paused = true)]
async fn an_approval_after_the_expiry_is_refused_and_escalates() {
    let harness = approve_harness(120);
    pending(&harness).await;
    harness.clock.advance(chrono::Duration::seconds(121));
    let late = settle(&harness.context, &answer(true, "alice")).await;
    assert!(matches!(late, Err(AnswerRefused::Expired { .. })), "{late:?}");
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert_eq!(harness.estate.incidents.incidents()[0].state, IncidentState::Escalated);
}

#[tokio::test(start_paused = true)]
async fn safety_still_refuses_an_approved_action_when_the_kill_switch_is_on() {
    let harness = approve_harness(14_400);
    pending(&harness).await;
    // The same store, now under settings with the kill switch on.
    let mut settings = harness.context.settings.clone();
    settings.safety.force_shadow = true;
    let switched = etl_medic::daemon::app::Application::with_policy(
        settings,
        harness.estate.ports(),
        daemon_support::rules(),
        None,
    )
    .expect("the daemon builds");
    let context = switched.context();
    let settled = settle(context, &answer(true, "alice")).await.expect("applied, then refused");
    assert!(matches!(&settled, Settled::Escalated { reason, .. } if reason.contains("force_shadow")), "{settled:?}");
    assert!(harness.estate.job_control.started_requests().is_empty(), "the kill switch wins over an approval");
    assert_eq!(harness.estate.incidents.incidents()[0].state, IncidentState::Escalated);
}

#[tokio::test(start_paused = true)]
async fn a_critical_job_in_approve_mode_can_be_approved() {
    let mut settings = daemon_support::settings();
    if let Some(job) = settings.jobs.get_mut("orders_daily") {
        job.risk_tier = Some(etl_medic::core::model::RiskTier::Critical);
    }
    let harness = Harness::with(settings, daemon_support::safety(Mode::Approve));
    pending(&harness).await;
    assert!(matches!(settle(&harness.context, &answer(true, "alice")).await, Ok(Settled::Ran { .. })));
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
}

mod slack {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use etl_medic::adapters::memory::{MemoryApprovalInbox, MemoryApprovalReplies, MemorySecrets};
    use etl_medic::approval::slack::{APPROVE_ACTION_ID, button_value, sign};
    use etl_medic::daemon::app::Application;
    use etl_medic::daemon::slack::{Handled, poll_once};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack";

    fn click(user: &str, binding: &str) -> String {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": user},
            "actions": [{"action_id": APPROVE_ACTION_ID, "value": button_value(binding, INCIDENT)}],
            "response_url": "https://hooks.slack.com/actions/T1/2/3",
        });
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
    }

    async fn slack_app(harness: &Harness) -> (Application, Arc<MemoryApprovalInbox>, Arc<MemoryApprovalReplies>) {
        let mut settings = harness.context.settings.clone();
        settings.approvals.allowed_users = vec!["U2CERLKJA".into()];
        settings.approvals.signing_secret_arn = SECRET_ARN.into();
        let inbox = Arc::new(MemoryApprovalInbox::new());
        let replies = Arc::new(MemoryApprovalReplies::new());
        let application = Application::with_policy(settings, harness.estate.ports(), daemon_support::rules(), None)
            .expect("builds")
            .with_slack_approvals(inbox.clone(), replies.clone(), Arc::new(MemorySecrets::with(SECRET_ARN, SECRET)))
            .await
            .expect("the secret is read");
        (application, inbox, replies)
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_signed_fresh_click_from_an_allowed_user_runs_and_only_once() {
        let harness = approve_harness(14_400);
        pending(&harness).await;
        let binding = harness.estate.incidents.incidents()[0].pending.clone().expect("pending").binding;
        let (application, inbox, replies) = slack_app(&harness).await;
        let slack = application.slack().expect("slack approvals on").clone();
        let now = etl_medic::ports::Clock::now(harness.clock.as_ref()).timestamp().to_string();
        let stale = (etl_medic::ports::Clock::now(harness.clock.as_ref()).timestamp() - 301).to_string();
        let good = click("U2CERLKJA", &binding);
        let tampered = good.replace("U2CERLKJA", "U2CERLKJB");
        inbox.push(&tampered, Some(&now), Some(&sign(SECRET, &now, &good)));
        inbox.push(&good, Some(&stale), Some(&sign(SECRET, &stale, &good)));
        let stranger = click("U0STRANGER", &binding);
        inbox.push(&stranger, Some(&now), Some(&sign(SECRET, &now, &stranger)));
        inbox.push(&good, None, None);
        let refused = poll_once(application.context(), &slack, Duration::from_secs(1)).await.expect("polled");
        assert_eq!(
            refused,
            vec![
                Handled::Refused("bad_signature"),
                Handled::Refused("stale_timestamp"),
                Handled::Refused("unknown_user"),
                Handled::Refused("missing_headers"),
            ]
        );
        assert!(harness.estate.job_control.started_requests().is_empty(), "nothing runs for a refused request");
        // The real click, then the same click replayed (a double click, a redelivery).
        inbox.push(&good, Some(&now), Some(&sign(SECRET, &now, &good)));
        inbox.push(&good, Some(&now), Some(&sign(SECRET, &now, &good)));
        let handled = poll_once(application.context(), &slack, Duration::from_secs(1)).await.expect("polled");
        assert!(matches!(handled[0], Handled::Applied(Settled::Ran { .. })), "{handled:?}");
        assert_eq!(handled[1], Handled::Refused("already_decided"));
        assert_eq!(harness.estate.job_control.started_requests().len(), 1, "one run for two clicks");
        assert!(inbox.is_empty(), "every request acknowledged");
        let metrics = etl_medic::metrics::render(application.registry()).expect("render");
        for reason in ["bad_signature", "stale_timestamp", "unknown_user", "missing_headers", "already_decided"] {
            assert!(
                metrics.contains(&format!("etl_medic_approval_refusals_total{{reason=\"{reason}\"}} 1")),
                "{reason}"
            );
        }
        let texts: Vec<String> = replies.replies().into_iter().map(|(_, text)| text).collect();
        assert!(
            texts.iter().any(|text| text.contains("<@U2CERLKJA> approved orders_daily/jr_1: retry started")),
            "{texts:?}"
        );
        assert!(texts.iter().any(|text| text.contains("not allowed")), "{texts:?}");
        let approved = harness
            .audit_records()
            .into_iter()
            .find(|(_, record)| record["stage"] == "approval" && record["body"]["status"] == "approved")
            .expect("audited");
        assert_eq!(
            (approved.1["body"]["by"].as_str(), approved.1["body"]["channel"].as_str()),
            (Some("U2CERLKJA"), Some("slack"))
        );
    }
}
