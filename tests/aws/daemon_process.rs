//! `etl-medic run`, the real binary, in a process of its own, on the
//! standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION, keys) pointing at
//! moto and a `--config` file, stopped with a real SIGTERM in the middle of
//! its work.
//!
//! Run: `cargo test --test aws daemon_process`.

use crate::support;
use crate::support::estate;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etl_medic::config::Settings;
use etl_medic::core::model::Mode;
use etl_medic::core::safety::SafetySettings;
use serde_json::json;

use estate::{Estate, JOB};

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");
const OUT_OF_MEMORY: &str = "java.lang.OutOfMemoryError: Java heap space";
/// Failed runs of the job put on the queue before the daemon starts.
const FAILURES: usize = 24;

fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `settings` as a configuration file the binary reads with `--config`.
fn config_file(settings: &Settings) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("etl-medic-daemon-process-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("site.toml");
    std::fs::write(&path, toml::to_string(settings).unwrap()).unwrap();
    path
}

fn start_daemon(estate: &Estate, config: &Path, port: u16) -> Child {
    Command::new(BINARY)
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(config)
        .env_clear()
        .env("AWS_ENDPOINT_URL", &estate.moto.endpoint_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Wait for the daemon to exit by itself; its exit status.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not stop within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

fn readyz(port: u16) -> Option<u16> {
    support::http_request(port, "GET", "/readyz", None).ok().map(|(status, _)| status)
}

#[tokio::test]
async fn daemon_process_stopped_by_sigterm_loses_no_message() {
    // Enough failures that the work cannot all be done between two looks
    // at Glue, however fast the machine: SIGTERM must land mid-work.
    let failures: Vec<serde_json::Value> =
        (0..FAILURES).map(|_| json!({"state": "FAILED", "error_message": OUT_OF_MEMORY})).collect();
    let estate = Estate::new(json!({JOB: failures}), 30).await;
    for _ in 0..FAILURES {
        let run = estate.start_run(&[]).await;
        estate.put_glue_event(&run, "FAILED", OUT_OF_MEMORY).await;
    }
    let mut settings = estate.settings(2);
    settings.policy.path = "rules".to_string();
    // One job carries all the failures: its action budget must cover them.
    settings.safety =
        SafetySettings { mode: Some(Mode::Auto), job_action_budget: 2 * FAILURES as u32, ..SafetySettings::default() };
    let config = config_file(&settings);

    let port = free_loopback_port();
    let mut daemon = start_daemon(&estate, &config, port);
    let ready = wait_until(Duration::from_secs(30), || async move { readyz(port) == Some(200) }).await;
    assert!(ready, "/readyz never answered 200");
    let deadline = Instant::now() + Duration::from_secs(45);
    while estate.runs().await.len() <= FAILURES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(estate.runs().await.len() > FAILURES, "the daemon started no remediation run");
    sigterm(&daemon);
    let status =
        tokio::task::spawn_blocking(move || wait_for_exit(&mut daemon, Duration::from_secs(60))).await.unwrap();
    assert!(status.success(), "the daemon exits cleanly after its drain: {status}");

    let after_first = estate.runs().await.len() - FAILURES;
    eprintln!("SIGTERM landed after {after_first} of {FAILURES} remediation runs");
    assert!(after_first < FAILURES, "SIGTERM came before all the work was done ({after_first} runs)");
    let (visible, in_flight) = estate.depth(&estate.queue_url).await;
    assert_eq!(in_flight, 0, "nothing is left invisible: unstarted messages went back at once");
    assert_eq!(visible as usize, FAILURES - after_first, "every unworked message is back on the queue");

    // A second daemon finishes the work: one remediation run per failure.
    let port = free_loopback_port();
    let mut daemon = start_daemon(&estate, &config, port);
    let finished = wait_until(Duration::from_secs(60), || async {
        estate.depth(&estate.queue_url).await == (0, 0) && estate.runs().await.len() >= 2 * FAILURES
    })
    .await;
    sigterm(&daemon);
    let status =
        tokio::task::spawn_blocking(move || wait_for_exit(&mut daemon, Duration::from_secs(60))).await.unwrap();
    assert!(finished, "queue {:?}, runs {}", estate.depth(&estate.queue_url).await, estate.runs().await.len());
    assert!(status.success());
    assert_eq!(
        estate.runs().await.len(),
        2 * FAILURES,
        "each failure remediated exactly once across the two processes"
    );
}
