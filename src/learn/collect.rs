//! The collection harness (`etl-medic sim collect`): plays a simulator
//! parameter set through exactly the public protocol, so our own
//! measurements are taken the way an outside evaluator takes them. Every
//! step is a decide request, serialised to a JSON line and answered by a
//! `decide` conversation (the caller passes the same line handler as
//! `etl-medic decide --mode auto --explore EPS --explore-seed N`); the
//! answer's final action is applied to the simulated incident, and one
//! experience line (spec/experience.md) is written per step.
//!
//! An incident still open after [`MAX_STEPS`] decisions is left open: its
//! last line is unresolved (censored), as a real trail cut off would be.

use std::io::Write;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::core::model::{Action, ActionKind};
use crate::learn::episode::MAX_STEPS;
use crate::learn::experience::{ExperienceLine, Outcome, ResolvedBy, write_line};
use crate::sim::{Estate, Resolution, SimConfig};

/// What a collection did, for the command's summary line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CollectSummary {
    pub incidents: u64,
    pub steps: u64,
    pub explored_steps: u64,
    pub resolved_by_action: u64,
    pub resolved_by_next_run: u64,
    pub resolved_by_person: u64,
    /// Incidents left open after the step limit.
    pub censored: u64,
    /// Decisions whose proposal safety replaced, plus actions harmful for the true cause.
    pub unsafe_actions: u64,
    /// Mean minutes from first failure to recovery over the resolved incidents.
    pub mean_minutes_resolved: f64,
}

impl CollectSummary {
    /// Share of incidents resolved without a person.
    pub fn auto_resolution(&self) -> f64 {
        (self.resolved_by_action + self.resolved_by_next_run) as f64 / self.incidents.max(1) as f64
    }
}

/// Plays incidents `0..incidents` of `sim` (seeded by `seed`), asking
/// `decide_line` for every decision, and writes experience lines to `output`.
pub fn collect(
    sim: &SimConfig,
    incidents: u64,
    seed: u64,
    mut decide_line: impl FnMut(&str) -> anyhow::Result<String>,
    output: &mut impl Write,
) -> anyhow::Result<CollectSummary> {
    let estate = Estate::new(sim.clone(), seed);
    let mut summary = CollectSummary { incidents, ..CollectSummary::default() };
    let mut resolved_minutes = 0.0;
    let mut resolved_count = 0_u64;
    for number in 0..incidents {
        let mut incident = estate.incident(number);
        let mut elapsed_minutes = 0.0;
        let mut closed = false;
        for step in 0..MAX_STEPS {
            let request_text = serde_json::to_string(&incident.request).context("encoding a decide request")?;
            let answer_text = decide_line(&request_text)?;
            let decision: serde_json::Value =
                serde_json::from_str(&answer_text).with_context(|| format!("decide answered {answer_text:?}"))?;
            if let Some(error) = decision.get("error") {
                bail!("decide refused the request of {} step {step}: {error}", incident.id);
            }
            let action: Action = serde_json::from_value(decision.get("action").cloned().unwrap_or_default())
                .with_context(|| format!("decide answered without an action: {answer_text}"))?;
            summary.steps += 1;
            summary.explored_steps += u64::from(decision.pointer("/policy/explored") == Some(&true.into()));
            summary.unsafe_actions += u64::from(decision.pointer("/safety/verdict") == Some(&"replaced".into()));
            let outcome = estate.apply(&mut incident, &action);
            summary.unsafe_actions += u64::from(outcome.harm.is_some());
            elapsed_minutes += outcome.minutes;
            let resolved_by = match outcome.resolution {
                Some(Resolution::Remediated) if outcome.action == ActionKind::LogAndWait => Some(ResolvedBy::NextRun),
                Some(Resolution::Remediated) => Some(ResolvedBy::Action),
                Some(Resolution::Human) => Some(ResolvedBy::Person),
                None => None,
            };
            let line = ExperienceLine {
                incident_id: incident.id.clone(),
                step: step as u32,
                request: serde_json::from_str(&request_text).context("re-reading a decide request")?,
                decision,
                outcome: Some(Outcome {
                    resolved: resolved_by.is_some(),
                    resolved_by,
                    elapsed_s: (outcome.minutes * 60.0).round(),
                }),
            };
            write_line(output, &line).context("writing an experience line")?;
            match resolved_by {
                Some(ResolvedBy::Action) => summary.resolved_by_action += 1,
                Some(ResolvedBy::NextRun) => summary.resolved_by_next_run += 1,
                Some(ResolvedBy::Person) => summary.resolved_by_person += 1,
                None => continue,
            }
            closed = true;
            break;
        }
        if closed {
            resolved_minutes += elapsed_minutes;
            resolved_count += 1;
        } else {
            summary.censored += 1;
        }
    }
    summary.mean_minutes_resolved = resolved_minutes / resolved_count.max(1) as f64;
    Ok(summary)
}
