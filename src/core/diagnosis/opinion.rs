//! How the rules and the learned model decide together, and what the
//! confidence of the decision means.
//!
//! The rules' class scores are inputs of the model (`linear_model`), beside
//! the words of the text: the model learned, on messages the rules had not
//! been written against, how far each rule class is to be trusted and when
//! the words say otherwise. So the decision is the model's most probable
//! class, and its confidence the model's calibrated probability of it:
//! among answers given at confidence p, about p of them were right on
//! messages from sources the model had not seen (grouped cross-validation).
//! Below its class's threshold (chosen so that confidently wrong answers
//! stay within budget) the answer is withheld: `unknown`, which the policy
//! escalates.
//!
//! Without a trained model (a build whose model file did not parse) the
//! rules decide alone, with the uncalibrated confidence they always had.

use crate::core::diagnosis::linear_model::{CLASS_COUNT, LinearModel};
use crate::core::model::FailureClass;

/// A rule score from which a rule counts as specific (signals only).
pub const SPECIFIC_RULE_SCORE: f64 = 0.7;
/// A class needs at least this rule score to be named by the rules alone.
pub const MIN_RULE_SCORE: f64 = 0.25;

const UNKNOWN: usize = CLASS_COUNT - 1;

/// What the class rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A specific rule of the class fired and the model agrees.
    Rules,
    /// A weak rule of the class fired; the model's words decided.
    ModelWithWeakRule,
    /// No rule of the class fired; the model's words decided.
    ModelAlone,
    /// Rules of another class fired; the model's words outweighed them.
    ModelOverRules,
    /// Nothing named a class.
    Nothing,
}

/// One decision before abstention.
#[derive(Debug, Clone, PartialEq)]
pub struct Opinion {
    pub class: FailureClass,
    pub basis: Basis,
    /// Calibrated probability that `class` is right; 0 for `unknown`.
    pub confidence: f64,
    /// The lowest confidence at which `class` is answered.
    pub threshold: f64,
}

impl Opinion {
    /// Whether the answer is withheld: no class, or too little confidence.
    pub fn abstains(&self) -> bool {
        self.class == FailureClass::Unknown || self.confidence < self.threshold
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

/// The decision and its calibrated confidence, from the rules' class scores
/// and the model's calibrated probabilities (which already read them).
pub fn decide(rule_scores: &[f64; CLASS_COUNT], probabilities: &[f64; CLASS_COUNT], model: &LinearModel) -> Opinion {
    if !model.is_trained() {
        let (class, _, _) = rank(rule_scores);
        let basis = if class == FailureClass::Unknown { Basis::Nothing } else { Basis::Rules };
        let confidence = if class == FailureClass::Unknown { 0.0 } else { rules_only_confidence(rule_scores, class) };
        return Opinion { class, basis, confidence, threshold: 0.0 };
    }
    let chosen = argmax(probabilities);
    if chosen == UNKNOWN {
        return Opinion { class: FailureClass::Unknown, basis: Basis::Nothing, confidence: 0.0, threshold: 1.0 };
    }
    let (rule_class, _, _) = rank(rule_scores);
    let own_rule = rule_scores[chosen];
    let basis = match own_rule {
        score if score >= SPECIFIC_RULE_SCORE => Basis::Rules,
        score if score >= MIN_RULE_SCORE => Basis::ModelWithWeakRule,
        _ if rule_class != FailureClass::Unknown => Basis::ModelOverRules,
        _ => Basis::ModelAlone,
    };
    Opinion {
        class: FailureClass::ALL[chosen],
        basis,
        confidence: probabilities[chosen],
        threshold: model.thresholds[chosen],
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

pub fn argmax(values: &[f64; CLASS_COUNT]) -> usize {
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

    fn trained() -> LinearModel {
        let mut model = LinearModel::empty();
        model.weights = vec![[0.0; CLASS_COUNT]; crate::core::diagnosis::linear_model::BUCKETS];
        model.thresholds = [0.6; CLASS_COUNT];
        model
    }

    use FailureClass::{CodeBug, PermissionConfig, ResourceExhaustion, TransientInfra, Unknown};

    #[test]
    fn the_most_probable_class_is_the_answer_and_says_what_it_rests_on() {
        let model = trained();
        let probabilities = scores(&[(ResourceExhaustion, 0.9), (Unknown, 0.1)]);
        let specific = decide(&scores(&[(ResourceExhaustion, 0.92)]), &probabilities, &model);
        assert_eq!((specific.class, specific.basis), (ResourceExhaustion, Basis::Rules));
        let alone = decide(&[0.0; CLASS_COUNT], &probabilities, &model);
        assert_eq!(alone.basis, Basis::ModelAlone);
        let over = decide(&scores(&[(CodeBug, 0.5)]), &probabilities, &model);
        assert_eq!(over.basis, Basis::ModelOverRules);
        assert!(!over.abstains());
    }

    #[test]
    fn below_its_class_threshold_an_answer_is_withheld() {
        let model = trained();
        let unsure = decide(&[0.0; CLASS_COUNT], &scores(&[(TransientInfra, 0.5), (Unknown, 0.5)]), &model);
        assert_eq!(unsure.class, TransientInfra);
        assert!(unsure.abstains());
        let nothing = decide(&[0.0; CLASS_COUNT], &scores(&[(PermissionConfig, 0.2), (Unknown, 0.8)]), &model);
        assert_eq!((nothing.class, nothing.basis), (Unknown, Basis::Nothing));
    }

    #[test]
    fn without_a_model_the_rules_decide() {
        let opinion = decide(&scores(&[(CodeBug, 0.8)]), &[0.0; CLASS_COUNT], &LinearModel::empty());
        assert_eq!((opinion.class, opinion.basis), (CodeBug, Basis::Rules));
        assert!(opinion.confidence > 0.7 && !opinion.abstains());
    }
}
