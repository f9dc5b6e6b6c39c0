//! Environments of the simulator: ToyCloud, the environment the project exists for; CartPole-v1,
//! the reference for validating trainers; and the scripted reference policies that define
//! each environment's incentives.

pub mod cartpole;

pub use cartpole::{CartPole, CartPoleParams, CartPoleState};
