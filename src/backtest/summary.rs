//! The numbers of the report, gathered from the incident records one at a
//! time (memory grows with the number of incidents by a few numbers each,
//! not by their records): per failure class and per job, how many failures
//! and incidents, what was proposed, how often the proposal matches what
//! fixed it, and time to fix observed against estimated under the proposal
//! (a mean with an 80% interval from the outcome model's draws).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::backtest::asof::parse_time;
use crate::backtest::estimate::{DRAWS, OutcomeModel, percentile, seed_of};
use crate::backtest::follow_up::FixKind;
use crate::backtest::reader::JobNotes;
use crate::backtest::record::IncidentReport;
use crate::backtest::window::Window;
use crate::core::model::{ActionKind, FailureClass};

/// Names listed at most per completeness note (the count is always whole).
const LISTED: usize = 20;

/// Figures for a set of incidents (all of them, one class or one job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub incidents: u64,
    pub failures: u64,
    /// Not fixed by the end of observation.
    pub open: u64,
    pub proposals: BTreeMap<ActionKind, u64>,
    pub fixed_by_person: u64,
    pub fixed_by_next_run: u64,
    /// Fixed incidents whose proposal was compared with the fix.
    pub compared: u64,
    pub proposal_matches: u64,
    /// Time to fix of the fixed incidents, observed.
    pub observed_mean_s: Option<u64>,
    pub observed_median_s: Option<u64>,
    /// The same incidents under the proposals, estimated: the mean, its 80%
    /// interval, and the median of the incidents' median estimates.
    pub estimated_mean_s: Option<u64>,
    pub estimated_mean_interval_s: Option<[u64; 2]>,
    pub estimated_median_s: Option<u64>,
}

/// A count and the first few names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Listed {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Listed {
    fn add(&mut self, name: &str) {
        self.count += 1;
        if self.examples.len() < LISTED {
            self.examples.push(name.to_string());
        }
    }
}

/// Where the window could not be seen whole.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Completeness {
    /// True when any note below is not empty.
    pub partial: bool,
    /// Jobs whose history was cut by `[backtest] max_runs_per_job` before the window's start.
    pub history_truncated: Listed,
    /// Jobs whose oldest run Glue returned started inside the window.
    pub history_starts_in_window: Listed,
    /// Failed runs with no log lines left in either group.
    pub failures_without_logs: u64,
    pub unreadable_tables: Listed,
    pub jobs_gone: Listed,
    /// Incidents whose streak began before the window opened.
    pub began_before_window: u64,
    /// Calls retried after throttling or a transient failure.
    pub throttled_retries: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub window: Window,
    /// Incidents not fixed by this time are open.
    pub observed_until: String,
    pub mode: String,
    pub policy: String,
    pub outcome_model: String,
    pub jobs_read: u64,
    pub jobs_with_incidents: u64,
    pub overall: Group,
    pub by_class: Vec<Group>,
    pub by_job: Vec<Group>,
    pub fixes: BTreeMap<FixKind, u64>,
    pub completeness: Completeness,
}

/// Everything a chart needs, kept beside the summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartData {
    /// Fixed incidents: observed time to fix and the median estimate, in minutes.
    pub observed_minutes: Vec<f64>,
    pub estimated_minutes: Vec<f64>,
    /// Failed runs per day and class.
    pub failures_per_day: BTreeMap<NaiveDate, BTreeMap<FailureClass, u64>>,
}

#[derive(Debug, Default)]
struct Accumulator {
    incidents: u64,
    failures: u64,
    open: u64,
    proposals: BTreeMap<ActionKind, u64>,
    person: u64,
    next_run: u64,
    compared: u64,
    matches: u64,
    observed_s: Vec<f64>,
    estimated_median_s: Vec<f64>,
    /// Per draw, the sum over fixed incidents of that draw's minutes.
    draw_sums: Vec<f64>,
}

impl Accumulator {
    fn add(&mut self, incident: &IncidentReport, draws: Option<&[f64]>) {
        self.incidents += 1;
        self.failures += 1 + incident.later_failures.len() as u64;
        *self.proposals.entry(incident.proposal.action.kind()).or_default() += 1;
        match incident.what_happened.resolved_by.as_deref() {
            Some("person") => self.person += 1,
            Some(_) => self.next_run += 1,
            None => self.open += 1,
        }
        if let Some(matches) = incident.proposal_matches_fix {
            self.compared += 1;
            self.matches += u64::from(matches);
        }
        if let (Some(observed), Some(draws)) = (incident.observed_time_to_fix_s, draws) {
            self.observed_s.push(observed as f64);
            self.estimated_median_s.push(incident.estimated_time_to_fix.median_s as f64);
            if self.draw_sums.is_empty() {
                self.draw_sums = vec![0.0; DRAWS];
            }
            for (sum, minutes) in self.draw_sums.iter_mut().zip(draws) {
                *sum += minutes * 60.0;
            }
        }
    }

    fn group(mut self, name: String) -> Group {
        let fixed = self.observed_s.len();
        self.observed_s.sort_by(f64::total_cmp);
        self.estimated_median_s.sort_by(f64::total_cmp);
        let mut means: Vec<f64> = self.draw_sums.iter().map(|sum| sum / fixed.max(1) as f64).collect();
        means.sort_by(f64::total_cmp);
        let some = |value: f64| (fixed > 0).then(|| value.round() as u64);
        Group {
            name,
            incidents: self.incidents,
            failures: self.failures,
            open: self.open,
            proposals: self.proposals,
            fixed_by_person: self.person,
            fixed_by_next_run: self.next_run,
            compared: self.compared,
            proposal_matches: self.matches,
            observed_mean_s: some(self.observed_s.iter().sum::<f64>() / fixed.max(1) as f64),
            observed_median_s: some(percentile(&self.observed_s, 0.5)),
            estimated_mean_s: some(percentile(&means, 0.5)),
            estimated_mean_interval_s: (fixed > 0)
                .then(|| [percentile(&means, 0.1).round() as u64, percentile(&means, 0.9).round() as u64]),
            estimated_median_s: some(percentile(&self.estimated_median_s, 0.5)),
        }
    }
}

/// Builds the summary one incident at a time.
pub struct SummaryBuilder<'a> {
    model: &'a OutcomeModel,
    overall: Accumulator,
    by_class: BTreeMap<FailureClass, Accumulator>,
    by_job: BTreeMap<String, Accumulator>,
    fixes: BTreeMap<FixKind, u64>,
    completeness: Completeness,
    jobs_read: u64,
    pub charts: ChartData,
}

impl<'a> SummaryBuilder<'a> {
    pub fn new(model: &'a OutcomeModel) -> SummaryBuilder<'a> {
        SummaryBuilder {
            model,
            overall: Accumulator::default(),
            by_class: BTreeMap::new(),
            by_job: BTreeMap::new(),
            fixes: BTreeMap::new(),
            completeness: Completeness::default(),
            jobs_read: 0,
            charts: ChartData::default(),
        }
    }

    pub fn add_job(&mut self, job: &str, notes: &JobNotes) {
        self.jobs_read += 1;
        let completeness = &mut self.completeness;
        if notes.history_truncated {
            completeness.history_truncated.add(job);
        }
        if notes.history_starts_in_window {
            completeness.history_starts_in_window.add(job);
        }
        if notes.job_gone {
            completeness.jobs_gone.add(job);
        }
        completeness.failures_without_logs += u64::from(notes.failures_without_logs);
        for table in &notes.unreadable_tables {
            completeness.unreadable_tables.add(&format!("{table} ({job})"));
        }
    }

    pub fn add_incident(&mut self, incident: &IncidentReport) {
        let draws = incident.observed_time_to_fix_s.map(|_| {
            self.model.draws(
                incident.diagnosis.class,
                &incident.proposal.action,
                &incident.estimated_time_to_fix.assumed,
                seed_of(&incident.incident_id),
            )
        });
        let draws = draws.as_deref();
        self.overall.add(incident, draws);
        self.by_class.entry(incident.diagnosis.class).or_default().add(incident, draws);
        self.by_job.entry(incident.job.clone()).or_default().add(incident, draws);
        *self.fixes.entry(incident.what_happened.fix).or_default() += 1;
        self.completeness.began_before_window += u64::from(incident.began_before_window);
        if let Some(observed) = incident.observed_time_to_fix_s {
            self.charts.observed_minutes.push(observed as f64 / 60.0);
            self.charts.estimated_minutes.push(incident.estimated_time_to_fix.median_s as f64 / 60.0);
        }
        let mut count = |at: &str, class: FailureClass| {
            if let Some(day) = parse_time(at).map(|time| time.date_naive()) {
                *self.charts.failures_per_day.entry(day).or_default().entry(class).or_default() += 1;
            }
        };
        count(&incident.failed_at, incident.diagnosis.class);
        for later in &incident.later_failures {
            count(&later.failed_at, later.class);
        }
    }

    pub fn finish(self, context: SummaryContext) -> (Summary, ChartData) {
        let mut completeness = self.completeness;
        completeness.throttled_retries = context.throttled_retries;
        completeness.partial = completeness.history_truncated.count > 0
            || completeness.history_starts_in_window.count > 0
            || completeness.failures_without_logs > 0
            || completeness.unreadable_tables.count > 0
            || completeness.jobs_gone.count > 0;
        let mut by_job: Vec<Group> = self.by_job.into_iter().map(|(name, acc)| acc.group(name)).collect();
        by_job.sort_by(|left, right| right.incidents.cmp(&left.incidents).then_with(|| left.name.cmp(&right.name)));
        let summary = Summary {
            window: context.window,
            observed_until: crate::backtest::asof::rfc3339(context.observed_until),
            mode: "shadow".to_string(),
            policy: context.policy,
            outcome_model: self.model.name().to_string(),
            jobs_read: self.jobs_read,
            jobs_with_incidents: by_job.len() as u64,
            overall: self.overall.group("all".to_string()),
            by_class: self.by_class.into_iter().map(|(class, acc)| acc.group(class.as_str().to_string())).collect(),
            by_job,
            fixes: self.fixes,
            completeness,
        };
        (summary, self.charts)
    }
}

/// What the summary says besides the incidents.
pub struct SummaryContext {
    pub window: Window,
    pub observed_until: chrono::DateTime<chrono::Utc>,
    pub policy: String,
    pub throttled_retries: u64,
}
