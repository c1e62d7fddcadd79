//! Adapters: implementations of the ports in `crate::ports`.
//!
//! `memory` holds real in-memory implementations (the demo, the simulator
//! and the daemon tests run on them); the AWS SDK adapters live beside it.

pub mod aws;
pub mod memory;
