//! S3 objects that the evidence names as bad input.
//!
//! The quarantine action moves offending objects aside before a retry. It
//! may only move what the evidence itself names: an `s3://` URI on a line
//! where a data-quality rule fired ("Malformed records ... in file
//! s3://bucket/key.csv"). Prefixes (ending in `/`) are not objects and are
//! never listed, the list is bounded, and each URI is cut at the first
//! character that cannot belong to it in a log line (quotes, brackets,
//! commas, whitespace) with trailing punctuation removed.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use crate::core::diagnosis::classifier::TextAnalysis;
use crate::core::diagnosis::text::EvidenceItem;
use crate::core::model::FailureClass;

/// Objects listed per incident.
pub const MAX_BAD_OBJECTS: usize = 16;
/// Longest URI accepted (S3 keys are at most 1024 bytes, plus scheme and bucket).
const MAX_URI_BYTES: usize = 1100;

static S3_URI: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r#"\bs3[an]?://[a-z0-9][a-z0-9.\-]{1,62}/[^\s'"\]\[)(,;<>{}|`]+"#)
        .case_insensitive(true)
        .build()
        .ok()
});

/// S3 object URIs on items where a data-quality rule fired, first seen first.
pub fn bad_objects(items: &[EvidenceItem], analysis: &TextAnalysis) -> Vec<String> {
    let Some(uri_pattern) = S3_URI.as_ref() else {
        return Vec::new();
    };
    let mut item_positions: Vec<usize> =
        analysis.hits_for(FailureClass::DataQuality).iter().map(|hit| hit.item).collect();
    item_positions.sort_unstable();
    item_positions.dedup();
    let mut objects: Vec<String> = Vec::new();
    for position in item_positions {
        let Some(item) = items.get(position) else {
            continue;
        };
        for found in uri_pattern.find_iter(&item.text) {
            let uri = found.as_str().trim_end_matches(['.', ':', '!', '?']);
            if uri.ends_with('/') || uri.len() > MAX_URI_BYTES || objects.iter().any(|known| known == uri) {
                continue;
            }
            objects.push(uri.to_string());
            if objects.len() == MAX_BAD_OBJECTS {
                return objects;
            }
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diagnosis::classifier::analyse;
    use crate::core::model::TextSource;

    fn items(lines: &[&str]) -> Vec<EvidenceItem> {
        lines
            .iter()
            .enumerate()
            .map(|(index, line)| EvidenceItem { source: TextSource::ErrorLog, index, text: line.to_string() })
            .collect()
    }

    #[test]
    fn objects_on_data_quality_lines_are_listed_once() {
        let evidence = items(&[
            "Malformed records are detected in record parsing in file s3://landing/orders/2026/11/29/part-0001.csv.",
            "Caused by: Malformed CSV record in 's3://landing/orders/2026/11/29/part-0001.csv'",
            "INFO reading s3://landing/orders/2026/11/29/part-0002.csv",
        ]);
        let analysis = analyse(&evidence);
        assert_eq!(bad_objects(&evidence, &analysis), vec!["s3://landing/orders/2026/11/29/part-0001.csv"]);
    }

    #[test]
    fn prefixes_and_unrelated_lines_are_not_objects() {
        let evidence = items(&[
            "NumberFormatException: For input string: \"abc\" while reading s3://landing/orders/",
            "AccessDenied on s3://landing/secret.csv",
        ]);
        let analysis = analyse(&evidence);
        assert!(bad_objects(&evidence, &analysis).is_empty());
    }

    #[test]
    fn the_list_is_bounded() {
        let line = (0..40).map(|index| format!("s3://bucket/bad-{index}.json")).collect::<Vec<_>>().join(" ");
        let evidence = items(&[&format!("JsonParseException: Unexpected character in {line}")]);
        let analysis = analyse(&evidence);
        assert_eq!(bad_objects(&evidence, &analysis).len(), MAX_BAD_OBJECTS);
    }
}
