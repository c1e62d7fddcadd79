//! DynamoIncidentStore: exactly-once claims under concurrency, versioned
//! incident updates, run links, the reconciler's open runs, shared budgets
//! and fleet counters, all through conditional writes on one table; and a
//! conditional write whose answer is lost (reset by a proxy after DynamoDB
//! carried it out) recognised as the writer's own when the SDK retries it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use etl_medic::adapters::aws::{AwsConnection, DynamoIncidentStore, ExplicitEndpoint};
use etl_medic::ports::{ClaimOutcome, IncidentRecord, IncidentState, IncidentStore, RunClaim};

use crate::support::fault_proxy::{Fault, FaultPlan, FaultProxy};
use crate::support::{Moto, create_incident_table};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn incident(id: &str, state: IncidentState) -> IncidentRecord {
    IncidentRecord {
        incident_id: id.into(),
        job_name: "orders_daily".into(),
        failed_run_id: "jr_1".into(),
        opened_at: at("2026-11-29T02:00:00Z"),
        state,
        attempt: 0,
        actions_taken: vec![],
        class: None,
        current_run_id: None,
        run_started_at: None,
        planned_action: None,
        wait_until: None,
        source_watch: None,
        owner_message_id: "m-1".into(),
        updated_at: at("2026-11-29T02:00:00Z"),
        closed_at: None,
        audit_seq: 0,
        pending: None,
        version: 0,
        step: None,
        write_token: format!("create-{id}"),
        notified_at: None,
    }
}

#[tokio::test]
async fn of_many_concurrent_claims_of_one_run_exactly_one_wins() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = Arc::new(DynamoIncidentStore::new(&moto.connection(), "incidents"));

    let mut tasks = Vec::new();
    for worker in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let claim = RunClaim {
                job_name: "orders_daily".into(),
                run_id: "jr_1".into(),
                incident_id: "orders_daily/jr_1".into(),
                message_id: format!("m-{worker}"),
                claimed_at: at("2026-11-29T02:00:05Z"),
            };
            store.claim_run(&claim).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    let mut losers_saw = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            ClaimOutcome::Claimed => winners.push(()),
            ClaimOutcome::AlreadyClaimed(existing) => losers_saw.push(existing.message_id),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(losers_saw.len(), 15);
    assert!(losers_saw.windows(2).all(|pair| pair[0] == pair[1]), "every loser sees the same winner");
}

#[tokio::test]
async fn incidents_update_only_from_the_version_read() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = DynamoIncidentStore::new(&moto.connection(), "incidents");

    store.create_incident(&incident("orders_daily/jr_1", IncidentState::Open)).await.unwrap();
    let mut other_creator = incident("orders_daily/jr_1", IncidentState::Open);
    other_creator.write_token = "create-by-another-worker".into();
    let duplicate = store.create_incident(&other_creator).await.unwrap_err();
    assert!(duplicate.is_conflict());

    let stored = store.get_incident("orders_daily/jr_1").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    let mut acting = stored.clone();
    acting.state = IncidentState::Acting;
    acting.attempt = 1;
    acting.write_token = "update-1".into();
    let updated = store.update_incident(&acting).await.unwrap();
    assert_eq!(updated.version, 2);

    // A second worker still holding version 1 loses and changes nothing.
    let mut stale = stored.clone();
    stale.state = IncidentState::Escalated;
    stale.write_token = "update-by-another-worker".into();
    assert!(store.update_incident(&stale).await.unwrap_err().is_conflict());
    let current = store.get_incident("orders_daily/jr_1").await.unwrap().unwrap();
    assert_eq!((current.state, current.attempt, current.version), (IncidentState::Acting, 1, 2));

    let unknown = store.update_incident(&incident("orders_daily/jr_9", IncidentState::Open)).await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown:?}");
    assert_eq!(store.get_incident("nope").await.unwrap(), None);
}

#[tokio::test]
async fn started_runs_lead_back_to_their_incident_and_open_runs_are_listed() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = DynamoIncidentStore::new(&moto.connection(), "incidents");

    store.link_run("orders_daily", "jr_2", "orders_daily/jr_1").await.unwrap();
    assert_eq!(store.incident_for_run("orders_daily", "jr_2").await.unwrap().as_deref(), Some("orders_daily/jr_1"));
    assert_eq!(store.incident_for_run("orders_daily", "jr_3").await.unwrap(), None);

    store.create_incident(&incident("a/jr_1", IncidentState::Remediating)).await.unwrap();
    store.create_incident(&incident("b/jr_1", IncidentState::Remediating)).await.unwrap();
    store.create_incident(&incident("c/jr_1", IncidentState::Resolved)).await.unwrap();
    let open = store.list_open_runs(10).await.unwrap();
    let mut ids: Vec<String> = open.into_iter().map(|record| record.incident_id).collect();
    ids.sort();
    assert_eq!(ids, vec!["a/jr_1".to_string(), "b/jr_1".to_string()]);
    assert_eq!(store.list_open_runs(1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn starting_entries_are_per_job_fresh_until_cleared_and_stale_when_old() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = DynamoIncidentStore::new(&moto.connection(), "incidents");
    let noted = at("2026-11-29T02:10:00Z");
    let before = noted - Duration::seconds(120);

    assert!(!store.starting_between("orders_daily", before, noted).await.unwrap(), "nothing noted yet");
    store.note_starting("orders_daily", "orders_daily/jr_1", noted).await.unwrap();
    store.note_starting("orders_daily", "orders_daily/jr_2", noted).await.unwrap();
    assert!(store.starting_between("orders_daily", before, noted).await.unwrap());
    assert!(
        !store.starting_between("orders_daily", noted, noted).await.unwrap(),
        "an entry noted at or before `since` is stale"
    );
    assert!(!store.starting_between("customers", before, noted).await.unwrap(), "another job's entries do not count");
    assert!(
        !store.starting_between("orders_daily", before, before).await.unwrap(),
        "entries noted after `until` do not count"
    );

    store.clear_starting("orders_daily", "orders_daily/jr_1").await.unwrap();
    assert!(
        store.starting_between("orders_daily", before, noted).await.unwrap(),
        "one incident of the job is still starting"
    );
    store.clear_starting("orders_daily", "orders_daily/jr_2").await.unwrap();
    assert!(!store.starting_between("orders_daily", before, noted).await.unwrap());
    store.clear_starting("orders_daily", "orders_daily/jr_2").await.unwrap();
}

#[tokio::test]
async fn a_job_budget_is_shared_by_concurrent_workers_per_window() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = Arc::new(DynamoIncidentStore::new(&moto.connection(), "incidents"));
    let now = at("2026-11-29T02:10:00Z");

    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        let step = format!("orders_daily/jr_{worker}/1");
        tasks.push(tokio::spawn(
            async move { store.consume_budget("orders_daily", 3_600, 3, now, &step).await.unwrap() },
        ));
    }
    let mut granted = 0;
    for task in tasks {
        let grant = task.await.unwrap();
        if grant.granted {
            granted += 1;
        } else {
            assert_eq!(grant.used, 3);
        }
    }
    assert_eq!(granted, 3);
    assert_eq!(store.budget_used("orders_daily", 3_600, now).await.unwrap(), 3);
    // The next window has a fresh budget; another job's is separate.
    let next_hour = now + Duration::hours(1);
    assert!(store.consume_budget("orders_daily", 3_600, 3, next_hour, "orders_daily/jr_8/1").await.unwrap().granted);
    assert_eq!(store.budget_used("orders_daily", 3_600, now + Duration::hours(1)).await.unwrap(), 1);
    assert!(store.consume_budget("refunds", 3_600, 3, now, "refunds/jr_1/1").await.unwrap().granted);

    let counters = store.fleet_counters(3_600, now).await.unwrap();
    assert_eq!(counters.actions_in_window, 4, "3 for orders_daily and 1 for refunds in this window");
}

/// A store whose DynamoDB calls go through a proxy that resets the answer
/// of the first `operation` request after DynamoDB carried it out; the
/// SDK then sends the same request again.
fn store_losing_one_answer(moto: &Moto, operation: &str) -> (DynamoIncidentStore, FaultProxy) {
    let plan = FaultPlan {
        rate_by_service: BTreeMap::from([("dynamodb".to_string(), 1.0)]),
        faults: vec![Fault::ResetAfter],
        operations: vec![operation.to_string()],
        seed: 1,
        max_faults: Some(1),
        tripwire: None,
    };
    let proxy = FaultProxy::start(moto.port, plan);
    let connection = AwsConnection::for_endpoint(&ExplicitEndpoint::local(proxy.endpoint_url.clone()));
    (DynamoIncidentStore::new(&connection, "incidents"), proxy)
}

fn answers_lost(proxy: &FaultProxy) -> usize {
    proxy.seen().iter().filter(|request| request.fault == Some(Fault::ResetAfter) && request.forwarded).count()
}

#[tokio::test]
async fn an_update_whose_answer_was_lost_is_recognised_as_the_writers_own() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let direct = DynamoIncidentStore::new(&moto.connection(), "incidents");
    direct.create_incident(&incident("orders_daily/jr_1", IncidentState::Open)).await.unwrap();
    let stored = direct.get_incident("orders_daily/jr_1").await.unwrap().unwrap();

    let (store, proxy) = store_losing_one_answer(&moto, "PutItem");
    let mut acting = stored.clone();
    acting.state = IncidentState::Acting;
    acting.write_token = "update-1".into();
    // The put happens, its answer is reset, the SDK's retry finds version 2:
    // the store reads it back and finds its own token, not someone else's write.
    let updated = store.update_incident(&acting).await.unwrap();
    assert_eq!(answers_lost(&proxy), 1, "the answer of the first attempt was lost");
    assert_eq!((updated.version, updated.state), (2, IncidentState::Acting));
    assert_eq!(direct.get_incident("orders_daily/jr_1").await.unwrap().unwrap(), updated);

    // The same version with another writer's token is still a real conflict.
    let mut late = stored;
    late.state = IncidentState::Escalated;
    late.write_token = "update-2".into();
    let conflict = store.update_incident(&late).await.unwrap_err();
    assert!(conflict.is_conflict() && conflict.to_string().contains("another writer"), "{conflict}");
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_the_creators_own() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let (store, proxy) = store_losing_one_answer(&moto, "PutItem");
    store.create_incident(&incident("orders_daily/jr_1", IncidentState::Open)).await.unwrap();
    assert_eq!(answers_lost(&proxy), 1);
    assert_eq!(store.get_incident("orders_daily/jr_1").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_step_takes_one_budget_unit_even_when_the_grant_is_sent_twice() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let now = at("2026-11-29T02:10:00Z");
    let (store, proxy) = store_losing_one_answer(&moto, "UpdateItem");
    let grant = store.consume_budget("orders_daily", 3_600, 2, now, "orders_daily/jr_1/1").await.unwrap();
    assert_eq!(answers_lost(&proxy), 1);
    assert_eq!((grant.granted, grant.used), (true, 1), "the lost answer's unit is the step's own");
    // The step carried out again after a crash: still its one unit.
    let again = store.consume_budget("orders_daily", 3_600, 2, now, "orders_daily/jr_1/1").await.unwrap();
    assert_eq!((again.granted, again.used), (true, 1));
    assert!(store.consume_budget("orders_daily", 3_600, 2, now, "orders_daily/jr_2/1").await.unwrap().granted);
    let refused = store.consume_budget("orders_daily", 3_600, 2, now, "orders_daily/jr_3/1").await.unwrap();
    assert_eq!((refused.granted, refused.used), (false, 2));
    assert!(store.consume_budget("orders_daily", 3_600, 2, now, "orders_daily/jr_1/1").await.unwrap().granted);
    assert_eq!(store.budget_used("orders_daily", 3_600, now).await.unwrap(), 2);
    assert_eq!(store.fleet_counters(3_600, now).await.unwrap().actions_in_window, 2, "each grant counted once");
}

#[tokio::test]
async fn fleet_counters_count_outcomes_in_the_window_and_the_failure_streak() {
    let moto = Moto::start();
    create_incident_table(&moto, "incidents").await;
    let store = DynamoIncidentStore::new(&moto.connection(), "incidents");
    let now = at("2026-11-29T03:00:00Z");

    store.record_remediation_outcome(true, now - Duration::hours(3)).await.unwrap();
    store.record_remediation_outcome(true, now - Duration::minutes(30)).await.unwrap();
    store.record_remediation_outcome(false, now - Duration::minutes(20)).await.unwrap();
    store.record_remediation_outcome(false, now - Duration::minutes(10)).await.unwrap();

    let counters = store.fleet_counters(3_600, now).await.unwrap();
    assert_eq!(counters.remediations_succeeded_in_window, 1);
    assert_eq!(counters.remediations_failed_in_window, 2);
    assert_eq!(counters.consecutive_failures, 2);
    assert_eq!(counters.actions_in_window, 0);
}
