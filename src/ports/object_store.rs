//! The object store port (S3): audit records, quarantine moves.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::PortError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size_bytes: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Contract:
/// - `put_object` stores `body` under `key`, replacing any object there;
///   after `Ok` a `get_object` of the key returns the same bytes.
/// - `get_object` of a missing key is `NotFound`.
/// - `list_objects(bucket, prefix, max_keys)` lists at most `max_keys`
///   objects whose key starts with `prefix`, in key order.
/// - `move_object` copies `from_key` to `to_key` (same bucket) and then
///   deletes `from_key`; a failure after the copy leaves both, never neither.
///   A missing source is `NotFound`.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), PortError>;

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError>;

    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError>;

    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError>;
}

/// Split `s3://bucket/key` into bucket and key.
pub fn parse_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::parse_s3_uri;

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(parse_s3_uri("s3://lake/raw/a.parquet"), Some(("lake", "raw/a.parquet")));
        assert_eq!(parse_s3_uri("s3://lake/"), None);
        assert_eq!(parse_s3_uri("https://lake/a"), None);
    }
}
