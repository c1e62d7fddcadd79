//! A moto server per test: the local AWS endpoint the integration tests talk
//! to over real HTTP.
//!
//! `Moto::start()` makes sure the pinned moto is installed (runs
//! `tests/moto/setup.sh` once per test binary unless `ETL_MEDIC_MOTO_PYTHON`
//! names an interpreter), starts `tests/moto/launcher.py` on a free loopback
//! port, waits for `GET /moto-api/` to answer, and kills the server on Drop.
//! The launcher also exits by itself when this process dies (its stdin
//! closes), so an aborted test run leaves no server behind.
//!
//! Tests pass the endpoint explicitly (`Moto::connection`, `Moto::sdk_config`);
//! nothing here sets environment variables.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etl_medic::adapters::aws::{AwsConnection, ExplicitEndpoint};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Moto {
    child: Child,
    /// Held open: the launcher exits when it closes.
    _stdin: ChildStdin,
    pub port: u16,
    pub endpoint_url: String,
    work_dir: PathBuf,
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, installing moto first if needed (once per binary).
fn moto_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(explicit) = std::env::var_os("ETL_MEDIC_MOTO_PYTHON") {
                return PathBuf::from(explicit);
            }
            let setup = repository_root().join("tests/moto/setup.sh");
            let output = Command::new("bash")
                .arg(&setup)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", setup.display()));
            assert!(output.status.success(), "{} failed; see its output above", setup.display());
            let stdout = String::from_utf8_lossy(&output.stdout);
            let python = stdout.lines().last().unwrap_or_default().trim().to_string();
            assert!(Path::new(&python).exists(), "setup.sh printed no usable python path: {stdout:?}");
            PathBuf::from(python)
        })
        .clone()
}

fn unique_work_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("etl-medic-moto-{}-{sequence}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    dir
}

impl Moto {
    /// A fresh moto server where every Glue run succeeds (moto's default).
    pub fn start() -> Moto {
        Moto::start_with_glue_outcomes(&serde_json::json!({}))
    }

    /// A fresh moto server whose Glue runs end as `outcomes` says:
    /// `{"job": [{"state": "FAILED", "error_message": "..."}, ...]}`, the
    /// n-th run of a job taking entry n (see tests/moto/launcher.py).
    pub fn start_with_glue_outcomes(outcomes: &serde_json::Value) -> Moto {
        let work_dir = unique_work_dir();
        let outcomes_path = work_dir.join("glue-outcomes.json");
        write_json(&outcomes_path, outcomes);
        let log_path = work_dir.join("moto.log");
        let log_file = std::fs::File::create(&log_path).expect("moto log file in a fresh temp dir");
        let launcher = repository_root().join("tests/moto/launcher.py");
        let mut child = Command::new(moto_python())
            .arg(&launcher)
            .arg("--port")
            .arg("0")
            .arg("--glue-outcomes")
            .arg(&outcomes_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", launcher.display()));
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = child.stdout.take().expect("stdout was piped");
        let port = match read_listening_port(stdout) {
            Some(port) => port,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moto did not start; its log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
            }
        };
        let moto = Moto { child, _stdin: stdin, port, endpoint_url: format!("http://127.0.0.1:{port}"), work_dir };
        moto.wait_until_ready();
        moto
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok((200, _)) = http_request(self.port, "GET", "/moto-api/", None) {
                return;
            }
            assert!(Instant::now() < deadline, "moto on port {} never answered GET /moto-api/", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Adapters' connection to this server (explicit endpoint, static keys).
    pub fn connection(&self) -> AwsConnection {
        AwsConnection::for_endpoint(&self.endpoint())
    }

    pub fn endpoint(&self) -> ExplicitEndpoint {
        ExplicitEndpoint::local(self.endpoint_url.clone())
    }

    /// SDK configuration for test setup calls (creating queues, jobs, tables).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint_url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .http_client(http_client)
            .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
            .build()
    }

    pub fn s3_setup_client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config()).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Replace the Glue outcomes; runs started from now on read the new file.
    pub fn set_glue_outcomes(&self, outcomes: &serde_json::Value) {
        write_json(&self.work_dir.join("glue-outcomes.json"), outcomes);
    }

    /// `POST /moto-api/state-manager/set-transition` (server-wide).
    pub fn set_transition(&self, model_name: &str, transition: serde_json::Value) {
        let body = serde_json::json!({"model_name": model_name, "transition": transition}).to_string();
        let (status, response) = http_request(self.port, "POST", "/moto-api/state-manager/set-transition", Some(&body))
            .unwrap_or_else(|error| panic!("set-transition failed: {error}"));
        assert_eq!(status, 201, "set-transition answered {status}: {response}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

fn write_json(path: &Path, value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).expect("a JSON value serialises");
    // Write then rename, so the launcher never reads a half-written file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).unwrap_or_else(|error| panic!("cannot write {}: {error}", partial.display()));
    std::fs::rename(&partial, path).unwrap_or_else(|error| panic!("cannot rename to {}: {error}", path.display()));
}

/// The port from the launcher's first line, `listening <host> <port>`.
fn read_listening_port(stdout: std::process::ChildStdout) -> Option<u16> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first_line = String::new();
        let read = BufReader::new(stdout).read_line(&mut first_line);
        let _ = sender.send(read.ok().map(|_| first_line));
    });
    let line = receiver.recv_timeout(STARTUP_TIMEOUT).ok()??;
    let mut words = line.split_whitespace();
    (words.next()? == "listening").then_some(())?;
    words.nth(1)?.parse().ok()
}

/// A minimal HTTP/1.1 request to moto's control API (no client crate needed).
pub fn http_request(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:.80}")))?;
    let body_start = response.find("\r\n\r\n").map_or(response.len(), |index| index + 4);
    Ok((status, response[body_start..].to_string()))
}

/// The incident table as src/adapters/aws/dynamodb.rs documents it:
/// `pk` (S) hash key, `sk` (S) range key, on demand.
pub async fn create_incident_table(moto: &Moto, table: &str) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type set")
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("name and key type set")
    };
    dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|error| panic!("cannot create table {table}: {error:?}"));
}
