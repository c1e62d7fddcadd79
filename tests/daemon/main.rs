//! The daemon on in-memory adapters: actions, delivery, shutdown, the demo
//! and the escalation webhook.

#[path = "../support/mod.rs"]
mod support;

mod actions;
mod approve;
mod delivery;
mod demo;
mod policy;
mod settle;
mod shutdown;
mod webhook;
