//! `etl-medic backtest`: what etl-medic would have done about an account's
//! past Glue failures, and what that would have saved, read-only.

pub mod asof;
pub mod estimate;
pub mod follow_up;
pub mod record;
pub mod retry;
pub mod window;
