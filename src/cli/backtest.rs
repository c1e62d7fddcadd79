//! `etl-medic backtest`: what etl-medic would have done over an account's
//! past failures, read-only (`crate::backtest`), with its clap arguments,
//! the progress bar on stderr, and `--demo` for the embedded simulated
//! account. Exit codes: 0 report written, 64 bad usage (an empty window, a
//! glob no job matches, a directory holding another backtest), 1 the world
//! (credentials, throttling that did not pass, access denied).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::adapters::aws::AwsConnection;
use crate::adapters::wiring::aws_backtest_ports;
use crate::backtest::demo::{DemoHistory, demo_account};
use crate::backtest::report::{REPORT_JSON, REPORT_MD, human};
use crate::backtest::window::{JobGlob, WindowSpec};
use crate::backtest::{Account, BacktestError, BacktestOptions, Progress, iam};
use crate::cli::{EXIT_OK, Failure, load_local_policy, load_settings};
use crate::policy_source::PolicyLocation;
use crate::ports::{Clock, SystemClock};

/// The window when neither --since nor --from is given.
pub const DEFAULT_SINCE: &str = "30d";

#[derive(Args, Debug)]
pub struct BacktestArgs {
    /// How far back from now: 30d, 12h, 2w (default 30d).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    pub since: Option<String>,
    /// Start of the window: a date (2026-11-02) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// End of the window (default now); a bare date includes that day.
    #[arg(long, value_name = "DATE", requires = "from")]
    pub to: Option<String>,
    /// Only jobs whose name matches this pattern (* and ?).
    #[arg(long, value_name = "GLOB", default_value = "*")]
    pub jobs: String,
    /// TOML file layered over the built-in defaults.
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Policy file, or `rules`; default: [policy] path of the settings.
    #[arg(long, value_name = "FILE|rules")]
    pub policy: Option<String>,
    /// Directory for report.json, report.md, the charts and requests.jsonl
    /// (and the checkpoint that lets a rerun continue).
    #[arg(long, value_name = "DIR", required_unless_present = "print_iam_policy")]
    pub out: Option<PathBuf>,
    /// Also write the incidents as experience lines (spec/experience.md) to this file.
    #[arg(long, value_name = "FILE")]
    pub experience: Option<PathBuf>,
    /// Backtest the embedded simulated account instead of AWS (no credentials needed).
    #[arg(long)]
    pub demo: bool,
    /// Print the read-only IAM policy the backtest needs, and exit.
    #[arg(long, conflicts_with_all = ["since", "from", "to", "out", "experience", "demo"])]
    pub print_iam_policy: bool,
}

/// A bar over the jobs, on stderr, only when stderr is a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} jobs ({eta} left)") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("reading history");
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, jobs: u64, already_done: u64) {
        self.0.set_length(jobs);
        self.0.set_position(already_done);
    }

    fn job_done(&self, _failures: u32) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub fn run(args: &BacktestArgs, environment: &HashMap<String, String>) -> Result<i32, Failure> {
    let mut settings = load_settings(args.config.as_deref(), environment)?;
    if args.print_iam_policy {
        let text = serde_json::to_string_pretty(&iam::policy(&settings))
            .map_err(|error| Failure::Runtime(anyhow::Error::new(error).context("encoding the policy")))?;
        println!("{text}");
        return Ok(EXIT_OK);
    }
    let Some(out) = args.out.clone() else {
        return Err(Failure::Usage("backtest needs --out DIR".to_string()));
    };
    let window =
        WindowSpec::from_arguments(args.since.as_deref(), args.from.as_deref(), args.to.as_deref(), DEFAULT_SINCE)
            .map_err(Failure::Usage)?;
    if let Some(spec) = &args.policy {
        settings.policy.path = spec.clone();
    }
    let location = PolicyLocation::parse(&settings.policy.path);
    if matches!(location, PolicyLocation::S3 { .. }) {
        return Err(Failure::Usage(
            "the backtest reads a local policy file or `rules`, not s3:// (copy it with `aws s3 cp` and pass --policy FILE)"
                .to_string(),
        ));
    }
    let policy = load_local_policy(&location)?;
    let options =
        BacktestOptions { window, jobs: JobGlob(args.jobs.clone()), out, experience: args.experience.clone() };
    crate::cli::run::init_tracing(crate::cli::run::LogFormat::Pretty, "warn");
    let runtime = crate::cli::run::runtime().map_err(Failure::Runtime)?;
    let progress = Bar::new();
    let outcome = runtime.block_on(async {
        if args.demo {
            let demo = demo_account(settings, &DemoHistory::default());
            let sim = DemoHistory::default().sim;
            let account = Account {
                ports: demo.estate.ports(),
                region: Some(sim.estate.region.clone()),
                account_id: Some(sim.estate.account.clone()),
                label: "demo".to_string(),
            };
            crate::backtest::run(&options, account, demo.settings, policy, demo.now, &progress).await
        } else {
            let connection = AwsConnection::from_environment().await;
            let account = Account {
                ports: aws_backtest_ports(&connection),
                region: connection.region().map(str::to_string),
                account_id: None,
                label: format!("aws:{}", connection.region().unwrap_or_default()),
            };
            crate::backtest::run(&options, account, settings, policy, SystemClock.now(), &progress).await
        }
    });
    let outcome = outcome.map_err(|error| match error {
        BacktestError::Usage(message) => Failure::Usage(message),
        BacktestError::World(error) => Failure::Runtime(error.context("backtest")),
    })?;
    let overall = &outcome.summary.overall;
    let out = options.out.display();
    println!(
        "etl-medic backtest: {} failed runs in {} incidents over {} jobs ({} still open); the proposal matches what fixed it in {} of {}",
        overall.failures,
        overall.incidents,
        outcome.summary.jobs_with_incidents,
        overall.open,
        overall.proposal_matches,
        overall.compared
    );
    if let (Some(observed), Some(estimated)) = (overall.observed_mean_s, overall.estimated_mean_s) {
        println!(
            "  time to fix: observed mean {}, estimated under the proposals {} (80% interval {})",
            human(observed),
            human(estimated),
            overall
                .estimated_mean_interval_s
                .map_or_else(|| "-".to_string(), |[low, high]| format!("{}-{}", human(low), human(high)))
        );
    }
    if outcome.summary.completeness.partial {
        println!("  the window was not read whole: see Completeness in {out}/{REPORT_MD}");
    }
    println!("  report: {out}/{REPORT_MD}, {out}/{REPORT_JSON}");
    if let Some(path) = &options.experience {
        println!("  experience lines: {}", path.display());
    }
    Ok(EXIT_OK)
}
