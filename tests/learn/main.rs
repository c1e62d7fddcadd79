//! The simulator, training, evaluation and the policy commands.

mod evaluate;
mod heldout;
mod protocol;
mod show;
mod sim;
mod train;
