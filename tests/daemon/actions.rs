//! Each action kind, end to end on the in-memory estate: a Glue failure
//! event goes in through the queue and the real worker pool, and the right
//! effect is observed in the adapters (a new job run with the right
//! arguments and capacity, the old columns after a rollback, objects moved
//! after a quarantine, a packet sent after an escalation); shadow mode
//! changes nothing.

use crate::support::harness as daemon_support;

use daemon_support::Harness;
use etl_medic::core::model::{ActionKind, Mode};
use etl_medic::ports::IncidentState;

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_retried_with_the_failed_runs_arguments() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "An error occurred while calling o112.pyWriteDynamicFrame. Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[("--day", "2026-11-28")],
    );
    harness.estate.queue.push(body);
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "a run was started; incidents: {:?}", harness.estate.incidents.incidents());
    let started = harness.estate.job_control.started_requests();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].arguments.get("--day").map(String::as_str), Some("2026-11-28"));
    assert_eq!(started[0].number_of_workers, None, "a plain retry keeps the job's capacity");
    let incident = &harness.estate.incidents.incidents()[0];
    assert_eq!(incident.state, IncidentState::Remediating);
    assert_eq!(incident.actions_taken, vec![ActionKind::Retry]);
    assert!(harness.estate.queue.is_empty(), "the message was deleted once the run was recorded");
}

#[tokio::test(start_paused = true)]
async fn an_out_of_memory_failure_is_rerun_with_more_workers() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Command failed with exit code 137",
        &[
            "java.lang.OutOfMemoryError: Java heap space",
            "Container killed by YARN for exceeding memory limits. 5.5 GB of 5.5 GB physical memory used.",
        ],
        &[],
    );
    harness.estate.queue.push(body);
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    let started = &harness.estate.job_control.started_requests()[0];
    let workers = started.number_of_workers.expect("capacity override");
    assert!(workers > 10 && workers <= 40, "more workers, within the job's max_workers: {workers}");
    assert_eq!(started.worker_type.as_deref(), Some("G.1X"));
}

fn orders_columns(amount: &str) -> Vec<etl_medic::core::evidence::Column> {
    use etl_medic::core::evidence::Column;
    vec![
        Column { name: "id".into(), data_type: "bigint".into() },
        Column { name: "amount".into(), data_type: amount.into() },
    ]
}

/// sales.orders at version 4 (amount turned string), a good run on version
/// 3 before it, and the failure the drift caused; returns the event body.
pub fn drifted_orders(harness: &Harness) -> String {
    use etl_medic::core::evidence::TableVersion;
    let columns = orders_columns;
    harness.estate.catalog.put_table(
        "sales",
        "orders",
        vec![
            TableVersion {
                version_id: "4".into(),
                updated_at: Some("2026-11-29T01:10:00Z".into()),
                columns: columns("string"),
            },
            TableVersion {
                version_id: "3".into(),
                updated_at: Some("2026-11-20T09:00:00Z".into()),
                columns: columns("double"),
            },
        ],
        None,
    );
    // A successful run before the drift makes version 3 the known-good one.
    harness.estate.job_control.put_run(etl_medic::ports::JobRun {
        id: "jr_0".into(),
        job_name: "orders_daily".into(),
        state: etl_medic::core::event::JobRunState::Succeeded,
        arguments: Default::default(),
        error_message: None,
        worker_type: Some("G.1X".into()),
        number_of_workers: Some(10),
        execution_time_s: Some(290),
        timeout_minutes: Some(60),
        started_on: Some(daemon_support::at("2026-11-28T02:00:00Z")),
        completed_on: Some(daemon_support::at("2026-11-28T02:05:00Z")),
        attempt: 0,
        previous_run_id: None,
    });
    harness.failed_run(
        "orders_daily",
        "jr_1",
        "AnalysisException: cannot resolve 'CAST(amount AS DOUBLE)' due to data type mismatch: column amount type changed",
        &["org.apache.spark.sql.AnalysisException: Parquet column cannot be converted in file s3://lake/raw/orders/part-0001.parquet. Column: [amount], Expected: double, Found: BINARY"],
        &[],
    )
}

#[tokio::test(start_paused = true)]
async fn breaking_schema_drift_rolls_the_table_back_then_reruns() {
    use etl_medic::ports::Catalog;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = drifted_orders(&harness);
    harness.estate.queue.push(body);
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    let table = harness.estate.catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(table.columns[1].data_type, "double", "the old column type is back");
    assert_eq!(table.version_id.as_deref(), Some("5"), "the rollback is a new version");
}

/// The catalog as someone else sees it: right after etl-medic read the
/// versions, a person ships a fix as version 5.
struct FixedAfterTheLook {
    inner: std::sync::Arc<etl_medic::adapters::memory::MemoryCatalog>,
}

#[async_trait::async_trait]
impl etl_medic::ports::Catalog for FixedAfterTheLook {
    async fn get_table(
        &self,
        database: &str,
        table: &str,
    ) -> Result<etl_medic::ports::CatalogTable, etl_medic::ports::PortError> {
        self.inner.get_table(database, table).await
    }
    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<etl_medic::core::evidence::TableVersion>, etl_medic::ports::PortError> {
        use etl_medic::core::evidence::TableVersion;
        let seen = self.inner.get_table_versions(database, table, max_versions).await?;
        let mut now = vec![TableVersion {
            version_id: "5".into(),
            updated_at: Some("2026-11-29T02:06:00Z".into()),
            columns: orders_columns("decimal(12,2)"),
        }];
        now.extend(seen.iter().cloned());
        self.inner.put_table(database, table, now, None);
        Ok(seen)
    }
    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<etl_medic::ports::RollbackOutcome, etl_medic::ports::PortError> {
        self.inner.rollback_to_version(database, table, version_id, expected_current_version).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_never_overwrites_a_schema_change_made_after_the_decision() {
    use etl_medic::ports::Catalog;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = drifted_orders(&harness);
    harness.estate.queue.push(body);
    let mut ports = harness.estate.ports();
    ports.catalog = std::sync::Arc::new(FixedAfterTheLook { inner: harness.estate.catalog.clone() });
    harness.run_pool_on_until(ports, 30, |harness| !harness.estate.notifier.published().is_empty()).await;
    let published = harness.estate.notifier.published();
    assert_eq!(published.len(), 1, "the refused rollback goes to a person");
    let packet = format!("{:?}", published[0].packet);
    assert!(packet.contains("changed after the decision"), "{packet}");
    let table = harness.estate.catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(table.version_id.as_deref(), Some("5"), "the person's version 5 stands");
    assert_eq!(table.columns[1].data_type, "decimal(12,2)");
    assert!(harness.estate.job_control.started_requests().is_empty(), "no rerun on a refused rollback");
}

/// S3 that refuses to move one key (a bucket policy, an outage).
struct RefusesOneMove {
    inner: std::sync::Arc<etl_medic::adapters::memory::MemoryObjectStore>,
    refused_key: &'static str,
}

#[async_trait::async_trait]
impl etl_medic::ports::ObjectStore for RefusesOneMove {
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), etl_medic::ports::PortError> {
        self.inner.put_object(bucket, key, body, content_type).await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, etl_medic::ports::PortError> {
        self.inner.get_object(bucket, key).await
    }
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        max_keys: u32,
    ) -> Result<Vec<etl_medic::ports::ObjectSummary>, etl_medic::ports::PortError> {
        self.inner.list_objects(bucket, prefix, max_keys).await
    }
    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), etl_medic::ports::PortError> {
        if from_key == self.refused_key {
            return Err(etl_medic::ports::PortError::rejected(etl_medic::ports::Operation::CopyObject, "AccessDenied"));
        }
        self.inner.move_object(bucket, from_key, to_key).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_quarantine_that_fails_halfway_puts_back_what_it_moved_and_goes_to_a_person() {
    use etl_medic::ports::ObjectStore;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    for part in 7..47 {
        let key = format!("raw/orders/2026-11-28/part-{part:04}.json");
        harness.estate.objects.put_object("lake", &key, b"{}".to_vec(), "application/json").await.unwrap();
    }
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Malformed records are detected in record parsing. Parse Mode: FAILFAST. Files: s3://lake/raw/orders/2026-11-28/part-0007.json, s3://lake/raw/orders/2026-11-28/part-0008.json",
        &[
            "org.apache.spark.SparkException: Malformed records are detected in record parsing: s3://lake/raw/orders/2026-11-28/part-0007.json",
            "org.apache.spark.SparkException: Malformed records are detected in record parsing: s3://lake/raw/orders/2026-11-28/part-0008.json",
        ],
        &[("--source_path", "s3://lake/raw/orders/2026-11-28/")],
    );
    harness.estate.queue.push(body);
    let mut ports = harness.estate.ports();
    ports.objects = std::sync::Arc::new(RefusesOneMove {
        inner: harness.estate.objects.clone(),
        refused_key: "raw/orders/2026-11-28/part-0008.json",
    });
    harness.run_pool_on_until(ports, 30, |harness| !harness.estate.notifier.published().is_empty()).await;
    let executions: Vec<String> = harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == "execution")
        .map(|(_, record)| record["body"].to_string())
        .collect();
    assert!(
        executions.iter().any(|body| body.contains("AccessDenied")),
        "the move was tried and refused: {executions:?}"
    );
    let keys: Vec<String> = harness.estate.objects.objects_under("lake", "").into_iter().map(|(key, _)| key).collect();
    assert!(
        keys.contains(&"raw/orders/2026-11-28/part-0007.json".to_string()),
        "the object moved first is back in the input: {keys:?}"
    );
    assert!(keys.iter().all(|key| key.starts_with("raw/")), "nothing is left in quarantine: {keys:?}");
    let decided: String = harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == "decision")
        .map(|(_, record)| record["body"]["action"].to_string())
        .collect();
    assert!(decided.contains("part-0007.json") && decided.contains("part-0008.json"), "the plan moves both: {decided}");
    assert!(
        decided.find("part-0007") < decided.find("part-0008"),
        "part-0007 is moved before part-0008 fails: {decided}"
    );
    assert_eq!(harness.estate.notifier.published().len(), 1, "a person takes over");
    assert!(harness.estate.job_control.started_requests().is_empty(), "no rerun on a failed quarantine");
}

#[tokio::test(start_paused = true)]
async fn bad_records_named_in_the_error_are_moved_to_quarantine_then_rerun() {
    use etl_medic::ports::ObjectStore;
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness
        .estate
        .objects
        .put_object("lake", "raw/orders/2026-11-28/part-0007.json", b"{bad".to_vec(), "application/json")
        .await
        .unwrap();
    // Quarantine may move only a small fraction of the input: 1 object of 30.
    for part in 8..37 {
        let key = format!("raw/orders/2026-11-28/part-{part:04}.json");
        harness.estate.objects.put_object("lake", &key, b"{}".to_vec(), "application/json").await.unwrap();
    }
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Malformed records are detected in record parsing. Parse Mode: FAILFAST. File: s3://lake/raw/orders/2026-11-28/part-0007.json",
        &["org.apache.spark.SparkException: Malformed records are detected in record parsing: s3://lake/raw/orders/2026-11-28/part-0007.json"],
        &[("--source_path", "s3://lake/raw/orders/2026-11-28/")],
    );
    harness.estate.queue.push(body);
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    let lake = harness.estate.objects.objects_under("lake", "");
    let keys: Vec<&str> = lake.iter().map(|(key, _)| key.as_str()).collect();
    assert!(!keys.contains(&"raw/orders/2026-11-28/part-0007.json"), "the bad object left the input: {keys:?}");
    assert!(
        keys.iter().any(|key| key.ends_with("raw/orders/2026-11-28/part-0007.json") && !key.starts_with("raw/")),
        "{keys:?}"
    );
    assert!(keys.contains(&"raw/orders/2026-11-28/part-0008.json"), "good objects stay");
}

#[tokio::test(start_paused = true)]
async fn a_code_bug_is_escalated_with_its_evidence_and_nothing_runs() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "NameError: name 'spark_sesion' is not defined",
        &[
            "Traceback (most recent call last):",
            "  File \"/tmp/orders.py\", line 12, in <module>",
            "NameError: name 'spark_sesion' is not defined",
        ],
        &[],
    );
    harness.estate.queue.push(body);
    let (reached, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    let escalation = &harness.estate.notifier.published()[0];
    assert_eq!(escalation.packet.job_name, "orders_daily");
    assert_eq!(escalation.packet.diagnosis["class"], "code_bug");
    assert!(escalation.packet.log_excerpt.iter().any(|line| line.contains("NameError")));
    assert!(escalation.packet.audit_prefix.starts_with("s3://etl-medic-audit/audit/2026/11/29/orders_daily/jr_1/"));
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert_eq!(harness.estate.incidents.incidents()[0].state, IncidentState::Escalated);
    assert!(harness.metrics_text().contains("etl_medic_escalations_total{class=\"code_bug\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn a_late_source_waits_on_the_message_then_reruns() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "AnalysisException: Path does not exist: s3://lake/raw/orders/2026-11-29/",
        &["pyspark.sql.utils.AnalysisException: Path does not exist: s3://lake/raw/orders/2026-11-29/"],
        &[],
    );
    harness.estate.queue.push(body);
    let (waiting, _) = harness
        .run_pool_until(30, |harness| {
            harness
                .estate
                .incidents
                .incidents()
                .first()
                .is_some_and(|incident| incident.state == IncidentState::Waiting)
        })
        .await;
    assert!(waiting, "decisions: {:?}", harness.decisions());
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing runs during the wait");
    assert_eq!(harness.estate.queue.len(), 1, "the wait is carried by the message, not a task");
    let wait_until = harness.estate.incidents.incidents()[0].wait_until.expect("a due time");
    let delay = (wait_until - etl_medic::ports::Clock::now(harness.clock.as_ref())).num_seconds();
    assert!(delay > 0);
    harness.clock.advance(chrono::Duration::seconds(delay));
    let (reached, _) = harness
        .run_pool_until(delay as u64 + 60, |harness| !harness.estate.job_control.started_requests().is_empty())
        .await;
    assert!(reached, "the rerun starts once the message comes back: {:?}", harness.decisions());
    assert_eq!(harness.estate.incidents.incidents()[0].actions_taken, vec![ActionKind::WaitAndRetry]);
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_records_the_would_be_action_and_touches_nothing() {
    let harness = Harness::new(Mode::Shadow);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[],
    );
    harness.estate.queue.push(body);
    let (reached, _) = harness
        .run_pool_until(30, |harness| {
            harness
                .estate
                .incidents
                .incidents()
                .first()
                .is_some_and(|incident| incident.state == IncidentState::Shadowed)
        })
        .await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert!(harness.estate.notifier.published().is_empty());
    let execution = harness
        .audit_records()
        .into_iter()
        .find(|(_, record)| record["stage"] == "execution")
        .expect("an execution record");
    assert_eq!(execution.1["body"]["shadow"], true);
    assert_eq!(execution.1["body"]["would_do"]["kind"], "retry");
    assert!(harness.metrics_text().contains("outcome=\"shadowed\""));
}

#[tokio::test(start_paused = true)]
async fn a_quarantine_outside_the_allowed_prefixes_moves_nothing_and_escalates() {
    use etl_medic::ports::ObjectStore;
    let mut settings = daemon_support::settings();
    settings.quarantine.allowed_prefixes = vec!["s3://other-bucket/".to_string()];
    let harness = Harness::with(settings, daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    for part in 7..37 {
        let key = format!("raw/orders/2026-11-28/part-{part:04}.json");
        harness.estate.objects.put_object("lake", &key, b"{}".to_vec(), "application/json").await.unwrap();
    }
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Malformed records are detected in record parsing. Parse Mode: FAILFAST. File: s3://lake/raw/orders/2026-11-28/part-0007.json",
        &["org.apache.spark.SparkException: Malformed records are detected in record parsing: s3://lake/raw/orders/2026-11-28/part-0007.json"],
        &[("--source_path", "s3://lake/raw/orders/2026-11-28/")],
    );
    harness.estate.queue.push(body);
    let (escalated, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(escalated, "decisions: {:?}", harness.decisions());
    assert_eq!(harness.estate.objects.objects_under("lake", "raw/").len(), 30, "nothing moved");
    assert!(harness.estate.job_control.started_requests().is_empty());
    let packet = &harness.estate.notifier.published()[0].packet;
    assert!(packet.blocked_because.as_deref().unwrap_or_default().contains("allowed quarantine prefix"), "{packet:?}");
    assert_eq!(packet.tried, vec!["quarantine_bad_records".to_string()]);
}

/// The executor's own bound compares buckets, not text: an allowed prefix
/// written `s3://lake` (refused at start-up, here set past the check) does
/// not admit objects of the bucket `lakehouse`.
#[tokio::test(start_paused = true)]
async fn the_executor_compares_allowed_prefixes_by_bucket_not_by_text() {
    use etl_medic::ports::ObjectStore;
    let mut settings = daemon_support::settings();
    settings.quarantine.allowed_prefixes = vec!["s3://lake".to_string()];
    let harness = Harness::with(settings, daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    for part in 7..37 {
        let key = format!("raw/orders/part-{part:04}.json");
        harness.estate.objects.put_object("lakehouse", &key, b"{}".to_vec(), "application/json").await.unwrap();
    }
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Malformed records are detected in record parsing. Parse Mode: FAILFAST. File: s3://lakehouse/raw/orders/part-0007.json",
        &[],
        &[("--source_path", "s3://lakehouse/raw/orders/")],
    );
    harness.estate.queue.push(body);
    let (escalated, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(escalated, "decisions: {:?}", harness.decisions());
    assert_eq!(harness.estate.objects.objects_under("lakehouse", "raw/").len(), 30, "nothing moved");
    assert!(harness.estate.job_control.started_requests().is_empty());
    let packet = &harness.estate.notifier.published()[0].packet;
    assert!(packet.blocked_because.as_deref().unwrap_or_default().contains("allowed quarantine prefix"), "{packet:?}");
}

#[tokio::test(start_paused = true)]
async fn a_critical_job_is_never_touched_without_approval() {
    let mut settings = daemon_support::settings();
    settings.jobs.insert(
        "payroll".to_string(),
        etl_medic::config::JobSettings {
            tables: vec![],
            risk_tier: Some(etl_medic::core::model::RiskTier::Critical),
            max_workers: None,
            input_arguments: None,
            sources: vec![],
        },
    );
    let harness = Harness::with(settings, daemon_support::safety(Mode::Auto));
    harness.job("payroll", 0);
    harness.estate.queue.push(harness.failed_run(
        "payroll",
        "jr_9",
        "Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[],
    ));
    let (escalated, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(escalated, "decisions: {:?}", harness.decisions());
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert!(
        harness
            .metrics_text()
            .contains("etl_medic_safety_replacements_total{rule=\"critical_job_requires_approval\"} 1")
    );
}

#[tokio::test(start_paused = true)]
async fn bad_records_without_named_objects_rerun_with_the_bad_records_argument() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        "Malformed records are detected in record parsing. Parse Mode: FAILFAST.",
        &["org.apache.spark.SparkException: Malformed records are detected in record parsing. Parse Mode: FAILFAST."],
        &[("--day", "2026-11-28")],
    );
    harness.estate.queue.push(body);
    let (reached, _) =
        harness.run_pool_until(30, |harness| !harness.estate.job_control.started_requests().is_empty()).await;
    assert!(reached, "decisions: {:?}", harness.decisions());
    let started = &harness.estate.job_control.started_requests()[0];
    let diverted = started.arguments.get("--bad_records_path").cloned().unwrap_or_default();
    assert!(diverted.ends_with("orders_daily/jr_1/"), "{:?}", started.arguments);
    assert_eq!(started.arguments.get("--day").map(String::as_str), Some("2026-11-28"), "the run's own arguments stay");
}

#[tokio::test(start_paused = true)]
async fn a_blocked_proposal_replaced_by_log_and_wait_only_records() {
    let mut safety = daemon_support::safety(Mode::Auto);
    safety.replacement = etl_medic::core::safety::Replacement::LogAndWait;
    // This fleet allows no rerun for transient failures: the proposed retry is blocked.
    safety.allowlist.insert(
        etl_medic::core::model::FailureClass::TransientInfra,
        vec![etl_medic::core::model::ActionKind::LogAndWait],
    );
    let harness = Harness::with(daemon_support::settings(), safety);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(harness.failed_run(
        "orders_daily",
        "jr_1",
        "Connection reset by peer",
        &["java.net.SocketException: Connection reset by peer"],
        &[],
    ));
    let (closed, _) = harness
        .run_pool_until(30, |harness| {
            harness.estate.incidents.incidents().first().is_some_and(|incident| incident.state.is_closed())
        })
        .await;
    assert!(closed, "decisions: {:?}", harness.decisions());
    let incident = &harness.estate.incidents.incidents()[0];
    assert_eq!(incident.state, IncidentState::Deferred, "decisions: {:?}", harness.decisions());
    assert!(harness.estate.job_control.started_requests().is_empty());
    assert!(harness.estate.notifier.published().is_empty());
    assert!(harness.metrics_text().contains(
        "etl_medic_incidents_total{action=\"log_and_wait\",class=\"transient_infra\",outcome=\"deferred\"} 1"
    ));
    assert!(harness.metrics_text().contains("etl_medic_safety_replacements_total{rule=\"class_allowlist\"} 1"));
}

/// A decision that takes longer than `policy.decision_budget_ms` is not
/// waited for: the incident goes to a person with the reason and nothing
/// runs. Real time (the decision runs on the blocking pool, where a paused
/// clock would not move): 40 lines of rule keywords against a 1 ms budget.
#[tokio::test]
async fn a_decision_over_its_time_budget_escalates_with_the_reason() {
    let mut settings = daemon_support::settings();
    settings.policy.decision_budget_ms = 1;
    let harness = Harness::with(settings, daemon_support::safety(Mode::Auto));
    harness.job("orders_daily", 0);
    let openers = ["load into table ", "cannot resolve ", "failed to connect to db:5432 ", "reference ", "partition "];
    let lines: Vec<String> = (0..40)
        .map(|line| {
            (0..120).map(|word| format!("{}{} ", openers[(line * 7 + word * 3) % 5], "x".repeat(word % 13))).collect()
        })
        .collect();
    let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    harness.estate.queue.push(harness.failed_run("orders_daily", "jr_1", "Connection reset by peer", &line_refs, &[]));
    let (escalated, _) = harness.run_pool_until(30, |harness| !harness.estate.notifier.published().is_empty()).await;
    assert!(escalated, "decisions: {:?}", harness.decisions());
    let packet = &harness.estate.notifier.published()[0].packet;
    let reason = packet.blocked_because.as_deref().unwrap_or_default();
    assert!(reason.contains("policy.decision_budget_ms = 1 ms"), "{packet:?}");
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing runs without a decision");
    assert!(harness.decisions().is_empty(), "no decision is recorded: {:?}", harness.decisions());
    let requests = harness.audit_records().into_iter().filter(|(_, record)| record["stage"] == "request").count();
    assert_eq!(requests, 1, "the request is recorded, so the incident replays");
}
