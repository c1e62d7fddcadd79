//! Injected AWS faults: the real worker pool on the AWS adapters talks to
//! moto through a fault-injecting proxy (tests/support/fault_proxy.rs) that
//! answers 500, 503 and throttling errors in each service's own shape, slows
//! responses and resets connections. The test plays Glue from outside the
//! proxy (it starts the failing runs, puts their events on EventBridge and,
//! for every run etl-medic starts, the SUCCEEDED event Glue would emit) and
//! checks the promises: nothing lost, nothing done twice, retries bounded,
//! and no incident handed to a person because an answer was lost: every
//! failure is retried exactly once and resolved.
//!
//! Run: `cargo test --test reliability faults::` (one moto per test).

use crate::support::fault_proxy;
use crate::support::fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use etl_medic::adapters::wiring::aws_ports;
use etl_medic::daemon::app::Application;
use etl_medic::ports::{IncidentState, RUN_MARKER_ARGUMENT};
use tokio_util::sync::CancellationToken;

use fault_proxy::{Fault, FaultPlan, FaultProxy, Seen};
use fleet::{Fleet, TRANSIENT};

const FAULT_RATE: f64 = 0.20;

/// The pool on adapters that go through `proxy`, until `done` or `timeout`.
async fn run_pool_through(
    fleet: &Fleet,
    proxy: &FaultProxy,
    concurrency: usize,
    timeout: Duration,
    done: impl AsyncFnMut() -> bool,
) -> bool {
    let mut settings = fleet.settings(concurrency);
    settings.safety = fleet.safety();
    let ports = aws_ports(&fleet.connection_via(&proxy.endpoint_url), &settings).expect("no webhook to set up");
    settings.policy.path = "rules".to_string();
    let application =
        Application::with_policy(settings, ports, crate::support::harness::rules(), None).expect("the daemon builds");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.pool().run(shutdown.clone()));
    let reached = poll_until(timeout, done).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), running).await.expect("the pool drains in time").unwrap();
    reached
}

async fn poll_until(timeout: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn attempts_per_invocation(seen: &[Seen]) -> BTreeMap<String, (String, usize, u32)> {
    let mut calls: BTreeMap<String, (String, usize, u32)> = BTreeMap::new();
    for request in seen {
        let Some(invocation) = &request.invocation_id else { continue };
        let entry = calls.entry(invocation.clone()).or_insert((request.operation.clone(), 0, 0));
        entry.1 += 1;
        entry.2 = entry.2.max(request.attempt.map_or(1, |(attempt, _)| attempt));
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_twenty_percent_fault_rate_nothing_is_lost_nothing_is_done_twice_and_retries_stay_bounded() {
    check_promises_under(FaultPlan::everywhere(FAULT_RATE, 20_261_129), 16, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_brownout_of_refusals_and_lost_answers_nobody_is_paged_and_nothing_reaches_the_dlq() {
    // An operator's brownout: 10% of requests refused with a 503, the answer
    // of another 10% lost after the call was carried out; 12 failures, and
    // the redrive policy deploy/ ships (the DLQ after 5 receives).
    let mut plan = FaultPlan::everywhere(FAULT_RATE, 2_026_112);
    plan.faults = vec![Fault::Unavailable, Fault::ResetAfter];
    check_promises_under(plan, 12, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lost_answers_among_the_faults_the_promises_still_hold() {
    // Every service may now also lose an answer after the effect happened
    // (conditional writes, audit puts, deletes, publishes, StartJobRun).
    let mut plan = FaultPlan::everywhere(FAULT_RATE, 7);
    plan.faults.push(Fault::ResetAfter);
    check_promises_under(plan, 16, 10).await;
}

/// `jobs` transient failures (and 4 duplicate deliveries) through the pool
/// under `plan`, on a queue whose redrive moves a message to the DLQ after
/// `max_receive_count` receives.
async fn check_promises_under(plan: FaultPlan, jobs: usize, max_receive_count: u32) {
    let expected_kinds = plan.faults.len();
    let fleet = Fleet::new(jobs, 1, 5, max_receive_count).await;
    let mut failed_runs = BTreeMap::new();
    for job in &fleet.jobs {
        failed_runs.insert(job.clone(), fleet.start_run(job, &[("--day", "2026-11-29")]).await);
    }
    let failures: Vec<(String, String, &str, &str)> =
        failed_runs.iter().map(|(job, run)| (job.clone(), run.clone(), "FAILED", TRANSIENT)).collect();
    fleet.put_glue_events(&failures).await;
    // A duplicate delivery of a few events, as EventBridge may do.
    fleet.put_glue_events(&failures[..4]).await;
    let proxy = FaultProxy::start(fleet.moto.port, plan);

    let started = Instant::now();
    let mut announced = BTreeSet::new();
    let settled = run_pool_through(&fleet, &proxy, 8, Duration::from_secs(300), async || {
        let closed = fleet.play_glue_and_count_closed(&failed_runs, &mut announced).await;
        closed == jobs && fleet.depth(&fleet.queue_url).await == (0, 0)
    })
    .await;
    let elapsed = started.elapsed();
    let seen = proxy.seen();
    let dlq = fleet.dlq_bodies().await;
    let audit_keys = fleet.audit_keys().await;

    // Faults were really injected, of every kind, on every service used.
    let faults: Vec<&Seen> = seen.iter().filter(|request| request.fault.is_some()).collect();
    let fault_share = faults.len() as f64 / seen.len() as f64;
    let kinds: BTreeSet<Fault> = faults.iter().filter_map(|request| request.fault).collect();
    let services: BTreeSet<&str> = faults.iter().map(|request| request.service.as_str()).collect();
    eprintln!(
        "{} requests, {} faults ({:.1}%), kinds {kinds:?}, services {services:?}, settled {settled} in {elapsed:?}, dlq {}",
        seen.len(),
        faults.len(),
        fault_share * 100.0,
        dlq.len()
    );
    let mut lost_answers: BTreeMap<&str, usize> = BTreeMap::new();
    for request in faults.iter().filter(|request| request.fault == Some(Fault::ResetAfter)) {
        *lost_answers.entry(request.service.as_str()).or_default() += 1;
    }
    eprintln!("answers lost after the request was carried out, by service: {lost_answers:?}");
    assert!(fault_share > 0.12 && fault_share < 0.28, "fault share {fault_share}");
    assert_eq!(kinds.len(), expected_kinds, "every fault kind injected: {kinds:?}");
    for service in ["sqs", "glue", "dynamodb", "s3", "logs"] {
        assert!(services.contains(service), "no fault on {service}: {services:?}");
    }

    // Nothing lost: every failure ends resolved, nothing in the DLQ.
    if !settled {
        for (job, failed_run) in &failed_runs {
            let record = fleet.incident(job, failed_run).await;
            if !record.as_ref().is_some_and(|record| record.state.is_closed()) {
                let runs: Vec<_> = fleet.runs(job).await.into_iter().map(|run| (run.id, run.job_run_state)).collect();
                eprintln!("unsettled {job}/{failed_run}: {record:?}, runs {runs:?}");
                for line in fleet.audit_trail(job, failed_run).await {
                    eprintln!("    {line}");
                }
            }
        }
    }
    for body in &dlq {
        let event: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let (job, run) = (event["detail"]["jobName"].as_str(), event["detail"]["jobRunId"].as_str());
        let ours = failed_runs.get(job.unwrap_or_default()).map(String::as_str) != run;
        eprintln!("in the DLQ: {job:?} {run:?} {} (a run etl-medic started: {ours})", event["detail"]["state"]);
    }
    assert!(settled, "not settled in time: queue {:?}", fleet.depth(&fleet.queue_url).await);
    let mut end_states: BTreeMap<&str, usize> = BTreeMap::new();
    for (job, failed_run) in &failed_runs {
        let record = fleet.incident(job, failed_run).await;
        let state = record.as_ref().map(|record| record.state);
        *end_states.entry(state.map_or("none", IncidentState::as_str)).or_default() += 1;
        let audited = audit_keys.iter().any(|key| key.contains(failed_run.as_str()));
        assert!(audited, "{job}/{failed_run} has no audit record");
    }

    let escalations = fleet.escalation_reasons().await;
    eprintln!("end states {end_states:?}, escalations by cause {escalations:?}");
    assert!(dlq.is_empty(), "{} messages in the DLQ", dlq.len());
    let unknown: usize =
        escalations.iter().filter(|(cause, _)| fleet::is_unknown_outcome(cause)).map(|(_, count)| count).sum();
    assert_eq!(unknown, 0, "escalated because an outcome was unknown: {escalations:?}");
    assert_eq!(end_states.get("resolved"), Some(&jobs), "every failure resolved: {end_states:?}");

    // Nothing done twice, nothing left undone: exactly one StartJobRun
    // reached Glue per failure, and it started the one remediation run.
    let started = fleet.runs_started_per_failure(&failed_runs).await;
    let mut runs_per_failure: BTreeMap<usize, usize> = BTreeMap::new();
    for count in started.values() {
        *runs_per_failure.entry(*count).or_default() += 1;
    }
    eprintln!("failures by the number of runs etl-medic started for them {runs_per_failure:?}");
    for (job, &started_by_daemon) in &started {
        assert_eq!(started_by_daemon, 1, "{job}: {started_by_daemon} remediation runs for one failure");
        let forwarded = seen
            .iter()
            .filter(|request| request.forwarded && request.start_job_run.as_ref().is_some_and(|(name, _)| name == job))
            .count();
        assert_eq!(forwarded, started_by_daemon, "{job}: StartJobRun calls that reached the emulator");
    }

    // Retries bounded: no SDK call made more than its 3 attempts, and the
    // whole run stayed within a fixed number of requests per incident.
    let calls = attempts_per_invocation(&seen);
    let worst = calls.values().map(|(_, attempts, _)| *attempts).max().unwrap_or(0);
    assert!(worst <= 3, "a call was attempted {worst} times");
    assert!(seen.iter().all(|request| request.attempt.is_none_or(|(attempt, max)| attempt <= max && max <= 3)));
    let per_incident = seen.len() as f64 / jobs as f64;
    eprintln!("{:.0} requests per incident, worst call {worst} attempts, {} calls", per_incident, calls.len());
    assert!(per_incident < 400.0, "{per_incident} requests per incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_start_job_run_answer_never_starts_a_second_run() {
    // The one ambiguous fault: StartJobRun reaches Glue, the run starts, and
    // the answer is lost on the way back (a reset after forwarding). The run
    // is found by its marker and validated; StartJobRun is not called again.
    let fleet = Fleet::new(1, 1, 5, 10).await;
    let job = fleet.jobs[0].clone();
    let failed_run = fleet.start_run(&job, &[]).await;
    fleet.put_glue_events(&[(job.clone(), failed_run.clone(), "FAILED", TRANSIENT)]).await;
    let plan = FaultPlan {
        rate_by_service: BTreeMap::from([("glue".to_string(), 1.0)]),
        faults: vec![Fault::ResetAfter],
        operations: vec!["StartJobRun".to_string()],
        seed: 1,
        max_faults: Some(1),
        tripwire: None,
    };
    let proxy = FaultProxy::start(fleet.moto.port, plan);
    let failed_runs = BTreeMap::from([(job.clone(), failed_run.clone())]);
    let mut announced = BTreeSet::new();
    let settled = run_pool_through(&fleet, &proxy, 2, Duration::from_secs(180), async || {
        fleet.play_glue_and_count_closed(&failed_runs, &mut announced).await == 1
            && fleet.depth(&fleet.queue_url).await == (0, 0)
    })
    .await;
    let reached_glue =
        proxy.seen().iter().filter(|request| request.operation == "StartJobRun" && request.forwarded).count();
    let record = fleet.incident(&job, &failed_run).await;
    eprintln!(
        "settled {settled}, StartJobRun reaching Glue {reached_glue}, incident {:?}",
        record.as_ref().map(|record| record.state)
    );
    assert!(settled, "the incident never closed");
    let runs = fleet.runs(&job).await;
    assert_eq!(runs.len(), 2, "exactly one remediation run despite the lost answer");
    // Found by its marker and validated: resolved, nobody paged.
    assert_eq!(record.map(|record| record.state), Some(IncidentState::Resolved));
    let marked = runs.iter().find(|run| run.id.as_deref() != Some(failed_run.as_str())).expect("the rerun");
    let marker = marked.arguments.as_ref().and_then(|arguments| arguments.get(RUN_MARKER_ARGUMENT));
    assert_eq!(marker.map(String::as_str), Some(format!("{job}/{failed_run}/1").as_str()));
    assert_eq!(reached_glue, 1, "StartJobRun was not sent again");
}
