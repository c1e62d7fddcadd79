//! The SDK has no response timeout of its own: against a server that accepts
//! connections and never answers, an adapter call must still end, with a
//! retryable error, after the configured attempts.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use etl_medic::adapters::aws::client::{CallBudget, CallBudgets};
use etl_medic::adapters::aws::{AwsConnection, ExplicitEndpoint, GlueJobControl};
use etl_medic::ports::JobControl;

/// Accepts every connection, reads nothing, answers nothing; counts them.
fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(connection);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_server_that_never_answers_gives_a_retryable_error_after_the_attempts() {
    let (url, accepted) = silent_server();
    let quick = CallBudget {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(300),
        operation_timeout: Duration::from_secs(5),
        max_attempts: 3,
    };
    let budgets = CallBudgets { queue: quick, control: quick, object: quick };
    let connection = AwsConnection::for_endpoint(&ExplicitEndpoint::local(url)).with_call_budgets(budgets);
    let jobs = GlueJobControl::new(&connection);

    let started = Instant::now();
    let error = jobs.get_job("orders_daily").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.operation(), etl_medic::ports::Operation::GetJob);
    assert!(elapsed < Duration::from_secs(5), "ended by the attempt timeouts, not the operation timeout: {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(600), "more than one attempt was made: {elapsed:?}");
    assert!(accepted.load(Ordering::SeqCst) >= 2, "each attempt opened a connection");
}
