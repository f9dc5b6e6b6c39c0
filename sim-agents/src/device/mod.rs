//! Learning on the device: rollouts collected from a device environment
//! (`sim_core::device::DeviceEnv`, whose forms for CartPole and ToyCloud live in `sim-envs`
//! behind its feature `device`) with the policy on the same device (forward pass, action
//! sampling, bootstrapping, episode returns), and advantages computed there ([`rollout`]).
//! `crate::ppo::device::DeviceTrainer` trains on it (`train --loop device`); the host
//! `crate::Trainer` steps the native environments and runs the rollout's forward pass on the
//! host, and only its update runs on the device.

pub mod rollout;
