//! Reliability: crashes of the real binary, injected AWS faults and lost
//! answers, hostile input, and property tests of the pipeline.

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod faults;
mod hostile;
mod proptest;
