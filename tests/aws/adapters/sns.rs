//! SnsNotifier: an escalation published to the topic arrives, with its
//! evidence packet, in an SQS queue subscribed to it.

use std::time::Duration;

use etl_medic::adapters::aws::{SnsNotifier, SqsIncidentQueue};
use etl_medic::ports::{Escalation, EvidencePacket, IncidentQueue, Notifier};

use crate::support::Moto;

#[tokio::test]
async fn an_escalation_arrives_in_a_subscribed_queue_with_its_evidence() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic_arn = sns.create_topic().name("etl-medic-escalations").send().await.unwrap().topic_arn.unwrap();
    let queue_url = sqs.create_queue().queue_name("oncall").send().await.unwrap().queue_url.unwrap();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:oncall";
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(queue_arn).send().await.unwrap();

    let escalation = Escalation {
        subject: "etl-medic: orders_daily schema_drift needs a person".into(),
        packet: EvidencePacket {
            incident_id: "orders_daily/jr_1".into(),
            job_name: "orders_daily".into(),
            run_id: "jr_1".into(),
            diagnosis: serde_json::json!({"class": "schema_drift", "confidence": 0.92}),
            log_excerpt: vec!["AnalysisException: cannot resolve 'amount'".into()],
            drift: Some(serde_json::json!({"table": "sales.orders", "type_changed": ["amount"]})),
            tried: vec!["retry".into()],
            proposal: "rollback_schema".into(),
            blocked_because: Some("critical_job_needs_approval".into()),
            audit_prefix: "audit/orders_daily/jr_1/".into(),
            approval: None,
        },
    };
    SnsNotifier::new(&moto.connection(), &topic_arn).publish(&escalation).await.unwrap();

    let oncall = SqsIncidentQueue::new(&moto.connection(), &queue_url, None);
    let delivered = oncall.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(delivered.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&delivered[0].body).unwrap();
    assert_eq!(envelope["Subject"], escalation.subject);
    let packet: Escalation = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(packet, escalation);

    let missing_topic = SnsNotifier::new(&moto.connection(), "arn:aws:sns:us-east-1:123456789012:nope");
    assert!(missing_topic.publish(&escalation).await.is_err());
}
