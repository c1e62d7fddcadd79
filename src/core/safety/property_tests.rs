//! Property test: whatever the proposal and the evidence, no final action
//! breaks a safety invariant.

use proptest::prelude::*;

use super::fixtures::{diagnosis, drift, request_naming};
use super::*;
use crate::core::diagnosis::DriftKind;
use crate::core::diagnosis::EvidenceSource;
use crate::core::model::{QuarantinePlan, RiskTier};

fn any_action() -> impl Strategy<Value = Action> {
    let objects = prop::collection::vec(
        prop_oneof![
            (0_u32..50).prop_map(|index| format!("s3://lake/raw/orders/part-{index}.json")),
            Just("s3://finance/ledger/2026.parquet".to_string()),
            Just("s3://lake/curated/orders/part-0.json".to_string()),
            Just("s3://lakehouse/raw/orders/part-0.json".to_string()),
        ],
        0..16,
    );
    prop_oneof![
        Just(Action::Escalate { reason: "proposed".to_string() }),
        Just(Action::LogAndWait {}),
        Just(Action::Retry {}),
        (0_u64..100_000).prop_map(|delay_s| Action::WaitAndRetry { delay_s }),
        (0_u32..1_000, prop::option::of(prop::sample::select(vec!["G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "Z.2X"])))
            .prop_map(|(number_of_workers, worker_type)| Action::RetryWithMoreCapacity {
                number_of_workers,
                worker_type: worker_type.map(str::to_string),
            }),
        (prop::sample::select(vec!["1", "2", "3", "4", ""]), prop::bool::ANY).prop_map(|(version, right_table)| {
            Action::RollbackSchema {
                database: "sales".to_string(),
                table: if right_table { "orders" } else { "customers" }.to_string(),
                version_id: version.to_string(),
            }
        }),
        (objects, prop::bool::ANY).prop_map(|(objects, configured_prefix)| {
            Action::QuarantineBadRecords(QuarantinePlan::MoveObjects {
                objects,
                quarantine_prefix: if configured_prefix { "etl-medic-quarantine/" } else { "elsewhere/" }.to_string(),
            })
        }),
    ]
}

#[derive(Debug, Clone)]
struct Evidence {
    class: FailureClass,
    drift: Option<(DriftKind, Option<&'static str>)>,
    risk: RiskTier,
    attempt: u32,
    max_workers: Option<u32>,
    fleet: FleetContext,
    mode: Option<Mode>,
    job_mode: Option<Mode>,
    class_mode: Option<Mode>,
    force_shadow: bool,
    sources: Vec<EvidenceSource>,
    bad_objects: Vec<String>,
    /// The failed run's worker type and count, as GetJobRun said.
    run_capacity: (Option<&'static str>, Option<u32>),
}

fn any_sources() -> impl Strategy<Value = Vec<EvidenceSource>> {
    prop::sample::subsequence(
        vec![
            EvidenceSource::Catalog,
            EvidenceSource::JobRunErrorMessage,
            EvidenceSource::ErrorLog,
            EvidenceSource::OutputLog,
            EvidenceSource::RunState,
        ],
        0..=5,
    )
}

fn any_bad_objects() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            (0_u32..50).prop_map(|index| format!("s3://lake/raw/orders/part-{index}.json")),
            Just("s3://finance/ledger/2026.parquet".to_string()),
            Just("s3://lake/curated/orders/part-0.json".to_string()),
            Just("s3://lakehouse/raw/orders/part-0.json".to_string()),
        ],
        0..16,
    )
}

/// The objects the JobRun error message of every generated incident names:
/// half of the input's parts, and objects outside the input.
fn named_in_error_message() -> Vec<String> {
    let mut named: Vec<String> = (0_u32..25).map(|index| format!("s3://lake/raw/orders/part-{index}.json")).collect();
    named.extend(
        [
            "s3://finance/ledger/2026.parquet",
            "s3://lake/curated/orders/part-0.json",
            "s3://lakehouse/raw/orders/part-0.json",
        ]
        .map(str::to_string),
    );
    named
}

fn any_mode() -> impl Strategy<Value = Option<Mode>> {
    prop::option::of(prop_oneof![Just(Mode::Shadow), Just(Mode::Auto)])
}

fn any_evidence() -> impl Strategy<Value = Evidence> {
    let drift = prop::option::of((
        prop_oneof![Just(DriftKind::None), Just(DriftKind::Additive), Just(DriftKind::Breaking)],
        prop::option::of(prop::sample::select(vec!["3", "4"])),
    ));
    let fleet = (0_u32..10, 0_u32..80, 0_u32..8, 0_u32..8, prop::bool::weighted(0.2), prop::option::of(0_u64..200))
        .prop_map(|(job, fleet, successes, failures, glue_retry_pending, input_object_count)| FleetContext {
            job_actions_in_window: job,
            fleet_actions_in_window: fleet,
            recent_remediation_successes: successes,
            recent_remediation_failures: failures,
            glue_retry_pending,
            input_object_count,
        });
    (
        prop::sample::select(FailureClass::ALL.to_vec()),
        drift,
        prop::sample::select(RiskTier::ALL.to_vec()),
        0_u32..6,
        prop::option::of(2_u32..600),
        fleet,
        (any_mode(), any_mode(), any_mode(), prop::bool::weighted(0.1)),
        (any_sources(), any_bad_objects()),
        (
            prop::option::of(prop::sample::select(vec!["G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "Z.2X", "Standard"])),
            prop::option::of(1_u32..600),
        ),
    )
        .prop_map(
            |(
                class,
                drift,
                risk,
                attempt,
                max_workers,
                fleet,
                (mode, job_mode, class_mode, force_shadow),
                (sources, bad_objects),
                run_capacity,
            )| Evidence {
                run_capacity,
                sources,
                bad_objects,
                class,
                drift,
                risk,
                attempt,
                max_workers,
                fleet,
                mode,
                job_mode,
                class_mode,
                force_shadow,
            },
        )
}

/// Safety settings anywhere within their hard limits.
fn any_limits() -> impl Strategy<Value = SafetySettings> {
    (
        (1_u32..=10, 1_u32..=50, 1_u32..=100),
        (1_u32..=10, 0.1_f64..0.9),
        (
            2_u32..=500,
            prop::sample::select(vec!["G.1X", "G.2X", "G.4X"]),
            prop_oneof![Just(OverCeiling::Clamp), Just(OverCeiling::Replace)],
        ),
        (1_u32..=20, 0.01_f64..0.2),
        prop_oneof![Just(Replacement::Escalate), Just(Replacement::LogAndWait)],
    )
        .prop_map(
            |(
                (attempts, job_budget, fleet_limit),
                (breaker_min, breaker_ratio),
                (ceiling, worker_type, over_ceiling),
                (objects, fraction),
                replacement,
            )| {
                SafetySettings {
                    max_attempts_per_incident: attempts,
                    job_action_budget: job_budget,
                    fleet_action_limit: fleet_limit,
                    breaker_min_outcomes: breaker_min,
                    breaker_failure_ratio: breaker_ratio,
                    max_workers_ceiling: ceiling,
                    max_worker_type: worker_type.to_string(),
                    over_ceiling,
                    quarantine_max_objects: objects,
                    quarantine_max_fraction: fraction,
                    replacement,
                    ..SafetySettings::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_final_action_breaks_an_invariant(proposal in any_action(), evidence in any_evidence(), limits in any_limits()) {
        let named = named_in_error_message();
        let mut incident = request_naming(&named.iter().map(String::as_str).collect::<Vec<_>>());
        incident.job.risk_tier = Some(evidence.risk);
        incident.job.max_workers = evidence.max_workers;
        incident.history.attempt = evidence.attempt;
        if let Some(run) = incident.job_run.as_mut() {
            run.worker_type = evidence.run_capacity.0.map(str::to_string);
            run.number_of_workers = evidence.run_capacity.1;
        }
        let mut diagnosed = diagnosis(evidence.class);
        diagnosed.drift = evidence.drift.map(|(kind, known_good)| drift(kind, known_good));
        diagnosed.evidence_sources = evidence.sources.clone();
        diagnosed.bad_objects = evidence.bad_objects.clone();
        let log_lines_alone = diagnosed.rests_on_log_lines_alone() || diagnosed.evidence_sources.is_empty();
        let mut settings = SafetySettings { mode: evidence.mode, force_shadow: evidence.force_shadow, ..limits };
        prop_assert_eq!(settings.validate(), Ok(()));
        if let Some(job_mode) = evidence.job_mode {
            settings.job_modes.insert("orders_daily".to_string(), job_mode);
        }
        if let Some(class_mode) = evidence.class_mode {
            settings.class_modes.insert(evidence.class, class_mode);
        }
        let proposed_kind = proposal.kind();
        let outcome = review(proposal, &incident, &diagnosed, &settings, &evidence.fleet);
        let final_action = &outcome.final_action;
        let mutates = final_action.kind().mutates();

        // The verdict tells the truth about what happened.
        prop_assert_eq!(outcome.report.final_kind, final_action.kind());
        prop_assert_eq!(outcome.report.verdict == Verdict::Allowed, outcome.report.rule.is_none());
        if outcome.report.verdict != Verdict::Replaced {
            prop_assert_eq!(final_action.kind(), proposed_kind);
        }
        // Permits: only in auto mode, only for mutations, always for the final action.
        prop_assert_eq!(outcome.permit.is_some(), outcome.mode == Mode::Auto && mutates);
        if let Some(permit) = &outcome.permit {
            prop_assert_eq!(permit.action(), final_action);
        }
        // The job opts in (its own mode, else the global one); its class can
        // only hold it back, never switch it on.
        let job_level = evidence.job_mode.or(evidence.mode);
        let acts = !evidence.force_shadow && job_level == Some(Mode::Auto) && evidence.class_mode != Some(Mode::Shadow);
        prop_assert_eq!(outcome.mode == Mode::Auto, acts);
        if mutates {
            prop_assert!(evidence.risk != RiskTier::Critical, "critical jobs never act");
            prop_assert!(evidence.attempt < settings.max_attempts_per_incident, "attempts over the limit never act");
            prop_assert!(!evidence.fleet.glue_retry_pending, "never races Glue's retry");
            prop_assert!(!breaker_open(&settings, &evidence.fleet), "escalate-only while the breaker is open");
            prop_assert!(evidence.fleet.job_actions_in_window < settings.job_action_budget);
            prop_assert!(evidence.fleet.fleet_actions_in_window < settings.fleet_action_limit);
            prop_assert!(settings.allows(evidence.class, final_action.kind()));
        }
        match final_action {
            Action::RollbackSchema { version_id, .. } => {
                prop_assert!(diagnosed.catalog_corroborated() && !log_lines_alone, "rollback only on catalog evidence");
                let drift = diagnosed.drift.as_ref().expect("rollback only with catalog drift");
                prop_assert_eq!(drift.kind, DriftKind::Breaking);
                prop_assert_eq!(Some(version_id), drift.known_good_version.as_ref());
                prop_assert_ne!(version_id, &drift.to_version);
            }
            Action::QuarantineBadRecords(plan) => {
                prop_assert_eq!(evidence.class, FailureClass::DataQuality);
                if let QuarantinePlan::MoveObjects { objects, .. } = plan {
                    prop_assert!(!objects.is_empty() && objects.len() <= settings.quarantine_max_objects as usize);
                    prop_assert!(!log_lines_alone, "a log line alone never moves data");
                    prop_assert!(objects.iter().all(|object| object.starts_with("s3://lake/raw/orders/")), "objects outside the job's input never move");
                    prop_assert!(objects.iter().all(|object| named.contains(object)), "only objects the JobRun error message names move");
                    prop_assert!(objects.iter().all(|object| diagnosed.bad_objects.contains(object)), "only objects the evidence names move");
                    if let Some(total) = evidence.fleet.input_object_count {
                        prop_assert!(objects.len() as f64 <= settings.quarantine_max_fraction * total as f64);
                    }
                }
            }
            Action::RetryWithMoreCapacity { number_of_workers, worker_type } => {
                prop_assert!(*number_of_workers <= settings.workers_ceiling(evidence.max_workers));
                // The rerun runs on the type named, else on the run's own: both known and within the maximum.
                let rerun_type = worker_type.as_deref().or(evidence.run_capacity.0);
                let rank = rerun_type.and_then(crate::core::params::worker_type_rank);
                prop_assert!(rank.is_some() && rank <= crate::core::params::worker_type_rank(&settings.max_worker_type));
                let current_rank = evidence.run_capacity.0.and_then(crate::core::params::worker_type_rank);
                prop_assert!(current_rank.is_some() && current_rank <= crate::core::params::worker_type_rank(&settings.max_worker_type), "a run above the maximum type has no room to grow");
                let dpu = f64::from(*number_of_workers) * crate::core::safety_settings::worker_type_dpu(rerun_type.unwrap_or_default()).unwrap_or(f64::INFINITY);
                prop_assert!(dpu <= settings.dpu_ceiling(evidence.max_workers), "{dpu} DPU above the ceiling");
            }
            _ => {}
        }
    }
}
