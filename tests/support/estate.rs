//! A Glue estate in moto for the end-to-end tests: the queue EventBridge
//! feeds (with its DLQ), the EventBridge rule, a Glue job, its log groups,
//! the incident table, the audit and data buckets, the escalation topic with
//! an on-call queue subscribed, and the daemon's real worker pool wired to
//! the AWS adapters.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use etl_medic::adapters::wiring::aws_ports;
use etl_medic::config::{JobSettings, Settings};
use etl_medic::core::model::Mode;
use etl_medic::core::safety::SafetySettings;
use etl_medic::daemon::app::Application;
use etl_medic::daemon::pool::DrainReport;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::Moto;

pub const JOB: &str = "orders_daily";
pub const ERROR_GROUP: &str = "/aws-glue/jobs/error";
pub const OUTPUT_GROUP: &str = "/aws-glue/jobs/output";
pub const AUDIT_BUCKET: &str = "etl-medic-audit";
pub const DATA_BUCKET: &str = "lake";
pub const TABLE: &str = "etl-medic-incidents";
pub const MAX_RECEIVE_COUNT: u32 = 3;

pub struct Estate {
    pub moto: Moto,
    pub config: aws_config::SdkConfig,
    pub queue_url: String,
    pub dlq_url: String,
    pub oncall_url: String,
    pub topic_arn: String,
}

impl Estate {
    /// Everything created; Glue runs end as `outcomes` says (see launcher.py).
    /// `queue_visibility_secs` is the main queue's own visibility timeout:
    /// how soon a message left alone (poison) comes back.
    pub async fn new(outcomes: serde_json::Value, queue_visibility_secs: u32) -> Estate {
        Estate::with_glue_max_retries(outcomes, queue_visibility_secs, 0).await
    }

    /// As `new`, with the job's own Glue retries (MaxRetries) set.
    pub async fn with_glue_max_retries(
        outcomes: serde_json::Value,
        queue_visibility_secs: u32,
        max_retries: i32,
    ) -> Estate {
        let moto = Moto::start_with_glue_outcomes(&outcomes);
        let config = moto.sdk_config();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let dlq_url = sqs.create_queue().queue_name("etl-medic-dlq").send().await.unwrap().queue_url.unwrap();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT.to_string()});
        let queue_url = sqs
            .create_queue()
            .queue_name("etl-medic")
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::VisibilityTimeout, queue_visibility_secs.to_string())
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let main_arn = queue_arn(&sqs, &queue_url).await;

        // The deploy template's rule: Glue job state changes etl-medic acts on.
        let events = aws_sdk_eventbridge::Client::new(&config);
        let pattern = json!({
            "source": ["aws.glue"],
            "detail-type": ["Glue Job State Change"],
            "detail": {"state": ["FAILED", "TIMEOUT", "ERROR", "SUCCEEDED", "STOPPED"]}
        });
        events.put_rule().name("etl-medic-glue-failures").event_pattern(pattern.to_string()).send().await.unwrap();
        events
            .put_targets()
            .rule("etl-medic-glue-failures")
            .targets(aws_sdk_eventbridge::types::Target::builder().id("etl-medic").arn(main_arn).build().unwrap())
            .send()
            .await
            .unwrap();

        let sns = aws_sdk_sns::Client::new(&config);
        let topic_arn = sns.create_topic().name("etl-medic-escalations").send().await.unwrap().topic_arn.unwrap();
        let oncall_url = sqs.create_queue().queue_name("oncall").send().await.unwrap().queue_url.unwrap();
        let oncall_arn = queue_arn(&sqs, &oncall_url).await;
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(oncall_arn).send().await.unwrap();

        crate::support::create_incident_table(&moto, TABLE).await;
        let s3 = moto.s3_setup_client();
        for bucket in [AUDIT_BUCKET, DATA_BUCKET] {
            s3.create_bucket().bucket(bucket).send().await.unwrap();
        }
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        for group in [ERROR_GROUP, OUTPUT_GROUP] {
            logs.create_log_group().log_group_name(group).send().await.unwrap();
        }
        create_job(&config, max_retries).await;
        Estate { moto, config, queue_url, dlq_url, oncall_url, topic_arn }
    }

    /// The daemon's settings for this estate: fast polls, short visibility.
    pub fn settings(&self, concurrency: usize) -> Settings {
        let mut settings = Settings::default();
        settings.http.listen = "127.0.0.1:0".to_string();
        settings.queue.url = self.queue_url.clone();
        settings.queue.dead_letter_url = Some(self.dlq_url.clone());
        settings.queue.concurrency = concurrency;
        settings.queue.wait_time_secs = 1;
        settings.queue.visibility_timeout_secs = 30;
        settings.queue.heartbeat_secs = 5;
        settings.incidents.table = TABLE.to_string();
        settings.audit.bucket = AUDIT_BUCKET.to_string();
        settings.audit.retry_base_ms = 50;
        settings.escalation.sns_topic_arn = Some(self.topic_arn.clone());
        settings.logs.error_group = ERROR_GROUP.to_string();
        settings.logs.output_group = OUTPUT_GROUP.to_string();
        settings.quarantine.allowed_prefixes = vec![format!("s3://{DATA_BUCKET}/raw/")];
        settings.shutdown.shutdown_grace_secs = 20;
        settings.jobs.insert(
            JOB.to_string(),
            JobSettings {
                tables: vec!["sales.orders".to_string()],
                risk_tier: None,
                max_workers: Some(40),
                input_arguments: None,
                sources: vec![],
            },
        );
        settings
    }

    /// Safety settings: `mode` for the job, short waits so tests stay quick.
    pub fn safety(&self, mode: Mode) -> SafetySettings {
        SafetySettings { mode: Some(mode), wait_base_delay_s: 2, wait_max_delay_s: 4, ..SafetySettings::default() }
    }

    /// The daemon on the AWS adapters (`Application::build`, as `etl-medic
    /// run` builds it), and its metrics registry.
    pub fn daemon(&self, mut settings: Settings, safety: SafetySettings) -> (Application, prometheus::Registry) {
        settings.safety = safety;
        let ports = aws_ports(&self.moto.connection(), &settings).expect("no webhook to set up");
        settings.policy.path = "rules".to_string();
        let daemon = Application::with_policy(settings, ports, crate::support::harness::rules(), None)
            .expect("the daemon builds");
        let registry = daemon.registry().clone();
        (daemon, registry)
    }

    /// Start a run of the job the way a schedule would (outcome per launcher file).
    pub async fn start_run(&self, arguments: &[(&str, &str)]) -> String {
        let glue = aws_sdk_glue::Client::new(&self.config);
        let mut request = glue.start_job_run().job_name(JOB);
        for (key, value) in arguments {
            request = request.arguments(*key, *value);
        }
        request.send().await.unwrap().job_run_id.unwrap()
    }

    pub async fn run_state(&self, run_id: &str) -> (String, Option<String>) {
        let glue = aws_sdk_glue::Client::new(&self.config);
        let run = glue.get_job_run().job_name(JOB).run_id(run_id).send().await.unwrap().job_run.unwrap();
        (run.job_run_state.unwrap().as_str().to_string(), run.error_message)
    }

    /// Every run of the job, as (id, arguments, worker type, workers).
    pub async fn runs(&self) -> Vec<aws_sdk_glue::types::JobRun> {
        let glue = aws_sdk_glue::Client::new(&self.config);
        glue.get_job_runs().job_name(JOB).send().await.unwrap().job_runs.unwrap_or_default()
    }

    /// What Glue would emit for a run reaching `state`, put on the default
    /// bus so the real rule routes it to the queue.
    pub async fn put_glue_event(&self, run_id: &str, state: &str, message: &str) {
        let events = aws_sdk_eventbridge::Client::new(&self.config);
        let severity = if state == "SUCCEEDED" { "INFO" } else { "ERROR" };
        let detail =
            json!({"jobName": JOB, "severity": severity, "state": state, "jobRunId": run_id, "message": message});
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source("aws.glue")
            .detail_type("Glue Job State Change")
            .detail(detail.to_string())
            .build();
        let output = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(output.failed_entry_count, 0);
    }

    /// The failed run's error log, where Glue's driver writes it.
    pub async fn put_error_log(&self, run_id: &str, lines: &[&str]) {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
        logs.create_log_stream().log_group_name(ERROR_GROUP).log_stream_name(run_id).send().await.unwrap();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        let mut request = logs.put_log_events().log_group_name(ERROR_GROUP).log_stream_name(run_id);
        for (offset, line) in lines.iter().enumerate() {
            let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(start + offset as i64)
                .message(*line)
                .build()
                .unwrap();
            request = request.log_events(event);
        }
        request.send().await.unwrap();
    }

    pub async fn send_raw(&self, body: &str) {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.unwrap();
    }

    /// (visible, in flight) of a queue.
    pub async fn depth(&self, queue_url: &str) -> (u64, u64) {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|value| value.parse().ok()).unwrap_or(0);
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Every audit object, parsed as JSON, by key.
    pub async fn audit_records(&self) -> BTreeMap<String, serde_json::Value> {
        let s3 = self.moto.s3_setup_client();
        let listed = s3.list_objects_v2().bucket(AUDIT_BUCKET).send().await.unwrap();
        let mut records = BTreeMap::new();
        for object in listed.contents.unwrap_or_default() {
            let key = object.key.unwrap();
            let body =
                s3.get_object().bucket(AUDIT_BUCKET).key(&key).send().await.unwrap().body.collect().await.unwrap();
            let parsed: serde_json::Value = serde_json::from_slice(&body.into_bytes())
                .unwrap_or_else(|error| panic!("audit object {key} is not JSON: {error}"));
            records.insert(key, parsed);
        }
        records
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    attributes.attributes.unwrap()[&QueueAttributeName::QueueArn].clone()
}

async fn create_job(config: &aws_config::SdkConfig, max_retries: i32) {
    let glue = aws_sdk_glue::Client::new(config);
    glue.create_job()
        .name(JOB)
        .role("arn:aws:iam::123456789012:role/glue")
        .command(
            aws_sdk_glue::types::JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/orders.py")
                .build(),
        )
        .default_arguments("--source_path", format!("s3://{DATA_BUCKET}/raw/orders/"))
        .worker_type(aws_sdk_glue::types::WorkerType::G1X)
        .number_of_workers(2)
        .max_retries(max_retries)
        .timeout(60)
        .execution_property(aws_sdk_glue::types::ExecutionProperty::builder().max_concurrent_runs(20).build())
        .send()
        .await
        .unwrap();
}

/// The real worker pool of `daemon`, until `done` holds or `timeout`
/// passes; then the same shutdown as SIGTERM and the bounded drain.
pub async fn run_pool_until<F, Fut>(daemon: &Application, timeout: Duration, done: F) -> (bool, DrainReport)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.pool().run(shutdown.clone()));
    let reached = wait_until(timeout, done).await;
    shutdown.cancel();
    let report =
        tokio::time::timeout(Duration::from_secs(60), running).await.expect("the pool drains in time").unwrap();
    (reached, report)
}

/// The whole daemon, started as `etl-medic run` starts it (HTTP endpoints,
/// pool, reconciler and queue-depth refresh), until `done` or `timeout`;
/// then the shutdown and the drain.
pub async fn run_daemon_until<F, Fut>(daemon: Application, timeout: Duration, done: F) -> (bool, DrainReport)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let running = daemon.start().await.expect("the daemon starts");
    let shutdown = CancellationToken::new();
    let stopped = tokio::spawn(running.run_until(shutdown.clone()));
    let reached = wait_until(timeout, done).await;
    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(60), stopped)
        .await
        .expect("the daemon drains in time")
        .unwrap()
        .expect("the daemon stops cleanly");
    (reached, report)
}

async fn wait_until<F, Fut>(timeout: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Serve `/metrics` of `registry` on a free loopback port, as the daemon
/// does; returns the port and the token that stops the server.
pub async fn serve_metrics(registry: &prometheus::Registry) -> (u16, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    let router = etl_medic::daemon::http::router(registry.clone(), etl_medic::daemon::pool::Health::new());
    tokio::spawn(etl_medic::daemon::http::serve(listener, router, stop.clone()));
    (port, stop)
}

/// The metrics as `/metrics` serves them.
pub fn metrics_text(registry: &prometheus::Registry) -> String {
    let mut buffer = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut buffer).unwrap();
    String::from_utf8(buffer).unwrap()
}
