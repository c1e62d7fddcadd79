//! Adapters: implementations of the ports in `crate::ports`.
//!
//! `memory` holds real in-memory implementations (the demo, the simulator
//! and the daemon tests run on them); the AWS SDK adapters live beside it,
//! with the escalation webhook (`webhook`) and the notifier that sends an
//! escalation to SNS and the webhook both (`fan_out`). `wiring` assembles
//! either set into the daemon's `Ports`.

pub mod aws;
pub mod fan_out;
pub mod memory;
pub mod webhook;
pub mod wiring;
