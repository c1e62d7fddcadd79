//! Schema drift from Data Catalog table versions.
//!
//! The question is not "did the table ever change" but "did it change since
//! the job last worked". The baseline is therefore the version that was
//! current when the newest successful run started (the newest version whose
//! `updated_at` is not after that run's `started_at`); when the history or
//! the timestamps cannot say, it is the previous version, and then no
//! version is called known-good, because nothing proves it worked.
//!
//! Column names are compared case-insensitively (the Glue catalog and Hive
//! lower-case them; a rename that only changes case is not drift), types
//! after trimming and lower-casing, and a duplicated column counts once (its
//! first occurrence). Every type change is breaking, widenings included:
//! Spark's Parquet reader on Glue fails on old files whose physical type no
//! longer matches the table (an `int` file read as `bigint` raises "Parquet
//! column cannot be converted"), so a widening in the catalog is exactly the
//! kind of change that breaks a job.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::core::evidence::{Column, RunSummary, TableEvidence, TableVersion};

/// Column names listed per category in a `Drift`.
const MAX_COLUMNS_LISTED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    #[default]
    None,
    /// Only columns added: harmless to readers that select by name.
    Additive,
    /// A column removed or its type changed.
    Breaking,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// `database.table`
    pub table: String,
    pub database: String,
    pub table_name: String,
    pub from_version: String,
    pub to_version: String,
    pub removed: Vec<String>,
    pub added: Vec<String>,
    pub type_changed: Vec<String>,
    pub kind: DriftKind,
    /// The version that was current at the last successful run, if known.
    pub known_good_version: Option<String>,
    /// Old and new type of each column in `type_changed`.
    #[serde(skip)]
    pub type_changes: Vec<TypeChange>,
}

/// One column whose type changed, for signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeChange {
    pub column: String,
    pub from_type: String,
    pub to_type: String,
}

/// Compare the newest version of `table` with the version current at the
/// last successful run. `None` when there is nothing to compare or no column
/// changed since then.
pub fn detect_drift(table: &TableEvidence, recent_runs: &[RunSummary]) -> Option<Drift> {
    let newest = table.versions.first()?;
    let last_success = last_success_started_at(recent_runs);
    let (baseline_index, proven_current_at_success) = baseline_index(&table.versions, last_success)?;
    if baseline_index == 0 {
        return None;
    }
    let baseline = table.versions.get(baseline_index)?;
    let comparison = compare_columns(&baseline.columns, &newest.columns);
    if comparison.is_empty() {
        return None;
    }
    let kind = if comparison.removed.is_empty() && comparison.type_changes.is_empty() {
        DriftKind::Additive
    } else {
        DriftKind::Breaking
    };
    let known_good_version =
        (proven_current_at_success && baseline.version_id != newest.version_id).then(|| baseline.version_id.clone());
    Some(Drift {
        table: format!("{}.{}", table.database, table.table),
        database: table.database.clone(),
        table_name: table.table.clone(),
        from_version: baseline.version_id.clone(),
        to_version: newest.version_id.clone(),
        removed: comparison.removed,
        added: comparison.added,
        type_changed: comparison.type_changes.iter().map(|change| change.column.clone()).collect(),
        kind,
        known_good_version,
        type_changes: comparison.type_changes,
    })
}

/// The start of the newest SUCCEEDED run with a readable timestamp.
fn last_success_started_at(recent_runs: &[RunSummary]) -> Option<DateTime<FixedOffset>> {
    recent_runs
        .iter()
        .filter(|run| run.state.eq_ignore_ascii_case("SUCCEEDED"))
        .filter_map(|run| parse_time(run.started_at.as_deref()))
        .max()
}

/// Index of the baseline version, and whether it is proven to have been
/// current at the last successful run.
fn baseline_index(versions: &[TableVersion], last_success: Option<DateTime<FixedOffset>>) -> Option<(usize, bool)> {
    if versions.len() < 2 {
        return None;
    }
    let Some(success_time) = last_success else {
        return Some((1, false));
    };
    let dated: Vec<(usize, DateTime<FixedOffset>)> = versions
        .iter()
        .enumerate()
        .filter_map(|(index, version)| parse_time(version.updated_at.as_deref()).map(|time| (index, time)))
        .collect();
    if dated.is_empty() {
        return Some((1, false));
    }
    // The version current at `success_time` is the most recently updated one
    // not after it; list order is a hint, timestamps decide.
    let current_at_success = dated
        .iter()
        .filter(|(_, time)| *time <= success_time)
        .max_by(|left, right| left.1.cmp(&right.1).then(right.0.cmp(&left.0)));
    match current_at_success {
        Some((index, _)) => Some((*index, true)),
        // Every dated version is newer than the last success: the oldest one
        // we have is the closest, but it is not proven to have worked.
        None => Some((versions.len() - 1, false)),
    }
}

fn parse_time(text: Option<&str>) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text?.trim()).ok()
}

#[derive(Debug, Default)]
struct ColumnComparison {
    removed: Vec<String>,
    added: Vec<String>,
    type_changes: Vec<TypeChange>,
}

impl ColumnComparison {
    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.type_changes.is_empty()
    }
}

/// Columns keyed by lower-cased name, first occurrence kept, in order.
/// Every column is compared, however wide the table: cutting versions to
/// their first N columns made a reordered or front-inserted wide table read
/// as a removed column, that is as breaking drift that allows a rollback.
/// The cost is linear (hash sets), and the request's own bounds
/// (`lenient::bounds`) cap the columns a version may carry.
fn normalised_columns(columns: &[Column]) -> Vec<(String, String)> {
    let mut normalised: Vec<(String, String)> = Vec::with_capacity(columns.len());
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    for column in columns {
        let name = column.name.trim().to_lowercase();
        if seen.insert(name.clone()) {
            let data_type: String = column.data_type.split_whitespace().collect::<String>().to_lowercase();
            normalised.push((name, data_type));
        }
    }
    normalised
}

fn compare_columns(baseline: &[Column], newest: &[Column]) -> ColumnComparison {
    let before = normalised_columns(baseline);
    let after = normalised_columns(newest);
    let after_by_name: std::collections::HashMap<&str, &str> =
        after.iter().map(|(name, data_type)| (name.as_str(), data_type.as_str())).collect();
    let before_names: std::collections::HashSet<&str> = before.iter().map(|(name, _)| name.as_str()).collect();
    let mut comparison = ColumnComparison::default();
    for (name, before_type) in &before {
        match after_by_name.get(name.as_str()) {
            None => comparison.removed.push(name.clone()),
            Some(after_type) if after_type != before_type => comparison.type_changes.push(TypeChange {
                column: name.clone(),
                from_type: before_type.clone(),
                to_type: (*after_type).to_string(),
            }),
            Some(_) => {}
        }
    }
    comparison.added =
        after.iter().filter(|(name, _)| !before_names.contains(name.as_str())).map(|(name, _)| name.clone()).collect();
    comparison.removed.truncate(MAX_COLUMNS_LISTED);
    comparison.added.truncate(MAX_COLUMNS_LISTED);
    comparison.type_changes.truncate(MAX_COLUMNS_LISTED);
    comparison
}

impl Drift {
    /// Human-readable lines for the diagnosis signals.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let versions = format!("version {} -> {}", self.from_version, self.to_version);
        for change in self.type_changes.iter().take(5) {
            lines.push(format!(
                "catalog: {} column {} {} -> {} in {versions}",
                self.table, change.column, change.from_type, change.to_type
            ));
        }
        if !self.removed.is_empty() {
            lines.push(format!("catalog: {} removed columns [{}] in {versions}", self.table, list(&self.removed)));
        }
        if !self.added.is_empty() {
            lines.push(format!("catalog: {} added columns [{}] in {versions}", self.table, list(&self.added)));
        }
        lines
    }

    /// Whether `lowercase_text` names a removed or type-changed column.
    pub fn breaking_column_named_in(&self, lowercase_text: &str) -> Option<&str> {
        self.removed
            .iter()
            .chain(self.type_changed.iter())
            .map(String::as_str)
            .find(|column| column.len() >= 2 && contains_word(lowercase_text, column))
    }
}

fn list(columns: &[String]) -> String {
    let shown: Vec<&str> = columns.iter().take(10).map(String::as_str).collect();
    let suffix = if columns.len() > shown.len() { ", ..." } else { "" };
    format!("{}{suffix}", shown.join(", "))
}

/// `needle` occurs in `haystack` not glued to other identifier characters.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let is_identifier = |character: char| character.is_alphanumeric() || character == '_';
    haystack.match_indices(needle).any(|(start, _)| {
        let before_ok = haystack[..start].chars().next_back().is_none_or(|character| !is_identifier(character));
        let after_ok =
            haystack[start + needle.len()..].chars().next().is_none_or(|character| !is_identifier(character));
        before_ok && after_ok
    })
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
