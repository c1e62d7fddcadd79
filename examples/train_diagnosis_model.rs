//! Trains the diagnosis's second opinion (word counts and calibrator) on
//! every labelled corpus of the repository and writes the model file that
//! the build embeds. Deterministic: the same corpora give the same bytes.
//!
//! `cargo run --release --example train_diagnosis_model` (writes
//! `src/core/diagnosis/token_model.tsv`; `--out FILE` writes elsewhere,
//! `--check` only says whether the shipped file is what the corpora give).
//! The blind evaluation set is never read here. See docs/diagnosis.md.

#[path = "diagnosis_corpora/mod.rs"]
mod diagnosis_corpora;

use etl_medic::core::diagnosis::TokenModel;
use etl_medic::core::diagnosis::training::{TrainingConfig, train};

const SHIPPED_MODEL: &str = "src/core/diagnosis/token_model.tsv";
/// Round of the blind evaluation this model was trained for.
const ROUND: &str = "r1";

fn main() {
    if let Err(error) = run() {
        eprintln!("train_diagnosis_model: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let check = arguments.iter().any(|argument| argument == "--check");
    let out = arguments
        .iter()
        .position(|argument| argument == "--out")
        .and_then(|position| arguments.get(position + 1))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| diagnosis_corpora::repository_path(SHIPPED_MODEL));
    let (examples, trained_on) = diagnosis_corpora::training_examples()?;
    let config = TrainingConfig::default();
    let draft = train(&examples, &config, "draft", &trained_on);
    // The version names the content: a different file never carries the same version.
    let fingerprint = &diagnosis_corpora::sha256_hex(draft.to_file().replace("version\tdraft\n", "").as_bytes())[..12];
    let version = format!("{ROUND}-nb-{fingerprint}");
    let model = TokenModel::new(
        version.clone(),
        draft.trained_on.clone(),
        draft.alpha,
        draft.documents,
        draft.counts.clone(),
        draft.calibrator.clone(),
        draft.abstain_below,
    );
    let text = model.to_file();
    if check {
        let shipped = diagnosis_corpora::read(&diagnosis_corpora::repository_path(SHIPPED_MODEL))?;
        if shipped != text {
            return Err(format!("{SHIPPED_MODEL} is not what the corpora give (would be {version}); retrain"));
        }
        println!("{SHIPPED_MODEL} is up to date ({version})");
        return Ok(());
    }
    std::fs::write(&out, &text).map_err(|error| format!("write {}: {error}", out.display()))?;
    let weights: Vec<String> = model.calibrator.weights.iter().map(|weight| format!("{weight:.3}")).collect();
    println!("model {version}: {} messages ({trained_on})", examples.len());
    println!("  {} features, alpha {}, abstain below {}", model.counts.len(), model.alpha, model.abstain_below);
    println!(
        "  calibrator [bias, rule score, other rule score, model p, model p(unknown), model agrees] = [{}]",
        weights.join(", ")
    );
    println!("  written to {} ({} bytes)", out.display(), text.len());
    Ok(())
}
