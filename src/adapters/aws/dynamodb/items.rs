//! How incident-store values are laid out in DynamoDB items: key formats,
//! attribute encoding, and time-ordered sort keys (see the table layout in
//! the parent module).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::ports::Operation;
use crate::ports::PortError;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn run_key(job_name: &str, run_id: &str) -> String {
    format!("run#{job_name}#{run_id}")
}

/// The partition of one job's "about to start a run" entries, one per incident.
pub(super) fn starting_key(job_name: &str) -> String {
    format!("starting#{job_name}")
}

pub(super) fn incident_key(incident_id: &str) -> String {
    format!("incident#{incident_id}")
}

/// Sort keys of time-ordered events: zero-padded epoch millis sort as text.
pub(super) fn time_sort_key(at: DateTime<Utc>) -> String {
    format!("{:020}", at.timestamp_millis().max(0))
}

pub(super) fn window_start_secs(now: DateTime<Utc>, window_secs: u64) -> i64 {
    let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    now.timestamp().div_euclid(window) * window
}

/// The item counting one job's grants in the aligned window containing `now`.
pub(super) fn budget_key(job_name: &str, window_secs: u64, now: DateTime<Utc>) -> (String, String) {
    (format!("budget#{job_name}"), format!("{:020}", window_start_secs(now, window_secs)))
}

pub(super) fn string_attribute<'item>(item: &'item Item, name: &str) -> Option<&'item str> {
    item.get(name).and_then(|value| value.as_s().ok()).map(String::as_str)
}

pub(super) fn string_set_contains(item: &Item, name: &str, wanted: &str) -> bool {
    item.get(name).and_then(|value| value.as_ss().ok()).is_some_and(|set| set.iter().any(|entry| entry == wanted))
}

pub(super) fn number_attribute(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|value| value.as_n().ok()).and_then(|value| value.parse().ok())
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    operation: Operation,
    item: &Item,
    attribute: &str,
) -> Result<T, PortError> {
    let json = string_attribute(item, attribute)
        .ok_or_else(|| PortError::transient(operation, format!("item has no {attribute} attribute")))?;
    serde_json::from_str(json)
        .map_err(|error| PortError::transient(operation, format!("unreadable {attribute}: {error}")))
}

pub(super) fn encode<T: serde::Serialize>(operation: Operation, value: &T) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|error| PortError::rejected(operation, format!("not serialisable: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_sort_keys_sort_like_the_times_they_encode() {
        let earlier = DateTime::<Utc>::from_timestamp(999, 0).unwrap();
        let later = DateTime::<Utc>::from_timestamp(1_000, 0).unwrap();
        assert!(time_sort_key(earlier) < time_sort_key(later));
        assert_eq!(time_sort_key(later).len(), 20);
    }

    #[test]
    fn budget_windows_are_aligned() {
        let now = DateTime::<Utc>::from_timestamp(7_250, 0).unwrap();
        assert_eq!(window_start_secs(now, 3_600), 7_200);
        assert_eq!(window_start_secs(now, 0), 7_250);
    }
}
