//! S3 locations as etl-medic compares them: parsed into a bucket and a key,
//! never compared as text. "Is this object inside that prefix?" decides
//! what quarantine may move, and as text it has holes: `s3://lake` is a
//! text prefix of `s3://lakehouse/...`, and `s3:///` of every URI. Parsed,
//! the bucket must be equal and the key must start with the prefix's key on
//! a `/` boundary.
//!
//! Hadoop's `s3a://` and `s3n://` spellings name the same objects as `s3://`.
//! A key with `.` or `..` segments, a backslash, whitespace or a control
//! character is refused: S3 would store it literally, but an HTTP client or
//! Hadoop's path handling may not, so what is checked might not be what is
//! moved.

use std::fmt;

/// A bucket and a key (possibly empty, for a whole bucket or a prefix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// Schemes read as S3, lower-cased.
const SCHEMES: [&str; 3] = ["s3://", "s3a://", "s3n://"];

impl S3Location {
    /// Parse `s3://bucket/key` (or `s3a://`, `s3n://`; the scheme in any
    /// case). `None` for anything else: no bucket, a bucket S3 would not
    /// accept, or a key that is not plain (see the module comment).
    pub fn parse(text: &str) -> Option<S3Location> {
        let rest = SCHEMES.iter().find_map(|scheme| {
            let head = text.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme).then(|| &text[scheme.len()..])
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket(bucket) || !plain_key(key) {
            return None;
        }
        Some(S3Location { bucket: bucket.to_string(), key: key.to_string() })
    }

    /// Parse a URI that names one object: a non-empty key not ending in `/`.
    pub fn parse_object(text: &str) -> Option<S3Location> {
        S3Location::parse(text).filter(|location| !location.key.is_empty() && !location.key.ends_with('/'))
    }

    /// Whether `object` is this location itself or lies below it: the same
    /// bucket, and a key that equals this key or continues it after a `/`
    /// (`raw/orders` and `raw/orders/` both hold `raw/orders/a.csv`, neither
    /// holds `raw/orders_old/a.csv`). An empty key holds the whole bucket.
    pub fn contains(&self, object: &S3Location) -> bool {
        if self.bucket != object.bucket {
            return false;
        }
        if self.key.is_empty() || self.key.ends_with('/') {
            return object.key.starts_with(&self.key);
        }
        object.key == self.key || object.key.strip_prefix(&self.key).is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "s3://{}/{}", self.bucket, self.key)
    }
}

/// S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and
/// hyphens, starting and ending with a letter or digit, no `..`.
fn valid_bucket(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    let edge_ok = |byte: Option<&u8>| byte.is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'-'))
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !bucket.contains("..")
}

fn plain_key(key: &str) -> bool {
    key.len() <= 1024
        && !key.chars().any(|character| character.is_whitespace() || character.is_control() || character == '\\')
        && !key.split('/').any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(text: &str) -> S3Location {
        S3Location::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn uris_split_into_bucket_and_key_whatever_the_s3_spelling() {
        assert_eq!(location("s3://lake/raw/a.csv"), S3Location { bucket: "lake".into(), key: "raw/a.csv".into() });
        assert_eq!(location("S3A://lake/raw/a.csv"), location("s3n://lake/raw/a.csv"));
        assert_eq!(location("s3://lake"), S3Location { bucket: "lake".into(), key: String::new() });
        assert_eq!(location("s3://lake/").to_string(), "s3://lake/");
    }

    #[test]
    fn what_is_not_a_plain_s3_location_is_refused() {
        for bad in [
            "",
            "s3://",
            "s3:///",
            "s3:///raw/a.csv",
            "s3://ab/x",
            "s3://Lake/x",
            "s3://-lake/x",
            "s3://la..ke/x",
            "s3://lake/raw/../curated/a.csv",
            "s3://lake/./a.csv",
            "s3://lake/a b.csv",
            "s3://lake/a\\b.csv",
            "s3://lake/a\u{0}.csv",
            "https://lake.s3.amazonaws.com/a.csv",
            "file:///tmp/a.csv",
        ] {
            assert_eq!(S3Location::parse(bad), None, "{bad:?}");
        }
        assert_eq!(S3Location::parse_object("s3://lake/raw/"), None, "a prefix is not an object");
        assert_eq!(S3Location::parse_object("s3://lake"), None);
        assert!(S3Location::parse_object("s3://lake/raw/a.csv").is_some());
    }

    #[test]
    fn containment_compares_the_bucket_and_the_key_on_a_slash_boundary() {
        let object = location("s3://lakehouse/raw/orders/a.csv");
        assert!(!location("s3://lake/").contains(&object), "s3://lake is a text prefix, not the bucket");
        assert!(location("s3://lakehouse").contains(&object), "a whole bucket");
        assert!(location("s3://lakehouse/raw/orders").contains(&object));
        assert!(location("s3://lakehouse/raw/orders/").contains(&object));
        assert!(location("s3://lakehouse/raw/orders/a.csv").contains(&object), "the object itself");
        assert!(!location("s3://lakehouse/raw/orders_old/").contains(&object));
        assert!(!location("s3://lakehouse/raw/ord").contains(&object));
        assert!(!location("s3://lakehouse/curated/").contains(&object));
    }
}
