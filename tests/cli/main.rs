//! The JSON-lines contracts (`classify`, `decide`) and `replay`, through
//! the real binary.

mod protocol;
mod readme;
mod replay;
