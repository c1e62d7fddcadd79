//! The rule that turns text evidence, catalog drift and the run's state into
//! one diagnosis.
//!
//! - A run that ended in state TIMEOUT timed out, whatever its logs say.
//! - Breaking drift in the catalog corroborates a schema error in the text:
//!   `schema_drift` with high confidence, the drift attached. Breaking drift
//!   with no specific error (nothing matched, or only a generic "Job
//!   aborted") is `schema_drift` too, resting on the catalog. A data-quality
//!   error that names a column whose type changed is the drift's symptom.
//!   Any other specific error (out of memory, access denied) keeps its class;
//!   the drift is attached for the policy to see, but does not take over.
//! - Additive drift alone is harmless (readers select columns by name): it
//!   never changes the class. It does corroborate a schema error (a write
//!   that rejects a new column), at a confidence below the breaking case.
//! - A schema-looking error with no drift in the catalog keeps the class the
//!   text supports, but uncorroborated: its confidence is capped, lower when
//!   the catalog was read and showed no change than when it was not read,
//!   and the evidence sources do not include the catalog, so the safety
//!   layer will not allow a rollback on it.

use crate::core::diagnosis::classifier::{self, TextAnalysis};
use crate::core::diagnosis::run_context;
use crate::core::diagnosis::text::{EvidenceCollector, EvidenceItem};
use crate::core::diagnosis::token_model::{self, TokenModel};
use crate::core::diagnosis::verdict::{TextVerdict, text_verdict};
use crate::core::diagnosis::{Diagnosis, Drift, DriftKind, EvidenceSource, detect_drift, objects, round_confidence};
use crate::core::evidence::DecideRequest;
use crate::core::model::{FailureClass, TextSource};

/// Below this rule score the error says nothing specific about the cause (a
/// class named by the learned model alone never outweighs catalog drift).
const SPECIFIC_TEXT_SCORE: f64 = 0.45;
const TIMEOUT_STATE_CONFIDENCE: f64 = 0.95;
const RAN_INTO_TIMEOUT_CONFIDENCE: f64 = 0.7;
const CORROBORATED_SCHEMA_CONFIDENCE: f64 = 0.88;
const CATALOG_ONLY_SCHEMA_CONFIDENCE: f64 = 0.75;
const NAMED_COLUMN_BONUS: f64 = 0.07;
const ADDITIVE_CORROBORATION_CONFIDENCE: f64 = 0.75;
const UNCORROBORATED_CAP_CATALOG_CLEAN: f64 = 0.5;
const UNCORROBORATED_CAP_NO_CATALOG: f64 = 0.65;
const MAX_CONFIDENCE: f64 = 0.97;
/// Tables whose drift is computed per incident.
const MAX_TABLES: usize = 32;

pub fn diagnose(request: &DecideRequest) -> Diagnosis {
    diagnose_with(token_model::shipped(), request)
}

pub fn diagnose_with(model: &TokenModel, request: &DecideRequest) -> Diagnosis {
    let items = collect_evidence(request);
    let analysis = classifier::analyse(&items);
    let verdict = text_verdict(&items, &analysis, model);
    let drifts: Vec<Drift> = request
        .catalog
        .iter()
        .take(MAX_TABLES)
        .filter_map(|table| detect_drift(table, &request.history.recent_runs))
        .collect();
    let catalog_read = request.catalog.iter().any(|table| table.versions.len() >= 2);
    let mut diagnosis = combine(&analysis, &verdict, drifts, catalog_read);
    apply_run_context(request, &items, &analysis, &mut diagnosis);
    apply_run_state(request, &analysis, &mut diagnosis);
    diagnosis.bad_objects = objects::bad_objects(&items, &analysis);
    diagnosis.evidence_sources.sort_unstable();
    diagnosis.evidence_sources.dedup();
    diagnosis.confidence = round_confidence(diagnosis.confidence.min(MAX_CONFIDENCE));
    debug_assert!(diagnosis.class != FailureClass::Unknown || diagnosis.evidence_sources.is_empty());
    diagnosis
}

/// Text in priority order: the JobRun message, then error, then output log.
fn collect_evidence(request: &DecideRequest) -> Vec<EvidenceItem> {
    let mut collector = EvidenceCollector::default();
    if let Some(message) = request.error_message() {
        collector.push(TextSource::JobRunErrorMessage, 0, message);
    }
    collector.push_lines(TextSource::ErrorLog, &request.logs.error);
    collector.push_lines(TextSource::OutputLog, &request.logs.output);
    collector.into_items()
}

fn combine(analysis: &TextAnalysis, verdict: &TextVerdict, drifts: Vec<Drift>, catalog_read: bool) -> Diagnosis {
    let text_class = verdict.class;
    let mut diagnosis = from_verdict(verdict);
    let Some(drift) = pick_drift(drifts, analysis) else {
        if text_class == FailureClass::SchemaDrift {
            mark_uncorroborated(&mut diagnosis, catalog_read);
        }
        return diagnosis;
    };
    let named_column = named_breaking_column(&drift, analysis);
    diagnosis.signals.splice(0..0, drift.describe());
    match drift.kind {
        DriftKind::Breaking => {
            let named_bonus = if named_column.is_some() { NAMED_COLUMN_BONUS } else { 0.0 };
            let text_points_elsewhere = text_class != FailureClass::SchemaDrift
                && text_class != FailureClass::Unknown
                && analysis.score(text_class) >= SPECIFIC_TEXT_SCORE
                && !(text_class == FailureClass::DataQuality && named_column.is_some());
            if text_class == FailureClass::SchemaDrift {
                diagnosis.confidence = diagnosis.confidence.max(CORROBORATED_SCHEMA_CONFIDENCE) + named_bonus;
                diagnosis.evidence_sources.push(EvidenceSource::Catalog);
            } else if text_points_elsewhere {
                diagnosis.signals.push(format!(
                    "catalog: breaking drift in {} left aside: the error points to {text_class}",
                    drift.table
                ));
            } else {
                diagnosis = from_text(analysis, FailureClass::SchemaDrift);
                diagnosis.signals.splice(0..0, drift.describe());
                diagnosis.confidence = CATALOG_ONLY_SCHEMA_CONFIDENCE + named_bonus;
                diagnosis.evidence_sources.push(EvidenceSource::Catalog);
            }
        }
        DriftKind::Additive => {
            if text_class == FailureClass::SchemaDrift {
                diagnosis.confidence = diagnosis.confidence.max(ADDITIVE_CORROBORATION_CONFIDENCE);
                diagnosis.evidence_sources.push(EvidenceSource::Catalog);
            } else {
                diagnosis.signals.push(format!("catalog: additive drift in {} only, not a cause", drift.table));
            }
        }
        DriftKind::None => {}
    }
    if let Some(column) = named_column {
        diagnosis.signals.push(format!("evidence names the changed column {column}"));
    }
    diagnosis.drift = Some(drift);
    diagnosis
}

fn from_verdict(verdict: &TextVerdict) -> Diagnosis {
    let mut diagnosis = Diagnosis::new(verdict.class, verdict.confidence);
    diagnosis.signals = verdict.signals.clone();
    diagnosis.evidence_sources = verdict.sources.iter().copied().map(EvidenceSource::from).collect();
    diagnosis
}

/// A diagnosis of `class` from the rule hits alone, for classes the run's
/// state or the catalog decide; callers set the confidence.
fn from_text(analysis: &TextAnalysis, class: FailureClass) -> Diagnosis {
    let mut diagnosis = Diagnosis::new(class, analysis.confidence_of(class));
    diagnosis.signals = analysis.signals_for(class);
    diagnosis.evidence_sources = analysis.sources_for(class).into_iter().map(EvidenceSource::from).collect();
    diagnosis
}

fn mark_uncorroborated(diagnosis: &mut Diagnosis, catalog_read: bool) {
    let (cap, reason) = if catalog_read {
        (UNCORROBORATED_CAP_CATALOG_CLEAN, "the catalog shows no column change since the last success")
    } else {
        (UNCORROBORATED_CAP_NO_CATALOG, "no catalog versions were gathered")
    };
    diagnosis.confidence = diagnosis.confidence.min(cap);
    diagnosis.signals.insert(0, format!("schema error uncorroborated: {reason}"));
}

/// Breaking drift before additive; among breaking, one whose changed
/// column the evidence names.
fn pick_drift(drifts: Vec<Drift>, analysis: &TextAnalysis) -> Option<Drift> {
    let mut best: Option<(u8, Drift)> = None;
    for drift in drifts {
        let rank = match drift.kind {
            DriftKind::Breaking if named_breaking_column(&drift, analysis).is_some() => 3,
            DriftKind::Breaking => 2,
            DriftKind::Additive => 1,
            DriftKind::None => 0,
        };
        if best.as_ref().is_none_or(|(best_rank, _)| rank > *best_rank) {
            best = Some((rank, drift));
        }
    }
    best.map(|(_, drift)| drift)
}

/// A removed or type-changed column quoted by a schema or data-quality hit.
fn named_breaking_column(drift: &Drift, analysis: &TextAnalysis) -> Option<String> {
    analysis
        .hits
        .iter()
        .filter(|hit| matches!(hit.rule.class, FailureClass::SchemaDrift | FailureClass::DataQuality))
        .find_map(|hit| drift.breaking_column_named_in(&hit.excerpt.to_lowercase()).map(str::to_string))
}

/// Evidence beyond the text (see `run_context`): a table said to be missing
/// that the catalog holds is a permission problem; memory pressure or a
/// time limit on weak evidence is withheld when the run died too early for
/// it; the exception chain, Glue's category and kill exit codes are named.
fn apply_run_context(
    request: &DecideRequest,
    items: &[EvidenceItem],
    analysis: &TextAnalysis,
    diagnosis: &mut Diagnosis,
) {
    let missing_table_class =
        matches!(diagnosis.class, FailureClass::PermissionConfig | FailureClass::SourceUnavailable);
    if let Some(table) = missing_table_class.then(|| run_context::named_table_that_exists(analysis, request)).flatten()
    {
        diagnosis.signals.insert(
            0,
            format!(
                "catalog: {}.{} exists ({} versions) although the error says it is missing: the job cannot see it (permissions, Lake Formation, another catalog)",
                table.database,
                table.table,
                table.versions.len()
            ),
        );
        diagnosis.class = FailureClass::PermissionConfig;
        diagnosis.evidence_sources.push(EvidenceSource::Catalog);
    }
    if let Some(signal) = run_context::too_early_for(diagnosis.class, analysis, request) {
        diagnosis.signals.insert(0, signal);
        diagnosis.class = FailureClass::Unknown;
        diagnosis.confidence = 0.0;
        diagnosis.evidence_sources.clear();
    }
    diagnosis.signals.extend(run_context::landmarks(items));
}

/// State TIMEOUT decides; a run that used its whole timeout with no other
/// explanation timed out too.
fn apply_run_state(request: &DecideRequest, analysis: &TextAnalysis, diagnosis: &mut Diagnosis) {
    let state = request.event.detail_str("state").unwrap_or_default();
    if state.eq_ignore_ascii_case("TIMEOUT") {
        let drift = diagnosis.drift.take();
        *diagnosis = from_text(analysis, FailureClass::Timeout);
        diagnosis.drift = drift;
        diagnosis.confidence = TIMEOUT_STATE_CONFIDENCE;
        diagnosis.signals.insert(0, "event: job run state TIMEOUT".to_string());
        diagnosis.evidence_sources.push(EvidenceSource::RunState);
        return;
    }
    if diagnosis.class == FailureClass::Unknown && ran_into_timeout(request) {
        diagnosis.class = FailureClass::Timeout;
        diagnosis.confidence = RAN_INTO_TIMEOUT_CONFIDENCE;
        diagnosis.signals.insert(0, "job run: execution time reached the run's timeout".to_string());
        diagnosis.evidence_sources.push(EvidenceSource::RunState);
    }
}

fn ran_into_timeout(request: &DecideRequest) -> bool {
    let Some(run) = request.job_run.as_ref() else {
        return false;
    };
    match (run.execution_time_s, run.timeout_minutes) {
        (Some(execution_s), Some(timeout_minutes)) if timeout_minutes > 0 => {
            execution_s.saturating_add(60) >= timeout_minutes.saturating_mul(60)
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "combine_tests.rs"]
mod tests;
