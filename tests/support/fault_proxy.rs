//! A fault-injecting HTTP proxy between etl-medic's AWS clients and moto.
//!
//! It listens on 127.0.0.1, reads each HTTP/1.1 request whole, tells the AWS
//! service from the SigV4 credential scope of its Authorization header
//! (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`) and the operation from
//! `X-Amz-Target`, the query `Action=` or the S3 method, and then, at the
//! configured rate for that service, injects one fault instead of (or around)
//! forwarding it:
//!
//! - `500` and `503`, in the error shape of the service's protocol (JSON
//!   `__type`, S3 `<Error>` XML, SNS `<ErrorResponse>` XML);
//! - throttling: `ThrottlingException` (Glue, Logs), `RequestLimitExceeded`
//!   (SQS), `ProvisionedThroughputExceededException` (DynamoDB), `Throttling`
//!   (SNS), S3 `SlowDown` 503;
//! - a slow response (the request is forwarded after a delay);
//! - a connection reset before forwarding (the request never arrives);
//! - optionally, a reset *after* forwarding: the effect happened and the
//!   answer is lost, the ambiguous failure a client cannot retry blindly;
//! - optionally, expired credentials (`ExpiredTokenException`), which no
//!   retry cures.
//!
//! Errors and the first reset are injected before the request reaches moto,
//! as a throttling front door or a dropped connection does; every request
//! forwarded is counted, so a test can count effects at the emulator. Each
//! forwarded request's round trip to moto is timed: the load benchmark uses
//! it as the emulator's own latency. One request per connection
//! (`Connection: close` both ways) keeps the framing simple.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    InternalError,
    Unavailable,
    Throttle,
    /// Forwarded after a delay between 200 ms and 1.5 s.
    Slow,
    /// Reset before forwarding: the request never reaches moto.
    ResetBefore,
    /// Forwarded, then reset: the effect happened, the answer is lost.
    ResetAfter,
    /// `ExpiredTokenException` (400): the caller's credentials expired.
    ExpiredToken,
}

impl Fault {
    /// The faults a client can always retry: nothing reached the emulator
    /// (or it did, and the answer still arrives, late).
    pub const SAFE: [Fault; 5] =
        [Fault::InternalError, Fault::Unavailable, Fault::Throttle, Fault::Slow, Fault::ResetBefore];
}

/// What to inject: a rate per service (`"*"` for the rest) and the kinds.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub rate_by_service: BTreeMap<String, f64>,
    pub faults: Vec<Fault>,
    /// Only these operations get faults (empty: all).
    pub operations: Vec<String>,
    pub seed: u64,
    /// Stop injecting after this many faults (None: never stop).
    pub max_faults: Option<usize>,
    /// The crash test's trip wire: the first request of this operation is
    /// held (and forwarded first, or never) so the test can kill the client
    /// at that exact point.
    pub tripwire: Option<Tripwire>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripwire {
    pub operation: String,
    /// Forward the request before holding its answer (the effect happens).
    pub forward: bool,
    /// Armed only once a request of this operation has been answered (e.g.
    /// the first PutItem after a StartJobRun: the write recording its run).
    pub after: Option<String>,
}

impl FaultPlan {
    pub fn none() -> FaultPlan {
        FaultPlan {
            rate_by_service: BTreeMap::new(),
            faults: Vec::new(),
            operations: Vec::new(),
            seed: 0,
            max_faults: None,
            tripwire: None,
        }
    }

    /// `rate` on every service, the safe faults.
    pub fn everywhere(rate: f64, seed: u64) -> FaultPlan {
        FaultPlan {
            rate_by_service: BTreeMap::from([("*".to_string(), rate)]),
            faults: Fault::SAFE.to_vec(),
            operations: Vec::new(),
            seed,
            max_faults: None,
            tripwire: None,
        }
    }

    fn rate(&self, service: &str, operation: &str) -> f64 {
        if !self.operations.is_empty() && !self.operations.iter().any(|wanted| wanted == operation) {
            return 0.0;
        }
        self.rate_by_service.get(service).or_else(|| self.rate_by_service.get("*")).copied().unwrap_or(0.0)
    }
}

/// One request seen by the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub service: String,
    pub operation: String,
    pub fault: Option<Fault>,
    /// Whether the request reached moto.
    pub forwarded: bool,
    pub status: Option<u16>,
    /// Round trip to moto, when forwarded.
    pub upstream: Option<Duration>,
    pub at: SystemTime,
    /// For StartJobRun: the job name and the run arguments.
    pub start_job_run: Option<(String, BTreeMap<String, String>)>,
    /// The SDK's `amz-sdk-invocation-id`: the same for every attempt of one call.
    pub invocation_id: Option<String>,
    /// The SDK's attempt number and maximum (`amz-sdk-request: attempt=2; max=3`).
    pub attempt: Option<(u32, u32)>,
}

pub struct FaultProxy {
    pub port: u16,
    pub endpoint_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    plan: Arc<Mutex<FaultPlan>>,
    tripped: Arc<std::sync::atomic::AtomicBool>,
    answered: Arc<Mutex<std::collections::BTreeSet<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Start a proxy in front of `upstream_port` on its own runtime thread.
    pub fn start(upstream_port: u16, plan: FaultPlan) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let port = listener.local_addr().expect("bound address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared_plan = Arc::new(Mutex::new(plan.clone()));
        let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(plan.seed)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tripped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered: Arc<Mutex<std::collections::BTreeSet<String>>> = Arc::default();
        let state = Shared {
            upstream_port,
            seen: seen.clone(),
            plan: shared_plan.clone(),
            rng,
            injected: Arc::default(),
            tripped: tripped.clone(),
            answered: answered.clone(),
        };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        let state = state.clone();
                        tokio::spawn(async move { state.handle(client).await });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        FaultProxy {
            port,
            endpoint_url: format!("http://127.0.0.1:{port}"),
            seen,
            plan: shared_plan,
            tripped,
            answered,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Replace the plan (e.g. stop injecting to let the backlog settle);
    /// arms its trip wire afresh.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.plan.lock().expect("plan lock") = plan;
        self.answered.lock().expect("answered lock").clear();
        self.tripped.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the trip wire's request has arrived (and is being held).
    pub fn tripped(&self) -> bool {
        self.tripped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }

    /// Forget what was seen (the load benchmark between phases).
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().expect("seen lock"))
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Shared {
    upstream_port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    plan: Arc<Mutex<FaultPlan>>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    injected: Arc<std::sync::atomic::AtomicUsize>,
    tripped: Arc<std::sync::atomic::AtomicBool>,
    /// Operations answered since the plan was last set (arms `Tripwire::after`).
    answered: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

/// A request read whole from the client.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }

    fn method_and_path(&self) -> (&str, &str) {
        let mut words = self.head[0].split_whitespace();
        (words.next().unwrap_or(""), words.next().unwrap_or(""))
    }

    /// The SigV4 credential scope's service (`sqs`, `glue`, `s3`, ...).
    fn service(&self) -> String {
        let authorization = self.header("authorization").unwrap_or("");
        authorization
            .split("Credential=")
            .nth(1)
            .and_then(|scope| scope.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string()
    }

    fn operation(&self, service: &str) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        let body = String::from_utf8_lossy(&self.body);
        if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
            return action.to_string();
        }
        let (method, _) = self.method_and_path();
        format!("{service}:{method}")
    }
}

impl Shared {
    async fn handle(&self, mut client: TcpStream) {
        let Some(request) = read_request(&mut client).await else { return };
        let service = request.service();
        let operation = request.operation(&service);
        let start_job_run = (operation == "StartJobRun").then(|| parse_start_job_run(&request.body)).flatten();
        let tripwire = self.plan.lock().expect("plan lock").tripwire.clone();
        let armed = tripwire.as_ref().is_some_and(|wire| {
            wire.operation == operation
                && wire.after.as_ref().is_none_or(|after| self.answered.lock().expect("answered lock").contains(after))
        });
        if let Some(wire) = tripwire.filter(|_| armed)
            && !self.tripped.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // Held until the test has killed the client; then dropped.
            if wire.forward {
                let _ = forward(self.upstream_port, &request).await;
            }
            self.seen.lock().expect("seen lock").push(Seen {
                service,
                operation,
                fault: None,
                forwarded: wire.forward,
                status: None,
                upstream: None,
                at: SystemTime::now(),
                start_job_run,
                invocation_id: None,
                attempt: None,
            });
            tokio::time::sleep(Duration::from_secs(30)).await;
            reset(client);
            return;
        }
        let fault = self.pick_fault(&service, &operation);
        let invocation_id = request.header("amz-sdk-invocation-id").map(str::to_string);
        let attempt = request.header("amz-sdk-request").and_then(parse_attempt);
        let mut seen = Seen {
            service: service.clone(),
            operation,
            fault,
            forwarded: false,
            status: None,
            upstream: None,
            at: SystemTime::now(),
            start_job_run,
            invocation_id,
            attempt,
        };
        match fault {
            Some(Fault::InternalError | Fault::Unavailable | Fault::Throttle | Fault::ExpiredToken) => {
                let response = error_response(
                    &service,
                    fault.unwrap_or(Fault::InternalError),
                    request.method_and_path().0 == "HEAD",
                );
                seen.status = Some(response.0);
                let _ = client.write_all(&response.1).await;
                let _ = client.shutdown().await;
            }
            Some(Fault::ResetBefore) => reset(client),
            Some(Fault::Slow) | Some(Fault::ResetAfter) | None => {
                if fault == Some(Fault::Slow) {
                    let delay_ms = self.rng.lock().expect("rng lock").random_range(200..1_500);
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                }
                let started = Instant::now();
                let answer = forward(self.upstream_port, &request).await;
                seen.forwarded = true;
                seen.upstream = Some(started.elapsed());
                match answer {
                    Some((status, bytes)) if fault != Some(Fault::ResetAfter) => {
                        seen.status = Some(status);
                        let _ = client.write_all(&bytes).await;
                        let _ = client.shutdown().await;
                        self.answered.lock().expect("answered lock").insert(seen.operation.clone());
                    }
                    _ => reset(client),
                }
            }
        }
        self.seen.lock().expect("seen lock").push(seen);
    }

    fn pick_fault(&self, service: &str, operation: &str) -> Option<Fault> {
        let plan = self.plan.lock().expect("plan lock");
        let rate = plan.rate(service, operation);
        if rate <= 0.0 || plan.faults.is_empty() {
            return None;
        }
        let mut rng = self.rng.lock().expect("rng lock");
        if rng.random::<f64>() >= rate {
            return None;
        }
        let injected = self.injected.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if plan.max_faults.is_some_and(|max| injected >= max) {
            return None;
        }
        Some(plan.faults[rng.random_range(0..plan.faults.len())])
    }
}

/// Close with RST instead of FIN: the client sees "connection reset".
fn reset(stream: TcpStream) {
    #[allow(deprecated)] // set_linger(0) is exactly the abortive close wanted here
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn read_request(client: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(8_192);
    let head_end = loop {
        if let Some(index) = find(&buffer, b"\r\n\r\n") {
            break index;
        }
        let mut chunk = [0_u8; 8_192];
        let read = client.read(&mut chunk).await.ok()?;
        if read == 0 || buffer.len() > 1 << 20 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head_text = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let head: Vec<String> = head_text.split("\r\n").map(str::to_string).collect();
    let mut request = Request { head, body: buffer[head_end + 4..].to_vec() };
    if request.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue")) {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.ok()?;
    }
    let chunked =
        request.header("transfer-encoding").is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        while !chunked_complete(&request.body) {
            read_more(client, &mut request.body).await?;
        }
    } else {
        let length: usize = request.header("content-length").and_then(|value| value.parse().ok()).unwrap_or(0);
        while request.body.len() < length {
            read_more(client, &mut request.body).await?;
        }
    }
    Some(request)
}

async fn read_more(stream: &mut TcpStream, into: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0_u8; 65_536];
    let read = stream.read(&mut chunk).await.ok()?;
    (read > 0).then(|| into.extend_from_slice(&chunk[..read]))
}

/// Whether a chunked body has its terminating zero-size chunk and trailers.
fn chunked_complete(body: &[u8]) -> bool {
    let mut position = 0;
    loop {
        let Some(line_end) = find(&body[position..], b"\r\n") else { return false };
        let size_text = String::from_utf8_lossy(&body[position..position + line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        position += line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            let rest = &body[position..];
            return rest.starts_with(b"\r\n") || find(rest, b"\r\n\r\n").is_some();
        }
        position += size + 2;
        if position > body.len() {
            return false;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Send the request to moto with `Connection: close`; the whole answer,
/// its head rewritten to close the client connection too.
async fn forward(upstream_port: u16, request: &Request) -> Option<(u16, Vec<u8>)> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await.ok()?;
    let mut head = String::new();
    head.push_str(&request.head[0]);
    head.push_str("\r\n");
    for line in request.head.iter().skip(1) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "connection" || name == "expect" || name == "keep-alive" {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).await.ok()?;
    upstream.write_all(&request.body).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), upstream.read_to_end(&mut response)).await.ok()?.ok()?;
    let head_end = find(&response, b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&response[..head_end]).to_string();
    let status = head_text.split_whitespace().nth(1)?.parse().ok()?;
    let mut rewritten = String::new();
    for line in head_text.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "connection" || name == "keep-alive" {
            continue;
        }
        rewritten.push_str(line);
        rewritten.push_str("\r\n");
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    let mut bytes = rewritten.into_bytes();
    bytes.extend_from_slice(&response[head_end + 4..]);
    Some((status, bytes))
}

/// `attempt=2; max=3` -> (2, 3).
fn parse_attempt(value: &str) -> Option<(u32, u32)> {
    let mut attempt = None;
    let mut max = None;
    for part in value.split(';') {
        let (key, number) = part.trim().split_once('=')?;
        match key {
            "attempt" => attempt = number.parse().ok(),
            "max" => max = number.parse().ok(),
            _ => {}
        }
    }
    Some((attempt?, max?))
}

fn parse_start_job_run(body: &[u8]) -> Option<(String, BTreeMap<String, String>)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let job = value.get("JobName")?.as_str()?.to_string();
    let arguments = value
        .get("Arguments")
        .and_then(|arguments| arguments.as_object())
        .map(|object| {
            object.iter().map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_string())).collect()
        })
        .unwrap_or_default();
    Some((job, arguments))
}

/// The error a service of this protocol answers, status and bytes.
fn error_response(service: &str, fault: Fault, is_head: bool) -> (u16, Vec<u8>) {
    let (status, code, message) = match (service, fault) {
        (_, Fault::ExpiredToken) => {
            (400, "ExpiredTokenException", "The security token included in the request is expired")
        }
        ("s3", Fault::Throttle) => (503, "SlowDown", "Please reduce your request rate."),
        ("s3", Fault::InternalError) => (500, "InternalError", "We encountered an internal error. Please try again."),
        ("s3", _) => (503, "ServiceUnavailable", "Service is unable to handle request."),
        (_, Fault::Throttle) => (400, throttle_code(service), "Rate exceeded"),
        (_, Fault::Unavailable) => (503, "ServiceUnavailable", "Service is unavailable"),
        _ => (500, "InternalFailure", "The request processing has failed because of an unknown error"),
    };
    let request_id = "fault-proxy-0000";
    let (content_type, body, extra) = match service {
        "s3" => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ),
            String::new(),
        ),
        "sns" => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ),
                String::new(),
            )
        }
        _ => {
            let json_version = if matches!(service, "sqs" | "dynamodb") { "1.0" } else { "1.1" };
            let query_error =
                if service == "sqs" { format!("x-amzn-query-error: {code};Sender\r\n") } else { String::new() };
            (
                if json_version == "1.0" { "application/x-amz-json-1.0" } else { "application/x-amz-json-1.1" },
                serde_json::json!({"__type": code, "message": message}).to_string(),
                format!("x-amzn-ErrorType: {code}\r\n{query_error}"),
            )
        }
    };
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let shown_body = if is_head { "" } else { body.as_str() };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: {request_id}\r\n{extra}Connection: close\r\n\r\n{shown_body}",
        shown_body.len()
    );
    (status, text.into_bytes())
}

fn throttle_code(service: &str) -> &'static str {
    match service {
        "sqs" => "RequestLimitExceeded",
        "dynamodb" => "ProvisionedThroughputExceededException",
        "sns" => "Throttling",
        _ => "ThrottlingException",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_complete_only_with_its_last_chunk() {
        assert!(!chunked_complete(b"5\r\nhello\r\n"));
        assert!(chunked_complete(b"5\r\nhello\r\n0\r\n\r\n"));
        assert!(chunked_complete(b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"));
    }
}
