//! The daemon: a worker pool that long-polls the incident queue and runs
//! each Glue failure through intake, dedupe, evidence, decision, execution,
//! validation and audit, on whatever adapters it is handed. `app` assembles
//! it once, for `run`, the demo and the tests.

pub mod app;
pub mod approval;
pub mod context;
pub mod decision_round;
pub mod deleter;
pub mod escalation;
pub mod executor;
pub mod gather;
pub mod http;
pub mod incident;
pub mod intake;
pub mod pipeline;
pub mod policy;
pub mod pool;
pub mod reconciler;
pub mod settle;
pub mod slack;
pub mod source_watch;
pub mod step;
