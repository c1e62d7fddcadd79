//! The command line: parse arguments, load settings, hand over to the
//! subcommand. Exit codes: 0 done, 1 runtime failure, 64 bad usage or bad
//! configuration (the message names the offending key), as sysexits' EX_USAGE.

pub mod approve;
pub mod autonomy;
pub mod backtest;
mod classify;
pub mod decide;
pub mod demo;
pub mod experience;
pub mod jsonl;
pub mod learn;
mod replay;
pub mod run;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::core::model::Mode;
use crate::core::policy::{Exploration, Policy};
use crate::policy_source::PolicyLocation;

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
    /// Approve (or --reject) the action proposed for an incident in approve mode.
    ///
    /// Needs only AWS credentials for the incident table, the audit bucket,
    /// Glue and the escalation topic (the same settings as `run`). The
    /// approval is single use and bound to the pending proposal; safety is
    /// checked again before exactly that action runs. Exit 0 when applied,
    /// 1 when refused (unknown incident, already decided, expired, or safety
    /// refused the action now), 64 for a malformed incident id.
    Approve(ApproveCommand),
    /// The autonomy ladder.
    #[command(subcommand)]
    Autonomy(AutonomyCommand),
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
    Healthcheck(run::HealthcheckArgs),
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
    /// What etl-medic would have done over the account's past failures, read-only.
    ///
    /// For every FAILED, TIMEOUT or ERROR run in the window, assembles the
    /// decide request the daemon would have assembled then (catalog versions
    /// and run history as they were), decides in shadow, reads what really
    /// happened next (the next success, whether a person changed arguments,
    /// capacity or a table before it) and writes report.json, report.md and
    /// charts to --out. Only reads: --print-iam-policy shows the policy it needs.
    Backtest(backtest::BacktestArgs),
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
    args: run::RunArgs,
}

#[derive(Subcommand)]
enum AutonomyCommand {
    /// Per (job, failure class) from an audit trail copied from S3: decisions,
    /// precision of the scored proposals with a Wilson lower bound, the mode
    /// now and the suggested mode.
    Report(AutonomyReportCommand),
}

#[derive(Args)]
struct AutonomyReportCommand {
    #[command(flatten)]
    config: ConfigFile,
    #[command(flatten)]
    args: autonomy::AutonomyReportArgs,
}

#[derive(Args)]
struct ApproveCommand {
    #[command(flatten)]
    config: ConfigFile,
    #[command(flatten)]
    args: approve::ApproveArgs,
}

#[derive(Args)]
struct DemoCommand {
    #[command(flatten)]
    config: ConfigFile,
    #[command(flatten)]
    args: demo::DemoArgs,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// What the policy does per failure class; --full prints every state
    /// (state x action Q-values, greedy action marked, visit counts).
    Show(learn::PolicyShowArgs),
    /// Explain what `decide` answers to decide requests (JSON lines on stdin or --request FILE).
    ///
    /// Walks decide's own path with the same --policy, --config and --mode:
    /// the diagnosis and its signals, the state, every action's Q-value and
    /// whether safety allows it unchanged, the verdict, the mode and the
    /// final action. An event that needs no action is said to be ignored.
    Explain(ExplainCommand),
}

#[derive(Args)]
struct ExplainCommand {
    #[command(flatten)]
    decision: DecisionOptions,
    #[command(flatten)]
    args: learn::PolicyExplainArgs,
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
    if !matches!(cli.command, Command::Run(_)) {
        stop_quietly_on_a_closed_pipe();
    }
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

/// A command whose reader went away (`etl-medic policy show | head -1`)
/// stops at once and quietly, as `cat` does: SIGPIPE gets its default
/// action back (Rust ignores it, which turns every later print into a
/// panic or an error message). Not for `run`: a daemon whose log reader
/// dies must keep working.
#[cfg(unix)]
#[allow(unsafe_code)] // one libc call, see the SAFETY note
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any
    // thread is started; it has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn stop_quietly_on_a_closed_pipe() {}

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
            let emulated = environment.keys().any(|name| name.starts_with("AWS_ENDPOINT_URL"));
            settings.check_daemon(emulated).map_err(|error| Failure::Usage(error.to_string()))?;
            let location = PolicyLocation::parse(&settings.policy.path);
            if !matches!(location, PolicyLocation::S3 { .. }) {
                // A local policy that does not load is a usage error, found before any AWS call.
                load_local_policy(&location)?;
            }
            run::run_daemon(&command.args, settings).map_err(Failure::Runtime)?;
            Ok(EXIT_OK)
        }
        Command::Demo(command) => {
            let mut settings = load_settings(command.config.config.as_deref(), environment)?;
            if let Some(spec) = &command.args.policy {
                settings.policy.path = spec.clone();
            }
            let location = PolicyLocation::parse(&settings.policy.path);
            if matches!(location, PolicyLocation::S3 { .. }) {
                return Err(Failure::Usage("the demo reads a local policy file or `rules`, not s3://".to_string()));
            }
            load_local_policy(&location)?;
            demo::run_demo(&command.args, settings).map_err(Failure::Runtime)?;
            Ok(EXIT_OK)
        }
        Command::Healthcheck(args) => Ok(run::run_healthcheck(&args)),
        Command::Autonomy(AutonomyCommand::Report(command)) => {
            let settings = load_settings(command.config.config.as_deref(), environment)?;
            let report = autonomy::run_report(&command.args, &settings).map_err(Failure::Usage)?;
            print!("{report}");
            Ok(EXIT_OK)
        }
        Command::Approve(command) => {
            let user = environment.get("USER").map(String::as_str);
            let answer = approve::answer_from(&command.args, user).map_err(Failure::Usage)?;
            let settings = load_settings(command.config.config.as_deref(), environment)?;
            match approve::run_approve(answer, settings) {
                Ok(()) => Ok(EXIT_OK),
                Err(approve::ApproveFailure::Usage(message)) => Err(Failure::Usage(message)),
                Err(approve::ApproveFailure::Refused(message)) => Err(Failure::Runtime(anyhow::anyhow!(message))),
            }
        }
        Command::Replay(args) => {
            let (settings, policy) = args.decision.load(environment)?;
            let summary = replay::run(&args.directory, &policy, &settings, &mut std::io::stdout().lock())
                .map_err(|error| Failure::Usage(format!("{error:#}")))?;
            eprintln!(
                "etl-medic replay: {} decisions, {} with a different final action, {} files unreadable (policy {})",
                summary.decisions,
                summary.changed,
                summary.unreadable,
                policy.version()
            );
            for example in &summary.unreadable_examples {
                eprintln!("  unreadable: {example}");
            }
            if summary.decisions == 0 {
                return Err(Failure::Usage(format!(
                    "no recorded decision found under {}: give the directory an audit trail was copied into \
                     (aws s3 sync s3://BUCKET/audit/ DIR, or `etl-medic demo --audit-dir DIR`)",
                    args.directory.display()
                )));
            }
            Ok(if summary.unreadable > 0 { EXIT_FAILURE } else { EXIT_OK })
        }
        Command::Backtest(args) => backtest::run(&args, environment),
        Command::Learn(args) => experience::run_learn(&args, environment),
        Command::Experience(ExperienceCommand::Export(args)) => experience::run_export(&args),
        Command::Sim(SimCommand::Collect(args)) => experience::run_collect(&args, environment),
        Command::Sim(SimCommand::Randomize(args)) => experience::run_randomize(&args),
        Command::Train(args) => learn::run_train(&args).map(|()| EXIT_OK).map_err(Failure::Runtime),
        Command::Evaluate(args) => {
            let (_, policy) = resolve_policy(args.config.as_deref(), args.policy.as_deref(), environment)?;
            learn::run_evaluate(&args, &policy).map(|_| EXIT_OK).map_err(Failure::Runtime)
        }
        Command::Policy(PolicyCommand::Show(args)) => {
            let (_, policy) = resolve_policy(args.config.as_deref(), args.policy.as_deref(), environment)?;
            learn::run_policy_show(&args, &policy).map(|()| EXIT_OK).map_err(Failure::Runtime)
        }
        Command::Policy(PolicyCommand::Explain(command)) => {
            let (settings, policy) = command.decision.load(environment)?;
            let decider = decide::Decider { policy, settings, exploration: Exploration::none() };
            let (requests, errors) = learn::run_policy_explain(&command.args, &decider)
                .map_err(|error| Failure::Usage(format!("{error:#}")))?;
            if errors > 0 {
                eprintln!("etl-medic policy explain: {requests} requests, {errors} answered with an error");
            }
            Ok(EXIT_OK)
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
        let policy = local_policy_of(&mut settings, self.policy.as_deref())?;
        Ok((settings, policy))
    }
}

/// The settings and the policy every command uses: `--policy` if given,
/// else the settings' [policy] path (`--config`, ETL_MEDIC__POLICY__PATH),
/// resolved the same way for every command; the version in use is printed
/// on stderr, and a named file that does not load is an error (exit 64).
pub fn resolve_policy(
    config: Option<&Path>,
    policy: Option<&str>,
    environment: &HashMap<String, String>,
) -> Result<(Settings, Policy), Failure> {
    let mut settings = load_settings(config, environment)?;
    let policy = local_policy_of(&mut settings, policy)?;
    Ok((settings, policy))
}

/// The policy of `settings` (`--policy` replacing [policy] path), read locally.
fn local_policy_of(settings: &mut Settings, policy: Option<&str>) -> Result<Policy, Failure> {
    if let Some(spec) = policy {
        settings.policy.path = spec.to_string();
    }
    let location = PolicyLocation::parse(&settings.policy.path);
    if matches!(location, PolicyLocation::S3 { .. }) {
        return Err(Failure::Usage(format!(
            "policy.path = {}: this command reads a local policy file or `rules`; copy the object first \
             (aws s3 cp {} policy.json) and pass --policy policy.json",
            settings.policy.path, settings.policy.path
        )));
    }
    load_local_policy(&location)
}

/// Load and validate settings; any problem is a usage failure (exit 64).
pub fn load_settings(file: Option<&Path>, environment: &HashMap<String, String>) -> Result<Settings, Failure> {
    Settings::load(file, environment).map_err(|error| Failure::Usage(error.to_string()))
}

/// The policy at a local location, its version said on stderr; a policy that
/// does not load is a usage failure naming the location (exit 64).
pub fn load_local_policy(location: &PolicyLocation) -> Result<Policy, Failure> {
    let loaded = location.load_local().map_err(|error| Failure::Usage(error.to_string()))?;
    eprintln!("etl-medic: policy {} ({})", loaded.policy.version(), loaded.origin);
    Ok(loaded.policy)
}

/// A one-line summary on stderr when some lines were rejected, so a batch
/// user notices without parsing the output.
fn report_rejections(command: &str, stats: jsonl::LineStats) {
    if stats.errors > 0 {
        eprintln!("etl-medic {command}: {} lines, {} answered with an error", stats.lines, stats.errors);
    }
}
