//! An action whose outcome was lost is settled from Glue's own record, on
//! the in-memory estate through the real pool: a StartJobRun whose answer
//! was lost is found by its marker and validated; one that never reached
//! Glue is carried out once more under the same budget unit; a process that
//! died mid-step leaves a step the next delivery settles; an incident write
//! whose answer was lost is recognised as the step's own; a rollback or a
//! quarantine move found done is not repeated; and only a Glue that cannot
//! be read until the step's deadline sends the incident to a person.

use crate::support::harness as daemon_support;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use etl_medic::adapters::memory::{MemoryCatalog, MemoryJobControl, MemoryObjectStore, MemoryQueue};
use etl_medic::core::event::JobRunState;
use etl_medic::core::evidence::TableVersion;
use etl_medic::core::model::Mode;
use etl_medic::ports::{
    Catalog, CatalogTable, DeleteOutcome, IncidentQueue, IncidentRecord, IncidentState, IncidentStore, JobControl,
    JobDefinition, JobRun, ObjectStore, ObjectSummary, Operation, PortError, QueueDepth, QueueMessage,
    RUN_MARKER_ARGUMENT, ReceiptHandle, RollbackOutcome, StartRunRequest,
};

use daemon_support::{Harness, event};

const RESET: &str = "An error occurred while calling o112.pyWriteDynamicFrame. Connection reset by peer";
const FIRST_STEP: &str = "orders_daily/jr_1/1";

fn transient_failure(harness: &Harness) -> String {
    let lines = ["java.net.SocketException: Connection reset by peer"];
    harness.failed_run("orders_daily", "jr_1", RESET, &lines, &[("--day", "2026-11-28")])
}

fn incident(harness: &Harness) -> Option<IncidentRecord> {
    harness.estate.incidents.incidents().into_iter().next()
}

fn in_state(harness: &Harness, state: IncidentState) -> bool {
    incident(harness).is_some_and(|record| record.state == state)
}

async fn budget_used(harness: &Harness) -> u32 {
    let now = etl_medic::ports::Clock::now(harness.clock.as_ref());
    let window = harness.context.settings.safety.job_budget_window_s;
    harness.estate.incidents.budget_used("orders_daily", window, now).await.unwrap()
}

/// The bodies of the audit records of `stage`, as text.
fn stage_bodies(harness: &Harness, stage: &str) -> Vec<String> {
    harness
        .audit_records()
        .into_iter()
        .filter(|(_, record)| record["stage"] == stage)
        .map(|(_, record)| record["body"].to_string())
        .collect()
}

/// What happens to one StartJobRun.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Glue starts the run; the answer is lost on the way back.
    AnswerLost,
    /// A 503 before the request reaches Glue: nothing starts.
    NeverArrived,
    /// Glue starts the run and the process dies before the answer.
    DiesAfterStarting,
}

/// Glue that fails StartJobRun as scripted, then works; with `blind`, its
/// runs cannot be read (GetJobRuns fails) once a scripted start happened.
struct FlakyGlue {
    inner: Arc<MemoryJobControl>,
    starts: Mutex<VecDeque<Start>>,
    blind: bool,
    blinded: AtomicBool,
}

impl FlakyGlue {
    fn new(harness: &Harness, starts: &[Start], blind: bool) -> FlakyGlue {
        let starts = Mutex::new(starts.iter().copied().collect());
        FlakyGlue { inner: harness.estate.job_control.clone(), starts, blind, blinded: AtomicBool::new(false) }
    }
}

#[async_trait]
impl JobControl for FlakyGlue {
    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<JobRun, PortError> {
        self.inner.get_job_run(job_name, run_id).await
    }
    async fn get_job(&self, job_name: &str) -> Result<JobDefinition, PortError> {
        self.inner.get_job(job_name).await
    }
    async fn get_job_runs(&self, job_name: &str, max_runs: u32) -> Result<Vec<JobRun>, PortError> {
        if self.blinded.load(Ordering::SeqCst) {
            return Err(PortError::transient(Operation::GetJobRuns, "503 Service Unavailable"));
        }
        self.inner.get_job_runs(job_name, max_runs).await
    }
    async fn start_job_run(&self, request: &StartRunRequest) -> Result<String, PortError> {
        let scripted = self.starts.lock().unwrap().pop_front();
        if scripted.is_some() && self.blind {
            self.blinded.store(true, Ordering::SeqCst);
        }
        match scripted {
            None => self.inner.start_job_run(request).await,
            Some(Start::AnswerLost) => {
                self.inner.start_job_run(request).await?;
                Err(PortError::transient(Operation::StartJobRun, "connection reset after the request was sent"))
            }
            Some(Start::NeverArrived) => Err(PortError::transient(Operation::StartJobRun, "503 Service Unavailable")),
            Some(Start::DiesAfterStarting) => {
                self.inner.start_job_run(request).await?;
                std::future::pending().await
            }
        }
    }
}

async fn run_with_glue(harness: &Harness, glue: FlakyGlue, max_secs: u64, done: impl Fn(&Harness) -> bool) -> bool {
    let mut ports = harness.estate.ports();
    ports.job_control = Arc::new(glue);
    harness.run_pool_on_until(ports, max_secs, done).await.0
}

#[tokio::test(start_paused = true)]
async fn a_start_whose_answer_was_lost_is_found_by_its_marker_and_validated() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let glue = FlakyGlue::new(&harness, &[Start::AnswerLost], false);
    let settled = run_with_glue(&harness, glue, 60, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(settled, "{:?}", incident(&harness));

    let started = harness.estate.job_control.started_requests();
    assert_eq!(started.len(), 1, "one run, not a second one after the lost answer");
    assert_eq!(started[0].arguments.get(RUN_MARKER_ARGUMENT).map(String::as_str), Some(FIRST_STEP));
    assert_eq!(started[0].arguments.get("--day").map(String::as_str), Some("2026-11-28"));
    let run_id = incident(&harness).and_then(|record| record.current_run_id).expect("the found run is the step's");
    assert!(stage_bodies(&harness, "execution").iter().any(|body| body.contains("outcome_unknown")));
    assert!(stage_bodies(&harness, "execution").iter().any(|body| body.contains("the run carrying the step's marker")));
    assert!(harness.estate.notifier.published().is_empty(), "nobody is paged");
    assert_eq!(budget_used(&harness).await, 1);

    // Validated like any run we started.
    harness.estate.job_control.finish_run(&run_id, JobRunState::Succeeded, None).unwrap();
    harness.estate.queue.push(event("orders_daily", &run_id, "SUCCEEDED", "", "2026-11-29T02:10:00Z"));
    let (resolved, _) = harness.run_pool_until(30, |harness| in_state(harness, IncidentState::Resolved)).await;
    assert!(resolved, "{:?}", incident(&harness));
}

#[tokio::test(start_paused = true)]
async fn a_start_that_never_reached_glue_is_carried_out_once_more_under_the_same_budget_unit() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let glue = FlakyGlue::new(&harness, &[Start::NeverArrived], false);
    let settled = run_with_glue(&harness, glue, 60, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(settled, "{:?}", incident(&harness));
    let started = harness.estate.job_control.started_requests();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].arguments.get(RUN_MARKER_ARGUMENT).map(String::as_str), Some(FIRST_STEP));
    let permits = stage_bodies(&harness, "permit");
    assert!(permits.iter().any(|body| body.contains("\"try\":2")), "carried out again: {permits:?}");
    assert_eq!(budget_used(&harness).await, 1, "the second try holds the first try's unit");
    assert!(harness.estate.notifier.published().is_empty());
    assert_eq!(incident(&harness).map(|record| record.attempt), Some(1));
}

#[tokio::test(start_paused = true)]
async fn when_glue_cannot_be_read_until_the_deadline_the_incident_goes_to_a_person() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let glue = Arc::new(FlakyGlue::new(&harness, &[Start::NeverArrived], true));
    let mut ports = harness.estate.ports();
    ports.job_control = glue.clone();
    // The step is handed over, then a look fails: within the deadline, it waits.
    let handed_over =
        |harness: &Harness| incident(harness).and_then(|record| record.step).is_some_and(|step| step.handed_over);
    assert!(harness.run_pool_on_until(ports.clone(), 30, handed_over).await.0);
    harness.run_pool_on_until(ports.clone(), 8, |_| false).await;
    assert!(in_state(&harness, IncidentState::Acting), "{:?}", incident(&harness));
    assert!(harness.estate.notifier.published().is_empty(), "not within the deadline");

    let deadline = harness.context.settings.incidents.settle_deadline_secs as i64;
    harness.clock.advance(chrono::Duration::seconds(deadline + 1));
    let paged = |harness: &Harness| !harness.estate.notifier.published().is_empty();
    assert!(harness.run_pool_on_until(ports, 60, paged).await.0, "{:?}", incident(&harness));
    let reason = harness.estate.notifier.published()[0].packet.blocked_because.clone().unwrap_or_default();
    assert!(reason.contains("could not be settled"), "{reason}");
    assert!(harness.estate.job_control.started_requests().is_empty(), "nothing started blind");
    assert!(in_state(&harness, IncidentState::Escalated));
}

/// A queue whose heartbeats find the message gone: the handler's process
/// has died, so nobody keeps its message hidden.
struct DeadHeartbeat(Arc<MemoryQueue>);

#[async_trait]
impl IncidentQueue for DeadHeartbeat {
    async fn receive(&self, max_messages: u32, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        self.0.receive(max_messages, wait).await
    }
    async fn delete_batch(&self, handles: &[ReceiptHandle]) -> Result<Vec<DeleteOutcome>, PortError> {
        self.0.delete_batch(handles).await
    }
    async fn set_visibility(&self, handle: &ReceiptHandle, visibility_secs: u32) -> Result<(), PortError> {
        self.0.set_visibility(handle, visibility_secs).await
    }
    async fn send(&self, body: &str, delay_secs: u32) -> Result<String, PortError> {
        self.0.send(body, delay_secs).await
    }
    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.0.depth().await
    }
    async fn dead_letter_depth(&self) -> Result<Option<QueueDepth>, PortError> {
        self.0.dead_letter_depth().await
    }
    async fn extend_visibility(&self, _handle: &ReceiptHandle, _visibility_secs: u32) -> Result<(), PortError> {
        Err(PortError::not_found(Operation::ChangeMessageVisibility, "the process died"))
    }
    async fn release(&self, handle: &ReceiptHandle) -> Result<(), PortError> {
        self.0.release(handle).await
    }
    async fn delay(&self, handle: &ReceiptHandle, delay_secs: u32) -> Result<(), PortError> {
        self.0.delay(handle, delay_secs).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_left_acting_by_a_dead_process_is_settled_by_the_next_delivery_not_escalated() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let mut dying = harness.estate.ports();
    dying.job_control = Arc::new(FlakyGlue::new(&harness, &[Start::DiesAfterStarting], false));
    dying.queue = Arc::new(DeadHeartbeat(harness.estate.queue.clone()));
    let started = |harness: &Harness| !harness.estate.job_control.started_requests().is_empty();
    assert!(harness.run_pool_on_until(dying, 30, started).await.0);
    assert!(in_state(&harness, IncidentState::Acting), "the process died mid-step: {:?}", incident(&harness));

    // A new process, once the dead one's message is visible again and its step stale.
    let visibility = i64::from(harness.context.settings.queue.visibility_timeout_secs);
    harness.clock.advance(chrono::Duration::seconds(visibility + 1));
    let (settled, _) = harness.run_pool_until(120, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(settled, "{:?}", incident(&harness));
    assert_eq!(harness.estate.job_control.started_requests().len(), 1, "the run found, not started again");
    assert!(harness.estate.notifier.published().is_empty(), "nobody is paged for the crash");
}

/// An incident store that sends every incident write twice, as the SDK
/// does when the answer to the first was lost: the second finds the first's
/// effect, and must take it for its own.
struct EveryAnswerLost(Arc<etl_medic::adapters::memory::MemoryIncidentStore>);

#[async_trait]
impl IncidentStore for EveryAnswerLost {
    async fn claim_run(&self, claim: &etl_medic::ports::RunClaim) -> Result<etl_medic::ports::ClaimOutcome, PortError> {
        self.0.claim_run(claim).await?;
        self.0.claim_run(claim).await
    }
    async fn create_incident(&self, record: &IncidentRecord) -> Result<(), PortError> {
        self.0.create_incident(record).await?;
        self.0.create_incident(record).await
    }
    async fn get_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError> {
        self.0.get_incident(incident_id).await
    }
    async fn update_incident(&self, record: &IncidentRecord) -> Result<IncidentRecord, PortError> {
        self.0.update_incident(record).await?;
        self.0.update_incident(record).await
    }
    async fn link_run(&self, job_name: &str, run_id: &str, incident_id: &str) -> Result<(), PortError> {
        self.0.link_run(job_name, run_id, incident_id).await
    }
    async fn incident_for_run(&self, job_name: &str, run_id: &str) -> Result<Option<String>, PortError> {
        self.0.incident_for_run(job_name, run_id).await
    }
    async fn note_starting(
        &self,
        job_name: &str,
        incident_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), PortError> {
        self.0.note_starting(job_name, incident_id, at).await
    }
    async fn clear_starting(&self, job_name: &str, incident_id: &str) -> Result<(), PortError> {
        self.0.clear_starting(job_name, incident_id).await
    }
    async fn starting_between(
        &self,
        job_name: &str,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, PortError> {
        self.0.starting_between(job_name, since, until).await
    }
    async fn list_open_runs(&self, limit: u32) -> Result<Vec<IncidentRecord>, PortError> {
        self.0.list_open_runs(limit).await
    }
    async fn consume_budget(
        &self,
        job_name: &str,
        window_secs: u64,
        limit: u32,
        at: chrono::DateTime<chrono::Utc>,
        step_token: &str,
    ) -> Result<etl_medic::ports::BudgetGrant, PortError> {
        self.0.consume_budget(job_name, window_secs, limit, at, step_token).await?;
        self.0.consume_budget(job_name, window_secs, limit, at, step_token).await
    }
    async fn budget_used(
        &self,
        job_name: &str,
        window_secs: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, PortError> {
        self.0.budget_used(job_name, window_secs, now).await
    }
    async fn record_remediation_outcome(
        &self,
        success: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), PortError> {
        self.0.record_remediation_outcome(success, at).await
    }
    async fn fleet_counters(
        &self,
        window_secs: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<etl_medic::ports::FleetCounters, PortError> {
        self.0.fleet_counters(window_secs, now).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_answer_was_lost_is_taken_for_the_steps_own_not_a_conflict() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let mut ports = harness.estate.ports();
    ports.incidents = Arc::new(EveryAnswerLost(harness.estate.incidents.clone()));
    let (remediating, _) =
        harness.run_pool_on_until(ports, 30, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(remediating, "{:?}", incident(&harness));
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
    assert_eq!(budget_used(&harness).await, 1, "the repeated grant is the step's one unit");
    assert!(harness.estate.notifier.published().is_empty());
    assert!(!stage_bodies(&harness, "execution").iter().any(|body| body.contains("outcome_unknown")));
}

#[tokio::test(start_paused = true)]
async fn each_step_marks_its_run_with_its_own_token_never_the_failed_runs() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(transient_failure(&harness));
    let started = |count: usize| move |harness: &Harness| harness.estate.job_control.started_requests().len() >= count;
    assert!(harness.run_pool_until(30, started(1)).await.0);
    let first_run = incident(&harness).and_then(|record| record.current_run_id).expect("the first rerun");
    harness.estate.job_control.finish_run(&first_run, JobRunState::Failed, Some(RESET.to_string())).unwrap();
    harness.estate.queue.push(event("orders_daily", &first_run, "FAILED", RESET, "2026-11-29T02:10:00Z"));
    assert!(harness.run_pool_until(30, |harness| in_state(harness, IncidentState::Waiting)).await.0);
    harness.clock.advance(chrono::Duration::hours(2));
    assert!(harness.run_pool_until(7_200, started(2)).await.0, "decisions: {:?}", harness.decisions());

    let requests = harness.estate.job_control.started_requests();
    let markers: Vec<Option<&str>> =
        requests.iter().map(|request| request.arguments.get(RUN_MARKER_ARGUMENT).map(String::as_str)).collect();
    assert_eq!(markers, vec![Some(FIRST_STEP), Some("orders_daily/jr_1/2")]);
    assert_eq!(requests[1].arguments.get("--day").map(String::as_str), Some("2026-11-28"), "the job's own kept");
}

#[tokio::test(start_paused = true)]
async fn a_job_that_uses_the_marker_argument_itself_is_not_run_but_handed_to_a_person() {
    let harness = Harness::new(Mode::Auto);
    harness.estate.job_control.put_job(JobDefinition {
        name: "orders_daily".to_string(),
        max_retries: 0,
        worker_type: Some("G.1X".to_string()),
        number_of_workers: Some(10),
        timeout_minutes: Some(60),
        default_arguments: BTreeMap::from([(RUN_MARKER_ARGUMENT.to_string(), "the job's own".to_string())]),
    });
    harness.estate.queue.push(transient_failure(&harness));
    let paged = |harness: &Harness| !harness.estate.notifier.published().is_empty();
    assert!(harness.run_pool_until(30, paged).await.0, "decisions: {:?}", harness.decisions());
    let reason = harness.estate.notifier.published()[0].packet.blocked_because.clone().unwrap_or_default();
    assert!(reason.contains(RUN_MARKER_ARGUMENT), "{reason}");
    assert!(harness.estate.job_control.started_requests().is_empty(), "the job's argument is never overwritten");
}

/// A catalog whose first UpdateTable is carried out and its answer lost.
struct RollbackAnswerLost {
    inner: Arc<MemoryCatalog>,
    lost: AtomicBool,
}

#[async_trait]
impl Catalog for RollbackAnswerLost {
    async fn get_table(&self, database: &str, table: &str) -> Result<CatalogTable, PortError> {
        self.inner.get_table(database, table).await
    }
    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<TableVersion>, PortError> {
        self.inner.get_table_versions(database, table, max_versions).await
    }
    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<RollbackOutcome, PortError> {
        let outcome = self.inner.rollback_to_version(database, table, version_id, expected_current_version).await?;
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(PortError::transient(Operation::UpdateTable, "connection reset after the request was sent"));
        }
        Ok(outcome)
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_whose_answer_was_lost_is_found_done_and_not_repeated() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    harness.estate.queue.push(crate::actions::drifted_orders(&harness));
    let mut ports = harness.estate.ports();
    ports.catalog =
        Arc::new(RollbackAnswerLost { inner: harness.estate.catalog.clone(), lost: AtomicBool::new(false) });
    let (remediating, _) =
        harness.run_pool_on_until(ports, 60, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(remediating, "{:?} {:?}", incident(&harness), harness.decisions());
    let table = harness.estate.catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(table.version_id.as_deref(), Some("5"), "one rollback: no version 6");
    assert_eq!(table.columns[1].data_type, "double");
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
    assert!(stage_bodies(&harness, "execution").iter().any(|body| body.contains("already_restored")));
    assert!(harness.estate.notifier.published().is_empty());
}

/// S3 whose first move is carried out and its answer lost.
struct MoveAnswerLost {
    inner: Arc<MemoryObjectStore>,
    lost: AtomicBool,
}

#[async_trait]
impl ObjectStore for MoveAnswerLost {
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), PortError> {
        self.inner.put_object(bucket, key, body, content_type).await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        self.inner.get_object(bucket, key).await
    }
    async fn list_objects(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<Vec<ObjectSummary>, PortError> {
        self.inner.list_objects(bucket, prefix, max_keys).await
    }
    async fn move_object(&self, bucket: &str, from_key: &str, to_key: &str) -> Result<(), PortError> {
        self.inner.move_object(bucket, from_key, to_key).await?;
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(PortError::transient(Operation::CopyObject, "connection reset after the request was sent"));
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_quarantine_move_whose_answer_was_lost_is_found_done_and_not_repeated() {
    let harness = Harness::new(Mode::Auto);
    harness.job("orders_daily", 0);
    let bad = "raw/orders/2026-11-28/part-0007.json";
    harness.estate.objects.put_object("lake", bad, b"{bad".to_vec(), "application/json").await.unwrap();
    for part in 8..37 {
        let key = format!("raw/orders/2026-11-28/part-{part:04}.json");
        harness.estate.objects.put_object("lake", &key, b"{}".to_vec(), "application/json").await.unwrap();
    }
    let message =
        format!("Malformed records are detected in record parsing. Parse Mode: FAILFAST. File: s3://lake/{bad}");
    let line =
        format!("org.apache.spark.SparkException: Malformed records are detected in record parsing: s3://lake/{bad}");
    let body = harness.failed_run(
        "orders_daily",
        "jr_1",
        &message,
        &[line.as_str()],
        &[("--source_path", "s3://lake/raw/orders/2026-11-28/")],
    );
    harness.estate.queue.push(body);
    let mut ports = harness.estate.ports();
    ports.objects = Arc::new(MoveAnswerLost { inner: harness.estate.objects.clone(), lost: AtomicBool::new(false) });
    let (remediating, _) =
        harness.run_pool_on_until(ports, 60, |harness| in_state(harness, IncidentState::Remediating)).await;
    assert!(remediating, "{:?} {:?}", incident(&harness), harness.decisions());
    let keys: Vec<String> = harness.estate.objects.objects_under("lake", "").into_iter().map(|(key, _)| key).collect();
    assert!(!keys.contains(&bad.to_string()), "{keys:?}");
    assert_eq!(keys.iter().filter(|key| key.ends_with(bad)).count(), 1, "moved once, to quarantine: {keys:?}");
    assert_eq!(harness.estate.job_control.started_requests().len(), 1);
    assert!(stage_bodies(&harness, "execution").iter().any(|body| body.contains("already_moved")));
    assert!(harness.estate.notifier.published().is_empty());
}
