//! etl-medic: a self-healing agent for AWS Glue. See README.md and DESIGN.md.

pub mod adapters;
pub mod approval;
pub mod audit;
pub mod backtest;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod demo;

pub mod learn;
pub mod metrics;
pub mod policy_source;
pub mod ports;
pub mod sim;
