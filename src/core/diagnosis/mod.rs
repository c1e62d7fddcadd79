//! Diagnosis: from gathered evidence to a failure class, deterministically.
//!
//! A classifier over the JobRun error message and the run's log lines
//! (`patterns` is its rule table, matched in two stages by `gates` and
//! `classifier`; `text` bounds and cleans the input first), a learned second
//! opinion over the same text (`tokens` are its features, `token_model` the
//! shipped naive Bayes model and calibrator, `training` how both are made),
//! the decision between the two with a calibrated confidence and abstention
//! (`opinion`, `verdict`), a schema-drift detector over Data Catalog table
//! versions (`drift`), evidence from the run itself (`run_context`), and the
//! rule that combines them into one [`Diagnosis`] (`combine`). `objects`
//! lists the S3 objects the evidence names as bad input, for quarantine.
//!
//! The diagnosis also says *what it rests on* ([`EvidenceSource`]): the
//! safety layer refuses to let a decision that rests on log lines alone
//! mutate the catalog or data, and only lets a rollback follow catalog
//! evidence ([`Diagnosis::rollback_target`]).
//!
//! Accuracy is measured on labelled real messages by `cargo run --release
//! --example score_corpus -- FILE` (accuracy, coverage, confidently wrong
//! answers, reliability, confusion, misses; docs/diagnosis.md), and guarded
//! by `cargo test --test core diagnosis`.

mod classifier;
mod combine;
mod drift;
mod gates;
mod objects;
mod opinion;
mod patterns;
mod run_context;
mod text;
mod token_model;
pub(crate) mod tokens;
pub mod training;
mod verdict;

use serde::Serialize;

use crate::core::evidence::{DecideRequest, RunSummary, TableEvidence};
use crate::core::model::{FailureClass, TextSource};

pub use drift::{Drift, DriftKind, TypeChange};
pub use objects::MAX_BAD_OBJECTS;
pub use opinion::Basis;
pub use patterns::{CLASSIFIER_RULES, Rule};
pub use text::{MAX_INCIDENT_BYTES, MAX_ITEM_BYTES, MAX_LINES_PER_SOURCE};
pub use token_model::{Calibrator, TokenModel};

/// What the classifier says about one piece of text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub class: FailureClass,
    /// 0..1; 0 for `unknown`.
    pub confidence: f64,
    /// The rules that fired and the evidence they fired on, strongest first.
    pub signals: Vec<String>,
}

/// Where a piece of diagnostic evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    /// The Glue Data Catalog's table versions.
    Catalog,
    /// The JobRun's error message (GetJobRun or the event's message).
    JobRunErrorMessage,
    /// A line of the run's error log.
    ErrorLog,
    /// A line of the run's output log.
    OutputLog,
    /// The event itself (state TIMEOUT) or the run's own timing.
    RunState,
}

impl From<TextSource> for EvidenceSource {
    fn from(source: TextSource) -> Self {
        match source {
            TextSource::JobRunErrorMessage => EvidenceSource::JobRunErrorMessage,
            TextSource::ErrorLog => EvidenceSource::ErrorLog,
            TextSource::OutputLog => EvidenceSource::OutputLog,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub class: FailureClass,
    pub confidence: f64,
    pub signals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// The sources the class rests on, in `EvidenceSource` order.
    pub evidence_sources: Vec<EvidenceSource>,
    /// S3 objects the evidence names as bad input (bounded by `MAX_BAD_OBJECTS`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_objects: Vec<String>,
}

impl Diagnosis {
    /// A diagnosis with no evidence behind it, for callers that build one by hand.
    pub fn new(class: FailureClass, confidence: f64) -> Diagnosis {
        Diagnosis {
            class,
            confidence: confidence.clamp(0.0, 1.0),
            signals: Vec::new(),
            drift: None,
            evidence_sources: Vec::new(),
            bad_objects: Vec::new(),
        }
    }

    /// Whether the Data Catalog supports the class (schema drift seen in the
    /// table versions, not only in a log line).
    pub fn catalog_corroborated(&self) -> bool {
        self.evidence_sources.contains(&EvidenceSource::Catalog)
    }

    /// Whether the class rests on log lines and nothing else: no JobRun
    /// error message, no catalog, no run state. Such a diagnosis must never
    /// lead to a change of the catalog or of data.
    pub fn rests_on_log_lines_alone(&self) -> bool {
        !self.evidence_sources.is_empty()
            && self
                .evidence_sources
                .iter()
                .all(|source| matches!(source, EvidenceSource::ErrorLog | EvidenceSource::OutputLog))
    }

    /// Where a schema rollback would go: the table and the version that was
    /// current at the last successful run. Only for breaking drift that the
    /// diagnosis rests on (class `schema_drift`, corroborated by the catalog)
    /// and only when that version is known.
    pub fn rollback_target(&self) -> Option<RollbackTarget<'_>> {
        let drift = self.drift.as_ref()?;
        let eligible =
            self.class == FailureClass::SchemaDrift && self.catalog_corroborated() && drift.kind == DriftKind::Breaking;
        let version_id = drift.known_good_version.as_deref().filter(|_| eligible)?;
        Some(RollbackTarget { database: &drift.database, table: &drift.table_name, version_id })
    }

    /// The drift kind, `None` when no drift was found.
    pub fn drift_kind(&self) -> DriftKind {
        self.drift.as_ref().map_or(DriftKind::None, |drift| drift.kind)
    }
}

/// A catalog table version a rollback may return to (see [`Diagnosis::rollback_target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackTarget<'diagnosis> {
    pub database: &'diagnosis str,
    pub table: &'diagnosis str,
    pub version_id: &'diagnosis str,
}

/// Classify one text (a JobRun error message or a log excerpt) with the
/// shipped rules and model.
pub fn classify_text(text: &str, source: Option<TextSource>) -> Classification {
    classify_text_with(token_model::shipped(), text, source)
}

/// Classify one text with the shipped rules and the given model (the
/// evaluation command scores models trained without the messages it scores).
pub fn classify_text_with(model: &TokenModel, text: &str, source: Option<TextSource>) -> Classification {
    judge_text_with(model, text, source).classification
}

/// A classification and the decision behind it, before abstention.
#[derive(Debug, Clone, PartialEq)]
pub struct TextJudgement {
    pub classification: Classification,
    /// The class the rules and the model settled on, even if withheld.
    pub proposed: FailureClass,
    /// Its calibrated confidence.
    pub proposed_confidence: f64,
    pub basis: Basis,
}

/// Classify one text and say what was proposed before abstention.
pub fn judge_text_with(model: &TokenModel, text: &str, source: Option<TextSource>) -> TextJudgement {
    let source = source.unwrap_or_default();
    let mut collector = text::EvidenceCollector::default();
    collector.push(source, 0, text);
    let items = collector.into_items();
    let analysis = classifier::analyse(&items);
    let verdict = verdict::text_verdict(&items, &analysis, model);
    TextJudgement {
        proposed: verdict.opinion.class,
        proposed_confidence: verdict.opinion.confidence,
        basis: verdict.opinion.basis,
        classification: Classification {
            class: verdict.class,
            confidence: round_confidence(verdict.confidence),
            signals: verdict.signals,
        },
    }
}

/// The shipped model's version (recorded with evaluation figures).
pub fn shipped_model_version() -> &'static str {
    &token_model::shipped().version
}

/// Confidence to three decimals: enough to rank, and stable in JSON output
/// (no `0.8280000000000001`).
pub(crate) fn round_confidence(confidence: f64) -> f64 {
    (confidence.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

/// Schema drift of one table since the job's last successful run.
pub fn detect_drift(table: &TableEvidence, recent_runs: &[RunSummary]) -> Option<Drift> {
    drift::detect_drift(table, recent_runs)
}

/// Diagnose one failed run from all its evidence.
pub fn diagnose(request: &DecideRequest) -> Diagnosis {
    combine::diagnose(request)
}

/// Diagnose one failed run with the given model instead of the shipped one.
pub fn diagnose_with(model: &TokenModel, request: &DecideRequest) -> Diagnosis {
    combine::diagnose_with(model, request)
}
