//! The account as it was at a past failure, from what it says now: run
//! history as the daemon would have read it then (only runs started before
//! the failure, a run still going shown as RUNNING), the catalog versions
//! that existed then, the source objects that had landed by then, and the
//! EventBridge event Glue emitted. Pure functions over what was read.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::core::event::{EventEnvelope, GLUE_SOURCE, JOB_STATE_CHANGE, JobRunState};
use crate::core::evidence::TableVersion;
use crate::daemon::gather::TABLE_VERSIONS;
use crate::ports::{JobRun, ObjectSummary};

/// When a run ended: its completion time, else its start plus its
/// execution time, else its start.
pub fn ended_at(run: &JobRun) -> Option<DateTime<Utc>> {
    run.completed_on.or_else(|| {
        let started = run.started_on?;
        Some(started + Duration::seconds(run.execution_time_s.map_or(0, |seconds| seconds as i64)))
    })
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The job's runs as GetJobRuns would have listed them at `at`, newest
/// first: runs started later are not there yet, and a run that had not
/// ended by then is RUNNING, without an end or an error.
pub fn history_as_of(runs_newest_first: &[JobRun], at: DateTime<Utc>) -> Vec<JobRun> {
    runs_newest_first
        .iter()
        .filter(|run| run.started_on.is_some_and(|started| started <= at))
        .map(|run| {
            if ended_at(run).is_some_and(|ended| ended <= at) {
                return run.clone();
            }
            JobRun {
                state: JobRunState::Running,
                error_message: None,
                execution_time_s: None,
                completed_on: None,
                ..run.clone()
            }
        })
        .collect()
}

/// What GetTableVersions would have answered at `at` (newest first, at most
/// the daemon's TABLE_VERSIONS), and whether that view is certain: versions
/// the catalog gives no time for, newer than the first dated one at or
/// before `at`, cannot be placed and are left out.
pub fn versions_as_of(versions_newest_first: &[TableVersion], at: DateTime<Utc>) -> (Vec<TableVersion>, bool) {
    let mut kept = Vec::new();
    let mut certain = true;
    let mut reached = false;
    for version in versions_newest_first {
        let time = version.updated_at.as_deref().and_then(parse_time);
        match (reached, time) {
            (false, Some(time)) if time > at => continue,
            (false, Some(_)) => reached = true,
            (false, None) => {
                certain = false;
                continue;
            }
            (true, _) => {}
        }
        kept.push(version.clone());
        if kept.len() == TABLE_VERSIONS as usize {
            break;
        }
    }
    (kept, certain)
}

/// Versions created after `after` and at or before `until`, oldest first.
pub fn versions_between(
    versions_newest_first: &[TableVersion],
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<TableVersion> {
    let mut between: Vec<TableVersion> = versions_newest_first
        .iter()
        .filter(|version| {
            version.updated_at.as_deref().and_then(parse_time).is_some_and(|time| after < time && time <= until)
        })
        .cloned()
        .collect();
    between.reverse();
    between
}

/// The source objects that had landed by `at` (modified at or before it).
/// Objects overwritten or deleted since are not seen: for an append-only
/// source this is exact, otherwise it can only make the source look older.
pub fn objects_as_of(objects: &[ObjectSummary], at: DateTime<Utc>) -> Vec<ObjectSummary> {
    objects.iter().filter(|object| object.last_modified.is_some_and(|modified| modified <= at)).cloned().collect()
}

/// The "Glue Job State Change" event Glue emitted for the failed run, in the
/// shape EventBridge delivers it to the daemon. Its id is not recoverable;
/// a stable stand-in names the run.
pub fn failure_event(run: &JobRun, at: DateTime<Utc>, region: Option<&str>, account: Option<&str>) -> EventEnvelope {
    EventEnvelope {
        version: Some("0".to_string()),
        id: Some(format!("backtest-{}", run.id)),
        detail_type: Some(JOB_STATE_CHANGE.to_string()),
        source: Some(GLUE_SOURCE.to_string()),
        account: account.map(str::to_string),
        time: Some(rfc3339(at)),
        region: region.map(str::to_string),
        resources: Vec::new(),
        detail: json!({
            "jobName": run.job_name,
            "severity": "ERROR",
            "state": run.state.as_str(),
            "jobRunId": run.id,
            "message": run.error_message.clone().unwrap_or_default(),
        }),
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::core::event::{Interpretation, interpret};

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    fn run(id: &str, state: JobRunState, started: &str, ended: Option<&str>) -> JobRun {
        JobRun {
            id: id.into(),
            job_name: "orders".into(),
            state,
            arguments: BTreeMap::new(),
            error_message: state.is_failure().then(|| "boom".to_string()),
            worker_type: None,
            number_of_workers: None,
            execution_time_s: Some(600),
            timeout_minutes: None,
            started_on: Some(at(started)),
            completed_on: ended.map(at),
            attempt: 0,
            previous_run_id: None,
        }
    }

    fn version(id: &str, time: Option<&str>) -> TableVersion {
        TableVersion { version_id: id.into(), updated_at: time.map(str::to_string), columns: vec![] }
    }

    #[test]
    fn history_shows_only_what_had_started_and_what_had_ended() {
        let runs = vec![
            run("later", JobRunState::Succeeded, "2026-11-03T02:00:00Z", Some("2026-11-03T02:20:00Z")),
            run("overlap", JobRunState::Succeeded, "2026-11-02T02:05:00Z", Some("2026-11-02T02:40:00Z")),
            run("failed", JobRunState::Failed, "2026-11-02T02:00:00Z", Some("2026-11-02T02:10:00Z")),
            run("earlier", JobRunState::Succeeded, "2026-11-01T02:00:00Z", Some("2026-11-01T02:20:00Z")),
        ];
        let seen = history_as_of(&runs, at("2026-11-02T02:10:00Z"));
        let states: Vec<(&str, JobRunState)> = seen.iter().map(|run| (run.id.as_str(), run.state)).collect();
        assert_eq!(
            states,
            vec![
                ("overlap", JobRunState::Running),
                ("failed", JobRunState::Failed),
                ("earlier", JobRunState::Succeeded)
            ]
        );
        assert_eq!(seen[0].execution_time_s, None);
    }

    #[test]
    fn catalog_versions_created_after_the_failure_are_not_seen() {
        let versions = vec![
            version("5", Some("2026-11-04T00:00:00Z")),
            version("4", Some("2026-11-02T01:00:00Z")),
            version("3", Some("2026-10-01T00:00:00Z")),
            version("2", None),
        ];
        let (seen, certain) = versions_as_of(&versions, at("2026-11-02T02:10:00Z"));
        assert_eq!(seen.iter().map(|v| v.version_id.as_str()).collect::<Vec<_>>(), vec!["4", "3", "2"]);
        assert!(certain);
        let undated = vec![version("9", None), version("8", Some("2026-10-01T00:00:00Z"))];
        let (seen, certain) = versions_as_of(&undated, at("2026-11-02T00:00:00Z"));
        assert_eq!(seen.len(), 1);
        assert!(!certain, "an undated newer version cannot be placed");
        let between = versions_between(&versions, at("2026-11-02T02:10:00Z"), at("2026-11-05T00:00:00Z"));
        assert_eq!(between.iter().map(|v| v.version_id.as_str()).collect::<Vec<_>>(), vec!["5"]);
    }

    #[test]
    fn the_reconstructed_event_is_a_failure_the_daemon_would_work_on() {
        let failed = run("jr_1", JobRunState::Timeout, "2026-11-02T02:00:00Z", Some("2026-11-02T03:00:00Z"));
        let event = failure_event(&failed, at("2026-11-02T03:00:00Z"), Some("eu-west-1"), None);
        match interpret(&event) {
            Ok(Interpretation::Failure(change)) => {
                assert_eq!((change.job_name.as_str(), change.job_run_id.as_str()), ("orders", "jr_1"));
                assert_eq!(change.state, JobRunState::Timeout);
            }
            other => panic!("not a failure: {other:?}"),
        }
        assert_eq!(event.time.as_deref(), Some("2026-11-02T03:00:00Z"));
    }

    #[test]
    fn sources_as_of_a_failure_keep_what_had_landed() {
        let object =
            |key: &str, time: &str| ObjectSummary { key: key.into(), size_bytes: 1, last_modified: Some(at(time)) };
        let objects = vec![object("a", "2026-11-01T00:00:00Z"), object("b", "2026-11-03T00:00:00Z")];
        let seen = objects_as_of(&objects, at("2026-11-02T00:00:00Z"));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].key, "a");
    }
}
