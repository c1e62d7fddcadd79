//! Evidence beyond the words of the error: how far the run got against its
//! history, whether a table the error says is missing is in the catalog
//! evidence, and the landmarks of the text (the exception chain's last
//! exception, Glue's error category, a kill exit code) named in the signals.
//!
//! - A run that failed within `EARLY_SHARE` of its usual successful run time
//!   never reached the bulk of its data: memory pressure or a run time
//!   limit, when only weak evidence (no specific rule) names them, is then
//!   withheld (`unknown`, escalated) rather than acted on.
//! - A "table not found" whose table is in the request's catalog evidence,
//!   with versions, exists: the job's identity cannot see it (Lake Formation,
//!   a resource link, another catalog), which is `permission_config`, not a
//!   missing source.

use crate::core::diagnosis::classifier::TextAnalysis;
use crate::core::diagnosis::opinion::SPECIFIC_RULE_SCORE;
use crate::core::diagnosis::text::EvidenceItem;
use crate::core::evidence::{DecideRequest, TableEvidence};
use crate::core::model::FailureClass;

/// A failure this early in the usual run time never reached its data.
pub const EARLY_SHARE: f64 = 0.1;
/// Successful recent runs needed for a usual run time.
const MIN_SUCCESSFUL_RUNS: usize = 2;
/// Rules that read "this table or object does not exist".
const MISSING_TABLE_RULES: [&str; 2] = ["catalog_or_resource_definition", "catalog_object_missing"];

/// The run's execution time and its usual successful one (median of recent successes).
pub fn run_progress(request: &DecideRequest) -> Option<(u64, u64)> {
    let execution_s = request.job_run.as_ref()?.execution_time_s?;
    let mut successful: Vec<u64> = request
        .history
        .recent_runs
        .iter()
        .filter(|run| run.state.eq_ignore_ascii_case("SUCCEEDED"))
        .filter_map(|run| run.execution_time_s)
        .filter(|seconds| *seconds > 0)
        .collect();
    if successful.len() < MIN_SUCCESSFUL_RUNS {
        return None;
    }
    successful.sort_unstable();
    Some((execution_s, successful[successful.len() / 2]))
}

/// Whether the class should be withheld because the run died too early for
/// it, with the signal that says so.
pub fn too_early_for(class: FailureClass, analysis: &TextAnalysis, request: &DecideRequest) -> Option<String> {
    if !matches!(class, FailureClass::ResourceExhaustion | FailureClass::Timeout) {
        return None;
    }
    if analysis.score(class) >= SPECIFIC_RULE_SCORE {
        return None;
    }
    let (execution_s, usual_s) = run_progress(request)?;
    ((execution_s as f64) < EARLY_SHARE * usual_s as f64).then(|| {
        format!(
            "run history: failed after {execution_s} s, {:.0}% of its usual {usual_s} s: too early for {class} on weak evidence; withheld",
            100.0 * execution_s as f64 / usual_s as f64
        )
    })
}

/// A table the missing-table evidence names that the catalog evidence holds.
pub fn named_table_that_exists<'request>(
    analysis: &TextAnalysis,
    request: &'request DecideRequest,
) -> Option<&'request TableEvidence> {
    let excerpts: Vec<String> = analysis
        .hits
        .iter()
        .filter(|hit| MISSING_TABLE_RULES.contains(&hit.rule.name))
        .map(|hit| hit.excerpt.to_ascii_lowercase())
        .collect();
    if excerpts.is_empty() {
        return None;
    }
    request.catalog.iter().filter(|table| !table.versions.is_empty()).find(|table| {
        let qualified = format!("{}.{}", table.database, table.table).to_ascii_lowercase();
        let name = table.table.to_ascii_lowercase();
        excerpts.iter().any(|excerpt| excerpt.contains(&qualified) || names_word(excerpt, &name))
    })
}

/// Whether `name` occurs in `text` as a whole identifier.
fn names_word(text: &str, name: &str) -> bool {
    if name.len() < 3 {
        return false;
    }
    let is_identifier = |character: char| character.is_ascii_alphanumeric() || character == '_';
    text.match_indices(name).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + name.len()..].chars().next();
        !before.is_some_and(is_identifier) && !after.is_some_and(is_identifier)
    })
}

/// Landmarks of the text worth a signal: the last exception of the chain,
/// Glue's error category, a kill exit code.
pub fn landmarks(items: &[EvidenceItem]) -> Vec<String> {
    let mut found = Vec::new();
    let mut chain: Vec<String> = Vec::new();
    let mut read: Vec<&str> = Vec::new();
    for item in items.iter().filter(|item| item.source != crate::core::model::TextSource::OutputLog) {
        // A JobRun message repeated as an error-log line is one chain, not two.
        if read.len() < 64 && read.contains(&item.text.as_str()) {
            continue;
        }
        read.push(&item.text);
        for name in exception_names(&item.text) {
            if chain.last().is_none_or(|last| last != name) && chain.len() < 16 {
                chain.push(name.to_string());
            }
        }
        let mentions_category_or_exit = ["ategory", "ATEGORY", "xit", "XIT"].iter().any(|cue| item.text.contains(cue));
        if !mentions_category_or_exit {
            continue;
        }
        let lowercase = item.text.to_ascii_lowercase();
        if let Some(start) = lowercase.find("error category:") {
            let category: String = item.text[start + 15..]
                .trim_start()
                .chars()
                .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
                .collect();
            found.push(format!("glue error category: {category}"));
        }
        for code in ["137", "143"] {
            let exit = [format!("exit code {code}"), format!("exit code is {code}"), format!("exit status: {code}")];
            if exit.iter().any(|pattern| lowercase.contains(pattern.as_str())) {
                found.push(format!("exit code {code}: the container was killed (SIGKILL/SIGTERM)"));
            }
        }
    }
    if chain.len() >= 2 {
        let last = chain.len().min(4);
        let shown: Vec<&str> = chain[chain.len() - last..].iter().map(String::as_str).collect();
        found.push(format!("exception chain: {} (last)", shown.join(" -> ")));
    }
    found.sort();
    found.dedup();
    found
}

/// The short names of the exception and error classes in `text`
/// (`java.io.FileNotFoundException` gives `FileNotFoundException`), in order.
fn exception_names(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let is_identifier = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$';
    let mut found: Vec<(usize, &str)> = Vec::new();
    for suffix in ["Exception", "Error"] {
        for (start, _) in text.match_indices(suffix) {
            let end = start + suffix.len();
            if bytes.get(end).is_some_and(|byte| is_identifier(*byte)) {
                continue;
            }
            let mut first = start;
            while first > 0 && is_identifier(bytes[first - 1]) {
                first -= 1;
            }
            if end - first > 5 {
                found.push((first, &text[first..end]));
            }
        }
    }
    found.sort_unstable_by_key(|(position, _)| *position);
    found.into_iter().map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_as_whole_identifiers() {
        assert!(names_word("table 'orders' not found", "orders"));
        assert!(!names_word("table 'orders_v2' not found", "orders"));
    }

    #[test]
    fn landmarks_name_the_chain_the_category_and_the_kill() {
        let item = EvidenceItem {
            source: crate::core::model::TextSource::JobRunErrorMessage,
            index: 0,
            text: "py4j.protocol.Py4JJavaError: x Caused by: org.apache.spark.SparkException: y Caused by: java.io.FileNotFoundException: z; Error Category: RESOURCE_NOT_FOUND_ERROR; Exit code is 137".into(),
        };
        let found = landmarks(&[item]);
        assert!(
            found.iter().any(|signal| signal.contains("Py4JJavaError -> SparkException -> FileNotFoundException")),
            "{found:?}"
        );
        assert!(found.iter().any(|signal| signal == "glue error category: RESOURCE_NOT_FOUND_ERROR"));
        assert!(found.iter().any(|signal| signal.starts_with("exit code 137")));
    }
}
