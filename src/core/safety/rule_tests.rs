//! One test per safety rule: it blocks (or lowers) the unsafe proposal and
//! lets the safe one through. Plus mode resolution and permit issuance.

use std::collections::BTreeMap;

use super::fixtures::{data_quality_naming, diagnosis, log_only_diagnosis, request, request_naming, schema_diagnosis};
use super::rules::*;
use super::*;
use crate::core::diagnosis::DriftKind;
use crate::core::model::{QuarantinePlan, RiskTier};
use crate::core::params::parametrise;

fn auto() -> SafetySettings {
    SafetySettings { mode: Some(Mode::Auto), ..SafetySettings::default() }
}

fn check(proposal: Action, request: &DecideRequest, diagnosis: &Diagnosis, fleet: &FleetContext) -> Review {
    review(proposal, request, diagnosis, &auto(), fleet)
}

fn assert_replaced(review: &Review, rule: &str) {
    assert_eq!(review.report.verdict, Verdict::Replaced, "{review:?}");
    assert_eq!(review.report.rule, Some(rule), "{review:?}");
    assert!(!review.final_action.kind().mutates(), "{review:?}");
    assert!(review.permit.is_none());
}

fn assert_allowed(review: &Review, kind: ActionKind) {
    assert_eq!(review.report.verdict, Verdict::Allowed, "{review:?}");
    assert_eq!(review.final_action.kind(), kind);
    assert_eq!(review.report.rule, None);
}

fn transient() -> Diagnosis {
    diagnosis(FailureClass::TransientInfra)
}

fn rollback_to(version: &str) -> Action {
    Action::RollbackSchema { database: "sales".into(), table: "orders".into(), version_id: version.into() }
}

fn move_objects(objects: &[&str]) -> Action {
    Action::QuarantineBadRecords(QuarantinePlan::MoveObjects {
        objects: objects.iter().map(|object| object.to_string()).collect(),
        quarantine_prefix: SafetySettings::default().quarantine_prefix,
    })
}

#[test]
fn critical_jobs_escalate_instead_of_acting() {
    let mut critical = request();
    critical.job.risk_tier = Some(RiskTier::Critical);
    let blocked = check(Action::Retry {}, &critical, &transient(), &FleetContext::default());
    assert_replaced(&blocked, CRITICAL_JOB_REQUIRES_APPROVAL);
    assert_eq!(blocked.final_action.kind(), ActionKind::Escalate, "approval needs a person, never log_and_wait");
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &FleetContext::default()), ActionKind::Retry);
    let escalated = check(Action::Escalate { reason: "x".into() }, &critical, &transient(), &FleetContext::default());
    assert_allowed(&escalated, ActionKind::Escalate);
}

#[test]
fn no_action_without_a_job_and_run_to_act_on() {
    let mut anonymous = request();
    anonymous.event.detail = serde_json::json!({"state": "FAILED"});
    anonymous.job_run = None;
    assert_replaced(
        &check(Action::Retry {}, &anonymous, &transient(), &FleetContext::default()),
        RUN_IDENTITY_REQUIRED,
    );
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &FleetContext::default()), ActionKind::Retry);
}

#[test]
fn never_races_glue_builtin_retry() {
    let pending = FleetContext { glue_retry_pending: true, ..FleetContext::default() };
    let blocked = check(Action::Retry {}, &request(), &transient(), &pending);
    assert_replaced(&blocked, GLUE_RETRY_PENDING);
    assert_eq!(blocked.final_action, Action::LogAndWait {});
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &FleetContext::default()), ActionKind::Retry);
}

#[test]
fn circuit_breaker_opens_on_repeated_failures() {
    let failing =
        FleetContext { recent_remediation_failures: 4, recent_remediation_successes: 1, ..FleetContext::default() };
    let blocked = check(Action::Retry {}, &request(), &transient(), &failing);
    assert_replaced(&blocked, CIRCUIT_BREAKER);
    assert_eq!(blocked.final_action.kind(), ActionKind::Escalate);
    let recovering =
        FleetContext { recent_remediation_failures: 1, recent_remediation_successes: 4, ..FleetContext::default() };
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &recovering), ActionKind::Retry);
    let too_few = FleetContext { recent_remediation_failures: 2, ..FleetContext::default() };
    assert!(!breaker_open(&SafetySettings::default(), &too_few), "two outcomes are not enough evidence");
}

#[test]
fn class_allowlist_blocks_actions_outside_the_class() {
    let code_bug = diagnosis(FailureClass::CodeBug);
    assert_replaced(&check(Action::Retry {}, &request(), &code_bug, &FleetContext::default()), CLASS_ALLOWLIST);
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &FleetContext::default()), ActionKind::Retry);
    let log_only = SafetySettings { replacement: Replacement::LogAndWait, ..auto() };
    let replaced = review(Action::Retry {}, &request(), &code_bug, &log_only, &FleetContext::default());
    assert_eq!(replaced.final_action, Action::LogAndWait {}, "replacement = log_and_wait is honoured");
}

#[test]
fn log_line_alone_never_mutates_catalog_or_data() {
    let fleet = FleetContext::default();
    // Rollback: the catalog must corroborate, a schema error in the text is not enough.
    let text_only = diagnosis(FailureClass::SchemaDrift);
    assert_replaced(&check(rollback_to("3"), &request(), &text_only, &fleet), LOG_ONLY_EVIDENCE);
    let mut drift_uncorroborated = schema_diagnosis(DriftKind::Breaking, Some("3"));
    drift_uncorroborated.evidence_sources = vec![crate::core::diagnosis::EvidenceSource::JobRunErrorMessage];
    assert_replaced(&check(rollback_to("3"), &request(), &drift_uncorroborated, &fleet), LOG_ONLY_EVIDENCE);
    let corroborated = schema_diagnosis(DriftKind::Breaking, Some("3"));
    assert_allowed(&check(rollback_to("3"), &request(), &corroborated, &fleet), ActionKind::RollbackSchema);

    // Moving objects: named by a diagnosis that rests on more than log lines
    // and by the JobRun error message, and under the job's input arguments.
    let own = "s3://lake/raw/orders/part-0001.json";
    let mut logs_only = log_only_diagnosis(FailureClass::DataQuality);
    logs_only.bad_objects = vec![own.to_string()];
    assert_replaced(&check(move_objects(&[own]), &request_naming(&[own]), &logs_only, &fleet), LOG_ONLY_EVIDENCE);
    let unnamed = data_quality_naming(&[]);
    assert_replaced(&check(move_objects(&[own]), &request_naming(&[own]), &unnamed, &fleet), LOG_ONLY_EVIDENCE);
    // Named by the diagnosis (a log line) but not by the JobRun error message.
    assert_replaced(&check(move_objects(&[own]), &request(), &data_quality_naming(&[own]), &fleet), LOG_ONLY_EVIDENCE);
    for stray in [
        "s3://finance/ledger/2026.parquet",
        "s3://lake/raw/orders_archive/part-0001.json",
        "s3://lake/curated/orders/part-0000.parquet",
        "s3://lake/scripts/orders_daily.py",
        "s3://lakehouse/raw/orders/part-0001.json",
    ] {
        let named = request_naming(&[stray]);
        assert_replaced(
            &check(move_objects(&[stray]), &named, &data_quality_naming(&[stray]), &fleet),
            LOG_ONLY_EVIDENCE,
        );
    }
    assert_allowed(
        &check(move_objects(&[own]), &request_naming(&[own]), &data_quality_naming(&[own]), &fleet),
        ActionKind::QuarantineBadRecords,
    );
    // Rerunning with a bad-records argument changes no data by itself.
    let argument = parametrise(ActionKind::QuarantineBadRecords, &request(), &logs_only, &auto());
    assert!(matches!(argument, Action::QuarantineBadRecords(QuarantinePlan::BadRecordsArgument { .. })));
}

#[test]
fn rollback_needs_breaking_drift_and_the_known_good_version() {
    let fleet = FleetContext::default();
    let additive = schema_diagnosis(DriftKind::Additive, Some("3"));
    assert_replaced(&check(rollback_to("3"), &request(), &additive, &fleet), ROLLBACK_REQUIRES_BREAKING_DRIFT);
    let no_known_good = schema_diagnosis(DriftKind::Breaking, None);
    assert_replaced(&check(rollback_to("3"), &request(), &no_known_good, &fleet), ROLLBACK_REQUIRES_BREAKING_DRIFT);
    let breaking = schema_diagnosis(DriftKind::Breaking, Some("3"));
    assert_replaced(&check(rollback_to("1"), &request(), &breaking, &fleet), ROLLBACK_REQUIRES_BREAKING_DRIFT);
    assert_allowed(&check(rollback_to("3"), &request(), &breaking, &fleet), ActionKind::RollbackSchema);
}

#[test]
fn quarantine_only_for_data_quality() {
    let permissive = SafetySettings {
        allowlist: BTreeMap::from([(FailureClass::TransientInfra, vec![ActionKind::QuarantineBadRecords])]),
        ..auto()
    };
    let own = "s3://lake/raw/orders/part-0001.json";
    let mut transient_naming = data_quality_naming(&[own]);
    transient_naming.class = FailureClass::TransientInfra;
    let naming = request_naming(&[own]);
    let blocked = review(move_objects(&[own]), &naming, &transient_naming, &permissive, &FleetContext::default());
    assert_replaced(&blocked, QUARANTINE_ONLY_DATA_QUALITY);
    let allowed = check(move_objects(&[own]), &naming, &data_quality_naming(&[own]), &FleetContext::default());
    assert_allowed(&allowed, ActionKind::QuarantineBadRecords);
}

#[test]
fn quarantine_stays_within_count_and_fraction() {
    let objects: Vec<String> = (0..4).map(|index| format!("s3://lake/raw/orders/part-{index}.json")).collect();
    let names: Vec<&str> = objects.iter().map(String::as_str).collect();
    let data_quality = data_quality_naming(&names);
    let naming = request_naming(&names);
    assert_replaced(&check(move_objects(&names), &naming, &data_quality, &FleetContext::default()), QUARANTINE_BOUNDS);
    let two = move_objects(&names[..2]);
    let small_input = FleetContext { input_object_count: Some(10), ..FleetContext::default() };
    assert_replaced(&check(two.clone(), &naming, &data_quality, &small_input), QUARANTINE_BOUNDS);
    let large_input = FleetContext { input_object_count: Some(1_000), ..FleetContext::default() };
    assert_allowed(&check(two, &naming, &data_quality, &large_input), ActionKind::QuarantineBadRecords);
}

#[test]
fn attempts_per_incident_are_limited() {
    let mut third = request();
    third.history.attempt = 3;
    assert_replaced(&check(Action::Retry {}, &third, &transient(), &FleetContext::default()), ATTEMPT_LIMIT);
    third.history.attempt = 2;
    assert_allowed(&check(Action::Retry {}, &third, &transient(), &FleetContext::default()), ActionKind::Retry);
}

#[test]
fn job_budget_over_the_window_is_enforced() {
    let spent = FleetContext { job_actions_in_window: 6, ..FleetContext::default() };
    assert_replaced(&check(Action::Retry {}, &request(), &transient(), &spent), JOB_ACTION_BUDGET);
    let left = FleetContext { job_actions_in_window: 5, ..FleetContext::default() };
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &left), ActionKind::Retry);
}

#[test]
fn fleet_rate_limit_is_enforced() {
    let busy = FleetContext { fleet_actions_in_window: 60, ..FleetContext::default() };
    assert_replaced(&check(Action::Retry {}, &request(), &transient(), &busy), FLEET_RATE_LIMIT);
    let calm = FleetContext { fleet_actions_in_window: 59, ..FleetContext::default() };
    assert_allowed(&check(Action::Retry {}, &request(), &transient(), &calm), ActionKind::Retry);
}

#[test]
fn capacity_is_clamped_to_the_ceiling_or_refused() {
    let resource = diagnosis(FailureClass::ResourceExhaustion);
    let fleet = FleetContext::default();
    let greedy = Action::RetryWithMoreCapacity { number_of_workers: 80, worker_type: None };
    let lowered = check(greedy.clone(), &request(), &resource, &fleet);
    assert_eq!(lowered.report.verdict, Verdict::Replaced, "the contract knows allowed and replaced only");
    assert_eq!(lowered.report.final_kind, ActionKind::RetryWithMoreCapacity);
    assert_eq!(lowered.report.rule, Some(CAPACITY_CEILING));
    assert_eq!(lowered.final_action, Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: None });
    assert_eq!(
        lowered.permit.as_ref().map(Permit::action),
        Some(&lowered.final_action),
        "the permit carries the lowered action"
    );

    let refusing = SafetySettings { over_ceiling: OverCeiling::Replace, ..auto() };
    assert_replaced(&review(greedy, &request(), &resource, &refusing, &fleet), CAPACITY_CEILING);
    let big_type = Action::RetryWithMoreCapacity { number_of_workers: 10, worker_type: Some("G.8X".into()) };
    assert_replaced(&check(big_type, &request(), &resource, &fleet), CAPACITY_CEILING);
    let modest = Action::RetryWithMoreCapacity { number_of_workers: 20, worker_type: None };
    assert_allowed(&check(modest, &request(), &resource, &fleet), ActionKind::RetryWithMoreCapacity);
    let upgrade = Action::RetryWithMoreCapacity { number_of_workers: 10, worker_type: Some("G.2X".into()) };
    assert_allowed(&check(upgrade, &request(), &resource, &fleet), ActionKind::RetryWithMoreCapacity);
}

#[test]
fn a_run_above_the_largest_allowed_worker_type_or_of_an_unknown_type_has_no_room_to_grow() {
    let resource = diagnosis(FailureClass::ResourceExhaustion);
    let fleet = FleetContext::default();
    for (worker_type, workers) in
        [(Some("G.8X"), 10), (Some("G.4X"), 2), (Some("Z.2X"), 10), (Some("R.2X"), 10), (None, 10)]
    {
        let mut big = request();
        let run = big.job_run.as_mut().expect("fixture has a job run");
        run.worker_type = worker_type.map(str::to_string);
        run.number_of_workers = Some(workers);
        // Whatever the policy picked, the parameters ask for no more, and the rule refuses the same.
        let proposed = parametrise(ActionKind::RetryWithMoreCapacity, &big, &resource, &auto());
        assert_eq!(proposed, Action::RetryWithMoreCapacity { number_of_workers: workers, worker_type: None });
        assert_replaced(&check(proposed, &big, &resource, &fleet), CAPACITY_CEILING);
        let doubled = Action::RetryWithMoreCapacity { number_of_workers: workers * 2, worker_type: None };
        let refused = check(doubled, &big, &resource, &fleet);
        assert_replaced(&refused, CAPACITY_CEILING);
        assert!(
            refused
                .report
                .reason
                .as_deref()
                .is_some_and(|reason| reason.contains("no room to grow") || reason.contains("cannot be bounded")),
            "{refused:?}"
        );
    }
    // Within the maximum type, the DPU stays under the ceiling: 40 x G.2X = 80 DPU for a job capped at 40 workers.
    let at_max = Action::RetryWithMoreCapacity { number_of_workers: 40, worker_type: Some("G.2X".into()) };
    assert_allowed(&check(at_max, &request(), &resource, &fleet), ActionKind::RetryWithMoreCapacity);
    assert_eq!(auto().dpu_ceiling(Some(40)), 80.0);
    assert_eq!(auto().dpu_ceiling(None), 200.0);
}

#[test]
fn autonomy_mode_is_shadow_unless_the_job_opts_in_and_a_class_can_only_hold_it_back() {
    let job = Some("orders_daily");
    let class = FailureClass::TransientInfra;
    let nothing_said = SafetySettings { mode: None, ..SafetySettings::default() };
    assert_eq!(resolve_mode(&nothing_said, job, class), (Mode::Shadow, "default: shadow".into()));
    assert_eq!(resolve_mode(&SafetySettings::default(), job, class), (Mode::Shadow, "mode = shadow".into()));
    // A class set to auto grants nothing by itself: the diagnosed class comes
    // from the job's own text. The audit says why it stayed shadow.
    let global_shadow = SafetySettings { mode: Some(Mode::Shadow), ..SafetySettings::default() };
    let class_auto = SafetySettings { class_modes: BTreeMap::from([(class, Mode::Auto)]), ..global_shadow.clone() };
    assert_eq!(
        resolve_mode(&class_auto, job, class),
        (
            Mode::Shadow,
            "mode = shadow (class_modes.transient_infra = auto grants auto only to a job that opted in)".into()
        )
    );
    let no_global = SafetySettings { mode: None, ..class_auto.clone() };
    assert_eq!(resolve_mode(&no_global, job, class).0, Mode::Shadow, "nor with no global mode");
    // A job opts in through job_modes or the global mode.
    let job_auto = SafetySettings { job_modes: BTreeMap::from([("orders_daily".into(), Mode::Auto)]), ..global_shadow };
    assert_eq!(resolve_mode(&job_auto, job, class), (Mode::Auto, "job_modes.orders_daily = auto".into()));
    assert_eq!(resolve_mode(&job_auto, Some("other"), class).0, Mode::Shadow, "other jobs keep the global mode");
    assert_eq!(resolve_mode(&auto(), Some("other"), class), (Mode::Auto, "mode = auto".into()));
    let both_auto = SafetySettings { class_modes: class_auto.class_modes.clone(), ..job_auto.clone() };
    assert_eq!(resolve_mode(&both_auto, job, class), (Mode::Auto, "job_modes.orders_daily = auto".into()));
    // A class switched off holds back a job switched on, and a global auto.
    let class_shadow = SafetySettings { class_modes: BTreeMap::from([(class, Mode::Shadow)]), ..job_auto.clone() };
    assert_eq!(
        resolve_mode(&class_shadow, job, class),
        (Mode::Shadow, "class_modes.transient_infra = shadow (holds back job_modes.orders_daily = auto)".into())
    );
    assert_eq!(resolve_mode(&class_shadow, job, FailureClass::SchemaDrift).0, Mode::Auto, "other classes act");
    let global_auto_class_shadow = SafetySettings { class_modes: class_shadow.class_modes.clone(), ..auto() };
    assert_eq!(resolve_mode(&global_auto_class_shadow, Some("other"), class).0, Mode::Shadow);
    // A job switched off wins over a global auto.
    let job_shadow = SafetySettings { job_modes: BTreeMap::from([("orders_daily".into(), Mode::Shadow)]), ..auto() };
    assert_eq!(resolve_mode(&job_shadow, job, class), (Mode::Shadow, "job_modes.orders_daily = shadow".into()));
    // The kill switch overrides every auto.
    let killed = SafetySettings { force_shadow: true, ..both_auto };
    assert_eq!(resolve_mode(&killed, job, class), (Mode::Shadow, "force_shadow = true".into()));
    let killed_job = SafetySettings { force_shadow: true, ..job_auto };
    assert_eq!(resolve_mode(&killed_job, job, class).0, Mode::Shadow);
}

#[test]
fn permit_only_in_auto_mode_for_mutating_actions() {
    let fleet = FleetContext::default();
    let shadow = review(Action::Retry {}, &request(), &transient(), &SafetySettings::default(), &fleet);
    assert_eq!(shadow.mode, Mode::Shadow);
    assert_eq!(shadow.final_action, Action::Retry {}, "shadow still says what would be done");
    assert!(shadow.permit.is_none());
    let acting = check(Action::Retry {}, &request(), &transient(), &fleet);
    let permit = acting.permit.expect("auto mode issues a permit for a retry");
    assert_eq!((permit.job_name(), permit.run_id(), permit.action()), ("orders_daily", "jr_1", &Action::Retry {}));
    let escalation = check(Action::Escalate { reason: "look".into() }, &request(), &transient(), &fleet);
    assert!(escalation.permit.is_none(), "escalating changes nothing and needs no permit");
}

#[test]
fn allowed_actions_lists_what_safety_lets_through() {
    let fleet = FleetContext::default();
    let settings = SafetySettings::default();
    let transient_allowed = allowed_actions(&request(), &transient(), &settings, &fleet);
    use ActionKind::*;
    assert_eq!(transient_allowed, vec![Escalate, LogAndWait, Retry, WaitAndRetry]);
    let breaking = schema_diagnosis(DriftKind::Breaking, Some("3"));
    assert_eq!(allowed_actions(&request(), &breaking, &settings, &fleet), vec![Escalate, LogAndWait, RollbackSchema]);
    let spent = FleetContext { job_actions_in_window: 100, ..FleetContext::default() };
    assert_eq!(allowed_actions(&request(), &transient(), &settings, &spent), vec![Escalate, LogAndWait]);
}

#[test]
fn waiting_for_the_source_needs_an_input_to_watch_and_stays_within_the_bound() {
    let source = diagnosis(FailureClass::SourceUnavailable);
    let fleet = FleetContext::default();
    let bound = SafetySettings::default().wait_for_source_max_s;
    assert_allowed(
        &check(Action::WaitForSource { max_wait_s: 3_600 }, &request(), &source, &fleet),
        ActionKind::WaitForSource,
    );
    let lowered = check(Action::WaitForSource { max_wait_s: bound + 1 }, &request(), &source, &fleet);
    assert_eq!(lowered.final_action, Action::WaitForSource { max_wait_s: bound });
    assert_eq!(lowered.report.rule, Some(SOURCE_WAIT_BOUNDS));
    assert_replaced(&check(Action::WaitForSource { max_wait_s: 0 }, &request(), &source, &fleet), SOURCE_WAIT_BOUNDS);
    let mut blind = request();
    blind.job_run.as_mut().expect("fixture has a job run").arguments.clear();
    assert_replaced(&check(Action::WaitForSource { max_wait_s: 3_600 }, &blind, &source, &fleet), SOURCE_WAIT_BOUNDS);
    blind.job.sources = Some(vec!["s3://lake/landing/orders/".to_string()]);
    assert_allowed(
        &check(Action::WaitForSource { max_wait_s: 3_600 }, &blind, &source, &fleet),
        ActionKind::WaitForSource,
    );
    // Not on another class's allowlist.
    assert_replaced(
        &check(Action::WaitForSource { max_wait_s: 3_600 }, &request(), &transient(), &fleet),
        CLASS_ALLOWLIST,
    );
}

#[test]
fn approve_sits_between_shadow_and_auto_and_a_class_can_only_lower_it() {
    let job = Some("orders_daily");
    let class = FailureClass::TransientInfra;
    let approve = SafetySettings { mode: Some(Mode::Approve), ..SafetySettings::default() };
    assert_eq!(resolve_mode(&approve, job, class), (Mode::Approve, "mode = approve".into()));
    let class_approve = SafetySettings { class_modes: BTreeMap::from([(class, Mode::Approve)]), ..auto() };
    assert_eq!(
        resolve_mode(&class_approve, job, class),
        (Mode::Approve, "class_modes.transient_infra = approve (holds back mode = auto)".into())
    );
    let class_auto = SafetySettings { class_modes: BTreeMap::from([(class, Mode::Auto)]), ..approve.clone() };
    assert_eq!(resolve_mode(&class_auto, job, class).0, Mode::Approve, "a class grants nothing above its job");
    let class_shadow = SafetySettings { class_modes: BTreeMap::from([(class, Mode::Shadow)]), ..approve.clone() };
    assert_eq!(resolve_mode(&class_shadow, job, class).0, Mode::Shadow);
    let killed = SafetySettings { force_shadow: true, ..approve };
    assert_eq!(resolve_mode(&killed, job, class).0, Mode::Shadow);
}

#[test]
fn approve_mode_issues_no_permit_until_an_approval_and_then_only_for_the_exact_action() {
    let approve = SafetySettings { mode: Some(Mode::Approve), ..SafetySettings::default() };
    let transient = diagnosis(FailureClass::TransientInfra);
    let fleet = FleetContext::default();
    let review = review(Action::Retry {}, &request(), &transient, &approve, &fleet);
    assert_eq!((review.mode, review.permit.is_none()), (Mode::Approve, true));
    assert_eq!(review.final_action, Action::Retry {});
    let permit = permit_approved(&Action::Retry {}, &request(), &transient, &approve, &fleet).expect("approved retry");
    assert_eq!(permit.action(), &Action::Retry {});
    // The breaker, the budget and the kill switch still refuse after an approval.
    let failing = FleetContext { recent_remediation_failures: 10, ..FleetContext::default() };
    let refused = permit_approved(&Action::Retry {}, &request(), &transient, &approve, &failing).unwrap_err();
    assert_eq!(refused.rule, CIRCUIT_BREAKER);
    let spent = FleetContext { job_actions_in_window: approve.job_action_budget, ..FleetContext::default() };
    assert_eq!(
        permit_approved(&Action::Retry {}, &request(), &transient, &approve, &spent).unwrap_err().rule,
        JOB_ACTION_BUDGET
    );
    let killed = SafetySettings { force_shadow: true, ..approve.clone() };
    assert_eq!(
        permit_approved(&Action::Retry {}, &request(), &transient, &killed, &fleet).unwrap_err().rule,
        "force_shadow"
    );
    // A lowered action is not the approved one: the person approved 400 workers, not the ceiling.
    let resource = diagnosis(FailureClass::ResourceExhaustion);
    let huge = Action::RetryWithMoreCapacity { number_of_workers: 400, worker_type: None };
    assert_eq!(permit_approved(&huge, &request(), &resource, &approve, &fleet).unwrap_err().rule, CAPACITY_CEILING);
}

#[test]
fn a_critical_job_needs_approval_and_approve_mode_is_that_approval() {
    let mut critical = request();
    critical.job.risk_tier = Some(RiskTier::Critical);
    let transient = diagnosis(FailureClass::TransientInfra);
    let fleet = FleetContext::default();
    let in_auto = review(Action::Retry {}, &critical, &transient, &auto(), &fleet);
    assert_replaced(&in_auto, CRITICAL_JOB_REQUIRES_APPROVAL);
    let approve = SafetySettings { mode: Some(Mode::Approve), ..SafetySettings::default() };
    let in_approve = review(Action::Retry {}, &critical, &transient, &approve, &fleet);
    assert_eq!(in_approve.final_action, Action::Retry {});
    assert!(permit_approved(&Action::Retry {}, &critical, &transient, &approve, &fleet).is_ok());
}
