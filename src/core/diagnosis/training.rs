//! Training of the learned model, as pure functions of labelled messages:
//! the commands that read files and write the model
//! (`examples/train_diagnosis_model.rs`) and that score corpora
//! (`examples/score_corpus.rs`) call these, so the shipped file and every
//! cross-validated figure come from the same code.
//!
//! Deterministic by construction: fixed fold assignments (a hash of each
//! message's source group), fitting from zero in a fixed order (`fit`).
//!
//! Folds are grouped by source (`source_group`): messages from one
//! repository, one AWS guide or one page never sit on both sides of a fold,
//! so out-of-fold figures estimate messages from sources nobody here has
//! read. Where a message carries `honest_rule_scores` (what the rules said
//! before any rule was written against it), those stand in for the rules
//! when the model learns how far to trust them: the rules of this build were
//! written against most labelled corpora, so their scores there are
//! in-sample and would teach the model to trust them more than they deserve
//! on messages no rule was written for.

use serde::Deserialize;

use crate::core::diagnosis::classifier;
use crate::core::diagnosis::fit::{self, Row};
use crate::core::diagnosis::linear_model::{CLASS_COUNT, LinearModel, ModelInput, softmax};
use crate::core::diagnosis::opinion;
use crate::core::diagnosis::text::EvidenceCollector;
use crate::core::diagnosis::{tokens, verdict};
use crate::core::model::{FailureClass, TextSource};

pub use crate::core::diagnosis::fit::FitConfig;

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
    /// Where the message was found (a URL, `owner/repo#N`, a description).
    #[serde(rename = "source", default)]
    pub origin: String,
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

/// The source group of a message's origin: messages of one group share a
/// writer, a product or a page, so a fold that tests on a group must not
/// train on it. A GitHub repository (from its URL, `owner/repo#N` or
/// `owner/repo:path`), an AWS guide (`docs.aws.amazon.com/<guide>` and the
/// `awsdocs/<guide>` repository of the same guide are one group), another
/// site with the first segment of its path, a search-index file id, or else
/// the whole description.
pub fn source_group(origin: &str) -> String {
    let origin = origin.trim();
    if let Some(id) = origin.split("file id ").nth(1).or_else(|| origin.split("hit id ").nth(1)) {
        let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            return format!("file:{digits}");
        }
    }
    if let Some(rest) = origin.split("://").nth(1) {
        let mut segments = rest.split(['/', ' ', '?', '#']).filter(|segment| !segment.is_empty());
        let host = segments.next().unwrap_or_default().to_ascii_lowercase();
        let first = segments.next().unwrap_or_default().to_ascii_lowercase();
        return match host.as_str() {
            "github.com" => repository_group(&first, segments.next().unwrap_or_default()),
            "docs.aws.amazon.com" => format!("aws-guide:{}", guide_of(&first)),
            _ => format!("site:{host}/{first}"),
        };
    }
    let head = origin.split([' ', '#', ':', '@']).next().unwrap_or_default();
    let mut parts = head.split('/');
    if let (Some(owner), Some(repository), None) = (parts.next(), parts.next(), parts.next())
        && !owner.is_empty()
        && !repository.is_empty()
    {
        return repository_group(owner, repository);
    }
    format!("text:{}", origin.to_ascii_lowercase())
}

/// A GitHub repository's group (an `awsdocs` guide joins its doc site).
fn repository_group(owner: &str, repository: &str) -> String {
    if owner.eq_ignore_ascii_case("awsdocs") {
        return format!("aws-guide:{}", guide_of(repository));
    }
    format!("github:{}/{}", owner.to_ascii_lowercase(), repository.to_ascii_lowercase())
}

/// The AWS service of a guide's path segment or `awsdocs` repository name.
fn guide_of(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    let name = name.trim_start_matches("amazon-").trim_start_matches("aws-");
    let name = ["-user-guide", "-developer-guide", "-dg", "-ug"]
        .iter()
        .fold(name, |name, suffix| name.trim_end_matches(suffix));
    name.to_string()
}

/// The fold of a source group.
pub fn group_fold(group: &str, salt: u64, folds: u64) -> u64 {
    fold_of(group, salt, folds)
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
pub fn shipped_model() -> &'static LinearModel {
    crate::core::diagnosis::linear_model::shipped()
}

/// A message as training sees it.
#[derive(Debug, Clone)]
pub struct Example {
    pub message: LabelledMessage,
    /// The rules' class scores before rules were written against it, if recorded.
    pub honest_rule_scores: Option<[f64; CLASS_COUNT]>,
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

/// The evidence items of a message, as the classifier reads them.
fn items_of(message: &LabelledMessage) -> Vec<crate::core::diagnosis::text::EvidenceItem> {
    let mut collector = EvidenceCollector::default();
    collector.push(message.source.unwrap_or_default(), 0, &message.text);
    collector.into_items()
}

/// Features of a message as the model reads them (strings, for inspection).
pub fn message_features(message: &LabelledMessage) -> Vec<String> {
    let items = items_of(message);
    let mut features: Vec<String> =
        verdict::model_items(&items).into_iter().flat_map(|item| tokens::features(&item.text)).collect();
    features.sort_unstable();
    features.dedup();
    features
}

/// The rules' class scores for a message, with this build's rules.
pub fn rule_scores(message: &LabelledMessage) -> [f64; CLASS_COUNT] {
    classifier::analyse(&items_of(message)).class_scores
}

/// The model's input for a message with the given rule scores.
pub fn model_input(message: &LabelledMessage, rule_scores: [f64; CLASS_COUNT]) -> ModelInput {
    verdict::model_input(&items_of(message), rule_scores).0
}

/// The rule scores training uses for an example: those recorded before any
/// rule was written against it when there are some, else this build's.
pub fn training_rule_scores(example: &Example) -> [f64; CLASS_COUNT] {
    example.honest_rule_scores.unwrap_or_else(|| rule_scores(&example.message))
}

/// The rows of `examples` for fitting, folds grouped by source.
pub fn rows_of(examples: &[Example], salt: u64, folds: u64) -> Vec<Row> {
    examples
        .iter()
        .map(|example| Row {
            input: model_input(&example.message, training_rule_scores(example)),
            label: opinion::index_of(example.message.class().unwrap_or(FailureClass::Unknown)),
            fold: group_fold(&source_group(&example.message.origin), salt, folds),
            calibrates: example.honest_rule_scores.is_some(),
        })
        .collect()
}

/// Train the model on `examples`: weights on all of them; temperature and
/// thresholds on out-of-fold predictions (folds grouped by source) of the
/// examples whose rule scores were recorded before any rule saw them.
pub fn train(examples: &[Example], config: &FitConfig, version: &str, trained_on: &str) -> LinearModel {
    let rows = rows_of(examples, CALIBRATION_SALT, config.calibration_folds);
    train_rows(&rows, config, version, trained_on)
}

/// The fit of a model without calibration on all `examples`: mean
/// cross-entropy and share right on the training rows themselves.
pub fn training_fit(examples: &[Example], config: &FitConfig) -> (f64, f64) {
    let rows = rows_of(examples, CALIBRATION_SALT, config.calibration_folds);
    let everyone: Vec<&Row> = rows.iter().collect();
    fit::training_loss(&rows, &fit::fit_weights(&everyone, config))
}

/// `train` on rows already made.
pub fn train_rows(rows: &[Row], config: &FitConfig, version: &str, trained_on: &str) -> LinearModel {
    let folds = config.calibration_folds;
    let all_logits = fit::out_of_fold_logits(rows, folds, config);
    // Calibrate on the rows whose rule scores are honest (rules not written
    // against them), if there are any: in-sample rule scores would make the
    // rules look more reliable than they are on a new message.
    let honest = rows.iter().any(|row| row.calibrates);
    let (logits, labels): (Vec<[f64; CLASS_COUNT]>, Vec<usize>) = all_logits
        .iter()
        .zip(rows)
        .filter(|(_, row)| row.calibrates || !honest)
        .map(|(logits, row)| (*logits, row.label))
        .unzip();
    let temperature = fit::fit_temperature(&logits, &labels);
    let proposals: Vec<fit::Proposal> = logits
        .iter()
        .zip(&labels)
        .map(|(row, label)| {
            let probabilities = softmax(row, temperature);
            let class = argmax(&probabilities);
            fit::Proposal { class, probability: probabilities[class], right: class == *label }
        })
        .collect();
    let thresholds = fit::choose_thresholds(&proposals, labels.len(), config.wrong_budget, config.min_threshold);
    let everyone: Vec<&Row> = rows.iter().collect();
    let mut model = fit::fit_weights(&everyone, config);
    model.version = version.to_string();
    model.trained_on = trained_on.to_string();
    model.temperature = temperature;
    model.thresholds = thresholds;
    model.rounded()
}

/// The decision (before abstention), its confidence and its class's
/// threshold for a message whose rule scores are given instead of computed:
/// how the model decides with rules that had not seen the message
/// (recorded scores), or with no rule at all (zeros: the model alone).
pub fn judge_with_rule_scores(
    model: &LinearModel,
    message: &LabelledMessage,
    scores: [f64; CLASS_COUNT],
) -> (FailureClass, f64, f64) {
    let probabilities = model.probabilities(&model_input(message, scores));
    let decided = opinion::decide(&scores, &probabilities, model);
    (decided.class, decided.confidence, decided.threshold)
}

fn argmax(values: &[f64; CLASS_COUNT]) -> usize {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best
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
    fn source_groups_join_a_repository_and_a_guide() {
        assert_eq!(source_group("https://github.com/getmoto/moto/issues/5402"), "github:getmoto/moto");
        assert_eq!(source_group("apache/kyuubi#6776"), "github:apache/kyuubi");
        assert_eq!(source_group("debezium/debezium:documentation/x.adoc"), "github:debezium/debezium");
        let guide = "https://docs.aws.amazon.com/athena/latest/ug/troubleshooting-athena.html";
        assert_eq!(source_group(guide), "aws-guide:athena");
        assert_eq!(source_group("awsdocs/amazon-athena-user-guide:doc_source/x.md (T)"), "aws-guide:athena");
        assert_eq!(source_group("https://docs.aws.amazon.com/glue/latest/dg/x.html (awsdocs/x)"), "aws-guide:glue");
        assert_eq!(source_group("public GitHub notes (search-index file id 66458908412)"), "file:66458908412");
        assert_eq!(source_group("https://repost.aws/knowledge-center/glue-x"), "site:repost.aws/knowledge-center");
    }

    #[test]
    fn corpus_lines_need_a_known_class() {
        assert!(parse_corpus(r#"{"id":"a","text":"x","class":"timeout"}"#).is_ok());
        assert!(parse_corpus(r#"{"id":"a","text":"x","class":"weather"}"#).is_err());
    }
}
