//! Reads that survive throttling: a backtest of a large account makes tens
//! of thousands of calls, and AWS slows a caller down long before it fails
//! one. A throttled or transient failure is retried with exponential backoff
//! and jitter (on top of the SDK's own retries); anything else is returned at
//! once, and so is a failure of the credentials, which no wait cures. The
//! retries are counted for the report.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::ports::PortError;

/// Whether an error means no further call can succeed: the credentials are
/// missing, expired or wrong.
pub fn is_credentials_problem(error: &PortError) -> bool {
    let text = error.to_string();
    [
        "ExpiredToken",
        "UnrecognizedClient",
        "InvalidClientTokenId",
        "InvalidSignature",
        "SignatureDoesNotMatch",
        "security token",
        "credentials",
        "Credentials",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base: Duration,
    /// Retries made so far, by every clone.
    retries: Arc<AtomicU64>,
}

impl Backoff {
    pub fn new(max_attempts: u32, base: Duration) -> Backoff {
        Backoff { max_attempts: max_attempts.max(1), base, retries: Arc::default() }
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The wait before attempt `attempt` + 1: base x 2^(attempt-1), x 0.5..1.5, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self.base.saturating_mul(1_u32 << attempt.saturating_sub(1).min(16));
        let jitter: f64 = rand::rng().random_range(0.5..1.5);
        doubled.mul_f64(jitter).min(MAX_BACKOFF)
    }

    /// Call until it succeeds, fails for good, or the attempts are used up.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, PortError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PortError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(error)
                    if error.is_retryable() && !is_credentials_problem(&error) && attempt < self.max_attempts =>
                {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Operation;
    use std::sync::atomic::AtomicU32;

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_until_it_passes_and_counted() {
        let backoff = Backoff::new(5, Duration::from_millis(100));
        let calls = AtomicU32::new(0);
        let result = backoff
            .call(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(PortError::Throttled { operation: Operation::GetJobRuns, message: "slow".into() }),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(result, Ok(7));
        assert_eq!(backoff.retries(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried_and_attempts_are_bounded() {
        let backoff = Backoff::new(3, Duration::from_millis(100));
        let calls = AtomicU32::new(0);
        let denied: Result<(), PortError> = backoff
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(PortError::rejected(Operation::GetJobs, "AccessDenied"))
            })
            .await;
        assert!(denied.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let throttled: Result<(), PortError> = backoff
            .call(|| async { Err(PortError::Throttled { operation: Operation::GetJobs, message: String::new() }) })
            .await;
        assert!(throttled.unwrap_err().is_throttled());
        assert_eq!(backoff.retries(), 2);
        let before = calls.load(Ordering::SeqCst);
        let no_credentials: Result<(), PortError> = backoff
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(PortError::transient(Operation::GetJobs, "dispatch failure: no credentials found in chain"))
            })
            .await;
        assert!(no_credentials.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), before + 1, "missing credentials are not waited for");
        assert!(backoff.delay(30) <= MAX_BACKOFF);
    }
}
