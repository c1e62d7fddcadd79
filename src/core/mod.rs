//! The decision core: pure functions from gathered evidence to a decision.
//!
//! Nothing in this tree does I/O, reads a clock or the environment, awaits,
//! touches an AWS type or draws an unseeded random number. The same code runs
//! in the daemon, the simulator, `decide`, `replay` and `train`; the test
//! `tests/core/purity.rs` keeps it that way.

pub mod decide;
pub mod decision;
pub mod diagnosis;
pub mod event;
pub mod evidence;
pub mod lenient;
pub mod model;
pub mod params;
pub mod policy;
pub mod s3;
pub mod safety;
pub mod safety_settings;
