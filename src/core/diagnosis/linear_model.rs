//! The learned model: multinomial logistic regression (softmax) over hashed
//! text features and the rules' class scores, with its calibration and its
//! per-class abstention thresholds. It ships as one versioned text file,
//! `linear_model.tsv`, written by `cargo run --release --example
//! train_diagnosis_model` (see `fit` and docs/diagnosis.md).
//!
//! Why this model: it is discriminative (it weighs a word by how much it
//! separates the classes given all the other words, where naive Bayes
//! counted each word as if it were alone, and was overconfident on long
//! texts), it learns how far to trust each rule class from messages the
//! rules had not seen, and its decision costs one table lookup per feature:
//! a feature's hash picks one of `BUCKETS` rows of weights, so the file and
//! the memory stay small whatever the vocabulary. The text features are
//! scaled to unit length, so a long stack trace does not speak louder than
//! a one-line message.
//!
//! The probability it reports is calibrated: the logits are divided by a
//! temperature fitted on out-of-fold predictions (grouped by source), and an
//! answer below its class's threshold is withheld (`unknown`, which the
//! policy escalates). The thresholds are chosen, on the same out-of-fold
//! predictions, to keep confidently wrong answers within budget while
//! answering as much as possible.
//!
//! File format (tab-separated, one record per line): `format 2`, `version`,
//! `trained_on`, `buckets <n>`, `scale <s>` (weights are integers in units of
//! 1/s), `temperature`, `thresholds <per class>`, `bias <per class>`,
//! `rule <class> <per class>` (the weight of that class's rule score on each
//! class's logit), then `w <bucket> <per class>` for every bucket whose
//! weights are not all zero. Classes are in `FailureClass::ALL` order.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hash::DefaultHasher;
use std::sync::LazyLock;

use crate::core::model::FailureClass;

/// Classes in `FailureClass::ALL` order.
pub const CLASS_COUNT: usize = 9;
/// Rows of weights that feature hashes fall into.
pub const BUCKETS: usize = 16384;
/// Rule scores read by the model: one per class but `unknown`.
pub const RULE_INPUTS: usize = CLASS_COUNT - 1;
/// Version of the file layout this code reads.
const FORMAT: &str = "2";

/// The shipped model, parsed once per process. A file that does not parse is
/// a build defect (a unit test parses it); it degrades to rules alone.
static SHIPPED: LazyLock<LinearModel> =
    LazyLock::new(|| LinearModel::parse(include_str!("linear_model.tsv")).unwrap_or_else(|_| LinearModel::empty()));

/// The model shipped with this build.
pub fn shipped() -> &'static LinearModel {
    &SHIPPED
}

/// The bucket of a feature hash.
pub fn bucket_of(hash: u64) -> usize {
    ((hash ^ (hash >> 29) ^ (hash >> 47)) % BUCKETS as u64) as usize
}

/// What the model reads about one piece of evidence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInput {
    /// Distinct buckets of the text's features, sorted.
    pub buckets: Vec<u32>,
    /// The rules' score for each class (`FailureClass::ALL` order; `unknown` unused).
    pub rule_scores: [f64; CLASS_COUNT],
}

impl ModelInput {
    /// The input for a set of feature hashes and rule scores.
    pub fn new(hashes: impl IntoIterator<Item = u64>, rule_scores: [f64; CLASS_COUNT]) -> ModelInput {
        let mut buckets: Vec<u32> = hashes.into_iter().map(|hash| bucket_of(hash) as u32).collect();
        buckets.sort_unstable();
        buckets.dedup();
        ModelInput { buckets, rule_scores }
    }

    /// The value of each present bucket: the text features have unit length.
    pub fn bucket_value(&self) -> f64 {
        1.0 / (self.buckets.len().max(1) as f64).sqrt()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub version: String,
    pub trained_on: String,
    /// `BUCKETS` rows of one weight per class; empty for the untrained model.
    pub weights: Vec<[f64; CLASS_COUNT]>,
    /// `rule_weights[r][c]`: weight of class r's rule score on class c's logit.
    pub rule_weights: [[f64; CLASS_COUNT]; RULE_INPUTS],
    pub bias: [f64; CLASS_COUNT],
    /// Logits are divided by it before the softmax (calibration).
    pub temperature: f64,
    /// Per class, the calibrated probability below which its answer is withheld.
    pub thresholds: [f64; CLASS_COUNT],
}

impl LinearModel {
    /// A model that knows nothing: decisions rest on the rules alone.
    pub fn empty() -> LinearModel {
        LinearModel {
            version: "none".to_string(),
            trained_on: String::new(),
            weights: Vec::new(),
            rule_weights: [[0.0; CLASS_COUNT]; RULE_INPUTS],
            bias: [0.0; CLASS_COUNT],
            temperature: 1.0,
            thresholds: [0.0; CLASS_COUNT],
        }
    }

    /// Whether the model was trained (the empty one was not).
    pub fn is_trained(&self) -> bool {
        self.weights.len() == BUCKETS
    }

    /// The raw (uncalibrated) logit of each class.
    pub fn logits(&self, input: &ModelInput) -> [f64; CLASS_COUNT] {
        let mut logits = self.bias;
        if self.is_trained() {
            let value = input.bucket_value();
            for bucket in &input.buckets {
                let row = &self.weights[*bucket as usize];
                for class in 0..CLASS_COUNT {
                    logits[class] += value * row[class];
                }
            }
        }
        for (rule_class, score) in input.rule_scores.iter().take(RULE_INPUTS).enumerate() {
            if *score > 0.0 {
                for (logit, weight) in logits.iter_mut().zip(&self.rule_weights[rule_class]) {
                    *logit += score * weight;
                }
            }
        }
        logits
    }

    /// Calibrated probability of each class.
    pub fn probabilities(&self, input: &ModelInput) -> [f64; CLASS_COUNT] {
        softmax(&self.logits(input), self.temperature)
    }

    /// The contribution of one bucket to one class's logit (for signals).
    pub fn contribution(&self, bucket: usize, class: usize) -> f64 {
        self.weights.get(bucket).map_or(0.0, |row| row[class])
    }

    /// The file text: same model, same bytes.
    pub fn to_file(&self) -> String {
        let classes: Vec<&str> = FailureClass::ALL.iter().map(|class| class.as_str()).collect();
        let fixed = |values: &[f64]| values.iter().map(|value| format!("{value:.4}")).collect::<Vec<_>>().join("\t");
        let mut text = String::new();
        text.push_str(&format!("format\t{FORMAT}\nversion\t{}\ntrained_on\t{}\n", self.version, self.trained_on));
        text.push_str(&format!("classes\t{}\nbuckets\t{BUCKETS}\nscale\t{WEIGHT_SCALE}\n", classes.join("\t")));
        text.push_str(&format!("temperature\t{:.4}\n", self.temperature));
        text.push_str(&format!("thresholds\t{}\nbias\t{}\n", fixed(&self.thresholds), fixed(&self.bias)));
        for (rule_class, row) in self.rule_weights.iter().enumerate() {
            text.push_str(&format!("rule\t{}\t{}\n", classes[rule_class], fixed(row)));
        }
        for (bucket, row) in self.weights.iter().enumerate() {
            let units: Vec<i64> = row.iter().map(|weight| to_units(*weight)).collect();
            if units.iter().any(|unit| *unit != 0) {
                let joined: Vec<String> = units.iter().map(i64::to_string).collect();
                text.push_str(&format!("w\t{bucket}\t{}\n", joined.join("\t")));
            }
        }
        text
    }

    /// The same model with every weight rounded as the file stores it.
    pub fn rounded(mut self) -> LinearModel {
        for row in &mut self.weights {
            for weight in row.iter_mut() {
                *weight = to_units(*weight) as f64 / WEIGHT_SCALE;
            }
        }
        let round4 = |value: &mut f64| *value = (*value * 1e4).round() / 1e4;
        self.rule_weights.iter_mut().flatten().for_each(round4);
        self.bias.iter_mut().for_each(round4);
        self.thresholds.iter_mut().for_each(round4);
        round4(&mut self.temperature);
        self
    }

    /// Read a model file written by `to_file`.
    pub fn parse(text: &str) -> Result<LinearModel, String> {
        let mut fields: HashMap<&str, &str, BuildHasherDefault<DefaultHasher>> = HashMap::default();
        let mut model = LinearModel::empty();
        let mut weights = vec![[0.0; CLASS_COUNT]; BUCKETS];
        let mut rules_seen = 0;
        for (number, line) in text.lines().enumerate() {
            let at = |error: String| format!("line {}: {error}", number + 1);
            let (key, rest) = line.split_once('\t').ok_or_else(|| at("no tab".to_string()))?;
            match key {
                "w" => {
                    let (bucket, values) = rest.split_once('\t').ok_or_else(|| at("no weights".to_string()))?;
                    let bucket: usize = bucket.parse().map_err(|_| at(format!("bucket {bucket}")))?;
                    let row = weights.get_mut(bucket).ok_or_else(|| at(format!("bucket {bucket} >= {BUCKETS}")))?;
                    let units = numbers(values).map_err(at)?;
                    for (weight, unit) in row.iter_mut().zip(units) {
                        *weight = unit / WEIGHT_SCALE;
                    }
                }
                "rule" => {
                    let (class, values) = rest.split_once('\t').ok_or_else(|| at("no weights".to_string()))?;
                    let class = FailureClass::parse(class).ok_or_else(|| at(format!("class {class}")))?;
                    let index = class_index(class).filter(|index| *index < RULE_INPUTS);
                    let index = index.ok_or_else(|| at(format!("no rule input for {class}")))?;
                    model.rule_weights[index] = numbers(values).map_err(at)?;
                    rules_seen += 1;
                }
                _ => {
                    fields.insert(key, rest);
                }
            }
        }
        let field = |key: &str| fields.get(key).copied().ok_or_else(|| format!("missing {key}"));
        if field("format")? != FORMAT {
            return Err(format!("model format {} is not {FORMAT}", field("format")?));
        }
        let expected: Vec<&str> = FailureClass::ALL.iter().map(|class| class.as_str()).collect();
        if field("classes")?.split('\t').collect::<Vec<_>>() != expected {
            return Err("classes differ from this build's failure classes".to_string());
        }
        if field("buckets")? != BUCKETS.to_string() || field("scale")? != WEIGHT_SCALE.to_string() {
            return Err(format!("buckets and scale must be {BUCKETS} and {WEIGHT_SCALE}"));
        }
        if rules_seen != RULE_INPUTS {
            return Err(format!("{rules_seen} rule rows, expected {RULE_INPUTS}"));
        }
        model.version = field("version")?.to_string();
        model.trained_on = field("trained_on")?.to_string();
        model.temperature = field("temperature")?.parse().map_err(|_| "temperature".to_string())?;
        if model.temperature.is_nan() || model.temperature <= 0.0 {
            return Err("temperature must be positive".to_string());
        }
        model.thresholds = numbers(field("thresholds")?)?;
        model.bias = numbers(field("bias")?)?;
        model.weights = weights;
        Ok(model)
    }
}

/// Weights are stored as integers in units of `1 / WEIGHT_SCALE`.
pub const WEIGHT_SCALE: f64 = 1000.0;

fn to_units(weight: f64) -> i64 {
    (weight * WEIGHT_SCALE).round() as i64
}

fn numbers(text: &str) -> Result<[f64; CLASS_COUNT], String> {
    let values: Vec<f64> = text
        .split('\t')
        .map(|value| value.parse::<f64>().map_err(|_| format!("not a number: {value}")))
        .collect::<Result<_, _>>()?;
    values.try_into().map_err(|values: Vec<f64>| format!("{} values, expected {CLASS_COUNT}", values.len()))
}

fn class_index(class: FailureClass) -> Option<usize> {
    FailureClass::ALL.iter().position(|candidate| *candidate == class)
}

/// Softmax of `logits / temperature`.
pub fn softmax(logits: &[f64; CLASS_COUNT], temperature: f64) -> [f64; CLASS_COUNT] {
    let highest = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut probabilities = [0.0; CLASS_COUNT];
    for class in 0..CLASS_COUNT {
        probabilities[class] = ((logits[class] - highest) / temperature).exp();
    }
    let total: f64 = probabilities.iter().sum();
    probabilities.iter_mut().for_each(|probability| *probability /= total);
    probabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> LinearModel {
        let mut model = LinearModel::empty();
        model.version = "toy".into();
        model.weights = vec![[0.0; CLASS_COUNT]; BUCKETS];
        model.weights[bucket_of(42)][1] = 2.5;
        model.weights[bucket_of(7)][0] = -1.25;
        model.rule_weights[3][3] = 1.5;
        model.bias[8] = 0.5;
        model.temperature = 1.5;
        model.thresholds = [0.5; CLASS_COUNT];
        model
    }

    #[test]
    fn the_shipped_model_parses_and_is_trained() {
        let model = LinearModel::parse(include_str!("linear_model.tsv")).expect("shipped model parses");
        assert!(model.is_trained());
        assert!(model.temperature > 0.0);
    }

    #[test]
    fn the_file_round_trips_byte_for_byte() {
        let model = toy();
        let text = model.to_file();
        let parsed = LinearModel::parse(&text).expect("parses");
        assert_eq!(parsed.to_file(), text);
        assert_eq!(parsed, model.rounded());
    }

    #[test]
    fn features_and_rule_scores_move_the_probabilities() {
        let model = toy();
        let mut rule_scores = [0.0; CLASS_COUNT];
        let plain = model.probabilities(&ModelInput::new([42], rule_scores));
        assert!(plain[1] > plain[0] && (plain.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        rule_scores[3] = 1.0;
        let with_rule = model.probabilities(&ModelInput::new([42], rule_scores));
        assert!(with_rule[3] > plain[3]);
    }

    #[test]
    fn a_file_of_another_layout_is_refused() {
        assert!(LinearModel::parse("format\t1\n").is_err());
        let wrong_classes = toy().to_file().replace("timeout\tunknown", "unknown\ttimeout");
        assert!(LinearModel::parse(&wrong_classes).is_err());
    }
}
