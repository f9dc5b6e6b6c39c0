//! Scripted reference policies: fixed behaviours that make an environment's incentives
//! checkable without training, and the evaluation loop that runs them.

use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_core::runner::collect_episodes;

/// A policy acting on observations only, as an agent would; randomness (if any) comes from the
/// counter-based draws it is handed, so scripted runs are deterministic too.
pub trait ScriptedPolicy: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// The action for observation `obs`.
    fn act(&self, obs: &[f32], draws: &Draws) -> u32;
}

/// Uniformly random actions.
pub struct RandomPolicy {
    /// Size of the action space.
    pub num_actions: u32,
}

impl ScriptedPolicy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }
    fn act(&self, _: &[f32], draws: &Draws) -> u32 {
        draws.below(0, self.num_actions)
    }
}

/// Runs `policy` in `num_envs` slots and returns the first `episodes / num_envs` (rounded up)
/// episodes of every slot: `num_envs * ceil(episodes / num_envs)` episodes, in `(end step, slot)`
/// order.
///
/// Taking the first episodes of *each* slot keeps the sample unbiased; taking the first
/// episodes to finish overall would favour short episodes.
pub fn evaluate<E: Environment>(
    params: &E::Params,
    policy: &dyn ScriptedPolicy,
    num_envs: usize,
    episodes: usize,
    seed: u64,
) -> Result<Vec<Episode<E>>, ParamError> {
    let dim = E::spaces(params).obs_dim;
    let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::SCRIPT, i as u64)).collect();
    collect_episodes::<E>(params, num_envs, seed, episodes, |obs, step, actions| {
        for (i, a) in actions.iter_mut().enumerate() {
            *a = policy.act(&obs[i * dim..(i + 1) * dim], &Draws::new(keys[i], step));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CartPole;

    /// Always pushing right ends CartPole episodes after a length that varies with the start
    /// state: every slot contributes exactly its quota, and the mean length matches a run long
    /// enough for the first-to-finish bias to vanish.
    #[test]
    fn evaluation_takes_the_first_episodes_of_every_slot() {
        struct Right;
        impl ScriptedPolicy for Right {
            fn name(&self) -> &str {
                "right"
            }
            fn act(&self, _: &[f32], _: &Draws) -> u32 {
                1
            }
        }
        let params = crate::CartPoleParams::default();
        let eps = evaluate::<CartPole>(&params, &Right, 64, 640, 3).unwrap();
        assert_eq!(eps.len(), 640);
        let mut per_slot = [0usize; 64];
        for e in &eps {
            per_slot[e.slot as usize] += 1;
        }
        assert!(per_slot.iter().all(|&n| n == 10));
        let one_each = evaluate::<CartPole>(&params, &Right, 640, 640, 3).unwrap();
        let mean = |v: &[Episode<CartPole>]| v.iter().map(|e| f64::from(e.length)).sum::<f64>() / v.len() as f64;
        assert!((mean(&eps) - mean(&one_each)).abs() < 0.5, "{} vs {}", mean(&eps), mean(&one_each));
    }
}
