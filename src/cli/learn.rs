//! The learning subcommands: `train`, `evaluate`, `policy show` and
//! `policy explain`. Each is a clap `Args` struct and a `run_*` function
//! returning `anyhow::Result`, so the dispatcher only wires them; the work
//! lives in `crate::learn`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::decide::{Decider, LineDecision};
use crate::core::policy::Policy;
use crate::learn::evaluate::{self, EvaluateOptions, SimEvaluation, evaluate_sim, render};
use crate::learn::train::{TrainOptions, train};
use crate::learn::{chart, show};
use crate::sim::SimConfig;

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
    /// The policy to evaluate: a file, or `rules`. Default: [policy] path of
    /// the settings (the shipped policy), resolved as every command does.
    #[arg(long, value_name = "FILE|rules")]
    pub policy: Option<String>,
    /// TOML file layered over the built-in defaults (for [policy] path).
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// A policy file, or `rules`. Default: [policy] path of the settings.
    #[arg(long, value_name = "FILE|rules")]
    pub policy: Option<String>,
    /// TOML file layered over the built-in defaults (for [policy] path).
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print every state with its Q-values and visits, instead of the
    /// per-class summary. --filter and --min-visits imply it.
    #[arg(long)]
    pub full: bool,
    /// Only states whose key contains this text (e.g. `class=source_unavailable`).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Hide states visited fewer times than this in training.
    #[arg(long, default_value_t = 0)]
    pub min_visits: u64,
}

#[derive(Args, Debug)]
pub struct PolicyExplainArgs {
    /// Decide requests (spec/decide.md): one JSON document, or JSON lines
    /// (one request per line, as `decide` reads them). Default: stdin.
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
}

fn load_sims(paths: &[PathBuf]) -> anyhow::Result<Vec<SimConfig>> {
    if paths.is_empty() {
        return Ok(vec![SimConfig::embedded_default()]);
    }
    paths.iter().map(|path| SimConfig::load(path)).collect()
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
    // Not on a terminal (CI, a log file): one line per tenth instead of a bar.
    let plain = bar.is_hidden();
    let tenth = (args.episodes / 10).max(1);
    let started = std::time::Instant::now();
    eprintln!("training on {} parameter sets, {} episodes (seed {})", options.sims.len(), args.episodes, args.seed);
    let table = train(&options, |done| {
        if done % 1_000 == 0 || done == args.episodes {
            bar.set_position(done);
        }
        if plain && (done % tenth == 0 || done == args.episodes) {
            eprintln!(
                "training: {done}/{} episodes ({:.0}%), {:.0} s",
                args.episodes,
                100.0 * done as f64 / args.episodes.max(1) as f64,
                started.elapsed().as_secs_f64()
            );
        }
    })?;
    bar.finish_and_clear();
    std::fs::write(&args.out, table.to_json_pretty()).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {} ({} states, version {})", args.out.display(), table.states().len(), table.version());
    Ok(())
}

pub fn run_evaluate(args: &EvaluateArgs, policy: &Policy) -> anyhow::Result<Vec<SimEvaluation>> {
    let mut sims = load_sims(&args.sims)?;
    for held_out in SimConfig::embedded_holdouts() {
        if !sims.iter().any(|sim| sim.name == held_out.name) {
            sims.push(held_out);
        }
    }
    let options = EvaluateOptions::new(args.incidents, args.seed);
    let mut evaluations = Vec::new();
    for sim in &sims {
        let evaluation = evaluate_sim(sim, policy, &options);
        println!("{}", render(&evaluation, args.top_states));
        evaluations.push(evaluation);
    }
    println!("{}", evaluate::LEGEND);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&evaluations)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let table = match policy {
            Policy::Table(table) => Some(table),
            Policy::Rules => None,
        };
        chart::write_svg(path, &evaluations, table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(evaluations)
}

pub fn run_policy_show(args: &PolicyShowArgs, policy: &Policy) -> anyhow::Result<()> {
    let Policy::Table(table) = policy else {
        println!(
            "policy {}: the built-in rules baseline has no Q-table; `etl-medic policy explain --policy rules` \
             shows its decision on a request",
            policy.version()
        );
        return Ok(());
    };
    if args.full || args.filter.is_some() || args.min_visits > 0 {
        print!("{}", show::render_table(table, args.filter.as_deref(), args.min_visits));
    } else {
        print!("{}", show::render_summary(table));
    }
    Ok(())
}

/// Explain what `decide` answers to every request of the input, walking
/// `decide`'s own path (an event that needs no action is said to be
/// ignored, a bad line gets `decide`'s error). Returns (requests, errors).
pub fn run_policy_explain(args: &PolicyExplainArgs, decider: &Decider) -> anyhow::Result<(usize, usize)> {
    let text = match &args.request {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let mut buffer = String::new();
            std::io::stdin().read_to_string(&mut buffer).context("reading the requests from stdin")?;
            buffer
        }
    };
    // One document (possibly pretty-printed over several lines), or JSON lines.
    let requests: Vec<String> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(document) => vec![document.to_string()],
        Err(_) => text.lines().filter(|line| !line.trim().is_empty()).map(str::to_string).collect(),
    };
    if requests.is_empty() {
        anyhow::bail!("no request to explain: give a decide request (spec/decide.md) on stdin or with --request FILE");
    }
    let mut errors = 0;
    let mut out = std::io::stdout().lock();
    for (index, line) in requests.iter().enumerate() {
        if index > 0 {
            writeln!(out, "\n---\n")?;
        }
        match decider.decide_line(line) {
            LineDecision::Decided { request, outcome } => {
                write!(out, "{}", show::explain(&request, &outcome, &decider.policy, &decider.settings.safety))?;
            }
            LineDecision::Ignored { id, reason } => writeln!(out, "request {id}: ignored: {reason}")?,
            LineDecision::Invalid { id, message } => {
                errors += 1;
                writeln!(out, "request {id}: error: {message}")?;
            }
        }
    }
    Ok((requests.len(), errors))
}
