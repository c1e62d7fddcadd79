//! Crash safety: the real binary, `etl-medic run`, configured only by the
//! AWS environment (`AWS_ENDPOINT_URL`) and `ETL_MEDIC__` variables, runs
//! against moto, behind the proxy of tests/support/fault_proxy.rs used here
//! only as a trip wire. Round after round, a seeded choice of kill point:
//!
//! - before the Glue call: the StartJobRun request is held, never forwarded;
//! - after the Glue call: StartJobRun is forwarded (the run starts) and the
//!   answer held, so the daemon dies not knowing the run's id;
//! - before the record: the first DynamoDB PutItem after a StartJobRun was
//!   answered (the write linking the run) is held, so the daemon dies
//!   knowing the run but before recording it;
//! - before the delete: DeleteMessageBatch is held, never forwarded;
//! - at a random moment;
//!
//! each of them twice, in a seeded order;
//!
//! the daemon gets SIGKILL, and a fresh one starts. New failures arrive
//! before every round, so each daemon has a StartJobRun and a delete ahead
//! of it for its trip wire to catch. At the end every failure must be
//! resolved by exactly one remediation run: a step the process died in is
//! settled from Glue's own record by a later daemon (the run carrying its
//! marker linked and validated, or, when none exists, the step carried out
//! once more), so no incident is escalated because of a crash, and none
//! started two runs.
//!
//! It starts with a SIGTERM while work is in flight: the daemon must exit 0
//! within its drain grace, and what it gave back is finished later.
//!
//! Run: `cargo test --test reliability crash::` (about a minute and a half).

use crate::support::daemon_process;
use crate::support::fault_proxy;
use crate::support::fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, Instant};

use etl_medic::ports::IncidentState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use fault_proxy::{FaultPlan, FaultProxy, Tripwire};
use fleet::{Fleet, TRANSIENT};

const SEED: u64 = 6;
/// Each kill point twice.
const ROUNDS: usize = 2 * KillPoint::ALL.len();
/// Failures on the queue before the first daemon starts.
const FIRST_FAILURES: usize = 6;
/// New failures put on the queue before each kill round.
const FAILURES_PER_ROUND: usize = 2;
const JOBS: usize = FIRST_FAILURES + ROUNDS * FAILURES_PER_ROUND;
const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillPoint {
    BeforeGlueCall,
    AfterGlueCall,
    BeforeRecord,
    BeforeDelete,
    AtRandom,
}

impl KillPoint {
    const ALL: [KillPoint; 5] = [
        KillPoint::BeforeGlueCall,
        KillPoint::AfterGlueCall,
        KillPoint::BeforeRecord,
        KillPoint::BeforeDelete,
        KillPoint::AtRandom,
    ];

    fn tripwire(self) -> Option<Tripwire> {
        let wire = |operation: &str, forward, after: Option<&str>| {
            Some(Tripwire { operation: operation.to_string(), forward, after: after.map(str::to_string) })
        };
        match self {
            KillPoint::BeforeGlueCall => wire("StartJobRun", false, None),
            KillPoint::AfterGlueCall => wire("StartJobRun", true, None),
            KillPoint::BeforeRecord => wire("PutItem", false, Some("StartJobRun")),
            KillPoint::BeforeDelete => wire("DeleteMessageBatch", false, None),
            KillPoint::AtRandom => None,
        }
    }
}

/// Start a failing run of each of `jobs` and put its FAILED event on the bus.
async fn fail_jobs(fleet: &Fleet, jobs: impl Iterator<Item = &String>, failed_runs: &mut BTreeMap<String, String>) {
    let mut failures = Vec::new();
    for job in jobs {
        let run = fleet.start_run(job, &[]).await;
        failures.push((job.clone(), run.clone(), "FAILED", TRANSIENT));
        failed_runs.insert(job.clone(), run);
    }
    fleet.put_glue_events(&failures).await;
}

/// SIGTERM, then wait: (exited with 0, how long the drain took).
fn sigterm(mut child: Child) -> (bool, Duration) {
    let started = Instant::now();
    let sent = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(sent.is_ok_and(|status| status.success()), "kill -TERM");
    let status = child.wait().expect("the daemon exits");
    (status.success(), started.elapsed())
}

fn sigkill(mut child: Child) {
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_point_loses_nothing_and_never_starts_a_run_twice() {
    let fleet = Fleet::new(JOBS, 1, 4, 20).await;
    let mut failed_runs = BTreeMap::new();
    let mut unfailed_jobs = fleet.jobs.iter();
    fail_jobs(&fleet, unfailed_jobs.by_ref().take(FIRST_FAILURES), &mut failed_runs).await;
    let proxy = FaultProxy::start(fleet.moto.port, FaultPlan::none());
    // Short visibility, so what a killed daemon held comes back within seconds.
    let mut environment = fleet.daemon_environment(&proxy.endpoint_url, 3, "127.0.0.1:0");
    environment.retain(|(key, _)| !key.ends_with("VISIBILITY_TIMEOUT_SECS") && !key.ends_with("HEARTBEAT_SECS"));
    environment.push(("ETL_MEDIC__QUEUE__VISIBILITY_TIMEOUT_SECS".to_string(), "4".to_string()));
    environment.push(("ETL_MEDIC__QUEUE__HEARTBEAT_SECS".to_string(), "1".to_string()));
    environment.push(("ETL_MEDIC__SHUTDOWN__SHUTDOWN_GRACE_SECS".to_string(), "20".to_string()));
    let spawn =
        |log_path: &std::path::Path| daemon_process::spawn_binary(std::path::Path::new(BINARY), &environment, log_path);
    let log_path = std::env::temp_dir().join(format!("etl-medic-crash-{}.log", std::process::id()));
    let _log_cleanup = RemoveUnlessFailed(log_path.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut announced = BTreeSet::new();
    let started = Instant::now();

    // First a SIGTERM while incidents are in flight: a clean exit within the grace.
    let child = spawn(&log_path);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let terminated = Instant::now();
    let (exit_ok, drain_time) = sigterm(child);
    eprintln!("SIGTERM: clean exit {exit_ok} after {drain_time:?}");
    assert!(exit_ok, "the daemon exits 0 on SIGTERM; log {}", log_path.display());
    assert!(terminated.elapsed() < Duration::from_secs(20 + 5), "drained within the grace");

    let mut points: Vec<KillPoint> = KillPoint::ALL.iter().chain(KillPoint::ALL.iter()).copied().collect();
    for index in (1..points.len()).rev() {
        points.swap(index, rng.random_range(0..=index));
    }
    let mut kills = Vec::new();
    for point in points {
        let random_after = Duration::from_millis(rng.random_range(200..3_000));
        fail_jobs(&fleet, unfailed_jobs.by_ref().take(FAILURES_PER_ROUND), &mut failed_runs).await;
        proxy.set_plan(FaultPlan { tripwire: point.tripwire(), ..FaultPlan::none() });
        let child = spawn(&log_path);
        let round_started = Instant::now();
        loop {
            let elapsed = round_started.elapsed();
            let due = match point {
                KillPoint::AtRandom => elapsed >= random_after,
                _ => proxy.tripped() || elapsed >= Duration::from_secs(30),
            };
            if due {
                break;
            }
            fleet.play_glue_and_count_closed(&failed_runs, &mut announced).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sigkill(child);
        kills.push((point, proxy.tripped(), round_started.elapsed()));
        proxy.set_plan(FaultPlan::none());
    }
    eprintln!("kills: {kills:?}");

    // A last daemon, left alone, finishes what the killed ones left.
    let child = spawn(&log_path);
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut settled = false;
    while Instant::now() < deadline {
        let closed = fleet.play_glue_and_count_closed(&failed_runs, &mut announced).await;
        if closed == JOBS && fleet.depth(&fleet.queue_url).await == (0, 0) {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sigkill(child);
    let elapsed = started.elapsed();

    let mut end_states: BTreeMap<&str, usize> = BTreeMap::new();
    for (job, failed_run) in &failed_runs {
        let state = fleet.incident(job, failed_run).await.map(|record| record.state);
        *end_states.entry(state.map_or("none", IncidentState::as_str)).or_default() += 1;
    }
    let escalations = fleet.escalation_reasons().await;
    eprintln!("escalations by cause {escalations:?}");
    let trips = kills.iter().filter(|(point, tripped, _)| !matches!(point, KillPoint::AtRandom) && *tripped).count();
    eprintln!(
        "end states {end_states:?}, {trips} kills at a trip wire, settled {settled} in {elapsed:?}; daemon log {}",
        log_path.display()
    );
    for point in KillPoint::ALL.into_iter().filter(|point| *point != KillPoint::AtRandom) {
        let landed = kills.iter().any(|(kind, tripped, _)| *kind == point && *tripped);
        assert!(landed, "no kill landed on the {point:?} trip wire: {kills:?}");
    }
    assert!(settled, "not everything closed: {end_states:?}, queue {:?}", fleet.depth(&fleet.queue_url).await);

    // Nothing lost, nobody paged for a crash: every failure resolved.
    assert!(escalations.is_empty(), "escalated because of the crashes: {escalations:?}");
    for (job, failed_run) in &failed_runs {
        let state = fleet.incident(job, failed_run).await.map(|record| record.state);
        assert_eq!(state, Some(IncidentState::Resolved), "{job}/{failed_run}");
    }
    assert!(fleet.dlq_bodies().await.is_empty(), "nothing needed the DLQ");

    // Exactly-once effects: every failure retried by exactly one run.
    let seen = proxy.seen();
    let started = fleet.runs_started_per_failure(&failed_runs).await;
    let mut runs_per_failure: BTreeMap<usize, usize> = BTreeMap::new();
    for count in started.values() {
        *runs_per_failure.entry(*count).or_default() += 1;
    }
    eprintln!("failures by the number of runs etl-medic started for them {runs_per_failure:?}");
    for (job, &started_by_daemon) in &started {
        assert_eq!(started_by_daemon, 1, "{job}: {started_by_daemon} runs started for one failure");
        let forwarded = seen
            .iter()
            .filter(|request| request.forwarded && request.start_job_run.as_ref().is_some_and(|(name, _)| name == job))
            .count();
        assert_eq!(forwarded, started_by_daemon, "{job}: StartJobRun requests that reached Glue");
    }
}

/// The daemon's log is kept when the test fails (its path is in the
/// failure message) and removed when it passes.
struct RemoveUnlessFailed(std::path::PathBuf);

impl Drop for RemoveUnlessFailed {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
