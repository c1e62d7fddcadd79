//! Shared setup of the in-memory daemon tests: an estate of in-memory
//! adapters on a manual clock, the daemon's application built over it (the
//! same `Application::build` as `run` and the demo), helpers that seed
//! failed runs and build EventBridge events, and a way to run the real
//! worker pool until a condition holds (tests run with tokio time paused).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use etl_medic::adapters::memory::ManualClock;
use etl_medic::adapters::wiring::InMemoryEstate;
use etl_medic::config::{JobSettings, Settings};
use etl_medic::core::event::JobRunState;
use etl_medic::core::model::Mode;
use etl_medic::core::safety::SafetySettings;
use etl_medic::daemon::app::Application;
use etl_medic::daemon::context::PipelineContext;
use etl_medic::daemon::pool::{DrainReport, Health, WorkerPool};
use etl_medic::policy_source::{LoadedPolicy, PolicyLocation};
use etl_medic::ports::{JobDefinition, JobRun, Ports};
use tokio_util::sync::CancellationToken;

pub const ERROR_GROUP: &str = "/aws-glue/jobs/error";
pub const START: &str = "2026-11-29T02:00:00Z";

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).expect("valid RFC 3339 in test")
}

pub struct Harness {
    pub estate: InMemoryEstate,
    pub clock: Arc<ManualClock>,
    pub application: Application,
    /// The application's context, registry and health, for short access.
    pub context: Arc<PipelineContext>,
    pub registry: prometheus::Registry,
    pub health: Arc<Health>,
}

pub fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.http.listen = "127.0.0.1:0".to_string();
    settings.policy.path = "rules".to_string();
    settings.queue.concurrency = 4;
    settings.queue.visibility_timeout_secs = 60;
    settings.queue.heartbeat_secs = 20;
    settings.quarantine.allowed_prefixes = vec!["s3://lake/raw/".to_string()];
    settings.jobs.insert(
        "orders_daily".to_string(),
        JobSettings {
            tables: vec!["sales.orders".to_string()],
            risk_tier: None,
            max_workers: Some(40),
            input_arguments: None,
            sources: vec![],
        },
    );
    settings
}

/// The rules baseline, as `[policy] path = "rules"` reads it.
pub fn rules() -> LoadedPolicy {
    PolicyLocation::Rules.load_local().expect("the rules baseline is built in")
}

pub fn safety(mode: Mode) -> SafetySettings {
    SafetySettings { mode: Some(mode), ..SafetySettings::default() }
}

impl Harness {
    pub fn new(mode: Mode) -> Harness {
        Harness::with(settings(), safety(mode))
    }

    pub fn with(mut settings: Settings, safety: SafetySettings) -> Harness {
        settings.safety = safety;
        let clock = Arc::new(ManualClock::starting_at(at("2026-11-29T02:05:00Z")));
        let visibility = Duration::from_secs(u64::from(settings.queue.visibility_timeout_secs));
        let estate = InMemoryEstate::new(clock.clone(), visibility, 1.0);
        let application = Application::with_policy(settings, estate.ports(), rules(), None).expect("the daemon builds");
        let context = application.context().clone();
        let registry = application.registry().clone();
        let health = application.health().clone();
        Harness { estate, clock, application, context, registry, health }
    }

    pub fn pool(&self) -> WorkerPool {
        self.application.pool()
    }

    /// The daemon with the harness' settings and the rules policy, on
    /// `ports` in place of the estate's (a test that wraps one adapter to
    /// inject a failure, a delay or a race), with its own metrics.
    pub fn application_on(&self, ports: Ports) -> Application {
        Application::with_policy(self.context.settings.clone(), ports, rules(), None).expect("the daemon builds")
    }

    /// Define a Glue job (no Glue-side retries unless `max_retries` says so).
    pub fn job(&self, name: &str, max_retries: u32) {
        self.estate.job_control.put_job(JobDefinition {
            name: name.to_string(),
            max_retries,
            worker_type: Some("G.1X".to_string()),
            number_of_workers: Some(10),
            timeout_minutes: Some(60),
            default_arguments: BTreeMap::new(),
        });
    }
    /// A failed run of `job` with `message` and error log lines; returns its event body.
    pub fn failed_run(
        &self,
        job: &str,
        run_id: &str,
        message: &str,
        error_lines: &[&str],
        arguments: &[(&str, &str)],
    ) -> String {
        self.estate.job_control.put_run(JobRun {
            id: run_id.to_string(),
            job_name: job.to_string(),
            state: JobRunState::Failed,
            arguments: arguments.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect(),
            error_message: Some(message.to_string()),
            worker_type: Some("G.1X".to_string()),
            number_of_workers: Some(10),
            execution_time_s: Some(300),
            timeout_minutes: Some(60),
            started_on: Some(at("2026-11-29T01:55:00Z")),
            completed_on: Some(at(START)),
            attempt: 0,
            previous_run_id: None,
        });
        self.estate.logs.append(ERROR_GROUP, run_id, error_lines.iter().map(|line| line.to_string()));
        event(job, run_id, "FAILED", message, START)
    }

    pub fn metrics_text(&self) -> String {
        etl_medic::metrics::render(&self.registry).expect("metrics render")
    }

    /// Run the real pool until `done` holds (checked every simulated 100 ms,
    /// at most `max_secs` simulated seconds), then shut it down and drain.
    pub async fn run_pool_until(&self, max_secs: u64, done: impl Fn(&Harness) -> bool) -> (bool, DrainReport) {
        self.run_until(self.pool(), max_secs, done).await
    }

    /// Like [`Harness::run_pool_until`], on `ports` in place of the estate's
    /// (a test that wraps one adapter to inject a failure or a race), with
    /// the harness' settings and safety, the rules policy and its own
    /// registry.
    pub async fn run_pool_on_until(
        &self,
        ports: Ports,
        max_secs: u64,
        done: impl Fn(&Harness) -> bool,
    ) -> (bool, DrainReport) {
        self.run_until(self.application_on(ports).pool(), max_secs, done).await
    }

    async fn run_until(&self, pool: WorkerPool, max_secs: u64, done: impl Fn(&Harness) -> bool) -> (bool, DrainReport) {
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(pool.run(shutdown.clone()));
        let mut reached = false;
        for _ in 0..max_secs * 10 {
            if done(self) {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        let report = running.await.expect("pool task does not panic");
        (reached, report)
    }
}

/// A "Glue Job State Change" envelope as EventBridge delivers it.
pub fn event(job: &str, run_id: &str, state: &str, message: &str, time: &str) -> String {
    serde_json::json!({
        "version": "0", "id": format!("ev-{run_id}-{state}"), "detail-type": "Glue Job State Change",
        "source": "aws.glue", "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
        "detail": {"jobName": job, "severity": "ERROR", "state": state, "jobRunId": run_id, "message": message}
    })
    .to_string()
}

impl Harness {
    /// Every audit record written, parsed, in key order.
    pub fn audit_records(&self) -> Vec<(String, serde_json::Value)> {
        let settings = &self.context.settings.audit;
        self.estate
            .objects
            .objects_under(&settings.bucket, &settings.prefix)
            .into_iter()
            .map(|(key, body)| (key, serde_json::from_slice(&body).expect("audit records are JSON")))
            .collect()
    }

    /// The decisions recorded, as (class, proposed, final action kind, rule) for failure messages.
    pub fn decisions(&self) -> Vec<String> {
        self.audit_records()
            .into_iter()
            .filter(|(_, record)| record["stage"] == "decision")
            .map(|(_, record)| {
                let body = &record["body"];
                format!(
                    "class={} proposed={} final={} rule={} reason={}",
                    body["diagnosis"]["class"],
                    body["policy"]["proposed"],
                    body["action"]["kind"],
                    body["safety"]["rule"],
                    body["safety"]["reason"]
                )
            })
            .collect()
    }
}
