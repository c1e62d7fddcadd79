//! What really happened after a failure, read from the same history: the
//! failures of a job that belong together (a streak, from a failure until
//! the job next succeeds), the run that ended it, and whether a person
//! changed something before it: the job's arguments or capacity (the fixing
//! run compared with the failed one) or a table it uses (catalog versions
//! created between the failure and the fix). Pure functions.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backtest::asof::{ended_at, versions_as_of, versions_between};
use crate::core::event::JobRunState;
use crate::core::evidence::TableVersion;
use crate::core::model::ActionKind;
use crate::ports::JobRun;
use crate::sim::config::dpu_per_worker;

/// Failures of one job in a row, the first inside the window, and the run
/// that ended them.
#[derive(Debug, Clone, PartialEq)]
pub struct Streak {
    /// Oldest first.
    pub failures: Vec<JobRun>,
    /// The first run that succeeded after the first failure ended.
    pub fix: Option<JobRun>,
    /// The job was already failing before the window opened.
    pub began_before_window: bool,
}

/// Group a job's runs (any order) into streaks whose first failure ended
/// inside `[from, to)`. Failures before the window only mark the streak
/// they open as begun before it; runs that are neither failures nor
/// successes (STOPPED, still running) neither join nor end a streak.
pub fn streaks(runs: &[JobRun], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Streak> {
    let mut ordered: Vec<&JobRun> = runs.iter().filter(|run| run.started_on.is_some()).collect();
    ordered.sort_by_key(|run| (run.started_on, run.id.clone()));
    let mut found = Vec::new();
    let mut open: Option<Streak> = None;
    let mut failing_before_window = false;
    for run in ordered {
        let Some(ended) = ended_at(run) else { continue };
        if run.state.is_failure() {
            match open.as_mut() {
                Some(streak) => streak.failures.push(run.clone()),
                None if ended < from => failing_before_window = true,
                None if ended < to => {
                    open = Some(Streak {
                        failures: vec![run.clone()],
                        fix: None,
                        began_before_window: failing_before_window,
                    });
                }
                None => {}
            }
        } else if run.state == JobRunState::Succeeded {
            let first_failure_end = open.as_ref().and_then(|streak| streak.failures.first()).and_then(ended_at);
            match (open.take(), first_failure_end) {
                (Some(mut streak), Some(failed_at)) if run.started_on.is_some_and(|started| started >= failed_at) => {
                    streak.fix = Some(run.clone());
                    found.push(streak);
                }
                (still_open, _) => open = still_open,
            }
            if open.is_none() {
                failing_before_window = false;
            }
        }
    }
    found.extend(open);
    found
}

/// How the failure was fixed, as far as history shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// A table the job uses got a version whose columns are those of an
    /// earlier version (someone rolled its schema back).
    SchemaRolledBack,
    /// The fixing run had more DPUs (workers or worker type) or a longer timeout.
    CapacityRaised,
    /// The fixing run diverted bad records (the bad-records argument appeared).
    BadRecordsDiverted,
    /// A table the job uses changed otherwise.
    TableChanged,
    /// The fixing run's arguments or capacity differ otherwise.
    ConfigurationChanged,
    /// Glue's own retry of the failed run succeeded.
    GlueRetry,
    /// The job's next run succeeded with nothing changed.
    NextRun,
    /// The job has not succeeded since.
    NotFixed,
}

impl FixKind {
    pub const ALL: [FixKind; 8] = [
        FixKind::SchemaRolledBack,
        FixKind::CapacityRaised,
        FixKind::BadRecordsDiverted,
        FixKind::TableChanged,
        FixKind::ConfigurationChanged,
        FixKind::GlueRetry,
        FixKind::NextRun,
        FixKind::NotFixed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FixKind::SchemaRolledBack => "schema_rolled_back",
            FixKind::CapacityRaised => "capacity_raised",
            FixKind::BadRecordsDiverted => "bad_records_diverted",
            FixKind::TableChanged => "table_changed",
            FixKind::ConfigurationChanged => "configuration_changed",
            FixKind::GlueRetry => "glue_retry",
            FixKind::NextRun => "next_run",
            FixKind::NotFixed => "not_fixed",
        }
    }

    /// The actions that would have done what fixed it; empty when unfixed.
    /// A fix that needed a change etl-medic cannot make (a table edited, an
    /// argument changed) is matched by escalating it to a person.
    pub fn matching_actions(self) -> &'static [ActionKind] {
        match self {
            FixKind::SchemaRolledBack => &[ActionKind::RollbackSchema],
            FixKind::CapacityRaised => &[ActionKind::RetryWithMoreCapacity],
            FixKind::BadRecordsDiverted => &[ActionKind::QuarantineBadRecords],
            FixKind::TableChanged | FixKind::ConfigurationChanged => &[ActionKind::Escalate],
            FixKind::GlueRetry | FixKind::NextRun => {
                &[ActionKind::LogAndWait, ActionKind::Retry, ActionKind::WaitAndRetry]
            }
            FixKind::NotFixed => &[],
        }
    }

    /// Who resolved it, in the words of spec/experience.md.
    pub fn resolved_by(self) -> Option<&'static str> {
        match self {
            FixKind::GlueRetry | FixKind::NextRun => Some("next_run"),
            FixKind::NotFixed => None,
            _ => Some("person"),
        }
    }
}

/// One argument that differs between the failed run and the fixing run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgumentChange {
    pub key: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Capacity of the failed run and of the fixing run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityChange {
    pub worker_type: [Option<String>; 2],
    pub number_of_workers: [Option<u32>; 2],
    pub timeout_minutes: [Option<u64>; 2],
}

/// Versions of one table created between the failure and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChange {
    pub table: String,
    pub versions: Vec<String>,
    /// The earlier version whose columns the last new version restored.
    pub rolled_back_to: Option<String>,
}

/// What history shows between the failure and the fix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Changes {
    pub arguments: Vec<ArgumentChange>,
    pub capacity: Option<CapacityChange>,
    pub tables: Vec<TableChange>,
}

/// What happened next, for one streak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub fix: FixKind,
    pub resolved_by: Option<String>,
    pub fixed_by_run: Option<String>,
    pub fixed_at: Option<String>,
    /// Seconds from the first failure to the end of the fixing run.
    pub time_to_fix_s: Option<u64>,
    pub changes: Changes,
}

/// Everything `follow_up` looks at besides the streak.
pub struct FollowUpContext<'a> {
    /// Every run of the job read (any order), for arguments that change run to run.
    pub runs: &'a [JobRun],
    /// Versions of each table the job uses, newest first, as read now.
    pub tables: &'a BTreeMap<String, Vec<TableVersion>>,
    /// The argument a bad-records rerun sets (`[safety] bad_records_argument`).
    pub bad_records_argument: &'a str,
}

pub fn follow_up(streak: &Streak, context: &FollowUpContext<'_>) -> FollowUp {
    let Some(first) = streak.failures.first() else {
        return not_fixed();
    };
    let Some(failed_at) = ended_at(first) else { return not_fixed() };
    let Some(fix_run) = streak.fix.as_ref() else { return not_fixed() };
    let fixed_at = ended_at(fix_run);
    let fix_started = fix_run.started_on.unwrap_or(failed_at);
    let volatile = volatile_arguments(context.runs, failed_at);
    let arguments = argument_changes(first, fix_run, &volatile);
    let capacity = capacity_change(first, fix_run);
    let tables: Vec<TableChange> = context
        .tables
        .iter()
        .filter_map(|(name, versions)| table_change(name, versions, failed_at, fix_started))
        .collect();
    let glue_retry = fix_run.previous_run_id.is_some() && fix_run.attempt > 0;
    let raised = capacity.as_ref().is_some_and(capacity_raised);
    let fix = if tables.iter().any(|change| change.rolled_back_to.is_some()) {
        FixKind::SchemaRolledBack
    } else if raised {
        FixKind::CapacityRaised
    } else if arguments.iter().any(|change| change.key == context.bad_records_argument && change.after.is_some()) {
        FixKind::BadRecordsDiverted
    } else if !tables.is_empty() {
        FixKind::TableChanged
    } else if !arguments.is_empty() || capacity.is_some() {
        FixKind::ConfigurationChanged
    } else if glue_retry {
        FixKind::GlueRetry
    } else {
        FixKind::NextRun
    };
    FollowUp {
        fix,
        resolved_by: fix.resolved_by().map(str::to_string),
        fixed_by_run: Some(fix_run.id.clone()),
        fixed_at: fixed_at.map(crate::backtest::asof::rfc3339),
        time_to_fix_s: fixed_at.map(|fixed| u64::try_from((fixed - failed_at).num_seconds()).unwrap_or(0)),
        changes: Changes { arguments, capacity, tables },
    }
}

fn not_fixed() -> FollowUp {
    FollowUp {
        fix: FixKind::NotFixed,
        resolved_by: None,
        fixed_by_run: None,
        fixed_at: None,
        time_to_fix_s: None,
        changes: Changes::default(),
    }
}

/// Arguments whose value differs among the job's last runs before the
/// failure (dates, batch ids): a new value of one of them is routine.
fn volatile_arguments(runs: &[JobRun], before: DateTime<Utc>) -> BTreeSet<String> {
    let mut earlier: Vec<&JobRun> =
        runs.iter().filter(|run| run.started_on.is_some_and(|started| started < before)).collect();
    earlier.sort_by_key(|run| std::cmp::Reverse(run.started_on));
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for run in earlier.iter().take(10) {
        for (key, value) in &run.arguments {
            values.entry(key.as_str()).or_default().insert(value.as_str());
        }
    }
    values.into_iter().filter(|(_, seen)| seen.len() > 1).map(|(key, _)| key.to_string()).collect()
}

fn argument_changes(failed: &JobRun, fix: &JobRun, volatile: &BTreeSet<String>) -> Vec<ArgumentChange> {
    let keys: BTreeSet<&String> = failed.arguments.keys().chain(fix.arguments.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let before = failed.arguments.get(key);
            let after = fix.arguments.get(key);
            let routine = before.is_some() && after.is_some() && volatile.contains(key);
            (before != after && !routine).then(|| ArgumentChange {
                key: key.clone(),
                before: before.cloned(),
                after: after.cloned(),
            })
        })
        .collect()
}

fn capacity_change(failed: &JobRun, fix: &JobRun) -> Option<CapacityChange> {
    let same = failed.worker_type == fix.worker_type
        && failed.number_of_workers == fix.number_of_workers
        && failed.timeout_minutes == fix.timeout_minutes;
    (!same).then(|| CapacityChange {
        worker_type: [failed.worker_type.clone(), fix.worker_type.clone()],
        number_of_workers: [failed.number_of_workers, fix.number_of_workers],
        timeout_minutes: [failed.timeout_minutes, fix.timeout_minutes],
    })
}

fn dpu(worker_type: Option<&str>, workers: Option<u32>) -> Option<f64> {
    Some(dpu_per_worker(worker_type?)? * f64::from(workers?))
}

fn capacity_raised(change: &CapacityChange) -> bool {
    let before = dpu(change.worker_type[0].as_deref(), change.number_of_workers[0]);
    let after = dpu(change.worker_type[1].as_deref(), change.number_of_workers[1]);
    let more_dpu = matches!((before, after), (Some(before), Some(after)) if after > before);
    let longer = matches!(change.timeout_minutes, [Some(before), Some(after)] if after > before);
    more_dpu || longer
}

fn table_change(
    name: &str,
    versions_newest_first: &[TableVersion],
    failed_at: DateTime<Utc>,
    fix_started: DateTime<Utc>,
) -> Option<TableChange> {
    let created = versions_between(versions_newest_first, failed_at, fix_started);
    let last = created.last()?;
    let (then, _) = versions_as_of(versions_newest_first, failed_at);
    let rolled_back_to = then
        .iter()
        .skip(1)
        .find(|earlier| !earlier.columns.is_empty() && earlier.columns == last.columns)
        .map(|earlier| earlier.version_id.clone());
    Some(TableChange {
        table: name.to_string(),
        versions: created.iter().map(|version| version.version_id.clone()).collect(),
        rolled_back_to,
    })
}

#[cfg(test)]
#[path = "follow_up_tests.rs"]
mod tests;
