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
    let state = State::from_evidence(&incident, &schema_diagnosis(DriftKind::Breaking, Some("3")));
    assert_eq!(
        state.key(),
        "class=schema_drift|drift=breaking_known_good|attempt=0|risk=low|source=fresh|recent=healthy|last=none"
    );
}

#[test]
fn every_state_key_parses_back() {
    let drifts = [DriftFeature::None, DriftFeature::Additive, DriftFeature::Breaking, DriftFeature::BreakingKnownGood];
    let attempts = [AttemptBucket::Zero, AttemptBucket::One, AttemptBucket::TwoOrMore];
    let sources = [SourceFreshness::Fresh, SourceFreshness::Late, SourceFreshness::Unknown];
    let recents = [RecentOutcomes::Healthy, RecentOutcomes::Flaky, RecentOutcomes::Failing, RecentOutcomes::Unknown];
    let lasts: Vec<Option<ActionKind>> = std::iter::once(None).chain(ActionKind::ALL.into_iter().map(Some)).collect();
    let mut count = 0;
    for class in FailureClass::ALL {
        for drift in drifts {
            for attempt in attempts {
                for risk in RiskTier::ALL {
                    for source in sources {
                        for recent in recents {
                            for last in &lasts {
                                let state = State { class, drift, attempt, risk, source, recent, last: *last };
                                assert_eq!(State::parse(&state.key()), Ok(state));
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 9 * 4 * 3 * 4 * 3 * 4 * 8);
}

#[test]
fn malformed_keys_are_refused_with_the_reason() {
    let good = "class=timeout|drift=none|attempt=2+|risk=high|source=late|recent=flaky|last=retry";
    assert!(State::parse(good).is_ok());
    let missing = State::parse("class=timeout|drift=none").expect_err("two fields");
    assert!(missing.reason.contains("expected 7 fields"), "{missing}");
    let reordered = State::parse("drift=none|class=timeout|attempt=2+|risk=high|source=late|recent=flaky|last=retry");
    assert!(reordered.expect_err("order matters").reason.contains("`class=<value>`"));
    let unknown = State::parse(&good.replace("timeout", "meltdown")).expect_err("unknown class");
    assert!(unknown.reason.contains("unknown class value \"meltdown\""), "{unknown}");
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
