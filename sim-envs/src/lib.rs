//! Environments of the simulator: ToyCloud, the environment the project exists for; CartPole-v1,
//! the reference for validating trainers; and the scripted reference policies that make each
//! environment's incentives checkable without training.
//!
//! ToyCloud's specification, scenarios and solver are chapters of the book (`docs/src/method/`
//! in the repository).

pub mod cartpole;
pub mod scripted;
pub mod toycloud;

pub use cartpole::{CartPole, CartPoleParams, CartPoleState};
pub use toycloud::{CloudAction, CloudMetrics, CloudParams, CloudState, ToyCloud};
