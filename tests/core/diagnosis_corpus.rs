//! The classifier against labelled real error messages.
//!
//! `glue_errors_dev.jsonl` holds 47 messages from public sources, labelled
//! by someone else; `glue_errors_extra.jsonl` holds our own labelled
//! paraphrases of messages documented in AWS, Spark and forum pages;
//! `glue_errors_blind.jsonl` holds 101 verbatim public messages (GitHub
//! issues, AWS docs) collected apart from the rules, each with its source and
//! the reason for its label; `glue_errors_blind2.jsonl` holds 101 more,
//! collected the same way after the first round of improvements, with
//! `ambiguous` marking the labels a second reader could dispute. Each test prints its accuracy, the accuracy per
//! class, the confusion (expected -> got) and every miss, so
//! `cargo test --test core diagnosis_corpus -- --nocapture` doubles as the
//! measuring tool.

use std::collections::BTreeMap;

use etl_medic::core::diagnosis::classify_text;
use etl_medic::core::model::{FailureClass, TextSource};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct LabelledMessage {
    id: String,
    text: String,
    #[serde(rename = "where", default)]
    source: Option<TextSource>,
    class: String,
    /// The label is debatable (blind2 only; false elsewhere).
    #[serde(default)]
    ambiguous: bool,
}

struct Report {
    total: usize,
    correct: usize,
    /// Per expected class: (correct, total).
    per_class: BTreeMap<String, (usize, usize)>,
    confusion: BTreeMap<(String, String), usize>,
    misses: Vec<String>,
}

fn load(path: &str) -> Vec<LabelledMessage> {
    let full_path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let content = std::fs::read_to_string(&full_path).unwrap_or_else(|error| panic!("read {full_path}: {error}"));
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{path} line {}: {error}", number + 1))
        })
        .collect()
}

fn evaluate(messages: &[LabelledMessage]) -> Report {
    let mut report =
        Report { total: 0, correct: 0, per_class: BTreeMap::new(), confusion: BTreeMap::new(), misses: Vec::new() };
    for message in messages {
        let expected = FailureClass::parse(&message.class)
            .unwrap_or_else(|| panic!("{}: unknown label {}", message.id, message.class));
        let classification = classify_text(&message.text, message.source);
        report.total += 1;
        *report.confusion.entry((expected.to_string(), classification.class.to_string())).or_default() += 1;
        let class_tally = report.per_class.entry(expected.to_string()).or_default();
        class_tally.1 += 1;
        if classification.class == expected {
            report.correct += 1;
            class_tally.0 += 1;
        } else {
            let first_signal = classification.signals.first().cloned().unwrap_or_default();
            report.misses.push(format!(
                "{}: expected {expected}, got {} ({:.2}) {first_signal}",
                message.id, classification.class, classification.confidence
            ));
        }
    }
    report
}

fn print(name: &str, report: &Report) -> f64 {
    let accuracy = report.correct as f64 / report.total.max(1) as f64;
    println!("{name}: {}/{} correct = {:.1}%", report.correct, report.total, accuracy * 100.0);
    println!("per class (correct/total):");
    for (class, (correct, total)) in &report.per_class {
        println!("  {class:<20} {correct:>3}/{total:<3} {:>5.1}%", *correct as f64 * 100.0 / (*total).max(1) as f64);
    }
    println!("confusion (expected -> got: count), off-diagonal only:");
    for ((expected, got), count) in &report.confusion {
        if expected != got {
            println!("  {expected} -> {got}: {count}");
        }
    }
    for miss in &report.misses {
        println!("  miss {miss}");
    }
    accuracy
}

#[test]
fn dev_corpus_is_at_least_ninety_percent_correct() {
    let messages = load("glue_errors_dev.jsonl");
    assert_eq!(messages.len(), 47);
    let accuracy = print("dev corpus", &evaluate(&messages));
    assert!(accuracy >= 0.90, "dev corpus accuracy {:.1}% is below 90%", accuracy * 100.0);
}

#[test]
fn extra_corpus_is_at_least_ninety_percent_correct() {
    let messages = load("glue_errors_extra.jsonl");
    assert!(messages.len() >= 40, "the extra corpus needs at least 40 messages");
    let accuracy = print("extra corpus", &evaluate(&messages));
    assert!(accuracy >= 0.90, "extra corpus accuracy {:.1}% is below 90%", accuracy * 100.0);
}

/// The public messages of `glue_errors_blind.jsonl` were blind when first
/// scored: 67/101 (66.3%) on 2026-11-29, before any rule had seen them. The
/// rules were then improved against them (as error families, checked on
/// variant phrasings that are in no corpus), so the figure this test prints
/// is no longer a blind estimate of accuracy on unseen messages; the floor
/// only guards the families against regression.
#[test]
fn blind_corpus_stays_above_its_floor() {
    let messages = load("glue_errors_blind.jsonl");
    assert_eq!(messages.len(), 101);
    let accuracy = print("blind corpus (no longer blind)", &evaluate(&messages));
    assert!(accuracy >= 0.95, "blind corpus accuracy {:.1}% is below 95%", accuracy * 100.0);
}

/// The public messages of `glue_errors_blind2.jsonl` were blind when first
/// scored: 60/101 (59.4%) with the classifier of the commit before 0c89674,
/// and 67/101 (66.3%) after the first round of improvements (3da3969). The
/// rules were then improved against them (as error families, checked on
/// variant phrasings that are in no corpus), so the figure this test prints
/// is no longer a blind estimate of accuracy on unseen messages; the floor
/// only guards the families against regression. Accuracy is also printed
/// apart for the messages whose label is not marked ambiguous.
#[test]
fn second_blind_corpus_stays_above_its_floor() {
    let messages = load("glue_errors_blind2.jsonl");
    assert_eq!(messages.len(), 101);
    let accuracy = print("second blind corpus (no longer blind)", &evaluate(&messages));
    let clear: Vec<LabelledMessage> = messages.into_iter().filter(|message| !message.ambiguous).collect();
    let clear_accuracy = print("second blind corpus, unambiguous labels only", &evaluate(&clear));
    assert!(accuracy >= 0.91, "second blind corpus accuracy {:.1}% is below 91%", accuracy * 100.0);
    assert!(clear_accuracy >= 0.95, "unambiguous accuracy {:.1}% is below 95%", clear_accuracy * 100.0);
}

#[test]
fn every_class_of_the_extra_corpus_is_represented() {
    let messages = load("glue_errors_extra.jsonl");
    for class in FailureClass::ALL.into_iter().filter(|class| *class != FailureClass::Unknown) {
        let count = messages.iter().filter(|message| message.class == class.as_str()).count();
        assert!(count >= 3, "extra corpus has only {count} messages of {class}");
    }
}

#[test]
fn confidence_is_a_probability_and_unknown_has_none() {
    let corpora =
        ["glue_errors_dev.jsonl", "glue_errors_extra.jsonl", "glue_errors_blind.jsonl", "glue_errors_blind2.jsonl"];
    for message in corpora.iter().flat_map(|path| load(path)) {
        let classification = classify_text(&message.text, message.source);
        assert!((0.0..=1.0).contains(&classification.confidence), "{}", message.id);
        if classification.class == FailureClass::Unknown {
            assert_eq!(classification.confidence, 0.0, "{}", message.id);
        } else {
            assert!(!classification.signals.is_empty(), "{} has a class but no signal", message.id);
        }
    }
}
