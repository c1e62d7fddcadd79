//! An incident's record and its experience lines, from the decisions on
//! its failed runs and what happened next: the report's view (the first
//! decision is the proposal, judged against the fix and estimated with the
//! outcome model) and the learner's (one experience line per decision, with
//! what history really did at each step).

use chrono::{DateTime, Utc};

use crate::backtest::asof::{parse_time, rfc3339};
use crate::backtest::estimate::{JobShape, OutcomeModel, percentile, seed_of};
use crate::backtest::follow_up::{FixKind, FollowUp, Streak};
use crate::backtest::record::{
    DiagnosisSummary, EvidenceNotes, ExperienceLine, ExperienceOutcome, IncidentReport, LaterFailure, Proposal,
    observed_decision,
};
use crate::core::decision::Decision;
use crate::core::evidence::DecideRequest;
use crate::core::model::ActionKind;
use crate::daemon::gather::HISTORY_RUNS;
use crate::ports::JobRun;
use crate::ports::incident_store::incident_id_for;

/// Error messages longer than this are cut in the report (the request keeps them whole).
const MESSAGE_CHARS: usize = 400;

/// The decision the daemon would have made on one failed run, the request
/// it rests on, and what of the evidence was missing.
pub struct Step {
    pub run: JobRun,
    pub failed_at: DateTime<Utc>,
    pub request: DecideRequest,
    pub decision: Decision,
    pub missing: Vec<String>,
}

/// The job's typical run time and schedule before `at`, from its history.
pub fn job_shape(runs: &[JobRun], failed: &JobRun, at: DateTime<Utc>) -> JobShape {
    let mut before: Vec<&JobRun> = runs.iter().filter(|run| run.started_on.is_some_and(|start| start < at)).collect();
    before.sort_by_key(|run| std::cmp::Reverse(run.started_on));
    before.truncate(HISTORY_RUNS as usize + 1);
    let mut durations: Vec<f64> = before
        .iter()
        .filter(|run| run.state == crate::core::event::JobRunState::Succeeded)
        .filter_map(|run| run.execution_time_s)
        .map(|seconds| seconds as f64 / 60.0)
        .collect();
    durations.sort_by(f64::total_cmp);
    let starts: Vec<DateTime<Utc>> = before.iter().filter_map(|run| run.started_on).collect();
    let mut gaps: Vec<f64> = starts.windows(2).map(|pair| (pair[0] - pair[1]).num_seconds() as f64 / 60.0).collect();
    gaps.sort_by(f64::total_cmp);
    let fallback_run = failed.execution_time_s.map_or(30.0, |seconds| (seconds as f64 / 60.0).max(1.0));
    JobShape {
        run_minutes: if durations.is_empty() { fallback_run } else { percentile(&durations, 0.5).max(1.0) },
        schedule_minutes: if gaps.is_empty() { 1_440.0 } else { percentile(&gaps, 0.5).max(5.0) },
        worker_type: failed.worker_type.clone(),
        number_of_workers: failed.number_of_workers,
    }
}

/// What an incident's record is judged against: the outcome model, the end
/// of observation, and the job's runs (its typical shape).
pub struct Observed<'a> {
    pub model: &'a OutcomeModel,
    pub now: DateTime<Utc>,
    pub runs: &'a [JobRun],
}

/// The report record of an incident, from its decision steps (the first
/// one's decision is the proposal) and what happened next; none without a step.
pub fn incident_report(
    observed: &Observed<'_>,
    steps: &[Step],
    streak: &Streak,
    what_happened: FollowUp,
) -> Option<IncidentReport> {
    let first = steps.first()?;
    let decision = &first.decision;
    let request = &first.request;
    let incident_id = incident_id_for(&first.run.job_name, &first.run.id);
    let shape = job_shape(observed.runs, &first.run, first.failed_at);
    let estimate = observed.model.estimate(decision.diagnosis.class, &decision.action, &shape, seed_of(&incident_id));
    let final_kind = decision.action.kind();
    let proposal_matches_fix =
        (what_happened.fix != FixKind::NotFixed).then(|| what_happened.fix.matching_actions().contains(&final_kind));
    let open_for_s = (what_happened.fix == FixKind::NotFixed)
        .then(|| u64::try_from((observed.now - first.failed_at).num_seconds()).unwrap_or(0));
    Some(IncidentReport {
        incident_id,
        job: first.run.job_name.clone(),
        run_id: first.run.id.clone(),
        state: first.run.state.as_str().to_string(),
        failed_at: rfc3339(first.failed_at),
        error_message: first.run.error_message.as_deref().map(|message| cut(message, MESSAGE_CHARS)),
        began_before_window: streak.began_before_window,
        diagnosis: DiagnosisSummary {
            class: decision.diagnosis.class,
            confidence: decision.diagnosis.confidence,
            signals: decision.diagnosis.signals.iter().take(3).map(|signal| cut(signal, MESSAGE_CHARS)).collect(),
        },
        proposal: Proposal::from_decision(decision),
        evidence: EvidenceNotes {
            error_log_lines: request.logs.error.len(),
            output_log_lines: request.logs.output.len(),
            catalog_tables: request.catalog.len(),
            history_runs: request.history.recent_runs.len(),
            source_age_s: request.context.source_last_modified_age_s,
            missing: first.missing.clone(),
        },
        later_failures: steps
            .iter()
            .skip(1)
            .map(|step| LaterFailure {
                run_id: step.run.id.clone(),
                failed_at: rfc3339(step.failed_at),
                class: step.decision.diagnosis.class,
                action: step.decision.action.kind(),
            })
            .collect(),
        observed_time_to_fix_s: what_happened.time_to_fix_s,
        what_happened,
        open_for_s,
        proposal_matches_fix,
        estimated_time_to_fix: estimate,
    })
}

/// The incident's decision steps as experience lines: between failures
/// nothing was done (`log_and_wait`, not resolved, until the next failure);
/// the last step is resolved by the job's next run or by a person, or still
/// open at the end of observation (`now`).
pub fn experience_lines(now: DateTime<Utc>, steps: &[Step], what_happened: &FollowUp) -> Vec<String> {
    let fixed_at = what_happened.fixed_at.as_deref().and_then(parse_time);
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| u64::try_from((to - from).num_seconds()).unwrap_or(0);
    let incident_id = steps.first().map(|step| incident_id_for(&step.run.job_name, &step.run.id)).unwrap_or_default();
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let next = steps.get(index + 1).map(|next| next.failed_at);
            let (carried_out, outcome) = match (next, fixed_at, what_happened.resolved_by.as_deref()) {
                (Some(next), _, _) => (
                    ActionKind::LogAndWait,
                    ExperienceOutcome { resolved: false, resolved_by: None, elapsed_s: seconds(step.failed_at, next) },
                ),
                (None, Some(fixed), Some(by)) => (
                    if by == "person" { ActionKind::Escalate } else { ActionKind::LogAndWait },
                    ExperienceOutcome {
                        resolved: true,
                        resolved_by: Some(by.to_string()),
                        elapsed_s: seconds(step.failed_at, fixed),
                    },
                ),
                _ => (
                    ActionKind::LogAndWait,
                    ExperienceOutcome { resolved: false, resolved_by: None, elapsed_s: seconds(step.failed_at, now) },
                ),
            };
            let line = ExperienceLine {
                incident_id: incident_id.clone(),
                step: index as u32,
                request: serde_json::to_value(&step.request).unwrap_or_default(),
                decision: observed_decision(&step.decision, carried_out),
                outcome: Some(outcome),
            };
            serde_json::to_string(&line).unwrap_or_default()
        })
        .collect()
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
