//! The daemon under load, on the local AWS emulator: a benchmark program,
//! not a test. For each concurrency setting it starts a fresh moto, a fleet
//! of Glue jobs and one failed run per incident, puts the runs' FAILED
//! events on EventBridge (PutEvents, ten per call; the real rule delivers
//! them to SQS), and starts the daemon as its own process, the way
//! `etl-medic run` runs it (`run_daemon` on the AWS adapters built from
//! `AWS_ENDPOINT_URL`), through a pass-through proxy that times every round
//! trip to moto. Two phases per setting:
//!
//! 1. backlog: `--events` failures queued before the daemon starts; time to
//!    the first ReceiveMessage at the emulator (ready to receive) and ready
//!    (`/readyz` 200, after the emulator answered it), throughput until the queue is empty, CPU per
//!    incident (utime+stime from /proc/PID/stat), peak RSS (VmHWM);
//! 2. paced: `--paced-events` failures put at `--paced-rate` per second (below
//!    the fleet action limit, so every one is acted on); latency from the
//!    PutEvents answer to the StartJobRun reaching the emulator (p50/p99).
//!
//! moto's round trip, measured by the proxy in the same run, is reported
//! beside etl-medic's own CPU per incident as a ratio.
//!
//! Run: `bash benches/load/run.sh` (or `cargo run --release --example load_bench -- --help`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use support::daemon_process;
use support::fault_proxy::{FaultPlan, FaultProxy};
use support::fleet::{self, Fleet, TRANSIENT};

/// Failures per job: under the per-job action budget (50 per hour).
const FAILURES_PER_JOB: usize = 40;
const BENCH_ARGUMENT: &str = "--bench_id";

struct Options {
    events: Vec<usize>,
    concurrency: Vec<usize>,
    paced_events: usize,
    paced_rate: f64,
    /// Stop the backlog phase after this long (then the paced phase is skipped).
    time_limit_secs: u64,
}

fn parse_options() -> Options {
    let mut options = Options {
        events: vec![2_500, 3_500, 4_000],
        concurrency: vec![4, 16, 64],
        paced_events: 300,
        paced_rate: 8.0,
        time_limit_secs: 3_600,
    };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let list = |text: &str| text.split(',').map(|item| item.trim().parse().expect("a number")).collect::<Vec<usize>>();
    for pair in arguments.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--events" => options.events = list(value),
            "--concurrency" => options.concurrency = list(value),
            "--paced-events" => options.paced_events = value.parse().expect("a number"),
            "--paced-rate" => options.paced_rate = value.parse().expect("a number"),
            "--time-limit-secs" => options.time_limit_secs = value.parse().expect("a number"),
            other => {
                eprintln!(
                    "usage: load_bench [--events 2500,3500,4000] [--concurrency 4,16,64] [--paced-events 300] [--paced-rate 8] [--time-limit-secs 3600]; unknown {other}"
                );
                std::process::exit(64);
            }
        }
    }
    if options.events.len() == 1 {
        options.events = vec![options.events[0]; options.concurrency.len()];
    }
    assert_eq!(options.events.len(), options.concurrency.len(), "one --events figure per concurrency setting");
    options
}

/// `etl-medic` from the same build as this program (target/<profile>/).
fn etl_medic_binary() -> std::path::PathBuf {
    let here = std::env::current_exe().expect("current executable");
    let binary = here
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("etl-medic"))
        .expect("target layout");
    assert!(binary.exists(), "{} is missing: build it first (benches/load/run.sh does)", binary.display());
    binary
}

fn main() {
    let options = parse_options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for (index, &concurrency) in options.concurrency.iter().enumerate() {
        rows.push(runtime.block_on(one_setting(concurrency, options.events[index], &options)));
    }
    println!(
        "\n| concurrency | events | receiving / ready ms | incidents/s | CPU ms/incident | peak RSS MB | AWS calls/incident | moto RTT p50/p99 ms | moto ms/incident | CPU/moto | paced p50/p99 ms | decision p99 ms | own work p50 / p99 ms | outcomes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|left, right| left.total_cmp(right));
    values
}

/// (utime + stime) in ms, and VmHWM in MB, of a process.
fn cpu_and_peak_rss(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|value| value.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|value| value.parse().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    (ticks * 1_000.0 / 100.0, peak_kb / 1_024.0) // USER_HZ is 100 on Linux
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Start `count` failed runs (tagged with their bench id) and return
/// (job, run, bench id) in order.
async fn start_failed_runs(fleet: &Fleet, first_id: usize, count: usize) -> Vec<(String, String, usize)> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut runs = Vec::with_capacity(count);
    for offset in 0..count {
        let bench_id = first_id + offset;
        let job = fleet.jobs[bench_id / FAILURES_PER_JOB].clone();
        let glue = aws_sdk_glue::Client::new(&fleet.config);
        tasks.spawn(async move {
            let run = glue
                .start_job_run()
                .job_name(&job)
                .arguments(BENCH_ARGUMENT, bench_id.to_string())
                .send()
                .await
                .expect("StartJobRun");
            (job, run.job_run_id.unwrap_or_default(), bench_id)
        });
        if tasks.len() >= 16
            && let Some(done) = tasks.join_next().await
        {
            runs.push(done.expect("task"));
        }
    }
    while let Some(done) = tasks.join_next().await {
        runs.push(done.expect("task"));
    }
    runs
}

fn scrape(port: u16) -> String {
    let url = format!("127.0.0.1:{port}");
    let mut stream = std::net::TcpStream::connect(&url).expect("metrics port");
    use std::io::{Read, Write};
    let _ = write!(stream, "GET /metrics HTTP/1.1\r\nHost: {url}\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// p99 of a Prometheus histogram from its cumulative buckets (upper bound).
/// The upper bound (ms) of the bucket holding the `quantile` of a histogram.
fn histogram_quantile_ms(metrics: &str, name: &str, quantile: f64) -> f64 {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}_bucket")))
        .filter_map(|line| {
            let bound = line.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, line.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |(_, count)| *count);
    buckets.iter().find(|(_, count)| *count >= total * quantile).map_or(f64::NAN, |(bound, _)| bound * 1_000.0)
}

async fn one_setting(concurrency: usize, events: usize, options: &Options) -> String {
    let total = events + options.paced_events;
    let jobs = total.div_ceil(FAILURES_PER_JOB);
    eprintln!(
        "== concurrency {concurrency}: {events} queued + {} paced failures over {jobs} jobs",
        options.paced_events
    );
    let fleet = Fleet::new(jobs, FAILURES_PER_JOB, 30, 10).await;
    let setup = Instant::now();
    let backlog = start_failed_runs(&fleet, 0, events).await;
    let paced = start_failed_runs(&fleet, events, options.paced_events).await;
    let changes: Vec<(String, String, &str, &str)> =
        backlog.iter().map(|(job, run, _)| (job.clone(), run.clone(), "FAILED", TRANSIENT)).collect();
    let mut puts = tokio::task::JoinSet::new();
    for chunk in changes.chunks(200) {
        let chunk = chunk.to_vec();
        let fleet_config = fleet.config.clone();
        puts.spawn(async move { fleet::put_glue_events(&fleet_config, &chunk).await });
    }
    while puts.join_next().await.is_some() {}
    eprintln!("   setup {:?}; queue {:?}", setup.elapsed(), fleet.depth(&fleet.queue_url).await);

    let proxy = FaultProxy::start(fleet.moto.port, FaultPlan::none());
    let http_port = free_port();
    let mut settings = fleet.settings(concurrency);
    settings.http.listen = format!("127.0.0.1:{http_port}");
    let log_path = std::env::temp_dir().join(format!("etl-medic-load-{concurrency}.log"));
    let _ = std::fs::remove_file(&log_path);
    let started = Instant::now();
    let spawned_at = SystemTime::now();
    // The real binary, `etl-medic run`, configured as a deployment is:
    // its CPU and memory are what a task would use.
    let mut environment = fleet.daemon_environment(&proxy.endpoint_url, concurrency, &settings.http.listen);
    environment.push(("ETL_MEDIC__AUDIT__RETRY_BASE_MS".to_string(), settings.audit.retry_base_ms.to_string()));
    let mut child = daemon_process::spawn_binary(&etl_medic_binary(), &environment, &log_path);
    let ready_ms = loop {
        if let Ok(200) =
            etl_medic::daemon::http::probe(&format!("http://127.0.0.1:{http_port}/readyz"), Duration::from_millis(200))
        {
            break started.elapsed().as_secs_f64() * 1_000.0;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never ready; see {}", log_path.display());
        std::thread::sleep(Duration::from_millis(2));
    };
    // Backlog phase: until every message is gone.
    let (cpu_before, _) = cpu_and_peak_rss(child.id());
    let limit = Duration::from_secs(options.time_limit_secs);
    let left = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let depth = fleet.depth(&fleet.queue_url).await;
        if depth == (0, 0) || started.elapsed() >= limit {
            break depth;
        }
    };
    let backlog_secs = started.elapsed().as_secs_f64();
    let (cpu_after, _) = cpu_and_peak_rss(child.id());
    let backlog_seen = proxy.take_seen();
    // Ready to receive: spawn until its first ReceiveMessage reaches the
    // emulator (the process has loaded its settings, built its clients and
    // started the pool); `/readyz` also waits for the emulator's answer.
    let receiving_ms = backlog_seen
        .iter()
        .filter(|request| request.operation == "ReceiveMessage")
        .filter_map(|request| request.at.duration_since(spawned_at).ok())
        .min()
        .map_or(f64::NAN, |since| since.as_secs_f64() * 1_000.0);
    // Messages deleted: those no longer visible nor in flight.
    let handled = events.saturating_sub((left.0 + left.1) as usize).max(1);
    let timed_out = left != (0, 0);
    if timed_out {
        eprintln!("   time limit: {handled} of {events} handled in {backlog_secs:.0}s; paced phase skipped");
    }
    let paced = if timed_out { Vec::new() } else { paced };

    // Paced phase: latency from PutEvents answer to StartJobRun at the emulator.
    let mut put_at: BTreeMap<usize, SystemTime> = BTreeMap::new();
    let interval = Duration::from_secs_f64(1.0 / options.paced_rate.max(0.1));
    let mut next = Instant::now();
    for (job, run, bench_id) in &paced {
        tokio::time::sleep_until(next.into()).await;
        next += interval;
        fleet.put_glue_events(&[(job.clone(), run.clone(), "FAILED", TRANSIENT)]).await;
        put_at.insert(*bench_id, SystemTime::now());
    }
    let paced_deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < paced_deadline && fleet.depth(&fleet.queue_url).await != (0, 0) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = scrape(http_port);
    let (_, peak_rss_mb) = cpu_and_peak_rss(child.id());
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let paced_seen = proxy.take_seen();

    let latencies_ms = sorted(
        paced_seen
            .iter()
            .filter(|request| request.forwarded)
            .filter_map(|request| {
                let (_, arguments) = request.start_job_run.as_ref()?;
                let bench_id: usize = arguments.get(BENCH_ARGUMENT)?.parse().ok()?;
                let put = put_at.get(&bench_id)?;
                Some(request.at.duration_since(*put).ok()?.as_secs_f64() * 1_000.0)
            })
            .collect(),
    );
    let round_trips = sorted(
        backlog_seen.iter().filter_map(|request| request.upstream).map(|rtt| rtt.as_secs_f64() * 1_000.0).collect(),
    );
    let moto_ms_total: f64 = round_trips.iter().sum();
    let cpu_per_incident = (cpu_after - cpu_before) / handled as f64;
    let moto_per_incident = moto_ms_total / handled as f64;
    let count = |operation: &str| {
        backlog_seen.iter().filter(|request| request.operation == operation && request.forwarded).count()
    };
    let outcomes = format!("{} StartJobRun, {} Publish (fleet limit)", count("StartJobRun"), count("Publish"));
    let decision_p99 = histogram_quantile_ms(&metrics, "etl_medic_decision_duration_seconds", 0.99);
    let own_p50 = histogram_quantile_ms(&metrics, "etl_medic_own_work_seconds", 0.5);
    let own_p99 = histogram_quantile_ms(&metrics, "etl_medic_own_work_seconds", 0.99);
    let mut by_operation: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for request in &backlog_seen {
        if let Some(rtt) = request.upstream {
            by_operation.entry(request.operation.as_str()).or_default().push(rtt.as_secs_f64() * 1_000.0);
        }
    }
    for (operation, values) in by_operation {
        let values = sorted(values);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        eprintln!(
            "   moto {operation:<28} {:>6} calls  mean {mean:>7.1} ms  p99 {:>7.1} ms",
            values.len(),
            percentile(&values, 0.99)
        );
    }
    eprintln!(
        "   backlog {handled} of {events} in {backlog_secs:.1}s; paced {} latencies; {outcomes}",
        latencies_ms.len()
    );
    format!(
        "| {concurrency} | {handled}/{events} + {} | {receiving_ms:.0} / {ready_ms:.0} | {:.1} | {cpu_per_incident:.2} | {peak_rss_mb:.1} | {:.1} | {:.1} / {:.1} | {moto_per_incident:.1} | {:.3} | {:.0} / {:.0} ({} of {}) | {decision_p99:.2} | ≤{own_p50} / ≤{own_p99} | {outcomes} |",
        options.paced_events,
        handled as f64 / backlog_secs,
        backlog_seen.len() as f64 / handled as f64,
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.99),
        cpu_per_incident / moto_per_incident,
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.99),
        latencies_ms.len(),
        options.paced_events,
    )
}
