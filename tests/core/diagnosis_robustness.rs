//! The diagnosis never panics, stays within its bounds, and keeps its
//! invariants on any input: arbitrary text, hostile log lines and random
//! catalog histories.

use std::collections::BTreeMap;

use etl_medic::core::diagnosis::{DriftKind, EvidenceSource, MAX_BAD_OBJECTS, classify_text, detect_drift, diagnose};
use etl_medic::core::event::EventEnvelope;
use etl_medic::core::evidence::{
    Column, DecideRequest, HistoryEvidence, JobRunEvidence, LogsEvidence, RunSummary, TableEvidence, TableVersion,
};
use etl_medic::core::model::{FailureClass, TextSource};
use proptest::prelude::*;
use serde_json::json;

/// Fragments of real messages, so that random text also exercises the rules.
const FRAGMENTS: &[&str] = &[
    "java.lang.OutOfMemoryError: Java heap space",
    "Caused by: ",
    "AccessDenied",
    "Parquet column cannot be converted in file s3://b/k.parquet. Column: [amount]",
    "Malformed records are detected in record parsing: s3://b/bad.json",
    "During handling of the above exception, another exception occurred:",
    "Error Category: OUT_OF_MEMORY_ERROR;",
    "\u{1b}[31m",
    "Job run timed out",
    "é\u{0}\n\t",
];

fn text_strategy() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(FRAGMENTS).prop_map(str::to_string);
    let noise = any::<String>();
    prop::collection::vec(prop_oneof![fragment, noise], 0..6).prop_map(|parts| parts.concat())
}

fn timestamp_strategy() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0u32..28, 0u32..24).prop_map(|(day, hour)| Some(format!("2026-11-{:02}T{hour:02}:00:00Z", day + 1))),
        any::<String>().prop_map(Some),
    ]
}

fn column_strategy() -> impl Strategy<Value = Column> {
    (
        prop::sample::select(&["id", "ID", "amount", "Amount", "region", "é", ""][..]),
        prop::sample::select(&["bigint", "string", "double", " INT ", ""][..]),
    )
        .prop_map(|(name, data_type)| Column { name: name.to_string(), data_type: data_type.to_string() })
}

fn table_strategy() -> impl Strategy<Value = TableEvidence> {
    let version = ("[0-9]{1,2}", timestamp_strategy(), prop::collection::vec(column_strategy(), 0..6))
        .prop_map(|(version_id, updated_at, columns)| TableVersion { version_id, updated_at, columns });
    prop::collection::vec(version, 0..5).prop_map(|versions| TableEvidence {
        database: "sales".to_string(),
        table: "orders".to_string(),
        versions,
    })
}

fn run_strategy() -> impl Strategy<Value = RunSummary> {
    (prop::sample::select(&["SUCCEEDED", "FAILED", "succeeded", "TIMEOUT", ""][..]), timestamp_strategy())
        .prop_map(|(state, started_at)| RunSummary { state: state.to_string(), started_at, ..RunSummary::default() })
}

fn request_strategy() -> impl Strategy<Value = DecideRequest> {
    (
        prop::option::of(text_strategy()),
        prop::sample::select(&["FAILED", "TIMEOUT", "ERROR", "weird"][..]),
        prop::collection::vec(text_strategy(), 0..8),
        prop::collection::vec(text_strategy(), 0..8),
        prop::collection::vec(table_strategy(), 0..3),
        prop::collection::vec(run_strategy(), 0..4),
        prop::option::of((0u64..10_000, 0u64..200)),
    )
        .prop_map(|(message, state, error, output, catalog, recent_runs, timing)| {
            let event: EventEnvelope = serde_json::from_value(json!({
                "source": "aws.glue", "detail-type": "Glue Job State Change",
                "detail": {"jobName": "j", "jobRunId": "jr_1", "state": state, "message": message.clone()}
            }))
            .expect("envelope");
            DecideRequest {
                id: json!("p"),
                event,
                job_run: timing.map(|(execution_time_s, timeout_minutes)| JobRunEvidence {
                    error_message: message,
                    execution_time_s: Some(execution_time_s),
                    timeout_minutes: Some(timeout_minutes),
                    arguments: BTreeMap::new(),
                    ..JobRunEvidence::default()
                }),
                logs: LogsEvidence { error, output },
                catalog,
                history: HistoryEvidence { recent_runs, ..HistoryEvidence::default() },
                job: Default::default(),
                context: Default::default(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn classify_never_panics_and_reports_a_probability(text in text_strategy(), source in prop::option::of(prop::sample::select(&[TextSource::JobRunErrorMessage, TextSource::ErrorLog, TextSource::OutputLog][..]))) {
        let classification = classify_text(&text, source);
        prop_assert!((0.0..=1.0).contains(&classification.confidence));
        let escape = char::from(0x1b);
        let signals_are_clean = classification.signals.iter().all(|signal| signal.chars().count() < 500 && !signal.contains(escape));
        prop_assert!(signals_are_clean);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn diagnose_never_panics_and_keeps_its_invariants(request in request_strategy()) {
        let diagnosis = diagnose(&request);
        prop_assert!((0.0..=1.0).contains(&diagnosis.confidence));
        prop_assert!(diagnosis.bad_objects.len() <= MAX_BAD_OBJECTS);
        if diagnosis.class == FailureClass::Unknown {
            prop_assert!(diagnosis.evidence_sources.is_empty());
        }
        if diagnosis.catalog_corroborated() {
            prop_assert!(diagnosis.drift.as_ref().is_some_and(|drift| drift.kind != DriftKind::None));
        }
        if diagnosis.evidence_sources.contains(&EvidenceSource::RunState) {
            prop_assert_eq!(diagnosis.class, FailureClass::Timeout);
        }
        for table in &request.catalog {
            if let Some(drift) = detect_drift(table, &request.history.recent_runs) {
                prop_assert!(drift.kind != DriftKind::None);
                if let Some(known_good) = &drift.known_good_version {
                    prop_assert_eq!(known_good, &drift.from_version);
                }
            }
        }
    }
}

#[test]
fn a_root_cause_at_the_end_of_a_huge_message_is_still_found() {
    let message = format!("{} Caused by: java.lang.OutOfMemoryError: Java heap space", "x".repeat(5_000_000));
    let classification = classify_text(&message, Some(TextSource::JobRunErrorMessage));
    assert_eq!(classification.class, FailureClass::ResourceExhaustion);
}

#[test]
fn a_flood_of_log_lines_is_read_only_up_to_the_bound() {
    let mut lines: Vec<String> = (0..100_000).map(|index| format!("INFO heartbeat {index}")).collect();
    // Past the per-source line bound: never read, so it cannot decide.
    lines.push("AccessDenied".to_string());
    // Built in place: a parsed request refuses more lines than `lenient::bounds`,
    // and the daemon builds its requests without parsing.
    let mut request: DecideRequest = serde_json::from_value(json!({
        "event": {"source": "aws.glue", "detail-type": "Glue Job State Change",
                  "detail": {"jobName": "j", "jobRunId": "jr_1", "state": "FAILED"}}
    }))
    .expect("request");
    request.logs.error = lines;
    let diagnosis = diagnose(&request);
    assert_eq!(diagnosis.class, FailureClass::Unknown);
}
