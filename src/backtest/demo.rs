//! The embedded simulated account of `etl-medic backtest --demo`: the
//! simulator's estate (config/sim.toml) played out as a history in the
//! in-memory Glue, CloudWatch Logs, Data Catalog and S3 that the backtest
//! reads exactly as it reads AWS. Each job runs on its schedule; the
//! simulator's incidents fail some runs with their cause's messages and
//! logs, and then history takes its course without etl-medic: a transient
//! failure or a late source heals on a later scheduled run, anything else
//! waits for a person (the simulator's delay), who raises capacity, rolls
//! a table back, diverts bad records or changes an argument, and reruns.
//! Logs older than the retention are gone, as in CloudWatch.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::adapters::memory::ManualClock;
use crate::adapters::wiring::InMemoryEstate;
use crate::backtest::estimate::seed_of;
use crate::config::{JobSettings, Settings};
use crate::core::event::JobRunState;
use crate::core::evidence::{Column, TableVersion};
use crate::ports::object_store::parse_s3_uri;
use crate::ports::{JobDefinition, JobRun};
use crate::sim::{CatalogStory, Estate, JobSpec, SimCause, SimConfig, SimIncident};

/// Days of history before the default 30-day window, so its first failures have history too.
const LEAD_DAYS: i64 = 7;
/// CloudWatch retention of the demo's log groups.
const LOG_RETENTION_DAYS: i64 = 25;

/// The simulated account, the moment the backtest runs, and settings that
/// know its jobs' tables, risk tiers and capacity ceilings.
pub struct DemoAccount {
    pub estate: InMemoryEstate,
    pub now: DateTime<Utc>,
    pub settings: Settings,
}

/// How the demo is drawn.
#[derive(Debug, Clone)]
pub struct DemoHistory {
    pub sim: SimConfig,
    pub seed: u64,
    pub days: i64,
    pub incidents: u64,
}

impl Default for DemoHistory {
    fn default() -> DemoHistory {
        DemoHistory { sim: SimConfig::embedded_default(), seed: 7, days: 30, incidents: 36 }
    }
}

/// One run to put in the history.
struct Planned {
    start: DateTime<Utc>,
    minutes: f64,
    failure: Option<usize>,
    manual: bool,
}

/// What a person changes, from a moment on.
#[derive(Debug, Clone, Default)]
struct JobState {
    workers: u32,
    arguments: BTreeMap<String, String>,
}

enum TableEvent {
    Additive,
    Breaking { column: String, retyped: bool },
    Rollback,
}

pub fn demo_account(settings: Settings, history: &DemoHistory) -> DemoAccount {
    let start = crate::backtest::asof::parse_time(&history.sim.estate.start_time).unwrap_or_default();
    let now = start + Duration::days(history.days);
    let clock = Arc::new(ManualClock::starting_at(now));
    let estate = InMemoryEstate::new(clock, std::time::Duration::from_secs(30), 1.0);
    let mut sim = history.sim.clone();
    sim.estate.incident_interval_minutes = history.days as f64 * 1_440.0 / history.incidents.max(1) as f64;
    let simulator = Estate::new(sim.clone(), history.seed);
    let incidents: Vec<SimIncident> = (0..history.incidents).map(|number| simulator.incident(number)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(history.seed);
    let mut table_events: BTreeMap<String, Vec<(DateTime<Utc>, TableEvent)>> = BTreeMap::new();
    for job in &sim.jobs {
        let plan = plan_job(job, &incidents, start, now, &sim, &mut rng, &mut table_events);
        seed_job(&estate, &settings, job, &incidents, &plan, now, &mut rng);
    }
    for (qualified, events) in table_events.iter_mut() {
        events.sort_by_key(|(at, _)| *at);
        let (database, table) = qualified.split_once('.').unwrap_or(("default", qualified.as_str()));
        estate.catalog.put_table(database, table, table_versions(start, events), None);
    }
    let mut settings = settings;
    for job in &sim.jobs {
        settings.jobs.insert(
            job.name.clone(),
            JobSettings {
                tables: job.tables.clone(),
                risk_tier: Some(job.risk_tier),
                max_workers: Some(job.max_workers),
                input_arguments: None,
                sources: vec![],
            },
        );
    }
    DemoAccount { estate, now, settings }
}

/// Minutes after `at`, as a time.
fn after(at: DateTime<Utc>, minutes: f64) -> DateTime<Utc> {
    at + Duration::seconds((minutes * 60.0).round() as i64)
}

/// The job's runs in time order: its schedule, the incidents that hit it,
/// and how each ended (later scheduled runs failing until the fix, a
/// person's rerun).
fn plan_job(
    job: &JobSpec,
    incidents: &[SimIncident],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    sim: &SimConfig,
    rng: &mut ChaCha8Rng,
    table_events: &mut BTreeMap<String, Vec<(DateTime<Utc>, TableEvent)>>,
) -> Vec<Planned> {
    let interval = job.schedule_interval_minutes.max(5.0);
    let mut slots = Vec::new();
    let mut at = start - Duration::days(LEAD_DAYS);
    while at < now {
        slots.push(after(at, rng.random_range(0.0..2.0)));
        at = after(at, interval);
    }
    for table in &job.tables {
        table_events.entry(table.clone()).or_default();
    }
    let mut failing: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    let mut manual: Vec<Planned> = Vec::new();
    let mut busy_until = start;
    for (index, incident) in incidents.iter().enumerate().filter(|(_, incident)| incident.job.name == job.name) {
        let failed_at = incident.failed_at.with_timezone(&Utc);
        let Some(slot) = slots.iter().rposition(|slot| *slot <= failed_at) else { continue };
        if slots[slot] < busy_until {
            continue;
        }
        let truth = &incident.truth;
        let fail_minutes = truth.failed_run_minutes.min(job.timeout_minutes as f64);
        let failure_start = slots[slot];
        let next_run_odds = sim.success_probability(incident.cause, crate::core::model::ActionKind::LogAndWait);
        let person_fixes = match incident.cause {
            SimCause::TransientInfra => rng.random::<f64>() >= next_run_odds,
            SimCause::SourceUnavailable => false,
            _ => true,
        };
        let healed_from = if person_fixes {
            after(failure_start, fail_minutes + truth.human_delay_minutes + sim.human.fix_minutes)
        } else if incident.cause == SimCause::SourceUnavailable {
            after(failure_start, truth.lateness_minutes)
        } else {
            after(failure_start, 1.0)
        };
        // Scheduled runs fail until the fix (or the landing), then succeed.
        let mut next = slot;
        while next < slots.len() && (next == slot || slots[next] < healed_from) {
            failing.insert(next, (index, fail_minutes));
            next += 1;
        }
        if person_fixes {
            manual.push(Planned { start: healed_from, minutes: job.run_minutes, failure: None, manual: true });
        }
        busy_until = slots.get(next).copied().unwrap_or(now).max(healed_from);
        record_table_events(job, incident, failure_start, healed_from, person_fixes, table_events);
    }
    let mut planned: Vec<Planned> = slots
        .into_iter()
        .enumerate()
        .map(|(index, start)| match failing.get(&index) {
            Some((incident, minutes)) => Planned { start, minutes: *minutes, failure: Some(*incident), manual: false },
            None => {
                Planned { start, minutes: job.run_minutes * rng.random_range(0.85..1.15), failure: None, manual: false }
            }
        })
        .collect();
    planned.extend(manual);
    planned.sort_by_key(|planned| planned.start);
    planned
}

fn record_table_events(
    job: &JobSpec,
    incident: &SimIncident,
    failure_start: DateTime<Utc>,
    fixed_at: DateTime<Utc>,
    person_fixes: bool,
    table_events: &mut BTreeMap<String, Vec<(DateTime<Utc>, TableEvent)>>,
) {
    let Some(table) = job.tables.first() else { return };
    let truth = &incident.truth;
    let changed_at = after(failure_start, -truth.drift_age_minutes.min(job.schedule_interval_minutes - 5.0).max(5.0));
    let events = table_events.entry(table.clone()).or_default();
    match truth.catalog_story {
        CatalogStory::Unchanged => {}
        CatalogStory::Additive => events.push((changed_at, TableEvent::Additive)),
        CatalogStory::Breaking { retyped } => {
            events.push((changed_at, TableEvent::Breaking { column: truth.column.clone(), retyped }));
            if person_fixes {
                events.push((after(fixed_at, -5.0), TableEvent::Rollback));
            }
        }
    }
}

fn base_columns() -> Vec<Column> {
    [("id", "bigint"), ("created_at", "timestamp"), ("status", "string")]
        .into_iter()
        .chain(["amount", "unit_price", "discount", "quantity", "balance"].map(|name| (name, "double")))
        .map(|(name, data_type)| Column { name: name.to_string(), data_type: data_type.to_string() })
        .collect()
}

/// A table's versions, newest first, from its events in time order.
fn table_versions(start: DateTime<Utc>, events: &[(DateTime<Utc>, TableEvent)]) -> Vec<TableVersion> {
    let mut current = base_columns();
    let mut older = current.clone();
    older.retain(|column| column.name != "status");
    let mut versions = vec![
        (start - Duration::days(LEAD_DAYS + 120), older),
        (start - Duration::days(LEAD_DAYS + 60), current.clone()),
    ];
    let mut before_break: Vec<Vec<Column>> = Vec::new();
    for (at, event) in events {
        let next = match event {
            TableEvent::Additive if current.iter().any(|column| column.name == "ingest_source") => continue,
            TableEvent::Additive => {
                let mut columns = current.clone();
                columns.push(Column { name: "ingest_source".to_string(), data_type: "string".to_string() });
                columns
            }
            TableEvent::Breaking { column, retyped } => {
                before_break.push(current.clone());
                if *retyped {
                    current
                        .iter()
                        .map(|existing| match existing.name == *column {
                            true => Column { name: existing.name.clone(), data_type: "string".to_string() },
                            false => existing.clone(),
                        })
                        .collect()
                } else {
                    current.iter().filter(|existing| existing.name != *column).cloned().collect()
                }
            }
            TableEvent::Rollback => match before_break.pop() {
                Some(columns) => columns,
                None => continue,
            },
        };
        current = next;
        versions.push((*at, current.clone()));
    }
    versions
        .into_iter()
        .enumerate()
        .map(|(index, (at, columns))| TableVersion {
            version_id: (index + 1).to_string(),
            updated_at: Some(crate::backtest::asof::rfc3339(at)),
            columns,
        })
        .rev()
        .collect()
}

/// Put the job, its runs, their logs and its source objects in the estate.
fn seed_job(
    estate: &InMemoryEstate,
    settings: &Settings,
    job: &JobSpec,
    incidents: &[SimIncident],
    plan: &[Planned],
    now: DateTime<Utc>,
    rng: &mut ChaCha8Rng,
) {
    let mut state = JobState {
        workers: job.number_of_workers,
        arguments: BTreeMap::from([
            ("--source_path".to_string(), job.source_path.clone()),
            ("--connection_name".to_string(), "warehouse".to_string()),
            ("--extra-py-files".to_string(), format!("s3://acme-glue-scripts/{}/lib-1.0.zip", job.name)),
        ]),
    };
    let (bucket, prefix) = parse_s3_uri(&job.source_path).unwrap_or_default();
    let mut last_cause = None;
    let mut fixes = 0;
    for planned in plan {
        let failure = planned.failure.map(|index| &incidents[index]);
        if let Some(incident) = failure {
            last_cause = Some(incident.cause);
        }
        if planned.manual {
            fixes += 1;
            apply_fix(&mut state, job, last_cause, fixes);
        }
        let end = after(planned.start, planned.minutes);
        if end > now {
            continue;
        }
        let mut arguments = state.arguments.clone();
        arguments.insert("--run_date".to_string(), planned.start.format("%Y-%m-%dT%H:%M").to_string());
        let key = format!("{}@{}", job.name, planned.start.to_rfc3339());
        let id = format!("jr_{:016x}{:016x}", seed_of(&key), seed_of(&key.chars().rev().collect::<String>()));
        let (run_state, message) = match failure {
            Some(incident) => (
                incident.request.event.detail_str("state").and_then(JobRunState::parse).unwrap_or(JobRunState::Failed),
                incident.request.error_message().map(str::to_string),
            ),
            None => (JobRunState::Succeeded, None),
        };
        estate.job_control.put_run(JobRun {
            id: id.clone(),
            job_name: job.name.clone(),
            state: run_state,
            arguments,
            error_message: message,
            worker_type: Some(job.worker_type.clone()),
            number_of_workers: Some(state.workers),
            execution_time_s: Some((planned.minutes * 60.0).round() as u64),
            timeout_minutes: Some(job.timeout_minutes),
            started_on: Some(planned.start),
            completed_on: Some(end),
            attempt: 0,
            previous_run_id: None,
        });
        if let Some(incident) = failure.filter(|_| end > now - Duration::days(LOG_RETENTION_DAYS)) {
            estate.logs.append(&settings.logs.error_group, &id, incident.request.logs.error.iter().cloned());
            estate.logs.append(&settings.logs.output_group, &id, incident.request.logs.output.iter().cloned());
        }
        if planned.manual {
            continue;
        }
        // The run's input: normally landed before it started; a late source after it failed.
        let landed = match failure.filter(|incident| incident.cause == SimCause::SourceUnavailable) {
            Some(incident) => after(planned.start, incident.truth.lateness_minutes),
            None => after(planned.start, -rng.random_range(5.0..50.0)),
        };
        let key = format!("{prefix}run_date={}/part-0000.json", planned.start.format("%Y-%m-%dT%H%M"));
        estate.objects.put_object_at(bucket, &key, b"{}\n".to_vec(), landed.min(now));
    }
    estate.job_control.put_job(JobDefinition {
        name: job.name.clone(),
        max_retries: 0,
        worker_type: Some(job.worker_type.clone()),
        number_of_workers: Some(state.workers),
        timeout_minutes: Some(job.timeout_minutes),
        default_arguments: state.arguments,
    });
}

/// What the person changed before their rerun, kept from then on.
fn apply_fix(state: &mut JobState, job: &JobSpec, cause: Option<SimCause>, fixes: u32) {
    match cause {
        Some(SimCause::ResourceExhaustion | SimCause::Timeout) => {
            state.workers = (state.workers * 2).min(job.max_workers).max(state.workers);
        }
        Some(SimCause::DataQuality) => {
            let quarantine = format!("s3://etl-medic-quarantine/bad-records/{}/", job.name);
            state.arguments.insert("--bad_records_path".to_string(), quarantine);
        }
        Some(SimCause::PermissionConfig) => {
            state.arguments.insert("--connection_name".to_string(), format!("warehouse-v{}", fixes + 1));
        }
        Some(SimCause::CodeBug) => {
            let library = format!("s3://acme-glue-scripts/{}/lib-1.{fixes}.zip", job.name);
            state.arguments.insert("--extra-py-files".to_string(), library);
        }
        _ => {}
    }
}
