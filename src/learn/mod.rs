//! Learning: tabular Q-learning on randomised simulated estates (`train`),
//! the comparison of the trained policy with baselines and an oracle on the
//! same seeded incidents (`evaluate`, with an SVG chart, held-out sets
//! always included), the readable renderings of a policy file (`policy
//! show`, `policy explain`), and learning from the estate one runs on:
//! experience lines (`experience`, `collect`, `export`) and `learn`
//! (`dataset`, `pool`, `fit`, `ope`, `candidate`).

pub mod agent;
pub mod candidate;
pub mod chart;
pub mod collect;
pub mod dataset;
pub mod episode;
pub mod evaluate;
pub mod experience;
pub mod export;
pub mod fit;
pub mod ope;
pub mod oracle;
pub mod pool;
pub mod show;
pub mod train;
