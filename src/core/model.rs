//! The vocabulary of the decision core: failure classes, actions, risk tiers,
//! autonomy modes, and the `decide` request (the gathered evidence) and its
//! answer. The names serialise exactly as `../shared/DESIGN.md` and
//! `spec/decide.md` spell them; they are a public interface.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The diagnosis taxonomy. Order is stable: policies and metrics index by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    TransientInfra,
    ResourceExhaustion,
    SchemaDrift,
    DataQuality,
    SourceUnavailable,
    PermissionConfig,
    CodeBug,
    Timeout,
    Unknown,
}

impl FailureClass {
    pub const ALL: [FailureClass; 9] = [
        FailureClass::TransientInfra,
        FailureClass::ResourceExhaustion,
        FailureClass::SchemaDrift,
        FailureClass::DataQuality,
        FailureClass::SourceUnavailable,
        FailureClass::PermissionConfig,
        FailureClass::CodeBug,
        FailureClass::Timeout,
        FailureClass::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::TransientInfra => "transient_infra",
            FailureClass::ResourceExhaustion => "resource_exhaustion",
            FailureClass::SchemaDrift => "schema_drift",
            FailureClass::DataQuality => "data_quality",
            FailureClass::SourceUnavailable => "source_unavailable",
            FailureClass::PermissionConfig => "permission_config",
            FailureClass::CodeBug => "code_bug",
            FailureClass::Timeout => "timeout",
            FailureClass::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<FailureClass> {
        FailureClass::ALL.into_iter().find(|class| class.as_str() == name)
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The bounded set of remediations. Order is stable and is the deterministic
/// tie-break of every policy: on equal value the earlier, less invasive kind wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Escalate,
    LogAndWait,
    Retry,
    WaitAndRetry,
    WaitForSource,
    RetryWithMoreCapacity,
    RollbackSchema,
    QuarantineBadRecords,
}

impl ActionKind {
    pub const ALL: [ActionKind; 8] = [
        ActionKind::Escalate,
        ActionKind::LogAndWait,
        ActionKind::Retry,
        ActionKind::WaitAndRetry,
        ActionKind::WaitForSource,
        ActionKind::RetryWithMoreCapacity,
        ActionKind::RollbackSchema,
        ActionKind::QuarantineBadRecords,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Escalate => "escalate",
            ActionKind::LogAndWait => "log_and_wait",
            ActionKind::Retry => "retry",
            ActionKind::WaitAndRetry => "wait_and_retry",
            ActionKind::WaitForSource => "wait_for_source",
            ActionKind::RetryWithMoreCapacity => "retry_with_more_capacity",
            ActionKind::RollbackSchema => "rollback_schema",
            ActionKind::QuarantineBadRecords => "quarantine_bad_records",
        }
    }

    pub fn parse(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether the action changes anything in Glue, the catalog or S3.
    pub fn mutates(self) -> bool {
        !matches!(self, ActionKind::Escalate | ActionKind::LogAndWait)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How much a job matters; `critical` jobs never act without approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl RiskTier {
    pub const ALL: [RiskTier; 4] = [RiskTier::Low, RiskTier::Medium, RiskTier::High, RiskTier::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
            RiskTier::Critical => "critical",
        }
    }
}

/// Autonomy: `shadow` records what would be done, `approve` proposes it and
/// waits for a person's approval of exactly that action, `auto` does it.
/// Ordered from least to most autonomous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Shadow,
    Approve,
    Auto,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Approve => "approve",
            Mode::Auto => "auto",
        }
    }
}

/// Where a piece of text came from; the classifier weighs sources differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    #[default]
    JobRunErrorMessage,
    ErrorLog,
    OutputLog,
}

/// A concrete remediation with its parameters. Serialises as
/// `{"kind": "<action>", "params": {...}}` as `spec/decide.md` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum Action {
    Escalate {
        reason: String,
    },
    LogAndWait {},
    Retry {},
    WaitAndRetry {
        delay_s: u64,
    },
    /// Watch the job's input and rerun as soon as new input lands; give up
    /// (escalate with what was watched) after `max_wait_s`.
    WaitForSource {
        max_wait_s: u64,
    },
    RetryWithMoreCapacity {
        number_of_workers: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker_type: Option<String>,
    },
    RollbackSchema {
        database: String,
        table: String,
        version_id: String,
    },
    QuarantineBadRecords(QuarantinePlan),
}

/// What a quarantine moves, or the job argument it sets for the rerun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum QuarantinePlan {
    /// Move these S3 objects (named by the evidence) under the quarantine prefix, then rerun.
    MoveObjects { objects: Vec<String>, quarantine_prefix: String },
    /// Rerun with a job argument that tells the job where to divert bad records.
    BadRecordsArgument { argument: String, value: String },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Escalate { .. } => ActionKind::Escalate,
            Action::LogAndWait {} => ActionKind::LogAndWait,
            Action::Retry {} => ActionKind::Retry,
            Action::WaitAndRetry { .. } => ActionKind::WaitAndRetry,
            Action::WaitForSource { .. } => ActionKind::WaitForSource,
            Action::RetryWithMoreCapacity { .. } => ActionKind::RetryWithMoreCapacity,
            Action::RollbackSchema { .. } => ActionKind::RollbackSchema,
            Action::QuarantineBadRecords(_) => ActionKind::QuarantineBadRecords,
        }
    }
}
