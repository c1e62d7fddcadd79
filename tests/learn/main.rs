//! The simulator, training, evaluation and the policy commands.

mod evaluate;
mod show;
mod sim;
mod train;
