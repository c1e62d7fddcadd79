//! Fitting the learned model (`linear_model`): the softmax weights, the
//! temperature that calibrates them and the per-class abstention
//! thresholds, as pure deterministic functions of labelled rows.
//!
//! - Weights: full-batch gradient descent with momentum on the mean
//!   cross-entropy plus an L2 penalty, from zero, for a fixed number of
//!   iterations over the rows in a fixed order: the same rows give the same
//!   weights, bit for bit.
//! - Temperature: the one number that makes out-of-fold probabilities
//!   honest (least log-loss), found by golden-section search. The folds are
//!   grouped by source (`training::source_group`): a model is never
//!   calibrated on messages from a source it was trained on, which is what
//!   messages nobody here has seen look like.
//! - Thresholds: per class, the calibrated probability below which its
//!   answers are withheld, chosen on the same out-of-fold predictions so that
//!   wrong answers stay within `wrong_budget` of all messages while as many
//!   right answers as possible are kept (a Lagrangian sweep: each class
//!   keeps the threshold that maximises right - lambda * wrong, and lambda
//!   rises until the budget holds).

use crate::core::diagnosis::linear_model::{BUCKETS, CLASS_COUNT, LinearModel, ModelInput, RULE_INPUTS, softmax};

/// One labelled row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub input: ModelInput,
    /// Class index (`FailureClass::ALL` order).
    pub label: usize,
    /// Fold of the row's source group.
    pub fold: u64,
    /// Whether its rule scores are from rules not written against it: only
    /// such rows calibrate, since that is how the rules meet a new message.
    pub calibrates: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// L2 penalty of the text weights.
    pub l2: f64,
    /// L2 penalty of the rule-score weights.
    pub rule_l2: f64,
    pub iterations: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    /// Grouped folds for the out-of-fold predictions of calibration.
    pub calibration_folds: u64,
    /// Share of all messages allowed to be answered wrongly (out of fold).
    pub wrong_budget: f64,
    /// Lowest threshold considered.
    pub min_threshold: f64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            l2: 1e-4,
            rule_l2: 1e-4,
            iterations: 300,
            learning_rate: 4.0,
            momentum: 0.9,
            calibration_folds: 5,
            wrong_budget: 0.03,
            min_threshold: 0.3,
        }
    }
}

/// Parameters as one flat vector: text weights, rule weights, bias.
const TEXT_PARAMETERS: usize = BUCKETS * CLASS_COUNT;
const RULE_OFFSET: usize = TEXT_PARAMETERS;
const BIAS_OFFSET: usize = RULE_OFFSET + RULE_INPUTS * CLASS_COUNT;
const PARAMETERS: usize = BIAS_OFFSET + CLASS_COUNT;

/// Fit the weights (temperature 1, no thresholds) on `rows`.
pub fn fit_weights(rows: &[&Row], config: &FitConfig) -> LinearModel {
    let mut parameters = vec![0.0_f64; PARAMETERS];
    let mut velocity = vec![0.0_f64; PARAMETERS];
    let mut gradient = vec![0.0_f64; PARAMETERS];
    let count = rows.len().max(1) as f64;
    for _ in 0..config.iterations {
        gradient.iter_mut().for_each(|value| *value = 0.0);
        for row in rows {
            let logits = logits_of(&parameters, &row.input);
            let mut error = softmax(&logits, 1.0);
            error[row.label] -= 1.0;
            let value = row.input.bucket_value();
            for bucket in &row.input.buckets {
                let base = *bucket as usize * CLASS_COUNT;
                for class in 0..CLASS_COUNT {
                    gradient[base + class] += error[class] * value;
                }
            }
            for (rule_class, score) in row.input.rule_scores.iter().take(RULE_INPUTS).enumerate() {
                if *score > 0.0 {
                    let base = RULE_OFFSET + rule_class * CLASS_COUNT;
                    for class in 0..CLASS_COUNT {
                        gradient[base + class] += error[class] * score;
                    }
                }
            }
            for class in 0..CLASS_COUNT {
                gradient[BIAS_OFFSET + class] += error[class];
            }
        }
        for (index, value) in gradient.iter_mut().enumerate() {
            let penalty = match index {
                _ if index < RULE_OFFSET => config.l2,
                _ if index < BIAS_OFFSET => config.rule_l2,
                _ => 0.0,
            };
            *value = *value / count + penalty * parameters[index];
        }
        for index in 0..PARAMETERS {
            velocity[index] = config.momentum * velocity[index] - config.learning_rate * gradient[index];
            parameters[index] += velocity[index];
        }
    }
    model_of(&parameters)
}

/// Mean cross-entropy of `model` (temperature 1) on `rows`, and the share it classifies right.
pub fn training_loss(rows: &[Row], model: &LinearModel) -> (f64, f64) {
    let mut loss = 0.0;
    let mut right = 0usize;
    for row in rows {
        let probabilities = softmax(&model.logits(&row.input), 1.0);
        loss -= probabilities[row.label].max(1e-12).ln();
        let best = (0..CLASS_COUNT).max_by(|left, right| probabilities[*left].total_cmp(&probabilities[*right]));
        right += usize::from(best == Some(row.label));
    }
    let count = rows.len().max(1) as f64;
    (loss / count, right as f64 / count)
}

fn logits_of(parameters: &[f64], input: &ModelInput) -> [f64; CLASS_COUNT] {
    let mut logits = [0.0; CLASS_COUNT];
    logits.copy_from_slice(&parameters[BIAS_OFFSET..BIAS_OFFSET + CLASS_COUNT]);
    let value = input.bucket_value();
    for bucket in &input.buckets {
        let base = *bucket as usize * CLASS_COUNT;
        for class in 0..CLASS_COUNT {
            logits[class] += parameters[base + class] * value;
        }
    }
    for (rule_class, score) in input.rule_scores.iter().take(RULE_INPUTS).enumerate() {
        if *score > 0.0 {
            let base = RULE_OFFSET + rule_class * CLASS_COUNT;
            for class in 0..CLASS_COUNT {
                logits[class] += parameters[base + class] * score;
            }
        }
    }
    logits
}

fn model_of(parameters: &[f64]) -> LinearModel {
    let mut model = LinearModel::empty();
    model.weights = parameters[..TEXT_PARAMETERS]
        .chunks_exact(CLASS_COUNT)
        .map(|chunk| {
            let mut row = [0.0; CLASS_COUNT];
            row.copy_from_slice(chunk);
            row
        })
        .collect();
    for (rule_class, row) in model.rule_weights.iter_mut().enumerate() {
        let base = RULE_OFFSET + rule_class * CLASS_COUNT;
        row.copy_from_slice(&parameters[base..base + CLASS_COUNT]);
    }
    model.bias.copy_from_slice(&parameters[BIAS_OFFSET..BIAS_OFFSET + CLASS_COUNT]);
    model
}

/// Out-of-fold logits of every row: each fold predicted by weights fitted
/// without it. Rows keep their order.
pub fn out_of_fold_logits(rows: &[Row], folds: u64, config: &FitConfig) -> Vec<[f64; CLASS_COUNT]> {
    let mut logits = vec![[0.0; CLASS_COUNT]; rows.len()];
    for fold in 0..folds {
        let training: Vec<&Row> = rows.iter().filter(|row| row.fold % folds != fold).collect();
        let model = fit_weights(&training, config).rounded();
        for (index, row) in rows.iter().enumerate().filter(|(_, row)| row.fold % folds == fold) {
            logits[index] = model.logits(&row.input);
        }
    }
    logits
}

/// The temperature that minimises the log-loss of `logits` against `labels`.
pub fn fit_temperature(logits: &[[f64; CLASS_COUNT]], labels: &[usize]) -> f64 {
    let loss = |temperature: f64| -> f64 {
        logits.iter().zip(labels).map(|(row, label)| -softmax(row, temperature)[*label].max(1e-12).ln()).sum::<f64>()
    };
    let (mut low, mut high) = (0.05_f64, 20.0_f64);
    let ratio = (5.0_f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let left = high - ratio * (high - low);
        let right = low + ratio * (high - low);
        if loss(left) < loss(right) {
            high = right;
        } else {
            low = left;
        }
    }
    (low + high) / 2.0
}

/// One out-of-fold answer before abstention: its class, its calibrated
/// probability and whether it was right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub class: usize,
    pub probability: f64,
    pub right: bool,
}

/// Candidate thresholds, from `min_threshold` up; 1.01 withholds the class.
fn threshold_grid(min_threshold: f64) -> Vec<f64> {
    let mut grid: Vec<f64> = (0..=19).map(|step| f64::from(step) * 0.05).filter(|t| *t >= min_threshold).collect();
    grid.push(1.01);
    grid
}

/// Per-class thresholds over `proposals` (the `unknown` class never answers)
/// keeping wrong answers within `budget` of `total` messages.
pub fn choose_thresholds(proposals: &[Proposal], total: usize, budget: f64, min_threshold: f64) -> [f64; CLASS_COUNT] {
    let grid = threshold_grid(min_threshold);
    let allowed = budget * total as f64;
    let tally = |class: usize, threshold: f64| {
        proposals.iter().filter(|proposal| proposal.class == class && proposal.probability >= threshold).fold(
            (0.0, 0.0),
            |(right, wrong), proposal| if proposal.right { (right + 1.0, wrong) } else { (right, wrong + 1.0) },
        )
    };
    let choose = |lambda: f64| {
        let mut thresholds = [1.01; CLASS_COUNT];
        let mut wrong_total = 0.0;
        for (class, threshold) in thresholds.iter_mut().enumerate().take(CLASS_COUNT - 1) {
            let mut best = (f64::NEG_INFINITY, 1.01, 0.0);
            for candidate in &grid {
                let (right, wrong) = tally(class, *candidate);
                let value = right - lambda * wrong;
                if value > best.0 + 1e-9 {
                    best = (value, *candidate, wrong);
                }
            }
            *threshold = best.1;
            wrong_total += best.2;
        }
        (thresholds, wrong_total)
    };
    let mut lambda = 0.0;
    loop {
        let (thresholds, wrong) = choose(lambda);
        if wrong <= allowed || lambda > 1000.0 {
            return thresholds;
        }
        lambda += 0.25;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: u64, label: usize, fold: u64) -> Row {
        Row { input: ModelInput::new([hash], [0.0; CLASS_COUNT]), label, fold, calibrates: true }
    }

    #[test]
    fn separable_words_are_learned_and_fitting_is_deterministic() {
        let rows: Vec<Row> =
            (0..40).map(|index| row(if index % 2 == 0 { 11 } else { 23 }, index % 2, index as u64)).collect();
        let references: Vec<&Row> = rows.iter().collect();
        let model = fit_weights(&references, &FitConfig::default());
        let probabilities = model.probabilities(&rows[0].input);
        assert!(probabilities[0] > 0.8, "{probabilities:?}");
        assert_eq!(model, fit_weights(&references, &FitConfig::default()));
    }

    #[test]
    fn the_temperature_softens_overconfident_logits() {
        // Logits that say 0.99 but are right 70% of the time.
        let logits: Vec<[f64; CLASS_COUNT]> = (0..100)
            .map(|_| {
                let mut row = [0.0; CLASS_COUNT];
                row[0] = 6.0;
                row
            })
            .collect();
        let labels: Vec<usize> = (0..100).map(|index| if index % 10 < 7 { 0 } else { 1 }).collect();
        let temperature = fit_temperature(&logits, &labels);
        let calibrated = softmax(&logits[0], temperature)[0];
        assert!((calibrated - 0.7).abs() < 0.05, "{temperature} gives {calibrated}");
    }

    #[test]
    fn thresholds_keep_wrong_answers_within_budget() {
        let mut proposals = Vec::new();
        for index in 0..100 {
            let probability = f64::from(index) / 100.0;
            proposals.push(Proposal { class: 0, probability, right: index >= 40 || index % 2 == 0 });
        }
        let thresholds = choose_thresholds(&proposals, 100, 0.02, 0.3);
        let wrong =
            proposals.iter().filter(|proposal| !proposal.right && proposal.probability >= thresholds[0]).count();
        assert!(wrong <= 2, "threshold {} leaves {wrong} wrong", thresholds[0]);
        assert!(thresholds[0] <= 0.4, "{}", thresholds[0]);
        assert_eq!(thresholds[CLASS_COUNT - 1], 1.01);
    }
}
