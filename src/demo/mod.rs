//! `etl-medic demo`: the daemon's real worker pool and pipeline on the
//! in-memory adapters, wired to the simulated Glue estate, on an
//! accelerated clock. It serves `/metrics` while it runs, prints a line per
//! closed incident, ends by itself and summarises incidents, actions,
//! auto-resolution and time to fix against the manual baseline.

pub mod clock;
pub mod driver;
pub mod seed;
pub mod summary;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::wiring::InMemoryEstate;
use crate::config::{JobSettings, Settings};
use crate::core::model::{ActionKind, Mode};
use crate::daemon::app::Application;
use crate::daemon::reconciler::refresh_queue_depth;
use crate::demo::clock::AcceleratedClock;
use crate::demo::driver::{ChannelObserver, DemoIncident, Driver};
use crate::demo::summary::DemoSummary;
use crate::sim::{Estate, SimConfig};

/// Longest the driver sleeps between looks at the estate.
const FEED_TICK: Duration = Duration::from_millis(100);

/// How a demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub incidents: usize,
    pub seed: u64,
    pub mode: Mode,
    /// Address of /metrics; port 0 picks a free one.
    pub listen: String,
    /// Keep serving /metrics this long after the summary.
    pub linger_secs: u64,
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Where to write the demo's audit trail, if anywhere.
    pub audit_dir: Option<std::path::PathBuf>,
    /// Real seconds after which the demo stops even if incidents are open.
    pub time_limit_secs: u64,
    pub sim: SimConfig,
}

/// The settings the demo runs with: the given ones (the safety section in
/// `mode` everywhere), the simulated estate's jobs, a short long-poll so
/// the demo ends promptly, quarantine allowed under the estate's source
/// buckets.
pub fn demo_settings(mut settings: Settings, sim: &SimConfig, listen: &str, mode: Mode) -> Settings {
    settings.safety.set_mode_everywhere(mode);
    settings.queue.concurrency = 8;
    settings.queue.wait_time_secs = 1;
    settings.queue.visibility_timeout_secs = 30;
    settings.queue.heartbeat_secs = 10;
    settings.queue.depth_poll_secs = 1;
    settings.incidents.reconcile_interval_secs = 3_600;
    settings.shutdown.shutdown_grace_secs = 10;
    settings.audit.bucket = "etl-medic-demo-audit".to_string();
    settings.http.listen = listen.to_string();
    for job in &sim.jobs {
        settings.jobs.insert(
            job.name.clone(),
            JobSettings {
                tables: job.tables.clone(),
                risk_tier: Some(job.risk_tier),
                max_workers: Some(job.max_workers),
                input_arguments: None,
                sources: vec![],
            },
        );
        if let Some((bucket, _)) = crate::ports::object_store::parse_s3_uri(&job.source_path) {
            let allowed = format!("s3://{bucket}/");
            if !settings.quarantine.allowed_prefixes.contains(&allowed) {
                settings.quarantine.allowed_prefixes.push(allowed);
            }
        }
    }
    settings
}

fn progress_line(incident: &DemoIncident, total: usize) -> String {
    let diagnosed = incident.diagnosed.map_or("unknown", |class| class.as_str());
    let fixed = incident.minutes_to_fix.map_or_else(String::new, |minutes| {
        let how = match incident.resolution {
            Some(crate::sim::Resolution::Human) => "fixed by a person",
            _ if incident.healed_by_waiting() => "healed by the job's next run",
            _ => "fixed automatically",
        };
        if minutes < 120.0 { format!("{how} in {minutes:.0} min") } else { format!("{how} in {:.1} h", minutes / 60.0) }
    });
    // The action chain goes last: however long, it cannot push the columns.
    format!(
        "[{:>3}/{total}] {:<20} {:<20} {:<10} {:<38} {}",
        incident.number,
        incident.job_name,
        diagnosed,
        incident.outcome.unwrap_or("?"),
        fixed,
        action_chain(&incident.actions),
    )
}

/// `retry_with_more_capacity x2 -> log_and_wait`: repeats folded.
fn action_chain(actions: &[ActionKind]) -> String {
    let mut parts: Vec<(ActionKind, usize)> = Vec::new();
    for kind in actions {
        match parts.last_mut() {
            Some((last, count)) if last == kind => *count += 1,
            _ => parts.push((*kind, 1)),
        }
    }
    if parts.is_empty() {
        return "-".to_string();
    }
    let folded: Vec<String> = parts
        .into_iter()
        .map(|(kind, count)| if count > 1 { format!("{kind} x{count}") } else { kind.as_str().to_string() })
        .collect();
    folded.join(" -> ")
}

/// Default real-time cap of a demo of `incidents`: long enough that the
/// embedded estate finishes (about a second per incident at the default
/// speed-up), short enough that a stuck demo ends.
pub fn default_time_limit_secs(incidents: usize) -> u64 {
    55 + 3 * incidents as u64
}

/// Copy the demo's audit trail (the in-memory audit bucket) into `directory`
/// with the S3 layout (docs/audit-layout.md), so that `replay` and
/// `experience export` can read it as they read a trail copied from S3.
fn write_audit_trail(
    estate: &InMemoryEstate,
    settings: &Settings,
    directory: &std::path::Path,
) -> anyhow::Result<usize> {
    let objects = estate.objects.objects_under(&settings.audit.bucket, &settings.audit.prefix);
    for (key, body) in &objects {
        let relative = key.strip_prefix(&settings.audit.prefix).unwrap_or(key);
        let path = directory.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(objects.len())
}

fn safety_replacements(registry: &prometheus::Registry) -> BTreeMap<String, u64> {
    let mut replacements = BTreeMap::new();
    for family in registry.gather() {
        if family.name() != "etl_medic_safety_replacements_total" {
            continue;
        }
        for metric in family.get_metric() {
            let rule =
                metric.get_label().iter().find(|label| label.name() == "rule").map(|label| label.value().to_string());
            let count = metric.get_counter().get_value() as u64;
            if let Some(rule) = rule.filter(|_| count > 0) {
                replacements.insert(rule, count);
            }
        }
    }
    replacements
}

/// Progress lines in incident order, though incidents close out of order.
#[derive(Default)]
struct InOrder {
    next: usize,
    waiting: BTreeMap<usize, String>,
}

impl InOrder {
    /// Incident `number` closed with `line`: the lines now printable, in order.
    fn closed(&mut self, number: usize, line: String) -> Vec<String> {
        self.waiting.insert(number, line);
        let mut ready = Vec::new();
        while let Some(line) = self.waiting.remove(&(self.next + 1)) {
            self.next += 1;
            ready.push(line);
        }
        ready
    }

    /// What is still waiting (incidents before them never closed).
    fn rest(&mut self) -> Vec<String> {
        std::mem::take(&mut self.waiting).into_values().collect()
    }
}

/// Run the demo on `settings` (the policy `[policy] path` names; the
/// safety section's modes are replaced by the demo's mode); progress goes to
/// `progress`, the summary to `out`.
pub async fn run(
    options: DemoOptions,
    settings: Settings,
    progress: &mut (dyn Write + Send),
    out: &mut (dyn Write + Send),
) -> anyhow::Result<DemoSummary> {
    let simulator = Estate::new(options.sim.clone(), options.seed);
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(&options.sim.estate.start_time)
        .map(|time| time.with_timezone(&Utc))
        .unwrap_or_default();
    let clock = Arc::new(AcceleratedClock::new(start, options.speedup));
    let estate = Arc::new(InMemoryEstate::new(clock.clone(), Duration::from_secs(30), options.speedup));
    let settings = demo_settings(settings, &options.sim, &options.listen, options.mode);
    let logs = settings.logs.clone();
    let audit_settings = settings.clone();
    let (sender, mut events) = mpsc::unbounded_channel();
    let observer = Arc::new(ChannelObserver { sender });
    let application = Application::build(settings, estate.ports(), Some(observer)).await?;
    let policy_version = application.context().policy.current().version();
    let running = application.start().await?;
    let metrics_url = format!("http://{}/metrics", running.address());
    writeln!(progress, "etl-medic demo: serving {metrics_url} while it runs")?;
    let mut printer = InOrder::default();

    let clock_view = clock.clone();
    let mut driver = Driver::new(estate.clone(), simulator, clock, logs, options.mode, options.incidents);
    driver.feed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.time_limit_secs);
    while !driver.is_done() {
        // Wake for the next failure of the estate, or at least every 100 ms.
        let next_feed =
            driver.next_failure_at().map(|at| clock_view.real_until(at)).unwrap_or(FEED_TICK).min(FEED_TICK);
        let event = tokio::select! {
            event = events.recv() => event,
            () = tokio::time::sleep(next_feed) => {
                driver.feed();
                continue;
            }
            () = tokio::time::sleep_until(deadline) => {
                writeln!(progress, "etl-medic demo: time limit reached with incidents still open")?;
                break;
            }
        };
        let Some(event) = event else { break };
        let total = driver.total();
        if let Some(closed) = driver.handle(event) {
            for line in printer.closed(closed.number, progress_line(closed, total)) {
                writeln!(progress, "{line}")?;
            }
        }
    }
    for line in printer.rest() {
        writeln!(progress, "{line}")?;
    }
    let stop = CancellationToken::new();
    stop.cancel();
    let serving = running.drain_on(stop).await?;
    if let Err(error) = refresh_queue_depth(serving.context()).await {
        tracing::warn!(error = %error, "demo: final queue depth not read");
    }
    let summary = DemoSummary::from_incidents(
        &driver.finished,
        options.incidents,
        options.mode,
        policy_version,
        options.seed,
        safety_replacements(serving.registry()),
    );
    writeln!(out, "{summary}")?;
    out.flush()?;
    if let Some(directory) = &options.audit_dir {
        let written = write_audit_trail(&estate, &audit_settings, directory)?;
        writeln!(progress, "etl-medic demo: {written} audit records written under {}", directory.display())?;
    }
    if options.linger_secs > 0 {
        writeln!(progress, "etl-medic demo: serving /metrics for {} more seconds", options.linger_secs)?;
        tokio::time::sleep(Duration::from_secs(options.linger_secs)).await;
    }
    serving.close().await?;
    Ok(summary)
}
