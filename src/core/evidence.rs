//! The `decide` request: one failed run and the read-only evidence gathered
//! about it, in exactly the shape of `spec/decide.md`. The daemon assembles
//! this same value, so every production decision can be replayed through
//! `etl-medic decide`. Everything but `event` is optional: a missing field,
//! or one that is explicitly `null`, is absent evidence, never an error;
//! unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::event::EventEnvelope;
use crate::core::lenient::{bounded_json, bounded_map, bounded_optional_vec, bounded_vec, bounds, null_as_default};
use crate::core::model::RiskTier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecideRequest {
    /// Echoed back verbatim; any JSON value (of at most `JSON_NODES` nodes).
    #[serde(default, deserialize_with = "bounded_json::<_, { bounds::JSON_NODES }>")]
    pub id: serde_json::Value,
    pub event: EventEnvelope,
    #[serde(default)]
    pub job_run: Option<JobRunEvidence>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub logs: LogsEvidence,
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::CATALOG_TABLES }>")]
    pub catalog: Vec<TableEvidence>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub history: HistoryEvidence,
    #[serde(default, deserialize_with = "null_as_default")]
    pub job: JobProfile,
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: ContextEvidence,
}

/// What GetJobRun said about the failed run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobRunEvidence {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "bounded_map::<_, { bounds::ARGUMENTS }>")]
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
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::LOG_LINES }>")]
    pub error: Vec<String>,
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::LOG_LINES }>")]
    pub output: Vec<String>,
}

/// Versions of one Data Catalog table, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEvidence {
    pub database: String,
    pub table: String,
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::TABLE_VERSIONS }>")]
    pub versions: Vec<TableVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableVersion {
    pub version_id: String,
    /// RFC 3339; absent when the catalog did not say.
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::COLUMNS }>")]
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryEvidence {
    /// Remediations already tried for this incident.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attempt: u32,
    /// Names of the actions tried, in order; unknown names are kept but carry no meaning.
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::ACTIONS_TAKEN }>")]
    pub actions_taken: Vec<String>,
    /// This job's earlier runs, newest first.
    #[serde(default, deserialize_with = "bounded_vec::<_, _, { bounds::RECENT_RUNS }>")]
    pub recent_runs: Vec<RunSummary>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// The job arguments that hold its input (`--source_path` style), when
    /// the operator named them for this job (`jobs.<job>.input_arguments`);
    /// absent: `safety.input_arguments`. Quarantine takes objects only from
    /// the locations these arguments hold.
    #[serde(
        default,
        deserialize_with = "bounded_optional_vec::<_, _, { bounds::INPUT_ARGUMENTS }>",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_arguments: Option<Vec<String>>,
    /// Inputs `wait_for_source` watches besides the input arguments'
    /// locations (`jobs.<job>.sources`, `s3://bucket/prefix/`).
    #[serde(
        default,
        deserialize_with = "bounded_optional_vec::<_, _, { bounds::INPUT_ARGUMENTS }>",
        skip_serializing_if = "Option::is_none"
    )]
    pub sources: Option<Vec<String>>,
}

/// Context beyond the run itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContextEvidence {
    /// Seconds since the job's source data last changed; large means the
    /// upstream has not landed yet.
    #[serde(default)]
    pub source_last_modified_age_s: Option<u64>,
    /// What the daemon knew about the fleet when it decided (budgets used,
    /// breaker counts, a pending Glue retry, input size). Absent: nothing
    /// known, as for a request decided on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetContext>,
}

impl DecideRequest {
    /// The fleet facts recorded in `context.fleet`; nothing known when absent.
    pub fn fleet_context(&self) -> FleetContext {
        self.context.fleet.clone().unwrap_or_default()
    }

    /// The job name from the event.
    pub fn job_name(&self) -> Option<&str> {
        self.event.detail_str("jobName")
    }

    /// The JobRun error message: from GetJobRun when present, else the event's message.
    pub fn error_message(&self) -> Option<&str> {
        self.job_run.as_ref().and_then(|run| run.error_message.as_deref()).or_else(|| self.event.detail_str("message"))
    }

    pub fn risk_tier(&self) -> RiskTier {
        self.job.risk_tier.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"source":"aws.glue","detail-type":"Glue Job State Change","resources":null,
        "detail":{"jobName":"j","jobRunId":"jr_1","state":"FAILED"}}"#;

    #[test]
    fn explicit_null_reads_as_absent_evidence_at_every_level() {
        let absent: DecideRequest = serde_json::from_str(&format!(r#"{{"event":{EVENT}}}"#)).expect("bare request");
        for nulls in [
            r#""job_run":null,"logs":null,"catalog":null,"history":null,"job":null,"context":null"#,
            r#""job_run":{"id":null,"arguments":null,"error_message":null,"worker_type":null,"number_of_workers":null,
               "execution_time_s":null,"timeout_minutes":null},
               "logs":{"error":null,"output":null},"catalog":[],"history":{"attempt":null,"actions_taken":null,"recent_runs":null},
               "job":{"risk_tier":null,"max_workers":null},"context":{"source_last_modified_age_s":null}"#,
        ] {
            let mut request: DecideRequest = serde_json::from_str(&format!(r#"{{"id":null,"event":{EVENT},{nulls}}}"#))
                .unwrap_or_else(|error| panic!("{nulls}: {error}"));
            // An all-null job_run is present but empty; everything else equals absence.
            if request.job_run.is_some() {
                assert_eq!(request.job_run.take(), Some(JobRunEvidence::default()));
            }
            assert_eq!(request, absent, "{nulls}");
        }
        let deep: DecideRequest = serde_json::from_str(&format!(
            r#"{{"event":{EVENT},"catalog":[{{"database":"d","table":"t","versions":[{{"version_id":"1","updated_at":null,"columns":[{{"name":"c","type":null}}]}},{{"version_id":"0","columns":null}}]}}],
               "history":{{"recent_runs":[{{"state":null,"started_at":null,"execution_time_s":null,"error_message":null}}]}}}}"#
        ))
        .expect("nested nulls");
        assert_eq!(deep.catalog[0].versions[0].columns[0].data_type, "");
        assert!(deep.catalog[0].versions[1].columns.is_empty());
        assert_eq!(deep.history.recent_runs[0], RunSummary::default());
    }

    #[test]
    fn required_fields_stay_required() {
        let missing_table = format!(r#"{{"event":{EVENT},"catalog":[{{"database":"d","table":null}}]}}"#);
        assert!(serde_json::from_str::<DecideRequest>(&missing_table).is_err());
        assert!(serde_json::from_str::<DecideRequest>(r#"{"event":null}"#).is_err());
    }
}

/// Fleet-wide facts the safety layer needs that one request does not carry.
/// `Default` means nothing is known yet: zero usage, no outcomes, no pending
/// Glue retry, unknown input size. The daemon fills it from the incident
/// store (shared by all workers, so budgets hold across the fleet) and
/// records it in the request's `context.fleet`, so that `decide` and
/// `replay` reach the same decision from the audit record alone.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FleetContext {
    /// Mutating actions etl-medic took on this job within the last
    /// `job_budget_window_s`, by any worker.
    pub job_actions_in_window: u32,
    /// Mutating actions etl-medic took on any job within the last `fleet_window_s`.
    pub fleet_actions_in_window: u32,
    /// Remediations that healed their run, among those finished within the
    /// last `breaker_window_s` (fleet-wide).
    pub recent_remediation_successes: u32,
    /// Remediations whose run failed again, within the same window.
    pub recent_remediation_failures: u32,
    /// Glue will retry this run itself (the job's MaxRetries is not used up),
    /// so anything that starts a run would race Glue's own retry.
    pub glue_retry_pending: bool,
    /// Number of objects under the job's input locations, when the daemon
    /// listed them; bounds a quarantine by fraction. `None`: only the count
    /// bound applies.
    pub input_object_count: Option<u64>,
}
