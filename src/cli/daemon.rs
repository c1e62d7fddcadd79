//! The daemon's subcommands as library functions with their clap
//! arguments: `run` (the worker on AWS), `demo` (the same pipeline on the
//! simulated estate) and `healthcheck` (the container's HEALTHCHECK, which
//! has no shell tools to call). `cli::mod` wires them into the command enum.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::adapters::aws::AwsConnection;
use crate::adapters::fan_out::escalation_notifier;
use crate::adapters::webhook::WebhookTimeouts;
use crate::core::model::Mode;
use crate::core::policy::Policy;
use crate::core::safety::SafetySettings;
use crate::daemon::context::{PipelineContext, Ports};
use crate::daemon::pool::{Health, WorkerPool};
use crate::daemon::settings::DaemonSettings;
use crate::demo::DemoOptions;
use crate::sim::SimConfig;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (production, log shippers).
    Json,
    /// Human-readable (a terminal).
    Pretty,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address of /metrics, /healthz, /readyz, over [http] listen.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log format; JSON by default, as a container's logs are shipped.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

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
    /// Policy file (JSON Q-table) or `rules`; default: [policy] path of the settings.
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
    /// (the summary then says how many did not finish).
    #[arg(long, default_value_t = 55)]
    pub time_limit_secs: u64,
    /// Simulated estate (TOML, as config/sim.toml); default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub sim_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to probe; healthy means HTTP 200.
    #[arg(long, default_value = "http://127.0.0.1:9090/healthz")]
    pub url: String,
    #[arg(long, default_value_t = 3)]
    pub timeout_secs: u64,
}

/// Install the tracing subscriber once (`RUST_LOG` filters; default `info`).
pub fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests, embedding) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Threads for blocking work: the SDK's DNS lookups (one per new
/// connection) and the healthcheck probe. Tokio's default of 512 lets a
/// burst of new connections leave hundreds of idle threads behind.
const MAX_BLOCKING_THREADS: usize = 32;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")
}

/// glibc gives each thread that allocates under contention an arena of its
/// own, up to eight per core, and keeps their pages: in a long-running
/// daemon with a blocking pool that is most of the resident memory beyond
/// the working set. Two arenas serve a few worker threads as well. (The
/// container image is glibc-based; other C libraries have no arenas.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the crate's one FFI call, see the SAFETY note
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the runtime starts its threads, and a refusal (0) changes nothing.
    let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Settings problems `run` refuses to start with (the caller exits 64).
pub fn check_run_settings(settings: &DaemonSettings) -> anyhow::Result<()> {
    if settings.queue.url.trim().is_empty() {
        bail!("queue.url is empty: set [queue] url or ETL_MEDIC__QUEUE__URL");
    }
    if settings.escalation.sns_topic_arn.as_deref().is_none_or(|arn| arn.trim().is_empty()) {
        bail!("escalation.sns_topic_arn is empty: escalations need somewhere to go");
    }
    if settings.queue.concurrency == 0 {
        bail!("queue.concurrency must be at least 1");
    }
    if settings.shutdown.shutdown_grace_secs + crate::daemon::pool::DELETE_FLUSH_SECS >= 120 {
        bail!(
            "shutdown.shutdown_grace_secs plus the 10 s delete flush must stay under ECS's 120 s stopTimeout (at most 109)"
        );
    }
    Ok(())
}

/// Every port on AWS; escalations also go to `[escalation] webhook_url`
/// when it is set (a URL without TLS roots to check it against stops here).
async fn aws_ports(settings: &DaemonSettings) -> anyhow::Result<Ports> {
    let connection = AwsConnection::from_environment().await;
    let mut ports = crate::adapters::aws::aws_ports(&connection, settings);
    ports.notifier = escalation_notifier(ports.notifier, &settings.escalation, WebhookTimeouts::default())
        .context("escalation.webhook_url")?;
    Ok(ports)
}

/// Cancel `root` on SIGTERM (ECS stopping the task) or Ctrl-C.
fn cancel_on_signal(root: CancellationToken) -> anyhow::Result<()> {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: draining"),
        }
        root.cancel();
    });
    Ok(())
}

/// `etl-medic run`: the worker pool on AWS until SIGTERM, then a bounded drain.
pub fn run_daemon(
    args: &RunArgs,
    mut settings: DaemonSettings,
    safety: SafetySettings,
    policy: Policy,
) -> anyhow::Result<()> {
    if let Some(listen) = &args.listen {
        settings.http.listen = listen.clone();
    }
    check_run_settings(&settings)?;
    init_tracing(args.log_format, "info");
    runtime()?.block_on(async move {
        let ports = aws_ports(&settings).await?;
        let registry = prometheus::Registry::new();
        let listen = settings.http.listen.clone();
        let context = Arc::new(PipelineContext::new(ports, settings, safety, policy, &registry, None).context("declaring metrics")?);
        let health = Health::new();
        let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("binding http.listen {listen}"))?;
        let http_stop = CancellationToken::new();
        let server = tokio::spawn(crate::http::serve(listener, crate::http::router(registry, health.clone()), http_stop.clone()));
        let root = CancellationToken::new();
        cancel_on_signal(root.clone())?;
        tracing::info!(listen, concurrency = context.settings.queue.concurrency, policy = %context.policy.version(), "etl-medic running");
        let background = tokio::spawn(crate::daemon::reconciler::run_background(context.clone(), root.clone()));
        let report = WorkerPool::new(context, health).run(root).await;
        background.await.context("background task")?;
        tracing::info!(finished = report.finished, abandoned = report.abandoned, "etl-medic stopped");
        http_stop.cancel();
        server.await.context("http task")?.context("serving http")?;
        Ok(())
    })
}

/// `etl-medic demo`: progress on stderr, the summary on stdout.
pub fn run_demo(args: &DemoArgs, safety: SafetySettings, policy: Policy) -> anyhow::Result<()> {
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
        time_limit_secs: args.time_limit_secs,
        sim,
    };
    runtime()?.block_on(async move {
        let mut progress = std::io::stderr();
        let mut out = std::io::stdout();
        crate::demo::run(options, safety, policy, &mut progress, &mut out).await.map(|_| ())
    })
}

/// `etl-medic healthcheck`: exit code 0 when the URL answers 200, 1 otherwise.
pub fn run_healthcheck(args: &HealthcheckArgs) -> i32 {
    match crate::http::probe(&args.url, Duration::from_secs(args.timeout_secs.max(1))) {
        Ok(200) => 0,
        Ok(status) => {
            eprintln!("etl-medic healthcheck: {} answered {status}", args.url);
            1
        }
        Err(error) => {
            eprintln!("etl-medic healthcheck: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_refuses_settings_it_cannot_work_with() {
        let mut settings = DaemonSettings::default();
        assert!(check_run_settings(&settings).unwrap_err().to_string().contains("queue.url"));
        settings.queue.url = "https://sqs.us-east-1.amazonaws.com/1/q".into();
        assert!(check_run_settings(&settings).unwrap_err().to_string().contains("sns_topic_arn"));
        settings.escalation.sns_topic_arn = Some("arn:aws:sns:us-east-1:1:t".into());
        assert!(check_run_settings(&settings).is_ok());
        settings.shutdown.shutdown_grace_secs = 110;
        assert!(check_run_settings(&settings).is_err(), "110 s + the delete flush reaches the stopTimeout");
        settings.shutdown.shutdown_grace_secs = 109;
        assert!(check_run_settings(&settings).is_ok());
    }

    #[test]
    fn healthcheck_fails_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let args = HealthcheckArgs { url: format!("http://{address}/healthz"), timeout_secs: 1 };
        assert_eq!(run_healthcheck(&args), 1);
    }
}
