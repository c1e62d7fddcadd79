//! The daemon as a separate process that a test or benchmark can SIGTERM or
//! SIGKILL: the real binary, `etl-medic run`, configured only by its
//! environment (the AWS variables and `ETL_MEDIC__` settings).

use std::path::Path;
use std::process::{Child, Command, Stdio};

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
