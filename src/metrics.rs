//! Every metric etl-medic exports, declared in one place on one injected
//! `prometheus::Registry`. The names are a contract with the deploy assets
//! (dashboards, alert rules): do not rename them. Labels come only from
//! closed sets (failure class, action, outcome, rule, AWS operation, queue
//! and state), never from ids.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::core::model::{ActionKind, FailureClass};
use crate::ports::Operation;

/// MTTR buckets: from seconds (an accelerated demo) to days (the manual baseline).
const MTTR_BUCKETS_SECS: [f64; 14] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1_200.0, 1_800.0, 3_600.0, 7_200.0, 21_600.0, 86_400.0];
const DECISION_BUCKETS_SECS: [f64; 10] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25];
const AWS_BUCKETS_SECS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 25.0];

/// Outcome label values of `etl_medic_incidents_total`.
pub mod incident_outcome {
    pub const RESOLVED: &str = "resolved";
    pub const ESCALATED: &str = "escalated";
    pub const FAILED: &str = "failed";
    /// Closed by log_and_wait: left to the job's next run or Glue's own retry.
    pub const DEFERRED: &str = "deferred";
    pub const SHADOWED: &str = "shadowed";
}

/// Reason label values of `etl_medic_poison_messages_total`.
pub mod poison_reason {
    pub const NOT_JSON: &str = "not_json";
    pub const NOT_ENVELOPE: &str = "not_envelope";
    pub const INVALID_EVENT: &str = "invalid_event";
    pub const OVERSIZED: &str = "oversized";
}

#[derive(Clone)]
pub struct Metrics {
    pub incidents_total: IntCounterVec,
    pub remediations_total: IntCounterVec,
    pub mttr_seconds: HistogramVec,
    pub decision_duration_seconds: Histogram,
    /// Per message: wall time minus the AWS calls and waits it awaited.
    pub own_work_seconds: Histogram,
    pub aws_request_duration_seconds: HistogramVec,
    pub aws_errors_total: IntCounterVec,
    pub safety_replacements_total: IntCounterVec,
    pub escalations_total: IntCounterVec,
    /// How `wait_for_source` watches ended: landed, deadline, unwatchable.
    pub source_waits_total: IntCounterVec,
    pub in_flight_incidents: IntGauge,
    pub worker_slots: IntGauge,
    pub messages_received_total: IntCounter,
    pub messages_deleted_total: IntCounter,
    pub poison_messages_total: IntCounterVec,
    pub events_ignored_total: IntCounter,
    pub receive_empty_total: IntCounter,
    pub queue_messages: IntGaugeVec,
    pub circuit_breaker_open: IntGauge,
    pub policy_info: IntGaugeVec,
    pub policy_load_errors_total: IntCounter,
    pub audit_write_failures_total: IntCounter,
    pub build_info: IntGaugeVec,
    pub approvals_total: IntCounterVec,
    pub approval_refusals_total: IntCounterVec,
    pub decisions_total: IntCounterVec,
}

/// Event label values of `etl_medic_approvals_total`.
pub mod approval_event {
    pub const REQUESTED: &str = "requested";
    pub const APPROVED: &str = "approved";
    pub const REJECTED: &str = "rejected";
    pub const EXPIRED: &str = "expired";
    /// Approved, then refused by safety (budget, breaker, kill switch).
    pub const REFUSED_BY_SAFETY: &str = "refused_by_safety";
    pub const ALL: [&str; 5] = [REQUESTED, APPROVED, REJECTED, EXPIRED, REFUSED_BY_SAFETY];
}

/// Reason label values of `etl_medic_approval_refusals_total`: a request to
/// approve that was refused before anything could run.
pub mod approval_refusal {
    pub const MISSING_HEADERS: &str = "missing_headers";
    pub const STALE_TIMESTAMP: &str = "stale_timestamp";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const MALFORMED: &str = "malformed";
    pub const UNKNOWN_USER: &str = "unknown_user";
    pub const UNKNOWN_INCIDENT: &str = "unknown_incident";
    /// Decided already (a double click, a replayed request).
    pub const ALREADY_DECIDED: &str = "already_decided";
    pub const EXPIRED: &str = "expired";
    /// The click names an older proposal than the one pending.
    pub const STALE_PROPOSAL: &str = "stale_proposal";
    pub const ALL: [&str; 9] = [
        MISSING_HEADERS,
        STALE_TIMESTAMP,
        BAD_SIGNATURE,
        MALFORMED,
        UNKNOWN_USER,
        UNKNOWN_INCIDENT,
        ALREADY_DECIDED,
        EXPIRED,
        STALE_PROPOSAL,
    ];
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let metric = IntCounter::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let metric = IntGauge::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Buckets of `etl_medic_own_work_seconds`: around the 5 ms budget.
const OWN_WORK_BUCKETS_SECS: [f64; 12] = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0];

tokio::task_local! {
    /// Seconds the current message's handler spent awaiting AWS or a backoff.
    static AWAITED_SECS: std::cell::Cell<f64>;
}

/// Count `secs` as awaited by the message being handled (if any).
pub fn note_awaited(secs: f64) {
    let _ = AWAITED_SECS.try_with(|awaited| awaited.set(awaited.get() + secs));
}

/// Run `work` (one message's handling) and record its own work: wall time
/// minus what it awaited from AWS and backoffs. Time spent runnable but not
/// yet scheduled counts as own work, so the figure errs on the high side.
pub async fn measure_own_work<T>(histogram: &Histogram, work: impl std::future::Future<Output = T>) -> T {
    AWAITED_SECS
        .scope(std::cell::Cell::new(0.0), async {
            let started = std::time::Instant::now();
            let output = work.await;
            let awaited = AWAITED_SECS.with(std::cell::Cell::get);
            histogram.observe((started.elapsed().as_secs_f64() - awaited).max(0.0));
            output
        })
        .await
}

impl Metrics {
    /// Declare every metric on `registry`. Fails only if a name is registered twice.
    pub fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let decision_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "etl_medic_decision_duration_seconds",
                "Time spent in the pure decision core per incident.",
            )
            .buckets(DECISION_BUCKETS_SECS.to_vec()),
        )?;
        registry.register(Box::new(decision_duration_seconds.clone()))?;
        let own_work_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "etl_medic_own_work_seconds",
                "Time etl-medic itself spent on one message: handling time minus its AWS calls and backoff waits.",
            )
            .buckets(OWN_WORK_BUCKETS_SECS.to_vec()),
        )?;
        registry.register(Box::new(own_work_seconds.clone()))?;
        let metrics = Metrics {
            own_work_seconds,
            incidents_total: counter_vec(
                registry,
                "etl_medic_incidents_total",
                "Incidents closed, by failure class, final action and outcome.",
                &["class", "action", "outcome"],
            )?,
            remediations_total: counter_vec(
                registry,
                "etl_medic_remediations_total",
                "Remediation runs whose result is known, by action and outcome (success|failure).",
                &["action", "outcome"],
            )?,
            mttr_seconds: histogram_vec(
                registry,
                "etl_medic_mttr_seconds",
                "Time from the failure event to the incident being closed.",
                &["class"],
                &MTTR_BUCKETS_SECS,
            )?,
            decision_duration_seconds,
            aws_request_duration_seconds: histogram_vec(
                registry,
                "etl_medic_aws_request_duration_seconds",
                "Latency of calls to AWS, by operation.",
                &["operation"],
                &AWS_BUCKETS_SECS,
            )?,
            aws_errors_total: counter_vec(
                registry,
                "etl_medic_aws_errors_total",
                "Failed calls to AWS, by operation.",
                &["operation"],
            )?,
            safety_replacements_total: counter_vec(
                registry,
                "etl_medic_safety_replacements_total",
                "Proposals the safety layer replaced, by rule.",
                &["rule"],
            )?,
            escalations_total: counter_vec(
                registry,
                "etl_medic_escalations_total",
                "Escalations sent to a person, by failure class.",
                &["class"],
            )?,
            source_waits_total: counter_vec(
                registry,
                "etl_medic_source_waits_total",
                "wait_for_source watches that ended, by outcome (landed, deadline, unwatchable).",
                &["outcome"],
            )?,
            in_flight_incidents: gauge(registry, "etl_medic_in_flight_incidents", "Messages being worked on now.")?,
            worker_slots: gauge(registry, "etl_medic_worker_slots", "Configured concurrent handlers in this process.")?,
            messages_received_total: counter(
                registry,
                "etl_medic_messages_received_total",
                "Messages received from the queue.",
            )?,
            messages_deleted_total: counter(
                registry,
                "etl_medic_messages_deleted_total",
                "Messages deleted after their work was recorded.",
            )?,
            poison_messages_total: counter_vec(
                registry,
                "etl_medic_poison_messages_total",
                "Messages that can never be worked on, left for the DLQ, by reason.",
                &["reason"],
            )?,
            events_ignored_total: counter(
                registry,
                "etl_medic_events_ignored_total",
                "Well-formed events that needed nothing (acknowledged).",
            )?,
            receive_empty_total: counter(
                registry,
                "etl_medic_receive_empty_total",
                "Long polls that returned no message.",
            )?,
            queue_messages: gauge_vec(
                registry,
                "etl_medic_queue_messages",
                "Approximate queue depth, by queue (main|dlq) and state.",
                &["queue", "state"],
            )?,
            circuit_breaker_open: gauge(
                registry,
                "etl_medic_circuit_breaker_open",
                "1 while recent remediations keep failing and only escalation is allowed.",
            )?,
            policy_info: gauge_vec(
                registry,
                "etl_medic_policy_info",
                "The policy version in use (value 1).",
                &["version"],
            )?,
            policy_load_errors_total: counter(
                registry,
                "etl_medic_policy_load_errors_total",
                "Reads of [policy] path that found no valid policy; the running policy was kept.",
            )?,
            audit_write_failures_total: counter(
                registry,
                "etl_medic_audit_write_failures_total",
                "Audit records that could not be written after retries.",
            )?,
            build_info: gauge_vec(registry, "etl_medic_build_info", "The etl-medic version (value 1).", &["version"])?,
            approvals_total: counter_vec(
                registry,
                "etl_medic_approvals_total",
                "approve mode: proposals requested, approved, rejected, expired, refused by safety after approval.",
                &["event"],
            )?,
            approval_refusals_total: counter_vec(
                registry,
                "etl_medic_approval_refusals_total",
                "Requests to approve refused before anything ran (signature, replay window, allowlist, state), by reason.",
                &["reason"],
            )?,
            decisions_total: counter_vec(
                registry,
                "etl_medic_decisions_total",
                "Decisions by the autonomy mode they were made in (shadow|approve|auto).",
                &["mode"],
            )?,
        };
        metrics.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        metrics.initialise_closed_label_sets();
        Ok(metrics)
    }

    /// Export zero for every label value of the small closed sets, so
    /// dashboards and alerts see a series (and a rate of 0) before the first
    /// event instead of no data.
    fn initialise_closed_label_sets(&self) {
        for reason in [
            poison_reason::NOT_JSON,
            poison_reason::NOT_ENVELOPE,
            poison_reason::INVALID_EVENT,
            poison_reason::OVERSIZED,
        ] {
            self.poison_messages_total.with_label_values(&[reason]);
        }
        for operation in Operation::ALL {
            self.aws_errors_total.with_label_values(&[operation.as_str()]);
        }
        for class in FailureClass::ALL {
            self.escalations_total.with_label_values(&[class.as_str()]);
        }
        for kind in ActionKind::ALL.into_iter().filter(|kind| kind.mutates()) {
            for outcome in ["success", "failure"] {
                self.remediations_total.with_label_values(&[kind.as_str(), outcome]);
            }
        }
        for (rule, _) in crate::core::safety::rules::SAFETY_RULES {
            self.safety_replacements_total.with_label_values(&[rule]);
        }
        for outcome in ["landed", "deadline", "unwatchable"] {
            self.source_waits_total.with_label_values(&[outcome]);
        }
        for event in approval_event::ALL {
            self.approvals_total.with_label_values(&[event]);
        }
        for reason in approval_refusal::ALL {
            self.approval_refusals_total.with_label_values(&[reason]);
        }
        for mode in
            [crate::core::model::Mode::Shadow, crate::core::model::Mode::Approve, crate::core::model::Mode::Auto]
        {
            self.decisions_total.with_label_values(&[mode.as_str()]);
        }
        for queue in ["main", "dlq"] {
            for state in ["visible", "in_flight", "delayed"] {
                self.queue_messages.with_label_values(&[queue, state]);
            }
        }
    }

    /// Record one outside call's latency, and its failure if it failed.
    pub fn observe_aws_call(&self, operation: Operation, elapsed_secs: f64, failed: bool) {
        note_awaited(elapsed_secs);
        self.aws_request_duration_seconds.with_label_values(&[operation.as_str()]).observe(elapsed_secs);
        if failed {
            self.aws_errors_total.with_label_values(&[operation.as_str()]).inc();
        }
    }

    pub fn set_policy_version(&self, version: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[version]).set(1);
    }
}

/// The registry in the Prometheus text format.
pub fn render(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
    String::from_utf8(buffer).map_err(|error| prometheus::Error::Msg(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_name_is_exported() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        metrics.incidents_total.with_label_values(&["timeout", "retry", "resolved"]).inc();
        metrics.remediations_total.with_label_values(&["retry", "success"]).inc();
        metrics.mttr_seconds.with_label_values(&["timeout"]).observe(42.0);
        metrics.decision_duration_seconds.observe(0.001);
        metrics.observe_aws_call(Operation::GetJobRun, 0.02, true);
        metrics.safety_replacements_total.with_label_values(&["critical_job"]).inc();
        metrics.escalations_total.with_label_values(&["code_bug"]).inc();
        metrics.poison_messages_total.with_label_values(&["not_json"]).inc();
        metrics.queue_messages.with_label_values(&["main", "visible"]).set(3);
        metrics.set_policy_version("rules-v1");
        let text = render(&registry).unwrap();
        for name in [
            "etl_medic_incidents_total",
            "etl_medic_remediations_total",
            "etl_medic_mttr_seconds_bucket",
            "etl_medic_decision_duration_seconds",
            "etl_medic_aws_request_duration_seconds",
            "etl_medic_aws_errors_total",
            "etl_medic_safety_replacements_total",
            "etl_medic_escalations_total",
            "etl_medic_source_waits_total",
            "etl_medic_in_flight_incidents",
            "etl_medic_worker_slots",
            "etl_medic_messages_received_total",
            "etl_medic_messages_deleted_total",
            "etl_medic_poison_messages_total",
            "etl_medic_events_ignored_total",
            "etl_medic_receive_empty_total",
            "etl_medic_queue_messages",
            "etl_medic_circuit_breaker_open",
            "etl_medic_policy_info",
            "etl_medic_audit_write_failures_total",
            "etl_medic_build_info",
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    }

    #[test]
    fn closed_label_sets_export_zero_before_the_first_event() {
        let registry = Registry::new();
        Metrics::register(&registry).unwrap();
        let text = render(&registry).unwrap();
        assert!(text.contains("etl_medic_poison_messages_total{reason=\"oversized\"} 0"));
        assert!(text.contains("etl_medic_aws_errors_total{operation=\"StartJobRun\"} 0"));
        assert!(text.contains("etl_medic_remediations_total{action=\"retry\",outcome=\"success\"} 0"));
        assert!(text.contains("etl_medic_safety_replacements_total{rule=\"circuit_breaker\"} 0"));
        assert!(!text.contains("action=\"escalate\",outcome=\"success\""), "escalate is no remediation");
    }

    #[test]
    fn registering_twice_on_one_registry_fails_instead_of_duplicating() {
        let registry = Registry::new();
        Metrics::register(&registry).unwrap();
        assert!(Metrics::register(&registry).is_err());
    }
}
