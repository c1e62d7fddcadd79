//! One serde struct per configuration section named in DESIGN.md
//! ("Configuration that deployments rely on"), read by the daemon, the
//! adapters and the commands alike. Values have no defaults here: every key
//! is set by `config/default.toml`, the one place defaults live, which
//! `Settings::load` always layers first. Unknown keys are rejected so a typo
//! in a deploy template fails loudly.

use serde::{Deserialize, Serialize};

use crate::core::model::RiskTier;
use crate::core::s3::S3Location;

/// `[queue]`: the SQS queue EventBridge feeds, and how the pool polls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Required by `run`; empty in the shipped defaults.
    pub url: String,
    /// Incidents worked at once per process.
    pub concurrency: usize,
    /// Long-poll wait of one ReceiveMessage (SQS allows at most 20).
    pub wait_time_secs: u64,
    /// Visibility granted by each heartbeat; must match or exceed the queue's own.
    pub visibility_timeout_secs: u32,
    /// How often a message being worked on gets its visibility extended.
    pub heartbeat_secs: u64,
    /// Larger bodies are poison (SQS's own limit is 256 KiB).
    pub max_message_bytes: usize,
    /// The dead-letter queue, only read for the depth gauge.
    #[serde(default)]
    pub dead_letter_url: Option<String>,
    /// How often queue depths are read for `etl_medic_queue_messages`.
    pub depth_poll_secs: u64,
}

/// `[incidents]`: the DynamoDB table, and the reconciler that polls runs
/// whose event never came. (Budget sizes and windows are safety settings.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSettings {
    pub table: String,
    /// How often the reconciler polls runs whose terminal event never came.
    pub reconcile_interval_secs: u64,
    /// A started run older than this without an event is polled by the reconciler.
    pub reconcile_after_secs: u64,
    /// How long after a step began its lost outcome may still be settled
    /// under its permit (see `daemon::settle`).
    pub settle_deadline_secs: u64,
    /// How often a `wait_for_source` incident looks at its inputs (the
    /// message comes back this often; no task sleeps).
    pub source_check_secs: u32,
}

/// `[audit]`: where every stage of every incident is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub bucket: String,
    pub prefix: String,
    /// Attempts per audit write before the message is left for redelivery.
    pub write_attempts: u32,
    pub retry_base_ms: u64,
}

/// `[escalation]`: where escalations go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `[approvals]`: `approve` mode. A proposal waits `expiry_secs` for a
/// person; Slack button clicks arrive on `queue_url` (API Gateway HTTP API
/// -> SQS), signed with the Slack app's signing secret kept in Secrets
/// Manager at `signing_secret_arn`, and count only from `allowed_users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSettings {
    /// How long a pending proposal can be approved (60 to 43200: the
    /// incident's message is hidden that long, and SQS hides at most 12 h).
    pub expiry_secs: u32,
    /// The approvals queue; empty: no Slack approvals (the CLI still works).
    pub queue_url: String,
    /// Secrets Manager secret holding the Slack signing secret.
    pub signing_secret_arn: String,
    /// Slack user ids whose clicks count (e.g. "U2CERLKJA").
    pub allowed_users: Vec<String>,
}

impl ApprovalsSettings {
    /// The approvals queue, when Slack approvals are configured.
    pub fn queue(&self) -> Option<&str> {
        Some(self.queue_url.trim()).filter(|url| !url.is_empty())
    }
}

/// `[logs]`: the CloudWatch log groups Glue writes to, and evidence bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSettings {
    pub error_group: String,
    pub output_group: String,
    pub max_lines: usize,
    pub max_line_bytes: usize,
}

/// `[http]`: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: String,
}

/// `[policy]`: where the policy is read (`policy_source`), and how often
/// the daemon looks for a new version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// `config/policy.json` (the shipped policy), another file, `rules`, or `s3://bucket/key`.
    pub path: String,
    /// How often the daemon re-reads `path`; a changed, valid policy is
    /// swapped in between decisions, an invalid one is refused.
    pub reload_interval_secs: u64,
    /// How long the daemon waits for one decision before escalating instead.
    pub decision_budget_ms: u64,
    /// Probability of an exploratory proposal (spec/experience.md, section
    /// 1): only in `auto` mode, never for critical jobs, and only among the
    /// actions the safety layer allows unchanged. 0 = never.
    pub explore: f64,
    /// Seed of the exploration draw (with the incident id and attempt).
    pub explore_seed: u64,
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
    /// The job arguments that hold its input, replacing
    /// `safety.input_arguments` for this job: quarantine takes objects only
    /// from the S3 locations these arguments hold.
    #[serde(default)]
    pub input_arguments: Option<Vec<String>>,
    /// Inputs `wait_for_source` watches (`s3://bucket/prefix/`), on top of
    /// the S3 locations of the job's input arguments.
    #[serde(default)]
    pub sources: Vec<String>,
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
    pub max_objects: u32,
    pub max_bytes: u64,
}

/// `[backtest]`: how `etl-medic backtest` reads an account's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestSettings {
    /// Jobs read at once; each job in flight holds its runs in memory.
    pub concurrency: usize,
    /// Attempts of one read call when AWS throttles it or fails transiently
    /// (on top of the SDK's own retries), with exponential backoff.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with jitter, capped at 30 s.
    pub retry_base_ms: u64,
    /// Runs read per job at most, newest first; a job with more is reported
    /// as a partial history.
    pub max_runs_per_job: u32,
}

/// Why `entry` cannot be a `quarantine.allowed_prefixes` entry, or `None`:
/// it must be `s3://bucket/` or `s3://bucket/prefix/`, with a real bucket
/// name, so that it is compared by bucket and key and can never admit every
/// URI (an empty entry, `s3:///`) or another bucket (`s3://lake` would be a
/// text prefix of `s3://lakehouse/`).
pub fn allowed_prefix_problem(entry: &str) -> Option<&'static str> {
    if entry.trim().is_empty() {
        return Some("is empty (a blank value or a trailing comma); it would admit every object");
    }
    if !entry.starts_with("s3://") {
        return Some("must start with s3://");
    }
    let Some(location) = S3Location::parse(entry) else {
        return Some("must be s3://bucket/ or s3://bucket/prefix/ with a valid bucket name and a plain key");
    };
    if !entry.ends_with('/') || location.key.ends_with("//") {
        return Some("must end in / (s3://bucket/ or s3://bucket/prefix/)");
    }
    None
}

/// How long a drain waits for pending deletes after the grace; the grace
/// plus this must stay under ECS's 120 s stopTimeout.
pub const DELETE_FLUSH_SECS: u64 = 10;

/// ECS's stopTimeout at most: SIGKILL follows SIGTERM after this long.
pub const ECS_STOP_TIMEOUT_SECS: u64 = 120;

/// `[shutdown]`: the drain after SIGTERM, shorter than ECS's 120 s stopTimeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    pub shutdown_grace_secs: u64,
}

/// Why `text` is not a usable webhook URL, or `None`. The answer never
/// repeats the URL: it is a credential (whoever has it can post).
pub fn webhook_url_problem(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")) else {
        return Some("the scheme is not http or https");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or_default() };
    if host.is_empty() {
        return Some("no host");
    }
    if text.chars().any(|character| character.is_whitespace() || character.is_control()) {
        return Some("not a URL");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_prefixes_name_a_bucket_and_end_in_a_slash() {
        for good in ["s3://lake/", "s3://lake/raw/", "s3://data-lake.eu/raw/orders/"] {
            assert_eq!(allowed_prefix_problem(good), None, "{good}");
        }
        for bad in
            ["", " ", "s3://", "s3:///", "s3://lake", "s3://lake/raw", "lake/raw/", "s3a://lake/raw/", "s3://la/"]
        {
            assert!(allowed_prefix_problem(bad).is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_webhook_url_needs_an_http_scheme_and_a_host() {
        assert_eq!(webhook_url_problem("https://hooks.slack.com/services/T0/B0/x"), None);
        assert_eq!(webhook_url_problem("http://127.0.0.1:8080/hook"), None);
        assert_eq!(webhook_url_problem("hooks.slack.com/services/x"), Some("the scheme is not http or https"));
        assert_eq!(webhook_url_problem("ftp://hooks.example/x"), Some("the scheme is not http or https"));
        assert_eq!(webhook_url_problem("https://"), Some("no host"));
        assert_eq!(webhook_url_problem("https://:80/x"), Some("no host"));
    }
}
