//! The figures `score_corpus` prints for one way of scoring a corpus.
// Shared by the scoring command only.
#![allow(dead_code)]

use std::collections::BTreeMap;

use etl_medic::core::diagnosis::training::LabelledMessage;
use etl_medic::core::model::FailureClass;

const BUCKETS: [f64; 9] = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001];

/// One message scored one way.
#[derive(Debug, Clone)]
pub struct Scored {
    pub message: LabelledMessage,
    pub expected: FailureClass,
    /// The class proposed before abstention, and its confidence.
    pub proposed: FailureClass,
    pub proposed_confidence: f64,
    /// The answer after abstention (`unknown` when withheld), and its confidence.
    pub answer: FailureClass,
    pub confidence: f64,
    pub signal: String,
}

pub fn percent(part: usize, whole: usize) -> String {
    format!("{part}/{whole} = {:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn is_wrong(item: &Scored) -> bool {
    item.answer != FailureClass::Unknown && item.answer != item.expected
}

/// Accuracy, coverage, confidently wrong, reliability and recall per class.
pub fn summary(title: &str, scored: &[Scored]) {
    let total = scored.len();
    println!("== {title}: {total} messages");
    if total == 0 {
        return;
    }
    let right = scored.iter().filter(|item| item.answer == item.expected).count();
    let clear: Vec<&Scored> = scored.iter().filter(|item| !item.message.ambiguous).collect();
    let clear_right = clear.iter().filter(|item| item.answer == item.expected).count();
    let answered = scored.iter().filter(|item| item.answer != FailureClass::Unknown).count();
    let wrong = scored.iter().filter(|item| is_wrong(item)).count();
    let wrong_high = scored.iter().filter(|item| is_wrong(item) && item.confidence >= 0.8).count();
    let proposed_right = scored.iter().filter(|item| item.proposed == item.expected).count();
    println!("accuracy            {}", percent(right, total));
    println!("  unambiguous       {}", percent(clear_right, clear.len()));
    println!("coverage            {} answered (the rest unknown: escalated)", percent(answered, total));
    println!("confidently wrong   {} (answered, wrong class)", percent(wrong, total));
    println!("                    {} at confidence >= 0.8", percent(wrong_high, total));
    println!("without abstention  {} right", percent(proposed_right, total));
    reliability(scored);
    recall(scored);
}

fn reliability(scored: &[Scored]) {
    println!("reliability of answers (confidence: count, share right):");
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
}

fn recall(scored: &[Scored]) {
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
}

/// `summary`, then the abstention trade-off, the confusion matrix and every miss.
pub fn full(title: &str, scored: &[Scored]) {
    summary(title, scored);
    let total = scored.len().max(1);
    println!("if every class had one threshold (proposals before abstention):");
    for level in [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
        let answer_of =
            |item: &Scored| if item.proposed_confidence >= level { item.proposed } else { FailureClass::Unknown };
        let good = scored.iter().filter(|item| answer_of(item) == item.expected).count();
        let bad = scored
            .iter()
            .filter(|item| answer_of(item) != FailureClass::Unknown && answer_of(item) != item.expected)
            .count();
        println!(
            "  abstain below {level:.1}: accuracy {:>5.1}%  wrong answers {:>5.1}%",
            100.0 * good as f64 / total as f64,
            100.0 * bad as f64 / total as f64
        );
    }
    confusion(scored);
    for item in scored.iter().filter(|item| item.answer != item.expected) {
        let ambiguous = if item.message.ambiguous { " (ambiguous label)" } else { "" };
        let signal: String = item.signal.chars().take(150).collect();
        println!(
            "  miss {}: expected {}, got {} ({:.2}; proposed {} {:.2}){ambiguous} {signal}",
            item.message.id, item.expected, item.answer, item.confidence, item.proposed, item.proposed_confidence
        );
    }
}

fn confusion(scored: &[Scored]) {
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
