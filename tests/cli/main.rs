//! The JSON-lines contracts (`classify`, `decide`), `decide` on hostile
//! input, and `replay`, through the real binary.

mod hostile;
mod protocol;
mod replay;
