//! How the rules and the learned model decide together, and what the
//! confidence of the decision means.
//!
//! The rules speak first: a rule is written for one error family and knows
//! why its words point to a class, so a specific rule (score at least
//! `SPECIFIC_RULE_SCORE`) decides the class whatever the model says. The
//! model (`token_model`) is a second opinion for what the rules do not know:
//! - when no rule fires, its class is the answer;
//! - when the best rule classes are within `TIE_MARGIN` of each other, it
//!   picks among them;
//! - when only a weak rule fired and the model is nearly sure of another
//!   class (`OVERRIDE_PROBABILITY`) while giving the rule's class almost
//!   nothing, the model's class is taken;
//! - in every case its agreement or disagreement enters the confidence.
//!
//! The confidence is calibrated: a logistic map, fitted on the development
//! corpus with the model's cross-validated opinions, from what the decision
//! rests on (the chosen class's rule score, the strongest competing rule
//! score, the model's probability of the chosen class and of "no cause", and
//! whether the model's own best class is the chosen one) to the share of such
//! decisions that were right. Below the model file's `abstain_below` the
//! answer is `unknown`, which the policy escalates.

use crate::core::diagnosis::token_model::{CLASS_COUNT, TokenModel};
use crate::core::model::FailureClass;

/// A rule score from which the rule decides the class on its own.
pub const SPECIFIC_RULE_SCORE: f64 = 0.7;
/// Rule classes this close to the best one are a tie for the model to break.
pub const TIE_MARGIN: f64 = 0.1;
/// Model probability needed to overrule a weak rule...
pub const OVERRIDE_PROBABILITY: f64 = 0.9;
/// ...while giving the rule's class at most this.
pub const OVERRIDDEN_CLASS_PROBABILITY: f64 = 0.05;
/// A class needs at least this rule score to be named by the rules.
pub const MIN_RULE_SCORE: f64 = 0.25;
/// Inputs of the calibrator (see `calibration_inputs`).
pub const CALIBRATION_INPUTS: usize = 5;

const UNKNOWN: usize = CLASS_COUNT - 1;

/// What decided the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A specific rule, or a weak rule the model did not overrule.
    Rules,
    /// The model broke a tie between rule classes.
    RulesTieBrokenByModel,
    /// The model overruled a weak rule.
    ModelOverWeakRule,
    /// No rule fired; the model's class.
    ModelAlone,
    /// Neither named a class.
    Nothing,
}

/// One decision before abstention.
#[derive(Debug, Clone, PartialEq)]
pub struct Opinion {
    pub class: FailureClass,
    pub basis: Basis,
    /// Calibrated probability that `class` is right; 0 for `unknown`.
    pub confidence: f64,
    /// The model's own best class and its probability.
    pub model_class: FailureClass,
    pub model_probability: f64,
}

impl Opinion {
    /// Whether the answer is withheld: no class, or too little confidence.
    pub fn abstains(&self, model: &TokenModel) -> bool {
        self.class == FailureClass::Unknown || self.confidence < model.abstain_below
    }
}

/// The best rule class with its score, and the runner-up's score;
/// `unknown` below `MIN_RULE_SCORE`.
pub fn rank(rule_scores: &[f64; CLASS_COUNT]) -> (FailureClass, f64, f64) {
    let mut best = (UNKNOWN, 0.0_f64);
    let mut second = 0.0_f64;
    for (class, score) in rule_scores.iter().copied().enumerate().take(UNKNOWN) {
        if score > best.1 {
            second = best.1;
            best = (class, score);
        } else if score > second {
            second = score;
        }
    }
    let class = if best.1 >= MIN_RULE_SCORE { FailureClass::ALL[best.0] } else { FailureClass::Unknown };
    (class, best.1, second)
}

/// The class the rules and the model settle on, and on what basis.
pub fn choose(rule_scores: &[f64; CLASS_COUNT], posterior: &[f64; CLASS_COUNT]) -> (FailureClass, Basis) {
    let (rule_class, rule_score, _) = rank(rule_scores);
    let model_index = argmax(posterior);
    if rule_class == FailureClass::Unknown {
        return if model_index == UNKNOWN {
            (FailureClass::Unknown, Basis::Nothing)
        } else {
            (FailureClass::ALL[model_index], Basis::ModelAlone)
        };
    }
    if rule_score >= SPECIFIC_RULE_SCORE {
        return (rule_class, Basis::Rules);
    }
    let rule_index = index_of(rule_class);
    let tied = (0..UNKNOWN)
        .filter(|class| rule_scores[*class] >= MIN_RULE_SCORE && rule_scores[*class] >= rule_score - TIE_MARGIN);
    let tie_winner = tied.max_by(|left, right| posterior[*left].total_cmp(&posterior[*right]).then(right.cmp(left)));
    if let Some(winner) = tie_winner.filter(|winner| *winner != rule_index) {
        return (FailureClass::ALL[winner], Basis::RulesTieBrokenByModel);
    }
    let overrules = model_index != UNKNOWN
        && model_index != rule_index
        && posterior[model_index] >= OVERRIDE_PROBABILITY
        && posterior[rule_index] <= OVERRIDDEN_CLASS_PROBABILITY;
    if overrules {
        return (FailureClass::ALL[model_index], Basis::ModelOverWeakRule);
    }
    (rule_class, Basis::Rules)
}

/// What the calibrator reads about a decision for `class`.
pub fn calibration_inputs(
    rule_scores: &[f64; CLASS_COUNT],
    posterior: &[f64; CLASS_COUNT],
    class: FailureClass,
) -> [f64; CALIBRATION_INPUTS] {
    let chosen = index_of(class);
    let strongest_other =
        (0..UNKNOWN).filter(|other| *other != chosen).map(|other| rule_scores[other]).fold(0.0, f64::max);
    let model_agrees = if argmax(posterior) == chosen { 1.0 } else { 0.0 };
    [rule_scores[chosen].min(1.0), strongest_other.min(1.0), posterior[chosen], posterior[UNKNOWN], model_agrees]
}

/// The decision and its calibrated confidence.
pub fn decide(rule_scores: &[f64; CLASS_COUNT], posterior: &[f64; CLASS_COUNT], model: &TokenModel) -> Opinion {
    let model_index = argmax(posterior);
    let (class, basis) = if model.is_trained() {
        choose(rule_scores, posterior)
    } else {
        let (class, _, _) = rank(rule_scores);
        (class, if class == FailureClass::Unknown { Basis::Nothing } else { Basis::Rules })
    };
    let confidence = match class {
        FailureClass::Unknown => 0.0,
        _ if model.is_trained() => model.calibrator.probability(&calibration_inputs(rule_scores, posterior, class)),
        _ => rules_only_confidence(rule_scores, class),
    };
    Opinion {
        class,
        basis,
        confidence,
        model_class: FailureClass::ALL[model_index],
        model_probability: posterior[model_index],
    }
}

/// Without a model: the rule score less part of the strongest competitor
/// (the classifier's confidence before calibration existed).
fn rules_only_confidence(rule_scores: &[f64; CLASS_COUNT], class: FailureClass) -> f64 {
    let chosen = index_of(class);
    let strongest_other =
        (0..UNKNOWN).filter(|other| *other != chosen).map(|other| rule_scores[other]).fold(0.0, f64::max);
    (rule_scores[chosen] - 0.4 * strongest_other).clamp(0.0, 0.97)
}

pub fn index_of(class: FailureClass) -> usize {
    FailureClass::ALL.iter().position(|candidate| *candidate == class).unwrap_or(UNKNOWN)
}

fn argmax(values: &[f64; CLASS_COUNT]) -> usize {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(pairs: &[(FailureClass, f64)]) -> [f64; CLASS_COUNT] {
        let mut scores = [0.0; CLASS_COUNT];
        for (class, score) in pairs {
            scores[index_of(*class)] = *score;
        }
        scores
    }

    use FailureClass::{CodeBug, PermissionConfig, ResourceExhaustion, TransientInfra, Unknown};

    #[test]
    fn a_specific_rule_outranks_the_model() {
        let rules = scores(&[(ResourceExhaustion, 0.92)]);
        let model = scores(&[(PermissionConfig, 0.99), (ResourceExhaustion, 0.01)]);
        assert_eq!(choose(&rules, &model), (ResourceExhaustion, Basis::Rules));
    }

    #[test]
    fn the_model_fills_in_when_no_rule_fires() {
        let model = scores(&[(TransientInfra, 0.7), (Unknown, 0.3)]);
        assert_eq!(choose(&[0.0; CLASS_COUNT], &model), (TransientInfra, Basis::ModelAlone));
        let model_says_nothing = scores(&[(TransientInfra, 0.2), (Unknown, 0.8)]);
        assert_eq!(choose(&[0.0; CLASS_COUNT], &model_says_nothing), (Unknown, Basis::Nothing));
    }

    #[test]
    fn the_model_breaks_a_tie_between_rule_classes() {
        let rules = scores(&[(ResourceExhaustion, 0.6), (TransientInfra, 0.55)]);
        let model = scores(&[(TransientInfra, 0.6), (ResourceExhaustion, 0.3), (Unknown, 0.1)]);
        assert_eq!(choose(&rules, &model), (TransientInfra, Basis::RulesTieBrokenByModel));
    }

    #[test]
    fn the_model_overrules_only_a_weak_rule_and_only_when_nearly_sure() {
        let weak = scores(&[(ResourceExhaustion, 0.32)]);
        let sure = scores(&[(CodeBug, 0.97), (ResourceExhaustion, 0.01), (Unknown, 0.02)]);
        assert_eq!(choose(&weak, &sure), (CodeBug, Basis::ModelOverWeakRule));
        let unsure = scores(&[(CodeBug, 0.8), (ResourceExhaustion, 0.1), (Unknown, 0.1)]);
        assert_eq!(choose(&weak, &unsure), (ResourceExhaustion, Basis::Rules));
    }

    #[test]
    fn disagreement_enters_the_calibration_inputs() {
        let rules = scores(&[(ResourceExhaustion, 0.9)]);
        let agrees = scores(&[(ResourceExhaustion, 0.9), (Unknown, 0.1)]);
        let disagrees = scores(&[(CodeBug, 0.9), (ResourceExhaustion, 0.1)]);
        assert_eq!(calibration_inputs(&rules, &agrees, ResourceExhaustion)[4], 1.0);
        assert_eq!(calibration_inputs(&rules, &disagrees, ResourceExhaustion)[4], 0.0);
    }
}
