//! What the test crates share: a moto server per test (`moto`), the daemon
//! on in-memory adapters (`harness`), a Glue estate in moto with the daemon
//! on the AWS adapters (`estate`), a fleet of failing jobs for the
//! reliability tests (`fleet`), a fault-injecting proxy (`fault_proxy`) and
//! the real binary as a child process (`daemon_process`). Each crate uses a
//! different part.

#![allow(dead_code)]

pub mod daemon_process;
pub mod estate;
pub mod fault_proxy;
pub mod fleet;
pub mod harness;
pub mod moto;

pub use moto::*;
