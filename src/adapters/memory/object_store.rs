//! An in-memory S3: objects per (bucket, key), with a switch that makes the
//! next writes fail so tests can prove audit failures are never dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::adapters::memory::lock;
use crate::ports::{Clock, ObjectStore, ObjectSummary, Operation, PortError};

#[derive(Debug, Clone)]
struct StoredObject {
    body: Vec<u8>,
    last_modified: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct MemoryObjectStore {
    objects: Mutex<BTreeMap<(String, String), StoredObject>>,
    failing_puts: AtomicU32,
    /// Stamps `last_modified` on writes when present.
    clock: Option<Arc<dyn Clock>>,
}

impl MemoryObjectStore {
    pub fn new() -> MemoryObjectStore {
        MemoryObjectStore::default()
    }

    /// A store that stamps every write with the clock's time.
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryObjectStore {
        MemoryObjectStore { clock: Some(clock), ..MemoryObjectStore::default() }
    }

    /// Seed an object with a chosen modification time (simulated data lakes).
    pub fn put_object_at(&self, bucket: &str, key: &str, body: Vec<u8>, last_modified: DateTime<Utc>) {
        lock(&self.objects)
            .insert((bucket.to_string(), key.to_string()), StoredObject { body, last_modified: Some(last_modified) });
    }

    /// Make the next `count` `put_object` calls fail with a transient error.
    pub fn fail_next_puts(&self, count: u32) {
        self.failing_puts.store(count, Ordering::SeqCst);
    }

    /// Every (key, body) in a bucket under a prefix, in key order.
    pub fn objects_under(&self, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
        lock(&self.objects)
            .iter()
            .filter(|((object_bucket, key), _)| object_bucket == bucket && key.starts_with(prefix))
            .map(|((_, key), object)| (key.clone(), object.body.clone()))
            .collect()
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), PortError> {
        let should_fail = self
            .failing_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |remaining| remaining.checked_sub(1))
            .is_ok();
        if should_fail {
            return Err(PortError::transient(Operation::PutObject, "injected failure"));
        }
        let last_modified = self.clock.as_ref().map(|clock| clock.now());
        lock(&self.objects).insert((bucket.to_string(), key.to_string()), StoredObject { body, last_modified });
        Ok(())
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        lock(&self.objects)
            .get(&(bucket.to_string(), key.to_string()))
            .map(|object| object.body.clone())
            .ok_or_else(|| PortError::not_found(Operation::GetObject, format!("s3://{bucket}/{key}")))
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError> {
        Ok(lock(&self.objects)
            .iter()
            .filter(|((object_bucket, key), _)| object_bucket == bucket && key.starts_with(prefix))
            .take(max_keys as usize)
            .map(|((_, key), object)| ObjectSummary {
                key: key.clone(),
                size_bytes: object.body.len() as u64,
                last_modified: object.last_modified,
            })
            .collect())
    }

    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError> {
        let mut objects = lock(&self.objects);
        let object = objects
            .remove(&(bucket.to_string(), from_key.to_string()))
            .ok_or_else(|| PortError::not_found(Operation::CopyObject, format!("s3://{bucket}/{from_key}")))?;
        objects.insert((bucket.to_string(), to_key.to_string()), object);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_list_by_prefix_and_move() {
        let store = MemoryObjectStore::new();
        store.put_object("lake", "raw/a", b"12".to_vec(), "application/json").await.unwrap();
        store.put_object("lake", "raw/b", b"345".to_vec(), "application/json").await.unwrap();
        store.put_object("lake", "other/c", b"6".to_vec(), "application/json").await.unwrap();
        let listed = store.list_objects("lake", "raw/", 10).await.unwrap();
        assert_eq!(listed.iter().map(|object| object.size_bytes).sum::<u64>(), 5);
        store.move_object("lake", "raw/a", "quarantine/raw/a").await.unwrap();
        assert!(store.get_object("lake", "raw/a").await.unwrap_err().is_not_found());
        assert_eq!(store.get_object("lake", "quarantine/raw/a").await.unwrap(), b"12".to_vec());
        assert!(store.move_object("lake", "raw/a", "x").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn injected_put_failures_are_transient_and_run_out() {
        let store = MemoryObjectStore::new();
        store.fail_next_puts(1);
        assert!(store.put_object("b", "k", vec![], "text/plain").await.unwrap_err().is_retryable());
        store.put_object("b", "k", vec![1], "text/plain").await.unwrap();
        assert_eq!(store.objects_under("b", "").len(), 1);
    }

    #[tokio::test]
    async fn listings_carry_the_modification_time() {
        let store = MemoryObjectStore::new();
        let at = DateTime::parse_from_rfc3339("2026-11-29T01:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        store.put_object_at("lake", "raw/a", vec![1], at);
        assert_eq!(store.list_objects("lake", "raw/", 1).await.unwrap()[0].last_modified, Some(at));
    }
}
