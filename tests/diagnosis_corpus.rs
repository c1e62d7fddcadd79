//! The classifier against labelled real error messages.
//!
//! `glue_errors_dev.jsonl` holds 47 messages from public sources, labelled
//! by someone else; `glue_errors_extra.jsonl` holds our own labelled
//! paraphrases of messages documented in AWS, Spark and forum pages. Each
//! test prints its accuracy, the confusion (expected -> got) and every miss,
//! so `cargo test --test diagnosis_corpus -- --nocapture` doubles as the
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
}

struct Report {
    total: usize,
    correct: usize,
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
    let mut report = Report { total: 0, correct: 0, confusion: BTreeMap::new(), misses: Vec::new() };
    for message in messages {
        let expected = FailureClass::parse(&message.class)
            .unwrap_or_else(|| panic!("{}: unknown label {}", message.id, message.class));
        let classification = classify_text(&message.text, message.source);
        report.total += 1;
        *report.confusion.entry((expected.to_string(), classification.class.to_string())).or_default() += 1;
        if classification.class == expected {
            report.correct += 1;
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
    for message in load("glue_errors_dev.jsonl").iter().chain(load("glue_errors_extra.jsonl").iter()) {
        let classification = classify_text(&message.text, message.source);
        assert!((0.0..=1.0).contains(&classification.confidence), "{}", message.id);
        if classification.class == FailureClass::Unknown {
            assert_eq!(classification.confidence, 0.0, "{}", message.id);
        } else {
            assert!(!classification.signals.is_empty(), "{} has a class but no signal", message.id);
        }
    }
}
