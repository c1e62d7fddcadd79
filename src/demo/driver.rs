//! The demo's driver: it plays the simulated Glue estate around the real
//! daemon. It feeds failures into the queue (one open incident per set of
//! catalog tables, so incidents never see each other's evidence), and when
//! the daemon acts it asks the simulator what the action does, then, after
//! the run's simulated duration on the accelerated clock, ends the run and
//! sends its follow-up event, exactly as EventBridge would.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

use crate::adapters::wiring::InMemoryEstate;
use crate::config::LogsSettings;
use crate::core::evidence::DecideRequest;
use crate::core::model::{Action, ActionKind, FailureClass, Mode};
use crate::daemon::context::IncidentObserver;
use crate::demo::clock::AcceleratedClock;
use crate::demo::seed::{seed_first_failure, seed_follow_up_failure};
use crate::ports::incident_store::incident_id_for;
use crate::ports::{Clock, IncidentRecord};
use crate::sim::cause::SimCause;
use crate::sim::{Estate, Resolution, SimIncident};

/// What the daemon told the demo.
#[derive(Debug)]
pub enum DemoEvent {
    Action { incident_id: String, action: Action, started_run_id: Option<String> },
    Closed { incident_id: String, outcome: &'static str, class: Option<FailureClass> },
}

/// The daemon's observer: forwards to the driver.
pub struct ChannelObserver {
    pub sender: mpsc::UnboundedSender<DemoEvent>,
}

impl IncidentObserver for ChannelObserver {
    fn action_taken(
        &self,
        incident: &IncidentRecord,
        _request: &DecideRequest,
        action: &Action,
        started_run_id: Option<&str>,
    ) {
        let event = DemoEvent::Action {
            incident_id: incident.incident_id.clone(),
            action: action.clone(),
            started_run_id: started_run_id.map(str::to_string),
        };
        // A closed channel only means the demo is over.
        let _ = self.sender.send(event);
    }

    fn incident_closed(&self, incident: &IncidentRecord, outcome: &'static str) {
        let _ = self.sender.send(DemoEvent::Closed {
            incident_id: incident.incident_id.clone(),
            outcome,
            class: incident.class,
        });
    }
}

/// One incident as the demo tracks it: the simulator's truth and what the daemon did.
pub struct DemoIncident {
    pub number: usize,
    pub sim: SimIncident,
    pub job_name: String,
    pub tables: Vec<String>,
    /// What the daemon did, in order.
    pub actions: Vec<ActionKind>,
    /// The daemon's closing outcome label (resolved, escalated, failed, deferred, shadowed).
    pub outcome: Option<&'static str>,
    /// The daemon's diagnosis.
    pub diagnosed: Option<FailureClass>,
    /// Who fixed it in the simulated world.
    pub resolution: Option<Resolution>,
    /// Minutes from the first failure to the fix, simulated.
    pub minutes_to_fix: Option<f64>,
    /// Minutes the manual policy (every failure to a person) takes on the
    /// same incident: the same person, the same delay, the same fix.
    pub manual_minutes: f64,
    /// The daemon is watching the input (`wait_for_source` with this `max_wait_s`).
    pub watching: Option<u64>,
}

impl DemoIncident {
    /// Fixed without a person, and without an action either: etl-medic
    /// logged and waited, and the job's next run healed it.
    pub fn healed_by_waiting(&self) -> bool {
        self.resolution == Some(Resolution::Remediated)
            && self.outcome == Some(crate::metrics::incident_outcome::DEFERRED)
    }
}

pub struct Driver {
    estate: Arc<InMemoryEstate>,
    simulator: Estate,
    clock: Arc<AcceleratedClock>,
    logs: LogsSettings,
    mode: Mode,
    pending: VecDeque<SimIncident>,
    open: BTreeMap<String, DemoIncident>,
    pub finished: Vec<DemoIncident>,
    busy_tables: BTreeSet<String>,
    total: usize,
    started: usize,
}

fn event_time(request: &DecideRequest) -> Option<DateTime<Utc>> {
    request
        .event
        .time
        .as_deref()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&Utc))
}

fn event_body(job: &str, run_id: &str, state: &str, message: &str, time: DateTime<Utc>) -> String {
    serde_json::json!({
        "version": "0", "id": format!("demo-{run_id}-{state}"), "detail-type": "Glue Job State Change",
        "source": "aws.glue", "account": "123456789012", "time": time.to_rfc3339(), "region": "us-east-1", "resources": [],
        "detail": {"jobName": job, "severity": if state == "SUCCEEDED" { "INFO" } else { "ERROR" }, "state": state, "jobRunId": run_id, "message": message}
    })
    .to_string()
}

impl Driver {
    pub fn new(
        estate: Arc<InMemoryEstate>,
        mut simulator: Estate,
        clock: Arc<AcceleratedClock>,
        logs: LogsSettings,
        mode: Mode,
        incidents: usize,
    ) -> Driver {
        let pending: VecDeque<SimIncident> = (0..incidents).map(|_| simulator.next_incident()).collect();
        Driver {
            estate,
            simulator,
            clock,
            logs,
            mode,
            pending,
            open: BTreeMap::new(),
            finished: Vec::new(),
            busy_tables: BTreeSet::new(),
            total: incidents,
            started: 0,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.open.is_empty()
    }

    /// When the next pending failure happens on the simulated clock.
    pub fn next_failure_at(&self) -> Option<DateTime<Utc>> {
        self.pending.iter().map(|sim| sim.failed_at.with_timezone(&Utc)).min()
    }

    /// Feed every pending incident that has happened by now (on the
    /// accelerated clock) and whose job and tables are free.
    pub fn feed(&mut self) {
        let now = self.clock.now();
        let mut still_pending = VecDeque::new();
        while let Some(sim) = self.pending.pop_front() {
            let tables: Vec<String> = sim.job.tables.clone();
            let not_yet = sim.failed_at.with_timezone(&Utc) > now;
            if not_yet
                || tables.iter().any(|table| self.busy_tables.contains(table))
                || self.open.values().any(|open| open.job_name == sim.job.name)
            {
                still_pending.push_back(sim);
                continue;
            }
            self.start(sim, tables);
        }
        self.pending = still_pending;
    }

    fn start(&mut self, sim: SimIncident, tables: Vec<String>) {
        let manual_minutes = self.manual_minutes(&sim);
        let request = sim.request.clone();
        let job_name = sim.job.name.clone();
        let run_id = request.job_run.as_ref().and_then(|run| run.id.clone()).unwrap_or_default();
        // A late source lands when it lands, whatever the daemon does.
        let landing = (sim.cause == SimCause::SourceUnavailable).then(|| {
            let lateness_ms = (sim.truth.lateness_minutes * 60_000.0) as i64;
            (sim.job.source_path.clone(), sim.failed_at.with_timezone(&Utc) + Duration::milliseconds(lateness_ms))
        });
        seed_first_failure(&self.estate, &self.logs, &request);
        for table in &tables {
            self.busy_tables.insert(table.clone());
        }
        self.started += 1;
        let incident_id = incident_id_for(&job_name, &run_id);
        self.open.insert(
            incident_id,
            DemoIncident {
                number: self.started,
                sim,
                job_name,
                tables,
                actions: Vec::new(),
                outcome: None,
                diagnosed: None,
                resolution: None,
                minutes_to_fix: None,
                manual_minutes,
                watching: None,
            },
        );
        if let Some((source_path, lands_at)) = landing {
            self.land_late_source(source_path, lands_at);
        }
        match serde_json::to_string(&request.event) {
            Ok(body) => {
                self.estate.queue.push(body);
            }
            Err(error) => tracing::warn!(error = %error, "demo: event not encodable"),
        }
    }

    /// Put today's input under `source_path` at `lands_at` on the simulated
    /// clock, as the upstream would.
    fn land_late_source(&self, source_path: String, lands_at: DateTime<Utc>) {
        let Some((bucket, prefix)) = crate::ports::object_store::parse_s3_uri(&source_path) else { return };
        let (bucket, key) = (bucket.to_string(), format!("{prefix}landed/part-0000.json"));
        let real_wait = self.clock.real_duration((lands_at - self.clock.now()).num_milliseconds() as f64 / 60_000.0);
        let estate = self.estate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(real_wait).await;
            estate.objects.put_object_at(&bucket, &key, b"{}\n".to_vec(), lands_at);
        });
    }

    /// What the manual policy takes on `sim`: escalated at once, on a copy,
    /// so the incident itself is untouched.
    fn manual_minutes(&self, sim: &SimIncident) -> f64 {
        let mut copy = sim.clone();
        self.simulator.apply(&mut copy, &Action::Escalate { reason: "the manual policy".to_string() });
        copy.elapsed_minutes
    }

    /// React to the daemon; returns the incident closed by this event, if any.
    pub fn handle(&mut self, event: DemoEvent) -> Option<&DemoIncident> {
        match event {
            DemoEvent::Action { incident_id, action, started_run_id } => {
                self.on_action(&incident_id, &action, started_run_id);
                None
            }
            DemoEvent::Closed { incident_id, outcome, class } => self.on_closed(&incident_id, outcome, class),
        }
    }

    fn on_action(&mut self, incident_id: &str, action: &Action, started_run_id: Option<String>) {
        let Some(incident) = self.open.get_mut(incident_id) else { return };
        incident.actions.push(action.kind());
        if let (Action::WaitForSource { max_wait_s }, None) = (action, started_run_id.as_ref()) {
            // The daemon watches the input; the run (or the deadline) comes later.
            incident.watching = Some(*max_wait_s);
            return;
        }
        // The watch saw the input land and the daemon started a run: the
        // simulated incident waited as long as the landing took.
        let watched = incident.watching.take().map_or(0.0, |max_wait_s| {
            let waited = crate::sim::outcome::source_wait_minutes(&incident.sim, max_wait_s).unwrap_or(0.0);
            incident.sim.elapsed_minutes += waited;
            waited
        });
        match started_run_id {
            Some(run_id) if self.mode == Mode::Auto => {
                // A wait_and_retry's delay, or a source wait, already passed on the daemon's side.
                let waited = match action {
                    Action::WaitAndRetry { delay_s } => *delay_s as f64 / 60.0,
                    Action::WaitForSource { max_wait_s } => {
                        crate::sim::outcome::source_wait_minutes(&incident.sim, *max_wait_s).unwrap_or(0.0)
                    }
                    _ => 0.0,
                } + watched;
                let outcome = self.simulator.apply(&mut incident.sim, action);
                let run_minutes = (outcome.minutes - waited).max(0.0);
                let real_wait = self.clock.real_duration(run_minutes);
                let estate = self.estate.clone();
                let logs = self.logs.clone();
                let job = incident.job_name.clone();
                if outcome.success {
                    let closed_at = incident.sim.failed_at.with_timezone(&Utc)
                        + Duration::milliseconds((incident.sim.elapsed_minutes * 60_000.0) as i64);
                    incident.resolution = Some(Resolution::Remediated);
                    incident.minutes_to_fix = Some(incident.sim.elapsed_minutes);
                    tokio::spawn(async move {
                        tokio::time::sleep(real_wait).await;
                        if let Err(error) =
                            estate.job_control.finish_run(&run_id, crate::core::event::JobRunState::Succeeded, None)
                        {
                            tracing::warn!(error = %error, "demo: run to finish is unknown");
                        }
                        estate.queue.push(event_body(&job, &run_id, "SUCCEEDED", "", closed_at));
                    });
                } else if let Some(next) = outcome.next_request {
                    tokio::spawn(async move {
                        tokio::time::sleep(real_wait).await;
                        seed_follow_up_failure(&estate, &logs, &next, &run_id);
                        let state = next.event.detail_str("state").unwrap_or("FAILED").to_string();
                        let message = next.error_message().unwrap_or_default().to_string();
                        let time = event_time(&next).unwrap_or_else(|| estate.clock.now());
                        estate.queue.push(event_body(&job, &run_id, &state, &message, time));
                    });
                }
            }
            _ => {
                // Escalation, log_and_wait, or shadow mode: nothing runs; the
                // simulator says when the job healed or a person fixed it.
                if self.mode == Mode::Auto && action.kind() == ActionKind::LogAndWait {
                    let outcome = self.simulator.apply(&mut incident.sim, action);
                    if outcome.closed {
                        incident.resolution = Some(Resolution::Remediated);
                        incident.minutes_to_fix = Some(incident.sim.elapsed_minutes);
                        return;
                    }
                }
                let escalation = Action::Escalate { reason: "a person takes over".to_string() };
                self.simulator.apply(&mut incident.sim, &escalation);
                incident.resolution = Some(Resolution::Human);
                incident.minutes_to_fix = Some(incident.sim.elapsed_minutes);
            }
        }
    }

    fn on_closed(
        &mut self,
        incident_id: &str,
        outcome: &'static str,
        class: Option<FailureClass>,
    ) -> Option<&DemoIncident> {
        let mut incident = self.open.remove(incident_id)?;
        incident.outcome = Some(outcome);
        incident.diagnosed = class;
        if let Some(max_wait_s) = incident.watching.take() {
            // The watch ran to its deadline without a landing.
            incident.sim.elapsed_minutes += max_wait_s as f64 / 60.0;
        }
        if incident.resolution.is_none() {
            // Closed without a fix (an action that could not be carried out): a person takes over.
            let escalation = Action::Escalate { reason: "a person takes over".to_string() };
            self.simulator.apply(&mut incident.sim, &escalation);
            incident.resolution = Some(Resolution::Human);
            incident.minutes_to_fix = Some(incident.sim.elapsed_minutes);
        }
        for table in &incident.tables {
            self.busy_tables.remove(table);
        }
        self.finished.push(incident);
        self.feed();
        self.finished.last()
    }
}
