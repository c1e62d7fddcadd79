//! How requests and events are read leniently where the contract allows:
//! an explicit `null` for an optional field is absent evidence, never an
//! error (spec/decide.md: "missing optional fields are treated as absent
//! evidence").

use serde::{Deserialize, Deserializer};

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
