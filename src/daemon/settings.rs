//! The daemon's settings: one serde struct per configuration section named
//! in DESIGN.md ("Configuration that deployments rely on"). The lead's
//! `config.rs` embeds these sections; tests and the demo build them in code.
//! Every key has a named default so an empty section is valid, and unknown
//! keys are rejected so a typo in a deploy template fails loudly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::model::RiskTier;

/// `[queue]`: the SQS queue EventBridge feeds, and how the pool polls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    #[serde(default)]
    pub url: String,
    /// Incidents worked at once per process.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Long-poll wait of one ReceiveMessage (SQS allows at most 20).
    #[serde(default = "default_wait_time_secs")]
    pub wait_time_secs: u64,
    /// Visibility granted by each heartbeat; must match or exceed the queue's own.
    #[serde(default = "default_visibility_timeout_secs")]
    pub visibility_timeout_secs: u32,
    /// How often a message being worked on gets its visibility extended.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// Larger bodies are poison (SQS's own limit is 256 KiB).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// The dead-letter queue, only read for the depth gauge.
    #[serde(default)]
    pub dead_letter_url: Option<String>,
    /// How often queue depths are read for `etl_medic_queue_messages`.
    #[serde(default = "default_depth_poll_secs")]
    pub depth_poll_secs: u64,
}

/// `[incidents]`: the DynamoDB table, and the reconciler that polls runs
/// whose event never came. (Budget sizes and windows are safety settings.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSettings {
    #[serde(default = "default_incidents_table")]
    pub table: String,
    /// How often the reconciler polls runs whose terminal event never came.
    #[serde(default = "default_reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// A started run older than this without an event is polled by the reconciler.
    #[serde(default = "default_reconcile_after_secs")]
    pub reconcile_after_secs: u64,
}

/// `[audit]`: where every stage of every incident is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    #[serde(default = "default_audit_bucket")]
    pub bucket: String,
    #[serde(default = "default_audit_prefix")]
    pub prefix: String,
    /// Attempts per audit write before the message is left for redelivery.
    #[serde(default = "default_audit_write_attempts")]
    pub write_attempts: u32,
    #[serde(default = "default_audit_retry_base_ms")]
    pub retry_base_ms: u64,
}

/// `[escalation]`: where escalations go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EscalationSettings {
    #[serde(default)]
    pub sns_topic_arn: Option<String>,
    /// A Slack-compatible incoming webhook, in addition to SNS.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

impl EscalationSettings {
    /// The webhook URL when one is set; blank means none (deploy templates
    /// pass an empty string).
    pub fn webhook(&self) -> Option<&str> {
        self.webhook_url.as_deref().filter(|url| !url.trim().is_empty())
    }
}

/// `[logs]`: the CloudWatch log groups Glue writes to, and evidence bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSettings {
    #[serde(default = "default_error_group")]
    pub error_group: String,
    #[serde(default = "default_output_group")]
    pub output_group: String,
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

/// `[http]`: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(default = "default_listen")]
    pub listen: String,
}

/// `[policy]`: the policy file; absent or `rules` means the rules baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    #[serde(default = "default_policy_path")]
    pub path: String,
}

/// `[jobs."name"]`: what the operator says about one Glue job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Catalog tables the job reads or writes, as `database.table`.
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub risk_tier: Option<RiskTier>,
    #[serde(default)]
    pub max_workers: Option<u32>,
}

/// `[quarantine]`: where quarantine moves may happen and how much they may
/// move. The destination prefix and the count bound the policy may propose
/// are safety settings (`[safety] quarantine_prefix`, `quarantine_max_objects`);
/// these are the executor's own outer bounds, checked again before any move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineSettings {
    /// Only objects under one of these `s3://bucket/prefix/` may be moved.
    #[serde(default)]
    pub allowed_prefixes: Vec<String>,
    #[serde(default = "default_quarantine_max_objects")]
    pub max_objects: u32,
    #[serde(default = "default_quarantine_max_bytes")]
    pub max_bytes: u64,
}

/// `[shutdown]`: the drain after SIGTERM, shorter than ECS's 120 s stopTimeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
}

/// Everything the daemon reads, section by section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    #[serde(default)]
    pub queue: QueueSettings,
    #[serde(default)]
    pub incidents: IncidentsSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub escalation: EscalationSettings,
    #[serde(default)]
    pub logs: LogsSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub policy: PolicySettings,
    #[serde(default)]
    pub jobs: BTreeMap<String, JobSettings>,
    #[serde(default)]
    pub quarantine: QuarantineSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
}

macro_rules! default_from_fields {
    ($($section:ty),* $(,)?) => {$(
        impl Default for $section {
            fn default() -> Self {
                // An empty table deserialises through the named defaults, so
                // `Default` and an empty TOML section always agree.
                serde_json::from_value(serde_json::json!({}))
                    .unwrap_or_else(|error| unreachable!("every field of {} has a default: {error}", stringify!($section)))
            }
        }
    )*};
}

default_from_fields!(
    QueueSettings,
    IncidentsSettings,
    AuditSettings,
    LogsSettings,
    HttpSettings,
    PolicySettings,
    QuarantineSettings,
    ShutdownSettings,
);

fn default_concurrency() -> usize {
    16
}
fn default_wait_time_secs() -> u64 {
    20
}
fn default_visibility_timeout_secs() -> u32 {
    120
}
fn default_heartbeat_secs() -> u64 {
    30
}
fn default_max_message_bytes() -> usize {
    256 * 1024
}
fn default_depth_poll_secs() -> u64 {
    30
}
fn default_incidents_table() -> String {
    "etl-medic-incidents".to_string()
}
fn default_reconcile_interval_secs() -> u64 {
    60
}
fn default_reconcile_after_secs() -> u64 {
    900
}
fn default_audit_bucket() -> String {
    "etl-medic-audit".to_string()
}
fn default_audit_prefix() -> String {
    "audit/".to_string()
}
fn default_audit_write_attempts() -> u32 {
    5
}
fn default_audit_retry_base_ms() -> u64 {
    200
}
fn default_error_group() -> String {
    "/aws-glue/jobs/error".to_string()
}
fn default_output_group() -> String {
    "/aws-glue/jobs/output".to_string()
}
fn default_max_lines() -> usize {
    200
}
fn default_max_line_bytes() -> usize {
    2_048
}
fn default_listen() -> String {
    "0.0.0.0:9090".to_string()
}
fn default_policy_path() -> String {
    "config/policy.json".to_string()
}
fn default_quarantine_max_objects() -> u32 {
    100
}
fn default_quarantine_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
fn default_shutdown_grace_secs() -> u64 {
    90
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_keys_parse_and_unknown_keys_are_rejected() {
        let document = serde_json::json!({
            "queue": {"url": "https://sqs.us-east-1.amazonaws.com/1/etl-medic", "concurrency": 4},
            "incidents": {"table": "t"},
            "audit": {"bucket": "b", "prefix": "audit/"},
            "escalation": {"sns_topic_arn": "arn:aws:sns:us-east-1:1:x"},
            "logs": {"error_group": "/e", "output_group": "/o"},
            "http": {"listen": "0.0.0.0:9090"},
            "policy": {"path": "config/policy.json"},
            "jobs": {"orders_daily": {"tables": ["sales.orders"], "risk_tier": "high", "max_workers": 40}}
        });
        let settings: DaemonSettings = serde_json::from_value(document).unwrap();
        assert_eq!(settings.queue.concurrency, 4);
        assert_eq!(settings.queue.wait_time_secs, 20);
        assert_eq!(settings.jobs["orders_daily"].risk_tier, Some(RiskTier::High));
        assert_eq!(settings.shutdown.shutdown_grace_secs, 90);
        let typo = serde_json::json!({"queue": {"concurency": 4}});
        assert!(serde_json::from_value::<DaemonSettings>(typo).is_err());
    }

    #[test]
    fn the_default_drain_fits_inside_the_ecs_stop_timeout() {
        assert!(DaemonSettings::default().shutdown.shutdown_grace_secs < 120);
        assert_eq!(DaemonSettings::default().queue.max_message_bytes, 262_144);
    }
}
