//! Scores the diagnosis on any labelled corpus file (JSON lines with `id`,
//! `text`, `class`, optional `where`, `ambiguous` and `source`), inside or
//! outside the repository, three ways in one run: the rules alone, the
//! learned model alone (no rule score given to it) and both together (what
//! `classify` and `decide` do). For each: accuracy (overall and on
//! unambiguous labels), coverage, confidently wrong answers, a reliability
//! table and recall per class; for the combination also the confusion
//! matrix and every miss. A directory argument scores all its `*.jsonl`
//! files together. Each file's SHA-256 is printed with the figures.
//!
//! ```sh
//! cargo run --release --example score_corpus -- FILE_OR_DIR...   # the shipped rules and model
//! cargo run --release --example score_corpus -- --cv 10 FILE...   # grouped cross-validation: messages are
//!                                                                  # scored by models trained without any
//!                                                                  # message of their source group
//! ```
//!
//! In `--cv` mode a message's rule scores are those recorded before any rule
//! was written against it when the repository has them (see
//! `examples/diagnosis_corpora`), else this build's (in-sample); figures are
//! also given for the recorded part alone, the honest estimate for messages
//! no rule was written for. `--cv` also compares the softmax model with
//! naive Bayes on words alone (`--compare-nb`).
//!
//! Definitions (docs/diagnosis.md): an answer is a class other than
//! `unknown`; coverage is answers / messages; a message is *confidently
//! wrong* when it is answered with a class other than its label (every
//! answer passed its class's threshold); accuracy counts `unknown` as right
//! only when the label is `unknown`.

#[path = "diagnosis_corpora/mod.rs"]
mod diagnosis_corpora;
#[path = "diagnosis_corpora/report.rs"]
mod report;

use std::path::{Path, PathBuf};

use etl_medic::core::diagnosis::training::{
    Example, FitConfig, LabelledMessage, group_fold, judge_with_rule_scores, parse_corpus, rule_scores, source_group,
    train,
};
use etl_medic::core::diagnosis::{LinearModel, judge_text_with, shipped_model_version};
use etl_medic::core::model::FailureClass;

use report::Scored;

/// Salt of the evaluation folds (the trainer's calibration folds use another).
const EVALUATION_SALT: u64 = 7;

struct Options {
    folds: Option<u64>,
    compare_nb: bool,
    inputs: Vec<PathBuf>,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("score_corpus: {error}");
        std::process::exit(1);
    }
}

fn options() -> Result<Options, String> {
    let mut options = Options { folds: None, compare_nb: false, inputs: Vec::new() };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--cv" => {
                let folds = arguments.next().and_then(|value| value.parse().ok()).ok_or("--cv needs a fold count")?;
                options.folds = Some(folds);
            }
            "--compare-nb" => options.compare_nb = true,
            "--help" | "-h" => return Err("usage: score_corpus [--cv K [--compare-nb]] FILE_OR_DIR...".into()),
            _ => options.inputs.push(PathBuf::from(argument)),
        }
    }
    if options.inputs.is_empty() {
        return Err("no corpus file given (score_corpus --help)".into());
    }
    Ok(options)
}

fn files_of(input: &Path) -> Result<Vec<PathBuf>, String> {
    if !input.is_dir() {
        return Ok(vec![input.to_path_buf()]);
    }
    let entries = std::fs::read_dir(input).map_err(|error| format!("{}: {error}", input.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

fn run() -> Result<(), String> {
    let options = options()?;
    let mut messages: Vec<LabelledMessage> = Vec::new();
    for input in &options.inputs {
        for file in files_of(input)? {
            let bytes = std::fs::read(&file).map_err(|error| format!("read {}: {error}", file.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            let parsed = parse_corpus(&text).map_err(|error| format!("{}: {error}", file.display()))?;
            println!(
                "file {} ({} messages, sha256 {})",
                file.display(),
                parsed.len(),
                diagnosis_corpora::sha256_hex(&bytes)
            );
            messages.extend(parsed);
        }
    }
    match options.folds {
        None => score_shipped(messages),
        Some(folds) => score_grouped_cv(messages, folds, options.compare_nb),
    }
}

/// One message scored three ways.
struct Three {
    rules: Scored,
    model: Scored,
    combined: Scored,
}

fn scored(message: &LabelledMessage, decided: (FailureClass, f64, f64), signal: String) -> Scored {
    let (proposed, confidence, threshold) = decided;
    let abstains = proposed == FailureClass::Unknown || confidence < threshold;
    Scored {
        message: message.clone(),
        expected: message.class().unwrap_or(FailureClass::Unknown),
        proposed,
        proposed_confidence: confidence,
        answer: if abstains { FailureClass::Unknown } else { proposed },
        confidence: if abstains { 0.0 } else { confidence },
        signal,
    }
}

/// The three ways for one message, with rule scores `scores` (`None`: this
/// build's rules on the text, through the full classification path).
fn three(model: &LinearModel, message: &LabelledMessage, scores: Option<[f64; 9]>) -> Three {
    let rule_scores = scores.unwrap_or_else(|| rule_scores(message));
    let rules = scored(message, judge_with_rule_scores(&LinearModel::empty(), message, rule_scores), String::new());
    let model_alone = scored(message, judge_with_rule_scores(model, message, [0.0; 9]), String::new());
    let combined = match scores {
        Some(recorded) => scored(message, judge_with_rule_scores(model, message, recorded), "recorded rules".into()),
        None => {
            let judged = judge_text_with(model, &message.text, message.source);
            let signal = judged.classification.signals.first().cloned().unwrap_or_default();
            let decided = (judged.proposed, judged.proposed_confidence, judged.threshold);
            scored(message, decided, signal)
        }
    };
    Three { rules, model: model_alone, combined }
}

fn print_three(all: Vec<Three>, title: &str) {
    let (mut rules, mut model, mut combined) = (Vec::new(), Vec::new(), Vec::new());
    for item in all {
        rules.push(item.rules);
        model.push(item.model);
        combined.push(item.combined);
    }
    report::summary(&format!("{title}: rules alone (uncalibrated, no abstention)"), &rules);
    report::summary(&format!("{title}: model alone (no rule score given to it)"), &model);
    report::full(&format!("{title}: rules and model together"), &combined);
}

fn score_shipped(messages: Vec<LabelledMessage>) -> Result<(), String> {
    let model = etl_medic::core::diagnosis::training::shipped_model();
    println!("diagnosis: shipped rules and model {}", shipped_model_version());
    let all: Vec<Three> = messages.iter().map(|message| three(model, message, None)).collect();
    print_three(all, "shipped");
    Ok(())
}

fn score_grouped_cv(messages: Vec<LabelledMessage>, folds: u64, compare_nb: bool) -> Result<(), String> {
    let (examples, trained_on) = diagnosis_corpora::training_examples()?;
    let config = diagnosis_corpora::fit_config_from_environment(FitConfig::default());
    let honest = |message: &LabelledMessage| {
        examples.iter().find(|example| example.message.id == message.id).and_then(|example| example.honest_rule_scores)
    };
    let fold_of = |message: &LabelledMessage| group_fold(&source_group(&message.origin), EVALUATION_SALT, folds);
    let mut all: Vec<(Three, bool)> = Vec::new();
    let mut nb_right = (0usize, 0usize);
    for fold in 0..folds {
        let held: Vec<&LabelledMessage> = messages.iter().filter(|message| fold_of(message) == fold).collect();
        let training: Vec<Example> = diagnosis_corpora::without(&examples, &held)
            .into_iter()
            .filter(|example| fold_of(&example.message) != fold)
            .collect();
        let model = train(&training, &config, "cv", &trained_on);
        eprintln!("fold {fold}: {} held out, trained on {}", held.len(), training.len());
        for message in &held {
            let recorded = honest(message);
            all.push((
                three(&model, message, Some(recorded.unwrap_or_else(|| rule_scores(message)))),
                recorded.is_some(),
            ));
        }
        if compare_nb {
            let (right_lr, right_nb) = diagnosis_corpora::words_only_comparison(&training, &held, &config);
            nb_right = (nb_right.0 + right_lr, nb_right.1 + right_nb);
        }
    }
    all.sort_by(|left, right| left.0.combined.message.id.cmp(&right.0.combined.message.id));
    println!("diagnosis: {folds}-fold cross-validation grouped by source; config {config:?}");
    let groups: std::collections::BTreeSet<String> =
        messages.iter().map(|message| source_group(&message.origin)).collect();
    println!("{} messages from {} source groups", messages.len(), groups.len());
    if compare_nb {
        println!(
            "words only, no abstention: softmax {} vs naive Bayes {}",
            report::percent(nb_right.0, messages.len()),
            report::percent(nb_right.1, messages.len())
        );
    }
    let recorded_only: Vec<Three> = all
        .iter()
        .filter(|(_, recorded)| *recorded)
        .map(|(item, _)| Three {
            rules: item.rules.clone(),
            model: item.model.clone(),
            combined: item.combined.clone(),
        })
        .collect();
    print_three(recorded_only, "messages with rule scores recorded before any rule saw them");
    print_three(all.into_iter().map(|(item, _)| item).collect(), "all messages");
    Ok(())
}
