//! How requests and events are read leniently where the contract allows,
//! and strictly where input could cost memory out of proportion to its size.
//!
//! Lenient: an explicit `null` for an optional field is absent evidence,
//! never an error (spec/decide.md: "missing optional fields are treated as
//! absent evidence").
//!
//! Bounded: every list of a request is read with a cap on its entries, and
//! every free-form JSON value (the echoed `id`, the event's `detail`) with a
//! cap on its nodes, checked *while* parsing, so a 16 MiB line of empty
//! entries (`"recent_runs": [{}, {}, ...]`, three bytes each, about a
//! hundred bytes of memory each) is refused after the cap instead of
//! growing to hundreds of megabytes. The error names the limit; the caller's
//! path-aware parse (`cli::jsonl::explain_parse_error`) adds the field.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The caps on a request's lists and free-form values. Each is far above
/// what the daemon gathers (`logs.max_lines`, at most [`LOG_LINES`], lines
/// per log group; 10 earlier runs; 5 versions per table) and what Glue
/// allows, so only crafted input reaches one.
pub mod bounds {
    /// Lines per log source (`logs.error`, `logs.output`).
    pub const LOG_LINES: usize = 1_000;
    /// `history.recent_runs`.
    pub const RECENT_RUNS: usize = 100;
    /// `history.actions_taken`.
    pub const ACTIONS_TAKEN: usize = 100;
    /// `catalog` (tables).
    pub const CATALOG_TABLES: usize = 100;
    /// `catalog[].versions`.
    pub const TABLE_VERSIONS: usize = 100;
    /// `catalog[].versions[].columns`.
    pub const COLUMNS: usize = 10_000;
    /// `job_run.arguments`.
    pub const ARGUMENTS: usize = 500;
    /// `job.input_arguments`.
    pub const INPUT_ARGUMENTS: usize = 32;
    /// `event.resources`.
    pub const EVENT_RESOURCES: usize = 100;
    /// Nodes of a free-form JSON value: the request's `id`, `event.detail`,
    /// `event.resources` in all.
    pub const JSON_NODES: usize = 1_000;
}

/// Read an optional field whose absence has a natural empty value: `null`
/// reads as that value, as a missing field does. Use it with
/// `#[serde(default, deserialize_with = "null_as_default")]` on every
/// optional field that is not an `Option` (an `Option` reads `null` as `None`).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A list of at most `MAX` entries; `null` reads as an empty list. Use with
/// `#[serde(default, deserialize_with = "bounded_vec::<_, _, 400>")]`.
pub fn bounded_vec<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_option(BoundedSeq::<T, MAX>(PhantomData))
}

/// Like [`bounded_vec`] for an `Option<Vec<T>>`: `null` or absent is `None`.
pub fn bounded_optional_vec<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Optional<T, const MAX: usize>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Optional<T, MAX> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(formatter, "null or a list of at most {MAX} entries")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_seq(BoundedSeq::<T, MAX>(PhantomData)).map(Some)
        }
    }
    deserializer.deserialize_option(Optional::<T, MAX>(PhantomData))
}

/// A string map of at most `MAX` entries; `null` reads as an empty map.
pub fn bounded_map<'de, D, const MAX: usize>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(BoundedMap::<MAX>)
}

/// Any JSON value of at most `MAX` nodes (every scalar, list and object
/// counts one); `null` and absence read as `Value::Null`.
pub fn bounded_json<'de, D, const MAX: usize>(deserializer: D) -> Result<serde_json::Value, D::Error>
where
    D: Deserializer<'de>,
{
    let budget = Cell::new(MAX);
    deserializer.deserialize_any(JsonSeed { budget: &budget, max: MAX })
}

/// A list of JSON values of at most `MAX_ENTRIES` entries and `MAX_NODES`
/// nodes in all; `null` reads as an empty list.
pub fn bounded_json_vec<'de, D, const MAX_ENTRIES: usize, const MAX_NODES: usize>(
    deserializer: D,
) -> Result<Vec<serde_json::Value>, D::Error>
where
    D: Deserializer<'de>,
{
    match bounded_json::<D, MAX_NODES>(deserializer)? {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(entries) if entries.len() <= MAX_ENTRIES => Ok(entries),
        serde_json::Value::Array(_) => Err(de::Error::custom(too_many(MAX_ENTRIES))),
        other => Err(de::Error::invalid_type(unexpected(&other), &"a list")),
    }
}

fn too_many(max: usize) -> String {
    format!("more than {max} entries (at most {max} are read)")
}

fn unexpected(value: &serde_json::Value) -> de::Unexpected<'_> {
    match value {
        serde_json::Value::Bool(flag) => de::Unexpected::Bool(*flag),
        serde_json::Value::String(text) => de::Unexpected::Str(text),
        serde_json::Value::Object(_) => de::Unexpected::Map,
        _ => de::Unexpected::Other("a scalar"),
    }
}

struct BoundedSeq<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedSeq<T, MAX> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a list of at most {MAX} entries")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Vec<T>, A::Error> {
        // The size hint is the input's word; grow only as entries arrive.
        let mut entries = Vec::with_capacity(sequence.size_hint().unwrap_or(0).min(MAX).min(64));
        while let Some(entry) = sequence.next_element()? {
            if entries.len() == MAX {
                return Err(de::Error::custom(too_many(MAX)));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

struct BoundedMap<const MAX: usize>;

impl<'de, const MAX: usize> Visitor<'de> for BoundedMap<MAX> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "an object of at most {MAX} string entries")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = BTreeMap::new();
        let mut read = 0_usize;
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            read += 1;
            if read > MAX {
                return Err(de::Error::custom(too_many(MAX)));
            }
            entries.insert(key, value);
        }
        Ok(entries)
    }
}

/// Builds a `serde_json::Value` while counting its nodes against a budget
/// shared by the whole value.
#[derive(Clone, Copy)]
struct JsonSeed<'budget> {
    budget: &'budget Cell<usize>,
    max: usize,
}

impl JsonSeed<'_> {
    fn take<E: de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => {
                Err(E::custom(format!("a JSON value of more than {} nodes (at most {} are read)", self.max, self.max)))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<serde_json::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a JSON value of at most {} nodes", self.max)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::String(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::String(value))
    }

    fn visit_none<E: de::Error>(self) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<serde_json::Value, E> {
        self.take()?;
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<serde_json::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<serde_json::Value, A::Error> {
        self.take()?;
        let mut entries = Vec::new();
        while let Some(entry) = sequence.next_element_seed(self)? {
            entries.push(entry);
        }
        Ok(serde_json::Value::Array(entries))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<serde_json::Value, A::Error> {
        self.take()?;
        let mut entries = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            entries.insert(key, value);
        }
        Ok(serde_json::Value::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Lists {
        #[serde(default, deserialize_with = "bounded_vec::<_, _, 3>")]
        runs: Vec<serde_json::Value>,
        #[serde(default, deserialize_with = "bounded_map::<_, 2>")]
        arguments: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "bounded_optional_vec::<_, _, 2>")]
        names: Option<Vec<String>>,
        #[serde(default, deserialize_with = "bounded_json::<_, 5>")]
        id: serde_json::Value,
    }

    fn read(text: &str) -> Result<Lists, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn lists_up_to_their_bound_read_and_null_is_empty() {
        let lists = read(
            r#"{"runs": [{}, {}, {}], "arguments": {"a": "1", "b": "2"}, "names": ["x", "y"], "id": [1, [2], "3"]}"#,
        )
        .expect("within bounds");
        assert_eq!((lists.runs.len(), lists.arguments.len(), lists.names.map(|names| names.len())), (3, 2, Some(2)));
        assert_eq!(lists.id, serde_json::json!([1, [2], "3"]));
        let nulls = read(r#"{"runs": null, "arguments": null, "names": null, "id": null}"#).expect("nulls");
        assert!(nulls.runs.is_empty() && nulls.arguments.is_empty() && nulls.names.is_none() && nulls.id.is_null());
        let absent = read("{}").expect("absent");
        assert!(absent.runs.is_empty() && absent.names.is_none() && absent.id.is_null());
    }

    #[test]
    fn a_list_past_its_bound_is_an_error_naming_the_bound() {
        for (text, bound) in [
            (r#"{"runs": [{}, {}, {}, {}]}"#, "more than 3 entries"),
            (r#"{"arguments": {"a": "1", "b": "2", "c": "3"}}"#, "more than 2 entries"),
            (r#"{"names": ["x", "y", "z"]}"#, "more than 2 entries"),
            (r#"{"id": [[], [], [], [], []]}"#, "more than 5 nodes"),
            (r#"{"id": {"a": {"b": {"c": {"d": {"e": 1}}}}}}"#, "more than 5 nodes"),
        ] {
            let error = read(text).expect_err(text);
            assert!(error.contains(bound), "{text}: {error}");
        }
        assert!(read(r#"{"runs": "x"}"#).is_err(), "still typed");
    }

    #[test]
    fn a_huge_list_stops_at_the_bound_without_reading_on() {
        // 2 MB of empty entries: the error comes right after the fourth one.
        let huge = format!(r#"{{"runs": [{}]}}"#, vec!["{}"; 700_000].join(","));
        let error = read(&huge).expect_err("past the bound");
        let column: usize = error.rsplit("column ").next().and_then(|digits| digits.parse().ok()).unwrap_or(usize::MAX);
        assert!(error.contains("more than 3 entries") && column < 30, "{error}");
    }
}
