//! The daemon assembled once, the same way for `etl-medic run`, the demo and
//! every test: [`Application::build`] reads the policy `[policy] path`
//! names, declares the metrics, times every call of the ports it is given
//! at their border and sets up the audit log;
//! [`Application::start`] binds `[http] listen` and starts the HTTP
//! endpoints, the worker pool and the background tasks (reconciler, queue
//! depth, policy reloads); [`Running::run_until`] waits for the shutdown
//! signal, drains the pool within the grace and stops the rest.
//!
//! ```text
//! settings + ports + policy ─ build ─► Application ─ start ─► Running ─ run_until(shutdown) ─► DrainReport
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::daemon::context::{IncidentObserver, PipelineContext};
use crate::daemon::policy::{PolicyHandle, run_reloader};
use crate::daemon::pool::{DrainReport, Health, WorkerPool};
use crate::daemon::slack::{self, SlackApprovals};
use crate::daemon::{http, reconciler};
use crate::metrics::Metrics;
use crate::policy_source::{LoadedPolicy, PolicyLocation};
use crate::ports::observed::observed_approvals;
use crate::ports::{ApprovalInbox, ApprovalReplies, CallObserver, Ports, SecretSource};

/// The daemon, built and not yet started.
pub struct Application {
    context: Arc<PipelineContext>,
    registry: prometheus::Registry,
    health: Arc<Health>,
    /// Slack approvals, when `[approvals] queue_url` is set.
    slack: Option<Arc<SlackApprovals>>,
}

impl Application {
    /// Assemble the daemon on `ports` (AWS or in memory, see
    /// `adapters::wiring`), with the policy `[policy] path` names (read
    /// through the ports' object store when it is an `s3://` object).
    /// `observer` is told about every action and closed incident (the demo
    /// drives its simulated estate with it).
    pub async fn build(
        settings: Settings,
        ports: Ports,
        observer: Option<Arc<dyn IncidentObserver>>,
    ) -> anyhow::Result<Application> {
        let location = PolicyLocation::parse(&settings.policy.path);
        let loaded = location.load(ports.objects.as_ref()).await.context("reading the policy at start-up")?;
        Application::with_policy(settings, ports, loaded, observer)
    }

    /// As [`Application::build`], with the policy already read (it must be
    /// the one `[policy] path` names: the daemon re-reads that path).
    pub fn with_policy(
        settings: Settings,
        ports: Ports,
        policy: LoadedPolicy,
        observer: Option<Arc<dyn IncidentObserver>>,
    ) -> anyhow::Result<Application> {
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).context("declaring metrics")?;
        metrics.set_policy_version(&policy.policy.version());
        tracing::info!(version = %policy.policy.version(), origin = %policy.origin, "policy in use");
        let call_metrics = metrics.clone();
        let ports = ports.observed(&CallObserver::new(Arc::new(move |operation, elapsed, failed| {
            call_metrics.observe_aws_call(operation, elapsed.as_secs_f64(), failed);
        })));
        let audit = AuditLog::new(
            ports.objects.clone(),
            ports.clock.clone(),
            metrics.clone(),
            settings.audit.bucket.clone(),
            settings.audit.prefix.clone(),
            settings.audit.write_attempts,
            std::time::Duration::from_millis(settings.audit.retry_base_ms),
        );
        let handle = PolicyHandle::new(policy.policy);
        handle.started_from(policy.bytes);
        let context = Arc::new(PipelineContext { ports, settings, policy: handle, metrics, audit, observer });
        Ok(Application { context, registry, health: Health::new(), slack: None })
    }

    pub fn context(&self) -> &Arc<PipelineContext> {
        &self.context
    }

    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// A pool over this application, for a test that drives it one
    /// iteration at a time (`WorkerPool::run_once`).
    pub fn pool(&self) -> WorkerPool {
        WorkerPool::new(self.context.clone(), self.health.clone())
    }

    /// Serve Slack approvals from `inbox` once started: reads the signing
    /// secret `[approvals] signing_secret_arn` names through `secrets` now,
    /// so a missing secret stops the start, not the first click. Each call
    /// of the three is timed at the border like every other port's.
    pub async fn with_slack_approvals(
        mut self,
        inbox: Arc<dyn ApprovalInbox>,
        replies: Arc<dyn ApprovalReplies>,
        secrets: Arc<dyn SecretSource>,
    ) -> anyhow::Result<Application> {
        let call_metrics = self.context.metrics.clone();
        let observer = CallObserver::new(Arc::new(move |operation, elapsed, failed| {
            call_metrics.observe_aws_call(operation, elapsed.as_secs_f64(), failed);
        }));
        let (inbox, replies, secrets) = observed_approvals(inbox, replies, secrets, &observer);
        let approvals = &self.context.settings.approvals;
        let signing_secret = secrets
            .secret_string(approvals.signing_secret_arn.trim())
            .await
            .context("reading the Slack signing secret at approvals.signing_secret_arn")?;
        let allowed_users = approvals.allowed_users.iter().map(|user| user.trim().to_string()).collect();
        self.slack = Some(Arc::new(SlackApprovals { inbox, replies, signing_secret, allowed_users }));
        Ok(self)
    }

    /// The Slack approvals set up by [`Application::with_slack_approvals`].
    pub fn slack(&self) -> Option<&Arc<SlackApprovals>> {
        self.slack.as_ref()
    }

    /// Bind `[http] listen` and start serving, working and reconciling.
    pub async fn start(self) -> anyhow::Result<Running> {
        let listen = self.context.settings.http.listen.clone();
        let listener =
            tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("binding http.listen {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let http_stop = CancellationToken::new();
        let router = http::router(self.registry.clone(), self.health.clone());
        let server = tokio::spawn(http::serve(listener, router, http_stop.clone()));
        let work_stop = CancellationToken::new();
        let pool = tokio::spawn(self.pool().run(work_stop.clone()));
        let reconciling = tokio::spawn(reconciler::run_background(self.context.clone(), work_stop.clone()));
        let reloading = tokio::spawn(run_reloader(self.context.clone(), work_stop.clone()));
        tracing::info!(
            %address,
            concurrency = self.context.settings.queue.concurrency,
            policy = %self.context.policy.current().version(),
            "etl-medic running"
        );
        let mut background = vec![reconciling, reloading];
        if let Some(slack) = &self.slack {
            background.push(tokio::spawn(slack::run(self.context.clone(), slack.clone(), work_stop.clone())));
        }
        Ok(Running { application: self, address, work_stop, pool, background, http_stop, server })
    }
}

/// The daemon at work.
pub struct Running {
    application: Application,
    address: SocketAddr,
    work_stop: CancellationToken,
    pool: JoinHandle<DrainReport>,
    background: Vec<JoinHandle<()>>,
    http_stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn context(&self) -> &Arc<PipelineContext> {
        &self.application.context
    }

    pub fn registry(&self) -> &prometheus::Registry {
        &self.application.registry
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.application.health
    }

    /// Work until `shutdown`, drain, then stop serving HTTP.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<DrainReport> {
        self.drain_on(shutdown).await?.close().await
    }

    /// Work until `shutdown`, then drain the pool within the grace and stop
    /// the background tasks; `/metrics` keeps serving until the returned
    /// [`Serving`] is closed (the demo shows its final figures meanwhile).
    pub async fn drain_on(self, shutdown: CancellationToken) -> anyhow::Result<Serving> {
        shutdown.cancelled().await;
        self.work_stop.cancel();
        let report = self.pool.await.context("worker pool task")?;
        for task in self.background {
            task.await.context("background task")?;
        }
        tracing::info!(finished = report.finished, abandoned = report.abandoned, "etl-medic stopped");
        Ok(Serving { application: self.application, report, http_stop: self.http_stop, server: self.server })
    }
}

/// Drained, still serving `/metrics`.
pub struct Serving {
    application: Application,
    report: DrainReport,
    http_stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl Serving {
    pub fn context(&self) -> &Arc<PipelineContext> {
        &self.application.context
    }

    pub fn registry(&self) -> &prometheus::Registry {
        &self.application.registry
    }

    /// Stop serving HTTP.
    pub async fn close(self) -> anyhow::Result<DrainReport> {
        self.http_stop.cancel();
        self.server.await.context("http task")?.context("serving http")?;
        Ok(self.report)
    }
}
