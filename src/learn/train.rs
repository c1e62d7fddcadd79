//! Tabular Q-learning on the simulator. The agent is the policy exactly as
//! `decide` will run it: the state is the policy's [`State`], the choice is
//! made among the actions the safety layer allows unchanged for the
//! incident (`allowed_unchanged`, as a trained table does in `decide`), the
//! parameters come from `parametrise`, and the safety layer reviews every
//! proposal. Exploration (epsilon-greedy) draws among the same actions.
//!
//! Robustness: with `world_episodes` > 0 every block of that many episodes
//! runs in a fresh estate drawn around one of the given parameter sets
//! (`sim::randomize`: cause mix, outcome odds, people, late sources,
//! evidence noise, capacity needed, job shapes). Since a state does not
//! reveal which world it is in, the learnt value of an action is its value
//! averaged over the range of plausible worlds, and the greedy choice is the
//! one that is good across them rather than best at one simulator's odds.
//!
//! Reward per step = -(minutes the step took) - penalties for a failed
//! remediation run, for an escalation and for an action harmful for the
//! true cause; undiscounted, so a Q-value reads as minus the expected
//! minutes (plus penalties) to recovery.
//!
//! Determinism: seeded ChaCha streams, ordered maps only, and the table is
//! written by `QTable::to_json_pretty` (rounded, ordered), so the same
//! options give the same file byte for byte.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;

use crate::core::decide::allowed_unchanged;
use crate::core::diagnosis::diagnose;
use crate::core::evidence::FleetContext;
use crate::core::model::{ActionKind, Mode};
use crate::core::params::parametrise;
use crate::core::policy::{QTable, State, baseline};
use crate::core::safety::{SafetySettings, review};
use crate::learn::episode::MAX_STEPS;
use crate::sim::randomize::randomize;
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
    /// Episodes per randomised world; 0 trains on the given sets as they are.
    pub world_episodes: u64,
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
            world_episodes: 0,
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
}

/// Value of a pair never tried: about one escalation, so an untried action
/// neither dominates a known remedy nor is ruled out.
const UNTRIED_VALUE: f64 = -1_500.0;

impl Learner {
    fn value(&self, state: &State, kind: ActionKind) -> f64 {
        self.q.get(state).and_then(|entry| entry.get(&kind)).map_or(UNTRIED_VALUE, |(value, _)| *value)
    }

    /// The choice `decide` makes with this table: the best learnt action
    /// among the allowed ones, ties to the earlier kind; the rules among
    /// them when none was learnt.
    fn greedy(&self, state: &State, allowed: &[ActionKind]) -> ActionKind {
        let mut best: Option<(ActionKind, f64)> = None;
        if let Some(entry) = self.q.get(state) {
            for (kind, (value, _)) in entry.iter().filter(|(kind, _)| allowed.contains(kind)) {
                if best.is_none_or(|(_, best_value)| *value > best_value) {
                    best = Some((*kind, *value));
                }
            }
        }
        best.map_or_else(|| baseline::choose(state, allowed), |(kind, _)| kind)
    }

    /// Escalate is always allowed, so the maximum is over a non-empty set.
    fn best_allowed_value(&self, state: &State, allowed: &[ActionKind]) -> f64 {
        allowed.iter().map(|kind| self.value(state, *kind)).fold(f64::NEG_INFINITY, f64::max)
    }

    fn update(&mut self, state: State, kind: ActionKind, target: f64, min_learning_rate: f64) {
        let slot = self.q.entry(state).or_default().entry(kind).or_insert((UNTRIED_VALUE, 0));
        slot.1 += 1;
        let learning_rate = (1.0 / slot.1 as f64).max(min_learning_rate);
        slot.0 += learning_rate * (target - slot.0);
    }
}

/// The estates episodes run in: the given sets as they are, or a fresh
/// randomised world per block of `world_episodes`.
struct Worlds<'a> {
    options: &'a TrainOptions,
    fixed: Vec<Estate>,
    current: Option<(u64, Estate)>,
}

/// Tag mixed into the seed of world draws, so they never share a stream with incidents.
const WORLD_SEED_TAG: u64 = 0x5752_4c44;

impl<'a> Worlds<'a> {
    fn new(options: &'a TrainOptions) -> Worlds<'a> {
        let fixed = options
            .sims
            .iter()
            .enumerate()
            .map(|(index, sim)| Estate::new(sim.clone(), mix_seed(options.seed, index as u64)))
            .collect();
        Worlds { options, fixed, current: None }
    }

    /// The estate of `episode` and the incident number within it.
    fn for_episode(&mut self, episode: u64) -> (&Estate, u64) {
        let sets = self.options.sims.len() as u64;
        if self.options.world_episodes == 0 {
            return (&self.fixed[(episode % sets) as usize], episode / sets);
        }
        let block = episode / self.options.world_episodes;
        if self.current.as_ref().is_none_or(|(current, _)| *current != block) {
            let base = &self.options.sims[(block % sets) as usize];
            let mut world_rng = ChaCha8Rng::seed_from_u64(mix_seed(self.options.seed ^ WORLD_SEED_TAG, block));
            let world = randomize(base, block, &mut world_rng);
            self.current = Some((block, Estate::new(world, mix_seed(self.options.seed, sets + block))));
        }
        let number = episode % self.options.world_episodes;
        match &self.current {
            Some((_, estate)) => (estate, number),
            // Set just above.
            None => (&self.fixed[0], number),
        }
    }
}

/// Trains a table; `progress` is told the number of episodes done.
pub fn train(options: &TrainOptions, mut progress: impl FnMut(u64)) -> anyhow::Result<QTable> {
    anyhow::ensure!(!options.sims.is_empty(), "training needs at least one simulator parameter set");
    let mut worlds = Worlds::new(options);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut learner = Learner::default();
    let block_size = (options.episodes / options.curve_points.max(1)).max(1);
    let (mut block_minutes, mut block_auto, mut block_count) = (0.0, 0_u64, 0_u64);
    let mut curve = Vec::new();
    for episode in 0..options.episodes {
        let epsilon = epsilon_at(options, episode);
        let (estate, number) = worlds.for_episode(episode);
        let (minutes, resolution) = run_training_episode(options, estate, number, epsilon, &mut rng, &mut learner);
        block_minutes += minutes;
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

/// One incident, learning from every step; returns its minutes and who closed it.
fn run_training_episode(
    options: &TrainOptions,
    estate: &Estate,
    number: u64,
    epsilon: f64,
    rng: &mut ChaCha8Rng,
    learner: &mut Learner,
) -> (f64, Resolution) {
    let settings = training_safety_settings();
    let fleet = FleetContext::default();
    let mut incident = estate.incident(number);
    let mut total_minutes = 0.0;
    for step_number in 0..MAX_STEPS {
        let request = incident.request.clone();
        let diagnosis = diagnose(&request);
        let state = State::from_evidence(&request, &diagnosis);
        let allowed = allowed_unchanged(&request, &diagnosis, &settings, &fleet);
        let forced_escalation = step_number + 1 == MAX_STEPS;
        let kind = if forced_escalation {
            ActionKind::Escalate
        } else if rng.random_bool(epsilon) {
            allowed[rng.random_range(0..allowed.len())]
        } else {
            learner.greedy(&state, &allowed)
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
                let next_allowed = allowed_unchanged(next_request, &next_diagnosis, &settings, &fleet);
                reward + learner.best_allowed_value(&next_state, &next_allowed)
            }
        };
        if !forced_escalation {
            learner.update(state, kind, target, options.min_learning_rate);
        }
        if let Some(closed_by) = outcome.resolution {
            return (total_minutes, closed_by);
        }
    }
    (total_minutes, Resolution::Human)
}

fn to_table(learner: &Learner, options: &TrainOptions, curve: &[CurvePoint]) -> anyhow::Result<QTable> {
    let sim_names: Vec<&str> = options.sims.iter().map(|sim| sim.name.as_str()).collect();
    let randomised = if options.world_episodes > 0 { "randomised-" } else { "" };
    let version = format!("q-{randomised}{}-seed{}-ep{}", sim_names.join("+"), options.seed, options.episodes);
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
        json!("tabular Q-learning, undiscounted, epsilon-greedy among the actions safety allows unchanged"),
    );
    if options.world_episodes > 0 {
        table.set_trained(
            "randomised_worlds",
            json!({"episodes_per_world": options.world_episodes,
                   "worlds": options.episodes.div_ceil(options.world_episodes),
                   "spreads": "sim::randomize, docs/learning.md"}),
        );
    }
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
