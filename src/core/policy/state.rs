//! The policy's discrete state: a small, readable summary of one incident that
//! a tabular Q-policy can index. It is built purely from the request and its
//! diagnosis, and its key (`class=...|drift=...|...`) is what policy files,
//! audit records and `policy explain` show to a person.
//!
//! Eight features, each with few values, keep the table learnable:
//! failure class (9) x how far the failed run got (3) x drift (4) x attempt
//! (3) x risk (4) x source (3) x recent (4) x last action (8). The nominal
//! product is large, but the reachable set is a few thousand: drift is rarely
//! set outside schema incidents and `last` is `none` whenever `attempt=0`.
//!
//! How far the failed run got (`ran`) exists because one error text can hide
//! very different causes. The py4j wrapper "Job aborted due to stage
//! failure", with nothing else to go on, is diagnosed `resource_exhaustion`
//! at low confidence; a run that died a minute into a job that usually takes
//! half an hour did not run out of memory on its data, it never got to it
//! (a missing input, a permission, a bug in the setup), while one that died
//! near its usual end did. The timing is in every JobRun (ExecutionTime) and
//! in the job's recent runs, whatever the text says.

use std::fmt;

use chrono::DateTime;
use thiserror::Error;

use crate::core::diagnosis::{Diagnosis, DriftKind};
use crate::core::evidence::{DecideRequest, RunSummary};
use crate::core::model::{ActionKind, FailureClass, RiskTier};

/// Catalog drift as the policy sees it: breaking drift is split by whether a
/// known-good version exists, because only then is a rollback possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftFeature {
    None,
    Additive,
    Breaking,
    BreakingKnownGood,
}

/// Remediations already tried for this incident: 0, 1, or 2 and more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttemptBucket {
    Zero,
    One,
    TwoOrMore,
}

/// Whether the job's input has landed since its usual cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceFreshness {
    Fresh,
    Late,
    Unknown,
}

/// How this job's recent runs went (before the failed one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecentOutcomes {
    Healthy,
    Flaky,
    Failing,
    Unknown,
}

/// How far the failed run got, against the job's usual successful run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunProgress {
    /// Failed within [`EARLY_FAILURE_SHARE`] of its usual run time.
    Early,
    /// Failed later than that.
    Late,
    /// No execution time, or no successful recent run to compare with.
    Unknown,
}

/// The discrete state. Field order is the key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State {
    pub class: FailureClass,
    pub ran: RunProgress,
    pub drift: DriftFeature,
    pub attempt: AttemptBucket,
    pub risk: RiskTier,
    pub source: SourceFreshness,
    pub recent: RecentOutcomes,
    /// The last remediation tried for this incident; `None` when there was
    /// none or its name is not an action etl-medic knows.
    pub last: Option<ActionKind>,
}

/// Cadence assumed when the run history cannot tell it: most ETL jobs run daily.
pub const DEFAULT_CADENCE_S: u64 = 86_400;

/// A failed run that stopped before this share of the median successful run
/// time of the job counts as `early`: setup, input and permission failures
/// come in the first minutes, memory and data failures once the data flows.
pub const EARLY_FAILURE_SHARE: f64 = 0.2;

/// How many recent runs the `recent` feature looks at.
pub const RECENT_RUNS_CONSIDERED: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid state key {key:?}: {reason}")]
pub struct StateKeyError {
    pub key: String,
    pub reason: String,
}

impl State {
    /// Encodes one incident. Pure and total: missing evidence maps to `unknown`/`none`.
    pub fn from_evidence(request: &DecideRequest, diagnosis: &Diagnosis) -> State {
        let last = request.history.actions_taken.last().and_then(|name| ActionKind::parse(name));
        State {
            class: diagnosis.class,
            ran: run_progress(request),
            drift: drift_feature(diagnosis),
            attempt: attempt_bucket(request.history.attempt),
            risk: request.risk_tier(),
            source: source_freshness(request.context.source_last_modified_age_s, &request.history.recent_runs),
            recent: recent_outcomes(&request.history.recent_runs),
            last,
        }
    }

    /// The readable key, e.g.
    /// `class=schema_drift|ran=late|drift=breaking_known_good|attempt=0|risk=low|source=fresh|recent=healthy|last=none`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// Parses a key written by [`State::key`]; all eight fields, in order.
    pub fn parse(key: &str) -> Result<State, StateKeyError> {
        let fail = |reason: String| StateKeyError { key: key.to_string(), reason };
        let parts: Vec<&str> = key.split('|').collect();
        if parts.len() != FIELD_NAMES.len() {
            return Err(fail(format!(
                "expected {} fields ({}), found {}",
                FIELD_NAMES.len(),
                FIELD_NAMES.join("|"),
                parts.len()
            )));
        }
        let mut values = Vec::with_capacity(parts.len());
        for (part, expected_name) in parts.iter().zip(FIELD_NAMES) {
            match part.split_once('=') {
                Some((name, value)) if name == expected_name => values.push(value),
                _ => return Err(fail(format!("expected `{expected_name}=<value>`, found {part:?}"))),
            }
        }
        let unknown = |field: &str, value: &str| fail(format!("unknown {field} value {value:?}"));
        let class = FailureClass::parse(values[0]).ok_or_else(|| unknown("class", values[0]))?;
        let ran = parse_named(values[1], &RAN_NAMES).ok_or_else(|| unknown("ran", values[1]))?;
        let drift = parse_named(values[2], &DRIFT_NAMES).ok_or_else(|| unknown("drift", values[2]))?;
        let attempt = parse_named(values[3], &ATTEMPT_NAMES).ok_or_else(|| unknown("attempt", values[3]))?;
        let risk = RiskTier::ALL
            .into_iter()
            .find(|tier| tier.as_str() == values[4])
            .ok_or_else(|| unknown("risk", values[4]))?;
        let source = parse_named(values[5], &SOURCE_NAMES).ok_or_else(|| unknown("source", values[5]))?;
        let recent = parse_named(values[6], &RECENT_NAMES).ok_or_else(|| unknown("recent", values[6]))?;
        let last = match values[7] {
            "none" => None,
            name => Some(ActionKind::parse(name).ok_or_else(|| unknown("last", name))?),
        };
        Ok(State { class, ran, drift, attempt, risk, source, recent, last })
    }
}

const FIELD_NAMES: [&str; 8] = ["class", "ran", "drift", "attempt", "risk", "source", "recent", "last"];
const RAN_NAMES: [(RunProgress, &str); 3] =
    [(RunProgress::Early, "early"), (RunProgress::Late, "late"), (RunProgress::Unknown, "unknown")];
const DRIFT_NAMES: [(DriftFeature, &str); 4] = [
    (DriftFeature::None, "none"),
    (DriftFeature::Additive, "additive"),
    (DriftFeature::Breaking, "breaking"),
    (DriftFeature::BreakingKnownGood, "breaking_known_good"),
];
const ATTEMPT_NAMES: [(AttemptBucket, &str); 3] =
    [(AttemptBucket::Zero, "0"), (AttemptBucket::One, "1"), (AttemptBucket::TwoOrMore, "2+")];
const SOURCE_NAMES: [(SourceFreshness, &str); 3] =
    [(SourceFreshness::Fresh, "fresh"), (SourceFreshness::Late, "late"), (SourceFreshness::Unknown, "unknown")];
const RECENT_NAMES: [(RecentOutcomes, &str); 4] = [
    (RecentOutcomes::Healthy, "healthy"),
    (RecentOutcomes::Flaky, "flaky"),
    (RecentOutcomes::Failing, "failing"),
    (RecentOutcomes::Unknown, "unknown"),
];

fn parse_named<T: Copy>(value: &str, table: &[(T, &'static str)]) -> Option<T> {
    table.iter().find(|(_, name)| *name == value).map(|(item, _)| *item)
}

fn name_of<T: Copy + PartialEq>(item: T, table: &[(T, &'static str)]) -> &'static str {
    // Every variant is listed in its table (tests parse every key back), so
    // the fallback is unreachable; it keeps this total without a panic.
    table.iter().find(|(candidate, _)| *candidate == item).map_or("unknown", |(_, name)| name)
}

impl fmt::Display for State {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "class={}|ran={}|drift={}|attempt={}|risk={}|source={}|recent={}|last={}",
            self.class.as_str(),
            name_of(self.ran, &RAN_NAMES),
            name_of(self.drift, &DRIFT_NAMES),
            name_of(self.attempt, &ATTEMPT_NAMES),
            self.risk.as_str(),
            name_of(self.source, &SOURCE_NAMES),
            name_of(self.recent, &RECENT_NAMES),
            self.last.map_or("none", ActionKind::as_str),
        )
    }
}

/// Early or late against the median execution time of the job's recent
/// successful runs; unknown without either figure.
fn run_progress(request: &DecideRequest) -> RunProgress {
    let Some(ran_s) = request.job_run.as_ref().and_then(|run| run.execution_time_s) else {
        return RunProgress::Unknown;
    };
    let mut usual_s: Vec<u64> = request
        .history
        .recent_runs
        .iter()
        .filter(|run| run.state.eq_ignore_ascii_case("SUCCEEDED"))
        .filter_map(|run| run.execution_time_s)
        .filter(|seconds| *seconds > 0)
        .collect();
    if usual_s.is_empty() {
        return RunProgress::Unknown;
    }
    usual_s.sort_unstable();
    let median_s = usual_s[usual_s.len() / 2] as f64;
    if (ran_s as f64) < EARLY_FAILURE_SHARE * median_s { RunProgress::Early } else { RunProgress::Late }
}

fn drift_feature(diagnosis: &Diagnosis) -> DriftFeature {
    match &diagnosis.drift {
        None => DriftFeature::None,
        Some(drift) => match drift.kind {
            DriftKind::None => DriftFeature::None,
            DriftKind::Additive => DriftFeature::Additive,
            DriftKind::Breaking if drift.known_good_version.is_some() => DriftFeature::BreakingKnownGood,
            DriftKind::Breaking => DriftFeature::Breaking,
        },
    }
}

fn attempt_bucket(attempt: u32) -> AttemptBucket {
    match attempt {
        0 => AttemptBucket::Zero,
        1 => AttemptBucket::One,
        _ => AttemptBucket::TwoOrMore,
    }
}

/// Fresh when the source changed within one usual cadence of the job, late
/// when it has not (the next batch has not landed), unknown without the age.
fn source_freshness(age_s: Option<u64>, recent_runs: &[RunSummary]) -> SourceFreshness {
    let Some(age_s) = age_s else {
        return SourceFreshness::Unknown;
    };
    let cadence_s = usual_cadence_s(recent_runs).unwrap_or(DEFAULT_CADENCE_S);
    if age_s > cadence_s { SourceFreshness::Late } else { SourceFreshness::Fresh }
}

/// The median gap between consecutive run starts (newest first), when at
/// least two starts parse. The median ignores one-off manual reruns.
pub fn usual_cadence_s(recent_runs: &[RunSummary]) -> Option<u64> {
    let starts: Vec<i64> = recent_runs
        .iter()
        .filter_map(|run| run.started_at.as_deref())
        .filter_map(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.timestamp())
        .collect();
    let mut gaps: Vec<u64> = starts.windows(2).map(|pair| pair[0].abs_diff(pair[1])).filter(|gap| *gap > 0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

fn recent_outcomes(recent_runs: &[RunSummary]) -> RecentOutcomes {
    let mut successes = 0_usize;
    let mut failures = 0_usize;
    for run in recent_runs.iter().take(RECENT_RUNS_CONSIDERED) {
        match run.state.to_ascii_uppercase().as_str() {
            "SUCCEEDED" => successes += 1,
            "FAILED" | "TIMEOUT" | "ERROR" => failures += 1,
            _ => {}
        }
    }
    match (successes, failures) {
        (0, 0) => RecentOutcomes::Unknown,
        (_, 0) => RecentOutcomes::Healthy,
        (0, _) => RecentOutcomes::Failing,
        _ => RecentOutcomes::Flaky,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
