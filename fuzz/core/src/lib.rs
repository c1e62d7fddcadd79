//! etl-medic's pure decision core and settings, as the fuzz targets see
//! them: the crate's own files, included by path, so a finding here is a
//! finding in the daemon and the CLI.

#[path = "../../../src/config/mod.rs"]
pub mod config;
#[path = "../../../src/core/mod.rs"]
pub mod core;
