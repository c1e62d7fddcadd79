//! A fleet of Glue jobs in moto for the reliability tests and the load
//! benchmark: the EventBridge rule feeding the queue (with its DLQ), `jobs`
//! Glue jobs whose first run fails, the incident table, the audit bucket,
//! the escalation topic and the log groups; plus what a test needs to watch
//! the outcome from outside the daemon: runs per job, incident states, DLQ
//! contents, and the settings (in code or as `ETL_MEDIC__` variables for
//! the real binary).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sqs::types::QueueAttributeName;
use etl_medic::adapters::aws::{AwsConnection, DynamoIncidentStore};
use etl_medic::config::Settings;
use etl_medic::core::model::Mode;
use etl_medic::core::safety::SafetySettings;
use etl_medic::ports::incident_store::incident_id_for;
use etl_medic::ports::{IncidentRecord, IncidentStore};
use serde_json::json;

use crate::support::Moto;

pub const ERROR_GROUP: &str = "/aws-glue/jobs/error";
pub const OUTPUT_GROUP: &str = "/aws-glue/jobs/output";
pub const AUDIT_BUCKET: &str = "etl-medic-audit";
pub const TABLE: &str = "etl-medic-incidents";
pub const TRANSIENT: &str = "java.net.SocketTimeoutException: Read timed out while reading s3://lake/raw/orders/";

pub struct Fleet {
    pub moto: Moto,
    pub config: aws_config::SdkConfig,
    pub queue_url: String,
    pub dlq_url: String,
    pub topic_arn: String,
    pub jobs: Vec<String>,
}

pub fn job_name(index: usize) -> String {
    format!("job_{index:04}")
}

impl Fleet {
    /// `jobs` jobs whose first `failures_per_job` runs fail with a transient
    /// error and later runs succeed; the queue's own visibility timeout and
    /// redrive count as given.
    pub async fn new(
        jobs: usize,
        failures_per_job: usize,
        queue_visibility_secs: u32,
        max_receive_count: u32,
    ) -> Fleet {
        let names: Vec<String> = (0..jobs).map(job_name).collect();
        let failing: Vec<serde_json::Value> =
            (0..failures_per_job).map(|_| json!({"state": "FAILED", "error_message": TRANSIENT})).collect();
        let outcomes: serde_json::Map<String, serde_json::Value> =
            names.iter().map(|name| (name.clone(), json!(failing))).collect();
        let moto = Moto::start_with_glue_outcomes(&serde_json::Value::Object(outcomes));
        // Runs reach their terminal state on the first read: no test waits on moto's clock.
        moto.set_transition("glue::job_run", json!({"progression": "immediate"}));
        let config = moto.sdk_config();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let dlq_url = sqs.create_queue().queue_name("etl-medic-dlq").send().await.unwrap().queue_url.unwrap();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()});
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
        let events = aws_sdk_eventbridge::Client::new(&config);
        let pattern = json!({"source": ["aws.glue"], "detail-type": ["Glue Job State Change"],
                             "detail": {"state": ["FAILED", "TIMEOUT", "ERROR", "SUCCEEDED", "STOPPED"]}});
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
        crate::support::create_incident_table(&moto, TABLE).await;
        moto.s3_setup_client().create_bucket().bucket(AUDIT_BUCKET).send().await.unwrap();
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        for group in [ERROR_GROUP, OUTPUT_GROUP] {
            logs.create_log_group().log_group_name(group).send().await.unwrap();
        }
        let glue = aws_sdk_glue::Client::new(&config);
        for name in &names {
            glue.create_job()
                .name(name)
                .role("arn:aws:iam::123456789012:role/glue")
                .command(
                    aws_sdk_glue::types::JobCommand::builder()
                        .name("glueetl")
                        .script_location("s3://scripts/job.py")
                        .build(),
                )
                .worker_type(aws_sdk_glue::types::WorkerType::G1X)
                .number_of_workers(2)
                .max_retries(0)
                .timeout(60)
                .execution_property(
                    aws_sdk_glue::types::ExecutionProperty::builder().max_concurrent_runs(1_000).build(),
                )
                .send()
                .await
                .unwrap();
        }
        Fleet { moto, config, queue_url, dlq_url, topic_arn, jobs: names }
    }

    /// The daemon's settings for this fleet, fast polls, `concurrency` slots.
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
        settings.shutdown.shutdown_grace_secs = 20;
        settings
    }

    /// Auto mode, and budgets wide enough (within the hard limits) that a
    /// fleet of failures is remediated rather than rate-limited.
    pub fn safety(&self) -> SafetySettings {
        let mut safety = SafetySettings::default();
        safety.mode = Some(Mode::Auto);
        safety.fleet_action_limit = 1_000;
        safety.fleet_window_s = 60;
        safety.job_action_budget = 50;
        safety.job_budget_window_s = 3_600;
        safety.breaker_min_outcomes = 50;
        safety.wait_base_delay_s = 2;
        safety.wait_max_delay_s = 4;
        safety
    }

    /// The same settings as `ETL_MEDIC__` variables plus the AWS environment,
    /// for `etl-medic run` pointed at `endpoint_url`.
    pub fn daemon_environment(&self, endpoint_url: &str, concurrency: usize, listen: &str) -> Vec<(String, String)> {
        let pairs = [
            ("AWS_ENDPOINT_URL", endpoint_url.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("ETL_MEDIC__QUEUE__URL", self.queue_url.clone()),
            ("ETL_MEDIC__QUEUE__DEAD_LETTER_URL", self.dlq_url.clone()),
            ("ETL_MEDIC__QUEUE__CONCURRENCY", concurrency.to_string()),
            ("ETL_MEDIC__QUEUE__WAIT_TIME_SECS", "1".to_string()),
            ("ETL_MEDIC__QUEUE__VISIBILITY_TIMEOUT_SECS", "30".to_string()),
            ("ETL_MEDIC__QUEUE__HEARTBEAT_SECS", "5".to_string()),
            ("ETL_MEDIC__INCIDENTS__TABLE", TABLE.to_string()),
            ("ETL_MEDIC__AUDIT__BUCKET", AUDIT_BUCKET.to_string()),
            ("ETL_MEDIC__ESCALATION__SNS_TOPIC_ARN", self.topic_arn.clone()),
            ("ETL_MEDIC__HTTP__LISTEN", listen.to_string()),
            ("ETL_MEDIC__POLICY__PATH", "rules".to_string()),
            ("ETL_MEDIC__SAFETY__MODE", "auto".to_string()),
            ("ETL_MEDIC__SAFETY__FLEET_ACTION_LIMIT", "1000".to_string()),
            ("ETL_MEDIC__SAFETY__FLEET_WINDOW_S", "60".to_string()),
            ("ETL_MEDIC__SAFETY__JOB_ACTION_BUDGET", "50".to_string()),
            ("ETL_MEDIC__SAFETY__JOB_BUDGET_WINDOW_S", "3600".to_string()),
            ("ETL_MEDIC__SAFETY__BREAKER_MIN_OUTCOMES", "50".to_string()),
            ("ETL_MEDIC__SAFETY__WAIT_BASE_DELAY_S", "2".to_string()),
            ("ETL_MEDIC__SAFETY__WAIT_MAX_DELAY_S", "4".to_string()),
        ];
        pairs.into_iter().map(|(key, value)| (key.to_string(), value)).collect()
    }

    /// Start one run of `job` (it fails as the outcomes say); its id.
    pub async fn start_run(&self, job: &str, arguments: &[(&str, &str)]) -> String {
        let glue = aws_sdk_glue::Client::new(&self.config);
        let mut request = glue.start_job_run().job_name(job);
        for (key, value) in arguments {
            request = request.arguments(*key, *value);
        }
        request.send().await.unwrap().job_run_id.unwrap()
    }

    /// Every run of `job`, as moto has them.
    pub async fn runs(&self, job: &str) -> Vec<aws_sdk_glue::types::JobRun> {
        let glue = aws_sdk_glue::Client::new(&self.config);
        let mut runs = Vec::new();
        let mut next_token = None;
        loop {
            let page = glue.get_job_runs().job_name(job).set_next_token(next_token).send().await.unwrap();
            runs.extend(page.job_runs.unwrap_or_default());
            next_token = page.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                return runs;
            }
        }
    }

    /// Per job of `failed_runs` (job -> the run that failed), how many runs
    /// etl-medic started for that failure (every run of the job but the failed one).
    pub async fn runs_started_per_failure(&self, failed_runs: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut started = BTreeMap::new();
        for (job, failed_run) in failed_runs {
            let runs = self.runs(job).await;
            let count = runs.iter().filter(|run| run.id.as_deref() != Some(failed_run.as_str())).count();
            started.insert(job.clone(), count);
        }
        started
    }

    /// Glue's state-change events for `(job, run, state, message)`, put on
    /// the default bus ten at a time so the real rule routes them.
    pub async fn put_glue_events(&self, changes: &[(String, String, &str, &str)]) {
        put_glue_events(&self.config, changes).await;
    }

    /// Play Glue: a SUCCEEDED event for every run etl-medic started (any run
    /// of a job but its failed one) that has none yet. Returns how many of
    /// the incidents of `failed_runs` (job -> failed run) are closed.
    pub async fn play_glue_and_count_closed(
        &self,
        failed_runs: &BTreeMap<String, String>,
        announced: &mut BTreeSet<String>,
    ) -> usize {
        let mut successes = Vec::new();
        let mut closed = 0;
        for (job, failed_run) in failed_runs {
            for run in self.runs(job).await {
                let id = run.id.unwrap_or_default();
                if id != *failed_run && announced.insert(id.clone()) {
                    successes.push((job.clone(), id, "SUCCEEDED", ""));
                }
            }
            if self.incident(job, failed_run).await.is_some_and(|record| record.state.is_closed()) {
                closed += 1;
            }
        }
        self.put_glue_events(&successes).await;
        closed
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

    /// The bodies in the DLQ (read with a zero visibility so they stay).
    pub async fn dlq_bodies(&self) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let mut bodies = BTreeMap::new();
        for _ in 0..5 {
            let received = sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
            for message in received.messages.unwrap_or_default() {
                bodies.insert(message.message_id.unwrap_or_default(), message.body.unwrap_or_default());
            }
        }
        bodies.into_values().collect()
    }

    /// The incident record of a failed run, read straight from the table.
    pub async fn incident(&self, job: &str, failed_run: &str) -> Option<IncidentRecord> {
        let store = DynamoIncidentStore::new(&self.moto.connection(), TABLE);
        store.get_incident(&incident_id_for(job, failed_run)).await.unwrap()
    }

    /// Keys of every audit object.
    pub async fn audit_keys(&self) -> Vec<String> {
        let s3 = self.moto.s3_setup_client();
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = s3.list_objects_v2().bucket(AUDIT_BUCKET).set_continuation_token(token).send().await.unwrap();
            keys.extend(page.contents.unwrap_or_default().into_iter().filter_map(|object| object.key));
            token = page.next_continuation_token;
            if token.is_none() {
                return keys;
            }
        }
    }

    /// The audit trail of one incident, one line per record (stage and body,
    /// shortened), for a test's failure output.
    pub async fn audit_trail(&self, job: &str, failed_run: &str) -> Vec<String> {
        let s3 = self.moto.s3_setup_client();
        let mut lines = Vec::new();
        for key in self.audit_keys().await.into_iter().filter(|key| key.contains(&format!("/{job}/{failed_run}/"))) {
            let object = s3.get_object().bucket(AUDIT_BUCKET).key(&key).send().await.unwrap();
            let body = object.body.collect().await.unwrap().into_bytes();
            let record: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text: String = record["body"].to_string().chars().take(300).collect();
            lines.push(format!("{} {text}", key.rsplit('/').next().unwrap_or_default()));
        }
        lines
    }

    /// Why each escalation of the fleet went to a person (`blocked_because`
    /// of the packets in the audit records), with how many incidents each.
    pub async fn escalation_reasons(&self) -> BTreeMap<String, usize> {
        let s3 = self.moto.s3_setup_client();
        let mut reasons = BTreeMap::new();
        for key in self.audit_keys().await.into_iter().filter(|key| key.ends_with("-escalation.json")) {
            let object = s3.get_object().bucket(AUDIT_BUCKET).key(&key).send().await.unwrap();
            let body = object.body.collect().await.unwrap().into_bytes();
            let record: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let reason = record["body"]["escalation"]["packet"]["blocked_because"].as_str().unwrap_or("?");
            *reasons.entry(escalation_cause(reason).to_string()).or_default() += 1;
        }
        reasons
    }

    /// An adapter connection through `endpoint_url` (e.g. a fault proxy).
    pub fn connection_via(&self, endpoint_url: &str) -> AwsConnection {
        AwsConnection::for_endpoint(&etl_medic::adapters::aws::ExplicitEndpoint::local(endpoint_url.to_string()))
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

/// Put Glue job state changes (job, run, state, message) on EventBridge as
/// Glue does, 10 entries per PutEvents call.
pub async fn put_glue_events(config: &aws_config::SdkConfig, changes: &[(String, String, &str, &str)]) {
    let events = aws_sdk_eventbridge::Client::new(config);
    for batch in changes.chunks(10) {
        let mut request = events.put_events();
        for (job, run, state, message) in batch {
            let severity = if *state == "SUCCEEDED" { "INFO" } else { "ERROR" };
            let detail =
                json!({"jobName": job, "severity": severity, "state": state, "jobRunId": run, "message": message});
            request = request.entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("aws.glue")
                    .detail_type("Glue Job State Change")
                    .detail(detail.to_string())
                    .build(),
            );
        }
        let output = request.send().await.unwrap();
        assert_eq!(output.failed_entry_count, 0, "PutEvents failed entries");
    }
}

/// The cause of an escalation, from its reason: the words that differ
/// from one incident to the next (ids, error texts) are left out.
pub fn escalation_cause(reason: &str) -> &'static str {
    if reason.contains("may or may not have started a run") {
        "unknown outcome: StartJobRun failed ambiguously"
    } else if reason.contains("interrupted before its result was recorded") {
        "unknown outcome: an action was interrupted"
    } else if reason.contains("could not be settled") {
        "unknown outcome: Glue could not be read to settle it"
    } else {
        "other"
    }
}

/// Whether an escalation cause is an action whose outcome was not known.
pub fn is_unknown_outcome(cause: &str) -> bool {
    cause.starts_with("unknown outcome")
}
