//! SqsIncidentQueue: long-poll receive with receive counts, batch delete with
//! partial failure, visibility changes, depth of the queue and its DLQ.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use etl_medic::adapters::aws::SqsIncidentQueue;
use etl_medic::ports::{IncidentQueue, ReceiptHandle};

use crate::support::Moto;

/// A main queue whose RedrivePolicy sends a message to the DLQ after
/// `max_receive_count` receives. Returns (main url, dlq url).
pub async fn create_queue_with_dlq(moto: &Moto, name: &str, max_receive_count: u32) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let dlq_url = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()});
    let main_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (main_url, dlq_url)
}

async fn send(moto: &Moto, queue_url: &str, body: &str) {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    sqs.send_message().queue_url(queue_url).message_body(body).send().await.unwrap();
}

#[tokio::test]
async fn received_messages_carry_receive_counts_and_deletes_report_each_handle() {
    let moto = Moto::start();
    let (queue_url, _) = create_queue_with_dlq(&moto, "incidents", 5).await;
    for index in 0..3 {
        send(&moto, &queue_url, &format!("{{\"n\":{index}}}")).await;
    }
    // No DLQ URL given: the adapter finds it from the RedrivePolicy.
    let queue = SqsIncidentQueue::new(&moto.connection(), &queue_url, None);

    let received = queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|message| message.receive_count == 1 && message.sent_at.is_some()));
    let bodies: BTreeSet<&str> = received.iter().map(|message| message.body.as_str()).collect();
    assert_eq!(bodies, BTreeSet::from(["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]));
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 3));

    // Released at once (shutdown path): received again, count 2.
    queue.release(&received[0].handle).await.unwrap();
    let again = queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, received[0].message_id);
    assert_eq!(again[0].receive_count, 2);

    // Partial failure: two real handles and one that never existed.
    let handles = vec![again[0].handle.clone(), received[1].handle.clone(), ReceiptHandle("not-a-handle".into())];
    let outcomes = queue.delete_batch(&handles).await.unwrap();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].handle, handles[0]);
    assert!(outcomes[0].result.is_ok() && outcomes[1].result.is_ok());
    let failure = outcomes[2].result.clone().unwrap_err();
    assert!(failure.is_not_found(), "{failure:?}");
    assert_eq!(failure.operation(), etl_medic::ports::Operation::DeleteMessageBatch);

    // One message is still in flight; the DLQ exists and is empty.
    assert_eq!(queue.depth().await.unwrap().in_flight, 1);
    let dead_letters = queue.dead_letter_depth().await.unwrap().expect("the RedrivePolicy names a DLQ");
    assert_eq!(dead_letters.visible, 0);
}

#[tokio::test]
async fn a_stale_handle_cannot_extend_visibility_and_an_empty_poll_returns_nothing() {
    let moto = Moto::start();
    let (queue_url, dlq_url) = create_queue_with_dlq(&moto, "incidents", 5).await;
    let queue = SqsIncidentQueue::new(&moto.connection(), &queue_url, Some(&dlq_url));

    let started = Instant::now();
    let nothing = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert!(nothing.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "the long poll waited");

    // The reconciler's replay path: a message sent through the port itself.
    let sent_id = queue.send("{}", 0).await.unwrap();
    let message = queue.receive(1, Duration::from_secs(2)).await.unwrap().remove(0);
    assert_eq!(message.message_id, sent_id);
    queue.extend_visibility(&message.handle, 60).await.unwrap();
    let outcomes = queue.delete_batch(std::slice::from_ref(&message.handle)).await.unwrap();
    assert!(outcomes[0].result.is_ok());
    let stale = queue.extend_visibility(&ReceiptHandle("gone".into()), 60).await.unwrap_err();
    assert!(stale.is_not_found(), "{stale:?}");
}

#[tokio::test]
async fn a_message_never_deleted_reaches_the_dlq_after_max_receive_count() {
    let moto = Moto::start();
    let (queue_url, dlq_url) = create_queue_with_dlq(&moto, "incidents", 2).await;
    let queue = SqsIncidentQueue::new(&moto.connection(), &queue_url, Some(&dlq_url));
    send(&moto, &queue_url, "not json").await;

    for _ in 0..2 {
        let message = queue.receive(10, Duration::from_secs(2)).await.unwrap().remove(0);
        queue.release(&message.handle).await.unwrap();
    }
    // The third receive finds it over maxReceiveCount and moves it.
    assert!(queue.receive(10, Duration::from_secs(1)).await.unwrap().is_empty());
    let dead_letters = queue.dead_letter_depth().await.unwrap().unwrap();
    assert_eq!(dead_letters.visible, 1);
}

#[tokio::test]
async fn a_full_twenty_second_long_poll_completes_within_the_attempt_timeout() {
    // The SDK has no response timeout of its own; ours must outlast SQS's
    // longest poll, or every quiet period would look like a failure.
    let moto = Moto::start();
    let (queue_url, dlq_url) = create_queue_with_dlq(&moto, "quiet", 5).await;
    let queue = SqsIncidentQueue::new(&moto.connection(), &queue_url, Some(&dlq_url));
    let started = Instant::now();
    let nothing = queue.receive(10, Duration::from_secs(20)).await.unwrap();
    assert!(nothing.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(19), "waited {:?}", started.elapsed());
}
