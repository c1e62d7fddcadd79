//! The JSON-lines contracts (`classify`, `decide`), `replay` and
//! `backtest`, through the real binary.

mod backtest;
mod protocol;
mod readme;
mod replay;
