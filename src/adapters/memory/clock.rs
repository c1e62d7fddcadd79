//! A clock that tests and the demo move by hand (or accelerate).

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::adapters::memory::lock;
use crate::ports::Clock;

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn starting_at(start: DateTime<Utc>) -> ManualClock {
        ManualClock { now: Mutex::new(start) }
    }

    /// Move the clock forward; a negative duration is ignored (clocks do not go back).
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        if by > Duration::zero() {
            *now += by;
        }
    }

    /// Move the clock to `at` if that is later than now.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        let mut now = lock(&self.now);
        if at > *now {
            *now = at;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let start = DateTime::parse_from_rfc3339("2026-11-29T02:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        let clock = ManualClock::starting_at(start);
        clock.advance(Duration::minutes(5));
        clock.advance(Duration::minutes(-10));
        clock.advance_to(start);
        assert_eq!(clock.now(), start + Duration::minutes(5));
    }
}
