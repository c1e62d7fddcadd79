//! HTTP endpoints: `/metrics` (Prometheus text format from the injected
//! registry), `/healthz` (the process is alive and serving) and `/readyz`
//! (503 before the first successful receive and from the start of shutdown,
//! so load balancers and orchestrators stop counting on a draining worker).
//! Also the tiny client `etl-medic healthcheck` uses, because the container
//! image has no shell tools.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::daemon::pool::Health;

#[derive(Clone)]
struct Endpoints {
    registry: prometheus::Registry,
    health: Arc<Health>,
}

pub fn router(registry: prometheus::Registry, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Endpoints { registry, health })
}

async fn metrics(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    match crate::metrics::render(&endpoints.registry) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], error.to_string()),
    }
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    if endpoints.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Serve until `stop` is cancelled (after the pool's drain, so the last
/// scrape still sees the final counters).
pub async fn serve(listener: tokio::net::TcpListener, router: Router, stop: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0} is not an http://host:port/path URL")]
    BadUrl(String),
    #[error("cannot reach {address}: {source}")]
    Unreachable { address: String, source: std::io::Error },
    #[error("unexpected answer from {0}")]
    BadAnswer(String),
}

/// GET `url` (plain `http://`), returning the status code.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| ProbeError::BadUrl(url.to_string()))?;
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err(ProbeError::BadUrl(url.to_string()));
    }
    let unreachable = |source| ProbeError::Unreachable { address: authority.to_string(), source };
    let address =
        authority.to_socket_addrs().map_err(unreachable)?.next().ok_or_else(|| ProbeError::BadUrl(url.to_string()))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(unreachable)?;
    stream.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    stream.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut answer = Vec::new();
    stream.take(4_096).read_to_end(&mut answer).map_err(unreachable)?;
    let status_line = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| ProbeError::BadAnswer(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_answer_and_readiness_follows_the_pool() {
        let registry = prometheus::Registry::new();
        let metrics = crate::metrics::Metrics::register(&registry).unwrap();
        metrics.worker_slots.set(16);
        let health = Health::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, router(registry, health.clone()), stop.clone()));
        let base = format!("http://{address}");
        let get = |path: &'static str| {
            let url = format!("{base}{path}");
            tokio::task::spawn_blocking(move || probe(&url, Duration::from_secs(5)))
        };
        assert_eq!(get("/healthz").await.unwrap().unwrap(), 200);
        assert_eq!(get("/readyz").await.unwrap().unwrap(), 503, "not ready before the first receive");
        health.mark_receiving();
        assert_eq!(get("/readyz").await.unwrap().unwrap(), 200);
        health.mark_shutting_down();
        assert_eq!(get("/readyz").await.unwrap().unwrap(), 503, "not ready while shutting down");
        assert_eq!(get("/metrics").await.unwrap().unwrap(), 200);
        let url = format!("{base}/metrics");
        let body = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap()).unwrap();
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        })
        .await
        .unwrap();
        assert!(body.contains("etl_medic_worker_slots 16"));
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn probing_a_closed_port_or_a_bad_url_fails_clearly() {
        assert!(matches!(probe("https://x/healthz", Duration::from_millis(100)), Err(ProbeError::BadUrl(_))));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            probe(&format!("http://{address}/healthz"), Duration::from_millis(500)),
            Err(ProbeError::Unreachable { .. })
        ));
    }
}
