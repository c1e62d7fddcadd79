//! GlueJobControl: GetJob, StartJobRun with arguments and capacity, GetJobRun
//! of runs the launcher makes fail with a chosen message, GetJobRuns history.

use std::collections::BTreeMap;

use etl_medic::adapters::aws::GlueJobControl;
use etl_medic::core::event::JobRunState;
use etl_medic::ports::{JobControl, StartRunRequest};
use serde_json::json;

use crate::support::Moto;

pub async fn create_job(moto: &Moto, name: &str, max_concurrent_runs: i32) {
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    glue.create_job()
        .name(name)
        .role("arn:aws:iam::123456789012:role/glue")
        .command(
            aws_sdk_glue::types::JobCommand::builder().name("glueetl").script_location("s3://scripts/job.py").build(),
        )
        .default_arguments("--source_path", "s3://lake/raw/orders/")
        .default_arguments("--target_path", "s3://lake/curated/orders/")
        .worker_type(aws_sdk_glue::types::WorkerType::G1X)
        .number_of_workers(2)
        .max_retries(1)
        .timeout(60)
        .execution_property(
            aws_sdk_glue::types::ExecutionProperty::builder().max_concurrent_runs(max_concurrent_runs).build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_job_definition_shows_glues_own_retries_and_capacity() {
    let moto = Moto::start();
    create_job(&moto, "orders_daily", 10).await;
    let jobs = GlueJobControl::new(&moto.connection());

    let job = jobs.get_job("orders_daily").await.unwrap();
    assert_eq!(job.max_retries, 1);
    assert_eq!(job.worker_type.as_deref(), Some("G.1X"));
    assert_eq!(job.number_of_workers, Some(2));
    assert_eq!(job.timeout_minutes, Some(60));
    assert_eq!(job.default_arguments.get("--source_path").map(String::as_str), Some("s3://lake/raw/orders/"));

    let missing = jobs.get_job("no_such_job").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    let missing_run = jobs.get_job_run("orders_daily", "jr_missing").await.unwrap_err();
    assert!(missing_run.is_not_found(), "{missing_run:?}");
}

#[tokio::test]
async fn a_started_run_has_the_requested_arguments_and_capacity() {
    let moto = Moto::start();
    create_job(&moto, "orders_daily", 10).await;
    let jobs = GlueJobControl::new(&moto.connection());

    let request = StartRunRequest {
        job_name: "orders_daily".into(),
        arguments: BTreeMap::from([("--source_path".to_string(), "s3://lake/raw/orders/dt=2026-11-29/".to_string())]),
        worker_type: Some("G.2X".into()),
        number_of_workers: Some(8),
        timeout_minutes: None,
    };
    let run_id = jobs.start_job_run(&request).await.unwrap();
    let run = jobs.get_job_run("orders_daily", &run_id).await.unwrap();
    assert_eq!(run.id, run_id);
    assert_eq!(run.state, JobRunState::Succeeded);
    assert_eq!(run.worker_type.as_deref(), Some("G.2X"));
    assert_eq!(run.number_of_workers, Some(8));
    // Our argument replaced the default; the other default is kept (Glue semantics).
    assert_eq!(run.arguments.get("--source_path").map(String::as_str), Some("s3://lake/raw/orders/dt=2026-11-29/"));
    assert_eq!(run.arguments.get("--target_path").map(String::as_str), Some("s3://lake/curated/orders/"));
    assert_eq!(run.error_message, None);
}

#[tokio::test]
async fn runs_end_as_the_launcher_says_with_their_error_message() {
    let oom = "java.lang.OutOfMemoryError: Java heap space";
    let moto = Moto::start_with_glue_outcomes(&json!({
        "orders_daily": [
            {"state": "FAILED", "error_message": oom},
            {"state": "TIMEOUT", "error_message": "Job run timed out", "execution_time_s": 3600},
        ]
    }));
    create_job(&moto, "orders_daily", 10).await;
    let jobs = GlueJobControl::new(&moto.connection());
    let request = StartRunRequest { job_name: "orders_daily".into(), ..StartRunRequest::default() };

    let failed_id = jobs.start_job_run(&request).await.unwrap();
    let failed = jobs.get_job_run("orders_daily", &failed_id).await.unwrap();
    assert_eq!(failed.state, JobRunState::Failed);
    assert_eq!(failed.error_message.as_deref(), Some(oom));

    let timed_out_id = jobs.start_job_run(&request).await.unwrap();
    let timed_out = jobs.get_job_run("orders_daily", &timed_out_id).await.unwrap();
    assert_eq!(timed_out.state, JobRunState::Timeout);
    assert_eq!(timed_out.execution_time_s, Some(3600));

    // Past the planned outcomes, moto's own behaviour: success.
    let healed_id = jobs.start_job_run(&request).await.unwrap();
    assert_eq!(jobs.get_job_run("orders_daily", &healed_id).await.unwrap().state, JobRunState::Succeeded);

    let history = jobs.get_job_runs("orders_daily", 2).await.unwrap();
    assert_eq!(history.len(), 2, "bounded by max_runs");
    let all = jobs.get_job_runs("orders_daily", 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&failed_id.as_str()) && ids.contains(&healed_id.as_str()));
    assert!(all.windows(2).all(|pair| pair[0].started_on >= pair[1].started_on), "newest first");
}

#[tokio::test]
async fn a_run_beyond_the_concurrency_limit_is_rejected_not_retried() {
    let moto = Moto::start();
    // Runs stay STARTING until described twice, so the first one is still active.
    moto.set_transition("glue::job_run", json!({"progression": "manual", "times": 2}));
    create_job(&moto, "orders_daily", 1).await;
    let jobs = GlueJobControl::new(&moto.connection());
    let request = StartRunRequest { job_name: "orders_daily".into(), ..StartRunRequest::default() };

    let first = jobs.start_job_run(&request).await.unwrap();
    let second = jobs.start_job_run(&request).await.unwrap_err();
    assert!(!second.is_retryable(), "{second:?}");
    assert_eq!(second.operation(), etl_medic::ports::Operation::StartJobRun);
    let running = jobs.get_job_run("orders_daily", &first).await.unwrap();
    assert!(matches!(running.state, JobRunState::Starting | JobRunState::Running));
}
