//! An in-memory incident store with the same conditional-write semantics as
//! the DynamoDB table: one mutex makes every operation atomic, as a
//! condition expression does for one item. A write whose condition fails
//! is settled as the port's contract says: the caller's own write token
//! stored means its earlier write went through.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::adapters::memory::lock;
use crate::ports::{
    BudgetGrant, ClaimOutcome, FleetCounters, IncidentRecord, IncidentState, IncidentStore, Operation, PortError,
    RunClaim,
};

/// How many recent remediation outcomes the fleet counters look at.
const OUTCOME_MEMORY: usize = 1_000;

#[derive(Debug, Default)]
struct Tables {
    claims: BTreeMap<(String, String), RunClaim>,
    incidents: BTreeMap<String, IncidentRecord>,
    started_runs: BTreeMap<(String, String), String>,
    /// (job, incident) -> when the incident noted it was about to start a run.
    starting: BTreeMap<(String, String), DateTime<Utc>>,
    /// (job, window start in seconds) -> the step tokens granted a unit.
    budgets: BTreeMap<(String, i64), BTreeSet<String>>,
    /// Time of every grant, for the fleet rate (bounded).
    grants: VecDeque<DateTime<Utc>>,
    /// Remediation outcomes, newest last (bounded).
    outcomes: VecDeque<(DateTime<Utc>, bool)>,
}

#[derive(Debug, Default)]
pub struct MemoryIncidentStore {
    tables: Mutex<Tables>,
}

impl MemoryIncidentStore {
    pub fn new() -> MemoryIncidentStore {
        MemoryIncidentStore::default()
    }

    /// Every incident, for tests and the demo summary.
    pub fn incidents(&self) -> Vec<IncidentRecord> {
        lock(&self.tables).incidents.values().cloned().collect()
    }
}

/// Whether `stored` is the write `attempted` made, at `version`: its own
/// token, not another writer's.
fn is_own_write(stored: &IncidentRecord, attempted: &IncidentRecord, version: u64) -> bool {
    !attempted.write_token.is_empty() && stored.write_token == attempted.write_token && stored.version == version
}

fn window_start(now: DateTime<Utc>, window_secs: u64) -> i64 {
    let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    now.timestamp().div_euclid(window) * window
}

#[async_trait]
impl IncidentStore for MemoryIncidentStore {
    async fn claim_run(&self, claim: &RunClaim) -> Result<ClaimOutcome, PortError> {
        let mut tables = lock(&self.tables);
        let key = (claim.job_name.clone(), claim.run_id.clone());
        if let Some(existing) = tables.claims.get(&key) {
            return Ok(ClaimOutcome::AlreadyClaimed(existing.clone()));
        }
        tables.claims.insert(key, claim.clone());
        Ok(ClaimOutcome::Claimed)
    }

    async fn create_incident(&self, record: &IncidentRecord) -> Result<(), PortError> {
        let mut tables = lock(&self.tables);
        if let Some(existing) = tables.incidents.get(&record.incident_id) {
            if is_own_write(existing, record, 1) {
                return Ok(());
            }
            return Err(PortError::conflict(Operation::PutItem, format!("incident {} exists", record.incident_id)));
        }
        let mut stored = record.clone();
        stored.version = 1;
        tables.incidents.insert(stored.incident_id.clone(), stored);
        Ok(())
    }

    async fn get_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError> {
        Ok(lock(&self.tables).incidents.get(incident_id).cloned())
    }

    async fn update_incident(&self, record: &IncidentRecord) -> Result<IncidentRecord, PortError> {
        let mut tables = lock(&self.tables);
        let stored = tables
            .incidents
            .get_mut(&record.incident_id)
            .ok_or_else(|| PortError::not_found(Operation::UpdateItem, format!("incident {}", record.incident_id)))?;
        if stored.version != record.version {
            if is_own_write(stored, record, record.version + 1) {
                return Ok(stored.clone());
            }
            return Err(PortError::conflict(
                Operation::UpdateItem,
                format!("incident {} is at version {}, not {}", record.incident_id, stored.version, record.version),
            ));
        }
        let mut next = record.clone();
        next.version = record.version + 1;
        *stored = next.clone();
        Ok(next)
    }

    async fn link_run(&self, job_name: &str, run_id: &str, incident_id: &str) -> Result<(), PortError> {
        lock(&self.tables).started_runs.insert((job_name.to_string(), run_id.to_string()), incident_id.to_string());
        Ok(())
    }

    async fn incident_for_run(&self, job_name: &str, run_id: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.tables).started_runs.get(&(job_name.to_string(), run_id.to_string())).cloned())
    }

    async fn note_starting(&self, job_name: &str, incident_id: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        lock(&self.tables).starting.insert((job_name.to_string(), incident_id.to_string()), at);
        Ok(())
    }

    async fn clear_starting(&self, job_name: &str, incident_id: &str) -> Result<(), PortError> {
        lock(&self.tables).starting.remove(&(job_name.to_string(), incident_id.to_string()));
        Ok(())
    }

    async fn starting_between(
        &self,
        job_name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let tables = lock(&self.tables);
        Ok(tables.starting.iter().any(|((job, _), at)| job == job_name && *at > since && *at <= until))
    }

    async fn list_open_runs(&self, limit: u32) -> Result<Vec<IncidentRecord>, PortError> {
        Ok(lock(&self.tables)
            .incidents
            .values()
            .filter(|record| record.state == IncidentState::Remediating)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn consume_budget(
        &self,
        job_name: &str,
        window_secs: u64,
        limit: u32,
        at: DateTime<Utc>,
        step_token: &str,
    ) -> Result<BudgetGrant, PortError> {
        let mut tables = lock(&self.tables);
        let key = (job_name.to_string(), window_start(at, window_secs));
        let granted = tables.budgets.entry(key).or_default();
        let used = granted.len() as u32;
        if granted.contains(step_token) {
            return Ok(BudgetGrant { granted: true, used });
        }
        if used >= limit {
            return Ok(BudgetGrant { granted: false, used });
        }
        granted.insert(step_token.to_string());
        tables.grants.push_back(at);
        if tables.grants.len() > OUTCOME_MEMORY {
            tables.grants.pop_front();
        }
        Ok(BudgetGrant { granted: true, used: used + 1 })
    }

    async fn budget_used(&self, job_name: &str, window_secs: u64, now: DateTime<Utc>) -> Result<u32, PortError> {
        let key = (job_name.to_string(), window_start(now, window_secs));
        Ok(lock(&self.tables).budgets.get(&key).map_or(0, |granted| granted.len() as u32))
    }

    async fn record_remediation_outcome(&self, success: bool, at: DateTime<Utc>) -> Result<(), PortError> {
        let mut tables = lock(&self.tables);
        tables.outcomes.push_back((at, success));
        if tables.outcomes.len() > OUTCOME_MEMORY {
            tables.outcomes.pop_front();
        }
        Ok(())
    }

    async fn fleet_counters(&self, window_secs: u64, now: DateTime<Utc>) -> Result<FleetCounters, PortError> {
        let tables = lock(&self.tables);
        let since = now - chrono::Duration::seconds(i64::try_from(window_secs).unwrap_or(i64::MAX / 2_000));
        let recent = tables.outcomes.iter().filter(|(at, _)| *at > since && *at <= now);
        let (succeeded, failed) =
            recent.fold((0, 0), |(ok, bad), (_, success)| if *success { (ok + 1, bad) } else { (ok, bad + 1) });
        let consecutive_failures = tables.outcomes.iter().rev().take_while(|(_, success)| !success).count();
        Ok(FleetCounters {
            actions_in_window: tables.grants.iter().filter(|at| **at > since && **at <= now).count() as u32,
            remediations_succeeded_in_window: succeeded,
            remediations_failed_in_window: failed,
            consecutive_failures: consecutive_failures as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap()
    }

    fn record(id: &str) -> IncidentRecord {
        IncidentRecord {
            incident_id: id.into(),
            job_name: "orders".into(),
            failed_run_id: "jr_1".into(),
            opened_at: at("2026-11-29T02:00:00Z"),
            state: IncidentState::Open,
            attempt: 0,
            actions_taken: vec![],
            class: None,
            current_run_id: None,
            run_started_at: None,
            planned_action: None,
            wait_until: None,
            source_watch: None,
            owner_message_id: "m1".into(),
            updated_at: at("2026-11-29T02:00:00Z"),
            closed_at: None,
            audit_seq: 0,
            pending: None,
            version: 0,
            step: None,
            write_token: String::new(),
            notified_at: None,
        }
    }

    #[tokio::test]
    async fn of_many_concurrent_claims_exactly_one_wins() {
        let store = Arc::new(MemoryIncidentStore::new());
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let claim = RunClaim {
                    job_name: "orders".into(),
                    run_id: "jr_1".into(),
                    incident_id: "orders/jr_1".into(),
                    message_id: format!("m{worker}"),
                    claimed_at: at("2026-11-29T02:00:00Z"),
                };
                store.claim_run(&claim).await.unwrap()
            }));
        }
        let mut winners = 0;
        for task in tasks {
            if task.await.unwrap() == ClaimOutcome::Claimed {
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
    }

    #[tokio::test]
    async fn updates_are_guarded_by_the_version() {
        let store = MemoryIncidentStore::new();
        store.create_incident(&record("i1")).await.unwrap();
        assert!(store.create_incident(&record("i1")).await.unwrap_err().is_conflict());
        let stored = store.get_incident("i1").await.unwrap().unwrap();
        assert_eq!(stored.version, 1);
        let mut acting = stored.clone();
        acting.state = IncidentState::Acting;
        acting.write_token = "writer-a".into();
        let updated = store.update_incident(&acting).await.unwrap();
        assert_eq!(updated.version, 2);
        // A second writer holding the old version loses.
        let mut other = stored.clone();
        other.write_token = "writer-b".into();
        assert!(store.update_incident(&other).await.unwrap_err().is_conflict());
        assert!(store.update_incident(&record("nope")).await.unwrap_err().is_not_found());
        let mut remediating = updated;
        remediating.state = IncidentState::Remediating;
        store.update_incident(&remediating).await.unwrap();
        assert_eq!(store.list_open_runs(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_lost_is_recognised_as_the_writers_own() {
        let store = MemoryIncidentStore::new();
        let mut created = record("i1");
        created.write_token = "create-1".into();
        store.create_incident(&created).await.unwrap();
        // The create is sent again (its answer was lost): the record holds our token.
        store.create_incident(&created).await.unwrap();
        let mut someone_else = record("i1");
        someone_else.write_token = "create-2".into();
        assert!(store.create_incident(&someone_else).await.unwrap_err().is_conflict());

        let mut acting = store.get_incident("i1").await.unwrap().unwrap();
        acting.state = IncidentState::Acting;
        acting.write_token = "update-1".into();
        let first = store.update_incident(&acting).await.unwrap();
        // The same update again, as an SDK retry after a lost answer sends it:
        // version 1 is gone, but version 2 is ours, so it succeeded.
        let again = store.update_incident(&acting).await.unwrap();
        assert_eq!((first.version, again.version), (2, 2));
        assert_eq!(again, first);
        // The same version with another writer's token is a real conflict.
        let mut late = acting.clone();
        late.write_token = "update-2".into();
        let conflict = store.update_incident(&late).await.unwrap_err();
        assert!(conflict.is_conflict(), "{conflict}");
        // And so is our token on a record that moved on past our write.
        let mut next = again.clone();
        next.write_token = "update-3".into();
        store.update_incident(&next).await.unwrap();
        assert!(store.update_incident(&acting).await.unwrap_err().is_conflict());
    }

    #[tokio::test]
    async fn started_runs_map_back_to_their_incident() {
        let store = MemoryIncidentStore::new();
        store.link_run("orders", "jr_2", "orders/jr_1").await.unwrap();
        assert_eq!(store.incident_for_run("orders", "jr_2").await.unwrap().as_deref(), Some("orders/jr_1"));
        assert_eq!(store.incident_for_run("orders", "jr_3").await.unwrap(), None);
    }

    #[tokio::test]
    async fn budgets_grant_up_to_the_limit_per_window() {
        let store = MemoryIncidentStore::new();
        let now = at("2026-11-29T02:00:10Z");
        assert!(store.consume_budget("orders", 3600, 2, now, "orders/jr_1/1").await.unwrap().granted);
        assert!(store.consume_budget("orders", 3600, 2, now, "orders/jr_2/1").await.unwrap().granted);
        let refused = store.consume_budget("orders", 3600, 2, now, "orders/jr_3/1").await.unwrap();
        assert_eq!(refused, BudgetGrant { granted: false, used: 2 });
        assert_eq!(store.budget_used("orders", 3600, now).await.unwrap(), 2);
        assert!(store.consume_budget("other", 3600, 2, now, "other/jr_1/1").await.unwrap().granted);
        let next_window = at("2026-11-29T03:00:00Z");
        assert!(store.consume_budget("orders", 3600, 2, next_window, "orders/jr_3/1").await.unwrap().granted);
        assert_eq!(store.fleet_counters(3600, next_window).await.unwrap().actions_in_window, 4);
    }

    #[tokio::test]
    async fn a_step_takes_one_unit_however_often_it_asks() {
        let store = MemoryIncidentStore::new();
        let now = at("2026-11-29T02:00:10Z");
        let first = store.consume_budget("orders", 3600, 2, now, "orders/jr_1/1").await.unwrap();
        // The step is carried out again (a redo after a crash, a lost answer):
        // it still holds its unit, even once the budget is spent by others.
        let again = store.consume_budget("orders", 3600, 2, now, "orders/jr_1/1").await.unwrap();
        assert_eq!((first, again), (BudgetGrant { granted: true, used: 1 }, BudgetGrant { granted: true, used: 1 }));
        assert!(store.consume_budget("orders", 3600, 2, now, "orders/jr_2/1").await.unwrap().granted);
        assert!(store.consume_budget("orders", 3600, 2, now, "orders/jr_1/1").await.unwrap().granted);
        assert!(!store.consume_budget("orders", 3600, 2, now, "orders/jr_3/1").await.unwrap().granted);
        assert_eq!(store.budget_used("orders", 3600, now).await.unwrap(), 2);
        assert_eq!(store.fleet_counters(3600, now).await.unwrap().actions_in_window, 2);
    }

    #[tokio::test]
    async fn fleet_counters_count_recent_outcomes_and_the_failure_streak() {
        let store = MemoryIncidentStore::new();
        store.record_remediation_outcome(true, at("2026-11-29T01:00:00Z")).await.unwrap();
        store.record_remediation_outcome(true, at("2026-11-29T02:00:00Z")).await.unwrap();
        store.record_remediation_outcome(false, at("2026-11-29T02:01:00Z")).await.unwrap();
        store.record_remediation_outcome(false, at("2026-11-29T02:02:00Z")).await.unwrap();
        let counters = store.fleet_counters(600, at("2026-11-29T02:05:00Z")).await.unwrap();
        assert_eq!(counters.remediations_succeeded_in_window, 1);
        assert_eq!(counters.remediations_failed_in_window, 2);
        assert_eq!(counters.consecutive_failures, 2);
    }
}
