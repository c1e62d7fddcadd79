//! From experience lines to what `learn` fits and estimates on. Every step's
//! state is computed from the logged request with the same `diagnose` and
//! `State::from_evidence` as `decide`, and so is the set of actions the
//! safety layer allows unchanged for it (under the settings `learn` runs
//! with), so a candidate can only ever value, and choose, what safety allows.
//!
//! What is used and what is skipped:
//! - a step with an outcome is used when it resolved the incident, or when
//!   the incident's next step is logged (its state is the next state);
//! - a step without `outcome` is skipped (its outcome is unknown);
//! - an incident whose last logged step is unresolved is still open
//!   (censored): that last step is skipped, its earlier steps are used;
//! - the off-policy estimate uses only incidents that are complete: every
//!   step has an outcome and the last one resolved the incident.

use std::ops::Range;

use crate::core::decide::allowed_unchanged;
use crate::core::diagnosis::{Diagnosis, diagnose};
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;
use crate::core::policy::State;
use crate::core::safety::SafetySettings;
use crate::learn::experience::{Incident, Outcome};

/// One logged decision with everything the learner needs.
#[derive(Debug, Clone)]
pub struct StepView {
    pub request: DecideRequest,
    pub diagnosis: Diagnosis,
    pub state: State,
    /// What safety allows unchanged for this request.
    pub allowed: Vec<ActionKind>,
    /// The final action carried out.
    pub action: ActionKind,
    pub propensity: f64,
    pub outcome: Option<Outcome>,
}

impl StepView {
    pub fn minutes(&self) -> f64 {
        self.outcome.as_ref().map_or(0.0, |outcome| outcome.elapsed_s / 60.0)
    }

    pub fn resolved(&self) -> bool {
        self.outcome.as_ref().is_some_and(|outcome| outcome.resolved)
    }
}

/// The experience, grouped by incident, with the counts `learn` reports.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub steps: Vec<StepView>,
    /// Each incident's steps, in order, as a range of `steps`.
    pub incidents: Vec<Range<usize>>,
    /// Steps fitted on.
    pub used_steps: usize,
    /// Steps without an outcome.
    pub steps_without_outcome: usize,
    /// Incidents whose last step is unresolved, and those last steps.
    pub censored_incidents: usize,
    /// Incidents the off-policy estimate can use (complete).
    pub complete_incidents: usize,
}

impl Dataset {
    /// Builds the dataset; `settings` are the safety settings decisions
    /// are judged under (those of `decide --mode auto`).
    pub fn build(incidents: &[Incident], settings: &SafetySettings) -> Dataset {
        let mut dataset = Dataset::default();
        for incident in incidents {
            let start = dataset.steps.len();
            for step in &incident.steps {
                let diagnosis = diagnose(&step.request);
                let state = State::from_evidence(&step.request, &diagnosis);
                let allowed = allowed_unchanged(&step.request, &diagnosis, settings, &step.request.fleet_context());
                dataset.steps.push(StepView {
                    request: step.request.clone(),
                    diagnosis,
                    state,
                    allowed,
                    action: step.action,
                    propensity: step.propensity,
                    outcome: step.outcome.clone(),
                });
            }
            let range = start..dataset.steps.len();
            dataset.count(range.clone());
            dataset.incidents.push(range);
        }
        dataset
    }

    /// The dataset of the incidents whose index `keep` accepts (for cross-fitting).
    pub fn subset(&self, keep: impl Fn(usize) -> bool) -> Dataset {
        let mut subset = Dataset::default();
        for (_, range) in self.incidents.iter().enumerate().filter(|(index, _)| keep(*index)) {
            let start = subset.steps.len();
            subset.steps.extend(self.steps[range.clone()].iter().cloned());
            let range = start..subset.steps.len();
            subset.count(range.clone());
            subset.incidents.push(range);
        }
        subset
    }

    fn count(&mut self, range: Range<usize>) {
        let steps = &self.steps[range.clone()];
        let without_outcome = steps.iter().filter(|step| step.outcome.is_none()).count();
        let last = steps.last();
        let censored = last.is_some_and(|step| step.outcome.as_ref().is_some_and(|outcome| !outcome.resolved));
        let complete = steps.iter().all(|step| step.outcome.is_some()) && last.is_some_and(StepView::resolved);
        let used = range.clone().filter(|index| self.next_of(*index, &range).is_some()).count();
        self.steps_without_outcome += without_outcome;
        self.censored_incidents += usize::from(censored);
        self.complete_incidents += usize::from(complete);
        self.used_steps += used;
    }

    /// Whether step `index` (of the incident spanning `range`) is fitted on:
    /// `Some(None)` when it resolved the incident, `Some(Some(next))` when
    /// it did not and the next step is logged, `None` when it is skipped.
    fn next_of(&self, index: usize, range: &Range<usize>) -> Option<Option<usize>> {
        let step = &self.steps[index];
        let outcome = step.outcome.as_ref()?;
        if outcome.resolved {
            return Some(None);
        }
        (index + 1 < range.end).then_some(Some(index + 1))
    }

    /// The steps fitted on, as (step, next step when unresolved).
    pub fn transitions(&self) -> Vec<(usize, Option<usize>)> {
        let mut transitions = Vec::new();
        for range in &self.incidents {
            for index in range.clone() {
                if let Some(next) = self.next_of(index, range) {
                    transitions.push((index, next));
                }
            }
        }
        transitions
    }

    /// Incidents the off-policy estimate uses.
    pub fn complete(&self) -> Vec<Range<usize>> {
        self.incidents
            .iter()
            .filter(|range| {
                let steps = &self.steps[(*range).clone()];
                steps.iter().all(|step| step.outcome.is_some()) && steps.last().is_some_and(StepView::resolved)
            })
            .cloned()
            .collect()
    }
}
