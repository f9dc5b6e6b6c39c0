//! Environments as tensor programs: the device path, where state, observations, rewards and
//! end flags stay on the backend's device (a GPU with burn's CUDA backend) between steps.
//!
//! Each device environment mirrors a native one of `sim-envs` step for step: the same
//! parameters, the same counter-based draws ([`rng`] evaluates `sim_core::rng::Draws` with
//! integer tensor operations), the same autoreset. On a CPU backend the two agree bit for bit
//! (`tests/device_parity.rs`); on a GPU, `sin`/`cos` and fused multiply-adds may differ in the
//! last bits, so trajectories agree within floating-point tolerance until an episode's end
//! lands on the other side of a threshold.
//!
//! They live here rather than in `sim-envs` because they are burn programs, and `sim-envs`
//! stays free of burn.
//!
//! Built so far: [`cartpole::DeviceCartPole`] and [`toycloud::DeviceToyCloud`] (with its safety
//! channel), and [`rollout`], which collects rollouts from them with the policy on the same
//! device (forward pass, action sampling, bootstrapping, episode returns, GAE) without a host
//! round trip. `crate::ppo::device::DeviceTrainer` trains on it (`train --loop device`); the
//! host `crate::Trainer` steps the native environments and runs the rollout's forward pass on
//! the host, and only its update runs on the device.

pub mod cartpole;
pub mod rng;
pub mod rollout;
pub mod toycloud;
