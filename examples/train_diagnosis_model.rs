//! Trains the diagnosis's learned model (softmax weights, temperature and
//! per-class abstention thresholds) on every labelled corpus of the
//! repository and writes the model file that the build embeds.
//! Deterministic: the same corpora give the same bytes.
//!
//! `cargo run --release --example train_diagnosis_model` (writes
//! `src/core/diagnosis/linear_model.tsv`; `--out FILE` writes elsewhere,
//! `--check` only says whether the shipped file is what the corpora give).
//! The blind evaluation set is never read here. See docs/diagnosis.md.

#[path = "diagnosis_corpora/mod.rs"]
mod diagnosis_corpora;

use etl_medic::core::diagnosis::training::{FitConfig, train, training_fit};

const SHIPPED_MODEL: &str = "src/core/diagnosis/linear_model.tsv";
/// Round of the blind evaluation this model was trained for.
const ROUND: &str = "r2";

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
    let config = diagnosis_corpora::fit_config_from_environment(FitConfig::default());
    if arguments.iter().any(|argument| argument == "--fit") {
        let (loss, right) = training_fit(&examples, &config);
        println!("training loss {loss:.4}, right on training rows {:.1}%", right * 100.0);
        return Ok(());
    }
    let mut model = train(&examples, &config, "draft", &trained_on);
    // The version names the content: a different file never carries the same version.
    let fingerprint = &diagnosis_corpora::sha256_hex(model.to_file().replace("version\tdraft\n", "").as_bytes())[..12];
    model.version = format!("{ROUND}-softmax-{fingerprint}");
    let text = model.to_file();
    if check {
        let shipped = diagnosis_corpora::read(&diagnosis_corpora::repository_path(SHIPPED_MODEL))?;
        if shipped != text {
            return Err(format!("{SHIPPED_MODEL} is not what the corpora give (would be {}); retrain", model.version));
        }
        println!("{SHIPPED_MODEL} is up to date ({})", model.version);
        return Ok(());
    }
    std::fs::write(&out, &text).map_err(|error| format!("write {}: {error}", out.display()))?;
    let thresholds: Vec<String> = model.thresholds.iter().map(|threshold| format!("{threshold:.2}")).collect();
    println!("model {}: {} messages ({trained_on})", model.version, examples.len());
    println!("  {config:?}");
    println!("  temperature {:.3}, thresholds per class [{}]", model.temperature, thresholds.join(", "));
    println!("  written to {} ({} bytes)", out.display(), text.len());
    Ok(())
}
