//! Rollout storage and generalised advantage estimation.
//!
//! Layout is `[step, env]` (and `[step, env, obs]`), step-major, as the batched runner produces
//! it. The safety records travel with the rollout, but only a [`crate::penalty::Penalty`] reads
//! them; the trainer itself sees `rewards` and `costs` only.

use sim_core::env::{Environment, SafetyOf};

/// One rollout of `num_steps` steps of `num_envs` environments.
pub struct Rollout<E: Environment> {
    /// Steps per environment.
    pub num_steps: usize,
    /// Environments.
    pub num_envs: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// Observations the actions were taken in, `[T, N, D]`.
    pub obs: Vec<f32>,
    /// The observation after each step (the episode's last one where it ended), `[T, N, D]`.
    pub next_obs: Vec<f32>,
    /// Actions, `[T, N]`.
    pub actions: Vec<u32>,
    /// Log-probabilities of the actions under the acting policy, `[T, N]`.
    pub logprobs: Vec<f32>,
    /// Value estimates, `[T, N]`.
    pub values: Vec<f32>,
    /// Cost value estimates (zero without a cost critic), `[T, N]`.
    pub cost_values: Vec<f32>,
    /// Task rewards as the environment paid them, `[T, N]`.
    pub task_rewards: Vec<f32>,
    /// Training rewards: task rewards, plus the discounted value of the next state where an
    /// episode was truncated, then transformed by the penalty, `[T, N]`.
    pub rewards: Vec<f32>,
    /// Training costs for a cost constraint (written by the penalty), `[T, N]`.
    pub costs: Vec<f32>,
    /// The episode ended at this step (terminated or truncated), `[T, N]`.
    pub ends: Vec<bool>,
    /// The episode was truncated at this step (its next state was bootstrapped), `[T, N]`.
    pub truncated: Vec<bool>,
    /// The safety channel of each step, `[T, N]`: for penalties only.
    pub safety: Vec<SafetyOf<E>>,
    /// Whether the step is learned from, `[T, N]`: always, except in an episodic rollout
    /// (GRPO, RLOO), where a slot's steps after its scored episode ended are not (the trainer
    /// marks them after collection).
    pub live: Vec<bool>,
    /// Advantages of the training reward, `[T, N]`.
    pub advantages: Vec<f32>,
    /// Returns (advantages plus values), `[T, N]`.
    pub returns: Vec<f32>,
    /// Advantages of the cost, `[T, N]`.
    pub cost_advantages: Vec<f32>,
    /// Cost returns, `[T, N]`.
    pub cost_returns: Vec<f32>,
}

impl<E: Environment> Rollout<E> {
    /// Empty storage.
    pub fn new(num_steps: usize, num_envs: usize, obs_dim: usize) -> Self {
        let n = num_steps * num_envs;
        Rollout {
            num_steps,
            num_envs,
            obs_dim,
            obs: vec![0.0; n * obs_dim],
            next_obs: vec![0.0; n * obs_dim],
            actions: vec![0; n],
            logprobs: vec![0.0; n],
            values: vec![0.0; n],
            cost_values: vec![0.0; n],
            task_rewards: vec![0.0; n],
            rewards: vec![0.0; n],
            costs: vec![0.0; n],
            ends: vec![false; n],
            truncated: vec![false; n],
            safety: vec![SafetyOf::<E>::default(); n],
            live: vec![true; n],
            advantages: vec![0.0; n],
            returns: vec![0.0; n],
            cost_advantages: vec![0.0; n],
            cost_returns: vec![0.0; n],
        }
    }

    /// Number of samples, `T * N`.
    pub fn len(&self) -> usize {
        self.num_steps * self.num_envs
    }

    /// Whether the rollout holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills what a rollout source collects (observations, next observations, actions,
    /// log-probabilities, values, cost values, task and training rewards, costs, end and
    /// truncation flags, safety records) from environments `first..first + self.num_envs` of
    /// `all`, a rollout of the same steps over more environments: one run's share of a
    /// population's rollout.
    pub fn take_envs(&mut self, all: &Rollout<E>, first: usize) {
        let (n, wide, dim) = (self.num_envs, all.num_envs, self.obs_dim);
        assert!(all.num_steps == self.num_steps && all.obs_dim == dim && first + n <= wide, "rollout shapes");
        fn rows<T: Copy>(to: &mut [T], from: &[T], width: usize, n: usize, wide: usize, first: usize) {
            for (t, chunk) in to.chunks_exact_mut(n * width).enumerate() {
                let start = (t * wide + first) * width;
                chunk.copy_from_slice(&from[start..start + n * width]);
            }
        }
        rows(&mut self.obs, &all.obs, dim, n, wide, first);
        rows(&mut self.next_obs, &all.next_obs, dim, n, wide, first);
        rows(&mut self.actions, &all.actions, 1, n, wide, first);
        rows(&mut self.logprobs, &all.logprobs, 1, n, wide, first);
        rows(&mut self.values, &all.values, 1, n, wide, first);
        rows(&mut self.cost_values, &all.cost_values, 1, n, wide, first);
        rows(&mut self.task_rewards, &all.task_rewards, 1, n, wide, first);
        rows(&mut self.rewards, &all.rewards, 1, n, wide, first);
        rows(&mut self.costs, &all.costs, 1, n, wide, first);
        rows(&mut self.ends, &all.ends, 1, n, wide, first);
        rows(&mut self.truncated, &all.truncated, 1, n, wide, first);
        rows(&mut self.safety, &all.safety, 1, n, wide, first);
    }
}

/// Generalised advantage estimation (Schulman et al. 2016) over `[T, N]` arrays.
///
/// `ends[t]` cuts the recursion after step `t`: the episode ended there, and the next
/// observation belongs to a new one. Truncated steps must already carry the discounted value
/// of their real next state in `rewards` (the trainer adds it), so the cut is right for both
/// kinds of ending. `last_values` are the values of the observations after the last step.
#[allow(clippy::too_many_arguments)]
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    ends: &[bool],
    last_values: &[f32],
    num_envs: usize,
    gamma: f32,
    lambda: f32,
    advantages: &mut [f32],
    returns: &mut [f32],
) {
    let steps = rewards.len() / num_envs;
    for i in 0..num_envs {
        let mut last = 0.0f32;
        for t in (0..steps).rev() {
            let k = t * num_envs + i;
            let next_value = if t + 1 == steps { last_values[i] } else { values[k + num_envs] };
            let not_end = if ends[k] { 0.0 } else { 1.0 };
            let delta = rewards[k] + gamma * next_value * not_end - values[k];
            last = delta + gamma * lambda * not_end * last;
            advantages[k] = last;
            returns[k] = last + values[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GAE against a direct O(T²) evaluation of the λ-return definition.
    #[test]
    fn gae_matches_the_definition() {
        let (t_max, n, gamma, lambda) = (7usize, 2usize, 0.9f32, 0.8f32);
        let rewards: Vec<f32> = (0..t_max * n).map(|k| ((k * 7) % 5) as f32 - 1.0).collect();
        let values: Vec<f32> = (0..t_max * n).map(|k| ((k * 3) % 4) as f32 * 0.5).collect();
        let ends: Vec<bool> = (0..t_max * n).map(|k| k == 6 || k == 9).collect();
        let last = [0.7f32, -0.2];
        let (mut adv, mut ret) = (vec![0.0; t_max * n], vec![0.0; t_max * n]);
        gae(&rewards, &values, &ends, &last, n, gamma, lambda, &mut adv, &mut ret);
        for i in 0..n {
            for t in 0..t_max {
                // A_t = sum_l (γλ)^l δ_{t+l}, stopping after an episode end.
                let mut expected = 0.0f64;
                let mut factor = 1.0f64;
                for u in t..t_max {
                    let k = u * n + i;
                    let next_v = if u + 1 == t_max { last[i] } else { values[k + n] };
                    let not_end = if ends[k] { 0.0 } else { 1.0 };
                    let delta = f64::from(rewards[k]) + f64::from(gamma * next_v) * not_end - f64::from(values[k]);
                    expected += factor * delta;
                    if ends[k] {
                        break;
                    }
                    factor *= f64::from(gamma * lambda);
                }
                let k = t * n + i;
                assert!((f64::from(adv[k]) - expected).abs() < 1e-5, "t {t} env {i}: {} vs {expected}", adv[k]);
                assert!((ret[k] - adv[k] - values[k]).abs() < 1e-6);
            }
        }
    }
}
