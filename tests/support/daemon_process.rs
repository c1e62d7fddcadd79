//! The daemon as a separate process that a test can SIGKILL: the current
//! executable re-run as a child that calls `etl_medic::cli::daemon::run_daemon`
//! (what `etl-medic run` calls after loading its settings) with the AWS
//! adapters built from the standard AWS environment (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, static keys). Settings travel as JSON in one environment
//! variable of the child, so the parent never touches its own environment.

#![allow(dead_code)] // each binary uses a different part

use std::path::Path;
use std::process::{Child, Command, Stdio};

use etl_medic::cli::daemon::{LogFormat, RunArgs, run_daemon};
use etl_medic::core::policy::Policy;
use etl_medic::core::safety::SafetySettings;
use etl_medic::daemon::settings::DaemonSettings;

/// Set in the child only: its settings and safety settings as JSON.
pub const CHILD_ENV: &str = "ETL_MEDIC_RELIABILITY_DAEMON";

/// In the child: run the daemon until SIGTERM (or SIGKILL), then exit.
/// In any other process: return at once.
pub fn run_child_if_asked() {
    let Ok(text) = std::env::var(CHILD_ENV) else { return };
    let value: serde_json::Value = serde_json::from_str(&text).expect("child settings are JSON");
    let settings: DaemonSettings = serde_json::from_value(value["settings"].clone()).expect("daemon settings");
    let safety: SafetySettings = serde_json::from_value(value["safety"].clone()).expect("safety settings");
    let args = RunArgs { listen: None, log_format: LogFormat::Json };
    let code = match run_daemon(&args, settings, safety, Policy::rules()) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("etl-medic: {error:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Start the current executable with `child_args` as the daemon, talking
/// to AWS at `endpoint_url`; its log goes to `log_path`.
pub fn spawn(child_args: &[&str], settings: &DaemonSettings, safety: &SafetySettings, endpoint_url: &str, log_path: &Path) -> Child {
    let payload = serde_json::json!({"settings": settings, "safety": safety}).to_string();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).expect("daemon log file");
    Command::new(std::env::current_exe().expect("current executable"))
        .args(child_args)
        .env(CHILD_ENV, payload)
        .env("AWS_ENDPOINT_URL", endpoint_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn the daemon child")
}

/// Start the real binary, `etl-medic run`, with `environment` (the AWS
/// environment and `ETL_MEDIC__` settings); its log goes to `log_path`.
pub fn spawn_binary(binary: &Path, environment: &[(String, String)], log_path: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).expect("daemon log file");
    Command::new(binary)
        .arg("run")
        .env_clear()
        .envs(environment.iter().map(|(key, value)| (key.as_str(), value.as_str())))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn etl-medic run")
}
