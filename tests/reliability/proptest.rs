//! Property tests of what the daemon does with an SQS body (EventBridge
//! envelope parsing and intake), at a modest case count so they run in CI:
//! no input panics; anything over the size limit is `oversized` poison; every
//! other rejection carries one of the closed set of poison reasons; a
//! well-formed Glue event, whatever its names and message hold (control
//! characters, ANSI escapes, any Unicode), comes out with the same job name,
//! run id and state; a truncated event is never mistaken for a valid one
//! with different identifiers.
//!
//! Run: `cargo test --test reliability proptest::`.

use etl_medic::daemon::intake::{Intake, read_message};
use proptest::prelude::*;
use serde_json::json;

const LIMIT: usize = 262_144;
const REASONS: [&str; 4] = ["not_json", "not_envelope", "invalid_event", "oversized"];
const STATES: [&str; 6] = ["FAILED", "TIMEOUT", "ERROR", "SUCCEEDED", "STOPPED", "RUNNING"];

fn glue_event(job: &str, run: &str, state: &str, message: &str) -> String {
    json!({
        "version": "0", "id": "e-1", "detail-type": "Glue Job State Change", "source": "aws.glue",
        "account": "123456789012", "time": "2026-11-29T02:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"jobName": job, "severity": "ERROR", "state": state, "jobRunId": run, "message": message}
    })
    .to_string()
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\x00-\\x1f\\x7f]{0,40}", "(\\x1b\\[[0-9;]{0,6}m|[a-z_ ]){0,60}", "\\PC{0,200}",]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_read_without_panic_and_rejections_are_named(body in prop_oneof![any::<String>(), hostile_text()]) {
        match read_message(&body, LIMIT) {
            Intake::Poison { reason, detail } => {
                prop_assert!(REASONS.contains(&reason));
                prop_assert!(!detail.is_empty());
            }
            Intake::Failure { .. } | Intake::Terminal { .. } | Intake::Ignored { .. } => {}
        }
    }

    #[test]
    fn a_body_over_the_limit_is_oversized_poison(extra in 1_usize..4_096, filler in "[a-z{}\\[\\]\":,]{1,8}") {
        let body = filler.repeat((LIMIT + extra) / filler.len() + 1);
        let is_oversized = matches!(read_message(&body, LIMIT), Intake::Poison { reason: "oversized", .. });
        prop_assert!(is_oversized);
    }

    #[test]
    fn a_well_formed_glue_event_keeps_its_identity_whatever_it_carries(
        job in "[A-Za-z0-9_.-]{1,40}",
        run in "jr_[0-9a-f]{8,64}",
        state_index in 0..STATES.len(),
        message in hostile_text(),
    ) {
        let state = STATES[state_index];
        let body = glue_event(&job, &run, state, &message);
        match read_message(&body, LIMIT) {
            Intake::Failure { change, .. } => {
                prop_assert!(matches!(state, "FAILED" | "TIMEOUT" | "ERROR"), "{state} read as a failure");
                prop_assert_eq!(change.job_name, job);
                prop_assert_eq!(change.job_run_id, run);
            }
            Intake::Terminal { change, .. } => {
                prop_assert!(matches!(state, "SUCCEEDED" | "STOPPED"), "{state} read as terminal");
                prop_assert_eq!(change.job_name, job);
                prop_assert_eq!(change.job_run_id, run);
            }
            Intake::Ignored { .. } => prop_assert_eq!(state, "RUNNING"),
            Intake::Poison { reason, detail } => prop_assert!(false, "a valid event was poison ({reason}: {detail})"),
        }
    }

    #[test]
    fn a_truncated_event_is_never_read_as_another_run(cut in 0_usize..400, message in hostile_text()) {
        let body = glue_event("orders_daily", "jr_0123456789abcdef", "FAILED", &message);
        let mut end = cut.min(body.len().saturating_sub(1));
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        match read_message(&body[..end], LIMIT) {
            Intake::Failure { change, .. } | Intake::Terminal { change, .. } => {
                prop_assert_eq!(change.job_name, "orders_daily");
                prop_assert_eq!(change.job_run_id, "jr_0123456789abcdef");
            }
            Intake::Ignored { .. } => {}
            Intake::Poison { reason, .. } => prop_assert!(REASONS.contains(&reason)),
        }
    }
}
