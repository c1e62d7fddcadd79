//! State encoding: readable keys that parse back, and features derived from
//! the evidence the way an engineer would read it.

use serde_json::json;

use super::*;
use crate::core::safety::fixtures::{diagnosis, request, schema_diagnosis};

fn runs(states_and_starts: &[(&str, &str)]) -> Vec<RunSummary> {
    states_and_starts
        .iter()
        .map(|(state, started_at)| RunSummary {
            state: state.to_string(),
            started_at: Some(started_at.to_string()),
            ..RunSummary::default()
        })
        .collect()
}

#[test]
fn key_reads_like_the_documented_example() {
    let mut incident = request();
    incident.job.risk_tier = Some(RiskTier::Low);
    incident.context.source_last_modified_age_s = Some(5_400);
    incident.history.recent_runs = runs(&[("SUCCEEDED", "2026-11-28T02:00:00Z")]);
    incident.history.recent_runs[0].execution_time_s = Some(1_500);
    incident.job_run.get_or_insert_with(Default::default).execution_time_s = Some(600);
    let state = State::from_evidence(&incident, &schema_diagnosis(DriftKind::Breaking, Some("3")));
    assert_eq!(
        state.key(),
        "class=schema_drift|ran=late|drift=breaking_known_good|attempt=0|risk=low|source=fresh|recent=healthy|last=none"
    );
}

#[test]
fn every_state_key_parses_back() {
    let drifts = [DriftFeature::None, DriftFeature::Additive, DriftFeature::Breaking, DriftFeature::BreakingKnownGood];
    let attempts = [AttemptBucket::Zero, AttemptBucket::One, AttemptBucket::TwoOrMore];
    let sources = [SourceFreshness::Fresh, SourceFreshness::Late, SourceFreshness::Unknown];
    let recents = [RecentOutcomes::Healthy, RecentOutcomes::Flaky, RecentOutcomes::Failing, RecentOutcomes::Unknown];
    let lasts: Vec<Option<ActionKind>> = std::iter::once(None).chain(ActionKind::ALL.into_iter().map(Some)).collect();
    let progress = [RunProgress::Early, RunProgress::Late, RunProgress::Unknown];
    let mut count = 0;
    for class in FailureClass::ALL {
        for (ran, drift) in progress.into_iter().flat_map(|ran| drifts.map(|drift| (ran, drift))) {
            for attempt in attempts {
                for risk in RiskTier::ALL {
                    for source in sources {
                        for recent in recents {
                            for last in &lasts {
                                let state = State { class, ran, drift, attempt, risk, source, recent, last: *last };
                                assert_eq!(State::parse(&state.key()), Ok(state));
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 9 * 3 * 4 * 3 * 4 * 3 * 4 * 9);
}

#[test]
fn malformed_keys_are_refused_with_the_reason() {
    let good = "class=timeout|ran=late|drift=none|attempt=2+|risk=high|source=late|recent=flaky|last=retry";
    assert!(State::parse(good).is_ok());
    let missing = State::parse("class=timeout|ran=late|drift=none").expect_err("two fields");
    assert!(missing.reason.contains("expected 8 fields"), "{missing}");
    let reordered =
        State::parse("ran=late|class=timeout|drift=none|attempt=2+|risk=high|source=late|recent=flaky|last=retry");
    assert!(reordered.expect_err("order matters").reason.contains("`class=<value>`"));
    let unknown = State::parse(&good.replace("timeout", "meltdown")).expect_err("unknown class");
    assert!(unknown.reason.contains("unknown class value \"meltdown\""), "{unknown}");
    let vague = State::parse(&good.replace("ran=late", "ran=halfway")).expect_err("unknown progress");
    assert!(vague.reason.contains("unknown ran value \"halfway\""), "{vague}");
    let old_format = State::parse("class=timeout|drift=none|attempt=2+|risk=high|source=late|recent=flaky|last=retry");
    assert!(old_format.expect_err("seven fields").reason.contains("expected 8 fields"));
}

#[test]
fn ran_is_early_when_the_run_died_long_before_its_usual_end() {
    // A job that usually runs 30 minutes: dying after 2 is a setup, input or
    // permission failure; after 20, the data was flowing.
    let mut incident = request();
    incident.history.recent_runs = [1_700, 1_800, 1_900]
        .into_iter()
        .map(|seconds| RunSummary {
            state: "SUCCEEDED".to_string(),
            execution_time_s: Some(seconds),
            ..RunSummary::default()
        })
        .chain(std::iter::once(RunSummary {
            state: "FAILED".to_string(),
            execution_time_s: Some(5),
            ..RunSummary::default()
        }))
        .collect();
    let at = |incident: &DecideRequest, seconds: Option<u64>| {
        let mut incident = incident.clone();
        incident.job_run.get_or_insert_with(Default::default).execution_time_s = seconds;
        State::from_evidence(&incident, &diagnosis(FailureClass::ResourceExhaustion)).ran
    };
    assert_eq!(at(&incident, Some(120)), RunProgress::Early);
    assert_eq!(at(&incident, Some(359)), RunProgress::Early, "just under a fifth of the 1,800 s median");
    assert_eq!(at(&incident, Some(360)), RunProgress::Late);
    assert_eq!(at(&incident, Some(1_200)), RunProgress::Late);
    assert_eq!(at(&incident, None), RunProgress::Unknown, "no execution time");
    incident.history.recent_runs.retain(|run| run.state == "FAILED");
    assert_eq!(at(&incident, Some(120)), RunProgress::Unknown, "no successful run to compare with");
}

#[test]
fn source_is_late_when_older_than_the_usual_cadence() {
    let hourly = runs(&[
        ("SUCCEEDED", "2026-11-29T01:00:00Z"),
        ("SUCCEEDED", "2026-11-29T00:00:00Z"),
        ("SUCCEEDED", "2026-11-28T23:00:00Z"),
    ]);
    assert_eq!(usual_cadence_s(&hourly), Some(3_600));
    assert_eq!(source_freshness(Some(1_800), &hourly), SourceFreshness::Fresh);
    assert_eq!(source_freshness(Some(7_200), &hourly), SourceFreshness::Late);
    assert_eq!(source_freshness(None, &hourly), SourceFreshness::Unknown);
    // Without a history, the daily default applies.
    assert_eq!(source_freshness(Some(7_200), &[]), SourceFreshness::Fresh);
    assert_eq!(source_freshness(Some(2 * 86_400), &[]), SourceFreshness::Late);
}

#[test]
fn recent_outcomes_summarise_the_last_runs() {
    let at = "2026-11-28T02:00:00Z";
    assert_eq!(recent_outcomes(&runs(&[("SUCCEEDED", at), ("SUCCEEDED", at)])), RecentOutcomes::Healthy);
    assert_eq!(recent_outcomes(&runs(&[("FAILED", at), ("SUCCEEDED", at)])), RecentOutcomes::Flaky);
    assert_eq!(recent_outcomes(&runs(&[("FAILED", at), ("TIMEOUT", at)])), RecentOutcomes::Failing);
    assert_eq!(recent_outcomes(&runs(&[("RUNNING", at)])), RecentOutcomes::Unknown);
    assert_eq!(recent_outcomes(&[]), RecentOutcomes::Unknown);
}

#[test]
fn attempt_and_last_action_come_from_the_history() {
    let mut incident = request();
    incident.history = serde_json::from_value(json!({"attempt": 4, "actions_taken": ["retry", "wait_and_retry"]}))
        .expect("history parses");
    let state = State::from_evidence(&incident, &diagnosis(FailureClass::TransientInfra));
    assert_eq!((state.attempt, state.last), (AttemptBucket::TwoOrMore, Some(ActionKind::WaitAndRetry)));
    incident.history.actions_taken.push("reboot_the_cloud".to_string());
    let state_after_unknown = State::from_evidence(&incident, &diagnosis(FailureClass::TransientInfra));
    assert_eq!(state_after_unknown.last, None, "unknown action names carry no meaning");
}
