//! Where the policy comes from, resolved the same way for every command and
//! for the daemon: `[policy] path` (or a command's `--policy`) is `rules`
//! (the built-in rules baseline), a local file, or `s3://bucket/key` (the
//! daemon's promotion channel, re-read while it runs).
//!
//! The shipped default, `config/policy.json`, is the trained policy of this
//! release: the file when it is there (a deployment may replace it), else
//! the same policy built into the binary, so every command works from any
//! directory. Any other path is an explicit choice: a file that does not
//! exist or does not parse is an error, never a silent fallback.

use std::path::PathBuf;

use thiserror::Error;

use crate::core::policy::{Policy, PolicyError};
use crate::ports::object_store::parse_s3_uri;
use crate::ports::{ObjectStore, PortError};

/// The shipped default of `[policy] path`.
pub const SHIPPED_POLICY_PATH: &str = "config/policy.json";

/// The trained policy of this release (`config/policy.json`), built in.
pub const SHIPPED_POLICY: &str = include_str!("../config/policy.json");

/// Where a policy is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyLocation {
    /// The rules baseline, built in.
    Rules,
    /// The shipped default path: the file if present, else the built-in copy.
    Shipped,
    /// A local file named explicitly.
    File(PathBuf),
    /// An object in S3.
    S3 { bucket: String, key: String },
}

/// Why a policy could not be used.
#[derive(Debug, Error)]
pub enum PolicyLoadError {
    #[error("policy {location}: {source}")]
    Read { location: String, source: std::io::Error },
    #[error("policy {location}: {source}")]
    Fetch { location: String, source: PortError },
    #[error("policy {location}: {source}")]
    Invalid { location: String, source: PolicyError },
    #[error("policy {location}: an s3:// policy is read by the daemon, through its AWS connection")]
    NeedsObjectStore { location: String },
}

/// A policy and the bytes it was read from (compared to notice a change).
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// Where it came from, as a person reads it (`config/policy.json`,
    /// `built-in`, `s3://bucket/key`, `rules`).
    pub origin: String,
    pub bytes: Vec<u8>,
}

impl PolicyLocation {
    pub fn parse(path: &str) -> PolicyLocation {
        let trimmed = path.trim();
        if trimmed == "rules" {
            return PolicyLocation::Rules;
        }
        if trimmed == SHIPPED_POLICY_PATH {
            return PolicyLocation::Shipped;
        }
        if let Some((bucket, key)) = parse_s3_uri(trimmed) {
            return PolicyLocation::S3 { bucket: bucket.to_string(), key: key.to_string() };
        }
        PolicyLocation::File(PathBuf::from(trimmed))
    }

    /// Whether the location can change while the daemon runs.
    pub fn is_reloadable(&self) -> bool {
        matches!(self, PolicyLocation::File(_) | PolicyLocation::S3 { .. } | PolicyLocation::Shipped)
    }

    fn describe(&self) -> String {
        match self {
            PolicyLocation::Rules => "rules".to_string(),
            PolicyLocation::Shipped => SHIPPED_POLICY_PATH.to_string(),
            PolicyLocation::File(path) => path.display().to_string(),
            PolicyLocation::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Read the policy from a local location (every command but a daemon
    /// with an `s3://` policy).
    pub fn load_local(&self) -> Result<LoadedPolicy, PolicyLoadError> {
        let location = self.describe();
        match self {
            PolicyLocation::Rules => {
                Ok(LoadedPolicy { policy: Policy::rules(), origin: location, bytes: b"rules".to_vec() })
            }
            PolicyLocation::Shipped => match std::fs::read(SHIPPED_POLICY_PATH) {
                Ok(bytes) => parsed(bytes, location),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    parsed(SHIPPED_POLICY.as_bytes().to_vec(), "built-in (config/policy.json of this release)".into())
                }
                Err(source) => Err(PolicyLoadError::Read { location, source }),
            },
            PolicyLocation::File(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|source| PolicyLoadError::Read { location: location.clone(), source })?;
                parsed(bytes, location)
            }
            PolicyLocation::S3 { .. } => Err(PolicyLoadError::NeedsObjectStore { location }),
        }
    }

    /// Read the policy, from S3 through `objects` when it lives there.
    pub async fn load(&self, objects: &dyn ObjectStore) -> Result<LoadedPolicy, PolicyLoadError> {
        match self {
            PolicyLocation::S3 { bucket, key } => {
                let location = self.describe();
                let bytes = objects
                    .get_object(bucket, key)
                    .await
                    .map_err(|source| PolicyLoadError::Fetch { location: location.clone(), source })?;
                parsed(bytes, location)
            }
            local => local.load_local(),
        }
    }
}

fn parsed(bytes: Vec<u8>, origin: String) -> Result<LoadedPolicy, PolicyLoadError> {
    let text = String::from_utf8_lossy(&bytes);
    let policy =
        Policy::from_json(&text).map_err(|source| PolicyLoadError::Invalid { location: origin.clone(), source })?;
    Ok(LoadedPolicy { policy, origin, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_from_the_setting() {
        assert_eq!(PolicyLocation::parse("rules"), PolicyLocation::Rules);
        assert_eq!(PolicyLocation::parse("config/policy.json"), PolicyLocation::Shipped);
        assert_eq!(
            PolicyLocation::parse("s3://policies/etl-medic/policy.json"),
            PolicyLocation::S3 { bucket: "policies".into(), key: "etl-medic/policy.json".into() }
        );
        assert_eq!(PolicyLocation::parse("/etc/p.json"), PolicyLocation::File("/etc/p.json".into()));
    }

    #[test]
    fn an_explicit_file_that_does_not_exist_is_an_error_and_the_shipped_default_never_is() {
        let missing = PolicyLocation::parse("/nonexistent/policy.json").load_local();
        assert!(matches!(missing, Err(PolicyLoadError::Read { .. })), "{missing:?}");
        let shipped = PolicyLocation::Shipped.load_local().expect("the shipped policy always loads");
        assert!(shipped.policy.is_trained());
    }
}
