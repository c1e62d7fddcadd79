//! The simulated estate is reproducible and its incidents look like the
//! daemon's decide requests.

use etl_medic::core::model::Action;
use etl_medic::sim::{Estate, Resolution, SimCause, SimConfig};

#[test]
fn same_seed_gives_same_incidents_and_outcomes() {
    let mut first = Estate::new(SimConfig::embedded_default(), 7);
    let mut second = Estate::new(SimConfig::embedded_default(), 7);
    for _ in 0..50 {
        let mut left = first.next_incident();
        let mut right = second.next_incident();
        assert_eq!(left.request, right.request);
        assert_eq!(left.cause, right.cause);
        let left_outcome = first.apply(&mut left, &Action::Retry {});
        let right_outcome = second.apply(&mut right, &Action::Retry {});
        assert_eq!(left_outcome, right_outcome);
    }
    let other = Estate::new(SimConfig::embedded_default(), 8);
    let differs = (0..20).any(|number| other.incident(number).request != first.incident(number).request);
    assert!(differs, "another seed draws other incidents");
}

#[test]
fn requests_round_trip_through_the_decide_json_shape() {
    let mut estate = Estate::new(SimConfig::embedded_default(), 1);
    for _ in 0..30 {
        let incident = estate.next_incident();
        let line = serde_json::to_string(&incident.request).unwrap();
        let parsed: etl_medic::core::evidence::DecideRequest = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, incident.request);
        assert_eq!(parsed.job_name(), Some(incident.job.name.as_str()));
        assert_eq!(parsed.history.attempt, 0);
    }
}

#[test]
fn a_failed_remediation_raises_the_attempt_and_records_the_action() {
    let estate = Estate::new(SimConfig::embedded_default(), 3);
    let number = (0..200).find(|number| estate.incident(*number).cause == SimCause::CodeBug).unwrap();
    let mut incident = estate.incident(number);
    let outcome = estate.apply(&mut incident, &Action::Retry {});
    assert!(!outcome.success && !outcome.closed);
    let next = outcome.next_request.unwrap();
    assert_eq!(next.history.attempt, 1);
    assert_eq!(next.history.actions_taken, vec!["retry".to_string()]);
    let escalated = estate.apply(&mut incident, &Action::Escalate { reason: "code bug".to_string() });
    assert_eq!(escalated.resolution, Some(Resolution::Human));
    assert!(escalated.minutes > 60.0, "a person takes hours, not minutes");
    assert!(incident.closed);
}

#[test]
fn a_late_source_heals_only_when_the_wait_covers_the_lateness() {
    let estate = Estate::new(SimConfig::embedded_default(), 5);
    let numbers: Vec<u64> =
        (0..400).filter(|number| estate.incident(*number).cause == SimCause::SourceUnavailable).collect();
    assert!(numbers.len() > 20);
    let mut healed_by_short = 0;
    let mut healed_by_long = 0;
    for number in &numbers {
        let mut short = estate.incident(*number);
        healed_by_short += u32::from(estate.apply(&mut short, &Action::WaitAndRetry { delay_s: 60 }).success);
        let mut long = estate.incident(*number);
        healed_by_long += u32::from(estate.apply(&mut long, &Action::WaitAndRetry { delay_s: 6 * 3600 }).success);
    }
    assert!(healed_by_long > healed_by_short * 2, "long {healed_by_long} short {healed_by_short}");
}
