//! The text's verdict: the rules' analysis and the learned model's reading
//! of the same evidence items, decided together (`opinion`), with the
//! signals that say why and the sources the class rests on.

use crate::core::diagnosis::classifier::TextAnalysis;
use crate::core::diagnosis::linear_model::{CLASS_COUNT, LinearModel, ModelInput, bucket_of};
use crate::core::diagnosis::opinion::{self, Basis, Opinion, index_of};
use crate::core::diagnosis::text::EvidenceItem;
use crate::core::diagnosis::tokens::{self, FeatureHit};
use crate::core::model::{FailureClass, TextSource};

/// Words quoted in the model's signal.
const SIGNAL_FEATURES: usize = 4;
/// Texts remembered to skip repeats (a JobRun message repeated as a log line).
const READ_REMEMBERED: usize = 8;
/// Characters of one quoted word or pair.
const SIGNAL_WORD_CHARS: usize = 48;
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

pub fn text_verdict(items: &[EvidenceItem], analysis: &TextAnalysis, model: &LinearModel) -> TextVerdict {
    let (input, read) = model_input(items, analysis.class_scores);
    let probabilities = if model.is_trained() { model.probabilities(&input) } else { [0.0; CLASS_COUNT] };
    let opinion = opinion::decide(&analysis.class_scores, &probabilities, model);
    let abstains = opinion.abstains();
    let class = if abstains { FailureClass::Unknown } else { opinion.class };
    let mut signals = analysis.signals_for(opinion.class);
    let own_hits = analysis.hits_for(opinion.class).len().min(signals.len());
    if model.is_trained() {
        signals.insert(own_hits, model_signal(model, &opinion, &read, &probabilities));
    }
    if abstains && opinion.class != FailureClass::Unknown {
        signals.insert(
            0,
            format!(
                "abstained: {} at calibrated confidence {:.2}, below its threshold {:.2}",
                opinion.class, opinion.confidence, opinion.threshold
            ),
        );
    }
    let sources = match (class, opinion.basis) {
        (FailureClass::Unknown, _) => Vec::new(),
        (_, Basis::ModelAlone | Basis::ModelOverRules) => read.sources.clone(),
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

/// What the model read, for its signal: each feature with the item it came from.
#[derive(Debug, Clone, Default)]
pub struct ModelReading<'items> {
    pub hits: Vec<(FeatureHit, &'items EvidenceItem)>,
    pub sources: Vec<TextSource>,
}

/// The model's input for the items (their features and where each item came
/// from, with the rules' class scores), and what was read.
pub fn model_input(items: &[EvidenceItem], rule_scores: [f64; CLASS_COUNT]) -> (ModelInput, ModelReading<'_>) {
    let mut reading = ModelReading::default();
    // Texts read so far (the first few): features count once per text, so
    // skipping a repeat changes nothing but the time.
    let mut read: Vec<&str> = Vec::with_capacity(READ_REMEMBERED);
    let mut last: Option<&str> = None;
    for item in model_items(items) {
        if !reading.sources.contains(&item.source) {
            reading.sources.push(item.source);
        }
        // A JobRun message repeated as an error-log line is read once.
        // The first few texts and the last one are remembered: a repeated
        // message and a run of identical log lines are read once.
        if !read.contains(&item.text.as_str()) && last != Some(item.text.as_str()) {
            if read.len() < READ_REMEMBERED {
                read.push(item.text.as_str());
            }
            last = Some(item.text.as_str());
            reading.hits.extend(tokens::feature_hits(&item.text).into_iter().map(|hit| (hit, item)));
        }
    }
    let places = reading.sources.iter().map(|source| tokens::hash_feature(where_feature(*source)));
    let input = ModelInput::new(reading.hits.iter().map(|(hit, _)| hit.hash).chain(places), rule_scores);
    (input, reading)
}

/// The feature naming where a text came from.
fn where_feature(source: TextSource) -> &'static str {
    match source {
        TextSource::JobRunErrorMessage => "where:job_run_error_message",
        TextSource::ErrorLog => "where:error_log",
        TextSource::OutputLog => "where:output_log",
    }
}

fn is_error_like(text: &str) -> bool {
    let lowercase = text.to_ascii_lowercase();
    OUTPUT_LINE_CUES.iter().any(|cue| lowercase.contains(cue))
}

/// The words of the text that weigh most for `class`, strongest first.
fn strongest_words<'items>(model: &LinearModel, reading: &ModelReading<'items>, class: usize) -> Vec<String> {
    let mut best: Vec<(f64, &str)> = Vec::with_capacity(SIGNAL_FEATURES + 1);
    for (hit, item) in &reading.hits {
        let weight = model.contribution(bucket_of(hit.hash), class);
        if weight <= 0.0 || (best.len() == SIGNAL_FEATURES && best.last().is_some_and(|(worst, _)| weight <= *worst)) {
            continue;
        }
        let word = item.text.get(hit.start as usize..hit.end as usize).unwrap_or_default();
        let word = word.char_indices().nth(SIGNAL_WORD_CHARS).map_or(word, |(at, _)| &word[..at]);
        if best.iter().any(|(_, known)| *known == word) {
            continue;
        }
        let at = best.iter().position(|(other, _)| weight > *other).unwrap_or(best.len());
        best.insert(at, (weight, word));
        best.truncate(SIGNAL_FEATURES);
    }
    best.into_iter().map(|(_, word)| word.to_string()).collect()
}

fn model_signal(
    model: &LinearModel,
    opinion: &Opinion,
    reading: &ModelReading<'_>,
    probabilities: &[f64; CLASS_COUNT],
) -> String {
    let chosen = index_of(opinion.class);
    let model_class = opinion::argmax(probabilities);
    let words = strongest_words(model, reading, model_class);
    let quoted = if words.is_empty() { "no known word".to_string() } else { format!("'{}'", words.join("', '")) };
    let head = format!(
        "model {}: {} ({:.2}) from {quoted}",
        model.version,
        FailureClass::ALL[model_class],
        probabilities[model_class]
    );
    match opinion.basis {
        Basis::ModelAlone => format!("{head}; no rule fired"),
        Basis::ModelOverRules => format!("{head}; outweighs the rules"),
        Basis::ModelWithWeakRule => format!("{head}; with a weak rule"),
        _ if chosen != model_class => format!("{head}; gives {} {:.2}", opinion.class, probabilities[chosen]),
        _ => head,
    }
}
