//! Randomised estates: a fresh parameter set drawn around a shipped one, so
//! a policy trained across many of them is good across the range of
//! plausible worlds instead of fitted to one simulator's odds (the reason a
//! table trained on `config/sim.toml` alone lost to the rules on an estate
//! nobody on the team wrote: it picked what was best at this simulator's odds).
//!
//! Every draw is a pure function of the base set and the generator. What
//! moves, and how far (the spreads below, documented in docs/learning.md):
//!
//! | what | how |
//! |---|---|
//! | cause mix | each weight times a log-uniform factor in [1/3, 3] |
//! | outcome odds | each non-zero success probability moved in logit space by U(-2, 2), kept within [0.02, 0.99] |
//! | people | median delay times a log-uniform factor in [1/3, 3], sigma U(0.6, 1.3), fix minutes times [1/2, 2] |
//! | late sources | median lateness times a log-uniform factor in [1/3, 4], sigma U(0.6, 1.3) |
//! | evidence noise | each fraction times a factor in [0.4, 2] (error logs present: U(0.5, 0.97)) |
//! | capacity needed | minimum U(1.1, 1.6), maximum the minimum plus U(0.4, 1.6) |
//! | job shapes | run minutes times [1/2, 2] (timeout kept above), workers and ceiling times [1/2, 2] (ceiling kept at or above the workers, sometimes equal), schedule times one of 1/4, 1/2, 1, 2, weight times [1/3, 3], risk tier moved one step up or down with probability 1/4 |

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::core::model::RiskTier;
use crate::sim::config::{CapacityModel, SimConfig};

/// Spread of the logit shift of an outcome probability.
const LOGIT_SHIFT: f64 = 2.0;

fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    (rng.random_range(low.ln()..high.ln())).exp()
}

fn shift_probability(probability: f64, rng: &mut ChaCha8Rng) -> f64 {
    if probability <= 0.0 {
        return probability;
    }
    let clamped = probability.clamp(1e-4, 1.0 - 1e-4);
    let logit = (clamped / (1.0 - clamped)).ln() + rng.random_range(-LOGIT_SHIFT..LOGIT_SHIFT);
    (1.0 / (1.0 + (-logit).exp())).clamp(0.02, 0.99)
}

fn scale_fraction(value: f64, rng: &mut ChaCha8Rng) -> f64 {
    (value * rng.random_range(0.4..2.0)).clamp(0.0, 0.95)
}

fn neighbour_tier(tier: RiskTier, rng: &mut ChaCha8Rng) -> RiskTier {
    if !rng.random_bool(0.25) {
        return tier;
    }
    let index = RiskTier::ALL.iter().position(|candidate| *candidate == tier).unwrap_or(1);
    let moved = if rng.random_bool(0.5) { index.saturating_sub(1) } else { (index + 1).min(RiskTier::ALL.len() - 1) };
    RiskTier::ALL[moved]
}

/// A world drawn around `base`; its name says which base and which draw.
pub fn randomize(base: &SimConfig, draw: u64, rng: &mut ChaCha8Rng) -> SimConfig {
    let mut world = base.clone();
    world.name = format!("{}~{draw}", base.name);
    for weight in world.causes.values_mut() {
        *weight *= log_uniform(rng, 1.0 / 3.0, 3.0);
    }
    for actions in world.outcomes.values_mut() {
        for probability in actions.values_mut() {
            *probability = shift_probability(*probability, rng);
        }
    }
    world.human.median_hours *= log_uniform(rng, 1.0 / 3.0, 3.0);
    world.human.sigma = rng.random_range(0.6..1.3);
    world.human.fix_minutes *= log_uniform(rng, 0.5, 2.0);
    world.lateness.median_minutes *= log_uniform(rng, 1.0 / 3.0, 4.0);
    world.lateness.sigma = rng.random_range(0.6..1.3);
    let noise = &mut world.evidence;
    for fraction in [
        &mut noise.wrapper_only_fraction,
        &mut noise.shared_family_fraction,
        &mut noise.additive_drift_fraction,
        &mut noise.stale_schema_warning_fraction,
        &mut noise.unrelated_late_source_fraction,
        &mut noise.context_missing_fraction,
        &mut noise.history_missing_fraction,
    ] {
        *fraction = scale_fraction(*fraction, rng);
    }
    noise.error_log_present_fraction = rng.random_range(0.5..0.97);
    let needed_factor_min = rng.random_range(1.1..1.6);
    world.capacity =
        CapacityModel { needed_factor_min, needed_factor_max: needed_factor_min + rng.random_range(0.4..1.6) };
    for job in &mut world.jobs {
        job.run_minutes *= log_uniform(rng, 0.5, 2.0);
        let timeout_floor = (job.run_minutes * 1.3).ceil() as u64 + 1;
        job.timeout_minutes = job.timeout_minutes.max(timeout_floor);
        let workers_factor = log_uniform(rng, 0.5, 2.0);
        job.number_of_workers = ((f64::from(job.number_of_workers) * workers_factor).round() as u32).max(2);
        let ceiling_factor = if rng.random_bool(0.15) { 1.0 } else { log_uniform(rng, 1.2, 4.0) };
        job.max_workers =
            ((f64::from(job.number_of_workers) * ceiling_factor).round() as u32).max(job.number_of_workers);
        job.schedule_interval_minutes *= [0.25, 0.5, 1.0, 1.0, 2.0][rng.random_range(0..5)];
        job.schedule_interval_minutes = job.schedule_interval_minutes.max(60.0);
        job.weight *= log_uniform(rng, 1.0 / 3.0, 3.0);
        job.risk_tier = neighbour_tier(job.risk_tier, rng);
    }
    world
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn worlds_are_valid_reproducible_and_differ() {
        let base = SimConfig::embedded_default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let first = randomize(&base, 0, &mut rng);
        let second = randomize(&base, 1, &mut rng);
        assert_ne!(first.outcomes, second.outcomes);
        assert_eq!(first, randomize(&base, 0, &mut ChaCha8Rng::seed_from_u64(5)));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for draw in 0..200 {
            let world = randomize(&base, draw, &mut rng);
            let text = toml::to_string(&world).expect("serialises");
            SimConfig::from_toml(&text).unwrap_or_else(|error| panic!("draw {draw} is invalid: {error:#}\n{text}"));
        }
    }
}
