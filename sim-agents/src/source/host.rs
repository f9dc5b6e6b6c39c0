//! The host source: native environments in a `BatchRunner`, the policy's forward pass on the
//! host.

use sim_core::env::Environment;
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::{BatchRunner, Episode, SafetyBuffer, StepBuffers, safety_buffer};

use super::{Acting, RolloutSource, SourceState};
use crate::backend::TrainBackend;
use crate::error::{StateError, TrainError};
use crate::inference::{ActMode, ActOutput};
use crate::rollout::Rollout;

/// Native environments stepped on the host, acted in by the host copy of the policy.
pub struct HostSource<E: Environment> {
    runner: BatchRunner<E>,
    buffers: StepBuffers,
    safety: SafetyBuffer<E>,
    act: ActOutput,
    policy_keys: Vec<StreamKey>,
}

impl<E: Environment> HostSource<E> {
    /// `num_envs` environments under `params`, seeded by `seed` (the policy's draws too).
    pub fn new(params: E::Params, num_envs: usize, seed: u64) -> Result<Self, TrainError> {
        let mut buffers = StepBuffers::new(E::spaces(&params), num_envs);
        let runner = BatchRunner::<E>::new(params, num_envs, seed, &mut buffers)?;
        Ok(HostSource {
            runner,
            buffers,
            safety: safety_buffer::<E>(num_envs),
            act: ActOutput::new(num_envs),
            policy_keys: policy_keys(seed, num_envs),
        })
    }
}

/// The streams the policy's action draws come from, one per environment (both sources).
pub(super) fn policy_keys(seed: u64, num_envs: usize) -> Vec<StreamKey> {
    (0..num_envs).map(|i| StreamKey::derive(seed, domain::POLICY, i as u64)).collect()
}

impl<E: Environment, B: TrainBackend> RolloutSource<E, B> for HostSource<E> {
    fn collect(
        &mut self,
        acting: &Acting<'_, B>,
        r: &mut Rollout<E>,
        last_values: &mut [f32],
        last_cost_values: &mut [f32],
    ) -> Vec<Episode<E>> {
        let (n, dim, gamma) = (r.num_envs, r.obs_dim, acting.gamma);
        let policy = acting.policy;
        let mut episodes = Vec::new();
        let mut bootstrap = [0.0f32; 1];
        for t in 0..r.num_steps {
            let rows = t * n..(t + 1) * n;
            r.obs[t * n * dim..(t + 1) * n * dim].copy_from_slice(&self.buffers.obs);
            policy.act(&self.buffers.obs, &self.policy_keys, self.runner.steps(), ActMode::Sample, &mut self.act);
            r.actions[rows.clone()].copy_from_slice(&self.act.actions);
            r.logprobs[rows.clone()].copy_from_slice(&self.act.logprobs);
            r.values[rows.clone()].copy_from_slice(&self.act.values);
            r.cost_values[rows.clone()].copy_from_slice(&self.act.cost_values);
            self.runner.step(&self.act.actions, &mut self.buffers, &mut self.safety);
            r.task_rewards[rows.clone()].copy_from_slice(&self.buffers.rewards);
            r.rewards[rows.clone()].copy_from_slice(&self.buffers.rewards);
            r.costs[rows.clone()].fill(0.0);
            r.safety[rows.clone()].copy_from_slice(&self.safety);
            r.next_obs[t * n * dim..(t + 1) * n * dim].copy_from_slice(&self.buffers.obs);
            for i in 0..n {
                let k = t * n + i;
                let (terminated, truncated) = (self.buffers.terminated[i], self.buffers.truncated[i]);
                r.ends[k] = terminated || truncated;
                r.truncated[k] = truncated && !terminated;
                if r.ends[k] {
                    let last = &self.buffers.final_obs[i * dim..(i + 1) * dim];
                    r.next_obs[k * dim..(k + 1) * dim].copy_from_slice(last);
                    if r.truncated[k] {
                        // The episode was cut, not finished: its next state still has value.
                        policy.values(last, &mut bootstrap);
                        r.rewards[k] += gamma * bootstrap[0];
                    }
                }
            }
            self.runner.drain_episodes(&mut episodes);
        }
        policy.values(&self.buffers.obs, last_values);
        policy.cost_values(&self.buffers.obs, last_cost_values);
        episodes
    }

    fn restart(&mut self, group_size: usize) {
        let keys = StreamKey::envs(self.runner.seed(), self.runner.num_envs());
        self.runner.restart(&StreamKey::grouped(&keys, group_size), &mut self.buffers);
    }

    fn snapshot(&self) -> SourceState<E> {
        SourceState::Host { runner: self.runner.snapshot(), obs: self.buffers.obs.clone() }
    }

    fn restore(&mut self, state: SourceState<E>) -> Result<(), StateError> {
        let SourceState::Host { runner, obs } = state else {
            return Err(StateError::WrongLoop { found: state.loop_name(), expected: "host" });
        };
        if obs.len() != self.buffers.obs.len() {
            return Err(StateError::Mismatch { what: "observation buffer" });
        }
        self.runner = BatchRunner::restore(self.runner.params().clone(), runner)?;
        self.buffers.obs = obs;
        Ok(())
    }
}
