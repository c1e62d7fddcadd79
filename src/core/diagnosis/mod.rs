//! Diagnosis: deterministic rules from evidence to a failure class.
//! INTERFACE SKELETON: the diagnosis work replaces the bodies.

use serde::Serialize;

use crate::core::evidence::{DecideRequest, RunSummary, TableEvidence};
use crate::core::model::{FailureClass, TextSource};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub class: FailureClass,
    pub confidence: f64,
    pub signals: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    #[default]
    None,
    Additive,
    Breaking,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// `database.table`
    pub table: String,
    pub database: String,
    pub table_name: String,
    pub from_version: String,
    pub to_version: String,
    pub removed: Vec<String>,
    pub added: Vec<String>,
    pub type_changed: Vec<String>,
    pub kind: DriftKind,
    /// The version that was current at the last successful run, if known.
    pub known_good_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub class: FailureClass,
    pub confidence: f64,
    pub signals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

pub fn classify_text(_text: &str, _source: Option<TextSource>) -> Classification {
    Classification { class: FailureClass::Unknown, confidence: 0.0, signals: Vec::new() }
}

pub fn detect_drift(_table: &TableEvidence, _recent_runs: &[RunSummary]) -> Option<Drift> {
    None
}

pub fn diagnose(request: &DecideRequest) -> Diagnosis {
    let text = request.error_message().unwrap_or_default();
    let classification = classify_text(text, Some(TextSource::JobRunErrorMessage));
    Diagnosis {
        class: classification.class,
        confidence: classification.confidence,
        signals: classification.signals,
        drift: None,
    }
}
