//! The object store on S3: audit records, policy artefacts and quarantine
//! moves (CopyObject then DeleteObject, so a failure in between leaves the
//! object in both places, never in neither).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::adapters::aws::glue_jobs::to_chrono;
use crate::ports::{ObjectStore, ObjectSummary, Operation, PortError};

/// ListObjectsV2's largest page.
const MAX_KEYS_PAGE: u32 = 1_000;

pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
}

impl S3ObjectStore {
    pub fn new(connection: &AwsConnection) -> S3ObjectStore {
        S3ObjectStore { client: connection.s3_client() }
    }
}

/// CopySource is `bucket/key` with the key URL-encoded; `/` stays as is.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut encoded = String::with_capacity(bucket.len() + key.len() + 1);
    encoded.push_str(bucket);
    encoded.push('/');
    for byte in key.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/');
        if unreserved {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|error| port_error(Operation::PutObject, error))?;
        Ok(())
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetObject, error))?;
        let collected = output.body.collect().await.map_err(|error| {
            PortError::transient(Operation::GetObject, format!("reading s3://{bucket}/{key}: {error}"))
        })?;
        Ok(collected.into_bytes().to_vec())
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError> {
        if max_keys == 0 {
            return Ok(Vec::new());
        }
        let mut objects = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let page_size = (max_keys as usize - objects.len()).min(MAX_KEYS_PAGE as usize);
            let output = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .max_keys(page_size as i32)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::ListObjectsV2, error))?;
            objects.extend(output.contents.unwrap_or_default().into_iter().filter_map(|object| {
                Some(ObjectSummary {
                    key: object.key?,
                    size_bytes: u64::try_from(object.size.unwrap_or(0)).unwrap_or(0),
                    last_modified: object.last_modified.as_ref().and_then(to_chrono),
                })
            }));
            continuation = output.next_continuation_token.filter(|token| !token.is_empty());
            if continuation.is_none() || objects.len() >= max_keys as usize {
                break;
            }
        }
        objects.truncate(max_keys as usize);
        Ok(objects)
    }

    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError> {
        debug_assert_ne!(from_key, to_key, "a move onto itself would delete the object");
        self.client
            .copy_object()
            .bucket(bucket)
            .key(to_key)
            .copy_source(copy_source(bucket, from_key))
            .send()
            .await
            .map_err(|error| port_error(Operation::CopyObject, error))?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(from_key)
            .send()
            .await
            .map_err(|error| port_error(Operation::DeleteObject, error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::copy_source;

    #[test]
    fn copy_sources_encode_the_key_but_keep_slashes() {
        assert_eq!(copy_source("lake", "raw/dt=2026-11-29/part 1.json"), "lake/raw/dt%3D2026-11-29/part%201.json");
        assert_eq!(copy_source("lake", "a/é"), "lake/a/%C3%A9");
    }
}
