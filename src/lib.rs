//! etl-medic: a self-healing agent for AWS Glue. See README.md and DESIGN.md.

pub mod cli;
pub mod config;
pub mod core;
pub mod ports;
pub mod adapters;
pub mod daemon;
pub mod metrics;
pub mod audit;
pub mod demo;
pub mod http;
pub mod learn;
pub mod sim;
