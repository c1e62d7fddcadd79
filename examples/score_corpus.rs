//! Scores the diagnosis on any labelled corpus file (JSON lines with `id`,
//! `text`, `class`, optional `where` and `ambiguous`), inside or outside the
//! repository: accuracy (overall and on unambiguous labels), coverage,
//! confidently wrong answers, a reliability table, accuracy per class, the
//! confusion matrix and every miss. A directory argument scores all its
//! `*.jsonl` files together. Each file's SHA-256 is printed with the figures.
//!
//! ```sh
//! cargo run --release --example score_corpus -- FILE...           # the shipped rules and model
//! cargo run --release --example score_corpus -- --cv 10 FILE      # FILE is a training corpus: each tenth is
//!                                                                 # scored by a model trained without it
//! cargo run --release --example score_corpus -- --rules-only FILE # the rules alone, no second opinion
//! cargo run --release --example score_corpus -- --cv 10 --model-only FILE # the second opinion alone
//! cargo run --release --example score_corpus -- --cv 10 --recorded-rule-scores FILE2 FILE
//!                                                                 # rule scores recorded before the rules saw FILE
//! ```
//!
//! Definitions (docs/diagnosis.md): an answer is a class other than
//! `unknown`; coverage is answers / messages; a message is *confidently
//! wrong at x* when its answer is a class other than its label with a
//! confidence of at least x. Answers below the model's `abstain_below` are
//! already `unknown`, so at the threshold itself every wrong answer counts.

#[path = "diagnosis_corpora/mod.rs"]
mod diagnosis_corpora;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use etl_medic::core::diagnosis::training::{
    LabelledMessage, TrainingConfig, fold_of, judge_with_rule_scores, parse_corpus, parse_rule_scores, train,
};
use etl_medic::core::diagnosis::{TokenModel, judge_text_with, shipped_model_version};
use etl_medic::core::model::FailureClass;

/// Salt of the evaluation folds (the trainer's calibration folds use another).
const EVALUATION_SALT: u64 = 7;
const BUCKETS: [f64; 8] = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001];

struct Scored {
    message: LabelledMessage,
    expected: FailureClass,
    proposed: FailureClass,
    proposed_confidence: f64,
    answer: FailureClass,
    confidence: f64,
    signal: String,
}

struct Options {
    folds: Option<u64>,
    rules_only: bool,
    model_only: bool,
    recorded: Option<PathBuf>,
    inputs: Vec<PathBuf>,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("score_corpus: {error}");
        std::process::exit(1);
    }
}

fn options() -> Result<Options, String> {
    let mut options = Options { folds: None, rules_only: false, model_only: false, recorded: None, inputs: Vec::new() };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--cv" => {
                let folds = arguments.next().and_then(|value| value.parse().ok()).ok_or("--cv needs a fold count")?;
                options.folds = Some(folds);
            }
            "--rules-only" => options.rules_only = true,
            "--model-only" => options.model_only = true,
            "--recorded-rule-scores" => options.recorded = arguments.next().map(PathBuf::from),
            "--help" | "-h" => return Err("usage: score_corpus [--cv K] [--rules-only] [--model-only] [--recorded-rule-scores FILE] FILE_OR_DIR...".into()),
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
    let recorded = match &options.recorded {
        Some(path) => parse_rule_scores(&diagnosis_corpora::read(path)?)?,
        // No rule fires: what the model says on its own.
        None if options.model_only => messages.iter().map(|message| (message.id.clone(), [0.0; 9])).collect(),
        None => Vec::new(),
    };
    let (scored, described, threshold) = score(&options, messages, &recorded)?;
    println!("diagnosis: {described}");
    report(&scored, threshold);
    Ok(())
}

fn judge(model: &TokenModel, message: LabelledMessage, recorded: &[(String, [f64; 9])]) -> Scored {
    let expected = message.class().unwrap_or(FailureClass::Unknown);
    let recorded_scores = recorded.iter().find(|(id, _)| *id == message.id).map(|(_, scores)| *scores);
    let (proposed, proposed_confidence, answer, confidence, signal) = match recorded_scores {
        Some(scores) => {
            let (proposed, confidence) = judge_with_rule_scores(model, &message, &scores);
            let abstains = proposed == FailureClass::Unknown || confidence < model.abstain_below;
            let answer = if abstains { FailureClass::Unknown } else { proposed };
            (proposed, confidence, answer, if abstains { 0.0 } else { confidence }, "recorded rule scores".into())
        }
        None => {
            let judged = judge_text_with(model, &message.text, message.source);
            let signal = judged.classification.signals.first().cloned().unwrap_or_default();
            let answer = judged.classification.class;
            (judged.proposed, judged.proposed_confidence, answer, judged.classification.confidence, signal)
        }
    };
    Scored { message, expected, proposed, proposed_confidence, answer, confidence, signal }
}

type Recorded = [(String, [f64; 9])];

fn score(
    options: &Options,
    messages: Vec<LabelledMessage>,
    recorded: &Recorded,
) -> Result<(Vec<Scored>, String, f64), String> {
    if options.rules_only {
        let model = TokenModel::empty();
        let scored = messages.into_iter().map(|message| judge(&model, message, recorded)).collect();
        return Ok((scored, "rules only (no second opinion, uncalibrated)".into(), 0.0));
    }
    let Some(folds) = options.folds else {
        let model = etl_medic::core::diagnosis::training::shipped_model();
        let threshold = model.abstain_below;
        let scored = messages.into_iter().map(|message| judge(model, message, recorded)).collect();
        return Ok((scored, format!("shipped rules and model {}", shipped_model_version()), threshold));
    };
    let (examples, trained_on) = diagnosis_corpora::training_examples()?;
    let mut config = TrainingConfig::default();
    // Experiments: DIAGNOSIS_ALPHA / DIAGNOSIS_MIN_DOCUMENTS / DIAGNOSIS_ABSTAIN_BELOW override the defaults.
    let setting = |name: &str| std::env::var(name).ok().and_then(|value| value.parse::<f64>().ok());
    config.alpha = setting("DIAGNOSIS_ALPHA").unwrap_or(config.alpha);
    config.min_documents = setting("DIAGNOSIS_MIN_DOCUMENTS").map_or(config.min_documents, |value| value as u32);
    config.abstain_below = setting("DIAGNOSIS_ABSTAIN_BELOW").unwrap_or(config.abstain_below);
    let mut scored = Vec::new();
    for fold in 0..folds {
        let held: Vec<LabelledMessage> =
            messages.iter().filter(|message| fold_of(&message.id, EVALUATION_SALT, folds) == fold).cloned().collect();
        let held_references: Vec<&LabelledMessage> = held.iter().collect();
        let model = train(&diagnosis_corpora::without(&examples, &held_references), &config, "cv", &trained_on);
        scored.extend(held.into_iter().map(|message| judge(&model, message, recorded)));
    }
    scored.sort_by(|left, right| left.message.id.cmp(&right.message.id));
    Ok((
        scored,
        format!("{folds}-fold cross-validation: each fold scored by a model trained without it"),
        config.abstain_below,
    ))
}

fn percent(part: usize, whole: usize) -> String {
    format!("{part}/{whole} = {:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn report(scored: &[Scored], threshold: f64) {
    let total = scored.len();
    let right = scored.iter().filter(|item| item.answer == item.expected).count();
    let clear: Vec<&Scored> = scored.iter().filter(|item| !item.message.ambiguous).collect();
    let clear_right = clear.iter().filter(|item| item.answer == item.expected).count();
    let answered = scored.iter().filter(|item| item.answer != FailureClass::Unknown).count();
    println!("accuracy            {}", percent(right, total));
    println!("  unambiguous       {}", percent(clear_right, clear.len()));
    println!("coverage            {} answered (the rest unknown: escalated)", percent(answered, total));
    let wrong_at = |level: f64| {
        scored
            .iter()
            .filter(|item| {
                item.answer != FailureClass::Unknown && item.answer != item.expected && item.confidence >= level
            })
            .count()
    };
    println!("confidently wrong   {} at the abstention threshold {threshold:.2}", percent(wrong_at(threshold), total));
    println!("                    {} at confidence >= 0.5", percent(wrong_at(0.5), total));
    println!("                    {} at confidence >= 0.8", percent(wrong_at(0.8), total));
    println!("reliability of answers (calibrated confidence: count, share right):");
    for bounds in BUCKETS.windows(2) {
        let inside: Vec<&Scored> = scored
            .iter()
            .filter(|item| {
                item.answer != FailureClass::Unknown && item.confidence >= bounds[0] && item.confidence < bounds[1]
            })
            .collect();
        if !inside.is_empty() {
            let good = inside.iter().filter(|item| item.answer == item.expected).count();
            let mean = inside.iter().map(|item| item.confidence).sum::<f64>() / inside.len() as f64;
            println!(
                "  {:.1}-{:.1}  {:>4}  right {:>5.1}%  (mean confidence {mean:.2})",
                bounds[0],
                bounds[1].min(1.0),
                inside.len(),
                100.0 * good as f64 / inside.len() as f64
            );
        }
    }
    println!("abstention threshold trade-off (proposals before abstention):");
    for level in [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        let answer_of =
            |item: &Scored| if item.proposed_confidence >= level { item.proposed } else { FailureClass::Unknown };
        let good = scored.iter().filter(|item| answer_of(item) == item.expected).count();
        let bad = scored
            .iter()
            .filter(|item| answer_of(item) != FailureClass::Unknown && answer_of(item) != item.expected)
            .count();
        println!(
            "  abstain below {level:.1}: accuracy {:>5.1}%  wrong answers {:>5.1}%",
            100.0 * good as f64 / total.max(1) as f64,
            100.0 * bad as f64 / total.max(1) as f64
        );
    }
    per_class(scored);
    for item in scored.iter().filter(|item| item.answer != item.expected) {
        let ambiguous = if item.message.ambiguous { " (ambiguous label)" } else { "" };
        let signal: String = item.signal.chars().take(150).collect();
        println!(
            "  miss {}: expected {}, got {} ({:.2}){ambiguous} {signal}",
            item.message.id, item.expected, item.answer, item.confidence
        );
    }
}

fn per_class(scored: &[Scored]) {
    println!("per class (right/expected, precision of answers):");
    for class in FailureClass::ALL {
        let expected = scored.iter().filter(|item| item.expected == class).count();
        let answered = scored.iter().filter(|item| item.answer == class).count();
        let right = scored.iter().filter(|item| item.expected == class && item.answer == class).count();
        if expected + answered > 0 {
            println!(
                "  {:<20} {:>4}/{:<4} recall {:>5.1}%   precision {:>5.1}% of {answered}",
                class.as_str(),
                right,
                expected,
                100.0 * right as f64 / expected.max(1) as f64,
                100.0 * right as f64 / answered.max(1) as f64
            );
        }
    }
    let mut confusion: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let index = |class: FailureClass| FailureClass::ALL.iter().position(|candidate| *candidate == class).unwrap_or(8);
    for item in scored {
        *confusion.entry((index(item.expected), index(item.answer))).or_default() += 1;
    }
    let short = ["trans", "resou", "schem", "dataq", "sourc", "permi", "code", "timeo", "unkno"];
    println!("confusion (rows expected, columns answered):");
    println!("        {}", short.iter().map(|name| format!("{name:>6}")).collect::<String>());
    for (row, name) in short.iter().enumerate() {
        let cells: String =
            (0..9).map(|column| format!("{:>6}", confusion.get(&(row, column)).copied().unwrap_or(0))).collect();
        println!("  {name:<6}{cells}");
    }
}
