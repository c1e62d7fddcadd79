//! The report in DIR, built from the checkpoint when every job is done:
//! report.json (the summary, then one record per incident), report.md (the
//! summary for people), two SVG charts, requests.jsonl (every decide
//! request, so any decision can be replayed with `etl-medic decide`) and,
//! when asked, the experience lines. Each file is written under a temporary
//! name and renamed into place, so none is ever seen half-written.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backtest::charts;
use crate::backtest::checkpoint::{AtomicFile, Checkpoint, DataFile, JobEntry};
use crate::backtest::estimate::OutcomeModel;
use crate::backtest::follow_up::FixKind;
use crate::backtest::record::IncidentReport;
use crate::backtest::summary::{ChartData, Group, Summary, SummaryBuilder, SummaryContext};

pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const TIME_TO_FIX_SVG: &str = "time_to_fix.svg";
pub const FAILURES_SVG: &str = "failures_by_class.svg";
pub const REQUESTS: &str = "requests.jsonl";
/// Jobs listed in report.md's table (report.json has them all).
const JOBS_SHOWN: usize = 15;

/// The committed jobs, in name order, so the report reads the same however
/// the jobs finished.
fn entries(checkpoint: &Checkpoint) -> Vec<JobEntry> {
    checkpoint.jobs.values().cloned().collect()
}

fn incidents_of(checkpoint: &Checkpoint, entry: &JobEntry) -> anyhow::Result<Vec<(String, IncidentReport)>> {
    checkpoint
        .lines(DataFile::Incidents, entry)?
        .into_iter()
        .map(|line| {
            let record = serde_json::from_str(&line)
                .with_context(|| format!("a checkpoint record of job {} does not parse", entry.job))?;
            Ok((line, record))
        })
        .collect()
}

/// Write every output file; returns the summary.
pub fn write_report(
    out: &Path,
    checkpoint: &Checkpoint,
    model: &OutcomeModel,
    context: SummaryContext,
    experience: Option<&Path>,
) -> anyhow::Result<Summary> {
    let jobs = entries(checkpoint);
    let mut builder = SummaryBuilder::new(model);
    for entry in &jobs {
        builder.add_job(&entry.job, &entry.notes);
        for (_, incident) in incidents_of(checkpoint, entry)? {
            builder.add_incident(&incident);
        }
    }
    let (summary, charts) = builder.finish(context);

    let mut json = AtomicFile::create(&out.join(REPORT_JSON))?;
    json.write_all(b"{\"format\":\"etl-medic-backtest/1\",\"summary\":")?;
    serde_json::to_writer_pretty(&mut json, &summary)?;
    json.write_all(b",\n\"incidents\":[")?;
    let mut first = true;
    for entry in &jobs {
        for (line, _) in incidents_of(checkpoint, entry)? {
            json.write_all(if first { b"\n" } else { b",\n" })?;
            json.write_all(line.as_bytes())?;
            first = false;
        }
    }
    json.write_all(b"\n]}\n")?;

    copy_lines(checkpoint, &jobs, DataFile::Requests, &out.join(REQUESTS))?;
    if let Some(path) = experience {
        copy_lines(checkpoint, &jobs, DataFile::Experience, path)?;
    }
    let svg_time = AtomicPath::new(&out.join(TIME_TO_FIX_SVG));
    charts::write_time_to_fix(&svg_time.temporary, &charts)?;
    let svg_failures = AtomicPath::new(&out.join(FAILURES_SVG));
    charts::write_failures_by_class(&svg_failures.temporary, &charts)?;
    let mut markdown = AtomicFile::create(&out.join(REPORT_MD))?;
    markdown.write_all(render_markdown(&summary, &charts).as_bytes())?;
    // Everything is written; now it all appears.
    json.commit()?;
    svg_time.commit()?;
    svg_failures.commit()?;
    markdown.commit()?;
    Ok(summary)
}

fn copy_lines(checkpoint: &Checkpoint, jobs: &[JobEntry], data: DataFile, target: &Path) -> anyhow::Result<()> {
    let mut file = AtomicFile::create(target)?;
    for entry in jobs {
        for line in checkpoint.lines(data, entry)? {
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
    }
    file.commit()
}

/// A path a library writes itself (plotters), renamed into place on commit.
struct AtomicPath {
    target: PathBuf,
    temporary: PathBuf,
    done: bool,
}

impl AtomicPath {
    fn new(target: &Path) -> AtomicPath {
        let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        AtomicPath { target: target.to_path_buf(), temporary, done: false }
    }

    fn commit(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.temporary, &self.target)
            .with_context(|| format!("renaming {} into place", self.target.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Seconds as a person reads them.
pub fn human(seconds: u64) -> String {
    let minutes = seconds as f64 / 60.0;
    if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else if minutes < 72.0 * 60.0 {
        format!("{:.1} h", minutes / 60.0)
    } else {
        format!("{:.1} d", minutes / 1_440.0)
    }
}

fn maybe(seconds: Option<u64>) -> String {
    seconds.map_or_else(|| "-".to_string(), human)
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "-".to_string() } else { format!("{part}/{whole} ({:.0}%)", 100.0 * part as f64 / whole as f64) }
}

fn proposals(group: &Group) -> String {
    let mut counted: Vec<(&crate::core::model::ActionKind, &u64)> = group.proposals.iter().collect();
    counted.sort_by(|left, right| right.1.cmp(left.1).then_with(|| left.0.cmp(right.0)));
    counted.iter().map(|(kind, count)| format!("{kind} {count}")).collect::<Vec<_>>().join(", ")
}

fn estimated(group: &Group) -> String {
    match (group.estimated_mean_s, group.estimated_mean_interval_s) {
        (Some(mean), Some([low, high])) => format!("{} ({}-{})", human(mean), human(low), human(high)),
        _ => "-".to_string(),
    }
}

fn group_row(group: &Group) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        group.name,
        group.incidents,
        group.failures,
        proposals(group),
        share(group.proposal_matches, group.compared),
        maybe(group.observed_mean_s),
        estimated(group),
        group.open,
    )
}

const GROUP_HEADER: &str = "| incidents | failed runs | proposed (final action) | proposal matches the fix | time to fix, observed (mean) | estimated under the proposal (mean, 80% interval) | still open |\n|---|---:|---:|---|---:|---:|---:|---:|\n";

pub fn render_markdown(summary: &Summary, charts: &ChartData) -> String {
    let overall = &summary.overall;
    let fixed = overall.fixed_by_person + overall.fixed_by_next_run;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# etl-medic backtest: {} to {}\n",
        summary.window.from.format("%Y-%m-%d %H:%M UTC"),
        summary.window.to.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        text,
        "What etl-medic would have done about every failed Glue job run in the window, decided in **{}** mode \
         with policy `{}` on the evidence as it was at each failure (catalog versions and run history of that \
         moment), beside what really happened next. Read-only: nothing was changed. Observed until {}.\n",
        summary.mode, summary.policy, summary.observed_until
    );
    let _ = writeln!(text, "| | |\n|---|---|");
    let _ = writeln!(text, "| jobs read | {} ({} with failures) |", summary.jobs_read, summary.jobs_with_incidents);
    let _ = writeln!(text, "| failed runs | {} |", overall.failures);
    let _ = writeln!(
        text,
        "| incidents (a job failing until it next succeeds) | {} ({} still open) |",
        overall.incidents, overall.open
    );
    let _ = writeln!(
        text,
        "| fixed by a person / healed by the job's next run | {} / {} |",
        overall.fixed_by_person, overall.fixed_by_next_run
    );
    let _ = writeln!(
        text,
        "| etl-medic's proposal matches what fixed it | {} |",
        share(overall.proposal_matches, overall.compared)
    );
    let _ = writeln!(
        text,
        "| time to fix, observed | mean {}, median {} ({} fixed incidents) |",
        maybe(overall.observed_mean_s),
        maybe(overall.observed_median_s),
        fixed
    );
    let _ = writeln!(
        text,
        "| time to fix under the proposals, estimated | mean {}, median {} |\n",
        estimated(overall),
        maybe(overall.estimated_median_s)
    );
    let _ = writeln!(text, "## By failure class\n\n| class {GROUP_HEADER}");
    text.pop();
    for group in &summary.by_class {
        text.push_str(&group_row(group));
    }
    let _ = writeln!(text, "\n## By job\n\n| job {GROUP_HEADER}");
    text.pop();
    for group in summary.by_job.iter().take(JOBS_SHOWN) {
        text.push_str(&group_row(group));
    }
    if summary.by_job.len() > JOBS_SHOWN {
        let _ = writeln!(text, "\n({} more jobs in report.json)", summary.by_job.len() - JOBS_SHOWN);
    }
    let _ = writeln!(
        text,
        "\n## What fixed the incidents\n\n| what history shows | incidents | proposals that match it |\n|---|---:|---|"
    );
    for (fix, count) in &summary.fixes {
        let matching: Vec<&str> = fix.matching_actions().iter().map(|kind| kind.as_str()).collect();
        let matching = if *fix == FixKind::NotFixed { "-".to_string() } else { matching.join(", ") };
        let _ = writeln!(text, "| {} | {count} | {matching} |", fix.as_str());
    }
    let _ = writeln!(
        text,
        "\n## Charts\n\n![time to fix, observed and estimated]({TIME_TO_FIX_SVG})\n\n![failed runs per day by class]({FAILURES_SVG})\n"
    );
    render_completeness(&mut text, summary, charts);
    render_method(&mut text, summary);
    text
}

fn render_completeness(text: &mut String, summary: &Summary, charts: &ChartData) {
    let completeness = &summary.completeness;
    let _ = writeln!(text, "## Completeness\n");
    if !completeness.partial {
        let _ = writeln!(
            text,
            "The window was read whole: every job's history reached back before it, every failed run still had logs, every table was readable."
        );
    }
    let listed = |listed: &crate::backtest::summary::Listed| {
        let more = listed.count.saturating_sub(listed.examples.len() as u64);
        let names = listed.examples.join(", ");
        if more > 0 { format!("{names} and {more} more") } else { names }
    };
    if completeness.history_truncated.count > 0 {
        let _ = writeln!(
            text,
            "- History cut by `[backtest] max_runs_per_job` before the window's start: {} jobs ({}).",
            completeness.history_truncated.count,
            listed(&completeness.history_truncated)
        );
    }
    if completeness.history_starts_in_window.count > 0 {
        let _ = writeln!(
            text,
            "- History starts inside the window (a newer job, or older runs no longer kept by Glue): {} jobs ({}).",
            completeness.history_starts_in_window.count,
            listed(&completeness.history_starts_in_window)
        );
    }
    if completeness.failures_without_logs > 0 {
        let _ = writeln!(
            text,
            "- {} failed runs had no log lines left (log retention, or never written): decided on the run's error message, catalog and history alone.",
            completeness.failures_without_logs
        );
    }
    if completeness.unreadable_tables.count > 0 {
        let _ =
            writeln!(text, "- Tables whose versions could not be read: {}.", listed(&completeness.unreadable_tables));
    }
    if completeness.jobs_gone.count > 0 {
        let _ = writeln!(text, "- Jobs deleted while the backtest ran: {}.", listed(&completeness.jobs_gone));
    }
    if completeness.began_before_window > 0 {
        let _ = writeln!(
            text,
            "- {} incidents began before the window (their time to fix counts from the first failure inside it).",
            completeness.began_before_window
        );
    }
    if completeness.throttled_retries > 0 {
        let _ = writeln!(
            text,
            "- {} calls were throttled and retried with backoff (nothing was skipped).",
            completeness.throttled_retries
        );
    }
    let _ = writeln!(text, "- {} failed runs over {} days.\n", summary.overall.failures, charts.failures_per_day.len());
}

fn render_method(text: &mut String, summary: &Summary) {
    let _ = writeln!(
        text,
        "## How this was computed\n\n\
- For each failed run, the request the daemon would have sent to `decide` then: the run, its CloudWatch logs, \
the catalog versions that existed at the failure, the job's runs started before it, the source objects that had \
landed by then. `requests.jsonl` holds every one; `etl-medic decide --mode shadow < requests.jsonl` reproduces \
every decision.\n\
- What happened next comes from the same history: the next successful run, and whether its arguments or capacity \
differ from the failed run's (arguments that change every run, such as dates, are not counted) or a table the job \
uses got a new version in between (a version restoring earlier columns is a rollback). A fix with a change is a \
person's; without one it is the job's next run.\n\
- The proposal matches the fix when it would have done the same: more capacity for a capacity raise, a rollback \
for a rollback, a bad-records rerun for one, a retry or waiting for a fix by the next run, escalation for any other \
change a person made.\n\
- Time to fix under the proposal is estimated with the simulator's outcome model (`{}`): the odds that the \
action works for the diagnosed class, the job's own run time and schedule, and the delay before a person acts when \
it does not; one action, then a person, so it errs long. Intervals are 10th-90th percentiles of {} draws.\n\
- Known limits: the job definition (Glue's MaxRetries, default arguments) is read as it is now; a fix that only \
replaced the script in place shows as the job's next run; a manual rerun without changes shows as the next run.",
        summary.outcome_model,
        crate::backtest::estimate::DRAWS
    );
}
