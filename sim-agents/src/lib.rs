//! Learning on burn: the actor-critic policy and its host inference path, PPO and the other
//! [`algorithms`] (each an objective the same trainer runs) with penalties
//! and PPO-Lagrangian over rollouts from the host or the device ([`source`]), populations of runs
//! trained together on the device ([`population`]), and checkpoints that resume exactly.
//!
//! The book (`docs/` in the repository) has the guide "Writing your own algorithm".
//!
//! `sim-agents` knows learning, not any particular experiment: it trains any
//! [`sim_core::env::Environment`], and reads the safety channel only through a
//! [`penalty::Penalty`].

pub mod algorithms;
pub mod backend;
pub mod checkpoint;
pub mod error;
pub mod evaluate;
pub mod inference;
pub mod mask;
pub mod math;
pub mod penalty;
pub mod policy;
pub mod population;
pub mod ppo;
pub mod pretrain;
pub mod rollout;
pub mod source;

pub use error::{StateError, TrainError};
pub use ppo::{PpoConfig, Trainer, UpdateMetrics, UpdateReport, UpdateTimings};
