//! Settings: `config/default.toml` (embedded in the binary, so it runs from
//! anywhere), then an optional `--config FILE`, then `ETL_MEDIC__SECTION__KEY`
//! environment variables, deserialised once into typed settings and
//! validated. A bad key ends the process with exit code 64 and a message
//! naming the key (see `cli`). The environment is passed in as a map so
//! tests never touch the process environment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::evidence::DecideRequest;
use crate::core::lenient::bounds;
use crate::core::safety::SafetySettings;

pub mod sections;

pub use sections::{
    ApprovalsSettings, AuditSettings, BacktestSettings, DELETE_FLUSH_SECS, ECS_STOP_TIMEOUT_SECS, EscalationSettings,
    HttpSettings, IncidentsSettings, JobSettings, LogsSettings, PolicySettings, QuarantineSettings, QueueSettings,
    ShutdownSettings,
};

/// The configuration shipped with etl-medic; every key is commented there.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Prefix of environment overrides: `ETL_MEDIC__QUEUE__URL` sets `queue.url`.
pub const ENV_PREFIX: &str = "ETL_MEDIC";

/// The account id of AWS's documentation examples (and of DESIGN.md's
/// sample configuration): a queue or topic in it is a copied example.
pub const PLACEHOLDER_ACCOUNT: &str = "123456789012";

/// Every setting, section by section, in the one shape every part of
/// etl-medic reads: the daemon, the adapters' wiring and the commands.
/// `[safety]` is the safety layer's, which no policy file can touch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub queue: QueueSettings,
    pub incidents: IncidentsSettings,
    pub audit: AuditSettings,
    pub escalation: EscalationSettings,
    pub approvals: ApprovalsSettings,
    pub logs: LogsSettings,
    pub http: HttpSettings,
    pub policy: PolicySettings,
    pub quarantine: QuarantineSettings,
    pub shutdown: ShutdownSettings,
    pub backtest: BacktestSettings,
    pub safety: SafetySettings,
    #[serde(default)]
    pub jobs: BTreeMap<String, JobSettings>,
}

/// A configuration problem, naming the key when there is one.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl Settings {
    /// Load the embedded defaults, then `file` if given, then the `ETL_MEDIC__*`
    /// entries of `environment`, and validate the result.
    pub fn load(file: Option<&Path>, environment: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|error| ConfigError::File { path: path.display().to_string(), message: error.to_string() })?;
            // Parse here so a syntax error names the file, not an anonymous string source.
            toml_syntax_check(&text)
                .map_err(|message| ConfigError::File { path: path.display().to_string(), message })?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        let overrides: HashMap<String, String> = environment
            .iter()
            .filter(|(name, _)| name.starts_with(&format!("{ENV_PREFIX}__")))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // Lists from the environment: comma-separated.
                .list_separator(",")
                .with_list_parse_key("quarantine.allowed_prefixes")
                .with_list_parse_key("approvals.allowed_users")
                .source(Some(overrides)),
        );
        let merged = builder.build().map_err(|error| ConfigError::Invalid(error.to_string()))?;
        // Through a JSON value so that a wrong value is reported with its key
        // and serde's own words ("unknown variant `yolo`, expected `shadow`
        // or `auto`"), not the config crate's internal names.
        let document: serde_json::Value =
            merged.try_deserialize().map_err(|error| ConfigError::Invalid(error.to_string()))?;
        let settings: Settings = serde_path_to_error::deserialize(document).map_err(|error| ConfigError::Key {
            key: error.path().to_string(),
            message: error.into_inner().to_string(),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Load from the embedded defaults only (tests, `decide` without `--config`).
    pub fn embedded_default() -> Result<Settings, ConfigError> {
        Settings::load(None, &HashMap::new())
    }
}

impl Default for Settings {
    /// The shipped defaults of `config/default.toml`.
    fn default() -> Settings {
        // The embedded file is part of the binary and a unit test loads it,
        // so it cannot fail at run time.
        Settings::embedded_default().unwrap_or_else(|error| unreachable!("config/default.toml does not load: {error}"))
    }
}

impl Settings {
    /// Checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1024).contains(&self.queue.concurrency) {
            return Err(key_error("queue.concurrency", "must be between 1 and 1024"));
        }
        if self.queue.wait_time_secs > 20 {
            return Err(key_error("queue.wait_time_secs", "SQS long polls last at most 20 seconds"));
        }
        if self.queue.heartbeat_secs == 0 || self.queue.heartbeat_secs >= u64::from(self.queue.visibility_timeout_secs)
        {
            return Err(key_error(
                "queue.heartbeat_secs",
                "must be at least 1 and shorter than queue.visibility_timeout_secs, or messages reappear while worked on",
            ));
        }
        if self.shutdown.shutdown_grace_secs + DELETE_FLUSH_SECS >= ECS_STOP_TIMEOUT_SECS {
            return Err(key_error(
                "shutdown.shutdown_grace_secs",
                "plus the 10 s flush of pending deletes must stay under ECS's 120 s stopTimeout (at most 109), or the drain is cut off by SIGKILL",
            ));
        }
        if self.incidents.settle_deadline_secs == 0 {
            return Err(key_error(
                "incidents.settle_deadline_secs",
                "must be at least 1: an interrupted action needs time to be settled",
            ));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(key_error("http.listen", "must be an address like 0.0.0.0:9090"));
        }
        if !(1..=64).contains(&self.backtest.concurrency) {
            return Err(key_error("backtest.concurrency", "must be between 1 and 64"));
        }
        if !(1..=20).contains(&self.backtest.max_attempts) {
            return Err(key_error("backtest.max_attempts", "must be between 1 and 20"));
        }
        if self.backtest.max_runs_per_job == 0 {
            return Err(key_error("backtest.max_runs_per_job", "must be at least 1"));
        }
        if self.policy.path.trim().is_empty() {
            return Err(key_error("policy.path", "must name a policy file, `rules` or s3://bucket/key"));
        }
        if self.policy.path.trim().starts_with("s3://")
            && crate::core::s3::S3Location::parse_object(self.policy.path.trim()).is_none()
        {
            return Err(key_error("policy.path", "an s3:// policy needs a bucket and a key: s3://bucket/key"));
        }
        if !(1..=43_200).contains(&self.incidents.source_check_secs) {
            return Err(key_error(
                "incidents.source_check_secs",
                "must be between 1 and 43200 (SQS visibility maximum)",
            ));
        }
        if self.policy.reload_interval_secs == 0 {
            return Err(key_error("policy.reload_interval_secs", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.policy.explore) {
            return Err(key_error("policy.explore", "must be a probability between 0 and 1 (0 never explores)"));
        }
        if !(1..=60_000).contains(&self.policy.decision_budget_ms) {
            return Err(key_error("policy.decision_budget_ms", "must be between 1 and 60000"));
        }
        // Blank means "no webhook" (deploy templates pass ""). The message
        // never repeats the value: the URL is a secret.
        if let Some(problem) = self.escalation.webhook().and_then(sections::webhook_url_problem) {
            return Err(key_error(
                "escalation.webhook_url",
                &format!("must be an http:// or https:// URL with a host ({problem})"),
            ));
        }
        if self.logs.max_lines > bounds::LOG_LINES {
            return Err(key_error(
                "logs.max_lines",
                &format!("must be at most {}, the lines per log source a decide request may carry", bounds::LOG_LINES),
            ));
        }
        if self.safety.input_arguments.len() > bounds::INPUT_ARGUMENTS {
            return Err(key_error(
                "safety.input_arguments",
                &format!("lists at most {} names", bounds::INPUT_ARGUMENTS),
            ));
        }
        for prefix in &self.quarantine.allowed_prefixes {
            if let Some(problem) = sections::allowed_prefix_problem(prefix) {
                return Err(key_error("quarantine.allowed_prefixes", &format!("entry {prefix:?} {problem}")));
            }
        }
        for (job_name, job) in &self.jobs {
            if job.max_workers == Some(0) {
                return Err(key_error(&format!("jobs.{job_name}.max_workers"), "must be at least 1"));
            }
            if job.tables.len() >= bounds::CATALOG_TABLES {
                return Err(key_error(
                    &format!("jobs.{job_name}.tables"),
                    &format!("lists at most {} tables", bounds::CATALOG_TABLES - 1),
                ));
            }
            if job.input_arguments.as_ref().is_some_and(|names| names.len() > bounds::INPUT_ARGUMENTS) {
                return Err(key_error(
                    &format!("jobs.{job_name}.input_arguments"),
                    &format!("lists at most {} names", bounds::INPUT_ARGUMENTS),
                ));
            }
            for name in job.input_arguments.iter().flatten() {
                if let Some(problem) = crate::core::safety_settings::argument_name_problem(name) {
                    return Err(key_error(&format!("jobs.{job_name}.input_arguments"), &format!("{name:?} {problem}")));
                }
            }
            if job.sources.len() > bounds::INPUT_ARGUMENTS {
                return Err(key_error(
                    &format!("jobs.{job_name}.sources"),
                    &format!("lists at most {} locations", bounds::INPUT_ARGUMENTS),
                ));
            }
            for source in &job.sources {
                if !source.starts_with("s3://") || crate::core::s3::S3Location::parse(source).is_none() {
                    return Err(key_error(
                        &format!("jobs.{job_name}.sources"),
                        &format!("{source:?} is not an s3://bucket/prefix location"),
                    ));
                }
            }
            for table in &job.tables {
                if split_table_name(table).is_none() {
                    return Err(key_error(
                        &format!("jobs.{job_name}.tables"),
                        &format!("{table:?} is not of the form database.table"),
                    ));
                }
            }
        }
        self.validate_approvals()?;
        self.safety.validate().map_err(|error| ConfigError::Invalid(error.to_string()))
    }

    fn validate_approvals(&self) -> Result<(), ConfigError> {
        let approvals = &self.approvals;
        if !(60..=43_200).contains(&approvals.expiry_secs) {
            return Err(key_error(
                "approvals.expiry_secs",
                "must be between 60 and 43200 (the incident's message waits that long on SQS, at most 12 h)",
            ));
        }
        if approvals.queue().is_some() {
            if !approvals.signing_secret_arn.trim().starts_with("arn:") {
                return Err(key_error(
                    "approvals.signing_secret_arn",
                    "must be the ARN of the Secrets Manager secret holding the Slack signing secret when approvals.queue_url is set",
                ));
            }
            if approvals.allowed_users.iter().all(|user| user.trim().is_empty()) {
                return Err(key_error(
                    "approvals.allowed_users",
                    "is empty: name the Slack user ids (like U2CERLKJA) whose clicks may approve",
                ));
            }
        }
        if let Some(user) = approvals
            .allowed_users
            .iter()
            .find(|user| user.trim().is_empty() || !user.chars().all(|character| character.is_ascii_alphanumeric()))
        {
            return Err(key_error(
                "approvals.allowed_users",
                &format!("{user:?} is not a Slack user id (letters and digits, like U2CERLKJA)"),
            ));
        }
        Ok(())
    }

    /// Merge the per-job settings into what the request says about its job.
    /// Configuration is the operator's word and request data is only
    /// evidence, so the stricter of the two wins: the higher risk tier, the
    /// lower worker ceiling, only the input arguments both name. A request
    /// can tighten its job's profile, never loosen it (a request saying
    /// `low` cannot unlock a `critical` job, nor call `--output_path` input).
    pub fn fill_job_profile(&self, request: &mut DecideRequest) {
        let job = request.job_name().and_then(|name| self.jobs.get(name));
        let configured_inputs =
            job.and_then(|job| job.input_arguments.as_ref()).unwrap_or(&self.safety.input_arguments);
        if let Some(asked) = request.job.input_arguments.as_mut() {
            asked.retain(|name| configured_inputs.contains(name));
        } else if let Some(job_inputs) = job.and_then(|job| job.input_arguments.clone()) {
            request.job.input_arguments = Some(job_inputs);
        }
        let Some(job) = job else {
            return;
        };
        if !job.sources.is_empty() {
            request.job.sources = Some(job.sources.clone());
        }
        request.job.risk_tier = request.job.risk_tier.max(job.risk_tier);
        request.job.max_workers = match (request.job.max_workers, job.max_workers) {
            (Some(asked), Some(configured)) => Some(asked.min(configured)),
            (asked, configured) => asked.or(configured),
        };
    }

    /// What only `run` needs, checked once when it starts (the caller exits
    /// 64): the queue to poll and a topic for escalations, neither a
    /// placeholder copied from an example. Local emulators (moto, LocalStack)
    /// do use the example account, so that check is skipped when
    /// `emulated` (an `AWS_ENDPOINT_URL` is set).
    pub fn check_daemon(&self, emulated: bool) -> Result<(), ConfigError> {
        let queue_url = self.queue.url.trim();
        if queue_url.is_empty() {
            return Err(key_error(
                "queue.url",
                "is empty: set [queue] url in the --config file or ETL_MEDIC__QUEUE__URL to the SQS queue EventBridge feeds",
            ));
        }
        if !emulated && queue_url.contains(PLACEHOLDER_ACCOUNT) {
            return Err(key_error(
                "queue.url",
                &format!(
                    "names the example account {PLACEHOLDER_ACCOUNT}: set it to your SQS queue (ETL_MEDIC__QUEUE__URL)"
                ),
            ));
        }
        let topic = self.escalation.sns_topic_arn.as_deref().map(str::trim).unwrap_or_default();
        if topic.is_empty() {
            return Err(key_error(
                "escalation.sns_topic_arn",
                "is empty: escalations need somewhere to go; set ETL_MEDIC__ESCALATION__SNS_TOPIC_ARN",
            ));
        }
        if !emulated && topic.contains(PLACEHOLDER_ACCOUNT) {
            return Err(key_error(
                "escalation.sns_topic_arn",
                &format!(
                    "names the example account {PLACEHOLDER_ACCOUNT}: set it to your topic (ETL_MEDIC__ESCALATION__SNS_TOPIC_ARN)"
                ),
            ));
        }
        Ok(())
    }

    /// Per-job settings, if the operator configured the job.
    pub fn job(&self, job_name: &str) -> Option<&JobSettings> {
        self.jobs.get(job_name)
    }
}

/// `database.table` -> (database, table).
pub fn split_table_name(qualified: &str) -> Option<(&str, &str)> {
    let (database, table) = qualified.split_once('.')?;
    if database.is_empty() || table.is_empty() {
        return None;
    }
    Some((database, table))
}

fn key_error(key: &str, message: &str) -> ConfigError {
    ConfigError::Key { key: key.to_string(), message: message.to_string() }
}

fn toml_syntax_check(text: &str) -> Result<(), String> {
    let source = config::File::from_str(text, config::FileFormat::Toml);
    config::Source::collect(&source).map(|_| ()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::RiskTier;

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn embedded_defaults_load_and_default_to_shadow() {
        let settings = Settings::embedded_default().expect("defaults are valid");
        assert_eq!(settings.queue.concurrency, 16);
        assert_eq!(settings.backtest.concurrency, 4);
        // The shipped global mode is shadow and no job or class overrides it.
        assert_eq!(settings.safety.mode, Some(crate::core::model::Mode::Shadow));
        assert!(!settings.safety.force_shadow);
        let (mode, _) = crate::core::safety::resolve_mode(
            &settings.safety,
            Some("orders_daily"),
            crate::core::model::FailureClass::Unknown,
        );
        assert_eq!(mode, crate::core::model::Mode::Shadow);
        assert_eq!(settings.logs.error_group, "/aws-glue/jobs/error");
        assert_eq!(settings.http.listen, "0.0.0.0:9090");
    }

    #[test]
    fn environment_overrides_files_and_ignores_other_variables() {
        let settings = Settings::load(
            None,
            &environment(&[
                ("ETL_MEDIC__QUEUE__URL", "https://sqs.example/q"),
                ("ETL_MEDIC__QUEUE__CONCURRENCY", "4"),
                ("ETL_MEDIC__SAFETY__MODE", "auto"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .expect("valid overrides");
        assert_eq!(settings.queue.url, "https://sqs.example/q");
        assert_eq!(settings.queue.concurrency, 4);
        assert_eq!(settings.safety.mode, Some(crate::core::model::Mode::Auto));
    }

    #[test]
    fn approvals_are_validated_naming_the_key() {
        let load = |pairs: &[(&str, &str)]| {
            let environment: HashMap<String, String> =
                pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
            Settings::load(None, &environment)
        };
        let defaults = load(&[]).expect("defaults");
        assert_eq!(defaults.approvals.expiry_secs, 14_400, "four hours by default");
        assert_eq!(defaults.approvals.queue(), None);
        let approve = load(&[("ETL_MEDIC__SAFETY__MODE", "approve")]).expect("approve is a mode");
        assert_eq!(approve.safety.mode, Some(crate::core::model::Mode::Approve));
        for (pairs, key) in [
            (vec![("ETL_MEDIC__APPROVALS__EXPIRY_SECS", "30")], "approvals.expiry_secs"),
            (vec![("ETL_MEDIC__APPROVALS__EXPIRY_SECS", "50000")], "approvals.expiry_secs"),
            (
                vec![("ETL_MEDIC__APPROVALS__QUEUE_URL", "https://sqs.example/approvals")],
                "approvals.signing_secret_arn",
            ),
            (
                vec![
                    ("ETL_MEDIC__APPROVALS__QUEUE_URL", "https://sqs.example/approvals"),
                    ("ETL_MEDIC__APPROVALS__SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:slack"),
                ],
                "approvals.allowed_users",
            ),
            (vec![("ETL_MEDIC__APPROVALS__ALLOWED_USERS", "U1,<@U2>")], "approvals.allowed_users"),
        ] {
            let message = load(&pairs).expect_err("refused").to_string();
            assert!(message.contains(key), "{pairs:?}: {message}");
        }
        let slack = load(&[
            ("ETL_MEDIC__APPROVALS__QUEUE_URL", "https://sqs.example/approvals"),
            ("ETL_MEDIC__APPROVALS__SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:slack"),
            ("ETL_MEDIC__APPROVALS__ALLOWED_USERS", "U2CERLKJA,U0ABC"),
        ])
        .expect("slack approvals");
        assert_eq!(slack.approvals.allowed_users, vec!["U2CERLKJA".to_string(), "U0ABC".to_string()]);
    }

    #[test]
    fn file_layers_over_defaults_with_per_job_settings() {
        let directory = std::env::temp_dir().join(format!("etl-medic-config-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let path = directory.join("site.toml");
        std::fs::write(
            &path,
            "[queue]\nconcurrency = 8\n[jobs.\"orders_daily\"]\ntables = [\"sales.orders\"]\nrisk_tier = \"high\"\nmax_workers = 40\n",
        )
        .expect("write");
        let settings = Settings::load(Some(&path), &HashMap::new()).expect("valid file");
        assert_eq!(settings.queue.concurrency, 8);
        assert_eq!(settings.queue.url, "", "the shipped defaults name no queue");
        let job = settings.job("orders_daily").expect("job settings");
        assert_eq!(job.tables, vec!["sales.orders".to_string()]);
        assert_eq!(job.risk_tier, Some(RiskTier::High));
        assert_eq!(job.max_workers, Some(40));
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn errors_name_the_offending_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("ETL_MEDIC__QUEUE__CONCURRENCY", "many", "queue.concurrency"),
            ("ETL_MEDIC__QUEUE__CONCURRENCY", "0", "queue.concurrency"),
            ("ETL_MEDIC__BACKTEST__CONCURRENCY", "0", "backtest.concurrency"),
            ("ETL_MEDIC__BACKTEST__MAX_ATTEMPTS", "0", "backtest.max_attempts"),
            ("ETL_MEDIC__HTTP__LISTEN", "nine-thousand", "http.listen"),
            ("ETL_MEDIC__POLICY__EXPLORE", "1.5", "policy.explore"),
            ("ETL_MEDIC__POLICY__EXPLORE", "-0.1", "policy.explore"),
            ("ETL_MEDIC__SAFETY__MODE", "yolo", "safety.mode"),
            ("ETL_MEDIC__QUEUE__COLOUR", "blue", "colour"),
        ];
        for (name, value, expected) in cases {
            let error = Settings::load(None, &environment(&[(name, value)])).expect_err("invalid");
            assert!(error.to_string().contains(expected), "{name}={value}: {error}");
        }
    }

    #[test]
    fn a_wrong_value_names_its_key_and_the_valid_values() {
        let error = Settings::load(None, &environment(&[("ETL_MEDIC__SAFETY__MODE", "yolo")])).expect_err("yolo");
        let message = error.to_string();
        assert!(
            message.contains("safety.mode") && message.contains("`shadow`") && message.contains("`auto`"),
            "{message}"
        );
        assert!(!message.contains("variant constructor"), "no internal names: {message}");
        let map_entry = environment(&[("ETL_MEDIC__SAFETY__CLASS_MODES__TRANSIENT_INFRA", "auto")]);
        let settings = Settings::load(None, &map_entry).expect("a map entry from the environment");
        assert_eq!(
            settings.safety.class_modes.get(&crate::core::model::FailureClass::TransientInfra),
            Some(&crate::core::model::Mode::Auto)
        );
    }

    #[test]
    fn a_webhook_url_must_be_http_or_https_and_is_never_echoed() {
        for bad in ["hooks.slack.com/services/T0/B0/secret-token", "ftp://hooks.example/secret-token", "https://"] {
            let error =
                Settings::load(None, &environment(&[("ETL_MEDIC__ESCALATION__WEBHOOK_URL", bad)])).expect_err(bad);
            let message = error.to_string();
            assert!(message.contains("escalation.webhook_url"), "{message}");
            assert!(!message.contains("secret-token"), "the URL is a secret: {message}");
        }
        for good in ["https://hooks.slack.com/services/T0/B0/x", "http://127.0.0.1:8080/hook", ""] {
            let settings =
                Settings::load(None, &environment(&[("ETL_MEDIC__ESCALATION__WEBHOOK_URL", good)])).expect(good);
            assert_eq!(settings.escalation.webhook_url.as_deref(), Some(good));
        }
    }

    #[test]
    fn run_refuses_an_empty_or_example_queue_and_topic_and_names_the_key() {
        let mut settings = Settings::default();
        let key_of = |settings: &Settings| match settings.check_daemon(false) {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        };
        assert_eq!(key_of(&settings), "queue.url");
        settings.queue.url = "https://sqs.us-east-1.amazonaws.com/123456789012/etl-medic".into();
        assert_eq!(key_of(&settings), "queue.url", "the example account is a placeholder");
        assert!(
            !matches!(settings.check_daemon(true), Err(ConfigError::Key { ref key, .. }) if key == "queue.url"),
            "an emulator (AWS_ENDPOINT_URL) uses the example account"
        );
        settings.queue.url = "https://sqs.eu-west-1.amazonaws.com/210987654321/etl-medic".into();
        assert_eq!(key_of(&settings), "escalation.sns_topic_arn");
        settings.escalation.sns_topic_arn = Some("arn:aws:sns:us-east-1:123456789012:etl-medic-escalations".into());
        assert_eq!(key_of(&settings), "escalation.sns_topic_arn");
        settings.escalation.sns_topic_arn = Some("arn:aws:sns:eu-west-1:210987654321:escalations".into());
        assert!(settings.check_daemon(false).is_ok());
    }

    #[test]
    fn the_drain_and_its_delete_flush_must_fit_inside_the_ecs_stop_timeout() {
        for (grace, ok) in [(109, true), (110, false)] {
            let environment =
                HashMap::from([("ETL_MEDIC__SHUTDOWN__SHUTDOWN_GRACE_SECS".to_string(), grace.to_string())]);
            assert_eq!(Settings::load(None, &environment).is_ok(), ok, "grace {grace}");
        }
    }

    #[test]
    fn job_tables_must_be_qualified() {
        let directory = std::env::temp_dir().join(format!("etl-medic-config-tables-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let path = directory.join("site.toml");
        std::fs::write(&path, "[jobs.\"j\"]\ntables = [\"orders\"]\n").expect("write");
        let error = Settings::load(Some(&path), &HashMap::new()).expect_err("unqualified table");
        assert!(error.to_string().contains("jobs.j.tables"), "{error}");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn job_profile_merges_settings_and_request_and_the_stricter_wins() {
        let mut settings = Settings::embedded_default().expect("defaults");
        settings.jobs.insert(
            "orders_daily".to_string(),
            JobSettings {
                tables: vec![],
                risk_tier: Some(RiskTier::Critical),
                max_workers: Some(20),
                input_arguments: None,
                sources: vec![],
            },
        );
        let mut request: DecideRequest = serde_json::from_value(serde_json::json!({
            "event": {"source": "aws.glue", "detail": {"jobName": "orders_daily"}},
            "job": {"max_workers": 8}
        }))
        .expect("request");
        settings.fill_job_profile(&mut request);
        assert_eq!(request.job.risk_tier, Some(RiskTier::Critical));
        assert_eq!(request.job.max_workers, Some(8), "a request may tighten the ceiling");

        let mut loosening: DecideRequest = serde_json::from_value(serde_json::json!({
            "event": {"source": "aws.glue", "detail": {"jobName": "orders_daily"}},
            "job": {"risk_tier": "low", "max_workers": 80}
        }))
        .expect("request");
        settings.fill_job_profile(&mut loosening);
        assert_eq!(loosening.job.risk_tier, Some(RiskTier::Critical), "request data cannot unlock a critical job");
        assert_eq!(loosening.job.max_workers, Some(20), "nor raise its configured ceiling");
    }

    #[test]
    fn quarantine_prefixes_come_from_the_environment_as_a_comma_separated_list() {
        let environment = HashMap::from([(
            "ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES".to_string(),
            "s3://data/input/,s3://data/quarantine/".to_string(),
        )]);
        let settings = Settings::load(None, &environment).expect("a list from the environment");
        assert_eq!(settings.quarantine.allowed_prefixes, vec!["s3://data/input/", "s3://data/quarantine/"]);
    }
}
