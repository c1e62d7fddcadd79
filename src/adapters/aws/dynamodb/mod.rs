//! The incident store on one DynamoDB table, every write conditional.
//!
//! Table layout (what the deploy template must create): partition key `pk`
//! (S) and sort key `sk` (S), on-demand capacity, TTL on `expires_at`
//! (N, epoch seconds). Items:
//!
//! | pk                     | sk                  | what                                   |
//! |------------------------|---------------------|----------------------------------------|
//! | `run#<job>#<run id>`   | `claim`             | the claim of a failed run's event      |
//! | `run#<job>#<run id>`   | `started_by`        | incident a run we started belongs to   |
//! | `incident#<id>`        | `incident`          | the record (JSON), `version`, `state`  |
//! | `starting#<job>`       | `<incident id>`     | about to start a run since `at` (ms)   |
//! | `budget#<job>`         | `<window start>`    | `used` grants, `steps` that hold them  |
//! | `fleet#grants`         | `<millis>#<step>`   | one budget grant, for the fleet rate   |
//! | `fleet#outcomes`       | `<millis>#<nonce>`  | one remediation outcome (`success`)    |
//!
//! Claims and incident creation are `attribute_not_exists(pk)` puts, updates
//! are guarded by `version = :expected`, budgets are an atomic `ADD` guarded
//! by `used < :limit` and by the step not holding a unit already. The SDK
//! retries a write whose answer was lost, and that retry finds its own
//! first attempt's effect: so a failed condition is read back once to tell
//! the caller who won (`AlreadyClaimed` with their message id), whether
//! the write was the caller's own (its `write_token` on the record, its
//! step in the budget's `steps`), or whether the item is gone (`NotFound`)
//! or another writer's (`Conflict`). `list_open_runs` is a bounded Scan: it
//! serves the reconciler a few times a minute and needs no index.

mod items;

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};
use chrono::{DateTime, Utc};

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::ports::Operation;
use crate::ports::{
    BudgetGrant, ClaimOutcome, FleetCounters, IncidentRecord, IncidentState, IncidentStore, PortError, RunClaim,
};
use items::{
    Item, budget_key, decode, encode, incident_key, number, number_attribute, run_key, starting_key, string_attribute,
    string_set_contains, text, time_sort_key, window_start_secs,
};

/// How long claims and closed incidents stay (TTL), for replays and audits.
const RECORD_RETENTION_SECS: i64 = 90 * 24 * 3600;
/// How long a forgotten "about to start a run" entry stays (TTL); it stops
/// counting long before, after the visibility timeout.
const STARTING_RETENTION_SECS: i64 = 24 * 3600;
/// How long fleet events stay: longer than any safety window.
const FLEET_EVENT_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Scan pages (up to 1 MB each) read at most per `list_open_runs`; the next
/// call goes on where this one stopped.
const MAX_SCAN_PAGES: usize = 10;
/// Outcomes read at most to count consecutive failures.
const MAX_OUTCOMES_FOR_STREAK: usize = 500;

pub struct DynamoIncidentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    nonce_counter: AtomicU64,
    nonce_seed: u64,
    /// Where the reconciler's walk over the table stopped: the next
    /// `list_open_runs` continues from here, and starts over at the end.
    scan_cursor: std::sync::Mutex<Option<Item>>,
}

impl DynamoIncidentStore {
    pub fn new(connection: &AwsConnection, table: &str) -> DynamoIncidentStore {
        // Unique per process so that two workers recording an event in the
        // same millisecond never write the same sort key.
        let nonce_seed =
            std::collections::hash_map::RandomState::new().build_hasher().finish() ^ u64::from(std::process::id());
        DynamoIncidentStore {
            client: connection.dynamodb_client(),
            table: table.to_string(),
            nonce_counter: AtomicU64::new(0),
            nonce_seed,
            scan_cursor: std::sync::Mutex::new(None),
        }
    }

    fn event_sort_key(&self, at: DateTime<Utc>) -> String {
        let sequence = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}#{:016x}{:08x}", time_sort_key(at), self.nonce_seed, sequence)
    }

    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", text(pk))
            .key("sk", text(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetItem, error))?;
        Ok(output.item)
    }

    /// Put `item`; `Ok(false)` when `condition` did not hold (nothing written).
    async fn put_item(
        &self,
        operation: Operation,
        item: Item,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<bool, PortError> {
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        if let Some((expression, values)) = condition {
            request = request.condition_expression(expression);
            for (placeholder, value) in values {
                request = request.expression_attribute_values(placeholder, value);
            }
        }
        match request.send().await.map_err(|error| port_error(operation, error)) {
            Ok(_) => Ok(true),
            // Losing a conditional write is an expected answer, not an AWS error.
            Err(failure) if failure.is_conflict() => Ok(false),
            Err(failure) => Err(failure),
        }
    }

    /// The incident record as stored (a consistent read).
    async fn stored_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError> {
        match self.get_item(&incident_key(incident_id), "incident").await? {
            Some(item) => Ok(Some(decode(Operation::GetItem, &item, "record")?)),
            None => Ok(None),
        }
    }

    fn incident_item(&self, record: &IncidentRecord) -> Result<Item, PortError> {
        let mut item = Item::new();
        item.insert("pk".into(), text(incident_key(&record.incident_id)));
        item.insert("sk".into(), text("incident"));
        item.insert("record".into(), text(encode(Operation::PutItem, record)?));
        item.insert("version".into(), number(record.version));
        item.insert("state".into(), text(record.state.as_str()));
        if let Some(closed_at) = record.closed_at.filter(|_| record.state.is_closed()) {
            item.insert("expires_at".into(), number(closed_at.timestamp() + RECORD_RETENTION_SECS));
        }
        Ok(item)
    }

    /// How many events of `pk` lie in (`since`, `now`], and how many of them
    /// have `success` true. Only counts travel: every decision reads these
    /// windows, and a window can hold a thousand events.
    async fn count_events(&self, pk: &str, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<(u32, u32), PortError> {
        let all = self.count_in_window(pk, since, now, None).await?;
        let successes = self.count_in_window(pk, since, now, Some("success = :true")).await?;
        Ok((all, successes))
    }

    async fn count_in_window(
        &self,
        pk: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        filter: Option<&str>,
    ) -> Result<u32, PortError> {
        let mut count = 0_u32;
        let mut start_key: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .select(Select::Count)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", text(pk))
                // Exclusive of `since`, inclusive of `now` (any nonce).
                .expression_attribute_values(":from", text(format!("{}~", time_sort_key(since))))
                .expression_attribute_values(":to", text(format!("{}~", time_sort_key(now))))
                .set_exclusive_start_key(start_key.take());
            if let Some(filter) = filter {
                request =
                    request.filter_expression(filter).expression_attribute_values(":true", AttributeValue::Bool(true));
            }
            let output = request.send().await.map_err(|error| port_error(Operation::Query, error))?;
            count = count.saturating_add(u32::try_from(output.count).unwrap_or(0));
            start_key = output.last_evaluated_key.filter(|key| !key.is_empty());
            if start_key.is_none() {
                return Ok(count);
            }
        }
    }

    async fn consecutive_failures(&self, now: DateTime<Utc>) -> Result<u32, PortError> {
        let mut streak = 0_u32;
        let mut read = 0_usize;
        let mut start_key: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk <= :to")
                .expression_attribute_values(":pk", text("fleet#outcomes"))
                .expression_attribute_values(":to", text(format!("{}~", time_sort_key(now))))
                .scan_index_forward(false)
                .limit(50)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::Query, error))?;
            for item in output.items.unwrap_or_default() {
                read += 1;
                let success = item.get("success").and_then(|value| value.as_bool().ok()).copied().unwrap_or(false);
                if success {
                    return Ok(streak);
                }
                streak += 1;
            }
            start_key = output.last_evaluated_key.filter(|key| !key.is_empty());
            if start_key.is_none() || read >= MAX_OUTCOMES_FOR_STREAK {
                return Ok(streak);
            }
        }
    }
}

/// Whether `stored` is the write `attempted` was: the same version and the
/// writer's own token, so an earlier attempt of this write went through.
fn is_own_write(stored: &IncidentRecord, attempted: &IncidentRecord) -> bool {
    !attempted.write_token.is_empty()
        && stored.write_token == attempted.write_token
        && stored.version == attempted.version
}

fn used_count(used: Option<u64>, fallback: u32) -> u32 {
    used.map_or(fallback, |used| u32::try_from(used).unwrap_or(u32::MAX))
}

#[async_trait]
impl IncidentStore for DynamoIncidentStore {
    async fn claim_run(&self, claim: &RunClaim) -> Result<ClaimOutcome, PortError> {
        let pk = run_key(&claim.job_name, &claim.run_id);
        let mut item = Item::new();
        item.insert("pk".into(), text(&pk));
        item.insert("sk".into(), text("claim"));
        item.insert("claim".into(), text(encode(Operation::PutItem, claim)?));
        item.insert("expires_at".into(), number(claim.claimed_at.timestamp() + RECORD_RETENTION_SECS));
        if self.put_item(Operation::PutItem, item, Some(("attribute_not_exists(pk)", Vec::new()))).await? {
            return Ok(ClaimOutcome::Claimed);
        }
        let existing = self.get_item(&pk, "claim").await?.ok_or_else(|| {
            PortError::transient(Operation::GetItem, format!("claim of {pk} lost its condition but is absent"))
        })?;
        Ok(ClaimOutcome::AlreadyClaimed(decode(Operation::GetItem, &existing, "claim")?))
    }

    async fn create_incident(&self, record: &IncidentRecord) -> Result<(), PortError> {
        let mut stored = record.clone();
        stored.version = 1;
        let item = self.incident_item(&stored)?;
        if self.put_item(Operation::PutItem, item, Some(("attribute_not_exists(pk)", Vec::new()))).await? {
            return Ok(());
        }
        match self.stored_incident(&record.incident_id).await? {
            Some(existing) if is_own_write(&existing, &stored) => Ok(()),
            _ => Err(PortError::conflict(Operation::PutItem, format!("incident {} exists", record.incident_id))),
        }
    }

    async fn get_incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, PortError> {
        self.stored_incident(incident_id).await
    }

    async fn update_incident(&self, record: &IncidentRecord) -> Result<IncidentRecord, PortError> {
        let mut next = record.clone();
        next.version = record.version + 1;
        let item = self.incident_item(&next)?;
        let condition = ("version = :expected", vec![(":expected", number(record.version))]);
        if self.put_item(Operation::PutItem, item, Some(condition)).await? {
            return Ok(next);
        }
        match self.stored_incident(&record.incident_id).await? {
            None => Err(PortError::not_found(Operation::PutItem, format!("incident {}", record.incident_id))),
            Some(stored) if is_own_write(&stored, &next) => Ok(stored),
            Some(stored) => Err(PortError::conflict(
                Operation::PutItem,
                format!(
                    "incident {} is at version {}, not {} (written by another writer)",
                    record.incident_id, stored.version, record.version
                ),
            )),
        }
    }

    async fn link_run(&self, job_name: &str, run_id: &str, incident_id: &str) -> Result<(), PortError> {
        let mut item = Item::new();
        item.insert("pk".into(), text(run_key(job_name, run_id)));
        item.insert("sk".into(), text("started_by"));
        item.insert("incident_id".into(), text(incident_id));
        self.put_item(Operation::PutItem, item, None).await?;
        Ok(())
    }

    async fn incident_for_run(&self, job_name: &str, run_id: &str) -> Result<Option<String>, PortError> {
        let item = self.get_item(&run_key(job_name, run_id), "started_by").await?;
        Ok(item.and_then(|item| string_attribute(&item, "incident_id").map(str::to_string)))
    }

    async fn note_starting(&self, job_name: &str, incident_id: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let mut item = Item::new();
        item.insert("pk".into(), text(starting_key(job_name)));
        item.insert("sk".into(), text(incident_id));
        item.insert("at".into(), number(at.timestamp_millis()));
        item.insert("expires_at".into(), number(at.timestamp() + STARTING_RETENTION_SECS));
        self.put_item(Operation::PutItem, item, None).await?;
        Ok(())
    }

    async fn clear_starting(&self, job_name: &str, incident_id: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", text(starting_key(job_name)))
            .key("sk", text(incident_id))
            .send()
            .await
            .map_err(|error| port_error(Operation::DeleteItem, error))?;
        Ok(())
    }

    async fn starting_between(
        &self,
        job_name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .filter_expression("#at > :since AND #at <= :until")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":pk", text(starting_key(job_name)))
            .expression_attribute_values(":since", number(since.timestamp_millis()))
            .expression_attribute_values(":until", number(until.timestamp_millis()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| port_error(Operation::Query, error))?;
        // One page is enough: any fresh entry on it answers the question,
        // and a job has at most a handful of incidents acting at once.
        Ok(output.count > 0 || output.last_evaluated_key.is_some_and(|key| !key.is_empty()))
    }

    async fn list_open_runs(&self, limit: u32) -> Result<Vec<IncidentRecord>, PortError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut records = Vec::new();
        let mut start_key: Option<Item> =
            self.scan_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        for _ in 0..MAX_SCAN_PAGES {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :incident AND #state = :remediating")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":incident", text("incident"))
                .expression_attribute_values(":remediating", text(IncidentState::Remediating.as_str()))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::Scan, error))?;
            for item in output.items.unwrap_or_default() {
                records.push(decode::<IncidentRecord>(Operation::Scan, &item, "record")?);
            }
            start_key = output.last_evaluated_key.filter(|key| !key.is_empty());
            if start_key.is_none() || records.len() >= limit as usize {
                break;
            }
        }
        // Records past `limit` on the last page are found again on a
        // later walk; the walk itself goes on from the last page read.
        records.truncate(limit as usize);
        *self.scan_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = start_key;
        Ok(records)
    }

    async fn budget_used(&self, job_name: &str, window_secs: u64, now: DateTime<Utc>) -> Result<u32, PortError> {
        let (pk, sk) = budget_key(job_name, window_secs, now);
        let used = self.get_item(&pk, &sk).await?.and_then(|item| number_attribute(&item, "used")).unwrap_or(0);
        Ok(u32::try_from(used).unwrap_or(u32::MAX))
    }

    async fn consume_budget(
        &self,
        job_name: &str,
        window_secs: u64,
        limit: u32,
        at: DateTime<Utc>,
        step_token: &str,
    ) -> Result<BudgetGrant, PortError> {
        let (pk, sk) = budget_key(job_name, window_secs, at);
        let window_start = window_start_secs(at, window_secs);
        let expires_at =
            window_start.saturating_add(i64::try_from(window_secs).unwrap_or(i64::MAX / 2)).saturating_add(86_400);
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", text(&pk))
            .key("sk", text(&sk))
            .update_expression("ADD used :one, steps :step SET expires_at = :expires")
            .condition_expression("(attribute_not_exists(used) OR used < :limit) AND NOT contains(steps, :token)")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step_token.to_string()]))
            .expression_attribute_values(":token", text(step_token))
            .expression_attribute_values(":limit", number(limit))
            .expression_attribute_values(":expires", number(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|error| port_error(Operation::UpdateItem, error));
        let grant = match updated {
            Ok(output) => BudgetGrant {
                granted: true,
                used: used_count(output.attributes.as_ref().and_then(|item| number_attribute(item, "used")), 1),
            },
            // The condition failed: the budget is spent, or this step holds a
            // unit already (a redo, or this very update whose answer was lost).
            Err(failure) if failure.is_conflict() => {
                let stored = self.get_item(&pk, &sk).await?;
                let used = used_count(stored.as_ref().and_then(|item| number_attribute(item, "used")), limit);
                let held = stored.as_ref().is_some_and(|item| string_set_contains(item, "steps", step_token));
                BudgetGrant { granted: held, used }
            }
            Err(failure) => return Err(failure),
        };
        if grant.granted {
            // Keyed by the step, so the grant is counted once however often it is written.
            let mut item = Item::new();
            item.insert("pk".into(), text("fleet#grants"));
            item.insert("sk".into(), text(format!("{}#{step_token}", time_sort_key(at))));
            item.insert("job_name".into(), text(job_name));
            item.insert("expires_at".into(), number(at.timestamp() + FLEET_EVENT_RETENTION_SECS));
            self.put_item(Operation::PutItem, item, None).await?;
        }
        Ok(grant)
    }

    async fn record_remediation_outcome(&self, success: bool, at: DateTime<Utc>) -> Result<(), PortError> {
        let mut item = Item::new();
        item.insert("pk".into(), text("fleet#outcomes"));
        item.insert("sk".into(), text(self.event_sort_key(at)));
        item.insert("success".into(), AttributeValue::Bool(success));
        item.insert("expires_at".into(), number(at.timestamp() + FLEET_EVENT_RETENTION_SECS));
        self.put_item(Operation::PutItem, item, None).await?;
        Ok(())
    }

    async fn fleet_counters(&self, window_secs: u64, now: DateTime<Utc>) -> Result<FleetCounters, PortError> {
        let since = now - chrono::Duration::seconds(i64::try_from(window_secs).unwrap_or(i64::MAX / 2_000));
        let grants = self.count_in_window("fleet#grants", since, now, None).await?;
        let (outcomes, succeeded) = self.count_events("fleet#outcomes", since, now).await?;
        Ok(FleetCounters {
            actions_in_window: grants,
            remediations_succeeded_in_window: succeeded,
            remediations_failed_in_window: outcomes.saturating_sub(succeeded),
            consecutive_failures: self.consecutive_failures(now).await?,
        })
    }
}
