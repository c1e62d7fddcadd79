//! The wall clock as a port, so the demo can run an accelerated clock and
//! tests a manual one. The decision core never reads a clock; everything
//! around it reads time through this trait.

use chrono::{DateTime, Utc};

/// Contract: `now` is monotonic non-decreasing for one clock value and
/// cheap to call; implementations never block.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The host's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(std::time::SystemTime::now())
    }
}
