//! How long a failure would have taken to fix under etl-medic's proposal,
//! with its uncertainty: the simulator's outcome model (config/sim.toml:
//! success odds per cause and action, the lognormal delay before a person
//! acts, how late late sources land, how much more capacity a memory or
//! timeout failure needs, Glue's start-up time) applied to the job's own
//! shape (its typical run time and schedule, read from its history).
//!
//! One draw plays the proposed action once: when it works the failure is
//! fixed after its wait, the run's start-up and a run; when it does not, a
//! person takes over (their delay, their fix, a run). The daemon would
//! often decide again before a person came, so this errs long. Draws are
//! seeded by the incident, so the same history gives the same estimate.

use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

use crate::core::model::{Action, FailureClass};
use crate::sim::SimCause;
use crate::sim::config::{SimConfig, dpu_per_worker};

/// Draws per incident; aggregates keep one sum per draw.
pub const DRAWS: usize = 200;

/// What the estimate assumed about the job, from its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobShape {
    /// Median duration of its successful runs.
    pub run_minutes: f64,
    /// Median time between its runs' starts (1440 when unknown).
    pub schedule_minutes: f64,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<u32>,
}

/// The estimate for one incident, in seconds: median and 80% interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub median_s: u64,
    pub p10_s: u64,
    pub p90_s: u64,
    pub assumed: JobShape,
}

pub struct OutcomeModel {
    config: SimConfig,
}

impl OutcomeModel {
    pub fn new(config: SimConfig) -> OutcomeModel {
        OutcomeModel { config }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// `DRAWS` times to fix, in minutes, for a failure diagnosed as `class`
    /// on which `action` is taken.
    pub fn draws(&self, class: FailureClass, action: &Action, shape: &JobShape, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..DRAWS).map(|_| self.draw(class, action, shape, &mut rng)).collect()
    }

    pub fn estimate(&self, class: FailureClass, action: &Action, shape: &JobShape, seed: u64) -> Estimate {
        let mut minutes = self.draws(class, action, shape, seed);
        minutes.sort_by(f64::total_cmp);
        let seconds = |quantile: f64| (percentile(&minutes, quantile) * 60.0).round() as u64;
        Estimate { median_s: seconds(0.5), p10_s: seconds(0.1), p90_s: seconds(0.9), assumed: shape.clone() }
    }

    fn cause(&self, class: FailureClass, rng: &mut ChaCha8Rng) -> SimCause {
        if let Some(cause) = SimCause::ALL.into_iter().find(|cause| cause.failure_class() == class) {
            return cause;
        }
        // `unknown`: any cause, as often as the estate has it.
        let causes: Vec<(SimCause, f64)> = self.config.causes.iter().map(|(cause, weight)| (*cause, *weight)).collect();
        match WeightedIndex::new(causes.iter().map(|(_, weight)| *weight)) {
            Ok(index) => causes[index.sample(rng)].0,
            Err(_) => SimCause::TransientInfra,
        }
    }

    fn draw(&self, class: FailureClass, action: &Action, shape: &JobShape, rng: &mut ChaCha8Rng) -> f64 {
        let cause = self.cause(class, rng);
        let start = self.config.estate.run_start_minutes;
        let run = shape.run_minutes * rng.random_range(0.85..1.15);
        let human = &self.config.human;
        let person = lognormal(human.median_hours * 60.0, human.sigma, rng) + human.fix_minutes + start + run;
        let wait = match action {
            Action::Escalate { .. } => return person,
            Action::LogAndWait {} => shape.schedule_minutes,
            Action::WaitAndRetry { delay_s } => *delay_s as f64 / 60.0,
            Action::QuarantineBadRecords(_) => self.config.estate.quarantine_minutes,
            _ => 0.0,
        };
        let condition = match (cause, action) {
            (SimCause::SourceUnavailable, _) => {
                let lateness = lognormal(self.config.lateness.median_minutes, self.config.lateness.sigma, rng);
                wait + start >= lateness
            }
            (SimCause::ResourceExhaustion | SimCause::Timeout, Action::RetryWithMoreCapacity { .. }) => {
                capacity_ratio(action, shape) >= rng.random_range(1.2..2.2)
            }
            _ => true,
        };
        let odds = self.config.success_probability(cause, action.kind());
        if condition && rng.random::<f64>() < odds {
            wait + start + run
        } else {
            wait + start + run * rng.random_range(0.1..0.9) + person
        }
    }
}

/// DPUs of the proposed run over the failed run's.
fn capacity_ratio(action: &Action, shape: &JobShape) -> f64 {
    let Action::RetryWithMoreCapacity { number_of_workers, worker_type } = action else { return 1.0 };
    let current_type = shape.worker_type.as_deref().unwrap_or("G.1X");
    let current = shape.number_of_workers.unwrap_or(*number_of_workers).max(1) as f64
        * dpu_per_worker(current_type).unwrap_or(1.0);
    let proposed_type = worker_type.as_deref().unwrap_or(current_type);
    let proposed = f64::from(*number_of_workers) * dpu_per_worker(proposed_type).unwrap_or(1.0);
    proposed / current.max(0.25)
}

fn lognormal(median: f64, sigma: f64, rng: &mut ChaCha8Rng) -> f64 {
    match LogNormal::new(median.max(f64::MIN_POSITIVE).ln(), sigma) {
        Ok(distribution) => distribution.sample(rng),
        Err(_) => median,
    }
}

/// Linear-interpolated quantile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = quantile.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

/// A stable 64-bit seed from text (FNV-1a), the same on every platform and release.
pub fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> JobShape {
        JobShape {
            run_minutes: 20.0,
            schedule_minutes: 1_440.0,
            worker_type: Some("G.1X".into()),
            number_of_workers: Some(10),
        }
    }

    fn model() -> OutcomeModel {
        OutcomeModel::new(SimConfig::embedded_default())
    }

    #[test]
    fn the_same_incident_gets_the_same_estimate() {
        let first = model().estimate(FailureClass::TransientInfra, &Action::Retry {}, &shape(), seed_of("j/jr_1"));
        let second = model().estimate(FailureClass::TransientInfra, &Action::Retry {}, &shape(), seed_of("j/jr_1"));
        assert_eq!(first, second);
        assert!(first.p10_s <= first.median_s && first.median_s <= first.p90_s);
    }

    #[test]
    fn a_fitting_action_is_faster_than_waiting_for_a_person() {
        let model = model();
        let retry = model.estimate(FailureClass::TransientInfra, &Action::Retry {}, &shape(), 1);
        let escalate =
            model.estimate(FailureClass::TransientInfra, &Action::Escalate { reason: String::new() }, &shape(), 1);
        assert!(retry.median_s < 3_600, "a retry of a 20-minute run: {retry:?}");
        assert!(escalate.median_s > 10 * 3_600, "a person takes about a day: {escalate:?}");
        let more = Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: None };
        let enough = model.estimate(FailureClass::ResourceExhaustion, &more, &shape(), 1);
        let same = model.estimate(FailureClass::ResourceExhaustion, &Action::Retry {}, &shape(), 1);
        assert!(enough.median_s < same.median_s, "{enough:?} vs {same:?}");
        // Waiting for the next daily run of a transient failure takes about a day.
        let wait = model.estimate(FailureClass::TransientInfra, &Action::LogAndWait {}, &shape(), 1);
        assert!(wait.median_s >= 24 * 3_600);
    }

    #[test]
    fn percentiles_interpolate_and_seeds_are_stable() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(percentile(&[1.0, 3.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(seed_of(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(seed_of("a"), seed_of("b"));
    }
}
