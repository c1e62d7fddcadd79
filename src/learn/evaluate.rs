//! `evaluate`: every policy on the same seeded incidents of a parameter set,
//! summarised as the table the issue asks for, with the targets checked and
//! the trained-versus-rules difference attributed to the states it comes
//! from.
//!
//! Definitions (also in docs/learning.md):
//! - auto-resolution: incidents closed by a remediation's successful run,
//!   without a person;
//! - MTTR: minutes from the failure's event time to recovery, escalations
//!   included (a person's delay, fix and rerun);
//! - unsafe actions attempted: proposals the safety layer replaced (or, for
//!   the baselines that act without it, would have replaced), plus actions
//!   harmful for the true cause (a rollback without breaking drift or to the
//!   wrong version, a quarantine of a failure that is not data quality,
//!   workers above the job's ceiling);
//! - wasted job runs: runs started by a remediation that failed again;
//! - DPU-hours: of every run started, the person's rerun included.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::diagnosis::diagnose;
use crate::core::model::FailureClass;
use crate::core::policy::{Policy, State};
use crate::core::safety::SafetySettings;
use crate::learn::agent::{PolicyName, step};
use crate::learn::episode::{EpisodeResult, run_episode};
use crate::learn::train::training_safety_settings;
use crate::sim::{Estate, Resolution, SimCause, SimConfig};

/// Ratios the trained policy must reach on every training parameter set.
pub const AUTO_RESOLUTION_SHARE_OF_ORACLE: f64 = 0.95;
pub const MTTR_RATIO_TO_ORACLE: f64 = 1.10;
/// On a held-out set: the shipped policy's bound, and a learnt one's (after
/// `learn` on experience collected in that world).
pub const HELD_OUT_SHIPPED_MTTR_RATIO: f64 = 1.25;
pub const HELD_OUT_LEARNT_MTTR_RATIO: f64 = 1.15;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    pub policy: PolicyName,
    pub incidents: usize,
    pub auto_resolution: f64,
    pub mttr_mean_minutes: f64,
    pub mttr_median_minutes: f64,
    pub mttr_p90_minutes: f64,
    pub unsafe_actions: u32,
    pub wasted_runs: u32,
    pub dpu_hours: f64,
    pub escalations: usize,
}

/// How much of the trained-versus-rules difference one first-failure state carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateDelta {
    pub state: String,
    pub incidents: usize,
    pub rules_mean_minutes: f64,
    pub trained_mean_minutes: f64,
    /// Total minutes the trained policy saved over rules in this state (negative: lost).
    pub minutes_saved: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CauseSummary {
    pub incidents: usize,
    pub auto_resolution: f64,
    pub mttr_mean_minutes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub met: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimEvaluation {
    pub sim: String,
    /// A held-out set: never trained or tuned on.
    pub held_out: bool,
    pub seed: u64,
    pub summaries: Vec<PolicySummary>,
    pub targets: Vec<TargetCheck>,
    pub trained_vs_rules_by_state: Vec<StateDelta>,
    /// Per true cause and policy: incidents, auto-resolution, mean minutes.
    pub by_cause: BTreeMap<SimCause, BTreeMap<PolicyName, CauseSummary>>,
    /// How the diagnosis classified the first failure of each true cause.
    pub diagnosis_confusion: BTreeMap<SimCause, BTreeMap<FailureClass, usize>>,
    /// Minutes to recovery of each incident, per policy (for the chart).
    #[serde(skip)]
    pub minutes_by_policy: BTreeMap<PolicyName, Vec<f64>>,
}

#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub incidents: u64,
    pub seed: u64,
    pub settings: SafetySettings,
}

impl EvaluateOptions {
    pub fn new(incidents: u64, seed: u64) -> EvaluateOptions {
        EvaluateOptions { incidents, seed, settings: training_safety_settings() }
    }
}

/// Runs the five policies on the same incidents of `sim`.
pub fn evaluate_sim(sim: &SimConfig, trained: &Policy, options: &EvaluateOptions) -> SimEvaluation {
    let estate = Estate::new(sim.clone(), options.seed);
    let mut results: BTreeMap<PolicyName, Vec<EpisodeResult>> = BTreeMap::new();
    let mut first_states = Vec::new();
    let mut diagnosis_confusion: BTreeMap<SimCause, BTreeMap<FailureClass, usize>> = BTreeMap::new();
    for number in 0..options.incidents {
        let base = estate.incident(number);
        let diagnosis = diagnose(&base.request);
        *diagnosis_confusion.entry(base.cause).or_default().entry(diagnosis.class).or_default() += 1;
        first_states.push(State::from_evidence(&base.request, &diagnosis).key());
        for name in PolicyName::ALL {
            let mut incident = base.clone();
            let result = run_episode(&estate, &mut incident, |current| {
                let decided = step(name, trained, current, &estate, &options.settings);
                (decided.action, decided.replaced)
            });
            results.entry(name).or_default().push(result);
        }
    }
    let summaries: Vec<PolicySummary> = PolicyName::ALL
        .into_iter()
        .map(|name| summarise(name, results.get(&name).map_or(&[][..], Vec::as_slice)))
        .collect();
    let by_state = attribute(&first_states, &results);
    let minutes_by_policy = results
        .iter()
        .map(|(name, episodes)| (*name, episodes.iter().map(|episode| episode.minutes).collect()))
        .collect();
    SimEvaluation {
        by_cause: by_cause(&results),
        diagnosis_confusion,
        sim: sim.name.clone(),
        held_out: sim.is_held_out(),
        seed: options.seed,
        targets: check_targets(&summaries, sim.is_held_out()),
        summaries,
        trained_vs_rules_by_state: by_state,
        minutes_by_policy,
    }
}

fn by_cause(
    results: &BTreeMap<PolicyName, Vec<EpisodeResult>>,
) -> BTreeMap<SimCause, BTreeMap<PolicyName, CauseSummary>> {
    let mut table: BTreeMap<SimCause, BTreeMap<PolicyName, CauseSummary>> = BTreeMap::new();
    for (policy, episodes) in results {
        for episode in episodes {
            let summary = table.entry(episode.cause).or_default().entry(*policy).or_default();
            summary.incidents += 1;
            summary.auto_resolution += f64::from(u8::from(episode.resolution == Resolution::Remediated));
            summary.mttr_mean_minutes += episode.minutes;
        }
    }
    for summary in table.values_mut().flat_map(|policies| policies.values_mut()) {
        let count = summary.incidents.max(1) as f64;
        summary.auto_resolution /= count;
        summary.mttr_mean_minutes /= count;
    }
    table
}

fn summarise(policy: PolicyName, episodes: &[EpisodeResult]) -> PolicySummary {
    let mut minutes: Vec<f64> = episodes.iter().map(|episode| episode.minutes).collect();
    minutes.sort_by(f64::total_cmp);
    let count = episodes.len().max(1) as f64;
    let auto = episodes.iter().filter(|episode| episode.resolution == Resolution::Remediated).count();
    PolicySummary {
        policy,
        incidents: episodes.len(),
        auto_resolution: auto as f64 / count,
        mttr_mean_minutes: minutes.iter().sum::<f64>() / count,
        mttr_median_minutes: quantile(&minutes, 0.5),
        mttr_p90_minutes: quantile(&minutes, 0.9),
        unsafe_actions: episodes.iter().map(|episode| episode.unsafe_actions).sum(),
        wasted_runs: episodes.iter().map(|episode| episode.wasted_runs).sum(),
        dpu_hours: episodes.iter().map(|episode| episode.dpu_hours).sum(),
        escalations: episodes.len() - auto,
    }
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn find(summaries: &[PolicySummary], name: PolicyName) -> Option<&PolicySummary> {
    summaries.iter().find(|summary| summary.policy == name)
}

/// The targets of the trained policy: on a training set the issue's
/// targets; on a held-out set the shipped policy's bound and, marked, the
/// bounds a policy learnt there with `learn` must meet.
pub fn check_targets(summaries: &[PolicySummary], held_out: bool) -> Vec<TargetCheck> {
    let (Some(trained), Some(oracle), Some(rules)) =
        (find(summaries, PolicyName::Trained), find(summaries, PolicyName::Oracle), find(summaries, PolicyName::Rules))
    else {
        return Vec::new();
    };
    let auto_share = if oracle.auto_resolution > 0.0 { trained.auto_resolution / oracle.auto_resolution } else { 1.0 };
    let mttr_ratio = trained.mttr_mean_minutes / oracle.mttr_mean_minutes.max(f64::MIN_POSITIVE);
    let ratio_check = |target: String, bound: f64| TargetCheck {
        target,
        met: mttr_ratio <= bound,
        detail: format!("{mttr_ratio:.3} x"),
    };
    let auto_check = |target: String| TargetCheck {
        target,
        met: auto_share >= AUTO_RESOLUTION_SHARE_OF_ORACLE,
        detail: format!("{:.1}%", auto_share * 100.0),
    };
    let share = AUTO_RESOLUTION_SHARE_OF_ORACLE * 100.0;
    let mut checks = vec![TargetCheck {
        target: "0 unsafe actions (trained)".to_string(),
        met: trained.unsafe_actions == 0,
        detail: format!("{}", trained.unsafe_actions),
    }];
    if held_out {
        checks.push(ratio_check(
            format!("mean MTTR <= {HELD_OUT_SHIPPED_MTTR_RATIO:.2} x oracle (shipped policy)"),
            HELD_OUT_SHIPPED_MTTR_RATIO,
        ));
        checks.push(auto_check(format!("auto-resolution >= {share:.0}% of oracle (after learn)")));
        checks.push(ratio_check(
            format!("mean MTTR <= {HELD_OUT_LEARNT_MTTR_RATIO:.2} x oracle (after learn)"),
            HELD_OUT_LEARNT_MTTR_RATIO,
        ));
    } else {
        checks.push(auto_check(format!("auto-resolution >= {share:.0}% of oracle")));
        checks.push(ratio_check(format!("mean MTTR <= {MTTR_RATIO_TO_ORACLE:.2} x oracle"), MTTR_RATIO_TO_ORACLE));
    }
    checks.push(TargetCheck {
        target: "mean MTTR below rules".to_string(),
        met: trained.mttr_mean_minutes < rules.mttr_mean_minutes,
        detail: format!(
            "{:.1} vs {:.1} min ({:+.1}%)",
            trained.mttr_mean_minutes,
            rules.mttr_mean_minutes,
            100.0 * (trained.mttr_mean_minutes / rules.mttr_mean_minutes.max(f64::MIN_POSITIVE) - 1.0)
        ),
    });
    checks
}

/// Groups incidents by their first-failure state and compares trained with rules.
fn attribute(first_states: &[String], results: &BTreeMap<PolicyName, Vec<EpisodeResult>>) -> Vec<StateDelta> {
    let (Some(rules), Some(trained)) = (results.get(&PolicyName::Rules), results.get(&PolicyName::Trained)) else {
        return Vec::new();
    };
    let mut groups: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for ((state, rules_episode), trained_episode) in first_states.iter().zip(rules).zip(trained) {
        let group = groups.entry(state.as_str()).or_insert((0, 0.0, 0.0));
        group.0 += 1;
        group.1 += rules_episode.minutes;
        group.2 += trained_episode.minutes;
    }
    let mut deltas: Vec<StateDelta> = groups
        .into_iter()
        .map(|(state, (count, rules_total, trained_total))| StateDelta {
            state: state.to_string(),
            incidents: count,
            rules_mean_minutes: rules_total / count as f64,
            trained_mean_minutes: trained_total / count as f64,
            minutes_saved: rules_total - trained_total,
        })
        .collect();
    deltas.sort_by(|left, right| {
        right.minutes_saved.abs().total_cmp(&left.minutes_saved.abs()).then(left.state.cmp(&right.state))
    });
    deltas
}

/// The printed table of one parameter set.
pub fn render(evaluation: &SimEvaluation, top_states: usize) -> String {
    let mut text = format!(
        "parameter set: {}{} (seed {}, {} incidents)\n",
        evaluation.sim,
        if evaluation.held_out { " [HELD OUT: never trained or tuned on]" } else { "" },
        evaluation.seed,
        evaluation.summaries.first().map_or(0, |summary| summary.incidents)
    );
    text.push_str(&format!(
        "{:<13} {:>8} {:>11} {:>11} {:>11} {:>7} {:>7} {:>10}\n",
        "policy", "auto %", "MTTR mean", "MTTR p50", "MTTR p90", "unsafe", "wasted", "DPU-h"
    ));
    for summary in &evaluation.summaries {
        text.push_str(&format!(
            "{:<13} {:>7.1}% {:>11} {:>11} {:>11} {:>7} {:>7} {:>10.1}\n",
            summary.policy.as_str(),
            summary.auto_resolution * 100.0,
            duration(summary.mttr_mean_minutes),
            duration(summary.mttr_median_minutes),
            duration(summary.mttr_p90_minutes),
            summary.unsafe_actions,
            summary.wasted_runs,
            summary.dpu_hours
        ));
    }
    text.push_str("targets (trained):\n");
    for check in &evaluation.targets {
        text.push_str(&format!("  [{}] {}: {}\n", if check.met { "ok" } else { "MISSED" }, check.target, check.detail));
    }
    if top_states > 0 {
        text.push_str("trained vs rules, largest differences by first-failure state (minutes saved in total):\n");
        for delta in evaluation.trained_vs_rules_by_state.iter().take(top_states) {
            text.push_str(&format!(
                "  {:>+9.0}  n={:<4} rules {:>8} trained {:>8}  {}\n",
                delta.minutes_saved,
                delta.incidents,
                duration(delta.rules_mean_minutes),
                duration(delta.trained_mean_minutes),
                delta.state
            ));
        }
    }
    text
}

/// Minutes as a short readable duration.
pub fn duration(minutes: f64) -> String {
    if minutes < 120.0 { format!("{minutes:.1} min") } else { format!("{:.1} h", minutes / 60.0) }
}
