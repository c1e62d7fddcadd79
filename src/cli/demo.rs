//! `etl-medic demo`: the daemon's real worker pool on the embedded
//! simulated Glue estate (`crate::demo`), with its clap arguments.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::cli::run::{LogFormat, init_tracing, runtime};
use crate::config::Settings;
use crate::core::model::Mode;
use crate::demo::DemoOptions;
use crate::sim::SimConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoMode {
    Auto,
    Shadow,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Incidents to work through.
    #[arg(long, default_value_t = 24)]
    pub incidents: usize,
    /// Seed of the simulated estate: the same seed gives the same incidents.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// auto acts on the simulated estate; shadow only records what it would do.
    #[arg(long, value_enum, default_value_t = DemoMode::Auto)]
    pub mode: DemoMode,
    /// Policy file (JSON Q-table) or `rules`; default: [policy] path of the settings
    /// (the shipped policy).
    #[arg(long, value_name = "FILE|rules")]
    pub policy: Option<String>,
    /// Where /metrics is served while the demo runs; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: String,
    /// Keep serving /metrics this many seconds after the summary.
    #[arg(long, default_value_t = 0)]
    pub linger_secs: u64,
    /// Simulated seconds per real second (3000: the estate's 45 minutes between failures pass in under a second).
    #[arg(long, default_value_t = 3_000.0)]
    pub speedup: f64,
    /// Stop after this many real seconds even if incidents are still open
    /// (the summary then says how many did not finish, and the exit code is
    /// 1). Default: 55 s plus 3 s per incident.
    #[arg(long)]
    pub time_limit_secs: Option<u64>,
    /// Write the demo's audit trail here, laid out as in S3
    /// (docs/audit-layout.md), for `replay` and `experience export`.
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Simulated estate (TOML, as config/sim.toml); default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub sim_config: Option<PathBuf>,
}

/// `etl-medic demo`: progress on stderr, the summary on stdout.
pub fn run_demo(args: &DemoArgs, settings: Settings) -> anyhow::Result<()> {
    init_tracing(LogFormat::Pretty, "warn");
    let sim = match &args.sim_config {
        Some(path) => SimConfig::load(path).with_context(|| format!("reading {}", path.display()))?,
        None => SimConfig::embedded_default(),
    };
    let options = DemoOptions {
        incidents: args.incidents,
        seed: args.seed,
        mode: match args.mode {
            DemoMode::Auto => Mode::Auto,
            DemoMode::Shadow => Mode::Shadow,
        },
        listen: args.listen.clone(),
        linger_secs: args.linger_secs,
        speedup: args.speedup.max(1.0),
        time_limit_secs: args.time_limit_secs.unwrap_or_else(|| crate::demo::default_time_limit_secs(args.incidents)),
        audit_dir: args.audit_dir.clone(),
        sim,
    };
    runtime()?.block_on(async move {
        let mut progress = std::io::stderr();
        let mut out = std::io::stdout();
        let summary = crate::demo::run(options, settings, &mut progress, &mut out).await?;
        if summary.unfinished() > 0 {
            anyhow::bail!(
                "the demo stopped at its time limit with {} of {} incidents unfinished; give it more with --time-limit-secs",
                summary.unfinished(),
                summary.incidents
            );
        }
        Ok(())
    })
}
