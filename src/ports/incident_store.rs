//! The incident store port (DynamoDB with conditional writes): the shared
//! memory of every worker in every container. It gives exactly-once effects
//! on top of at-least-once delivery (a claim per job run), the incident state
//! machine with optimistic versioning, the map from runs we started to their
//! incident, per-job action budgets and the fleet counters the safety layer's
//! rate limit and circuit breaker read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::{Action, ActionKind, FailureClass};
use crate::ports::PortError;

/// Who took responsibility for one failed run's event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunClaim {
    pub job_name: String,
    pub run_id: String,
    pub incident_id: String,
    /// The queue message that carries the claim; its redeliveries resume the
    /// work, any other message with the same run is a duplicate.
    pub message_id: String,
    pub claimed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This caller now owns the run's event.
    Claimed,
    /// Someone claimed it before; here is their claim.
    AlreadyClaimed(RunClaim),
}

/// The incident state machine (see `daemon::incident` for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Claimed; evidence and decision under way.
    Open,
    /// A permitted action is being carried out right now (guards StartJobRun).
    Acting,
    /// `wait_and_retry`: the message is hidden until `wait_until`, then the planned run starts.
    Waiting,
    /// We started `current_run_id` and wait for its terminal event.
    Remediating,
    /// Closed: a run we started succeeded, or the job healed by itself.
    Resolved,
    /// Closed: handed to a person.
    Escalated,
    /// Closed: shadow mode recorded what it would have done.
    Shadowed,
    /// Closed: an action could not be carried out and escalation failed too.
    Failed,
    /// Closed without action: Glue's own retry (MaxRetries) will rerun the job.
    Deferred,
    /// `approve` mode: `pending` holds the proposed action; nothing runs
    /// until a person approves it, and it is escalated when it expires.
    AwaitingApproval,
}

impl IncidentState {
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            IncidentState::Resolved
                | IncidentState::Escalated
                | IncidentState::Shadowed
                | IncidentState::Failed
                | IncidentState::Deferred
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acting => "acting",
            IncidentState::Waiting => "waiting",
            IncidentState::Remediating => "remediating",
            IncidentState::Resolved => "resolved",
            IncidentState::Escalated => "escalated",
            IncidentState::Shadowed => "shadowed",
            IncidentState::Failed => "failed",
            IncidentState::Deferred => "deferred",
            IncidentState::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// One incident: a failed run and everything done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub incident_id: String,
    pub job_name: String,
    /// The run whose failure opened the incident.
    pub failed_run_id: String,
    /// Event time of the original failure; MTTR is measured from here.
    pub opened_at: DateTime<Utc>,
    pub state: IncidentState,
    /// Remediations tried so far.
    pub attempt: u32,
    pub actions_taken: Vec<ActionKind>,
    pub class: Option<FailureClass>,
    /// The run we started last and wait for.
    pub current_run_id: Option<String>,
    pub run_started_at: Option<DateTime<Utc>>,
    /// The permitted action a `Waiting` incident was waiting to carry out,
    /// for people reading the record. When the wait is over the round
    /// gathers evidence and decides again (the world may have changed, e.g.
    /// the source landed), and carries out that decision.
    pub planned_action: Option<Action>,
    pub wait_until: Option<DateTime<Utc>>,
    /// `wait_for_source`: what a `Waiting` incident watches; `wait_until`
    /// is then its deadline. Kept in the store so that a restart resumes
    /// the watch where it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_watch: Option<SourceWatch>,
    /// The message whose redeliveries may resume this incident.
    pub owner_message_id: String,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Next audit record sequence number of this incident.
    pub audit_seq: u32,
    /// `approve` mode: the proposal waiting for (or decided by) a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingApproval>,
    /// Optimistic concurrency: the version stored; `update_incident` succeeds
    /// only if the stored version still equals this one.
    pub version: u64,
    /// The remediation step under way: set when the incident becomes
    /// `Acting`, cleared when the step's result is recorded. What a later
    /// delivery settles an interrupted step from (see `daemon::settle`).
    #[serde(default)]
    pub step: Option<ActionStep>,
    /// Names the write that stored this version of the record, fresh for
    /// every write (see the contract of [`IncidentStore`]): a writer whose
    /// answer was lost reads the record back and finds its own token.
    #[serde(default)]
    pub write_token: String,
    /// When the incident's escalation was published. Set once the notifier
    /// answered, so a redelivery closes the incident without paging again.
    #[serde(default)]
    pub notified_at: Option<DateTime<Utc>>,
}

/// One remediation step of an incident: the permitted action, carried out
/// at most once in effect. Its token marks everything the step does (the
/// run it starts, the budget unit it takes), so that a step whose outcome
/// was lost can be settled by looking instead of guessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionStep {
    /// 1 for the incident's first remediation, then 2, 3, ... (`attempt + 1`).
    pub number: u32,
    /// `<incident id>/<number>`: the run marker and the budget key of the step.
    pub token: String,
    /// The permitted action, exactly as the safety layer issued it.
    pub action: Action,
    /// When the step began; its budget window and its settle deadline count from here.
    pub begun_at: DateTime<Utc>,
    /// The audit key of the `request` record the step was decided on:
    /// replaying it through the decision core gives the same permit.
    pub request_key: String,
    /// Times the step was carried out; each one after the first followed a
    /// look at Glue that found no trace of the previous one.
    pub tries: u32,
    /// The handler carrying the step out stopped without knowing its
    /// outcome (and said so): the next delivery settles it at once.
    #[serde(default)]
    pub handed_over: bool,
}

/// The token of step `number` of an incident: `<incident id>/<number>`.
pub fn step_token(incident_id: &str, number: u32) -> String {
    format!("{incident_id}/{number}")
}

/// The inputs a `wait_for_source` incident watches, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceWatch {
    /// `s3://bucket/prefix` locations, from the failed run's input
    /// arguments and the job's configured sources.
    pub locations: Vec<String>,
    /// An object modified after this (the failed run's start) has landed.
    pub since: DateTime<Utc>,
    /// The decision's `max_wait_s`, for the escalation at the deadline.
    pub max_wait_s: u64,
}

/// A proposal of `approve` mode, stored with its incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Exactly what would run: the action and its parameters.
    pub action: Action,
    /// The policy version that proposed it.
    pub policy_version: String,
    pub class: FailureClass,
    /// A few lines a person reads before clicking (diagnosis, signals, drift).
    pub evidence_summary: Vec<String>,
    /// Hash over (incident, action, parameters, policy version): an approval
    /// names it, so a click on an older proposal cannot approve a newer one.
    pub binding: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The EventBridge event of the failed run (JSON), to gather fresh
    /// evidence when the approval comes.
    pub event: String,
    /// Who decided, once someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<ApprovalDecision>,
}

/// A person's answer to a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approved: bool,
    /// The approver: a Slack user id, or the name given to `etl-medic approve --by`.
    pub by: String,
    /// `slack` or `cli`.
    pub channel: String,
    pub at: DateTime<Utc>,
}

/// Answer of a budget request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetGrant {
    pub granted: bool,
    /// Units used in the current window, this request included when granted.
    pub used: u32,
}

/// Fleet-wide facts over a recent window, for the safety layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetCounters {
    /// Budget units granted to any job in the window (fleet rate).
    pub actions_in_window: u32,
    pub remediations_succeeded_in_window: u32,
    pub remediations_failed_in_window: u32,
    /// Remediation outcomes that failed in a row, most recent first.
    pub consecutive_failures: u32,
}

/// Contract (every write is a conditional write or an idempotent put;
/// nothing here is last-writer-wins between two writers):
/// - `claim_run` records the claim if and only if no claim exists for
///   (job_name, run_id); otherwise it returns the existing claim unchanged.
///   Of N concurrent callers exactly one gets `Claimed`. The claim's
///   `message_id` is its write token: a caller whose answer was lost gets
///   `AlreadyClaimed` with its own message id, and so knows it won.
/// - `create_incident` stores a new record (with `version` 1) if its id is
///   unused, else `Conflict`. `update_incident(record)` stores `record` with
///   `version + 1` if the stored version equals `record.version`, and returns
///   the stored record; else `Conflict` and nothing changes. Unknown id is `NotFound`.
/// - Lost answers: every record a caller writes carries a `write_token`
///   fresh for that write. When a create or update finds its condition
///   false, the store reads the record back: if it holds the caller's
///   token (and, for an update, `record.version + 1`), the write was the
///   caller's own, made by an earlier attempt whose answer was lost, and the
///   call succeeds with the stored record. Only another writer's token is a
///   `Conflict`.
/// - `link_run` records that we started `run_id` for `incident_id`;
///   `incident_for_run` reads it back (None if we did not start that run).
///   A run id is started once, so linking it again is the same write.
/// - `note_starting(job, incident_id, at)` records that the incident is about
///   to start a run of `job` (before StartJobRun, so before the run can have
///   an event); `clear_starting` removes it once the run is linked or no run
///   started; `starting_between(job, since, until)` tells whether any entry
///   of `job` was noted after `since` and at or before `until`. An event of a
///   run nobody has linked yet is looked at again while an entry noted before
///   the event is fresh: the run may be ours, not yet linked.
/// - `list_open_runs` returns up to `limit` incidents in state `Remediating`
///   (for the reconciler), in no particular order. One call may read only
///   part of a large store; successive calls go on where the last stopped
///   and start over at the end, so every such incident is returned within a
///   bounded number of calls.
/// - `consume_budget(job, window_secs, limit, at, step_token)` atomically
///   grants one unit if fewer than `limit` were granted for `job` in the
///   aligned window of `window_secs` containing `at`, shared by every
///   worker. A step takes at most one unit: a call with a `step_token` that
///   already holds a unit of that window answers `granted` and consumes
///   nothing (a redo of the step, or a retry whose answer was lost). The
///   grant is counted once in the fleet rate too.
/// - `budget_used(job, window_secs, now)` reads the grants of that window
///   without consuming (what the safety layer is shown before deciding).
/// - `record_remediation_outcome` and `fleet_counters` keep and read the
///   fleet's recent remediation outcomes and grants.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn claim_run(&self, claim: &RunClaim) -> Result<ClaimOutcome, PortError>;

    async fn create_incident(&self, record: &IncidentRecord) -> Result<(), PortError>;

    async fn get_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError>;

    async fn update_incident(&self, record: &IncidentRecord) -> Result<IncidentRecord, PortError>;

    async fn link_run(&self, job_name: &str, run_id: &str, incident_id: &str) -> Result<(), PortError>;

    async fn incident_for_run(&self, job_name: &str, run_id: &str) -> Result<Option<String>, PortError>;

    async fn note_starting(&self, job_name: &str, incident_id: &str, at: DateTime<Utc>) -> Result<(), PortError>;

    async fn clear_starting(&self, job_name: &str, incident_id: &str) -> Result<(), PortError>;

    async fn starting_between(
        &self,
        job_name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError>;

    async fn list_open_runs(&self, limit: u32) -> Result<Vec<IncidentRecord>, PortError>;

    async fn consume_budget(
        &self,
        job_name: &str,
        window_secs: u64,
        limit: u32,
        at: DateTime<Utc>,
        step_token: &str,
    ) -> Result<BudgetGrant, PortError>;

    async fn budget_used(&self, job_name: &str, window_secs: u64, now: DateTime<Utc>) -> Result<u32, PortError>;

    async fn record_remediation_outcome(&self, success: bool, at: DateTime<Utc>) -> Result<(), PortError>;

    async fn fleet_counters(&self, window_secs: u64, now: DateTime<Utc>) -> Result<FleetCounters, PortError>;
}

/// The id of the incident opened by the failure of (job, run): stable, so
/// every worker derives the same id from the same event.
pub fn incident_id_for(job_name: &str, failed_run_id: &str) -> String {
    format!("{job_name}/{failed_run_id}")
}
