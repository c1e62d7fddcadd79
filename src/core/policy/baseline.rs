//! The rules baseline (`--policy rules`): what a careful on-call engineer
//! would do first for each failure class, written down. It is the policy in
//! use until a trained file exists, the fallback for states a trained table
//! never saw, and the bar a learned policy must beat.
//!
//! Each state maps to an ordered preference list; the first preference that
//! is among the candidates wins, and `escalate` closes every list, so a
//! person is always the last resort.

use std::collections::BTreeMap;

use crate::core::model::{ActionKind, FailureClass, RiskTier};
use crate::core::policy::state::{AttemptBucket, DriftFeature, SourceFreshness, State};

use ActionKind::{
    Escalate, LogAndWait, QuarantineBadRecords, Retry, RetryWithMoreCapacity, RollbackSchema, WaitAndRetry,
    WaitForSource,
};

/// Version string reported when the rules baseline decides.
pub const BASELINE_VERSION: &str = "rules-v1";

/// The baseline's preferences for a state, most preferred first.
pub fn preferences(state: &State) -> Vec<ActionKind> {
    let attempt = state.attempt;
    let first_try = attempt == AttemptBucket::Zero;
    let exhausted = attempt == AttemptBucket::TwoOrMore;
    // An action that already failed for this incident is not repeated
    // blindly, except the escalating forms (wait longer, more capacity).
    let repeated = |kind: ActionKind| state.last == Some(kind);
    let mut list = match state.class {
        FailureClass::TransientInfra if first_try => vec![Retry, WaitAndRetry],
        FailureClass::TransientInfra if !exhausted => vec![WaitAndRetry],
        FailureClass::ResourceExhaustion | FailureClass::Timeout if !exhausted => vec![RetryWithMoreCapacity],
        FailureClass::SchemaDrift if state.drift == DriftFeature::BreakingKnownGood && !repeated(RollbackSchema) => {
            vec![RollbackSchema]
        }
        FailureClass::DataQuality if first_try && !repeated(QuarantineBadRecords) => vec![QuarantineBadRecords],
        FailureClass::SourceUnavailable if first_try && state.source == SourceFreshness::Fresh => {
            // The input has landed since the run started: run again now.
            vec![Retry, WaitAndRetry]
        }
        // Watch the input and rerun when it lands (once per incident: if
        // that run fails too, or nothing can be watched, back off instead).
        FailureClass::SourceUnavailable if !exhausted && !repeated(WaitForSource) => vec![WaitForSource, WaitAndRetry],
        FailureClass::SourceUnavailable if !exhausted => vec![WaitAndRetry],
        FailureClass::SourceUnavailable if state.risk == RiskTier::Low => {
            // A low-risk job's next scheduled run will pick the data up.
            vec![LogAndWait]
        }
        FailureClass::Unknown if first_try => vec![Retry],
        _ => Vec::new(),
    };
    list.push(Escalate);
    list
}

/// The baseline's choice among `candidates`: the first preference that is a
/// candidate, else `escalate` when it is one, else the first candidate in
/// [`ActionKind`] order. With no candidates at all it answers `escalate`,
/// which is always safe.
pub fn choose(state: &State, candidates: &[ActionKind]) -> ActionKind {
    preferences(state)
        .into_iter()
        .find(|kind| candidates.contains(kind))
        .or_else(|| ActionKind::ALL.into_iter().find(|kind| candidates.contains(kind)))
        .unwrap_or(Escalate)
}

/// Scores shown as the baseline's "Q-values": 1 for the chosen action, 0 for
/// every other candidate. They explain the choice; they are not estimates.
pub fn scores(chosen: ActionKind, candidates: &[ActionKind]) -> BTreeMap<ActionKind, f64> {
    let mut scores: BTreeMap<ActionKind, f64> = candidates.iter().map(|kind| (*kind, 0.0)).collect();
    scores.insert(chosen, 1.0);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::state::{RecentOutcomes, RunProgress, SourceFreshness};

    fn state(class: FailureClass, attempt: AttemptBucket) -> State {
        State {
            class,
            ran: RunProgress::Late,
            drift: DriftFeature::None,
            attempt,
            risk: RiskTier::Medium,
            source: SourceFreshness::Unknown,
            recent: RecentOutcomes::Healthy,
            last: None,
        }
    }

    #[test]
    fn transient_failures_retry_then_wait_then_escalate() {
        let all = &ActionKind::ALL;
        assert_eq!(choose(&state(FailureClass::TransientInfra, AttemptBucket::Zero), all), Retry);
        assert_eq!(choose(&state(FailureClass::TransientInfra, AttemptBucket::One), all), WaitAndRetry);
        assert_eq!(choose(&state(FailureClass::TransientInfra, AttemptBucket::TwoOrMore), all), Escalate);
    }

    #[test]
    fn each_class_gets_its_first_remedy() {
        let all = &ActionKind::ALL;
        let first = |class| choose(&state(class, AttemptBucket::Zero), all);
        assert_eq!(first(FailureClass::ResourceExhaustion), RetryWithMoreCapacity);
        assert_eq!(first(FailureClass::Timeout), RetryWithMoreCapacity);
        assert_eq!(first(FailureClass::DataQuality), QuarantineBadRecords);
        assert_eq!(first(FailureClass::SourceUnavailable), WaitForSource);
        let without_watch: Vec<ActionKind> =
            ActionKind::ALL.into_iter().filter(|kind| *kind != WaitForSource).collect();
        assert_eq!(choose(&state(FailureClass::SourceUnavailable, AttemptBucket::Zero), &without_watch), WaitAndRetry);
        assert_eq!(first(FailureClass::PermissionConfig), Escalate);
        assert_eq!(first(FailureClass::CodeBug), Escalate);
        assert_eq!(first(FailureClass::Unknown), Retry);
        assert_eq!(choose(&state(FailureClass::Unknown, AttemptBucket::One), all), Escalate);
    }

    #[test]
    fn schema_drift_rolls_back_only_with_a_known_good_version() {
        let mut drifted = state(FailureClass::SchemaDrift, AttemptBucket::Zero);
        drifted.drift = DriftFeature::BreakingKnownGood;
        assert_eq!(choose(&drifted, &ActionKind::ALL), RollbackSchema);
        drifted.drift = DriftFeature::Breaking;
        assert_eq!(choose(&drifted, &ActionKind::ALL), Escalate);
        drifted.drift = DriftFeature::BreakingKnownGood;
        drifted.last = Some(RollbackSchema);
        drifted.attempt = AttemptBucket::One;
        assert_eq!(choose(&drifted, &ActionKind::ALL), Escalate, "a rollback that did not heal is not repeated");
    }

    #[test]
    fn fresh_source_retries_at_once() {
        let mut landed = state(FailureClass::SourceUnavailable, AttemptBucket::Zero);
        landed.source = SourceFreshness::Fresh;
        assert_eq!(choose(&landed, &ActionKind::ALL), Retry);
    }

    #[test]
    fn choice_respects_candidates_and_scores_explain_it() {
        let only_safe = [Escalate, WaitAndRetry];
        let chosen = choose(&state(FailureClass::TransientInfra, AttemptBucket::Zero), &only_safe);
        assert_eq!(chosen, WaitAndRetry);
        let scored = scores(chosen, &only_safe);
        assert_eq!(scored.get(&WaitAndRetry), Some(&1.0));
        assert_eq!(scored.get(&Escalate), Some(&0.0));
        assert_eq!(choose(&state(FailureClass::CodeBug, AttemptBucket::Zero), &[]), Escalate);
        assert_eq!(choose(&state(FailureClass::CodeBug, AttemptBucket::Zero), &[Retry]), Retry);
    }
}
