//! Training of the second opinion and its calibrator, as pure functions of
//! labelled messages: the commands that read files and write the model
//! (`examples/train_diagnosis_model.rs`) and that score corpora
//! (`examples/score_corpus.rs`) call these, so the shipped file and every
//! cross-validated figure come from the same code.
//!
//! Deterministic by construction: counting, a fixed fold assignment (a hash
//! of each message's id), and a Newton fit of the calibrator from zero.
//!
//! The calibrator is fitted on the messages marked `calibrate` (the
//! development corpus, drawn like the blind set from one collection), each
//! decided with the model's opinion from a fold that did not contain it.
//! Where a message carries `honest_rule_scores` (what the rules said before
//! any rule was written against it), those stand in for the rules: the rules
//! of this build were written against the development corpus, so their
//! scores there are in-sample and would make the confidence promise more
//! than it holds on messages no rule was written for.

use serde::Deserialize;

use crate::core::diagnosis::classifier;
use crate::core::diagnosis::opinion::{self, CALIBRATION_INPUTS};
use crate::core::diagnosis::text::EvidenceCollector;
use crate::core::diagnosis::token_model::{CLASS_COUNT, Calibrator, TokenModel};
use crate::core::diagnosis::{tokens, verdict};
use crate::core::model::{FailureClass, TextSource};

/// One labelled message of a corpus file (JSON lines).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LabelledMessage {
    pub id: String,
    pub text: String,
    #[serde(rename = "where", default)]
    pub source: Option<TextSource>,
    #[serde(rename = "class")]
    pub label: String,
    #[serde(default)]
    pub ambiguous: bool,
}

impl LabelledMessage {
    pub fn class(&self) -> Option<FailureClass> {
        FailureClass::parse(&self.label)
    }
}

/// Read a corpus file: one JSON object per non-blank line, every label a failure class.
pub fn parse_corpus(text: &str) -> Result<Vec<LabelledMessage>, String> {
    let mut messages = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let message: LabelledMessage =
            serde_json::from_str(line).map_err(|error| format!("line {}: {error}", number + 1))?;
        if message.class().is_none() {
            return Err(format!("line {}: {} is not a failure class", number + 1, message.label));
        }
        messages.push(message);
    }
    Ok(messages)
}

/// Rule scores recorded for a message before rules were written against it.
#[derive(Debug, Clone, Deserialize)]
struct RecordedRuleScores {
    id: String,
    #[serde(default)]
    rule_scores: std::collections::BTreeMap<String, f64>,
}

/// Read a file of recorded rule scores (`{"id", "rule_scores": {class: score}}` per line).
pub fn parse_rule_scores(text: &str) -> Result<Vec<(String, [f64; CLASS_COUNT])>, String> {
    let mut recorded = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let row: RecordedRuleScores =
            serde_json::from_str(line).map_err(|error| format!("line {}: {error}", number + 1))?;
        let mut scores = [0.0; CLASS_COUNT];
        for (name, score) in &row.rule_scores {
            let class = FailureClass::parse(name).ok_or_else(|| format!("line {}: class {name}", number + 1))?;
            scores[opinion::index_of(class)] = *score;
        }
        recorded.push((row.id, scores));
    }
    Ok(recorded)
}

/// The model shipped with this build (for the evaluation command).
pub fn shipped_model() -> &'static TokenModel {
    crate::core::diagnosis::token_model::shipped()
}

/// A message as training sees it.
#[derive(Debug, Clone)]
pub struct Example {
    pub message: LabelledMessage,
    /// Whether the calibrator is fitted on it.
    pub calibrate: bool,
    /// The rules' class scores before rules were written against it, if recorded.
    pub honest_rule_scores: Option<[f64; CLASS_COUNT]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainingConfig {
    /// Additive smoothing of the word counts.
    pub alpha: f64,
    /// A feature is kept when it occurs in at least this many messages.
    pub min_documents: u32,
    /// Folds for the model's out-of-fold opinions on calibration messages.
    pub calibration_folds: u64,
    /// Ridge penalty of the calibrator's fit.
    pub calibrator_ridge: f64,
    pub abstain_below: f64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig { alpha: 0.3, min_documents: 2, calibration_folds: 5, calibrator_ridge: 1.0, abstain_below: 0.5 }
    }
}

/// The fold of a message: a hash of its id, salted so that nested fold
/// assignments are independent.
pub fn fold_of(id: &str, salt: u64, folds: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 29;
    hash % folds.max(1)
}

/// Salt of the calibration folds inside `train`.
const CALIBRATION_SALT: u64 = 1;

/// Features of a message as the classifier would read it.
pub fn message_features(message: &LabelledMessage) -> Vec<String> {
    let mut collector = EvidenceCollector::default();
    collector.push(message.source.unwrap_or_default(), 0, &message.text);
    let items = collector.into_items();
    let mut features: Vec<String> =
        verdict::model_items(&items).into_iter().flat_map(|item| tokens::features(&item.text)).collect();
    features.sort_unstable();
    features.dedup();
    features
}

fn hashes(features: &[String]) -> Vec<u64> {
    features.iter().map(|feature| tokens::hash_feature(feature)).collect()
}

/// The rules' class scores for a message, with this build's rules.
pub fn rule_scores(message: &LabelledMessage) -> [f64; CLASS_COUNT] {
    let mut collector = EvidenceCollector::default();
    collector.push(message.source.unwrap_or_default(), 0, &message.text);
    classifier::analyse(&collector.into_items()).class_scores
}

/// The decision (before abstention) and its confidence for a message whose
/// rule scores are given instead of computed: how the combination would
/// have done with rules that had not seen the message (recorded scores).
pub fn judge_with_rule_scores(
    model: &TokenModel,
    message: &LabelledMessage,
    scores: &[f64; CLASS_COUNT],
) -> (FailureClass, f64) {
    let posterior = model.posterior(&hashes(&message_features(message)));
    let decided = opinion::decide(scores, &posterior, model);
    (decided.class, decided.confidence)
}

/// Count features per class over the given examples (their features precomputed).
fn count(
    labels: &[usize],
    features: &[Vec<String>],
    selected: &[usize],
    min_documents: u32,
) -> ([u32; CLASS_COUNT], Vec<(String, [u32; CLASS_COUNT])>) {
    let mut documents = [0u32; CLASS_COUNT];
    let mut counts: std::collections::BTreeMap<&str, [u32; CLASS_COUNT]> = std::collections::BTreeMap::new();
    for &index in selected {
        documents[labels[index]] += 1;
        for feature in &features[index] {
            counts.entry(feature).or_insert([0; CLASS_COUNT])[labels[index]] += 1;
        }
    }
    let kept = counts
        .into_iter()
        .filter(|(_, per_class)| per_class.iter().sum::<u32>() >= min_documents)
        .map(|(feature, per_class)| (feature.to_string(), per_class))
        .collect();
    (documents, kept)
}

/// Train the model and its calibrator on `examples`.
pub fn train(examples: &[Example], config: &TrainingConfig, version: &str, trained_on: &str) -> TokenModel {
    let labels: Vec<usize> = examples
        .iter()
        .map(|example| opinion::index_of(example.message.class().unwrap_or(FailureClass::Unknown)))
        .collect();
    let features: Vec<Vec<String>> = examples.iter().map(|example| message_features(&example.message)).collect();
    let everyone: Vec<usize> = (0..examples.len()).collect();
    let (documents, counts) = count(&labels, &features, &everyone, config.min_documents);
    let mut rows: Vec<([f64; CALIBRATION_INPUTS], bool)> = Vec::new();
    for fold in 0..config.calibration_folds {
        let in_fold = |index: &usize| {
            examples[*index].calibrate
                && fold_of(&examples[*index].message.id, CALIBRATION_SALT, config.calibration_folds) == fold
        };
        let training: Vec<usize> = everyone.iter().copied().filter(|index| !in_fold(index)).collect();
        let (fold_documents, fold_counts) = count(&labels, &features, &training, config.min_documents);
        let fold_model = TokenModel::new(
            String::new(),
            String::new(),
            config.alpha,
            fold_documents,
            fold_counts,
            Calibrator::default(),
            0.0,
        );
        for index in everyone.iter().copied().filter(in_fold) {
            let example = &examples[index];
            let posterior = fold_model.posterior(&hashes(&features[index]));
            let scores = example.honest_rule_scores.unwrap_or_else(|| rule_scores(&example.message));
            let (class, _) = opinion::choose(&scores, &posterior);
            if class != FailureClass::Unknown {
                rows.push((
                    opinion::calibration_inputs(&scores, &posterior, class),
                    opinion::index_of(class) == labels[index],
                ));
            }
        }
    }
    let calibrator = Calibrator { weights: fit_logistic(&rows, config.calibrator_ridge) };
    TokenModel::new(
        version.to_string(),
        trained_on.to_string(),
        config.alpha,
        documents,
        counts,
        calibrator,
        config.abstain_below,
    )
}

/// Logistic regression by Newton's method with a ridge penalty (the bias
/// is not penalised): weights `[bias, w1, ..]`.
pub fn fit_logistic(rows: &[([f64; CALIBRATION_INPUTS], bool)], ridge: f64) -> Vec<f64> {
    const SIZE: usize = CALIBRATION_INPUTS + 1;
    let mut weights = [0.0_f64; SIZE];
    for _ in 0..50 {
        let mut gradient = [0.0_f64; SIZE];
        let mut hessian = [[0.0_f64; SIZE]; SIZE];
        for (inputs, right) in rows {
            let mut x = [1.0_f64; SIZE];
            x[1..].copy_from_slice(inputs);
            let linear: f64 = x.iter().zip(&weights).map(|(value, weight)| value * weight).sum();
            let probability = 1.0 / (1.0 + (-linear).exp());
            let target = if *right { 1.0 } else { 0.0 };
            for row in 0..SIZE {
                gradient[row] += (target - probability) * x[row];
                for column in 0..SIZE {
                    hessian[row][column] += probability * (1.0 - probability) * x[row] * x[column];
                }
            }
        }
        for index in 1..SIZE {
            gradient[index] -= ridge * weights[index];
            hessian[index][index] += ridge;
        }
        hessian[0][0] += 1e-9;
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        for index in 0..SIZE {
            weights[index] += step[index];
        }
        if step.iter().map(|value| value.abs()).fold(0.0, f64::max) < 1e-10 {
            break;
        }
    }
    weights.to_vec()
}

/// Solve `matrix * x = vector` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut matrix: [[f64; N]; N], mut vector: [f64; N]) -> Option<[f64; N]> {
    for column in 0..N {
        let pivot =
            (column..N).max_by(|left, right| matrix[*left][column].abs().total_cmp(&matrix[*right][column].abs()))?;
        if matrix[pivot][column].abs() < 1e-12 {
            return None;
        }
        matrix.swap(column, pivot);
        vector.swap(column, pivot);
        let pivot_row = matrix[column];
        for row in column + 1..N {
            let factor = matrix[row][column] / pivot_row[column];
            for (cell, pivot_cell) in matrix[row].iter_mut().zip(&pivot_row).skip(column) {
                *cell -= factor * pivot_cell;
            }
            vector[row] -= factor * vector[column];
        }
    }
    let mut solution = [0.0; N];
    for row in (0..N).rev() {
        let known: f64 = (row + 1..N).map(|inner| matrix[row][inner] * solution[inner]).sum();
        solution[row] = (vector[row] - known) / matrix[row][row];
    }
    Some(solution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stable_and_salts_independent() {
        assert_eq!(fold_of("pub-dev-001", 0, 10), fold_of("pub-dev-001", 0, 10));
        let ids: Vec<String> = (0..400).map(|index| format!("pub-dev-{index:03}")).collect();
        let sizes = (0..10).map(|fold| ids.iter().filter(|id| fold_of(id, 0, 10) == fold).count());
        assert!(sizes.clone().all(|size| (20..=60).contains(&size)), "{:?}", sizes.collect::<Vec<_>>());
        let same_fold_both_salts =
            ids.iter().filter(|id| fold_of(id, 0, 5) == fold_of(id, CALIBRATION_SALT, 5)).count() as f64 / 400.0;
        assert!(same_fold_both_salts < 0.35, "{same_fold_both_salts}");
    }

    #[test]
    fn the_logistic_fit_recovers_a_monotone_relation() {
        let rows: Vec<([f64; CALIBRATION_INPUTS], bool)> = (0..200)
            .map(|index| {
                let score = f64::from(index % 10) / 10.0;
                ([score, 0.0, 0.0, 0.0, 0.0], (index / 10) % 10 < (index % 10))
            })
            .collect();
        let weights = fit_logistic(&rows, 0.01);
        let calibrator = Calibrator { weights };
        assert!(calibrator.probability(&[0.9, 0.0, 0.0, 0.0, 0.0]) > 0.8);
        assert!(calibrator.probability(&[0.1, 0.0, 0.0, 0.0, 0.0]) < 0.2);
    }

    #[test]
    fn corpus_lines_need_a_known_class() {
        assert!(parse_corpus(r#"{"id":"a","text":"x","class":"timeout"}"#).is_ok());
        assert!(parse_corpus(r#"{"id":"a","text":"x","class":"weather"}"#).is_err());
    }
}
