//! Environments of the simulator: ToyCloud, the environment the project exists for; CartPole-v1,
//! the reference for validating trainers; and the scripted reference policies that make each
//! environment's incentives checkable without training.

pub mod cartpole;
pub mod scripted;
pub mod toycloud;

pub use cartpole::{CartPole, CartPoleParams, CartPoleState};
pub use toycloud::{CloudAction, CloudMetrics, CloudParams, CloudState, ToyCloud};
