//! Records what the rules of this build say about each message of a labelled
//! corpus (`{"id", "class", "rule_scores": {class: score}}` per line), so
//! that later rounds can calibrate and score the combination with rule
//! scores given *before* any rule was written against those messages.
//!
//! ```sh
//! cargo run --release --example record_rule_scores -- FILE > FILE.roundN.jsonl
//! ```

use etl_medic::core::diagnosis::training::{parse_corpus, rule_scores};
use etl_medic::core::model::FailureClass;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: record_rule_scores FILE");
        std::process::exit(64);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("record_rule_scores: read {path}: {error}");
            std::process::exit(1);
        }
    };
    let messages = match parse_corpus(&text) {
        Ok(messages) => messages,
        Err(error) => {
            eprintln!("record_rule_scores: {path}: {error}");
            std::process::exit(1);
        }
    };
    for message in messages {
        let scores = rule_scores(&message);
        let mut named = serde_json::Map::new();
        for (class, score) in FailureClass::ALL.iter().zip(scores) {
            if score > 0.0 {
                named.insert(class.as_str().to_string(), serde_json::json!((score * 1000.0).round() / 1000.0));
            }
        }
        let line = serde_json::json!({"id": message.id, "class": message.label, "rule_scores": named});
        println!("{line}");
    }
}
