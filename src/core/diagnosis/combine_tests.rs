//! Tests of the combination rule: how catalog drift, text and run state
//! agree or overrule one another.

use serde_json::{Value, json};

use super::*;

fn event(state: &str, message: &str) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "Glue Job State Change", "source": "aws.glue",
        "account": "123456789012", "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"jobName": "orders_daily", "severity": "ERROR", "state": state,
                   "jobRunId": "jr_1", "message": message}
    })
}

fn catalog_with(newest_columns: Value) -> Value {
    json!([{
        "database": "sales", "table": "orders",
        "versions": [
            {"version_id": "4", "updated_at": "2026-11-29T01:10:00Z", "columns": newest_columns},
            {"version_id": "3", "updated_at": "2026-11-20T09:00:00Z",
             "columns": [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]}
        ]
    }])
}

fn breaking_catalog() -> Value {
    catalog_with(json!([{"name": "id", "type": "bigint"}, {"name": "amount", "type": "string"}]))
}

fn additive_catalog() -> Value {
    catalog_with(
        json!([{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}, {"name": "channel", "type": "string"}]),
    )
}

fn unchanged_catalog() -> Value {
    catalog_with(json!([{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]))
}

fn request(message: &str, error_lines: &[&str], catalog: Value) -> DecideRequest {
    request_in_state("FAILED", message, error_lines, catalog)
}

fn request_in_state(state: &str, message: &str, error_lines: &[&str], catalog: Value) -> DecideRequest {
    let value = json!({
        "id": "inc-1",
        "event": event(state, message),
        "logs": {"error": error_lines, "output": []},
        "catalog": catalog,
        "history": {"attempt": 0, "recent_runs": [{"state": "SUCCEEDED", "started_at": "2026-11-28T02:00:00Z"}]}
    });
    serde_json::from_value(value).expect("valid request")
}

const PARQUET_ERROR: &str = "org.apache.spark.sql.execution.QueryExecutionException: Parquet column cannot be converted in file s3://landing/orders/part-1.parquet. Column: [amount], Expected: double, Found: BINARY";

#[test]
fn breaking_drift_corroborates_a_schema_error() {
    let diagnosis = diagnose(&request(PARQUET_ERROR, &[], breaking_catalog()));
    assert_eq!(diagnosis.class, FailureClass::SchemaDrift);
    assert!(diagnosis.confidence >= 0.9, "{}", diagnosis.confidence);
    assert!(diagnosis.catalog_corroborated());
    let drift = diagnosis.drift.as_ref().expect("drift attached");
    assert_eq!(drift.kind, DriftKind::Breaking);
    assert_eq!(drift.known_good_version.as_deref(), Some("3"));
    assert!(diagnosis.signals[0].contains("amount double -> string"), "{:?}", diagnosis.signals);
}

#[test]
fn rollback_target_needs_corroborated_breaking_drift_and_a_known_good_version() {
    let corroborated = diagnose(&request(PARQUET_ERROR, &[], breaking_catalog()));
    let target = corroborated.rollback_target().expect("rollback target");
    assert_eq!((target.database, target.table, target.version_id), ("sales", "orders", "3"));
    let elsewhere = diagnose(&request("java.lang.OutOfMemoryError: Java heap space", &[], breaking_catalog()));
    assert_eq!(elsewhere.rollback_target(), None);
    let additive = diagnose(&request(PARQUET_ERROR, &[], additive_catalog()));
    assert_eq!(additive.rollback_target(), None);
    let mut no_history = request(PARQUET_ERROR, &[], breaking_catalog());
    no_history.history.recent_runs.clear();
    assert_eq!(diagnose(&no_history).rollback_target(), None);
}

#[test]
fn schema_error_without_catalog_drift_is_uncorroborated() {
    let diagnosis = diagnose(&request(PARQUET_ERROR, &[], unchanged_catalog()));
    assert_eq!(diagnosis.class, FailureClass::SchemaDrift);
    assert!(diagnosis.confidence <= 0.5, "{}", diagnosis.confidence);
    assert!(!diagnosis.catalog_corroborated());
    assert!(diagnosis.drift.is_none());
    assert!(diagnosis.signals[0].contains("uncorroborated"));
}

#[test]
fn schema_error_without_any_catalog_evidence_is_capped_less() {
    let without_catalog = diagnose(&request(PARQUET_ERROR, &[], json!([])));
    let with_clean_catalog = diagnose(&request(PARQUET_ERROR, &[], unchanged_catalog()));
    assert!(without_catalog.confidence <= 0.65);
    assert!(without_catalog.confidence > with_clean_catalog.confidence);
}

#[test]
fn additive_drift_does_not_turn_an_oom_into_schema_drift() {
    let diagnosis = diagnose(&request("java.lang.OutOfMemoryError: Java heap space", &[], additive_catalog()));
    assert_eq!(diagnosis.class, FailureClass::ResourceExhaustion);
    assert_eq!(diagnosis.drift_kind(), DriftKind::Additive);
    assert!(!diagnosis.catalog_corroborated());
}

#[test]
fn breaking_drift_with_a_generic_read_error_is_schema_drift() {
    let diagnosis =
        diagnose(&request("An error occurred while calling o151.parquet. Job aborted.", &[], breaking_catalog()));
    assert_eq!(diagnosis.class, FailureClass::SchemaDrift);
    assert!(diagnosis.catalog_corroborated());
    assert!(!diagnosis.rests_on_log_lines_alone());
    assert!(diagnosis.confidence >= 0.7);
}

#[test]
fn breaking_drift_does_not_override_a_specific_other_cause() {
    let message = "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied";
    let diagnosis = diagnose(&request(message, &[], breaking_catalog()));
    assert_eq!(diagnosis.class, FailureClass::PermissionConfig);
    assert_eq!(diagnosis.drift_kind(), DriftKind::Breaking);
    assert!(!diagnosis.catalog_corroborated());
}

#[test]
fn data_quality_error_naming_a_changed_column_is_schema_drift() {
    let line = "java.lang.NumberFormatException: For input string: \"12,50\" while casting column amount";
    let diagnosis = diagnose(&request("Job aborted", &[line], breaking_catalog()));
    assert_eq!(diagnosis.class, FailureClass::SchemaDrift);
    assert!(diagnosis.signals.iter().any(|signal| signal.contains("changed column amount")));
}

#[test]
fn timeout_state_decides() {
    let diagnosis = diagnose(&request_in_state(
        "TIMEOUT",
        "Job run timed out",
        &["java.lang.OutOfMemoryError: Java heap space"],
        json!([]),
    ));
    assert_eq!(diagnosis.class, FailureClass::Timeout);
    assert!(diagnosis.confidence >= 0.9);
    assert!(diagnosis.evidence_sources.contains(&EvidenceSource::RunState));
}

#[test]
fn timed_out_message_alone_is_timeout() {
    let diagnosis = diagnose(&request("Job run timed out after 60 minutes", &[], json!([])));
    assert_eq!(diagnosis.class, FailureClass::Timeout);
}

#[test]
fn a_run_that_used_its_whole_timeout_without_explanation_timed_out() {
    let mut incident = request("Command was interrupted", &[], json!([]));
    incident.job_run = Some(crate::core::evidence::JobRunEvidence {
        execution_time_s: Some(3_595),
        timeout_minutes: Some(60),
        ..Default::default()
    });
    let diagnosis = diagnose(&incident);
    assert_eq!(diagnosis.class, FailureClass::Timeout);
}

#[test]
fn class_from_log_lines_alone_is_flagged() {
    let diagnosis = diagnose(&request(
        "",
        &["ERROR Malformed records are detected in record parsing. Parse Mode: FAILFAST"],
        json!([]),
    ));
    assert_eq!(diagnosis.class, FailureClass::DataQuality);
    assert!(diagnosis.rests_on_log_lines_alone());
    let from_message = diagnose(&request("Malformed records are detected in record parsing.", &[], json!([])));
    assert!(!from_message.rests_on_log_lines_alone());
}

#[test]
fn bad_objects_come_from_data_quality_evidence() {
    let line =
        "ERROR Malformed records are detected in record parsing of s3://landing/orders/2026-11-29/part-0007.json";
    let diagnosis = diagnose(&request("Job aborted due to stage failure", &[line], json!([])));
    assert_eq!(diagnosis.class, FailureClass::DataQuality);
    assert_eq!(diagnosis.bad_objects, vec!["s3://landing/orders/2026-11-29/part-0007.json"]);
}

#[test]
fn no_evidence_is_unknown_with_no_sources() {
    let diagnosis = diagnose(&request("", &[], json!([])));
    assert_eq!(diagnosis.class, FailureClass::Unknown);
    assert_eq!(diagnosis.confidence, 0.0);
    assert!(diagnosis.evidence_sources.is_empty());
    assert!(!diagnosis.rests_on_log_lines_alone());
}

fn with_timing(mut request: DecideRequest, execution_time_s: u64, usual_s: u64) -> DecideRequest {
    request.job_run =
        Some(crate::core::evidence::JobRunEvidence { execution_time_s: Some(execution_time_s), ..Default::default() });
    request.history.recent_runs = (0..3)
        .map(|_| crate::core::evidence::RunSummary {
            state: "SUCCEEDED".into(),
            execution_time_s: Some(usual_s),
            ..Default::default()
        })
        .collect();
    request
}

#[test]
fn a_missing_table_that_the_catalog_holds_is_a_permission_problem() {
    let message = "AnalysisException: Table or view not found: sales.orders; line 1 pos 14";
    let diagnosis = diagnose(&request(message, &[], unchanged_catalog()));
    assert_eq!(diagnosis.class, FailureClass::PermissionConfig);
    assert!(diagnosis.signals[0].contains("sales.orders exists"), "{:?}", diagnosis.signals);
    let elsewhere = diagnose(&request("Table or view not found: sales.customers", &[], unchanged_catalog()));
    assert!(!elsewhere.signals.iter().any(|signal| signal.contains("exists")));
}

#[test]
fn weak_memory_evidence_is_withheld_when_the_run_died_early() {
    let message = "An error occurred while calling o151.save. Job aborted due to stage failure";
    let early = diagnose(&with_timing(request(message, &[], json!([])), 20, 900));
    assert_eq!(early.class, FailureClass::Unknown, "{:?}", early.signals);
    assert!(early.signals[0].starts_with("run history: failed after 20 s"));
    let specific = "Container killed by YARN for exceeding memory limits. 5.5 GB of 5.5 GB physical memory used";
    let clear = diagnose(&with_timing(request(specific, &[], json!([])), 20, 900));
    assert_eq!(clear.class, FailureClass::ResourceExhaustion);
}

#[test]
fn the_exception_chain_is_named_in_the_signals() {
    let message = "An error occurred while calling o85.save. : org.apache.spark.SparkException: Job aborted. Caused by: java.io.IOException: No space left on device";
    let diagnosis = diagnose(&request(message, &[], json!([])));
    assert!(
        diagnosis.signals.iter().any(|signal| signal == "exception chain: SparkException -> IOException (last)"),
        "{:?}",
        diagnosis.signals
    );
}
