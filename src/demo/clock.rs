//! The demo's accelerated clock: simulated time starts at the estate's
//! start time and runs `speedup` times faster than the host's clock, so
//! minutes of Glue runs and waits pass in fractions of a second.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use crate::ports::Clock;

#[derive(Debug, Clone)]
pub struct AcceleratedClock {
    simulated_start: DateTime<Utc>,
    real_start: Instant,
    speedup: f64,
}

impl AcceleratedClock {
    pub fn new(simulated_start: DateTime<Utc>, speedup: f64) -> AcceleratedClock {
        debug_assert!(speedup >= 1.0, "an accelerated clock is not slower than real time");
        AcceleratedClock { simulated_start, real_start: Instant::now(), speedup: speedup.max(1.0) }
    }

    /// Real time until the simulated clock shows `at` (zero if it already has).
    pub fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let simulated_minutes = (at - self.now()).num_milliseconds() as f64 / 60_000.0;
        self.real_duration(simulated_minutes)
    }

    /// Real time a span of simulated minutes takes.
    pub fn real_duration(&self, simulated_minutes: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((simulated_minutes.max(0.0) * 60.0) / self.speedup)
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let simulated_ms = self.real_start.elapsed().as_secs_f64() * self.speedup * 1_000.0;
        self.simulated_start + Duration::milliseconds(simulated_ms as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_time_runs_faster_and_converts_back() {
        let start = DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        let clock = AcceleratedClock::new(start, 1_200.0);
        assert!(clock.now() >= start);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(clock.now() - start >= Duration::seconds(59), "50 ms at 1200x is a minute");
        assert_eq!(clock.real_duration(20.0), std::time::Duration::from_secs(1));
    }
}
