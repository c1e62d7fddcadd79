//! The candidate of `learn`: fitted Q iteration on the logged steps, with
//! the base policy's values as the prior and shrinkage over groups of
//! states (`learn::pool`), so that a few hundred incidents are enough.
//!
//! A step's target is its reward (minus the minutes it took, minus the
//! penalties `train` uses for a failed run and an escalation) plus, when it
//! did not resolve the incident, the value of the best action safety allows
//! at the next logged step. The estimate of (state, action) is the mean of
//! its targets pulled toward a prior by `kappas.state` pseudo-samples. The
//! prior is the base's value plus a *correction* pooled over the state's
//! group, class and action: how far the estate's targets fell from the
//! base's values there. So when retries heal far more often here than the
//! base assumed, every state of that class and attempt learns it, including
//! the states seen once or never. Without a base value the prior is the
//! pooled mean of the targets themselves. The targets depend on the values
//! of next states, so the two are iterated until nothing moves.
//!
//! Three guards keep a candidate from being worse than its base on the
//! estate it learnt from: choices are made on pessimistic scores (the mean
//! lowered by `pessimism` standard errors); the candidate leaves the base's
//! choice in a state only for an action logged `evidence_samples` times in
//! that state (safe policy improvement with the base as baseline, as in
//! SPIBB: other actions are written just below the choice); and an
//! escalation is valued once for all states (what the estate's people take).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::core::model::ActionKind;
use crate::core::policy::{Policy, QTable, State};
use crate::learn::dataset::Dataset;
use crate::learn::pool::{Hierarchy, Kappas};
use crate::learn::train::RewardSettings;

#[derive(Debug, Clone, Serialize)]
pub struct FitSettings {
    pub kappas: Kappas,
    /// Pessimism: values are lowered by this many standard errors
    /// (`spread / sqrt(samples + kappas.state)`), so an action seen a few
    /// times with luck does not displace one seen often.
    pub pessimism: f64,
    pub reward: RewardSettings,
    pub max_iterations: usize,
    /// Stop when no target moves by more than this many minutes.
    pub tolerance_minutes: f64,
    /// Samples of (state, action) needed before the candidate may choose
    /// that action where the base chooses another one.
    pub evidence_samples: u64,
}

impl Default for FitSettings {
    fn default() -> FitSettings {
        FitSettings {
            kappas: Kappas { state: 3.0, group: 6.0, class: 12.0 },
            pessimism: 1.0,
            reward: RewardSettings::default(),
            max_iterations: 500,
            tolerance_minutes: 0.01,
            evidence_samples: 10,
        }
    }
}

/// The fitted values of every state the candidate covers.
#[derive(Debug, Clone, Default)]
pub struct Fitted {
    pub values: BTreeMap<State, BTreeMap<ActionKind, f64>>,
    /// Logged samples per (state, action).
    pub samples: BTreeMap<(State, ActionKind), u64>,
    pub iterations: usize,
}

/// The base's values by parsed state (keys that do not parse are ignored:
/// `QTable` refuses them on load anyway).
fn base_values(base: Option<&QTable>) -> BTreeMap<State, BTreeMap<ActionKind, f64>> {
    let Some(table) = base else {
        return BTreeMap::new();
    };
    table.states().iter().filter_map(|(key, entry)| Some((State::parse(key).ok()?, entry.q.clone()))).collect()
}

struct Values<'a> {
    base: &'a BTreeMap<State, BTreeMap<ActionKind, f64>>,
    base_policy: &'a Policy,
    evidence_samples: u64,
    corrections: Hierarchy,
    targets: Hierarchy,
    /// The value of an escalation, the same in every state (see
    /// `escalation_value`), and its standard error.
    escalation: Option<f64>,
    escalation_error: f64,
    kappas: Kappas,
    pessimism: f64,
}

impl Values<'_> {
    fn base(&self, state: &State, action: ActionKind) -> Option<f64> {
        self.base.get(state).and_then(|entry| entry.get(&action)).copied()
    }

    /// The expected value of (state, action): its targets shrunk toward the prior.
    fn mean(&self, state: &State, action: ActionKind) -> Option<f64> {
        if action == ActionKind::Escalate && self.escalation.is_some() {
            return self.escalation;
        }
        let prior = self
            .base(state, action)
            .map(|base| base + self.corrections.pooled(state, action, &self.kappas, Some(0.0)).unwrap_or(0.0));
        self.targets.estimate(state, action, &self.kappas, prior)
    }

    /// The value a choice is made on: the mean, lowered by `pessimism`
    /// standard errors for any action but the base's own choice, so that
    /// leaving the base takes evidence and an action seen a few times with
    /// luck does not displace one seen often.
    fn score(&self, state: &State, action: ActionKind, base_choice: ActionKind) -> Option<f64> {
        let mean = self.mean(state, action)?;
        if action == base_choice {
            return Some(mean);
        }
        let standard_error = if action == ActionKind::Escalate {
            self.escalation_error
        } else {
            let spread = self.targets.spread(state, action).unwrap_or(0.0);
            let samples = self.targets.samples(state, action) as f64;
            spread / (samples + self.kappas.state).sqrt()
        };
        Some(mean - self.pessimism * standard_error)
    }

    /// What the base chooses in `state` among `allowed`.
    fn base_choice(&self, state: &State, allowed: &[ActionKind]) -> ActionKind {
        self.base_policy.propose(state, allowed).proposed
    }

    /// Whether the candidate may choose `action` in `state`: the base's own
    /// choice, an escalation (valued from every escalation logged), or an
    /// action with `evidence_samples` logged samples in this very state (or
    /// three times as many in its group).
    /// Leaving the base's choice on less evidence, an estate's luck in a
    /// rare state would decide (safe policy improvement with the base as
    /// the baseline, as SPIBB does).
    fn eligible(&self, state: &State, action: ActionKind, base_choice: ActionKind) -> bool {
        action == base_choice
            || action == ActionKind::Escalate
            || self.targets.samples(state, action) >= self.evidence_samples
            || self.targets.group_samples(state, action) >= GROUP_EVIDENCE_FACTOR * self.evidence_samples
    }

    /// The candidate's choice in `state` among `allowed`, on scores.
    fn choice(&self, state: &State, allowed: &[ActionKind]) -> Option<(ActionKind, f64)> {
        let base_choice = self.base_choice(state, allowed);
        allowed
            .iter()
            .filter(|kind| self.eligible(state, **kind, base_choice))
            .filter_map(|kind| Some((*kind, self.score(state, *kind, base_choice)?)))
            .fold(None, |best: Option<(ActionKind, f64)>, (kind, score)| match best {
                Some((_, best_score)) if best_score >= score => best,
                _ => Some((kind, score)),
            })
    }

    /// The value of a state: the mean of the action chosen on scores (so
    /// pessimism picks, but does not pile up along a chain of steps).
    fn best(&self, state: &State, allowed: &[ActionKind]) -> Option<f64> {
        let (chosen, _) = self.choice(state, allowed)?;
        self.mean(state, chosen)
    }
}

/// Fits the candidate's values.
pub fn fit(dataset: &Dataset, base_policy: &Policy, settings: &FitSettings) -> Fitted {
    let base_table = match base_policy {
        Policy::Table(table) => Some(table),
        Policy::Rules => None,
    };
    let base = base_values(base_table);
    let transitions = dataset.transitions();
    let rewards: Vec<f64> = transitions.iter().map(|(index, _)| reward(dataset, *index, settings)).collect();
    let empty = Values {
        base: &base,
        base_policy,
        evidence_samples: settings.evidence_samples,
        corrections: Hierarchy::default(),
        targets: Hierarchy::default(),
        escalation: None,
        escalation_error: 0.0,
        kappas: settings.kappas,
        pessimism: settings.pessimism,
    };
    let mut next_values: Vec<f64> = transitions
        .iter()
        .map(|(index, next)| next.map_or(0.0, |next| next_value(dataset, *index, next, &empty).unwrap_or(0.0)))
        .collect();
    let mut values = empty;
    let mut iterations = 0;
    while iterations < settings.max_iterations {
        iterations += 1;
        let mut corrections = Hierarchy::default();
        let mut targets = Hierarchy::default();
        for (((index, _), reward), next_value) in transitions.iter().zip(&rewards).zip(&next_values) {
            let step = &dataset.steps[*index];
            let target = reward + next_value;
            targets.add(&step.state, step.action, target);
            if let Some(base_value) = values.base(&step.state, step.action) {
                corrections.add(&step.state, step.action, target - base_value);
            }
        }
        values.corrections = corrections;
        values.targets = targets;
        (values.escalation, values.escalation_error) =
            escalation_value(dataset, &transitions, &rewards, &base, settings);
        let mut largest_move: f64 = 0.0;
        for ((index, next), continuation) in transitions.iter().zip(next_values.iter_mut()) {
            if let Some(next) = next
                && let Some(updated) = next_value(dataset, *index, *next, &values)
            {
                largest_move = largest_move.max((updated - *continuation).abs());
                *continuation = updated;
            }
        }
        if largest_move < settings.tolerance_minutes {
            break;
        }
    }
    finish(dataset, &values, iterations)
}

/// The value of the best allowed action at the logged step after `index`.
/// When a failed action leads back into the same state (only possible at
/// `attempt=2+` with the same action last), that action is not counted on
/// again: the state cannot tell the third `log_and_wait` from the tenth, and
/// planning on repeating what just failed would value an endless loop of
/// waits by its rare successes, while in an estate a person steps in.
fn next_value(dataset: &Dataset, index: usize, next: usize, values: &Values<'_>) -> Option<f64> {
    let step = &dataset.steps[index];
    let following = &dataset.steps[next];
    if following.state == step.state {
        let others: Vec<ActionKind> = following.allowed.iter().copied().filter(|kind| *kind != step.action).collect();
        return values.best(&following.state, &others);
    }
    values.best(&following.state, &following.allowed)
}

/// An escalation's value is what the estate's people take (their delay, the
/// fix and the rerun) plus its penalty: nothing about the state changes it,
/// and a person's delay varies so much (a day, or a week) that estimating it
/// per state would turn noise into choices. So it is one number: the mean
/// over every logged escalation that a person resolved, shrunk by
/// `kappas.class` pseudo-samples toward the base's mean escalation value.
fn escalation_value(
    dataset: &Dataset,
    transitions: &[(usize, Option<usize>)],
    rewards: &[f64],
    base: &BTreeMap<State, BTreeMap<ActionKind, f64>>,
    settings: &FitSettings,
) -> (Option<f64>, f64) {
    let samples: Vec<f64> = transitions
        .iter()
        .zip(rewards)
        .filter(|((index, next), _)| next.is_none() && dataset.steps[*index].action == ActionKind::Escalate)
        .map(|(_, reward)| *reward)
        .collect();
    let count = samples.len() as f64;
    let sum: f64 = samples.iter().sum();
    let base_values: Vec<f64> = base.values().filter_map(|entry| entry.get(&ActionKind::Escalate).copied()).collect();
    let prior = (!base_values.is_empty()).then(|| base_values.iter().sum::<f64>() / base_values.len() as f64);
    let value = crate::learn::pool::Tally::of(sum, count).shrunk(prior, settings.kappas.class);
    let spread = if count >= 2.0 {
        let mean = sum / count;
        (samples.iter().map(|sample| (sample - mean).powi(2)).sum::<f64>() / (count - 1.0)).sqrt()
    } else {
        0.0
    };
    (value, spread / (count + settings.kappas.class).sqrt())
}

fn reward(dataset: &Dataset, index: usize, settings: &FitSettings) -> f64 {
    let step = &dataset.steps[index];
    let failed_run = !step.resolved() && step.action != ActionKind::Escalate;
    -step.minutes()
        - if failed_run { settings.reward.failed_run_penalty_minutes } else { 0.0 }
        - if step.action == ActionKind::Escalate { settings.reward.escalation_penalty_minutes } else { 0.0 }
}

/// The candidate's entries: every base state with the base's actions, and
/// for every logged state the actions safety allowed in any of its logged
/// requests (a state covers several requests: `attempt=2+` holds attempts
/// the attempt limit treats differently). `decide` chooses among the
/// actions allowed for the request at hand, so a value here never makes an
/// action allowed.
fn finish(dataset: &Dataset, values: &Values<'_>, iterations: usize) -> Fitted {
    let mut actions: BTreeMap<State, BTreeSet<ActionKind>> =
        values.base.iter().map(|(state, entry)| (*state, entry.keys().copied().collect())).collect();
    for step in &dataset.steps {
        actions.entry(step.state).or_default().extend(step.allowed.iter().copied());
    }
    let mut fitted = Fitted { iterations, ..Fitted::default() };
    for (state, kinds) in actions {
        let kinds: Vec<ActionKind> = kinds.into_iter().collect();
        let base_choice = values.base_choice(&state, &kinds);
        let chosen_score = values.choice(&state, &kinds).map(|(_, score)| score);
        let entry: BTreeMap<ActionKind, f64> = kinds
            .iter()
            .filter_map(|kind| {
                let score = values.score(&state, *kind, base_choice)?;
                // Below the choice unless there is evidence to choose it.
                let capped = match chosen_score {
                    Some(chosen) if !values.eligible(&state, *kind, base_choice) => score.min(chosen - CAP_MARGIN),
                    _ => score,
                };
                Some((*kind, capped))
            })
            .collect();
        for kind in entry.keys() {
            let samples = values.targets.samples(&state, *kind);
            if samples > 0 {
                fitted.samples.insert((state, *kind), samples);
            }
        }
        if !entry.is_empty() {
            fitted.values.insert(state, entry);
        }
    }
    fitted
}

/// An action logged this many times `evidence_samples` in the state's group
/// (class and attempt) is evidence enough in each state of the group: how
/// an action fares after one capacity step is much the same whatever the
/// job's risk tier or recent runs.
const GROUP_EVIDENCE_FACTOR: u64 = 3;

/// How far below the chosen action's value an action without enough
/// evidence is written (above the file's rounding to six decimals).
const CAP_MARGIN: f64 = 0.001;
