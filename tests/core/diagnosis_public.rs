//! The diagnosis on the round-1 public dev corpus, the shipped model file,
//! and the cost of hostile input.
//!
//! The dev corpus was collected and split from a blind part before any rule
//! was written; rules and the model were then written and trained against
//! it, so the floors here guard against regression and say nothing about
//! unseen messages (docs/diagnosis.md has the blind figure and the command).

#[path = "../../examples/diagnosis_corpora/mod.rs"]
mod diagnosis_corpora;

use std::time::Instant;

use etl_medic::core::diagnosis::training::{TrainingConfig, parse_corpus, train};
use etl_medic::core::diagnosis::{CLASSIFIER_RULES, classify_text, shipped_model_version};
use etl_medic::core::model::FailureClass;

fn dev_corpus() -> Vec<etl_medic::core::diagnosis::training::LabelledMessage> {
    let path = diagnosis_corpora::repository_path("tests/fixtures/glue_errors_public_dev.jsonl");
    parse_corpus(&diagnosis_corpora::read(&path).expect("dev corpus")).expect("parses")
}

#[test]
fn the_public_dev_corpus_stays_above_its_floor_and_is_rarely_wrong() {
    let messages = dev_corpus();
    assert_eq!(messages.len(), 403);
    let (mut right, mut wrong) = (0, 0);
    for message in &messages {
        let answer = classify_text(&message.text, message.source);
        if Some(answer.class) == message.class() {
            right += 1;
        } else if answer.class != FailureClass::Unknown {
            wrong += 1;
            println!("wrong {}: expected {}, got {} ({})", message.id, message.label, answer.class, answer.confidence);
        }
    }
    let accuracy = right as f64 / messages.len() as f64;
    let wrong_share = wrong as f64 / messages.len() as f64;
    println!(
        "dev (in-sample rules and model {}): accuracy {accuracy:.3}, wrong answers {wrong_share:.3}",
        shipped_model_version()
    );
    assert!(accuracy >= 0.75, "dev accuracy {accuracy:.3} fell below 0.75");
    assert!(wrong_share <= 0.12, "wrong answers {wrong_share:.3} rose above 0.12");
}

/// Training is counting and a Newton fit from zero: the corpora give the
/// shipped file byte for byte (run `cargo run --release --example
/// train_diagnosis_model` after changing a corpus, the features or the
/// training).
#[test]
fn the_shipped_model_is_what_the_corpora_give() {
    let (examples, trained_on) = diagnosis_corpora::training_examples().expect("corpora");
    let shipped = diagnosis_corpora::read(&diagnosis_corpora::repository_path("src/core/diagnosis/token_model.tsv"))
        .expect("model file");
    let version = shipped_model_version();
    let retrained = train(&examples, &TrainingConfig::default(), version, &trained_on).to_file();
    assert!(retrained == shipped, "src/core/diagnosis/token_model.tsv is stale: retrain it");
}

/// 64 KiB of the rules' own keywords, the worst case for a matcher that
/// gates rules by keyword, must stay far from seconds.
#[test]
fn a_flood_of_rule_keywords_costs_milliseconds() {
    let keywords: Vec<&str> = CLASSIFIER_RULES.iter().flat_map(|rule| rule.pattern.split('|')).collect();
    let mut text = String::new();
    while text.len() < 64 * 1024 {
        for keyword in &keywords {
            text.push_str(keyword);
            text.push(' ');
        }
    }
    text.truncate(64 * 1024);
    let started = Instant::now();
    let answer = classify_text(&text, None);
    let elapsed = started.elapsed();
    println!("64 KiB of rule keywords: {elapsed:?}, {}", answer.class);
    // Release builds take about 0.05 s; unoptimised test builds on a busy machine up to a few seconds.
    let bound_s = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
    assert!(elapsed.as_secs_f64() < bound_s, "took {elapsed:?}");
}
