//! Learning: tabular Q-learning on the simulated estate (`train`), the
//! comparison of the trained policy with baselines and an oracle on the same
//! seeded incidents (`evaluate`, with an SVG chart), and the readable
//! renderings of a policy file (`policy show`, `policy explain`).

pub mod agent;
pub mod chart;
pub mod episode;
pub mod evaluate;
pub mod experience;
pub mod oracle;
pub mod show;
pub mod train;
