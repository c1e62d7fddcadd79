//! Exploration for learning from the estate (spec/experience.md, section 1):
//! with probability `epsilon` a decision proposes an action drawn uniformly
//! from those the safety layer would allow unchanged, instead of the greedy
//! one, and says with which probability its behaviour picked the action it
//! returned, so that logged outcomes can later be weighted off-policy.
//!
//! The draw is a pure function of (explore seed, request id, attempt): no
//! clock, no global generator. The three are hashed (FNV-1a, 64 bits) into
//! the stream number of a ChaCha8 generator seeded with the explore seed:
//!
//! ```text
//! key    = "etl-medic-explore/1" 0x00 <request id as compact JSON> 0x00 <attempt, u32 little-endian>
//! stream = FNV-1a-64(key)
//! rng    = ChaCha8Rng::seed_from_u64(explore_seed); rng.set_stream(stream)
//! u      = rng.random::<f64>()          explore when u < epsilon
//! index  = rng.random_range(0..k)       which of the k allowed actions (ActionKind order)
//! ```
//!
//! So the same request, attempt and seed always give the same answer,
//! whichever process, order or machine asks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::core::model::ActionKind;

/// Exploration settings of a decision: `epsilon` in [0, 1] and the seed of the draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exploration {
    pub epsilon: f64,
    pub seed: u64,
}

/// The exploration settings were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("explore must be a probability within 0..=1, got {0}")]
pub struct ExplorationError(pub f64);

impl Exploration {
    /// Checked settings: `epsilon` must be a probability.
    pub fn new(epsilon: f64, seed: u64) -> Result<Exploration, ExplorationError> {
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(ExplorationError(epsilon));
        }
        Ok(Exploration { epsilon, seed })
    }

    /// No exploration: every decision is greedy.
    pub fn none() -> Exploration {
        Exploration { epsilon: 0.0, seed: 0 }
    }

    pub fn is_active(&self) -> bool {
        self.epsilon > 0.0
    }
}

/// The outcome of one draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    Greedy,
    /// Explore with this action, taken from the allowed ones.
    Explore(ActionKind),
}

/// Domain tag of the hash; a new draw scheme gets a new tag.
const HASH_TAG: &[u8] = b"etl-medic-explore/1";

/// FNV-1a over the bytes, 64 bits.
fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The stream number of the draw for (request id, attempt).
pub fn draw_stream(request_id: &serde_json::Value, attempt: u32) -> u64 {
    // A JSON value always serialises (its map keys are strings).
    let id_text = serde_json::to_string(request_id).unwrap_or_default();
    let key = HASH_TAG.iter().copied().chain([0_u8]).chain(id_text.bytes()).chain([0_u8]).chain(attempt.to_le_bytes());
    fnv1a64(key)
}

/// Draws greedy or an exploratory action among `allowed` (taken in
/// [`ActionKind`] order whatever order they come in). With nothing allowed
/// the draw is greedy.
pub fn draw(exploration: &Exploration, request_id: &serde_json::Value, attempt: u32, allowed: &[ActionKind]) -> Draw {
    let kinds: Vec<ActionKind> = ActionKind::ALL.into_iter().filter(|kind| allowed.contains(kind)).collect();
    if !exploration.is_active() || kinds.is_empty() {
        return Draw::Greedy;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(exploration.seed);
    rng.set_stream(draw_stream(request_id, attempt));
    let uniform: f64 = rng.random();
    if uniform >= exploration.epsilon {
        return Draw::Greedy;
    }
    Draw::Explore(kinds[rng.random_range(0..kinds.len())])
}

/// Probability that the epsilon-greedy behaviour returns `returned`, when
/// its greedy answer is `greedy` and `k = allowed.len()` actions can be
/// drawn: `1 - epsilon + epsilon / k` for the greedy answer when it is
/// allowed, `1 - epsilon` when it is not (it is then only ever returned
/// greedily), `epsilon / k` for another allowed action, 0 otherwise.
pub fn propensity(epsilon: f64, greedy: ActionKind, returned: ActionKind, allowed: &[ActionKind]) -> f64 {
    let drawable =
        if allowed.contains(&returned) && !allowed.is_empty() { epsilon / allowed.len() as f64 } else { 0.0 };
    let greedy_share = if returned == greedy { 1.0 - epsilon } else { 0.0 };
    greedy_share + drawable
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use ActionKind::{Escalate, LogAndWait, Retry, WaitAndRetry};

    #[test]
    fn epsilon_outside_zero_one_is_refused() {
        assert!(Exploration::new(-0.1, 1).is_err());
        assert!(Exploration::new(1.5, 1).is_err());
        assert!(Exploration::new(f64::NAN, 1).is_err());
        assert!(Exploration::new(0.2, 1).is_ok());
    }

    #[test]
    fn the_draw_is_a_function_of_seed_id_and_attempt() {
        let allowed = [Escalate, LogAndWait, Retry, WaitAndRetry];
        let exploration = Exploration::new(0.5, 7).expect("valid");
        let draws: Vec<Draw> =
            (0..64).map(|number| draw(&exploration, &json!(format!("inc-{number}")), 0, &allowed)).collect();
        let again: Vec<Draw> =
            (0..64).map(|number| draw(&exploration, &json!(format!("inc-{number}")), 0, &allowed)).collect();
        assert_eq!(draws, again);
        let explored = draws.iter().filter(|outcome| matches!(outcome, Draw::Explore(_))).count();
        assert!((16..=48).contains(&explored), "about half explore: {explored}");
        let other_attempt: Vec<Draw> =
            (0..64).map(|number| draw(&exploration, &json!(format!("inc-{number}")), 1, &allowed)).collect();
        assert_ne!(draws, other_attempt, "the attempt is part of the draw");
        let reordered = [WaitAndRetry, Retry, LogAndWait, Escalate];
        assert_eq!(draw(&exploration, &json!("inc-3"), 0, &reordered), draws[3], "allowed order does not matter");
    }

    #[test]
    fn no_epsilon_never_explores_and_one_always_does() {
        let allowed = [Escalate, Retry];
        assert_eq!(draw(&Exploration::none(), &json!("x"), 0, &allowed), Draw::Greedy);
        let always = Exploration::new(1.0, 3).expect("valid");
        for number in 0..32 {
            assert!(matches!(draw(&always, &json!(number), 0, &allowed), Draw::Explore(Escalate | Retry)));
        }
    }

    #[test]
    fn propensities_follow_the_spec() {
        let allowed = [Escalate, LogAndWait, Retry, WaitAndRetry];
        assert!((propensity(0.2, Retry, Retry, &allowed) - 0.85).abs() < 1e-12);
        assert!((propensity(0.2, Retry, Escalate, &allowed) - 0.05).abs() < 1e-12);
        assert_eq!(propensity(0.0, Retry, Retry, &allowed), 1.0);
        // A greedy answer safety does not allow unchanged is only returned greedily.
        assert!(
            (propensity(0.2, ActionKind::RollbackSchema, ActionKind::RollbackSchema, &allowed) - 0.8).abs() < 1e-12
        );
        let total: f64 = allowed.iter().map(|kind| propensity(0.3, WaitAndRetry, *kind, &allowed)).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
