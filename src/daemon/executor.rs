//! The executor: the only code that changes anything in Glue, the catalog or
//! S3, and it only does so holding a safety [`Permit`]. Every function here
//! takes `&Permit` and acts on exactly the action the permit names, for
//! exactly the job it names; shadow mode never reaches this module.
//!
//! Every effect is idempotent by construction, so that a step carried out
//! again after its outcome was lost cannot double it: the run it starts
//! carries the step's marker ([`RUN_MARKER_ARGUMENT`]), which the settler
//! looks for before any second StartJobRun; a rollback whose table already
//! has the known-good columns is not repeated; an object already in
//! quarantine is not moved again (docs/safety.md, "Idempotent actions").

use std::collections::BTreeMap;

use serde_json::json;
use thiserror::Error;

use crate::core::evidence::{Column, DecideRequest};
use crate::core::model::{Action, QuarantinePlan};
use crate::core::s3::S3Location;
use crate::core::safety::Permit;
use crate::daemon::context::PipelineContext;
use crate::ports::{Operation, PortError, RUN_MARKER_ARGUMENT, StartRunRequest};

/// What was done.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// The run started for the action, if it started one.
    pub started_run_id: Option<String>,
    /// A readable account for the audit record.
    pub detail: serde_json::Value,
}

#[derive(Debug, Error)]
pub enum ExecutionError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("the action is outside the executor's bounds: {0}")]
    OutOfBounds(String),
    #[error("the permit is for job {permit_job}, not {job}")]
    WrongJob { permit_job: String, job: String },
    #[error("{0} needs no permit and is never executed here")]
    NotExecutable(&'static str),
}

impl ExecutionError {
    /// Whether trying the same action again later may work. Such a failure
    /// may also have left an effect behind (a 5xx or a lost answer after
    /// the request reached AWS): the step is settled by looking before it
    /// is carried out again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExecutionError::Port(error) if error.is_retryable())
    }
}

/// What a step is carried out on besides its permit.
pub struct StepInput<'a> {
    /// The evidence the step was decided on: the failed run's arguments and
    /// capacity, and the catalog versions a rollback is guarded by.
    pub request: &'a DecideRequest,
    /// The job's own default arguments, when GetJob could be read: the
    /// marker is never set over one of them.
    pub job_defaults: Option<&'a BTreeMap<String, String>>,
    /// The step's token, the value of the run's marker.
    pub step_token: &'a str,
}

/// Carry out the permitted action: any preparation (rollback, quarantine
/// moves), then the marked rerun.
pub async fn execute(
    context: &PipelineContext,
    permit: &Permit,
    input: &StepInput<'_>,
) -> Result<Executed, ExecutionError> {
    let job_name = input.request.job_name().unwrap_or_default().to_string();
    if permit.job_name() != job_name {
        return Err(ExecutionError::WrongJob { permit_job: permit.job_name().to_string(), job: job_name });
    }
    let failed_run = input.request.job_run.as_ref();
    let mut arguments = failed_run.map(|run| run.arguments.clone()).unwrap_or_default();
    // The failed run may be an earlier step's rerun: its marker is not this step's.
    arguments.remove(RUN_MARKER_ARGUMENT);
    let run_worker_type = failed_run.and_then(|run| run.worker_type.clone());
    let base = StartRunRequest { job_name: job_name.clone(), arguments, ..StartRunRequest::default() };
    let (request, detail) = match permit.action() {
        Action::Retry {} | Action::WaitAndRetry { .. } => (base, json!({"rerun": "same arguments"})),
        // Reached only once the watched input has landed (decision_round).
        Action::WaitForSource { .. } => (base, json!({"rerun": "same arguments", "after": "source landed"})),
        Action::RetryWithMoreCapacity { number_of_workers, worker_type } => {
            let worker_type = worker_type.clone().or(run_worker_type);
            let detail = json!({"number_of_workers": number_of_workers, "worker_type": worker_type});
            (StartRunRequest { number_of_workers: Some(*number_of_workers), worker_type, ..base }, detail)
        }
        Action::RollbackSchema { database, table, version_id } => {
            let evidence = input
                .request
                .catalog
                .iter()
                .find(|evidence| evidence.database == *database && evidence.table == *table);
            let seen =
                evidence.and_then(|evidence| evidence.versions.first()).map(|version| version.version_id.as_str());
            let known_good = evidence
                .and_then(|evidence| evidence.versions.iter().find(|version| version.version_id == *version_id))
                .map(|version| version.columns.as_slice());
            let detail = rollback(context, database, table, version_id, seen, known_good).await?;
            (base, detail)
        }
        Action::QuarantineBadRecords(plan) => quarantine(context, plan, base).await?,
        Action::Escalate { .. } => return Err(ExecutionError::NotExecutable("escalate")),
        Action::LogAndWait {} => return Err(ExecutionError::NotExecutable("log_and_wait")),
    };
    let request = marked(request, input)?;
    let started_run_id = context.ports.job_control.start_job_run(&request).await?;
    tracing::info!(run_id = %started_run_id, action = permit.action().kind().as_str(), marker = input.step_token, "started a remediation run");
    Ok(Executed { started_run_id: Some(started_run_id), detail })
}

/// The rerun with the step's marker. Refused when the job itself uses the
/// marker's name: setting it would change the job's input, and without it
/// the run could not be told apart from another.
fn marked(mut request: StartRunRequest, input: &StepInput<'_>) -> Result<StartRunRequest, ExecutionError> {
    let job_uses_it = input.job_defaults.is_some_and(|defaults| defaults.contains_key(RUN_MARKER_ARGUMENT));
    if job_uses_it || request.arguments.contains_key(RUN_MARKER_ARGUMENT) {
        return Err(ExecutionError::OutOfBounds(format!(
            "job {} uses the argument {RUN_MARKER_ARGUMENT} itself, which etl-medic marks its runs with; \
             rename the job's argument so that etl-medic's runs can be told apart",
            request.job_name
        )));
    }
    request.arguments.insert(RUN_MARKER_ARGUMENT.to_string(), input.step_token.to_string());
    Ok(request)
}

/// UpdateTable back to `version_id`. The decision was made on the newest
/// version the evidence saw (`seen`); if the table moved on since, someone
/// changed it after the decision and the rollback is refused rather than
/// overwriting their change. UpdateTable itself is guarded by that version
/// (VersionId), so a change between GetTable and UpdateTable fails too.
/// A table whose current columns already are the known-good ones was
/// restored already (by an earlier try of this step whose answer was lost,
/// or by a person): it is left alone and the rerun goes ahead.
async fn rollback(
    context: &PipelineContext,
    database: &str,
    table: &str,
    version_id: &str,
    seen: Option<&str>,
    known_good: Option<&[Column]>,
) -> Result<serde_json::Value, ExecutionError> {
    let catalog = &context.ports.catalog;
    let current = catalog.get_table(database, table).await?;
    let current_version = current.version_id.ok_or_else(|| {
        ExecutionError::OutOfBounds(format!("{database}.{table} has no current version id to guard on"))
    })?;
    if current_version == version_id || known_good.is_some_and(|columns| columns == current.columns.as_slice()) {
        return Ok(json!({
            "table": format!("{database}.{table}"),
            "restored_version": version_id,
            "already_restored": true,
            "current_version": current_version,
        }));
    }
    match seen {
        Some(seen) if seen != current_version => {
            return Err(ExecutionError::OutOfBounds(format!(
                "{database}.{table} changed after the decision: the evidence saw version {seen}, the catalog is now at {current_version}"
            )));
        }
        Some(_) => {}
        None => {
            return Err(ExecutionError::OutOfBounds(format!(
                "{database}.{table} was not in the evidence, so there is no version the decision was made on"
            )));
        }
    }
    let outcome = catalog.rollback_to_version(database, table, version_id, &current_version).await?;
    Ok(json!({
        "table": format!("{database}.{table}"),
        "from_version": current_version,
        "restored_version": version_id,
        "new_version": outcome.new_version_id,
    }))
}

/// Move the named objects under the quarantine prefix (bounded by the
/// allowed prefixes, a count and a byte total), or set the bad-records
/// argument; the rerun follows in both cases.
async fn quarantine(
    context: &PipelineContext,
    plan: &QuarantinePlan,
    base: StartRunRequest,
) -> Result<(StartRunRequest, serde_json::Value), ExecutionError> {
    match plan {
        QuarantinePlan::BadRecordsArgument { argument, value } => {
            let mut arguments: BTreeMap<String, String> = base.arguments.clone();
            arguments.insert(argument.clone(), value.clone());
            let detail = json!({"argument": argument, "value": value});
            Ok((StartRunRequest { arguments, ..base }, detail))
        }
        QuarantinePlan::MoveObjects { objects, quarantine_prefix } => {
            let moved = move_objects(context, objects, quarantine_prefix).await?;
            Ok((base, json!({"moved": moved})))
        }
    }
}

async fn move_objects(
    context: &PipelineContext,
    objects: &[String],
    quarantine_prefix: &str,
) -> Result<Vec<serde_json::Value>, ExecutionError> {
    let bounds = &context.settings.quarantine;
    if objects.len() > bounds.max_objects as usize {
        return Err(ExecutionError::OutOfBounds(format!(
            "{} objects exceed max_objects {}",
            objects.len(),
            bounds.max_objects
        )));
    }
    // Check every object before moving any, so a plan is carried out whole or not at all.
    let mut planned = Vec::with_capacity(objects.len());
    let mut total_bytes: u64 = 0;
    // Compared by bucket and key, never as text: `s3://lake/` as a text
    // prefix would admit `s3://lakehouse/...`. Entries are checked at start-up.
    let allowed: Vec<S3Location> =
        bounds.allowed_prefixes.iter().filter_map(|prefix| S3Location::parse(prefix)).collect();
    for uri in objects {
        let object = S3Location::parse_object(uri)
            .ok_or_else(|| ExecutionError::OutOfBounds(format!("{uri} is not an s3:// object")))?;
        if !allowed.iter().any(|prefix| prefix.contains(&object)) {
            return Err(ExecutionError::OutOfBounds(format!("{uri} is not under an allowed quarantine prefix")));
        }
        let (bucket, key) = (object.bucket.as_str(), object.key.as_str());
        let (size, already_moved) = locate(context, bucket, key, quarantine_prefix).await?;
        total_bytes = total_bytes.saturating_add(size);
        planned.push((bucket.to_string(), key.to_string(), size, already_moved));
    }
    if total_bytes > bounds.max_bytes {
        return Err(ExecutionError::OutOfBounds(format!("{total_bytes} bytes exceed max_bytes {}", bounds.max_bytes)));
    }
    let mut moved = Vec::with_capacity(planned.len());
    let mut done: Vec<(String, String, String)> = Vec::with_capacity(planned.len());
    for (bucket, key, size, already_moved) in planned {
        let destination = format!("{quarantine_prefix}{key}");
        if already_moved {
            moved.push(json!({"from": format!("s3://{bucket}/{key}"), "to": format!("s3://{bucket}/{destination}"), "bytes": size, "already_moved": true}));
            continue;
        }
        if let Err(error) = context.ports.objects.move_object(&bucket, &key, &destination).await {
            // Put back what this plan already moved, so that a failed plan
            // leaves the input as it was (and a retry finds every object).
            let mut not_restored = Vec::new();
            for (bucket, key, destination) in done.iter().rev() {
                if context.ports.objects.move_object(bucket, destination, key).await.is_err() {
                    not_restored.push(format!("s3://{bucket}/{destination}"));
                }
            }
            if !not_restored.is_empty() {
                tracing::error!(error = %error, ?not_restored, "quarantine failed halfway and some objects could not be moved back");
                return Err(ExecutionError::OutOfBounds(format!(
                    "quarantine failed halfway ({error}); these objects stay in quarantine and need a person: {}",
                    not_restored.join(", ")
                )));
            }
            return Err(error.into());
        }
        moved.push(json!({"from": format!("s3://{bucket}/{key}"), "to": format!("s3://{bucket}/{destination}"), "bytes": size}));
        done.push((bucket, key, destination));
    }
    Ok(moved)
}

/// Where an object of the plan is: its size, and whether it is in
/// quarantine already (gone from its place, present under the quarantine
/// prefix: an earlier try of this step moved it and its answer was lost).
/// Neither place is `NotFound`.
async fn locate(
    context: &PipelineContext,
    bucket: &str,
    key: &str,
    quarantine_prefix: &str,
) -> Result<(u64, bool), ExecutionError> {
    let objects = &context.ports.objects;
    let size_at = |listed: Vec<crate::ports::ObjectSummary>, wanted: &str| {
        listed.into_iter().find(|object| object.key == wanted).map(|object| object.size_bytes)
    };
    if let Some(size) = size_at(objects.list_objects(bucket, key, 1).await?, key) {
        return Ok((size, false));
    }
    let destination = format!("{quarantine_prefix}{key}");
    match size_at(objects.list_objects(bucket, &destination, 1).await?, &destination) {
        Some(size) => Ok((size, true)),
        None => Err(PortError::not_found(Operation::ListObjectsV2, format!("s3://{bucket}/{key}")).into()),
    }
}
