//! Where a trainer's rollouts come from. One [`crate::Trainer`] runs PPO over either source:
//!
//! - [`HostSource`]: the native environments stepped by a `BatchRunner`, the policy's forward
//!   pass on the host ([`crate::inference`]).
//! - [`DeviceSource`]: device environments ([`sim_core::device::DeviceEnv`]) with the policy's
//!   forward pass, the action sampling and the truncation bootstrap on the same device; the
//!   rollout (typed safety records included) is read back to the host once per update, and its
//!   episodes are finished there by [`sim_core::runner::EpisodeLog`].
//!
//! Either way the trainer receives the same [`Rollout`] and the same finished episodes, so every
//! penalty, PPO-Lagrangian, both update kernels and checkpoints work with both.

mod device;
mod host;

pub use device::{DeviceSource, RunBuffers, sample};
pub use host::HostSource;

use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::runner::{Episode, EpisodeLog, RunnerSnapshot};

use crate::backend::TrainBackend;
use crate::error::StateError;
use crate::inference::InferencePolicy;
use crate::mask::ActionMask;
use crate::policy::ActorCritic;
use crate::rollout::Rollout;

/// The acting policy, in both of its forms, as a rollout source reads it.
pub struct Acting<'a, B: TrainBackend> {
    /// The host copy (what [`HostSource`] runs).
    pub policy: &'a InferencePolicy,
    /// The burn model (what [`DeviceSource`] runs, without its autodiff graph).
    pub model: &'a ActorCritic<B>,
    /// The actions allowed (`None`: all).
    pub mask: Option<&'a ActionMask>,
    /// The discount a truncated episode's last observation is bootstrapped with.
    pub gamma: f32,
}

/// A source of rollouts for environment `E`, acting with a policy trained on backend `B`.
pub trait RolloutSource<E: Environment, B: TrainBackend> {
    /// Steps the environments `rollout.num_steps` times with `acting` and fills `rollout`
    /// (observations, next observations, actions, log-probabilities, values and cost values,
    /// task rewards, training rewards with truncated episodes bootstrapped, end and truncation
    /// flags, safety records; costs zeroed), the values of the observations after the last step
    /// into `last_values` and `last_cost_values`. Returns the episodes that ended, in
    /// `(end step, slot)` order.
    fn collect(
        &mut self,
        acting: &Acting<'_, B>,
        rollout: &mut Rollout<E>,
        last_values: &mut [f32],
        last_cost_values: &mut [f32],
    ) -> Vec<Episode<E>>;

    /// Ends every environment's running episode unreported and starts a new one, the slots of
    /// each group of `group_size` consecutive slots from the same state (their steps still draw
    /// from their own streams): what an outcome-reward algorithm's episodic rollouts start
    /// with ([`crate::algorithms::Algorithm::group_size`]).
    fn restart(&mut self, group_size: usize);

    /// Everything needed to continue exactly, for checkpoints.
    fn snapshot(&self) -> SourceState<E>;

    /// Continues from `state` (taken by a source of the same kind and configuration).
    fn restore(&mut self, state: SourceState<E>) -> Result<(), StateError>;
}

/// A rollout source's state in a checkpoint.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum SourceState<E: Environment> {
    /// [`HostSource`]: the runner and the observations it last wrote.
    Host {
        /// The runner.
        runner: RunnerSnapshot<E>,
        /// The current observations, `[N, obs_dim]`.
        obs: Vec<f32>,
    },
    /// [`DeviceSource`]: the environments' states, read back, and their running episodes.
    Device(DeviceState<E>),
}

/// [`DeviceSource`]'s state in a checkpoint.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct DeviceState<E: Environment> {
    /// Steps taken.
    pub steps: u32,
    /// Every environment's state.
    pub states: Vec<E::State>,
    /// The running episodes.
    pub log: EpisodeLog<E>,
}

impl<E: Environment> SourceState<E> {
    /// Which loop wrote it, for errors.
    pub fn loop_name(&self) -> &'static str {
        match self {
            SourceState::Host { .. } => "host",
            SourceState::Device(_) => "device",
        }
    }
}
