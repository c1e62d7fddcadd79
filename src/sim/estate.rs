//! The estate: draws incidents from the fault model. Incident `n` depends
//! only on the configuration, the seed and `n` (each incident has its own
//! ChaCha stream), so every policy evaluated on the same seed sees exactly
//! the same incidents, and the human delay of an escalation is drawn up
//! front so that every policy that escalates an incident waits as long.

use chrono::{DateTime, Duration, FixedOffset};
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use crate::core::model::Action;
use crate::sim::cause::SimCause;
use crate::sim::config::{SimConfig, dpu_per_worker};
use crate::sim::messages::{MessageContext, symptom, wrapper_message};
use crate::sim::observe::{CatalogStory, build_request};
use crate::sim::outcome::Preview;
use crate::sim::{IncidentTruth, SimIncident, StepOutcome};

const DRIFT_COLUMNS: [&str; 5] = ["amount", "unit_price", "discount", "quantity", "balance"];

pub struct Estate {
    config: SimConfig,
    seed: u64,
    next_number: u64,
    start_time: DateTime<FixedOffset>,
}

impl Estate {
    pub fn new(config: SimConfig, seed: u64) -> Estate {
        // An unparsable start time falls back to a fixed date rather than
        // failing: the time only labels evidence, it changes no outcome.
        let start_time = DateTime::parse_from_rfc3339(&config.estate.start_time)
            .unwrap_or_else(|_| DateTime::<FixedOffset>::default() + Duration::days(20_000));
        Estate { config, seed, next_number: 0, start_time }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The next incident of the estate.
    pub fn next_incident(&mut self) -> SimIncident {
        let number = self.next_number;
        self.next_number += 1;
        self.incident(number)
    }

    /// Incident number `number`, independent of any other.
    pub fn incident(&self, number: u64) -> SimIncident {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(number);
        let config = &self.config;
        let job_weights: Vec<f64> = config.jobs.iter().map(|job| job.weight).collect();
        let job = match WeightedIndex::new(&job_weights) {
            Ok(index) => config.jobs[index.sample(&mut rng)].clone(),
            Err(_) => config.jobs[0].clone(),
        };
        let causes: Vec<(SimCause, f64)> = config.causes.iter().map(|(cause, weight)| (*cause, *weight)).collect();
        // validate() guarantees a positive weight, so WeightedIndex succeeds.
        let cause = match WeightedIndex::new(causes.iter().map(|(_, weight)| *weight)) {
            Ok(index) => causes[index.sample(&mut rng)].0,
            Err(_) => SimCause::TransientInfra,
        };
        let failed_at = self.start_time
            + Duration::seconds((number as f64 * config.estate.incident_interval_minutes * 60.0) as i64)
            + Duration::seconds(rng.random_range(0..600));
        let truth = draw_truth(config, &job, cause, failed_at, &mut rng);
        let mut incident = SimIncident {
            id: format!("inc-{:06}", number),
            cause,
            number_of_workers: job.number_of_workers,
            worker_type: job.worker_type.clone(),
            job,
            request: placeholder_request(),
            elapsed_minutes: 0.0,
            actions_taken: Vec::new(),
            closed: false,
            truth,
            failed_at,
            rng: ChaCha8Rng::seed_from_u64(rng.random()),
        };
        incident.request = build_request(&incident, &config.estate.account, &config.estate.region);
        incident
    }

    /// Applies `action` to `incident`: draws its outcome, advances the
    /// incident's clock and, when it failed, the incident's next observation.
    pub fn apply(&self, incident: &mut SimIncident, action: &Action) -> StepOutcome {
        crate::sim::outcome::apply(&self.config, incident, action)
    }

    /// What `action` would do to `incident`, in expectation, without drawing
    /// anything: for the oracle, which knows the truth and plans ahead.
    pub fn preview(&self, incident: &SimIncident, action: &Action) -> Preview {
        crate::sim::outcome::preview(&self.config, incident, action)
    }
}

fn placeholder_request() -> crate::core::evidence::DecideRequest {
    crate::core::evidence::DecideRequest {
        id: serde_json::Value::Null,
        event: Default::default(),
        job_run: None,
        logs: Default::default(),
        catalog: Vec::new(),
        history: Default::default(),
        job: Default::default(),
        context: Default::default(),
    }
}

fn lognormal(median: f64, sigma: f64, rng: &mut ChaCha8Rng) -> f64 {
    match LogNormal::new(median.ln(), sigma) {
        Ok(distribution) => distribution.sample(rng),
        Err(_) => median,
    }
}

fn draw_truth(
    config: &SimConfig,
    job: &crate::sim::JobSpec,
    cause: SimCause,
    failed_at: DateTime<FixedOffset>,
    rng: &mut ChaCha8Rng,
) -> IncidentTruth {
    let noise = &config.evidence;
    let column = DRIFT_COLUMNS[rng.random_range(0..DRIFT_COLUMNS.len())].to_string();
    let current_dpu = job.number_of_workers as f64 * dpu_per_worker(&job.worker_type).unwrap_or(1.0);
    let needed_dpu = match cause {
        SimCause::ResourceExhaustion | SimCause::Timeout => {
            current_dpu * rng.random_range(config.capacity.needed_factor_min..config.capacity.needed_factor_max)
        }
        _ => current_dpu,
    };
    let lateness_minutes = match cause {
        SimCause::SourceUnavailable => lognormal(config.lateness.median_minutes, config.lateness.sigma, rng),
        _ => 0.0,
    };
    let first_table = job.tables.first().cloned().unwrap_or_else(|| "default.input".to_string());
    let (database, table) = first_table.split_once('.').unwrap_or(("default", first_table.as_str()));
    let catalog_story = if cause == SimCause::SchemaDrift {
        CatalogStory::Breaking { retyped: rng.random_bool(0.6) }
    } else if rng.random_bool(noise.additive_drift_fraction) {
        CatalogStory::Additive
    } else {
        CatalogStory::Unchanged
    };
    let good_version =
        (cause == SimCause::SchemaDrift).then(|| (database.to_string(), table.to_string(), "3".to_string()));
    let shared_family = rng.random_bool(noise.shared_family_fraction);
    let partition_date = failed_at.format("%Y-%m-%d").to_string();
    let context = MessageContext {
        source_path: &job.source_path,
        table: &first_table,
        column: &column,
        partition_date: &partition_date,
        timeout_minutes: job.timeout_minutes,
    };
    let symptom = symptom(cause, shared_family, &context, rng);
    let failed_run_minutes = failed_run_minutes(cause, job, rng);
    let not_drift = cause != SimCause::SchemaDrift;
    IncidentTruth {
        cause,
        lateness_minutes,
        needed_dpu,
        good_version,
        human_delay_minutes: 60.0 * lognormal(config.human.median_hours, config.human.sigma, rng),
        symptom,
        wrapper: wrapper_message(rng),
        wrapper_only: rng.random_bool(noise.wrapper_only_fraction),
        error_log_present: rng.random_bool(noise.error_log_present_fraction),
        catalog_story,
        stale_schema_warning: not_drift && rng.random_bool(noise.stale_schema_warning_fraction),
        unrelated_late_source: cause != SimCause::SourceUnavailable
            && rng.random_bool(noise.unrelated_late_source_fraction),
        context_missing: rng.random_bool(noise.context_missing_fraction),
        history_missing: rng.random_bool(noise.history_missing_fraction),
        column,
        stale_days: rng.random_range(5..40),
        drift_age_minutes: rng.random_range(30.0..(job.schedule_interval_minutes.max(61.0) - 15.0)),
        normal_source_lag_minutes: rng.random_range(5.0..50.0),
        failed_run_minutes,
        earlier_failure: rng.random_bool(0.15).then(|| rng.random_range(2..=5)),
        event_id: format!("{:08x}-{:04x}", rng.random::<u32>(), rng.random::<u16>()),
    }
}

/// The mean of [`failed_run_minutes`]: the middle of each range.
pub(crate) fn expected_failed_run_minutes(cause: SimCause, job: &crate::sim::JobSpec) -> f64 {
    match cause {
        SimCause::TransientInfra => job.run_minutes * 0.5,
        SimCause::ResourceExhaustion => job.run_minutes * 0.675,
        SimCause::SchemaDrift => 1.0 + job.run_minutes * 0.125,
        SimCause::DataQuality => job.run_minutes * 0.55,
        SimCause::SourceUnavailable => 1.25,
        SimCause::PermissionConfig => 0.9,
        SimCause::CodeBug => 2.25,
        SimCause::Timeout => job.timeout_minutes as f64,
    }
}

/// How long a run of this cause runs before it fails.
pub(crate) fn failed_run_minutes(cause: SimCause, job: &crate::sim::JobSpec, rng: &mut ChaCha8Rng) -> f64 {
    match cause {
        SimCause::TransientInfra => job.run_minutes * rng.random_range(0.1..0.9),
        SimCause::ResourceExhaustion => job.run_minutes * rng.random_range(0.4..0.95),
        SimCause::SchemaDrift => 1.0 + job.run_minutes * rng.random_range(0.05..0.2),
        SimCause::DataQuality => job.run_minutes * rng.random_range(0.3..0.8),
        SimCause::SourceUnavailable => rng.random_range(0.5..2.0),
        SimCause::PermissionConfig => rng.random_range(0.3..1.5),
        SimCause::CodeBug => rng.random_range(0.5..4.0),
        SimCause::Timeout => job.timeout_minutes as f64,
    }
}
