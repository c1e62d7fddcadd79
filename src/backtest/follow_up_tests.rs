use super::*;
use crate::core::evidence::Column;

fn at(text: &str) -> DateTime<Utc> {
    crate::backtest::asof::parse_time(text).unwrap()
}

fn run(id: &str, state: JobRunState, started: &str, minutes: i64) -> JobRun {
    let started_on = at(started);
    JobRun {
        id: id.into(),
        job_name: "orders".into(),
        state,
        arguments: BTreeMap::from([
            ("--day".to_string(), started[..10].to_string()),
            ("--source_path".to_string(), "s3://lake/raw/".to_string()),
        ]),
        error_message: None,
        worker_type: Some("G.1X".into()),
        number_of_workers: Some(10),
        execution_time_s: Some(minutes as u64 * 60),
        timeout_minutes: Some(60),
        started_on: Some(started_on),
        completed_on: Some(started_on + chrono::Duration::minutes(minutes)),
        attempt: 0,
        previous_run_id: None,
    }
}

use JobRunState::{Failed, Succeeded};

fn daily_history() -> Vec<JobRun> {
    vec![
        run("ok1", Succeeded, "2026-11-01T02:00:00Z", 20),
        run("ok2", Succeeded, "2026-11-02T02:00:00Z", 20),
        run("f1", Failed, "2026-11-03T02:00:00Z", 5),
        run("f2", Failed, "2026-11-04T02:00:00Z", 5),
        run("fix", Succeeded, "2026-11-04T09:00:00Z", 20),
        run("ok3", Succeeded, "2026-11-05T02:00:00Z", 20),
        run("f3", Failed, "2026-11-06T02:00:00Z", 5),
    ]
}

#[test]
fn failures_in_a_row_form_one_streak_ended_by_the_next_success() {
    let found = streaks(&daily_history(), at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z"));
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].failures.iter().map(|run| run.id.as_str()).collect::<Vec<_>>(), vec!["f1", "f2"]);
    assert_eq!(found[0].fix.as_ref().map(|run| run.id.as_str()), Some("fix"));
    assert_eq!(found[1].failures[0].id, "f3");
    assert!(found[1].fix.is_none(), "still failing");
    // A window opening between f1 and f2 starts the streak at f2 and says it began earlier.
    let later = streaks(&daily_history(), at("2026-11-04T00:00:00Z"), at("2026-11-05T00:00:00Z"));
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].failures[0].id, "f2");
    assert!(later[0].began_before_window);
    assert!(streaks(&daily_history(), at("2026-11-07T00:00:00Z"), at("2026-11-08T00:00:00Z")).is_empty());
}

fn context<'a>(runs: &'a [JobRun], tables: &'a BTreeMap<String, Vec<TableVersion>>) -> FollowUpContext<'a> {
    FollowUpContext { runs, tables, bad_records_argument: "--bad_records_path" }
}

#[test]
fn the_next_run_with_only_routine_argument_changes_heals_by_itself() {
    let history = daily_history();
    let streak = &streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z"))[0];
    let tables = BTreeMap::new();
    let next = follow_up(streak, &context(&history, &tables));
    assert_eq!(next.fix, FixKind::NextRun, "--day changes every run: {:?}", next.changes);
    assert_eq!(next.resolved_by.as_deref(), Some("next_run"));
    // From the end of f1 (02:05 on the 3rd) to the end of the fix (09:20 on the 4th).
    assert_eq!(next.time_to_fix_s, Some((24 * 60 + 7 * 60 + 15) * 60));
    assert!(FixKind::NextRun.matching_actions().contains(&ActionKind::Retry));
    assert!(!FixKind::NextRun.matching_actions().contains(&ActionKind::Escalate));
}

#[test]
fn more_workers_or_a_new_argument_in_the_fixing_run_is_a_persons_fix() {
    let mut history = daily_history();
    history[4].number_of_workers = Some(20);
    let streak = streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z")).remove(0);
    let tables = BTreeMap::new();
    let next = follow_up(&streak, &context(&history, &tables));
    assert_eq!(next.fix, FixKind::CapacityRaised);
    assert_eq!(next.resolved_by.as_deref(), Some("person"));

    let mut history = daily_history();
    history[4].arguments.insert("--bad_records_path".into(), "s3://q/".into());
    let streak = streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z")).remove(0);
    let next = follow_up(&streak, &context(&history, &tables));
    assert_eq!(next.fix, FixKind::BadRecordsDiverted);
    assert_eq!(next.changes.arguments[0].after.as_deref(), Some("s3://q/"));

    let mut history = daily_history();
    history[4].arguments.insert("--source_path".into(), "s3://lake/raw-v2/".into());
    let streak = streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z")).remove(0);
    assert_eq!(follow_up(&streak, &context(&history, &tables)).fix, FixKind::ConfigurationChanged);
}

#[test]
fn a_table_version_restoring_earlier_columns_is_a_schema_rollback() {
    let history = daily_history();
    let streak = streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z")).remove(0);
    let columns = |amount: &str| vec![Column { name: "amount".into(), data_type: amount.into() }];
    let version = |id: &str, time: &str, amount: &str| TableVersion {
        version_id: id.into(),
        updated_at: Some(time.into()),
        columns: columns(amount),
    };
    let tables = BTreeMap::from([(
        "sales.orders".to_string(),
        vec![
            version("5", "2026-11-04T08:30:00Z", "double"),
            version("4", "2026-11-03T01:00:00Z", "string"),
            version("3", "2026-10-01T00:00:00Z", "double"),
        ],
    )]);
    let next = follow_up(&streak, &context(&history, &tables));
    assert_eq!(next.fix, FixKind::SchemaRolledBack);
    assert_eq!(next.changes.tables[0].rolled_back_to.as_deref(), Some("3"));
    assert_eq!(next.changes.tables[0].versions, vec!["5".to_string()]);

    let mut edited = tables.clone();
    if let Some(versions) = edited.get_mut("sales.orders") {
        versions[0].columns = columns("decimal(10,2)");
    }
    assert_eq!(follow_up(&streak, &context(&history, &edited)).fix, FixKind::TableChanged);
}

#[test]
fn glue_retrying_its_own_run_is_the_jobs_own_healing() {
    let mut history = daily_history();
    history[4].attempt = 1;
    history[4].previous_run_id = Some("f2".into());
    let streak = streaks(&history, at("2026-11-01T00:00:00Z"), at("2026-11-07T00:00:00Z")).remove(0);
    let tables = BTreeMap::new();
    let next = follow_up(&streak, &context(&history, &tables));
    assert_eq!(next.fix, FixKind::GlueRetry);
    assert_eq!(next.resolved_by.as_deref(), Some("next_run"));
}
