//! Unit tests of the drift detector: what changed, how bad it is, and
//! which version a rollback may return to.

use super::*;

fn column(name: &str, data_type: &str) -> Column {
    Column { name: name.to_string(), data_type: data_type.to_string() }
}

fn version(id: &str, updated_at: Option<&str>, columns: Vec<Column>) -> TableVersion {
    TableVersion { version_id: id.to_string(), updated_at: updated_at.map(str::to_string), columns }
}

fn table(versions: Vec<TableVersion>) -> TableEvidence {
    TableEvidence { database: "sales".to_string(), table: "orders".to_string(), versions }
}

fn succeeded(started_at: &str) -> RunSummary {
    RunSummary { state: "SUCCEEDED".to_string(), started_at: Some(started_at.to_string()), ..RunSummary::default() }
}

fn failed(started_at: &str) -> RunSummary {
    RunSummary { state: "FAILED".to_string(), started_at: Some(started_at.to_string()), ..RunSummary::default() }
}

fn base_columns() -> Vec<Column> {
    vec![column("id", "bigint"), column("amount", "double"), column("region", "string")]
}

#[test]
fn type_change_is_breaking_and_names_the_column() {
    let orders = table(vec![
        version(
            "4",
            Some("2026-11-29T01:10:00Z"),
            vec![column("id", "bigint"), column("amount", "string"), column("region", "string")],
        ),
        version("3", Some("2026-11-20T09:00:00Z"), base_columns()),
    ]);
    let drift = detect_drift(&orders, &[succeeded("2026-11-28T02:00:00Z")]).expect("drift");
    assert_eq!(drift.kind, DriftKind::Breaking);
    assert_eq!(drift.type_changed, vec!["amount"]);
    assert_eq!((drift.from_version.as_str(), drift.to_version.as_str()), ("3", "4"));
    assert_eq!(drift.known_good_version.as_deref(), Some("3"));
    assert_eq!(drift.table, "sales.orders");
    assert!(drift.describe()[0].contains("amount double -> string"));
}

#[test]
fn removed_column_is_breaking() {
    let orders = table(vec![
        version("2", None, vec![column("id", "bigint"), column("amount", "double")]),
        version("1", None, base_columns()),
    ]);
    let drift = detect_drift(&orders, &[]).expect("drift");
    assert_eq!(drift.kind, DriftKind::Breaking);
    assert_eq!(drift.removed, vec!["region"]);
    assert!(drift.added.is_empty());
}

#[test]
fn only_added_columns_is_additive() {
    let mut widened = base_columns();
    widened.push(column("channel", "string"));
    let orders = table(vec![version("2", None, widened), version("1", None, base_columns())]);
    let drift = detect_drift(&orders, &[]).expect("drift");
    assert_eq!(drift.kind, DriftKind::Additive);
    assert_eq!(drift.added, vec!["channel"]);
}

#[test]
fn baseline_is_the_version_current_at_the_last_success() {
    // v3 was already current at the last success; v4 (breaking) and v5
    // (additive on top) came after it. The comparison is v3 -> v5.
    let mut v5_columns = vec![column("id", "bigint"), column("amount", "decimal(10,2)")];
    v5_columns.push(column("channel", "string"));
    let orders = table(vec![
        version("5", Some("2026-11-29T01:30:00Z"), v5_columns),
        version("4", Some("2026-11-29T01:10:00Z"), vec![column("id", "bigint"), column("amount", "decimal(10,2)")]),
        version("3", Some("2026-11-20T09:00:00Z"), base_columns()),
        version("2", Some("2026-11-01T09:00:00Z"), vec![column("id", "int")]),
    ]);
    let runs = [failed("2026-11-29T02:00:00Z"), succeeded("2026-11-28T02:00:00Z"), succeeded("2026-11-02T02:00:00Z")];
    let drift = detect_drift(&orders, &runs).expect("drift");
    assert_eq!(drift.from_version, "3");
    assert_eq!(drift.known_good_version.as_deref(), Some("3"));
    assert_eq!(drift.removed, vec!["region"]);
    assert_eq!(drift.type_changed, vec!["amount"]);
    assert_eq!(drift.added, vec!["channel"]);
}

#[test]
fn no_change_since_the_last_success_is_no_drift() {
    let orders = table(vec![
        version("4", Some("2026-11-20T09:00:00Z"), vec![column("id", "string")]),
        version("3", Some("2026-11-10T09:00:00Z"), base_columns()),
    ]);
    assert_eq!(detect_drift(&orders, &[succeeded("2026-11-28T02:00:00Z")]), None);
}

#[test]
fn unknown_history_compares_with_the_previous_version_without_a_known_good_one() {
    let orders = table(vec![
        version("4", Some("2026-11-29T01:10:00Z"), vec![column("id", "string")]),
        version("3", Some("2026-11-20T09:00:00Z"), vec![column("id", "bigint")]),
    ]);
    let drift = detect_drift(&orders, &[failed("2026-11-28T02:00:00Z")]).expect("drift");
    assert_eq!(drift.from_version, "3");
    assert_eq!(drift.known_good_version, None);
}

#[test]
fn missing_timestamps_fall_back_to_the_previous_version() {
    let orders = table(vec![
        version("4", None, vec![column("id", "string")]),
        version("3", Some("not a time"), vec![column("id", "bigint")]),
    ]);
    let drift = detect_drift(&orders, &[succeeded("2026-11-28T02:00:00Z")]).expect("drift");
    assert_eq!(drift.from_version, "3");
    assert_eq!(drift.known_good_version, None);
}

#[test]
fn every_version_newer_than_the_last_success_has_no_known_good_version() {
    let orders = table(vec![
        version("4", Some("2026-11-29T01:10:00Z"), vec![column("id", "string")]),
        version("3", Some("2026-11-29T00:10:00Z"), vec![column("id", "bigint")]),
    ]);
    let drift = detect_drift(&orders, &[succeeded("2026-11-01T02:00:00Z")]).expect("drift");
    assert_eq!(drift.known_good_version, None);
}

#[test]
fn single_version_or_empty_table_has_no_drift() {
    assert_eq!(detect_drift(&table(vec![version("1", None, base_columns())]), &[]), None);
    assert_eq!(detect_drift(&table(Vec::new()), &[]), None);
}

#[test]
fn case_differences_and_duplicates_are_not_drift() {
    let orders = table(vec![
        version(
            "2",
            None,
            vec![
                column("ID", "BIGINT"),
                column("Amount", "double"),
                column("amount", "string"),
                column("region", "string"),
            ],
        ),
        version("1", None, base_columns()),
    ]);
    assert_eq!(detect_drift(&orders, &[]), None);
}

#[test]
fn whitespace_inside_types_is_not_drift() {
    let orders = table(vec![
        version("2", None, vec![column("amount", "decimal(10, 2)")]),
        version("1", None, vec![column("amount", "decimal(10,2)")]),
    ]);
    assert_eq!(detect_drift(&orders, &[]), None);
}

#[test]
fn widening_counts_as_breaking() {
    let orders = table(vec![
        version("2", None, vec![column("quantity", "bigint")]),
        version("1", None, vec![column("quantity", "int")]),
    ]);
    assert_eq!(detect_drift(&orders, &[]).expect("drift").kind, DriftKind::Breaking);
}

#[test]
fn breaking_column_is_found_as_a_whole_word() {
    let orders = table(vec![
        version("2", None, vec![column("time", "string")]),
        version("1", None, vec![column("time", "bigint")]),
    ]);
    let drift = detect_drift(&orders, &[]).expect("drift");
    assert_eq!(drift.breaking_column_named_in("column: [time], expected: string"), Some("time"));
    assert_eq!(drift.breaking_column_named_in("timestamp overflow"), None);
}

#[test]
fn wide_tables_are_compared_whole_so_reordering_or_inserting_in_front_is_not_breaking() {
    let wide: Vec<Column> = (0..2_500).map(|index| column(&format!("c{index}"), "string")).collect();
    let mut reordered = wide.clone();
    reordered.reverse();
    let mut inserted = vec![column("added_first", "string")];
    inserted.extend(wide.iter().cloned());
    for (newest, expected) in [(reordered, DriftKind::None), (inserted, DriftKind::Additive)] {
        let table = table(vec![version("2", None, newest), version("1", None, wide.clone())]);
        let kind = detect_drift(&table, &[]).map_or(DriftKind::None, |drift| drift.kind);
        assert_eq!(kind, expected);
    }
    let mut dropped_last = wide.clone();
    dropped_last.pop();
    let table = table(vec![version("2", None, dropped_last), version("1", None, wide)]);
    let drift = detect_drift(&table, &[]).expect("a column beyond 2,000 was removed");
    assert_eq!((drift.kind, drift.removed.clone()), (DriftKind::Breaking, vec!["c2499".to_string()]));
}
