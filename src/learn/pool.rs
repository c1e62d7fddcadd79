//! Shrinkage over a hierarchy of state groups, so that a few samples per
//! state still say something: an estimate for (state, action) leans on the
//! state's own samples, then on its group (failure class and attempt), then
//! on its class. Each level is a mean pulled toward the level above by
//! `kappa` pseudo-samples:
//!
//! ```text
//! class level   m2 = (S2 + k2 * top) / (n2 + k2)     (S2 / n2 without a top prior)
//! group level   m1 = (S1 + k1 * m2)  / (n1 + k1)
//! state level   q  = (S0 + k0 * prior) / (n0 + k0)    prior = m1, or a base value plus a pooled correction
//! ```
//!
//! Nothing is pooled across failure classes: what an action does depends on
//! what broke (waiting for the next run heals a late source, not bad data),
//! and an earlier version that pooled an action's corrections across
//! classes carried a late source's cheap `log_and_wait` over to memory and
//! data failures.
//!
//! Used by `learn::fit` (corrections to the base policy's values and
//! absolute values) and by `learn::ope` (values of a target policy).

use std::collections::BTreeMap;

use crate::core::model::{ActionKind, FailureClass};
use crate::core::policy::State;
use crate::core::policy::state::AttemptBucket;

/// Pseudo-sample weights of each level (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Kappas {
    pub state: f64,
    pub group: f64,
    pub class: f64,
}

/// Sum, sum of squares and count of the samples at one key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub sum: f64,
    pub sum_of_squares: f64,
    pub count: f64,
}

impl Tally {
    /// A tally of `count` samples summing to `sum` (no spread known).
    pub fn of(sum: f64, count: f64) -> Tally {
        Tally { sum, sum_of_squares: 0.0, count }
    }

    fn add(&mut self, value: f64) {
        self.sum += value;
        self.sum_of_squares += value * value;
        self.count += 1.0;
    }

    /// Sample standard deviation; `None` below two samples.
    pub fn spread(&self) -> Option<f64> {
        if self.count < 2.0 {
            return None;
        }
        let mean = self.sum / self.count;
        let variance = (self.sum_of_squares - self.count * mean * mean) / (self.count - 1.0);
        Some(variance.max(0.0).sqrt())
    }

    /// The mean pulled toward `prior` by `kappa` pseudo-samples; without a
    /// prior, the plain mean; `None` with neither samples nor prior.
    pub fn shrunk(&self, prior: Option<f64>, kappa: f64) -> Option<f64> {
        match prior {
            Some(prior) => Some((self.sum + kappa * prior) / (self.count + kappa)),
            None if self.count > 0.0 => Some(self.sum / self.count),
            None => None,
        }
    }
}

/// Samples by (state, action) and by the groups above it.
#[derive(Debug, Clone, Default)]
pub struct Hierarchy {
    exact: BTreeMap<(State, ActionKind), Tally>,
    group: BTreeMap<(FailureClass, AttemptBucket, ActionKind), Tally>,
    class: BTreeMap<(FailureClass, ActionKind), Tally>,
}

impl Hierarchy {
    pub fn add(&mut self, state: &State, action: ActionKind, value: f64) {
        self.exact.entry((*state, action)).or_default().add(value);
        self.group.entry((state.class, state.attempt, action)).or_default().add(value);
        self.class.entry((state.class, action)).or_default().add(value);
    }

    pub fn exact(&self, state: &State, action: ActionKind) -> Tally {
        self.exact.get(&(*state, action)).copied().unwrap_or_default()
    }

    /// The group-level estimate for (state, action), each level shrunk
    /// toward the one above and the class level toward `top` when given.
    pub fn pooled(&self, state: &State, action: ActionKind, kappas: &Kappas, top: Option<f64>) -> Option<f64> {
        let class_level = self.class.get(&(state.class, action)).copied().unwrap_or_default().shrunk(top, kappas.class);
        self.group
            .get(&(state.class, state.attempt, action))
            .copied()
            .unwrap_or_default()
            .shrunk(class_level, kappas.group)
    }

    /// The state-level estimate with `prior` (or the pooled value when there is none).
    pub fn estimate(&self, state: &State, action: ActionKind, kappas: &Kappas, prior: Option<f64>) -> Option<f64> {
        let prior = prior.or_else(|| self.pooled(state, action, kappas, None));
        self.exact(state, action).shrunk(prior, kappas.state)
    }

    /// How widely the samples of this action spread within the state's
    /// class (across the class's states).
    pub fn spread(&self, state: &State, action: ActionKind) -> Option<f64> {
        self.class.get(&(state.class, action)).and_then(Tally::spread)
    }

    /// Number of samples of (state, action).
    pub fn samples(&self, state: &State, action: ActionKind) -> u64 {
        self.exact(state, action).count as u64
    }

    /// Number of samples of the action in the state's group (class and attempt).
    pub fn group_samples(&self, state: &State, action: ActionKind) -> u64 {
        self.group.get(&(state.class, state.attempt, action)).map_or(0, |tally| tally.count as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(attempt: &str, class: &str) -> State {
        State::parse(&format!(
            "class={class}|ran=late|drift=none|attempt={attempt}|risk=medium|source=fresh|recent=healthy|last=none"
        ))
        .expect("valid key")
    }

    #[test]
    fn few_samples_lean_on_the_group_and_many_on_themselves() {
        let kappas = Kappas { state: 4.0, group: 4.0, class: 4.0 };
        let mut pool = Hierarchy::default();
        let busy = state("0", "transient_infra");
        for _ in 0..100 {
            pool.add(&busy, ActionKind::Retry, -10.0);
        }
        let rare = state("0", "transient_infra").key().replace("recent=healthy", "recent=flaky");
        let rare = State::parse(&rare).expect("valid");
        pool.add(&rare, ActionKind::Retry, -50.0);
        let busy_value = pool.estimate(&busy, ActionKind::Retry, &kappas, None).expect("has samples");
        let rare_value = pool.estimate(&rare, ActionKind::Retry, &kappas, None).expect("has a group");
        assert!((busy_value + 10.0).abs() < 0.5, "{busy_value}");
        assert!(rare_value > -20.0 && rare_value < -10.0, "one sample moves it a little: {rare_value}");
        let other_class = state("0", "timeout");
        assert_eq!(pool.estimate(&other_class, ActionKind::Retry, &kappas, None), None, "nothing crosses classes");
        let correction = pool.pooled(&other_class, ActionKind::Retry, &kappas, Some(0.0));
        assert_eq!(correction, Some(0.0), "a correction without samples is no correction");
    }
}
