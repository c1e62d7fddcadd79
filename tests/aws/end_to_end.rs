//! The daemon end to end over real HTTP: Glue state-change events put on
//! EventBridge reach the queue through the real rule, the real worker pool
//! works them on the AWS adapters, and each effect is observed in moto.
//! One moto per test.
//!
//! Run: `cargo test --test aws end_to_end::` (installs the pinned moto on first use).

use crate::support;
use crate::support::estate;

use std::time::Duration;

use etl_medic::core::model::Mode;
use serde_json::json;

use estate::{DATA_BUCKET, Estate, JOB, MAX_RECEIVE_COUNT, metrics_text, run_daemon_until, run_pool_until};

const TRANSIENT: &str = "java.net.SocketTimeoutException: Read timed out while reading s3://lake/raw/orders/";
const OUT_OF_MEMORY: &str = "java.lang.OutOfMemoryError: Java heap space";
const POOL_TIMEOUT: Duration = Duration::from_secs(45);

fn run_ids(runs: &[aws_sdk_glue::types::JobRun]) -> Vec<String> {
    runs.iter().filter_map(|run| run.id.clone()).collect()
}

/// The runs etl-medic started: every run but the ones the test started.
async fn started_by_daemon(estate: &Estate, ours: &[&str]) -> Vec<aws_sdk_glue::types::JobRun> {
    estate.runs().await.into_iter().filter(|run| !ours.contains(&run.id.as_deref().unwrap_or_default())).collect()
}

#[tokio::test]
async fn a_transient_failure_is_retried_waited_on_and_closed_by_the_success_with_mttr() {
    let estate = Estate::new(
        json!({JOB: [
            {"state": "FAILED", "error_message": TRANSIENT},
            {"state": "FAILED", "error_message": TRANSIENT},
            {"state": "SUCCEEDED"}
        ]}),
        30,
    )
    .await;
    let failed_run = estate.start_run(&[("--day", "2026-11-29")]).await;
    estate.put_error_log(&failed_run, &["py4j.protocol.Py4JJavaError", TRANSIENT]).await;
    estate.put_glue_event(&failed_run, "FAILED", TRANSIENT).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    // Round 1: retry with the failed run's arguments.
    let (retried, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() == 2 }).await;
    assert!(retried, "no retry run was started");
    let retry_run = started_by_daemon(&estate, &[&failed_run]).await.remove(0);
    let retry_id = retry_run.id.clone().unwrap();
    assert_eq!(retry_run.arguments.unwrap_or_default().get("--day").map(String::as_str), Some("2026-11-29"));
    assert_eq!(estate.run_state(&retry_id).await.0, "FAILED");

    // The retry failed too: its event continues the incident with a wait, then a rerun.
    estate.put_glue_event(&retry_id, "FAILED", TRANSIENT).await;
    let started = std::time::Instant::now();
    let (rerun, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() == 3 }).await;
    assert!(rerun, "no run after wait_and_retry");
    assert!(started.elapsed() >= Duration::from_secs(2), "the rerun waited for the delay");
    let third_id = run_ids(&started_by_daemon(&estate, &[&failed_run, &retry_id]).await).remove(0);
    assert_eq!(estate.run_state(&third_id).await.0, "SUCCEEDED");

    // Its SUCCEEDED event closes the incident, with MTTR from the first failure.
    estate.put_glue_event(&third_id, "SUCCEEDED", "").await;
    let (closed, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        metrics_text(&registry).contains("etl_medic_mttr_seconds_count{class=\"transient_infra\"} 1")
    })
    .await;
    assert!(closed, "MTTR never recorded:\n{}", metrics_text(&registry));
    let (port, stop_http) = estate::serve_metrics(&registry).await;
    let (status, metrics) = tokio::task::spawn_blocking(move || support::http_request(port, "GET", "/metrics", None))
        .await
        .unwrap()
        .unwrap();
    stop_http.cancel();
    assert_eq!(status, 200);
    assert!(metrics.contains("etl_medic_mttr_seconds_count{class=\"transient_infra\"} 1"), "{metrics}");
    assert!(metrics.contains("outcome=\"resolved\""), "{metrics}");
    assert!(
        metrics.contains("etl_medic_remediations_total{action=\"wait_and_retry\",outcome=\"success\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("etl_medic_remediations_total{action=\"retry\",outcome=\"failure\"} 1"), "{metrics}");
    assert_eq!(estate.depth(&estate.queue_url).await, (0, 0), "every message deleted");

    // The audit trail: every stage, every object JSON, in the incident's folder.
    let records = estate.audit_records().await;
    let incident_keys: Vec<&String> =
        records.keys().filter(|key| key.contains(&format!("/{JOB}/{failed_run}/"))).collect();
    for stage in ["intake", "request", "decision", "permit", "execution", "validation", "closed"] {
        assert!(
            incident_keys.iter().any(|key| key.ends_with(&format!("-{stage}.json"))),
            "no {stage} record in {incident_keys:?}"
        );
    }
    let request = records.iter().find(|(key, _)| key.ends_with("-request.json")).map(|(_, value)| value).unwrap();
    assert!(request.to_string().contains(TRANSIENT.split(':').next().unwrap()), "the request carries the evidence");
}

#[tokio::test]
async fn an_out_of_memory_failure_reruns_with_more_workers() {
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": OUT_OF_MEMORY}]}), 30).await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_error_log(&failed_run, &[OUT_OF_MEMORY]).await;
    estate.put_glue_event(&failed_run, "FAILED", OUT_OF_MEMORY).await;
    let (daemon, _registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (started, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() == 2 }).await;
    assert!(started, "no capacity rerun");
    let rerun = started_by_daemon(&estate, &[&failed_run]).await.remove(0);
    let workers = rerun.number_of_workers.unwrap_or_default();
    assert!(workers > 2 && workers <= 40, "workers {workers}: more than the failed run's 2, within the job's ceiling");
    assert_eq!(
        rerun.arguments.unwrap_or_default().get("--source_path").map(String::as_str),
        Some("s3://lake/raw/orders/")
    );
}

const DRIFT_ERROR: &str = "AnalysisException: cannot resolve 'amount' given input columns; column amount type mismatch: expected double, found string";

/// sales.orders with `amount` double (version 1), a good run, then `amount`
/// string (version 2) and the run that failed on it, with its event put.
async fn drifted_orders(estate: &Estate, glue: &aws_sdk_glue::Client) -> String {
    let drift_error = DRIFT_ERROR;
    glue.create_database()
        .database_input(aws_sdk_glue::types::DatabaseInput::builder().name("sales").build().unwrap())
        .send()
        .await
        .unwrap();
    let table_input = |amount_type: &str| {
        let column = |name: &str, data_type: &str| {
            aws_sdk_glue::types::Column::builder().name(name).r#type(data_type).build().unwrap()
        };
        aws_sdk_glue::types::TableInput::builder()
            .name("orders")
            .storage_descriptor(
                aws_sdk_glue::types::StorageDescriptor::builder()
                    .columns(column("id", "bigint"))
                    .columns(column("amount", amount_type))
                    .build(),
            )
            .build()
            .unwrap()
    };
    glue.create_table().database_name("sales").table_input(table_input("double")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let good_run = estate.start_run(&[]).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    glue.update_table().database_name("sales").table_input(table_input("string")).send().await.unwrap();
    let failed_run = estate.start_run(&[]).await;
    assert_eq!(estate.run_state(&good_run).await.0, "SUCCEEDED");
    estate.put_error_log(&failed_run, &[drift_error]).await;
    estate.put_glue_event(&failed_run, "FAILED", drift_error).await;
    failed_run
}

#[tokio::test]
async fn a_breaking_schema_change_is_rolled_back_to_the_version_that_worked() {
    let estate =
        Estate::new(json!({JOB: [{"state": "SUCCEEDED"}, {"state": "FAILED", "error_message": DRIFT_ERROR}]}), 30)
            .await;
    let glue = aws_sdk_glue::Client::new(&estate.config);
    drifted_orders(&estate, &glue).await;
    let (daemon, _registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (rerun, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() == 3 }).await;
    assert!(rerun, "no rerun after the rollback");
    let table = glue.get_table().database_name("sales").name("orders").send().await.unwrap().table.unwrap();
    let columns = table.storage_descriptor.unwrap().columns.unwrap();
    assert_eq!(columns[1].r#type.as_deref(), Some("double"), "GetTable shows the old column type");
    assert_eq!(table.version_id.as_deref(), Some("3"), "the rollback is a new version, guarded on version 2");
}

#[tokio::test]
async fn bad_records_named_by_the_error_are_moved_to_quarantine_before_the_rerun() {
    let bad_object = format!("s3://{DATA_BUCKET}/raw/orders/part-0007.json");
    let error = format!("Malformed records found in file {bad_object}: JSON parse error at line 12");
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": error}]}), 30).await;
    let s3 = estate.moto.s3_setup_client();
    for index in 0..40 {
        let key = format!("raw/orders/part-{index:04}.json");
        s3.put_object().bucket(DATA_BUCKET).key(key).body(b"{}".to_vec().into()).send().await.unwrap();
    }
    let failed_run = estate.start_run(&[]).await;
    estate.put_error_log(&failed_run, &[&error]).await;
    estate.put_glue_event(&failed_run, "FAILED", &error).await;
    let (daemon, _registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (rerun, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() == 2 }).await;
    assert!(rerun, "no rerun after quarantine; audit: {:?}", estate.audit_records().await.keys().collect::<Vec<_>>());
    let original = s3.get_object().bucket(DATA_BUCKET).key("raw/orders/part-0007.json").send().await;
    assert!(original.is_err(), "the bad object left the input");
    let listed = s3.list_objects_v2().bucket(DATA_BUCKET).prefix("etl-medic-quarantine/").send().await.unwrap();
    let moved: Vec<String> = listed.contents.unwrap_or_default().into_iter().filter_map(|object| object.key).collect();
    assert_eq!(moved, vec!["etl-medic-quarantine/raw/orders/part-0007.json".to_string()]);
    let remaining =
        s3.list_objects_v2().bucket(DATA_BUCKET).prefix("raw/orders/").send().await.unwrap().key_count.unwrap_or(0);
    assert_eq!(remaining, 39, "only the named object moved");
}

#[tokio::test]
async fn a_permission_failure_is_escalated_with_its_evidence_to_the_subscribed_queue() {
    let denied = "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied";
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": denied}]}), 30).await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_error_log(&failed_run, &[denied]).await;
    estate.put_glue_event(&failed_run, "FAILED", denied).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (escalated, _) =
        run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.depth(&estate.oncall_url).await.0 >= 1 }).await;
    assert!(escalated, "nothing reached the on-call queue");
    assert_eq!(estate.runs().await.len(), 1, "an escalation starts no run");
    let sqs = aws_sdk_sqs::Client::new(&estate.config);
    let received = sqs.receive_message().queue_url(&estate.oncall_url).send().await.unwrap().messages.unwrap();
    let envelope: serde_json::Value = serde_json::from_str(received[0].body.as_deref().unwrap()).unwrap();
    let escalation: serde_json::Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(escalation["packet"]["run_id"], failed_run.as_str());
    assert!(escalation["packet"]["log_excerpt"].to_string().contains("Access Denied"));
    assert!(metrics_text(&registry).contains("etl_medic_escalations_total{class=\"permission_config\"} 1"));
}

#[tokio::test]
async fn a_failure_glue_will_retry_itself_is_only_logged_and_nothing_races_it() {
    // MaxRetries 1 and the failed run is Glue's attempt 0: Glue reruns it.
    let estate =
        Estate::with_glue_max_retries(json!({JOB: [{"state": "FAILED", "error_message": TRANSIENT}]}), 30, 1).await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_glue_event(&failed_run, "FAILED", TRANSIENT).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (recorded, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        metrics_text(&registry).contains("action=\"log_and_wait\"") && estate.depth(&estate.queue_url).await == (0, 0)
    })
    .await;
    assert!(recorded, "{}", metrics_text(&registry));
    assert_eq!(run_ids(&estate.runs().await), vec![failed_run.clone()], "no run started beside Glue's own retry");
    assert_eq!(estate.depth(&estate.oncall_url).await.0, 0, "nobody paged");
    assert!(metrics_text(&registry).contains("etl_medic_safety_replacements_total{rule=\"glue_retry_pending\"} 1"));
}

#[tokio::test]
async fn shadow_mode_records_the_decision_and_changes_nothing() {
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": OUT_OF_MEMORY}]}), 30).await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_glue_event(&failed_run, "FAILED", OUT_OF_MEMORY).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Shadow));

    let (recorded, _) =
        run_pool_until(&daemon, POOL_TIMEOUT, || async { metrics_text(&registry).contains("outcome=\"shadowed\"") })
            .await;
    assert!(recorded, "{}", metrics_text(&registry));
    assert_eq!(run_ids(&estate.runs().await), vec![failed_run.clone()], "no run started");
    assert_eq!(estate.depth(&estate.oncall_url).await.0, 0, "no escalation sent");
    let records = estate.audit_records().await;
    let execution = records.iter().find(|(key, _)| key.ends_with("-execution.json")).map(|(_, value)| value).unwrap();
    assert!(execution.to_string().contains("\"shadow\":true"), "{execution}");
    assert!(execution.to_string().contains("retry_with_more_capacity"), "the would-be action is recorded: {execution}");
}

#[tokio::test]
async fn shadow_mode_leaves_the_catalog_and_the_data_as_they_were() {
    // A breaking schema change and a bad object named by a second failure:
    // in auto mode these would roll the table back and move the object.
    let bad_object = format!("s3://{DATA_BUCKET}/raw/orders/part-0007.json");
    let malformed = format!("Malformed records found in file {bad_object}: JSON parse error at line 12");
    let estate = Estate::new(
        json!({JOB: [{"state": "SUCCEEDED"}, {"state": "FAILED", "error_message": DRIFT_ERROR}, {"state": "FAILED", "error_message": malformed}]}),
        30,
    )
    .await;
    let glue = aws_sdk_glue::Client::new(&estate.config);
    drifted_orders(&estate, &glue).await;
    let s3 = estate.moto.s3_setup_client();
    for index in 0..40 {
        let key = format!("raw/orders/part-{index:04}.json");
        s3.put_object().bucket(DATA_BUCKET).key(key).body(b"{}".to_vec().into()).send().await.unwrap();
    }
    let second_failure = estate.start_run(&[]).await;
    estate.put_error_log(&second_failure, &[&malformed]).await;
    estate.put_glue_event(&second_failure, "FAILED", &malformed).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Shadow));

    let (recorded, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        let text = metrics_text(&registry);
        text.contains("action=\"rollback_schema\"") && text.contains("action=\"quarantine_bad_records\"")
    })
    .await;
    assert!(recorded, "both would-be actions are recorded: {}", metrics_text(&registry));
    let table = glue.get_table().database_name("sales").name("orders").send().await.unwrap().table.unwrap();
    assert_eq!(table.version_id.as_deref(), Some("2"), "no new table version");
    assert_eq!(table.storage_descriptor.unwrap().columns.unwrap()[1].r#type.as_deref(), Some("string"));
    let quarantined = s3
        .list_objects_v2()
        .bucket(DATA_BUCKET)
        .prefix("etl-medic-quarantine/")
        .send()
        .await
        .unwrap()
        .key_count
        .unwrap_or(0);
    assert_eq!(quarantined, 0, "nothing moved to quarantine");
    let remaining =
        s3.list_objects_v2().bucket(DATA_BUCKET).prefix("raw/orders/").send().await.unwrap().key_count.unwrap_or(0);
    assert_eq!(remaining, 40, "every input object stays");
    assert_eq!(estate.runs().await.len(), 3, "no run started");
    assert_eq!(estate.depth(&estate.oncall_url).await.0, 0, "no escalation sent");
}

#[tokio::test]
async fn the_same_event_delivered_three_times_starts_one_run() {
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": TRANSIENT}]}), 30).await;
    let failed_run = estate.start_run(&[]).await;
    for _ in 0..3 {
        estate.put_glue_event(&failed_run, "FAILED", TRANSIENT).await;
    }
    let (daemon, registry) = estate.daemon(estate.settings(8), estate.safety(Mode::Auto));

    let (settled, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        estate.depth(&estate.queue_url).await == (0, 0) && estate.runs().await.len() >= 2
    })
    .await;
    assert!(settled, "messages left: {:?}", estate.depth(&estate.queue_url).await);
    assert_eq!(estate.runs().await.len(), 2, "exactly one StartJobRun for three deliveries");
    assert!(metrics_text(&registry).contains("etl_medic_messages_received_total 3"));
}

#[tokio::test]
async fn a_malformed_message_reaches_the_dlq_while_the_worker_keeps_going() {
    // A short queue visibility so the untouched poison message comes back quickly.
    let estate = Estate::new(json!({JOB: [{"state": "FAILED", "error_message": OUT_OF_MEMORY}]}), 1).await;
    estate.send_raw("this is not json").await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_glue_event(&failed_run, "FAILED", OUT_OF_MEMORY).await;
    let (daemon, registry) = estate.daemon(estate.settings(4), estate.safety(Mode::Auto));

    let (moved, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        estate.depth(&estate.dlq_url).await.0 == 1 && estate.runs().await.len() == 2
    })
    .await;
    assert!(moved, "dlq {:?}, runs {}", estate.depth(&estate.dlq_url).await, estate.runs().await.len());
    let metrics = metrics_text(&registry);
    let poison_line =
        metrics.lines().find(|line| line.starts_with("etl_medic_poison_messages_total{reason=\"not_json\"}")).unwrap();
    let poison_count: u32 = poison_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(poison_count, MAX_RECEIVE_COUNT, "seen once per receive until the redrive");
    let records = estate.audit_records().await;
    assert!(records.keys().any(|key| key.contains("poison/")), "poison deliveries are audited");
}

#[tokio::test]
async fn shutting_down_during_work_loses_no_message() {
    let failures: Vec<serde_json::Value> =
        (0..6).map(|_| json!({"state": "FAILED", "error_message": OUT_OF_MEMORY})).collect();
    let estate = Estate::new(json!({JOB: failures}), 30).await;
    let mut failed_runs = Vec::new();
    for _ in 0..6 {
        let run = estate.start_run(&[]).await;
        estate.put_glue_event(&run, "FAILED", OUT_OF_MEMORY).await;
        failed_runs.push(run);
    }
    let (daemon, _registry) = estate.daemon(estate.settings(2), estate.safety(Mode::Auto));

    // Stop (as on SIGTERM) as soon as the first remediation run exists.
    let (interrupted, report) = run_pool_until(&daemon, POOL_TIMEOUT, || async { estate.runs().await.len() > 6 }).await;
    assert!(interrupted);
    assert_eq!(report.abandoned, 0, "running handlers finished within the grace");
    let after_stop = estate.runs().await.len() - 6;
    assert!(after_stop < 6, "the shutdown came before all the work was done ({after_stop} runs)");
    let (visible, in_flight) = estate.depth(&estate.queue_url).await;
    assert_eq!(in_flight, 0, "unstarted messages were given back at once");
    assert!(visible >= 1, "the unworked messages are back on the queue");

    // A new pool finishes the rest: one remediation run per failure, no more.
    let (daemon, _registry) = estate.daemon(estate.settings(2), estate.safety(Mode::Auto));
    let (finished, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        estate.depth(&estate.queue_url).await == (0, 0) && estate.runs().await.len() >= 12
    })
    .await;
    assert!(finished, "queue {:?}, runs {}", estate.depth(&estate.queue_url).await, estate.runs().await.len());
    assert_eq!(estate.runs().await.len(), 12, "each failure remediated exactly once");
}

#[tokio::test]
async fn the_reconciler_closes_an_incident_whose_success_event_never_came() {
    let estate =
        Estate::new(json!({JOB: [{"state": "FAILED", "error_message": OUT_OF_MEMORY}, {"state": "SUCCEEDED"}]}), 30)
            .await;
    let failed_run = estate.start_run(&[]).await;
    estate.put_glue_event(&failed_run, "FAILED", OUT_OF_MEMORY).await;
    let mut settings = estate.settings(4);
    settings.incidents.reconcile_interval_secs = 1;
    settings.incidents.reconcile_after_secs = 0;
    settings.queue.depth_poll_secs = 1;
    let (daemon, registry) = estate.daemon(settings, estate.safety(Mode::Auto));

    // No SUCCEEDED event is ever put: GetJobRun polling has to find it.
    let (closed, _) = run_daemon_until(daemon, POOL_TIMEOUT, || async {
        metrics_text(&registry).contains("etl_medic_mttr_seconds_count{class=\"resource_exhaustion\"} 1")
    })
    .await;
    assert!(closed, "{}", metrics_text(&registry));
    assert_eq!(estate.runs().await.len(), 2, "the replay started nothing new");
    let metrics = metrics_text(&registry);
    assert!(metrics.contains("etl_medic_queue_messages{queue=\"dlq\",state=\"visible\"} 0"), "{metrics}");
    let records = estate.audit_records().await;
    let validation = records.iter().find(|(key, _)| key.ends_with("-validation.json")).map(|(_, value)| value).unwrap();
    assert!(validation.to_string().contains("\"remediated\":true"), "{validation}");
}

#[tokio::test]
async fn a_run_started_with_its_marker_is_found_after_a_restart_and_validated() {
    use etl_medic::adapters::aws::DynamoIncidentStore;
    use etl_medic::core::model::Action;
    use etl_medic::ports::{ActionStep, IncidentState, IncidentStore, RUN_MARKER_ARGUMENT};

    let estate =
        Estate::new(json!({JOB: [{"state": "FAILED", "error_message": TRANSIENT}, {"state": "SUCCEEDED"}]}), 30).await;
    let failed_run = estate.start_run(&[("--day", "2026-11-29")]).await;
    estate.put_glue_event(&failed_run, "FAILED", TRANSIENT).await;
    // What a daemon killed right after StartJobRun leaves behind: its marked
    // run in Glue, and the incident `acting` on that step, ten minutes ago.
    let incident_id = format!("{JOB}/{failed_run}");
    let token = format!("{incident_id}/1");
    let marked_run = estate.start_run(&[("--day", "2026-11-29"), (RUN_MARKER_ARGUMENT, &token)]).await;
    let store = DynamoIncidentStore::new(&estate.moto.connection(), estate::TABLE);
    let then = etl_medic::ports::Clock::now(&etl_medic::ports::SystemClock) - chrono::Duration::minutes(10);
    let mut record = etl_medic::daemon::incident::new_record(&incident_id, JOB, &failed_run, then, "dead", then);
    store.create_incident(&record).await.unwrap();
    record.state = IncidentState::Acting;
    record.updated_at = then;
    record.step = Some(ActionStep {
        number: 1,
        token: token.clone(),
        action: Action::Retry {},
        begun_at: then,
        request_key: "audit/the-dead-daemon's-request.json".to_string(),
        tries: 1,
        handed_over: false,
    });
    store.update_incident(&record).await.unwrap();

    // A restarted daemon finds the run by its marker instead of paging anyone.
    let (daemon, registry) = estate.daemon(estate.settings(2), estate.safety(Mode::Auto));
    let state = || async { store.get_incident(&incident_id).await.unwrap().map(|record| record.state) };
    let (adopted, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        matches!(state().await, Some(IncidentState::Remediating | IncidentState::Resolved))
    })
    .await;
    assert!(adopted, "{:?}", store.get_incident(&incident_id).await.unwrap());
    let record = store.get_incident(&incident_id).await.unwrap().unwrap();
    assert_eq!(record.current_run_id.as_deref(), Some(marked_run.as_str()), "the marked run is the step's");
    estate.put_glue_event(&marked_run, "SUCCEEDED", "").await;
    // Until the queue is empty too: the run's event can arrive twice (the
    // settler replays the event of a run that has already ended, and the
    // test sends it), and the copy handled second must change nothing.
    let (resolved, _) = run_pool_until(&daemon, POOL_TIMEOUT, || async {
        state().await == Some(IncidentState::Resolved) && estate.depth(&estate.queue_url).await == (0, 0)
    })
    .await;
    assert!(resolved, "{:?}\n{}", store.get_incident(&incident_id).await.unwrap(), metrics_text(&registry));
    assert_eq!(estate.runs().await.len(), 2, "no second run was started");
    assert_eq!(estate.depth(&estate.oncall_url).await, (0, 0), "nobody was paged");
    assert_eq!(estate.depth(&estate.queue_url).await, (0, 0));
}
