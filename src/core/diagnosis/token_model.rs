//! The learned second opinion: a naive Bayes model over the features of
//! `tokens`, and the calibrator that turns the rules' and the model's views
//! into a confidence. Both ship in one versioned text file,
//! `token_model.tsv`, written by `cargo run --release --example
//! train_diagnosis_model` (see `training` and docs/diagnosis.md).
//!
//! Why naive Bayes: with some 800 labelled messages, most words are seen a
//! handful of times; counting them per class is the estimate that needs the
//! least data, it is deterministic and closed-form (training is counting, so
//! the same corpora give the same file), and the file is readable: a line
//! says in how many messages of each class a word was seen. Its
//! probabilities are overconfident (it treats words as independent), which
//! is why the confidence comes from the calibrator, never from the model
//! directly.
//!
//! File format (tab-separated, one record per line):
//! `format 1`, `version <name>`, `trained_on <text>`, `alpha <smoothing>`,
//! `classes <names>`, `documents <count per class>`, `calibrator <weights>`,
//! `abstain_below <confidence>`, then `token <feature> <count per class>`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};
use std::sync::LazyLock;

use crate::core::diagnosis::tokens::hash_feature;
use crate::core::model::FailureClass;

/// Classes in `FailureClass::ALL` order.
pub const CLASS_COUNT: usize = 9;
/// Version of the file layout this code reads.
const FORMAT: &str = "1";

/// The shipped model, parsed once per process. A file that does not parse is
/// a build defect (a unit test parses it); it degrades to rules alone.
static SHIPPED: LazyLock<TokenModel> =
    LazyLock::new(|| TokenModel::parse(include_str!("token_model.tsv")).unwrap_or_else(|_| TokenModel::empty()));

/// The model shipped with this build.
pub fn shipped() -> &'static TokenModel {
    &SHIPPED
}

/// A deterministic hasher: lookups only, but no per-process random seed
/// anywhere in the decision core.
type FixedHasher = BuildHasherDefault<DefaultHasher>;

/// Feature keys are already 64-bit hashes (`tokens::feature_hashes`): used as they are.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenModel {
    pub version: String,
    pub trained_on: String,
    pub alpha: f64,
    /// Training messages per class.
    pub documents: [u32; CLASS_COUNT],
    /// Per feature, in how many training messages of each class it occurs.
    pub counts: Vec<(String, [u32; CLASS_COUNT])>,
    pub calibrator: Calibrator,
    /// Below this calibrated confidence the answer is `unknown`.
    pub abstain_below: f64,
    /// Derived at construction: log P(feature | class) per known feature,
    /// in `counts` order, found by the feature's hash.
    log_likelihood: Vec<[f64; CLASS_COUNT]>,
    index: HashMap<u64, usize, BuildHasherDefault<PassThroughHasher>>,
    log_prior: [f64; CLASS_COUNT],
}

/// A logistic map from the features of one decision (see
/// `opinion::CalibrationInput`) to the probability that it is right.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calibrator {
    pub weights: Vec<f64>,
}

impl Calibrator {
    pub fn probability(&self, inputs: &[f64]) -> f64 {
        let Some((bias, weights)) = self.weights.split_first() else {
            return 0.0;
        };
        let linear = bias + weights.iter().zip(inputs).map(|(weight, input)| weight * input).sum::<f64>();
        1.0 / (1.0 + (-linear).exp())
    }
}

impl TokenModel {
    /// A model that knows no feature: its posterior is its (uniform) prior
    /// and its calibrator says nothing, so decisions rest on the rules.
    pub fn empty() -> TokenModel {
        TokenModel::new(
            "none".to_string(),
            String::new(),
            1.0,
            [1; CLASS_COUNT],
            Vec::new(),
            Calibrator::default(),
            0.0,
        )
    }

    pub fn new(
        version: String,
        trained_on: String,
        alpha: f64,
        documents: [u32; CLASS_COUNT],
        counts: Vec<(String, [u32; CLASS_COUNT])>,
        calibrator: Calibrator,
        abstain_below: f64,
    ) -> TokenModel {
        let total_documents: u32 = documents.iter().sum();
        let mut log_prior = [0.0; CLASS_COUNT];
        for (class, prior) in log_prior.iter_mut().enumerate() {
            *prior = ((f64::from(documents[class]) + 1.0) / (f64::from(total_documents) + CLASS_COUNT as f64)).ln();
        }
        let mut occurrences = [0.0_f64; CLASS_COUNT];
        for (_, per_class) in &counts {
            for (class, count) in per_class.iter().enumerate() {
                occurrences[class] += f64::from(*count);
            }
        }
        let vocabulary = counts.len().max(1) as f64;
        let mut log_likelihood: Vec<[f64; CLASS_COUNT]> = Vec::with_capacity(counts.len());
        let mut index: HashMap<u64, usize, BuildHasherDefault<PassThroughHasher>> =
            HashMap::with_capacity_and_hasher(counts.len(), BuildHasherDefault::default());
        for (position, (feature, per_class)) in counts.iter().enumerate() {
            let mut row = [0.0; CLASS_COUNT];
            for class in 0..CLASS_COUNT {
                row[class] = ((f64::from(per_class[class]) + alpha) / (occurrences[class] + alpha * vocabulary)).ln();
            }
            log_likelihood.push(row);
            index.insert(hash_feature(feature), position);
        }
        TokenModel {
            version,
            trained_on,
            alpha,
            documents,
            counts,
            calibrator,
            abstain_below,
            log_likelihood,
            index,
            log_prior,
        }
    }

    /// Whether the model knows any feature (the empty model does not).
    pub fn is_trained(&self) -> bool {
        !self.counts.is_empty()
    }

    /// Posterior probability of each class (in `FailureClass::ALL` order)
    /// given the features of a text (`tokens::feature_hashes`).
    pub fn posterior(&self, features: &[u64]) -> [f64; CLASS_COUNT] {
        let mut log_score = self.log_prior;
        for feature in features {
            if let Some(row) = self.index.get(feature).map(|position| &self.log_likelihood[*position]) {
                for class in 0..CLASS_COUNT {
                    log_score[class] += row[class];
                }
            }
        }
        let highest = log_score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut posterior = [0.0; CLASS_COUNT];
        for class in 0..CLASS_COUNT {
            posterior[class] = (log_score[class] - highest).exp();
        }
        let total: f64 = posterior.iter().sum();
        posterior.iter_mut().for_each(|probability| *probability /= total);
        posterior
    }

    /// The known features of a text that speak most for `class` against the
    /// others, strongest first (for signals).
    pub fn strongest_features(&self, features: &[u64], class: usize, limit: usize) -> Vec<&str> {
        // The best `limit` by lift, kept sorted in a small list: no sort of every feature.
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(limit + 1);
        for feature in features {
            let Some(position) = self.index.get(feature).copied() else {
                continue;
            };
            let row = &self.log_likelihood[position];
            let strongest_other = row
                .iter()
                .enumerate()
                .filter(|(index, _)| *index != class)
                .map(|(_, value)| *value)
                .fold(f64::NEG_INFINITY, f64::max);
            let lift = row[class] - strongest_other;
            if lift <= 0.0 || (best.len() == limit && best.last().is_some_and(|(worst, _)| lift <= *worst)) {
                continue;
            }
            let name = self.counts[position].0.as_str();
            let at = best
                .iter()
                .position(|(other, other_position)| {
                    lift > *other || (lift == *other && name < self.counts[*other_position].0.as_str())
                })
                .unwrap_or(best.len());
            best.insert(at, (lift, position));
            best.truncate(limit);
        }
        best.into_iter().map(|(_, position)| self.counts[position].0.as_str()).collect()
    }

    /// The file text: same model, same bytes.
    pub fn to_file(&self) -> String {
        let join = |values: &[u32]| values.iter().map(u32::to_string).collect::<Vec<_>>().join("\t");
        let classes: Vec<&str> = FailureClass::ALL.iter().map(|class| class.as_str()).collect();
        let weights: Vec<String> = self.calibrator.weights.iter().map(|weight| format!("{weight:.6}")).collect();
        let mut text = String::new();
        text.push_str(&format!("format\t{FORMAT}\nversion\t{}\ntrained_on\t{}\n", self.version, self.trained_on));
        text.push_str(&format!("alpha\t{}\nclasses\t{}\n", self.alpha, classes.join("\t")));
        text.push_str(&format!("documents\t{}\ncalibrator\t{}\n", join(&self.documents), weights.join("\t")));
        text.push_str(&format!("abstain_below\t{}\n", self.abstain_below));
        for (feature, per_class) in &self.counts {
            text.push_str(&format!("token\t{feature}\t{}\n", join(per_class)));
        }
        text
    }

    /// Read a model file written by `to_file`.
    pub fn parse(text: &str) -> Result<TokenModel, String> {
        let mut fields: HashMap<&str, &str, FixedHasher> = HashMap::default();
        let mut counts: Vec<(String, [u32; CLASS_COUNT])> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let (key, rest) = line.split_once('\t').ok_or_else(|| format!("line {}: no tab", number + 1))?;
            if key == "token" {
                let (feature, numbers) = rest.split_once('\t').ok_or_else(|| format!("line {}", number + 1))?;
                counts.push((
                    feature.to_string(),
                    parse_counts(numbers).map_err(|error| format!("line {}: {error}", number + 1))?,
                ));
            } else {
                fields.insert(key, rest);
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
        let number = |key: &str| field(key)?.parse::<f64>().map_err(|error| format!("{key}: {error}"));
        let weights = field("calibrator")?
            .split('\t')
            .filter(|weight| !weight.is_empty())
            .map(|weight| weight.parse::<f64>().map_err(|error| format!("calibrator: {error}")))
            .collect::<Result<Vec<f64>, String>>()?;
        Ok(TokenModel::new(
            field("version")?.to_string(),
            field("trained_on")?.to_string(),
            number("alpha")?,
            parse_counts(field("documents")?)?,
            counts,
            Calibrator { weights },
            number("abstain_below")?,
        ))
    }
}

fn parse_counts(text: &str) -> Result<[u32; CLASS_COUNT], String> {
    let values: Vec<u32> = text
        .split('\t')
        .map(|value| value.parse::<u32>().map_err(|error| error.to_string()))
        .collect::<Result<_, _>>()?;
    values.try_into().map_err(|values: Vec<u32>| format!("{} counts, expected {CLASS_COUNT}", values.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TokenModel {
        let mut documents = [0; CLASS_COUNT];
        documents[0] = 4;
        documents[1] = 4;
        let mut throttled = [0; CLASS_COUNT];
        throttled[0] = 4;
        let mut memory = [0; CLASS_COUNT];
        memory[1] = 4;
        let counts = vec![("memory".to_string(), memory), ("throttled".to_string(), throttled)];
        TokenModel::new(
            "toy".into(),
            "test".into(),
            0.5,
            documents,
            counts,
            Calibrator { weights: vec![0.5, 1.0] },
            0.4,
        )
    }

    #[test]
    fn the_shipped_model_parses_and_knows_words() {
        let model = TokenModel::parse(include_str!("token_model.tsv")).expect("shipped model parses");
        assert!(model.is_trained());
        assert_eq!(model.calibrator.weights.len(), crate::core::diagnosis::opinion::CALIBRATION_INPUTS + 1);
    }

    #[test]
    fn the_file_round_trips_byte_for_byte() {
        let model = toy();
        let text = model.to_file();
        let parsed = TokenModel::parse(&text).expect("parses");
        assert_eq!(parsed.to_file(), text);
        assert_eq!(parsed, model);
    }

    #[test]
    fn the_posterior_follows_the_words_and_sums_to_one() {
        let model = toy();
        let posterior = model.posterior(&[hash_feature("throttled"), hash_feature("unseen")]);
        assert!(posterior[0] > 0.5 && posterior[1..].iter().all(|other| *other < 0.1), "{posterior:?}");
        assert!((posterior.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(model.strongest_features(&[hash_feature("memory"), hash_feature("throttled")], 1, 3), ["memory"]);
    }

    #[test]
    fn a_file_of_another_layout_is_refused() {
        assert!(TokenModel::parse("format\t2\n").is_err());
        let wrong_classes = toy().to_file().replace("timeout\tunknown", "unknown\ttimeout");
        assert!(TokenModel::parse(&wrong_classes).is_err());
    }
}
