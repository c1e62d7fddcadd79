//! The learning subcommands: `train`, `evaluate`, `policy show` and
//! `policy explain`. Each is a clap `Args` struct and a `run_*` function
//! returning `anyhow::Result`, so the dispatcher only wires them; the work
//! lives in `crate::learn`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::core::evidence::DecideRequest;
use crate::core::policy::{Policy, QTable};
use crate::learn::evaluate::{EvaluateOptions, SimEvaluation, evaluate_sim, render};
use crate::learn::train::{TrainOptions, train};
use crate::learn::{chart, show};
use crate::sim::SimConfig;

/// Where the shipped policy lives, relative to the working directory.
pub const DEFAULT_POLICY_PATH: &str = "config/policy.json";

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Simulator parameter file; repeat to train on a mixture (episodes
    /// cycle through the sets). Default: the built-in config/sim.toml.
    #[arg(long = "sim", value_name = "FILE")]
    pub sims: Vec<PathBuf>,
    #[arg(long, default_value_t = 200_000)]
    pub episodes: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Episodes per randomised world: every block of this many episodes runs
    /// in a fresh estate drawn around one of the --sim sets (cause mix,
    /// outcome odds, people, late sources, evidence noise, job shapes);
    /// 0 trains on the sets exactly as given.
    #[arg(long, default_value_t = 250)]
    pub world_episodes: u64,
    /// Where to write the policy file (etl-medic-policy/1 JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Simulator parameter file; repeat to evaluate on several sets.
    /// Default: the built-in config/sim.toml. The held-out sets
    /// (config/sim-holdout-*.toml, built in) are always evaluated too.
    #[arg(long = "sim", value_name = "FILE")]
    pub sims: Vec<PathBuf>,
    /// The trained policy to evaluate.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_POLICY_PATH)]
    pub policy: PathBuf,
    #[arg(long, default_value_t = 2_000)]
    pub incidents: u64,
    /// Seed of the evaluation incidents; keep it apart from training seeds.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Write the full results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG chart (MTTR distributions, learning curve) here.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// How many first-failure states to list in the trained-vs-rules breakdown.
    #[arg(long, default_value_t = 8)]
    pub top_states: usize,
}

#[derive(Args, Debug)]
pub struct PolicyShowArgs {
    #[arg(long, value_name = "FILE", default_value = DEFAULT_POLICY_PATH)]
    pub policy: PathBuf,
    /// Only states whose key contains this text (e.g. `class=source_unavailable`).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Hide states visited fewer times than this in training.
    #[arg(long, default_value_t = 0)]
    pub min_visits: u64,
}

#[derive(Args, Debug)]
pub struct PolicyExplainArgs {
    /// Policy file, or `rules`.
    #[arg(long, value_name = "FILE|rules", default_value = DEFAULT_POLICY_PATH)]
    pub policy: String,
    /// The decide request (spec/decide.md); default: read it from stdin.
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
}

fn load_sims(paths: &[PathBuf]) -> anyhow::Result<Vec<SimConfig>> {
    if paths.is_empty() {
        return Ok(vec![SimConfig::embedded_default()]);
    }
    paths.iter().map(|path| SimConfig::load(path)).collect()
}

pub fn load_table(path: &Path) -> anyhow::Result<QTable> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading policy file {}", path.display()))?;
    QTable::from_json(&text).with_context(|| format!("policy file {}", path.display()))
}

fn progress_bar(length: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} episodes ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("training");
    bar
}

pub fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let sims = load_sims(&args.sims)?;
    if let Some(held_out) = sims.iter().find(|sim| sim.is_held_out()) {
        anyhow::bail!("{} is a held-out parameter set: nothing trains on it (docs/learning.md)", held_out.name);
    }
    let mut options = TrainOptions::new(sims, args.episodes, args.seed);
    options.world_episodes = args.world_episodes;
    let bar = progress_bar(args.episodes);
    let table = train(&options, |done| {
        if done % 1_000 == 0 || done == args.episodes {
            bar.set_position(done);
        }
    })?;
    bar.finish_and_clear();
    std::fs::write(&args.out, table.to_json_pretty()).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {} ({} states, version {})", args.out.display(), table.states().len(), table.version());
    Ok(())
}

pub fn run_evaluate(args: &EvaluateArgs) -> anyhow::Result<Vec<SimEvaluation>> {
    let mut sims = load_sims(&args.sims)?;
    for held_out in SimConfig::embedded_holdouts() {
        if !sims.iter().any(|sim| sim.name == held_out.name) {
            sims.push(held_out);
        }
    }
    let table = load_table(&args.policy)?;
    let policy = Policy::Table(table.clone());
    let options = EvaluateOptions::new(args.incidents, args.seed);
    let mut evaluations = Vec::new();
    for sim in &sims {
        let evaluation = evaluate_sim(sim, &policy, &options);
        println!("{}", render(&evaluation, args.top_states));
        evaluations.push(evaluation);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&evaluations)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        chart::write_svg(path, &evaluations, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(evaluations)
}

pub fn run_policy_show(args: &PolicyShowArgs) -> anyhow::Result<()> {
    let table = load_table(&args.policy)?;
    print!("{}", show::render_table(&table, args.filter.as_deref(), args.min_visits));
    Ok(())
}

pub fn run_policy_explain(args: &PolicyExplainArgs) -> anyhow::Result<()> {
    let text = match &args.request {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let mut buffer = String::new();
            std::io::stdin().read_to_string(&mut buffer).context("reading the request from stdin")?;
            buffer
        }
    };
    let request: DecideRequest =
        serde_json::from_str(text.trim()).context("the request is not a decide request (spec/decide.md)")?;
    let policy =
        if args.policy == "rules" { Policy::rules() } else { Policy::Table(load_table(Path::new(&args.policy))?) };
    print!("{}", show::explain(&request, &policy));
    Ok(())
}
