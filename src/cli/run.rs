//! `etl-medic run` (the daemon on AWS) and `etl-medic healthcheck` (the
//! container's HEALTHCHECK, which has no shell tools to call) as library
//! functions with their clap arguments, and the runtime and logging set-up
//! the daemon and the demo share. `cli::mod` wires them into the command enum.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::adapters::aws::{AwsConnection, SecretsManagerSecrets, SqsApprovalInbox};
use crate::adapters::webhook::WebhookTimeouts;
use crate::adapters::webhook::reply::SlackThreadReplies;
use crate::adapters::wiring::aws_ports;
use crate::config::Settings;
use crate::daemon::app::Application;

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

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
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

/// `etl-medic run`: the worker pool on AWS until SIGTERM, then a bounded
/// drain. `settings` were checked for the daemon once (`check_daemon`).
pub fn run_daemon(args: &RunArgs, mut settings: Settings) -> anyhow::Result<()> {
    if let Some(listen) = &args.listen {
        settings.http.listen = listen.clone();
    }
    init_tracing(args.log_format, "info");
    runtime()?.block_on(async move {
        let connection = AwsConnection::from_environment().await;
        let ports = aws_ports(&connection, &settings).context("escalation.webhook_url")?;
        let slack_queue = settings.approvals.queue().map(str::to_string);
        let mut application = Application::build(settings, ports, None).await?;
        if let Some(queue_url) = slack_queue {
            application = application
                .with_slack_approvals(
                    Arc::new(SqsApprovalInbox::new(&connection, &queue_url)),
                    Arc::new(SlackThreadReplies::new(WebhookTimeouts::default())),
                    Arc::new(SecretsManagerSecrets::new(&connection)),
                )
                .await?;
        }
        let running = application.start().await?;
        let root = CancellationToken::new();
        cancel_on_signal(root.clone())?;
        running.run_until(root).await.map(|_| ())
    })
}

/// `etl-medic healthcheck`: exit code 0 when the URL answers 200, 1 otherwise.
pub fn run_healthcheck(args: &HealthcheckArgs) -> i32 {
    match crate::daemon::http::probe(&args.url, Duration::from_secs(args.timeout_secs.max(1))) {
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
    fn healthcheck_fails_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let args = HealthcheckArgs { url: format!("http://{address}/healthz"), timeout_secs: 1 };
        assert_eq!(run_healthcheck(&args), 1);
    }
}
