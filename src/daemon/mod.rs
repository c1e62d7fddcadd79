//! The daemon: a worker pool that long-polls the incident queue and runs
//! each Glue failure through intake, dedupe, evidence, decision, execution,
//! validation and audit, on whatever adapters it is handed.

pub mod context;
pub mod decision_round;
pub mod deleter;
pub mod escalation;
pub mod evidence;
pub mod executor;
pub mod incident;
pub mod intake;
pub mod pipeline;
pub mod pool;
pub mod reconciler;
pub mod settings;
pub mod wiring;
