//! Evaluating a policy: finished episodes of the host policy, greedy or sampled, on
//! environment and policy streams kept apart from training's.

use sim_core::env::Environment;
use sim_core::params::ParamError;
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::{Episode, collect_episodes};

use crate::inference::{ActMode, ActOutput, InferencePolicy};

/// Runs `policy` in `num_envs` slots and returns the first `ceil(episodes / num_envs)` episodes
/// of every slot, in `(end step, slot)` order (per-slot quotas keep the sample unbiased; the
/// first episodes to finish overall would favour short ones). The environment seed is derived
/// from `seed` in the evaluation domain, so evaluation never replays training's episodes.
pub fn evaluate<E: Environment>(
    params: &E::Params,
    policy: &InferencePolicy,
    mode: ActMode,
    num_envs: usize,
    episodes: usize,
    seed: u64,
) -> Result<Vec<Episode<E>>, ParamError> {
    let env_key = StreamKey::derive(seed, domain::EVAL, 0);
    let env_seed = u64::from(env_key.0[0]) | (u64::from(env_key.0[1]) << 32);
    let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::EVAL, 1 + i as u64)).collect();
    let mut out = ActOutput::new(num_envs);
    collect_episodes::<E>(params, num_envs, env_seed, episodes, |obs, step, actions| {
        policy.act(obs, &keys, step, mode, &mut out);
        actions.copy_from_slice(&out.actions);
    })
}
