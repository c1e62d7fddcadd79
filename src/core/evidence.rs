//! The `decide` request: one failed run and the read-only evidence gathered
//! about it, in exactly the shape of `spec/decide.md`. The daemon assembles
//! this same value, so every production decision can be replayed through
//! `etl-medic decide`. Everything but `event` is optional: a missing field is
//! absent evidence, never an error; unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::event::EventEnvelope;
use crate::core::model::RiskTier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecideRequest {
    /// Echoed back verbatim; any JSON value.
    #[serde(default)]
    pub id: serde_json::Value,
    pub event: EventEnvelope,
    #[serde(default)]
    pub job_run: Option<JobRunEvidence>,
    #[serde(default)]
    pub logs: LogsEvidence,
    #[serde(default)]
    pub catalog: Vec<TableEvidence>,
    #[serde(default)]
    pub history: HistoryEvidence,
    #[serde(default)]
    pub job: JobProfile,
    #[serde(default)]
    pub context: ContextEvidence,
}

/// What GetJobRun said about the failed run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobRunEvidence {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub arguments: BTreeMap<String, String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub worker_type: Option<String>,
    #[serde(default)]
    pub number_of_workers: Option<u32>,
    #[serde(default)]
    pub execution_time_s: Option<u64>,
    #[serde(default)]
    pub timeout_minutes: Option<u64>,
}

/// Error and output log lines of the run, already bounded by the gatherer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogsEvidence {
    #[serde(default)]
    pub error: Vec<String>,
    #[serde(default)]
    pub output: Vec<String>,
}

/// Versions of one Data Catalog table, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEvidence {
    pub database: String,
    pub table: String,
    #[serde(default)]
    pub versions: Vec<TableVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableVersion {
    pub version_id: String,
    /// RFC 3339; absent when the catalog did not say.
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type", default)]
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryEvidence {
    /// Remediations already tried for this incident.
    #[serde(default)]
    pub attempt: u32,
    /// Names of the actions tried, in order; unknown names are kept but carry no meaning.
    #[serde(default)]
    pub actions_taken: Vec<String>,
    /// This job's earlier runs, newest first.
    #[serde(default)]
    pub recent_runs: Vec<RunSummary>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub execution_time_s: Option<u64>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// What the operator told etl-medic about the job (per-job configuration).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobProfile {
    #[serde(default)]
    pub risk_tier: Option<RiskTier>,
    #[serde(default)]
    pub max_workers: Option<u32>,
}

/// Context beyond the run itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContextEvidence {
    /// Seconds since the job's source data last changed; large means the
    /// upstream has not landed yet.
    #[serde(default)]
    pub source_last_modified_age_s: Option<u64>,
}

impl DecideRequest {
    /// The job name from the event.
    pub fn job_name(&self) -> Option<&str> {
        self.event.detail_str("jobName")
    }

    /// The JobRun error message: from GetJobRun when present, else the event's message.
    pub fn error_message(&self) -> Option<&str> {
        self.job_run
            .as_ref()
            .and_then(|run| run.error_message.as_deref())
            .or_else(|| self.event.detail_str("message"))
    }

    pub fn risk_tier(&self) -> RiskTier {
        self.job.risk_tier.unwrap_or_default()
    }
}
