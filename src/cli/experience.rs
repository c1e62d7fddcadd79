//! The subcommands of learning from experience (spec/experience.md):
//! `sim collect` (experience from a simulator parameter set, through the
//! `decide` protocol), `experience export` (experience from an audit trail)
//! and `learn` (a candidate policy, an off-policy estimate and a verdict).
//! The work lives in `crate::learn`; this file parses, loads and reports.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::decide::Decider;
use crate::cli::jsonl::{self, Answer};
use crate::cli::{Failure, load_local_policy, load_settings};
use crate::core::model::Mode;
use crate::core::policy::Exploration;
use crate::learn::candidate::{LearnOptions, LearnReport, Verdict, learn, simulator_checks};
use crate::learn::collect::collect;
use crate::learn::dataset::Dataset;
use crate::learn::experience::read_files;
use crate::learn::export::export;
use crate::learn::ope::Interval;
use crate::learn::pool::Kappas;
use crate::learn::train::mix_seed;
use crate::policy_source::PolicyLocation;
use crate::sim::SimConfig;
use crate::sim::randomize::randomize;

/// Exit code of `learn --require-promotion` when the verdict is `keep`.
pub const EXIT_KEEP: i32 = 3;

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Simulator parameter file whose incidents are played.
    #[arg(long, value_name = "FILE")]
    pub sim: PathBuf,
    #[arg(long, default_value_t = 1_500)]
    pub incidents: u64,
    /// Seed of the simulated incidents (keep it apart from evaluation seeds).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// `decide --explore`: probability of an exploratory action.
    #[arg(long, value_name = "EPS", default_value_t = 0.2)]
    pub explore: f64,
    /// `decide --explore-seed`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub explore_seed: u64,
    /// `decide --policy`: policy file or `rules`; default: [policy] path of the settings.
    #[arg(long, value_name = "FILE|rules")]
    pub policy: Option<String>,
    /// TOML file layered over the built-in defaults (decide's --config).
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where to write the experience lines.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Audit trail copied from S3 (aws s3 sync s3://BUCKET/audit/ DIR).
    #[arg(value_name = "DIR")]
    pub directory: PathBuf,
    /// Where to write the experience lines; default: standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// Experience lines (spec/experience.md); repeat for several files.
    #[arg(long = "experience", value_name = "FILE", required = true)]
    pub experience: Vec<PathBuf>,
    /// The policy to improve on and compare with: a file or `rules`;
    /// default: [policy] path of the settings.
    #[arg(long, value_name = "FILE|rules")]
    pub base: Option<String>,
    /// Where to write the candidate policy file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Exit 3 when the verdict is `keep`.
    #[arg(long)]
    pub require_promotion: bool,
    /// TOML file layered over the built-in defaults (the safety settings
    /// decisions are judged under, and job risk tiers).
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed of the bootstrap of the confidence intervals.
    #[arg(long, default_value_t = 2_718)]
    pub seed: u64,
    /// Simulator parameter file for a regression gate: `promote` also needs
    /// the candidate to be safe and at most 10% slower than the base on
    /// 1,000 seeded incidents of each (repeatable).
    #[arg(long = "sim", value_name = "FILE")]
    pub sims: Vec<PathBuf>,
    /// Shrinkage pseudo-samples toward the state's prior, its group and its
    /// class (docs/learning.md); default 3,6,12.
    #[arg(long, value_name = "S,G,C")]
    pub kappas: Option<String>,
    /// Standard errors by which an action other than the base's choice is
    /// lowered (pessimism); default 1.
    #[arg(long, value_name = "Z")]
    pub pessimism: Option<f64>,
    /// Samples of an action in a state before the candidate may choose it
    /// there instead of the base's choice; default 10.
    #[arg(long, value_name = "N")]
    pub evidence_samples: Option<u64>,
}

#[derive(Args, Debug)]
pub struct RandomizeArgs {
    /// The parameter set to draw around.
    #[arg(long, value_name = "FILE")]
    pub sim: PathBuf,
    /// Which draw (the same draw and seed give the same world).
    #[arg(long, default_value_t = 0)]
    pub draw: u64,
    #[arg(long, default_value_t = 99)]
    pub seed: u64,
    /// Where to write the drawn parameter set (TOML).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run_randomize(args: &RandomizeArgs) -> Result<i32, Failure> {
    let base = SimConfig::load(&args.sim).map_err(|error| Failure::Usage(format!("{error:#}")))?;
    if base.is_held_out() {
        return Err(Failure::Usage(format!("{} is held out: nothing is drawn around it", base.name)));
    }
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(mix_seed(args.seed, args.draw));
    let world = randomize(&base, args.draw, &mut rng);
    let text = toml::to_string(&world).map_err(|error| Failure::Runtime(anyhow::Error::new(error)))?;
    std::fs::write(
        &args.out,
        format!("# drawn by `etl-medic sim randomize` around {}, draw {}\n{text}", base.name, args.draw),
    )
    .map_err(|error| Failure::Runtime(anyhow::anyhow!("writing {}: {error}", args.out.display())))?;
    Ok(crate::cli::EXIT_OK)
}

fn parse_kappas(text: &str) -> Result<Kappas, Failure> {
    let values: Vec<f64> = text
        .split(',')
        .map(|part| part.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|error| Failure::Usage(format!("--kappas {text}: {error}")))?;
    match values.as_slice() {
        [state, group, class] if values.iter().all(|value| *value > 0.0) => {
            Ok(Kappas { state: *state, group: *group, class: *class })
        }
        _ => Err(Failure::Usage(format!("--kappas {text}: three positive numbers, state,group,class"))),
    }
}

pub fn run_collect(args: &CollectArgs, environment: &HashMap<String, String>) -> Result<i32, Failure> {
    let exploration = Exploration::new(args.explore, args.explore_seed)
        .map_err(|error| Failure::Usage(format!("--explore: {error}")))?;
    let mut settings = load_settings(args.config.as_deref(), environment)?;
    settings.safety.set_mode_everywhere(Mode::Auto);
    let policy = load_local_policy(&PolicyLocation::parse(args.policy.as_deref().unwrap_or(&settings.policy.path)))?;
    let sim = SimConfig::load(&args.sim).map_err(|error| Failure::Usage(format!("{error:#}")))?;
    let version = policy.version();
    let decider = Decider { policy, settings, exploration };
    let mut answer = Vec::new();
    let decide_line = |text: &str| -> anyhow::Result<String> {
        answer.clear();
        if let Answer::Error { id, message } = decider.answer_line(text, &mut answer) {
            answer.clear();
            jsonl::write_error(&mut answer, id, &message);
        }
        Ok(String::from_utf8(answer.clone())?)
    };
    let file = std::fs::File::create(&args.out)
        .map_err(|error| Failure::Usage(format!("cannot write {}: {error}", args.out.display())))?;
    let mut output = std::io::BufWriter::new(file);
    let summary = collect(&sim, args.incidents, args.seed, decide_line, &mut output)
        .and_then(|summary| output.flush().map(|()| summary).context("writing the experience"))
        .map_err(Failure::Runtime)?;
    eprintln!(
        "etl-medic sim collect: {} incidents of {} with policy {version} (explore {}, seed {}): {} steps, {} explored, \
auto-resolution {:.1}%, {} by a person, {} censored, {} unsafe; wrote {}",
        summary.incidents,
        sim.name,
        args.explore,
        args.explore_seed,
        summary.steps,
        summary.explored_steps,
        100.0 * summary.auto_resolution(),
        summary.resolved_by_person,
        summary.censored,
        summary.unsafe_actions,
        args.out.display()
    );
    Ok(crate::cli::EXIT_OK)
}

pub fn run_export(args: &ExportArgs) -> Result<i32, Failure> {
    let output: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|error| Failure::Usage(format!("cannot write {}: {error}", path.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut output = std::io::BufWriter::new(output);
    let summary = export(&args.directory, &mut output)
        .and_then(|summary| output.flush().map(|()| summary).context("writing the experience"))
        .map_err(Failure::Runtime)?;
    eprintln!(
        "etl-medic experience export: {} incidents, {} lines ({} without a known outcome), {} files not audit records",
        summary.incidents, summary.lines, summary.lines_without_outcome, summary.unreadable_files,
    );
    Ok(crate::cli::EXIT_OK)
}

/// FNV-1a over everything the candidate depends on: its version string.
fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

pub fn run_learn(args: &LearnArgs, environment: &HashMap<String, String>) -> Result<i32, Failure> {
    let mut settings = load_settings(args.config.as_deref(), environment)?;
    settings.safety.set_mode_everywhere(Mode::Auto);
    let base = load_local_policy(&PolicyLocation::parse(args.base.as_deref().unwrap_or(&settings.policy.path)))?;
    let mut incidents = read_files(&args.experience).map_err(|error| Failure::Usage(error.to_string()))?;
    for step in incidents.iter_mut().flat_map(|incident| incident.steps.iter_mut()) {
        settings.fill_job_profile(&mut step.request);
    }
    let mut options = LearnOptions::new();
    options.ope.seed = args.seed;
    if let Some(text) = &args.kappas {
        options.fit.kappas = parse_kappas(text)?;
    }
    if let Some(pessimism) = args.pessimism {
        options.fit.pessimism = pessimism;
    }
    if let Some(samples) = args.evidence_samples {
        options.fit.evidence_samples = samples;
    }
    let options_text = serde_json::to_string(&options).unwrap_or_default();
    let mut contents = Vec::new();
    for path in &args.experience {
        contents.push(std::fs::read(path).map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?);
    }
    let base_version = base.version();
    let mut parts: Vec<&[u8]> = vec![b"etl-medic-learn/1", base_version.as_bytes(), options_text.as_bytes()];
    parts.extend(contents.iter().map(Vec::as_slice));
    let version = format!("learnt-{:016x}", fingerprint(&parts));
    let dataset = Dataset::build(&incidents, &settings.safety);
    let sims: Vec<SimConfig> = args
        .sims
        .iter()
        .map(|path| SimConfig::load(path).map_err(|error| Failure::Usage(format!("{error:#}"))))
        .collect::<Result<_, _>>()?;
    let mut report = learn(&dataset, &base, &settings.safety, &options, &version).map_err(Failure::Runtime)?;
    for check in simulator_checks(&mut report, &sims, &base) {
        println!(
            "simulator check {}: candidate {:.1} min, base {:.1} min, {} unsafe: {}",
            check.sim,
            check.candidate_mean_minutes,
            check.base_mean_minutes,
            check.candidate_unsafe,
            if check.passed { "passed" } else { "FAILED" }
        );
    }
    std::fs::write(&args.out, report.candidate.to_json_pretty())
        .map_err(|error| Failure::Runtime(anyhow::anyhow!("writing {}: {error}", args.out.display())))?;
    print!("{}", render(&dataset, &report, args));
    let keep = matches!(report.verdict, Verdict::Keep { .. });
    Ok(if keep && args.require_promotion { EXIT_KEEP } else { crate::cli::EXIT_OK })
}

fn interval(value: &Interval) -> String {
    format!("{:>9.1} [{:.1}, {:.1}]", value.estimate, value.low, value.high)
}

fn render(dataset: &Dataset, report: &LearnReport, args: &LearnArgs) -> String {
    let comparison = &report.comparison;
    let mut text = format!(
        "experience: {} file(s), {} incidents, {} steps: {} used, {} skipped without outcome, {} censored incidents \
(last step skipped)\n",
        args.experience.len(),
        dataset.incidents.len(),
        dataset.steps.len(),
        dataset.used_steps,
        dataset.steps_without_outcome,
        dataset.censored_incidents
    );
    text.push_str(&format!(
        "off-policy mean time-to-fix in minutes on {} complete incidents (logged: {:.1}), 95% bootstrap intervals:\n",
        comparison.incidents, comparison.logged_mean
    ));
    text.push_str(&format!(
        "  {:<10} {:<44} {:>28} {:>28} {:>9}\n",
        "policy", "version", "doubly robust", "weighted IS", "as logged"
    ));
    for (name, version, estimate) in [
        ("base", report.base_version.as_str(), &comparison.base),
        ("candidate", report.candidate.version(), &comparison.candidate),
    ] {
        text.push_str(&format!(
            "  {name:<10} {version:<44} {:>28} {:>28} {:>9}\n",
            interval(&estimate.doubly_robust),
            interval(&estimate.weighted_importance),
            estimate.matching_incidents
        ));
    }
    text.push_str(&format!("  candidate - base (doubly robust): {}\n", interval(&comparison.difference).trim()));
    match &report.verdict {
        Verdict::Promote => text.push_str("verdict: promote\n"),
        Verdict::Keep { reason } => text.push_str(&format!("verdict: keep ({reason})\n")),
    }
    text.push_str(&format!(
        "wrote {} ({} states, version {})\n",
        args.out.display(),
        report.candidate.states().len(),
        report.candidate.version()
    ));
    text
}
