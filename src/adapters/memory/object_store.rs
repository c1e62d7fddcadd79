//! An in-memory S3: objects per (bucket, key), with a switch that makes the
//! next writes fail so tests can prove audit failures are never dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::ports::{ObjectStore, ObjectSummary, PortError};

#[derive(Debug, Default)]
pub struct MemoryObjectStore {
    objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    failing_puts: AtomicU32,
}

impl MemoryObjectStore {
    pub fn new() -> MemoryObjectStore {
        MemoryObjectStore::default()
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
            .map(|((_, key), body)| (key.clone(), body.clone()))
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
            return Err(PortError::transient("PutObject", "injected failure"));
        }
        lock(&self.objects).insert((bucket.to_string(), key.to_string()), body);
        Ok(())
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        lock(&self.objects)
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| PortError::not_found("GetObject", format!("s3://{bucket}/{key}")))
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError> {
        Ok(lock(&self.objects)
            .iter()
            .filter(|((object_bucket, key), _)| object_bucket == bucket && key.starts_with(prefix))
            .take(max_keys as usize)
            .map(|((_, key), body)| ObjectSummary { key: key.clone(), size_bytes: body.len() as u64 })
            .collect())
    }

    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError> {
        let mut objects = lock(&self.objects);
        let body = objects
            .remove(&(bucket.to_string(), from_key.to_string()))
            .ok_or_else(|| PortError::not_found("CopyObject", format!("s3://{bucket}/{from_key}")))?;
        objects.insert((bucket.to_string(), to_key.to_string()), body);
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
}
