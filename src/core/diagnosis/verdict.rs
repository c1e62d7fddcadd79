//! The text's verdict: the rules' analysis and the model's opinion of the
//! same evidence items, decided together (`opinion`), with the signals that
//! say why and the sources the class rests on.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, DefaultHasher};

use crate::core::diagnosis::classifier::TextAnalysis;
use crate::core::diagnosis::opinion::{self, Basis, Opinion, index_of};
use crate::core::diagnosis::text::EvidenceItem;
use crate::core::diagnosis::token_model::TokenModel;
use crate::core::diagnosis::tokens;
use crate::core::model::{FailureClass, TextSource};

/// Words quoted in the model's signal.
const SIGNAL_FEATURES: usize = 4;
/// Words that make an output-log line worth the model's reading when the
/// run left no error message or error log.
const OUTPUT_LINE_CUES: [&str; 7] = ["error", "exception", "fail", "killed", "denied", "timed out", "timeout"];

#[derive(Debug, Clone, PartialEq)]
pub struct TextVerdict {
    /// `unknown` when nothing named a class or the confidence was too low.
    pub class: FailureClass,
    /// Calibrated; 0 for `unknown`.
    pub confidence: f64,
    /// The decision before abstention.
    pub opinion: Opinion,
    pub signals: Vec<String>,
    /// The text sources the class rests on.
    pub sources: Vec<TextSource>,
}

pub fn text_verdict(items: &[EvidenceItem], analysis: &TextAnalysis, model: &TokenModel) -> TextVerdict {
    let (features, read_sources) = model_features(items);
    let posterior = model.posterior(&features);
    let opinion = opinion::decide(&analysis.class_scores, &posterior, model);
    let abstains = opinion.abstains(model);
    let class = if abstains { FailureClass::Unknown } else { opinion.class };
    let mut signals = analysis.signals_for(opinion.class);
    let own_hits = analysis.hits_for(opinion.class).len().min(signals.len());
    if model.is_trained() {
        signals.insert(own_hits, model_signal(model, &opinion, &features, &posterior));
    }
    if abstains && opinion.class != FailureClass::Unknown {
        signals.insert(
            0,
            format!(
                "abstained: {} at calibrated confidence {:.2}, below {:.2}",
                opinion.class, opinion.confidence, model.abstain_below
            ),
        );
    }
    let sources = match (class, opinion.basis) {
        (FailureClass::Unknown, _) => Vec::new(),
        (_, Basis::ModelAlone | Basis::ModelOverWeakRule) => read_sources,
        _ => analysis.sources_for(class),
    };
    TextVerdict { class, confidence: if abstains { 0.0 } else { opinion.confidence }, opinion, signals, sources }
}

/// The items the model reads: the JobRun message and the error log; the
/// output log's error-like lines only when neither exists (its INFO chatter
/// would drown the words that matter).
pub fn model_items(items: &[EvidenceItem]) -> Vec<&EvidenceItem> {
    let primary = |item: &&EvidenceItem| item.source != TextSource::OutputLog;
    if items.iter().any(|item| primary(&item)) {
        items.iter().filter(primary).collect()
    } else {
        items.iter().filter(|item| is_error_like(&item.text)).collect()
    }
}

/// The features (hashed) of the items the model reads, and their sources.
pub fn model_features(items: &[EvidenceItem]) -> (Vec<u64>, Vec<TextSource>) {
    let mut features: Vec<u64> = Vec::new();
    let mut sources: Vec<TextSource> = Vec::new();
    let mut read: HashSet<&str, BuildHasherDefault<DefaultHasher>> = HashSet::default();
    for item in model_items(items) {
        if !sources.contains(&item.source) {
            sources.push(item.source);
        }
        // A JobRun message repeated as an error-log line is read once.
        if read.insert(item.text.as_str()) {
            features.extend(tokens::feature_hashes(&item.text));
        }
    }
    features.sort_unstable();
    features.dedup();
    (features, sources)
}

fn is_error_like(text: &str) -> bool {
    let lowercase = text.to_ascii_lowercase();
    OUTPUT_LINE_CUES.iter().any(|cue| lowercase.contains(cue))
}

fn model_signal(model: &TokenModel, opinion: &Opinion, features: &[u64], posterior: &[f64]) -> String {
    let model_index = index_of(opinion.model_class);
    let words = model.strongest_features(features, model_index, SIGNAL_FEATURES);
    let quoted = if words.is_empty() { "no known word".to_string() } else { format!("'{}'", words.join("', '")) };
    let head =
        format!("model {}: {} ({:.2}) from {quoted}", model.version, opinion.model_class, opinion.model_probability);
    let chosen_probability = posterior.get(index_of(opinion.class)).copied().unwrap_or(0.0);
    match opinion.basis {
        Basis::ModelAlone => format!("{head}; no rule fired"),
        Basis::ModelOverWeakRule => format!("{head}; overrules a weak rule"),
        Basis::RulesTieBrokenByModel => format!("{head}; breaks a tie between rule classes"),
        _ if opinion.model_class != opinion.class && opinion.class != FailureClass::Unknown => {
            format!("{head}; disagrees, gives {} {chosen_probability:.2}", opinion.class)
        }
        _ => head,
    }
}
