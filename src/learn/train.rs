//! Tabular Q-learning on the simulator. The agent is the policy exactly as
//! `decide` will run it: the state is the policy's [`State`], the greedy
//! choice is the table's, the parameters come from `parametrise`, and the
//! safety layer reviews every proposal. Exploration (epsilon-greedy) draws
//! only among the actions the safety layer allows for the incident. A
//! (state, action) that the safety layer ever blocks in training is dropped
//! from the table, so the trained policy never proposes what would be
//! replaced (the attempt bucket `2+` covers attempts the limit blocks).
//!
//! Reward per step = -(minutes the step took) - penalties for a failed
//! remediation run, for an escalation and for an action harmful for the
//! true cause; undiscounted, so a Q-value reads as minus the expected
//! minutes (plus penalties) to recovery.
//!
//! Determinism: one seeded ChaCha stream, ordered maps only, and the table
//! is written by `QTable::to_json_pretty` (rounded, ordered), so the same
//! options give the same file byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;

use crate::core::diagnosis::diagnose;
use crate::core::evidence::FleetContext;
use crate::core::model::{ActionKind, Mode};
use crate::core::params::parametrise;
use crate::core::policy::{QTable, State};
use crate::core::safety::{SafetySettings, allowed_actions, review};
use crate::learn::episode::MAX_STEPS;
use crate::sim::{Estate, Resolution, SimConfig};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardSettings {
    pub failed_run_penalty_minutes: f64,
    pub escalation_penalty_minutes: f64,
    pub harm_penalty_minutes: f64,
}

impl Default for RewardSettings {
    fn default() -> RewardSettings {
        RewardSettings {
            failed_run_penalty_minutes: 15.0,
            escalation_penalty_minutes: 60.0,
            harm_penalty_minutes: 600.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Parameter sets to train on; episodes cycle through them in order.
    pub sims: Vec<SimConfig>,
    pub episodes: u64,
    pub seed: u64,
    pub reward: RewardSettings,
    pub epsilon_start: f64,
    pub epsilon_end: f64,
    /// Floor of the per-pair learning rate 1/visits.
    pub min_learning_rate: f64,
    /// Points of the learning curve kept in the file.
    pub curve_points: u64,
}

impl TrainOptions {
    pub fn new(sims: Vec<SimConfig>, episodes: u64, seed: u64) -> TrainOptions {
        TrainOptions {
            sims,
            episodes,
            seed,
            reward: RewardSettings::default(),
            epsilon_start: 0.3,
            epsilon_end: 0.02,
            min_learning_rate: 0.003,
            curve_points: 40,
        }
    }
}

/// Training settings for the safety layer: `auto`, so every action kind is
/// reachable; every other bound at its default, as `decide` applies them.
pub fn training_safety_settings() -> SafetySettings {
    SafetySettings { mode: Some(Mode::Auto), ..SafetySettings::default() }
}

/// A point of the learning curve: behaviour over one block of episodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    pub episodes: u64,
    pub mean_minutes: f64,
    pub auto_resolution: f64,
    pub epsilon: f64,
}

#[derive(Default)]
struct Learner {
    q: BTreeMap<State, BTreeMap<ActionKind, (f64, u64)>>,
    blocked: BTreeSet<(State, ActionKind)>,
}

/// Value of a pair never tried: about one escalation, so an untried action
/// neither dominates a known remedy nor is ruled out.
const UNTRIED_VALUE: f64 = -1_500.0;

impl Learner {
    fn value(&self, state: &State, kind: ActionKind) -> f64 {
        self.q.get(state).and_then(|entry| entry.get(&kind)).map_or(UNTRIED_VALUE, |(value, _)| *value)
    }

    /// The table's greedy choice as `Policy::propose` makes it: the best
    /// learnt action, ties to the earlier kind; `None` for an unseen state.
    fn greedy(&self, state: &State) -> Option<ActionKind> {
        let entry = self.q.get(state)?;
        let mut best: Option<(ActionKind, f64)> = None;
        for (kind, (value, _)) in entry {
            if best.is_none_or(|(_, best_value)| *value > best_value) {
                best = Some((*kind, *value));
            }
        }
        best.map(|(kind, _)| kind)
    }

    /// Escalate is never blocked, so the maximum is over a non-empty set.
    fn best_allowed_value(&self, state: &State, allowed: &[ActionKind]) -> f64 {
        allowed
            .iter()
            .filter(|kind| !self.blocked.contains(&(*state, **kind)))
            .map(|kind| self.value(state, *kind))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    fn update(&mut self, state: State, kind: ActionKind, target: f64, min_learning_rate: f64) {
        let slot = self.q.entry(state).or_default().entry(kind).or_insert((UNTRIED_VALUE, 0));
        slot.1 += 1;
        let learning_rate = (1.0 / slot.1 as f64).max(min_learning_rate);
        slot.0 += learning_rate * (target - slot.0);
    }

    /// Marks pairs the safety layer blocks here, and forgets what was learnt
    /// for them: the shipped policy must never propose them.
    fn mark_blocked(&mut self, state: State, allowed: &[ActionKind]) {
        for kind in ActionKind::ALL.into_iter().filter(|kind| !allowed.contains(kind)) {
            if self.blocked.insert((state, kind))
                && let Some(entry) = self.q.get_mut(&state)
            {
                entry.remove(&kind);
            }
        }
    }
}

/// Trains a table; `progress` is told the number of episodes done.
pub fn train(options: &TrainOptions, mut progress: impl FnMut(u64)) -> anyhow::Result<QTable> {
    anyhow::ensure!(!options.sims.is_empty(), "training needs at least one simulator parameter set");
    let settings = training_safety_settings();
    let fleet = FleetContext::default();
    let estates: Vec<Estate> = options
        .sims
        .iter()
        .enumerate()
        .map(|(index, sim)| Estate::new(sim.clone(), mix_seed(options.seed, index as u64)))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut learner = Learner::default();
    let block_size = (options.episodes / options.curve_points.max(1)).max(1);
    let (mut block_minutes, mut block_auto, mut block_count) = (0.0, 0_u64, 0_u64);
    let mut curve = Vec::new();
    for episode in 0..options.episodes {
        let epsilon = epsilon_at(options, episode);
        let estate = &estates[(episode % estates.len() as u64) as usize];
        let mut incident = estate.incident(episode / estates.len() as u64);
        let mut total_minutes = 0.0;
        let mut resolution = Resolution::Human;
        for step_number in 0..MAX_STEPS {
            let request = incident.request.clone();
            let diagnosis = diagnose(&request);
            let state = State::from_evidence(&request, &diagnosis);
            let allowed = allowed_actions(&request, &diagnosis, &settings, &fleet);
            learner.mark_blocked(state, &allowed);
            let usable: Vec<ActionKind> =
                allowed.iter().copied().filter(|kind| !learner.blocked.contains(&(state, *kind))).collect();
            let forced_escalation = step_number + 1 == MAX_STEPS;
            let kind = if forced_escalation {
                ActionKind::Escalate
            } else if rng.random_bool(epsilon) {
                usable[rng.random_range(0..usable.len())]
            } else {
                learner.greedy(&state).filter(|kind| usable.contains(kind)).unwrap_or(ActionKind::Escalate)
            };
            let proposal = parametrise(kind, &request, &diagnosis, &settings);
            let reviewed = review(proposal, &request, &diagnosis, &settings, &fleet);
            debug_assert_eq!(reviewed.report.final_kind, kind, "only allowed kinds are proposed");
            let outcome = estate.apply(&mut incident, &reviewed.final_action);
            total_minutes += outcome.minutes;
            // A person's delay is drawn from a wide lognormal the policy
            // cannot influence; learning from its mean instead of the draw
            // removes most of the variance of escalation values.
            let learnt_minutes = match outcome.resolution {
                Some(Resolution::Human) => {
                    outcome.minutes - incident.truth.human_delay_minutes + expected_human_minutes(estate.config())
                }
                _ => outcome.minutes,
            };
            let reward = -learnt_minutes
                - options.reward.failed_run_penalty_minutes * f64::from(outcome.failed_runs)
                - if kind == ActionKind::Escalate { options.reward.escalation_penalty_minutes } else { 0.0 }
                - if outcome.harm.is_some() { options.reward.harm_penalty_minutes } else { 0.0 };
            let target = match &outcome.next_request {
                None => reward,
                Some(next_request) => {
                    let next_diagnosis = diagnose(next_request);
                    let next_state = State::from_evidence(next_request, &next_diagnosis);
                    let next_allowed = allowed_actions(next_request, &next_diagnosis, &settings, &fleet);
                    reward + learner.best_allowed_value(&next_state, &next_allowed)
                }
            };
            if !forced_escalation {
                learner.update(state, kind, target, options.min_learning_rate);
            }
            if let Some(closed_by) = outcome.resolution {
                resolution = closed_by;
                break;
            }
        }
        block_minutes += total_minutes;
        block_auto += u64::from(resolution == Resolution::Remediated);
        block_count += 1;
        if block_count == block_size || episode + 1 == options.episodes {
            curve.push(CurvePoint {
                episodes: episode + 1,
                mean_minutes: round2(block_minutes / block_count as f64),
                auto_resolution: round4(block_auto as f64 / block_count as f64),
                epsilon: round4(epsilon),
            });
            (block_minutes, block_auto, block_count) = (0.0, 0, 0);
        }
        progress(episode + 1);
    }
    to_table(&learner, options, &curve)
}

fn to_table(learner: &Learner, options: &TrainOptions, curve: &[CurvePoint]) -> anyhow::Result<QTable> {
    let sim_names: Vec<&str> = options.sims.iter().map(|sim| sim.name.as_str()).collect();
    let version = format!("q-{}-seed{}-ep{}", sim_names.join("+"), options.seed, options.episodes);
    let mut table = QTable::new(version);
    for (state, entry) in &learner.q {
        let key = state.key();
        for (kind, (value, _)) in entry {
            table.set_q(&key, *kind, *value)?;
        }
    }
    // Visit counts are set in one go: add_visit counts one at a time.
    let mut table = with_visits(table, learner);
    table.set_trained(
        "algorithm",
        json!("tabular Q-learning, undiscounted, epsilon-greedy among safety-allowed actions"),
    );
    table.set_trained("sims", json!(sim_names));
    table.set_trained("episodes", json!(options.episodes));
    table.set_trained("seed", json!(options.seed));
    table.set_trained("reward", serde_json::to_value(&options.reward)?);
    table.set_trained("epsilon", json!({"start": options.epsilon_start, "end": options.epsilon_end}));
    table.set_trained("min_learning_rate", json!(options.min_learning_rate));
    table.set_trained("learning_curve", serde_json::to_value(curve)?);
    Ok(table)
}

fn with_visits(table: QTable, learner: &Learner) -> QTable {
    let mut text: serde_json::Value = serde_json::from_str(&table.to_json_pretty()).unwrap_or_default();
    if let Some(states) = text.get_mut("states").and_then(serde_json::Value::as_object_mut) {
        for (state, entry) in &learner.q {
            if let Some(file_entry) = states.get_mut(&state.key()) {
                let visits: serde_json::Map<String, serde_json::Value> =
                    entry.iter().map(|(kind, (_, visits))| (kind.as_str().to_string(), json!(visits))).collect();
                file_entry["visits"] = serde_json::Value::Object(visits);
            }
        }
    }
    QTable::from_json(&text.to_string()).unwrap_or(table)
}

fn epsilon_at(options: &TrainOptions, episode: u64) -> f64 {
    let progress = episode as f64 / options.episodes.max(1) as f64;
    options.epsilon_start + (options.epsilon_end - options.epsilon_start) * progress
}

/// Mean of the lognormal delay before a person acts, in minutes.
pub fn expected_human_minutes(sim: &SimConfig) -> f64 {
    60.0 * sim.human.median_hours * (sim.human.sigma * sim.human.sigma / 2.0).exp()
}

/// A seed per parameter set, so mixing sets does not reuse incident streams.
pub fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut value = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
