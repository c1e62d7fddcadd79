//! The daemon: a worker pool that long-polls the incident queue and runs
//! each Glue failure through intake, dedupe, evidence, decision, execution,
//! validation and audit, on whatever adapters it is handed.

pub mod settings;
