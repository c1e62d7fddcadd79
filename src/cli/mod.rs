//! The command line: parse arguments, load settings, hand over to the
//! subcommand. Exit codes: 0 done, 1 runtime failure, 64 bad usage or bad
//! configuration (the message names the offending key), as sysexits' EX_USAGE.

mod classify;
pub mod daemon;
mod decide;
pub mod experience;
pub mod jsonl;
pub mod learn;
mod replay;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::core::model::Mode;
use crate::core::policy::{Exploration, Policy};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 64;

#[derive(Parser)]
#[command(
    name = "etl-medic",
    version,
    about = "Self-healing agent for AWS Glue job runs",
    long_about = "etl-medic heals failed AWS Glue job runs. It reads the evidence of a failure \
(the job run, its CloudWatch logs, the Data Catalog table versions), classifies the cause, \
picks a bounded remediation (retry, wait and retry, more capacity, schema rollback, quarantine \
of bad records, escalation to a person), lets a fixed safety layer veto anything risky, applies \
it through the Glue API and records every step.\n\n\
Settings: config/default.toml is built in; --config FILE (or ETL_MEDIC_CONFIG) layers a file \
over it; ETL_MEDIC__SECTION__KEY environment variables override both (ETL_MEDIC__SAFETY__MODE=auto)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify error messages or log excerpts into failure classes.
    ///
    /// Reads JSON lines {"id", "text", "where"} on stdin and answers each with
    /// {"id", "class", "confidence", "signals"} on stdout, in order.
    Classify,
    /// Decide what to do about failed job runs, from evidence already gathered.
    ///
    /// Reads one JSON request per line on stdin (the failure event, job run,
    /// logs, catalog versions, history; see spec/decide.md) and answers each
    /// with the diagnosis, the policy's proposal and Q-values, the safety
    /// verdict and the final action. Nothing is executed.
    Decide(DecideArgs),
    /// Show the effective settings (defaults, file, environment) as JSON, after validation.
    Config(ConfigArgs),
    /// Run the daemon: the worker pool on the SQS queue, until SIGTERM.
    ///
    /// AWS endpoints and credentials come from the standard AWS environment
    /// (AWS_REGION, AWS_ENDPOINT_URL, the ECS task role). Serves /metrics,
    /// /healthz and /readyz on [http] listen.
    Run(RunCommand),
    /// The whole loop on an embedded simulated Glue account: no AWS needed.
    ///
    /// Failures arrive as EventBridge events on an in-memory queue, the real
    /// worker pool diagnoses, decides, acts on the simulated estate and
    /// validates, on an accelerated clock. Ends with a summary.
    Demo(DemoCommand),
    /// Probe /healthz (the container's HEALTHCHECK); exit 0 when healthy.
    Healthcheck(daemon::HealthcheckArgs),
    /// Train a Q-table policy on the simulated Glue estate.
    Train(learn::TrainArgs),
    /// Compare manual, glue-retries, rules, the trained policy and an oracle on the same simulated incidents.
    Evaluate(learn::EvaluateArgs),
    /// Inspect a policy file.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Re-decide recorded production decisions with the current policy and settings.
    ///
    /// Reads an audit trail copied from S3 (aws s3 sync s3://BUCKET/audit/ DIR),
    /// runs each recorded decide request through the current decision core and
    /// prints one JSON line per decision: what was decided then, what would be
    /// decided now, and whether the final action changed.
    Replay(ReplayArgs),
    /// Learn a candidate policy from experience lines, estimate it off-policy
    /// against the base, and say whether to promote it (spec/experience.md).
    ///
    /// Always writes the candidate to --out. Exit 0 when written; with
    /// --require-promotion, 3 when the verdict is `keep`; 64 on bad input,
    /// naming the file and line.
    Learn(experience::LearnArgs),
    /// Experience lines (spec/experience.md).
    #[command(subcommand)]
    Experience(ExperienceCommand),
    /// The simulated Glue estate.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum ExperienceCommand {
    /// Write experience lines from an audit trail copied from S3 (docs/audit-layout.md).
    Export(experience::ExportArgs),
}

#[derive(Subcommand)]
enum SimCommand {
    /// Play a simulator parameter set through the decide protocol
    /// (decide --mode auto --explore EPS --explore-seed N) and write
    /// experience lines: how an outside evaluator collects experience.
    Collect(experience::CollectArgs),
    /// Draw a parameter set around a shipped one, as `train` does per block
    /// of episodes (for tuning and stress tests; held-out sets are refused).
    Randomize(experience::RandomizeArgs),
}

#[derive(Args)]
struct ReplayArgs {
    /// Directory holding audit records (searched recursively for *.json).
    #[arg(value_name = "DIR")]
    directory: PathBuf,
    #[command(flatten)]
    decision: DecisionOptions,
}

#[derive(Args)]
struct RunCommand {
    #[command(flatten)]
    config: ConfigFile,
    #[command(flatten)]
    args: daemon::RunArgs,
}

#[derive(Args)]
struct DemoCommand {
    #[command(flatten)]
    config: ConfigFile,
    #[command(flatten)]
    args: daemon::DemoArgs,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Render the Q-table: state x action, best action marked, visit counts.
    Show(learn::PolicyShowArgs),
    /// Explain the decision on one decide request (JSON on stdin or --request FILE).
    Explain(learn::PolicyExplainArgs),
}

#[derive(Args)]
struct ConfigFile {
    /// TOML file layered over the built-in defaults.
    #[arg(long, value_name = "FILE", env = "ETL_MEDIC_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct DecideArgs {
    #[command(flatten)]
    decision: DecisionOptions,
    /// Explore: with this probability (0 to 1) propose an action drawn
    /// uniformly among those the safety layer allows unchanged, instead of
    /// the greedy one. Only in auto mode, never for a critical job
    /// (spec/experience.md).
    #[arg(long, value_name = "EPS", default_value_t = 0.0)]
    explore: f64,
    /// Seed of the exploration draw, which is a pure function of (seed,
    /// request id, history.attempt).
    #[arg(long, value_name = "N", default_value_t = 0)]
    explore_seed: u64,
}

/// What a decision depends on besides the request: `decide` and `replay`.
#[derive(Args)]
struct DecisionOptions {
    /// Policy file (JSON Q-table), or `rules` for the built-in rules baseline.
    /// Default: [policy] path of the settings.
    #[arg(long, value_name = "FILE|rules")]
    policy: Option<String>,
    #[command(flatten)]
    config: ConfigFile,
    /// One autonomy mode for every job and class, in place of [safety] mode,
    /// job_modes and class_modes. [safety] force_shadow = true still wins.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
}

#[derive(Args)]
struct ConfigArgs {
    #[command(flatten)]
    config: ConfigFile,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Shadow,
    Auto,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Shadow => Mode::Shadow,
            ModeArg::Auto => Mode::Auto,
        }
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = error.print();
            return code;
        }
    };
    let environment: HashMap<String, String> = std::env::vars().collect();
    match dispatch(cli.command, &environment) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("etl-medic: {message}");
            EXIT_USAGE
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("etl-medic: {error:#}");
            EXIT_FAILURE
        }
    }
}

/// Why a subcommand stopped: the user's input (64) or the world (1).
pub enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

fn dispatch(command: Command, environment: &HashMap<String, String>) -> Result<i32, Failure> {
    match command {
        Command::Classify => {
            let stats = classify::run(std::io::stdin().lock(), std::io::stdout().lock()).map_err(|error| {
                Failure::Runtime(anyhow::Error::new(error).context("classify: reading or writing lines"))
            })?;
            report_rejections("classify", stats);
            Ok(EXIT_OK)
        }
        Command::Decide(args) => {
            let exploration = Exploration::new(args.explore, args.explore_seed)
                .map_err(|error| Failure::Usage(format!("--explore: {error}")))?;
            let (settings, policy) = args.decision.load(environment)?;
            let decider = decide::Decider { policy, settings, exploration };
            let stats = decider.run(std::io::stdin().lock(), std::io::stdout().lock()).map_err(|error| {
                Failure::Runtime(anyhow::Error::new(error).context("decide: reading or writing lines"))
            })?;
            report_rejections("decide", stats);
            Ok(EXIT_OK)
        }
        Command::Run(command) => {
            let settings = load_settings(command.config.config.as_deref(), environment)?;
            let policy = load_policy(&settings.policy.path, false)?;
            let daemon_settings = settings.daemon_settings();
            daemon::check_run_settings(&daemon_settings).map_err(|error| Failure::Usage(format!("{error:#}")))?;
            daemon::run_daemon(&command.args, daemon_settings, settings.safety.clone(), policy)
                .map_err(Failure::Runtime)?;
            Ok(EXIT_OK)
        }
        Command::Demo(command) => {
            let settings = load_settings(command.config.config.as_deref(), environment)?;
            let explicit = command.args.policy.is_some();
            let spec = command.args.policy.clone().unwrap_or_else(|| settings.policy.path.clone());
            let policy = load_policy(&spec, explicit)?;
            daemon::run_demo(&command.args, settings.safety.clone(), policy).map_err(Failure::Runtime)?;
            Ok(EXIT_OK)
        }
        Command::Healthcheck(args) => Ok(daemon::run_healthcheck(&args)),
        Command::Replay(args) => {
            let (settings, policy) = args.decision.load(environment)?;
            let summary = replay::run(&args.directory, &policy, &settings, &mut std::io::stdout().lock())
                .map_err(Failure::Runtime)?;
            eprintln!(
                "etl-medic replay: {} decisions, {} with a different final action, {} files unreadable (policy {})",
                summary.decisions,
                summary.changed,
                summary.unreadable,
                policy.version()
            );
            Ok(EXIT_OK)
        }
        Command::Learn(args) => experience::run_learn(&args, environment),
        Command::Experience(ExperienceCommand::Export(args)) => experience::run_export(&args),
        Command::Sim(SimCommand::Collect(args)) => experience::run_collect(&args, environment),
        Command::Sim(SimCommand::Randomize(args)) => experience::run_randomize(&args),
        Command::Train(args) => learn::run_train(&args).map(|()| EXIT_OK).map_err(Failure::Runtime),
        Command::Evaluate(args) => learn::run_evaluate(&args).map(|_| EXIT_OK).map_err(Failure::Runtime),
        Command::Policy(PolicyCommand::Show(args)) => {
            learn::run_policy_show(&args).map(|()| EXIT_OK).map_err(Failure::Runtime)
        }
        Command::Policy(PolicyCommand::Explain(args)) => {
            learn::run_policy_explain(&args).map(|()| EXIT_OK).map_err(Failure::Runtime)
        }
        Command::Config(args) => {
            let mut settings = load_settings(args.config.config.as_deref(), environment)?;
            // The webhook URL is a credential (whoever has it can post):
            // say that one is set, never what it is.
            if settings.escalation.webhook().is_some() {
                settings.escalation.webhook_url = Some("<set, not shown>".to_string());
            }
            let text = serde_json::to_string_pretty(&settings)
                .map_err(|error| Failure::Runtime(anyhow::Error::new(error).context("encoding settings")))?;
            println!("{text}");
            Ok(EXIT_OK)
        }
    }
}

impl DecisionOptions {
    /// Settings with the `--mode` override applied, and the policy: `--policy`,
    /// else the settings' [policy] path.
    fn load(&self, environment: &HashMap<String, String>) -> Result<(Settings, Policy), Failure> {
        let mut settings = load_settings(self.config.config.as_deref(), environment)?;
        if let Some(mode) = self.mode {
            settings.safety.set_mode_everywhere(mode.into());
        }
        let policy = match &self.policy {
            Some(spec) => load_policy(spec, true)?,
            None => load_policy(&settings.policy.path, false)?,
        };
        Ok((settings, policy))
    }
}

/// Load and validate settings; any problem is a usage failure (exit 64).
pub fn load_settings(file: Option<&Path>, environment: &HashMap<String, String>) -> Result<Settings, Failure> {
    Settings::load(file, environment).map_err(|error| Failure::Usage(error.to_string()))
}

/// The trained policy of this release (`config/policy.json`), built into the
/// binary so that `decide`, `demo` and `run` use it from any directory.
pub const SHIPPED_POLICY: &str = include_str!("../../config/policy.json");

/// `rules`, or a policy file. A missing file named explicitly is an error;
/// a missing configured default falls back to the policy built into the
/// binary.
pub fn load_policy(spec: &str, explicit: bool) -> Result<Policy, Failure> {
    if spec == "rules" {
        return Ok(Policy::rules());
    }
    let path = Path::new(spec);
    match std::fs::read_to_string(path) {
        Ok(text) => Policy::from_json(&text).map_err(|error| Failure::Usage(format!("policy file {spec}: {error}"))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => Policy::from_json(SHIPPED_POLICY)
            .map_err(|error| Failure::Runtime(anyhow::anyhow!("the built-in policy does not load: {error}"))),
        Err(error) => Err(Failure::Usage(format!("policy file {spec}: {error}"))),
    }
}

/// A one-line summary on stderr when some lines were rejected, so a batch
/// user notices without parsing the output.
fn report_rejections(command: &str, stats: jsonl::LineStats) {
    if stats.errors > 0 {
        eprintln!("etl-medic {command}: {} lines, {} answered with an error", stats.lines, stats.errors);
    }
}
