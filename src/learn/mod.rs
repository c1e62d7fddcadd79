//! Learning: Q-learning training on the simulator, evaluation against baselines, policy rendering.
