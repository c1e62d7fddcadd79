//! Off-policy estimates of the mean time-to-fix a policy would have had on
//! the logged incidents, from what the logging policy did and how likely it
//! was to do it (`decision.policy.propensity`).
//!
//! Two estimators, both over the complete incidents (`Dataset::complete`):
//! - **WIS**, weighted importance sampling: each incident's time-to-fix
//!   weighted by the product over its steps of `pi(a|s) / mu(a|s)`, where
//!   `pi` is the evaluated policy's (deterministic) choice at the logged
//!   request and `mu` the logged propensity; normalised by the weights.
//! - **DR**, doubly robust (Jiang and Li, 2016), per incident backwards:
//!   `DR_t = V(s_t) + rho_t * (c_t + DR_{t+1} - Q(s_t, a_t))`, where `c_t` is
//!   the step's minutes and `Q` a fitted-Q evaluation of the policy on the
//!   same steps (`learn::pool` shrinkage, no prior). It stays unbiased
//!   where the propensities are right and uses the model where the policy
//!   leaves the logged path.
//!
//! Confidence intervals: percentile bootstrap over incidents (seeded
//! ChaCha, `resamples` draws; the value model is kept fixed). The two
//! policies are resampled together, so the difference has its own interval.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::core::model::ActionKind;
use crate::learn::dataset::Dataset;
use crate::learn::pool::{Hierarchy, Kappas};

#[derive(Debug, Clone, Serialize)]
pub struct OpeSettings {
    pub kappas: Kappas,
    pub resamples: usize,
    pub seed: u64,
    pub iterations: usize,
}

impl Default for OpeSettings {
    fn default() -> OpeSettings {
        OpeSettings {
            kappas: Kappas { state: 3.0, group: 6.0, class: 12.0 },
            resamples: 1_000,
            seed: 2_718,
            iterations: 200,
        }
    }
}

/// A point estimate and its 95% interval, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyEstimate {
    pub doubly_robust: Interval,
    pub weighted_importance: Interval,
    /// Incidents on which the policy would have done exactly what was logged.
    pub matching_incidents: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub incidents: usize,
    /// Mean logged time-to-fix (the logging policy, on policy).
    pub logged_mean: f64,
    pub base: PolicyEstimate,
    pub candidate: PolicyEstimate,
    /// Candidate minus base, doubly robust.
    pub difference: Interval,
}

/// Per incident: doubly robust value, importance weight, logged time-to-fix.
struct PerIncident {
    doubly_robust: f64,
    weight: f64,
    minutes: f64,
}

/// Estimates for the base and the candidate, whose choices at every logged
/// step are `base_actions[step]` and `candidate_actions[step]`.
pub fn compare(
    dataset: &Dataset,
    base_actions: &[ActionKind],
    candidate_actions: &[ActionKind],
    settings: &OpeSettings,
) -> Comparison {
    let incidents = dataset.complete();
    let base = per_incident(dataset, &incidents, base_actions, settings);
    let candidate = per_incident(dataset, &incidents, candidate_actions, settings);
    let logged_mean = mean(base.iter().map(|incident| incident.minutes));
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let count = incidents.len();
    let mut draws: [Vec<f64>; 5] = Default::default();
    for _ in 0..settings.resamples {
        let sample: Vec<usize> = (0..count).map(|_| rng.random_range(0..count.max(1))).collect();
        let base_dr = mean(sample.iter().map(|index| base[*index].doubly_robust));
        let candidate_dr = mean(sample.iter().map(|index| candidate[*index].doubly_robust));
        draws[0].push(base_dr);
        draws[1].push(candidate_dr);
        draws[2].push(candidate_dr - base_dr);
        draws[3].push(weighted(sample.iter().map(|index| &base[*index])));
        draws[4].push(weighted(sample.iter().map(|index| &candidate[*index])));
    }
    let base_dr = mean(base.iter().map(|incident| incident.doubly_robust));
    let candidate_dr = mean(candidate.iter().map(|incident| incident.doubly_robust));
    let estimate = |side: &[PerIncident], dr: f64, dr_draws: &mut Vec<f64>, wis_draws: &mut Vec<f64>| PolicyEstimate {
        doubly_robust: interval(dr, dr_draws),
        weighted_importance: interval(weighted(side.iter()), wis_draws),
        matching_incidents: side.iter().filter(|incident| incident.weight > 0.0).count(),
    };
    let [base_draws, candidate_draws, difference_draws, base_wis, candidate_wis] = &mut draws;
    Comparison {
        incidents: count,
        logged_mean,
        base: estimate(&base, base_dr, base_draws, base_wis),
        candidate: estimate(&candidate, candidate_dr, candidate_draws, candidate_wis),
        difference: interval(candidate_dr - base_dr, difference_draws),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0_usize), |(sum, count), value| (sum + value, count + 1));
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

fn weighted<'a>(incidents: impl Iterator<Item = &'a PerIncident>) -> f64 {
    let (sum, weights) = incidents.fold((0.0, 0.0), |(sum, weights), incident| {
        (sum + incident.weight * incident.minutes, weights + incident.weight)
    });
    if weights > 0.0 { sum / weights } else { f64::NAN }
}

/// The 2.5% and 97.5% percentiles of the finite draws around `estimate`.
fn interval(estimate: f64, draws: &mut Vec<f64>) -> Interval {
    draws.retain(|value| value.is_finite());
    draws.sort_by(f64::total_cmp);
    let at = |fraction: f64| {
        if draws.is_empty() {
            return f64::NAN;
        }
        let rank = ((fraction * draws.len() as f64).ceil() as usize).clamp(1, draws.len());
        draws[rank - 1]
    };
    Interval { estimate, low: at(0.025), high: at(0.975) }
}

/// A fitted-Q evaluation of a policy.
struct Values {
    pool: Hierarchy,
    escalation: Option<f64>,
}

/// Fitted-Q evaluation of a policy: expected minutes to recovery of each
/// logged (state, action) when the policy decides from the next step on.
fn evaluate_values(dataset: &Dataset, actions: &[ActionKind], settings: &OpeSettings) -> Values {
    let transitions = dataset.transitions();
    let escalations: Vec<f64> = transitions
        .iter()
        .filter(|(index, next)| next.is_none() && dataset.steps[*index].action == ActionKind::Escalate)
        .map(|(index, _)| dataset.steps[*index].minutes())
        .collect();
    let escalation = (!escalations.is_empty()).then(|| escalations.iter().sum::<f64>() / escalations.len() as f64);
    let mut next_minutes = vec![0.0; transitions.len()];
    let mut values = Values { pool: Hierarchy::default(), escalation };
    for _ in 0..settings.iterations {
        values.pool = Hierarchy::default();
        for ((index, _), continuation) in transitions.iter().zip(&next_minutes) {
            let step = &dataset.steps[*index];
            values.pool.add(&step.state, step.action, step.minutes() + continuation);
        }
        let mut largest_move: f64 = 0.0;
        for ((_, next), continuation) in transitions.iter().zip(next_minutes.iter_mut()) {
            if let Some(next) = next {
                let updated = value_of(dataset, &values, *next, actions[*next], settings);
                largest_move = largest_move.max((updated - *continuation).abs());
                *continuation = updated;
            }
        }
        if largest_move < 0.01 {
            break;
        }
    }
    values
}

/// The value of `action` at a logged step; the logged action's value when
/// nothing is known of `action` in this state's groups. An escalation's
/// value is the mean of every resolved escalation: a person's time does not
/// depend on the state, and varies too much to be estimated per state.
fn value_of(dataset: &Dataset, values: &Values, index: usize, action: ActionKind, settings: &OpeSettings) -> f64 {
    if action == ActionKind::Escalate
        && let Some(escalation) = values.escalation
    {
        return escalation;
    }
    let step = &dataset.steps[index];
    values
        .pool
        .estimate(&step.state, action, &settings.kappas, None)
        .or_else(|| values.pool.estimate(&step.state, step.action, &settings.kappas, None))
        .unwrap_or(0.0)
}

fn per_incident(
    dataset: &Dataset,
    incidents: &[Range<usize>],
    actions: &[ActionKind],
    settings: &OpeSettings,
) -> Vec<PerIncident> {
    let values = evaluate_values(dataset, actions, settings);
    incidents
        .iter()
        .map(|range| {
            let mut doubly_robust = 0.0;
            let mut weight = 1.0;
            let mut minutes = 0.0;
            for index in range.clone().rev() {
                let step = &dataset.steps[index];
                let rho = if actions[index] == step.action { 1.0 / step.propensity } else { 0.0 };
                let state_value = value_of(dataset, &values, index, actions[index], settings);
                let action_value = value_of(dataset, &values, index, step.action, settings);
                doubly_robust = state_value + rho * (step.minutes() + doubly_robust - action_value);
                weight *= rho;
                minutes += step.minutes();
            }
            PerIncident { doubly_robust, weight, minutes }
        })
        .collect()
}
