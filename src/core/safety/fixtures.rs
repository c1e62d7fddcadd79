//! Test builders for requests, diagnoses and drift, shared by the policy and
//! safety tests so each test states only what it is about.

use serde_json::json;

use crate::core::diagnosis::{Diagnosis, Drift, DriftKind, EvidenceSource};
use crate::core::evidence::DecideRequest;
use crate::core::model::FailureClass;

/// A failed run of `orders_daily` (run `jr_1`) on 10 G.1X workers whose
/// arguments read from `s3://lake/raw/orders/`, medium risk, no history.
pub fn request() -> DecideRequest {
    serde_json::from_value(json!({
        "id": "inc-1",
        "event": {
            "version": "0", "id": "e-1", "detail-type": "Glue Job State Change",
            "source": "aws.glue", "account": "123456789012", "time": "2026-11-29T02:00:00Z",
            "region": "us-east-1", "resources": [],
            "detail": {"jobName": "orders_daily", "severity": "ERROR", "state": "FAILED",
                       "jobRunId": "jr_1", "message": "job failed"}
        },
        "job_run": {"id": "jr_1", "arguments": {"--source_path": "s3://lake/raw/orders/"},
                    "worker_type": "G.1X", "number_of_workers": 10},
        "job": {"risk_tier": "medium", "max_workers": 40}
    }))
    .expect("fixture request is valid")
}

/// [`request`] whose JobRun error message reports bad records in `objects`,
/// and whose run also names an output path, a script and a temporary
/// directory (none of them input).
pub fn request_naming(objects: &[&str]) -> DecideRequest {
    let mut incident = request();
    let run = incident.job_run.as_mut().expect("fixture has a job run");
    run.error_message =
        Some(format!("Malformed records are detected in record parsing in file {}.", objects.join(", ")));
    for (name, value) in [
        ("--output_path", "s3://lake/curated/orders/"),
        ("--extra-py-files", "s3://lake/scripts/orders_daily.py"),
        ("--TempDir", "s3:///"),
    ] {
        run.arguments.insert(name.to_string(), value.to_string());
    }
    incident
}

/// A diagnosis resting on the JobRun error message.
pub fn diagnosis(class: FailureClass) -> Diagnosis {
    Diagnosis {
        signals: vec![format!("test: {class}")],
        evidence_sources: vec![EvidenceSource::JobRunErrorMessage],
        ..Diagnosis::new(class, 0.9)
    }
}

/// A diagnosis resting on error-log lines and nothing else.
pub fn log_only_diagnosis(class: FailureClass) -> Diagnosis {
    Diagnosis { evidence_sources: vec![EvidenceSource::ErrorLog], ..diagnosis(class) }
}

/// A data-quality diagnosis naming these objects as bad input.
pub fn data_quality_naming(objects: &[&str]) -> Diagnosis {
    Diagnosis {
        bad_objects: objects.iter().map(|object| object.to_string()).collect(),
        evidence_sources: vec![EvidenceSource::JobRunErrorMessage, EvidenceSource::ErrorLog],
        ..diagnosis(FailureClass::DataQuality)
    }
}

/// Drift on `sales.orders` from version 3 to 4, `amount` retyped.
pub fn drift(kind: DriftKind, known_good: Option<&str>) -> Drift {
    Drift {
        table: "sales.orders".to_string(),
        database: "sales".to_string(),
        table_name: "orders".to_string(),
        from_version: "3".to_string(),
        to_version: "4".to_string(),
        removed: Vec::new(),
        added: Vec::new(),
        type_changed: vec!["amount".to_string()],
        kind,
        known_good_version: known_good.map(str::to_string),
        type_changes: Vec::new(),
    }
}

/// Schema drift corroborated by the catalog.
pub fn schema_diagnosis(kind: DriftKind, known_good: Option<&str>) -> Diagnosis {
    Diagnosis {
        drift: Some(drift(kind, known_good)),
        evidence_sources: vec![EvidenceSource::Catalog, EvidenceSource::JobRunErrorMessage],
        ..diagnosis(FailureClass::SchemaDrift)
    }
}
