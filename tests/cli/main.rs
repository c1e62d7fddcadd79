//! The JSON-lines contracts (`classify`, `decide`), `decide` on hostile
//! input, `replay` and `backtest`, through the real binary.

mod autonomy;
mod backtest;
mod hostile;
mod policy;
mod protocol;
mod readme;
mod replay;
