//! `etl-medic learn` (spec/experience.md, section 3): fit a candidate policy
//! from logged experience (`learn::fit`, the base policy's values as the
//! prior), estimate off-policy how the base and the candidate would have
//! done on the logged incidents (`learn::ope`, the candidate's choices
//! cross-fitted), and say whether to promote the candidate: `promote` only
//! when there are enough complete incidents, the 95% interval of the doubly
//! robust difference (candidate minus base) lies below zero, and weighted
//! importance sampling agrees on the direction; otherwise `keep`, with why.
//!
//! The candidate is a policy file like `train`'s. It holds values only for
//! actions safety allowed unchanged in every logged request of a state (or
//! that the base held), and `decide` lets a table choose only among what
//! safety allows for the request at hand, so a learnt file never loosens a
//! bound: the safety settings are not in it.

use serde::Serialize;
use serde_json::json;

use crate::core::decide::decide_diagnosed;
use crate::core::model::ActionKind;
use crate::core::policy::{Policy, QTable};
use crate::core::safety::SafetySettings;
use crate::learn::agent::PolicyName;
use crate::learn::dataset::Dataset;
use crate::learn::evaluate::{EvaluateOptions, evaluate_sim};
use crate::learn::fit::{FitSettings, fit};
use crate::learn::ope::{Comparison, OpeSettings, compare};
use crate::sim::SimConfig;

#[derive(Debug, Clone, Default, Serialize)]
pub struct LearnOptions {
    pub fit: FitSettings,
    pub ope: OpeSettings,
    /// Complete incidents needed before any verdict but `keep`.
    pub min_incidents: usize,
    /// Folds of the cross-fitting behind the candidate's estimate.
    pub folds: usize,
}

impl LearnOptions {
    pub fn new() -> LearnOptions {
        LearnOptions { min_incidents: 30, folds: 5, ..LearnOptions::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Promote,
    Keep { reason: String },
}

#[derive(Debug, Clone)]
pub struct LearnReport {
    pub candidate: QTable,
    pub comparison: Comparison,
    pub verdict: Verdict,
    pub base_version: String,
}

/// The final action `policy` takes at every logged step (greedy).
pub fn choices(dataset: &Dataset, policy: &Policy, settings: &SafetySettings) -> Vec<ActionKind> {
    dataset
        .steps
        .iter()
        .map(|step| {
            let fleet = step.request.fleet_context();
            let outcome = decide_diagnosed(&step.request, step.diagnosis.clone(), policy, settings, &fleet);
            outcome.decision.action.kind()
        })
        .collect()
}

/// The candidate's choice at every logged step, made by a candidate fitted
/// on the other folds: judging a candidate on the incidents it was fitted
/// on would flatter it (it has seen their luck).
fn cross_fitted_choices(
    dataset: &Dataset,
    base: &Policy,
    settings: &SafetySettings,
    options: &LearnOptions,
) -> anyhow::Result<Vec<ActionKind>> {
    let folds = options.folds.max(2);
    let mut chosen = vec![ActionKind::Escalate; dataset.steps.len()];
    for fold in 0..folds {
        let training = dataset.subset(|index| index % folds != fold);
        let held_out = dataset.subset(|index| index % folds == fold);
        let table = to_table(&fit(&training, base, &options.fit), "cross-fit")?;
        let fold_choices = choices(&held_out, &Policy::Table(table), settings);
        let positions = dataset.incidents.iter().enumerate().filter(|(index, _)| index % folds == fold);
        for ((_, range), held_out_range) in positions.zip(&held_out.incidents) {
            for (position, held_out_index) in range.clone().zip(held_out_range.clone()) {
                chosen[position] = fold_choices[held_out_index];
            }
        }
    }
    Ok(chosen)
}

fn to_table(fitted: &crate::learn::fit::Fitted, version: &str) -> anyhow::Result<QTable> {
    let mut table = QTable::new(version);
    for (state, entry) in &fitted.values {
        let key = state.key();
        for (kind, value) in entry {
            table.set_q(&key, *kind, *value)?;
        }
    }
    for ((state, kind), samples) in &fitted.samples {
        table.set_visits(&state.key(), *kind, *samples)?;
    }
    Ok(table)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Fits, estimates and decides. `version` names the candidate.
pub fn learn(
    dataset: &Dataset,
    base: &Policy,
    settings: &SafetySettings,
    options: &LearnOptions,
    version: &str,
) -> anyhow::Result<LearnReport> {
    let fitted = fit(dataset, base, &options.fit);
    let mut candidate = to_table(&fitted, version)?;
    let comparison = compare(
        dataset,
        &choices(dataset, base, settings),
        &cross_fitted_choices(dataset, base, settings, options)?,
        &options.ope,
    );
    let verdict = verdict(&comparison, options);
    candidate.set_trained(
        "algorithm",
        json!("fitted Q iteration on logged experience, shrunk toward the base policy's values over state groups (docs/learning.md)"),
    );
    candidate.set_trained("base", json!(base.version()));
    candidate.set_trained(
        "experience",
        json!({"incidents": dataset.incidents.len(), "steps": dataset.steps.len(), "steps_used": dataset.used_steps,
               "steps_without_outcome": dataset.steps_without_outcome, "censored_incidents": dataset.censored_incidents,
               "complete_incidents": dataset.complete_incidents}),
    );
    candidate.set_trained("fit", serde_json::to_value(&options.fit)?);
    candidate.set_trained("fit_iterations", json!(fitted.iterations));
    candidate.set_trained(
        "estimate",
        json!(format!(
            "doubly robust and weighted importance sampling, the candidate's choices {}-fold cross-fitted (each incident \
judged by a candidate fitted without it), bootstrap intervals",
            options.folds
        )),
    );
    let estimate = |interval: &crate::learn::ope::Interval| json!({"estimate": round1(interval.estimate), "low": round1(interval.low), "high": round1(interval.high)});
    candidate.set_trained(
        "off_policy_mean_minutes",
        json!({"incidents": comparison.incidents, "logged": round1(comparison.logged_mean),
               "base_doubly_robust": estimate(&comparison.base.doubly_robust),
               "candidate_doubly_robust": estimate(&comparison.candidate.doubly_robust),
               "difference": estimate(&comparison.difference)}),
    );
    candidate.set_trained("verdict", serde_json::to_value(&verdict)?);
    Ok(LearnReport { candidate, comparison, verdict, base_version: base.version() })
}

/// The simulator regression gate of `learn --sim`: base and candidate on the
/// same seeded incidents of a parameter set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimCheck {
    pub sim: String,
    pub base_mean_minutes: f64,
    pub candidate_mean_minutes: f64,
    pub candidate_unsafe: u32,
    pub passed: bool,
}

/// Incidents and seed of the simulator gate.
pub const SIM_CHECK_INCIDENTS: u64 = 1_000;
pub const SIM_CHECK_SEED: u64 = 2_026;
/// How much worse than the base the candidate may be in a simulator: it was
/// fitted to another estate, so the gate catches breakage, not drift.
pub const SIM_CHECK_TOLERANCE: f64 = 1.10;

/// Runs the gate on each set; a failed check turns a `promote` into `keep`
/// and is recorded in the candidate's metadata.
pub fn simulator_checks(report: &mut LearnReport, sims: &[SimConfig], base: &Policy) -> Vec<SimCheck> {
    let options = EvaluateOptions::new(SIM_CHECK_INCIDENTS, SIM_CHECK_SEED);
    let candidate = Policy::Table(report.candidate.clone());
    let mean_of = |policy: &Policy, sim: &SimConfig| {
        let evaluation = evaluate_sim(sim, policy, &options);
        let trained = evaluation.summaries.into_iter().find(|summary| summary.policy == PolicyName::Trained);
        trained.map_or((f64::NAN, u32::MAX), |summary| (summary.mttr_mean_minutes, summary.unsafe_actions))
    };
    let checks: Vec<SimCheck> = sims
        .iter()
        .map(|sim| {
            let (base_mean_minutes, _) = mean_of(base, sim);
            let (candidate_mean_minutes, candidate_unsafe) = mean_of(&candidate, sim);
            let passed = candidate_unsafe == 0 && candidate_mean_minutes <= base_mean_minutes * SIM_CHECK_TOLERANCE;
            SimCheck { sim: sim.name.clone(), base_mean_minutes, candidate_mean_minutes, candidate_unsafe, passed }
        })
        .collect();
    if let Some(failed) = checks.iter().find(|check| !check.passed)
        && report.verdict == Verdict::Promote
    {
        report.verdict = Verdict::Keep {
            reason: format!(
                "the simulator check failed on {}: {:.1} min against the base's {:.1}, {} unsafe",
                failed.sim, failed.candidate_mean_minutes, failed.base_mean_minutes, failed.candidate_unsafe
            ),
        };
    }
    report.candidate.set_trained("simulator_checks", serde_json::to_value(&checks).unwrap_or_default());
    report.candidate.set_trained("verdict", serde_json::to_value(&report.verdict).unwrap_or_default());
    checks
}

fn verdict(comparison: &Comparison, options: &LearnOptions) -> Verdict {
    let difference = &comparison.difference;
    let keep = |reason: String| Verdict::Keep { reason };
    if comparison.incidents < options.min_incidents {
        return keep(format!(
            "only {} complete logged incidents; at least {} are needed to judge",
            comparison.incidents, options.min_incidents
        ));
    }
    if !(difference.low.is_finite() && difference.high.is_finite()) {
        return keep("the off-policy estimate has no interval".to_string());
    }
    let importance_agrees =
        comparison.candidate.weighted_importance.estimate < comparison.base.weighted_importance.estimate;
    if difference.high < 0.0 && importance_agrees {
        return Verdict::Promote;
    }
    if difference.high < 0.0 {
        return keep(format!(
            "the doubly robust estimate favours the candidate ({:+.1} min, interval [{:+.1}, {:+.1}]) but weighted \
importance sampling does not ({:.1} against {:.1} min)",
            difference.estimate,
            difference.low,
            difference.high,
            comparison.candidate.weighted_importance.estimate,
            comparison.base.weighted_importance.estimate
        ));
    }
    keep(format!(
        "the candidate is not better with 95% confidence: estimated {:+.1} min per incident against the base, interval [{:+.1}, {:+.1}]",
        difference.estimate, difference.low, difference.high
    ))
}
