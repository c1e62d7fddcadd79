//! Action parameters come from the evidence within the safety bounds.

use super::*;
use crate::core::diagnosis::DriftKind;
use crate::core::model::FailureClass;
use crate::core::safety::fixtures::{data_quality_naming, diagnosis, request, request_naming, schema_diagnosis};

fn capacity_for(workers: u32, worker_type: &str, job_max: Option<u32>, settings: &SafetySettings) -> Action {
    let mut incident = request();
    incident.job.max_workers = job_max;
    let run = incident.job_run.as_mut().expect("fixture has a job run");
    run.number_of_workers = Some(workers);
    run.worker_type = Some(worker_type.to_string());
    parametrise(ActionKind::RetryWithMoreCapacity, &incident, &diagnosis(FailureClass::ResourceExhaustion), settings)
}

#[test]
fn waits_back_off_and_stay_bounded() {
    let settings = SafetySettings::default();
    assert_eq!(wait_delay_s(0, &settings), 300);
    assert_eq!(wait_delay_s(2, &settings), 1_200);
    assert_eq!(wait_delay_s(10, &settings), 3_600);
    assert_eq!(wait_delay_s(u32::MAX, &settings), 3_600);
}

#[test]
fn capacity_doubles_up_to_the_ceiling_then_grows_the_worker_type() {
    let settings = SafetySettings::default();
    let grow = |workers, worker_type, job_max| capacity_for(workers, worker_type, job_max, &settings);
    assert_eq!(grow(10, "G.1X", Some(40)), Action::RetryWithMoreCapacity { number_of_workers: 20, worker_type: None });
    assert_eq!(grow(30, "G.1X", Some(40)), Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: None });
    assert_eq!(grow(80, "G.1X", None), Action::RetryWithMoreCapacity { number_of_workers: 100, worker_type: None });
    assert_eq!(
        grow(40, "G.1X", Some(40)),
        Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: Some("G.2X".to_string()) }
    );
    assert_eq!(grow(40, "G.2X", Some(40)), Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: None });
    assert_eq!(next_worker_type("G.2X", "G.8X"), Some("G.4X"));
    assert_eq!(next_worker_type("Z.2X", "G.8X"), None);
}

#[test]
fn rollback_targets_the_known_good_version() {
    let settings = SafetySettings::default();
    let action = parametrise(
        ActionKind::RollbackSchema,
        &request(),
        &schema_diagnosis(DriftKind::Breaking, Some("3")),
        &settings,
    );
    assert_eq!(
        action,
        Action::RollbackSchema { database: "sales".into(), table: "orders".into(), version_id: "3".into() }
    );
}

#[test]
fn quarantine_moves_named_objects_of_the_runs_input_or_sets_the_bad_records_argument() {
    let settings = SafetySettings::default();
    let own = "s3a://lake/raw/orders/part-0001.json";
    let objects = [own, "s3://finance/ledger/2026.parquet", "s3://lake/curated/orders/part-0000.parquet"];
    let named = data_quality_naming(&objects);
    assert_eq!(
        parametrise(ActionKind::QuarantineBadRecords, &request_naming(&objects), &named, &settings),
        Action::QuarantineBadRecords(QuarantinePlan::MoveObjects {
            objects: vec![own.to_string()],
            quarantine_prefix: "etl-medic-quarantine/".to_string(),
        }),
        "only objects under the job's input arguments are moved, not its output path"
    );
    let bad_records = Action::QuarantineBadRecords(QuarantinePlan::BadRecordsArgument {
        argument: "--bad_records_path".to_string(),
        value: "s3://etl-medic-quarantine/bad-records/orders_daily/jr_1/".to_string(),
    });
    let outside_only = data_quality_naming(&objects[1..]);
    assert_eq!(
        parametrise(ActionKind::QuarantineBadRecords, &request_naming(&objects), &outside_only, &settings),
        bad_records
    );
    // Named by the diagnosis (from a log line) but not by the JobRun error message.
    assert_eq!(parametrise(ActionKind::QuarantineBadRecords, &request(), &named, &settings), bad_records);
}

#[test]
fn input_locations_come_from_the_input_arguments_only() {
    let settings = SafetySettings::default();
    let mut incident = request_naming(&[]);
    let run = incident.job_run.as_mut().expect("fixture has a job run");
    run.arguments
        .insert("--input_path".to_string(), "s3n://lake/ref/a.csv, s3://lake/ref/b.csv,local,s3:///".to_string());
    let shown = |incident: &DecideRequest, settings: &SafetySettings| -> Vec<String> {
        input_locations(incident, settings).iter().map(ToString::to_string).collect()
    };
    assert_eq!(
        shown(&incident, &settings),
        vec!["s3://lake/raw/orders/", "s3://lake/ref/a.csv", "s3://lake/ref/b.csv"],
        "--output_path, --extra-py-files and --TempDir are not input; s3:/// is no location"
    );
    incident.job.input_arguments = Some(vec!["--input_path".to_string()]);
    assert_eq!(shown(&incident, &settings), vec!["s3://lake/ref/a.csv", "s3://lake/ref/b.csv"], "the job's own list");
    let none = SafetySettings { input_arguments: Vec::new(), ..SafetySettings::default() };
    incident.job.input_arguments = None;
    assert!(shown(&incident, &none).is_empty());
}

#[test]
fn the_error_message_names_an_object_only_as_a_whole_uri() {
    for (message, named) in [
        ("bad record in file s3://lake/raw/a.csv.", true),
        ("bad record in 's3://lake/raw/a.csv', line 3", true),
        ("bad record in s3://lake/raw/a.csv.bak", false),
        ("bad record in s3://lake/raw/a.csv2", false),
        ("bad record in xs3://lake/raw/a.csv", false),
        ("no file named", false),
    ] {
        assert_eq!(names_uri(message, "s3://lake/raw/a.csv"), named, "{message}");
    }
}

fn run(state: &str, started_at: &str) -> crate::core::evidence::RunSummary {
    crate::core::evidence::RunSummary {
        state: state.to_string(),
        started_at: Some(started_at.to_string()),
        ..Default::default()
    }
}

/// A daily job's runs (newest first) with a failure and its recovery on 25 Nov.
fn daily_with(
    recovery: crate::core::evidence::RunSummary,
    failure: crate::core::evidence::RunSummary,
) -> Vec<crate::core::evidence::RunSummary> {
    vec![
        run("SUCCEEDED", "2026-11-27T02:00:00Z"),
        run("SUCCEEDED", "2026-11-26T02:00:00Z"),
        recovery,
        failure,
        run("SUCCEEDED", "2026-11-24T02:00:00Z"),
        run("SUCCEEDED", "2026-11-23T02:00:00Z"),
    ]
}

#[test]
fn the_source_wait_is_sized_from_how_late_the_source_was_before() {
    let settings = SafetySettings::default();
    let mut incident = request();
    assert_eq!(source_wait_s(&incident, &settings), settings.wait_for_source_default_s, "no history: the default");
    // A daily job whose 25 Nov run failed and whose rerun succeeded 80 minutes later.
    incident.history.recent_runs = vec![
        run("SUCCEEDED", "2026-11-28T02:00:00Z"),
        run("SUCCEEDED", "2026-11-27T02:00:00Z"),
        run("SUCCEEDED", "2026-11-26T02:00:00Z"),
        run("SUCCEEDED", "2026-11-25T03:20:00Z"),
        run("FAILED", "2026-11-25T02:00:00Z"),
        run("SUCCEEDED", "2026-11-24T02:00:00Z"),
    ];
    assert_eq!(usual_source_delay_s(&incident.history.recent_runs), Some(4_800));
    assert_eq!(source_wait_s(&incident, &settings), 7_200, "1.5 x 80 minutes");
    // Recovered only by the next day's scheduled run: says nothing about lateness.
    incident.history.recent_runs.remove(3);
    assert_eq!(usual_source_delay_s(&incident.history.recent_runs), None);
    // A short gap is floored, a long one capped by the safety bound.
    incident.history.recent_runs =
        daily_with(run("SUCCEEDED", "2026-11-25T02:05:00Z"), run("ERROR", "2026-11-25T02:00:00Z"));
    assert_eq!(source_wait_s(&incident, &settings), SOURCE_WAIT_FLOOR_S);
    incident.history.recent_runs =
        daily_with(run("SUCCEEDED", "2026-11-25T10:00:00Z"), run("FAILED", "2026-11-25T02:00:00Z"));
    assert_eq!(source_wait_s(&incident, &settings), settings.wait_for_source_max_s);
    assert_eq!(
        parametrise(ActionKind::WaitForSource, &incident, &diagnosis(FailureClass::SourceUnavailable), &settings),
        Action::WaitForSource { max_wait_s: settings.wait_for_source_max_s }
    );
}

#[test]
fn the_watched_sources_are_the_input_arguments_then_the_configured_sources() {
    let settings = SafetySettings::default();
    let mut incident = request();
    incident.job.sources = Some(vec!["s3://lake/landing/orders/".to_string(), "s3://lake/raw/orders/".to_string()]);
    let shown: Vec<String> = source_locations(&incident, &settings).iter().map(ToString::to_string).collect();
    assert_eq!(shown, vec!["s3://lake/raw/orders/", "s3://lake/landing/orders/"]);
    incident.job_run = None;
    incident.job.sources = None;
    assert!(source_locations(&incident, &settings).is_empty());
}
