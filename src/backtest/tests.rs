//! The backtest end to end on the embedded simulated account, in memory:
//! every failure decided as the daemon would have, only reads, a report
//! that adds up, experience lines per the spec, resumption, and the
//! failures of the world (credentials, throttling) said clearly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::backtest::demo::{DemoAccount, DemoHistory, demo_account};
use crate::backtest::follow_up::FixKind;
use crate::backtest::iam::BACKTEST_OPERATIONS;
use crate::core::decide::decide;
use crate::core::evidence::DecideRequest;
use crate::ports::{CallObserver, JobControl, JobRun, Operation, RunHistory, StartRunRequest};

fn temp_out(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-backtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn demo() -> DemoAccount {
    let mut settings = Settings::default();
    settings.backtest.retry_base_ms = 1;
    settings.backtest.max_attempts = 3;
    demo_account(settings, &DemoHistory::default())
}

fn policy() -> Policy {
    Policy::from_json(crate::policy_source::SHIPPED_POLICY).expect("the shipped policy loads")
}

fn options(out: &Path) -> BacktestOptions {
    BacktestOptions {
        window: WindowSpec::Since { text: "30d".into(), seconds: 30 * 86_400 },
        jobs: JobGlob::any(),
        out: out.to_path_buf(),
        experience: Some(out.join("experience.jsonl")),
    }
}

fn account(ports: Ports) -> Account {
    Account { ports, region: Some("us-east-1".into()), account_id: None, label: "demo".into() }
}

async fn backtest(out: &Path, demo: &DemoAccount, ports: Ports) -> Result<BacktestOutcome, BacktestError> {
    run(&options(out), account(ports), demo.settings.clone(), policy(), demo.now, &Silent).await
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(asof::parse_time)
}

#[tokio::test]
async fn every_failure_is_decided_as_the_daemon_would_have_and_nothing_is_written() {
    let demo = demo();
    let seen: Arc<Mutex<Vec<Operation>>> = Arc::default();
    let sink = seen.clone();
    let observer = CallObserver::new(Arc::new(move |operation, _, _| {
        sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(operation);
    }));
    let out = temp_out("daemon");
    let outcome = backtest(&out, &demo, demo.estate.ports().observed(&observer)).await.expect("the backtest runs");

    let operations = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    assert!(!operations.is_empty());
    let unlisted: Vec<&Operation> = operations.iter().filter(|op| !BACKTEST_OPERATIONS.contains(op)).collect();
    assert!(unlisted.is_empty(), "calls outside the IAM policy: {unlisted:?}");
    assert!(demo.estate.job_control.started_requests().is_empty(), "no run was started");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).expect("report.json parses");
    let incidents = report["incidents"].as_array().expect("incidents");
    let summary = &outcome.summary;
    assert!(summary.overall.incidents >= 20, "the demo has a month of failures: {}", summary.overall.incidents);
    assert_eq!(incidents.len() as u64, summary.overall.incidents);
    assert_eq!(report["summary"]["overall"]["incidents"], summary.overall.incidents);
    let by_class: u64 = summary.by_class.iter().map(|group| group.incidents).sum();
    let by_job: u64 = summary.by_job.iter().map(|group| group.failures).sum();
    assert_eq!(by_class, summary.overall.incidents);
    assert_eq!(by_job, summary.overall.failures);
    assert_eq!(summary.fixes.values().sum::<u64>(), summary.overall.incidents);
    for fix in [FixKind::SchemaRolledBack, FixKind::CapacityRaised, FixKind::ConfigurationChanged, FixKind::NextRun] {
        assert!(summary.fixes.contains_key(&fix), "the demo's history has a {} fix: {:?}", fix.as_str(), summary.fixes);
    }
    let failures: u64 =
        incidents.iter().map(|incident| 1 + incident["later_failures"].as_array().unwrap().len() as u64).sum();
    assert_eq!(failures, summary.overall.failures);
    assert!(summary.overall.proposal_matches <= summary.overall.compared);
    assert!(summary.completeness.failures_without_logs > 0, "the demo's oldest logs are past their retention");
    assert!(summary.completeness.partial);
    assert_eq!(summary.overall.compared + summary.overall.open, summary.overall.incidents);

    // The same request through the library decide gives the recorded proposal.
    let requests = lines(&out.join("requests.jsonl"));
    assert_eq!(requests.len() as u64, summary.overall.failures);
    let mut settings = demo.settings.clone();
    settings.safety.set_mode_everywhere(crate::core::model::Mode::Shadow);
    let proposals: BTreeMap<String, serde_json::Value> = incidents
        .iter()
        .map(|incident| (incident["incident_id"].as_str().unwrap().to_string(), incident["proposal"]["action"].clone()))
        .collect();
    let mut compared = 0;
    for value in &requests {
        let request: DecideRequest = serde_json::from_value(value.clone()).expect("a decide request");
        let at = time(&value["event"]["time"]).expect("the event has the failure's time");
        for table in &request.catalog {
            for version in &table.versions {
                let created = version.updated_at.as_deref().and_then(asof::parse_time).unwrap();
                assert!(created <= at, "{} version {} is newer than the failure", table.table, version.version_id);
            }
        }
        for earlier in &request.history.recent_runs {
            assert!(earlier.started_at.as_deref().and_then(asof::parse_time).unwrap() <= at);
        }
        let decision = decide(&request, &policy(), &settings.safety, &request.fleet_context()).decision;
        if let Some(recorded) = proposals.get(request.id.as_str().unwrap_or_default()) {
            assert_eq!(&serde_json::to_value(&decision.action).unwrap(), recorded, "{}", request.id);
            compared += 1;
        }
    }
    assert_eq!(compared, incidents.len());
    for file in ["report.md", "time_to_fix.svg", "failures_by_class.svg"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn experience_lines_follow_each_incident_to_its_fix() {
    let demo = demo();
    let out = temp_out("experience");
    let outcome = backtest(&out, &demo, demo.estate.ports()).await.expect("the backtest runs");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let experience = lines(&out.join("experience.jsonl"));
    assert_eq!(experience.len() as u64, outcome.summary.overall.failures);
    let mut steps: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for line in &experience {
        steps.entry(line["incident_id"].as_str().unwrap().to_string()).or_default().push(line);
        serde_json::from_value::<DecideRequest>(line["request"].clone()).expect("the request is a decide request");
        assert!(line["outcome"]["elapsed_s"].as_u64().is_some());
    }
    for incident in report["incidents"].as_array().unwrap() {
        let id = incident["incident_id"].as_str().unwrap();
        let lines = &steps[id];
        for (index, line) in lines.iter().enumerate() {
            assert_eq!(line["step"], index as u64);
        }
        let (last, earlier) = lines.split_last().unwrap();
        for line in earlier {
            assert_eq!(line["outcome"]["resolved"], false);
            assert_eq!(line["decision"]["action"]["kind"], "log_and_wait");
        }
        let resolved_by = &incident["what_happened"]["resolved_by"];
        assert_eq!(&last["outcome"]["resolved_by"], resolved_by, "{id}");
        assert_eq!(last["outcome"]["resolved"], !resolved_by.is_null());
        let carried_out = if resolved_by == "person" { "escalate" } else { "log_and_wait" };
        assert_eq!(last["decision"]["action"]["kind"], carried_out);
        assert_eq!(last["decision"]["safety"]["final"], carried_out);
        assert_eq!(last["decision"]["policy"]["propensity"], 1.0);
        assert_eq!(lines[0]["decision"]["backtest"]["shadow_decision"]["action"], incident["proposal"]["action"]);
        if let Some(observed) = incident["observed_time_to_fix_s"].as_u64() {
            let total: u64 = lines.iter().map(|line| line["outcome"]["elapsed_s"].as_u64().unwrap()).sum();
            assert_eq!(total, observed, "the steps' elapsed times add up to the time to fix of {id}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn a_rerun_continues_from_the_checkpoint_and_writes_the_same_report() {
    let demo = demo();
    let calm = temp_out("resume-calm");
    backtest(&calm, &demo, demo.estate.ports()).await.expect("an uninterrupted run");
    assert!(!calm.join(checkpoint::CHECKPOINT_DIR).exists(), "the checkpoint goes once the report is written");
    let out = temp_out("resume");
    let stopped = backtest(&out, &demo, with_fault(&demo, Fault::JobThrottled("inventory_snapshot"))).await;
    assert!(matches!(stopped, Err(BacktestError::World(_))), "{stopped:?}");
    // As if the process had also been killed while committing a job: half a
    // commit line, and data appended without one.
    let directory = out.join(checkpoint::CHECKPOINT_DIR);
    for (file, torn) in [("jobs.jsonl", "{\"job\":\"inv"), ("requests.jsonl", "{\"id\":")] {
        let mut handle = std::fs::OpenOptions::new().append(true).open(directory.join(file)).unwrap();
        std::io::Write::write_all(&mut handle, torn.as_bytes()).unwrap();
    }
    let resumed = backtest(&out, &demo, demo.estate.ports()).await.expect("the rerun");
    assert_eq!(resumed.jobs_read_now, 1, "only the job not committed is read again");
    for file in ["report.json", "report.md", "requests.jsonl", "experience.jsonl", "time_to_fix.svg"] {
        assert_eq!(std::fs::read(out.join(file)).unwrap(), std::fs::read(calm.join(file)).unwrap(), "{file}");
    }
    for directory in [out, calm] {
        let _ = std::fs::remove_dir_all(&directory);
    }
}

#[tokio::test]
async fn usage_problems_are_refused_with_what_is_wrong() {
    let demo = demo();
    let out = temp_out("usage");
    let mut unmatched = options(&out);
    unmatched.jobs = JobGlob("payroll_*".into());
    let error = run(&unmatched, account(demo.estate.ports()), demo.settings.clone(), policy(), demo.now, &Silent).await;
    match error {
        Err(BacktestError::Usage(message)) => {
            assert!(message.contains("no job matches") && message.contains("orders_daily"), "{message}")
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
    let mut empty = options(&out);
    empty.window = WindowSpec::Range { from: demo.now, to: demo.now };
    let error = run(&empty, account(demo.estate.ports()), demo.settings.clone(), policy(), demo.now, &Silent).await;
    assert!(matches!(error, Err(BacktestError::Usage(_))), "{error:?}");
    assert!(!out.join("report.json").exists());

    let stopped = backtest(&out, &demo, with_fault(&demo, Fault::JobThrottled("orders_daily"))).await;
    assert!(stopped.is_err(), "stopped with a checkpoint left");
    let mut other = options(&out);
    other.jobs = JobGlob("orders_*".into());
    let error = run(&other, account(demo.estate.ports()), demo.settings.clone(), policy(), demo.now, &Silent).await;
    match error {
        Err(BacktestError::Usage(message)) => assert!(message.contains("other arguments"), "{message}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Glue in front of the demo's: fails reading history the way it is told.
struct Faulty {
    inner: Arc<dyn JobControl>,
    fault: Fault,
    throttled_jobs: Mutex<Vec<String>>,
}

#[derive(Clone, Copy)]
enum Fault {
    /// Every history read: the credentials expired.
    Expired,
    /// The first history read of each job is throttled.
    FirstReadThrottled,
    /// One job's history is always throttled.
    JobThrottled(&'static str),
}

impl Faulty {
    fn first_read(&self, job_name: &str) -> bool {
        let mut throttled = self.throttled_jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = !throttled.iter().any(|job| job == job_name);
        if first {
            throttled.push(job_name.to_string());
        }
        first
    }
}

#[async_trait]
impl JobControl for Faulty {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        self.inner.get_job_run(job_name, run_id).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.inner.get_job(job_name).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        self.inner.get_job_runs(job_name, max_runs).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        self.inner.start_job_run(request).await
    }
    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        self.inner.list_jobs().await
    }
    async fn job_runs_back_to(
        &self,
        job_name: &str,
        oldest: DateTime<Utc>,
        before: u32,
        max_runs: u32,
    ) -> Result<RunHistory, PortError> {
        let throttled = PortError::Throttled { operation: Operation::GetJobRuns, message: "Rate exceeded".into() };
        match self.fault {
            Fault::Expired => Err(PortError::rejected(
                Operation::GetJobRuns,
                "ExpiredTokenException: The security token included in the request is expired",
            )),
            Fault::FirstReadThrottled if self.first_read(job_name) => Err(throttled),
            Fault::JobThrottled(job) if job == job_name => Err(throttled),
            _ => self.inner.job_runs_back_to(job_name, oldest, before, max_runs).await,
        }
    }
}

fn with_fault(demo: &DemoAccount, fault: Fault) -> Ports {
    let mut ports = demo.estate.ports();
    ports.job_control = Arc::new(Faulty { inner: ports.job_control.clone(), fault, throttled_jobs: Mutex::default() });
    ports
}

#[tokio::test]
async fn expired_credentials_stop_the_backtest_and_leave_no_report() {
    let demo = demo();
    let out = temp_out("expired");
    match backtest(&out, &demo, with_fault(&demo, Fault::Expired)).await {
        Err(BacktestError::World(error)) => {
            let message = format!("{error:#}");
            assert!(message.contains("credentials are missing, expired or invalid"), "{message}");
        }
        other => panic!("expected a failure of the world, got {other:?}"),
    }
    assert!(!out.join("report.json").exists() && !out.join("report.md").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_a_job_still_throttled_is_left_for_a_rerun() {
    let demo = demo();
    let out = temp_out("throttled");
    let calm = backtest(&temp_out("calm"), &demo, demo.estate.ports()).await.expect("unthrottled");
    let outcome = backtest(&out, &demo, with_fault(&demo, Fault::FirstReadThrottled)).await.expect("throttled");
    assert_eq!(outcome.summary.overall, calm.summary.overall, "throttling changes nothing but the time taken");
    assert!(outcome.summary.completeness.throttled_retries >= 6);

    let stuck = temp_out("stuck");
    match backtest(&stuck, &demo, with_fault(&demo, Fault::JobThrottled("clickstream_hourly"))).await {
        Err(BacktestError::World(error)) => {
            let message = format!("{error:#}");
            assert!(
                message.contains("clickstream_hourly") && message.contains("run the same command again"),
                "{message}"
            );
            assert!(message.contains("concurrency"), "{message}");
        }
        other => panic!("expected a failure of the world, got {other:?}"),
    }
    assert!(!stuck.join("report.json").exists(), "no report from a partial read");
    let resumed = backtest(&stuck, &demo, demo.estate.ports()).await.expect("the rerun finishes");
    assert_eq!(resumed.jobs_read_now, 1);
    assert_eq!(resumed.summary.overall, calm.summary.overall);
    for directory in [out, stuck, temp_out("calm")] {
        let _ = std::fs::remove_dir_all(&directory);
    }
}

#[tokio::test]
async fn a_history_cut_short_is_reported_not_hidden() {
    let mut demo = demo();
    demo.settings.backtest.max_runs_per_job = 60;
    let out = temp_out("truncated");
    let outcome = backtest(&out, &demo, demo.estate.ports()).await.expect("the backtest runs");
    let truncated = &outcome.summary.completeness.history_truncated;
    assert!(truncated.examples.contains(&"clickstream_hourly".to_string()), "{truncated:?}");
    assert!(outcome.summary.completeness.partial);
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("max_runs_per_job") && markdown.contains("clickstream_hourly"), "{markdown}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Glue that counts how many history reads are in flight at once.
struct Counting {
    inner: Arc<dyn JobControl>,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl JobControl for Counting {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        self.inner.get_job_run(job_name, run_id).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.inner.get_job(job_name).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        self.inner.get_job_runs(job_name, max_runs).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        self.inner.start_job_run(request).await
    }
    async fn list_jobs(&self) -> Result<Vec<JobDefinition>, PortError> {
        self.inner.list_jobs().await
    }
    async fn job_runs_back_to(
        &self,
        job_name: &str,
        oldest: DateTime<Utc>,
        before: u32,
        max_runs: u32,
    ) -> Result<RunHistory, PortError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let history = self.inner.job_runs_back_to(job_name, oldest, before, max_runs).await;
        self.in_flight.fetch_sub(1, SeqCst);
        history
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_account_is_read_a_few_jobs_at_a_time() {
    use crate::adapters::memory::ManualClock;
    use crate::adapters::wiring::InMemoryEstate;
    use crate::core::event::JobRunState;

    let now = asof::parse_time("2026-12-01T00:00:00Z").unwrap();
    let estate = InMemoryEstate::new(Arc::new(ManualClock::starting_at(now)), std::time::Duration::from_secs(30), 1.0);
    for job in 0..500 {
        let name = format!("job_{job:04}");
        estate.job_control.put_job(JobDefinition { name: name.clone(), ..JobDefinition::default() });
        for day in 0..20_i64 {
            let started = now - chrono::Duration::days(20 - day);
            let failed = job % 10 == 0 && day == 10;
            estate.job_control.put_run(JobRun {
                id: format!("jr_{job}_{day}"),
                job_name: name.clone(),
                state: if failed { JobRunState::Failed } else { JobRunState::Succeeded },
                arguments: BTreeMap::new(),
                error_message: failed.then(|| "java.lang.OutOfMemoryError: Java heap space".to_string()),
                worker_type: Some("G.1X".into()),
                number_of_workers: Some(10),
                execution_time_s: Some(600),
                timeout_minutes: Some(60),
                started_on: Some(started),
                completed_on: Some(started + chrono::Duration::minutes(10)),
                attempt: 0,
                previous_run_id: None,
            });
        }
    }
    let mut ports = estate.ports();
    let counting = Arc::new(Counting {
        inner: ports.job_control.clone(),
        in_flight: Default::default(),
        most: Default::default(),
    });
    ports.job_control = counting.clone();
    let mut settings = Settings::default();
    settings.backtest.concurrency = 4;
    let out = temp_out("large");
    let outcome = run(&options(&out), account(ports), settings, policy(), now, &Silent).await.expect("runs");
    assert_eq!(outcome.summary.jobs_read, 500);
    assert_eq!(outcome.summary.overall.incidents, 50);
    assert_eq!(outcome.summary.fixes.get(&FixKind::NextRun), Some(&50));
    let most = counting.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} jobs were read at once with [backtest] concurrency = 4");
    let _ = std::fs::remove_dir_all(&out);
}
