//! Rollouts collected on the device: the policy's forward pass, action sampling, the
//! environment step and the advantage estimate, with no host round trip inside the loop.
//!
//! [`DeviceCollector::collect`] does what the host trainer's rollout does, as tensor
//! programs: observations go to [`ActorCritic::forward`], actions are sampled from the logits
//! with the same inverse-CDF rule and the same counter-based draw as the host
//! ([`sample`]; bit for bit on a CPU backend), the device environment steps, truncated
//! episodes are bootstrapped from the value of their last observation, and finished episodes'
//! task returns are summed on the device. [`gae`] computes advantages and returns on the
//! device. What comes back to the host is what the caller pulls: two numbers per rollout for
//! the episode statistics.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};
use sim_core::device::rng::{Keys, uniform_f32};
pub use sim_core::device::{DeviceEnv, DeviceTransition};
use sim_core::rng::{StreamKey, domain};

use crate::backend::PolicyBackend;
use crate::mask::masked;
use crate::policy::ActorCritic;

/// Samples one action per row of `logits` (`[N, A]`) from `uniforms` (`[N]`, in `[0, 1)`) by
/// the host's rule (`inference::choose`): the first action whose cumulative unnormalised
/// probability exceeds `u * sum`, else the first at which it reaches `sum`. Returns the actions
/// and their log-probabilities.
pub fn sample<B: Backend>(logits: Tensor<B, 2>, uniforms: Tensor<B, 1>) -> (Tensor<B, 1, Int>, Tensor<B, 1>) {
    let [n, a] = logits.dims();
    let max = logits.clone().max_dim(1);
    let cumulative = (logits.clone() - max.clone()).exp().cumsum(1);
    let sum = cumulative.clone().slice([0..n, a - 1..a]);
    let target = uniforms.reshape([n, 1]) * sum.clone();
    let below = cumulative.clone().lower_equal(target.expand([n, a])).int().sum_dim(1);
    // Where rounding puts the target at the very top: the first action at which the running
    // sum reaches the total (never one of probability zero, such as a masked action).
    let top = cumulative.lower(sum.clone().expand([n, a])).int().sum_dim(1);
    let actions = below.min_pair(top);
    let log_norm = max + sum.log();
    let logprobs = logits.gather(1, actions.clone()) - log_norm;
    (actions.reshape([n]), logprobs.reshape([n]))
}

/// A rollout on the device, `[T * N]` rows in step-major order (row `t * N + i` is step `t` of
/// environment `i`), as the host `Rollout` lays them out.
#[derive(Clone, Debug)]
pub struct DeviceRollout<B: Backend> {
    /// Observations the actions were taken in, `[T * N, obs_dim]`.
    pub obs: Tensor<B, 2>,
    /// Actions taken, `[T * N]`.
    pub actions: Tensor<B, 1, Int>,
    /// Their log-probabilities under the collecting policy.
    pub logprobs: Tensor<B, 1>,
    /// Value estimates of `obs`.
    pub values: Tensor<B, 1>,
    /// Training rewards: task rewards, plus `gamma * V(last observation)` where an episode was
    /// truncated.
    pub rewards: Tensor<B, 1>,
    /// Ground-truth violation costs.
    pub costs: Tensor<B, 1>,
    /// The episode ended at this step (terminated or truncated).
    pub ends: Tensor<B, 1, Bool>,
    /// Values of the observations after the last step, `[N]`.
    pub last_values: Tensor<B, 1>,
    /// Summed task returns of the episodes that ended in this rollout, `[1]`.
    pub ended_returns: Tensor<B, 1>,
    /// Number of episodes that ended in this rollout, `[1]`.
    pub ended_episodes: Tensor<B, 1>,
    /// Summed lengths of the episodes that ended in this rollout, `[1]`.
    pub ended_lengths: Tensor<B, 1>,
}

/// Collects rollouts from a device environment with a policy on the same device.
pub struct DeviceCollector<B: Backend, E: DeviceEnv<B>> {
    env: E,
    policy_keys: Keys<B>,
    step: u32,
    running_returns: Tensor<B, 1>,
    running_lengths: Tensor<B, 1>,
    gamma: f32,
    /// Logit offsets of an action mask (`crate::mask`), `[1, actions]`.
    mask: Option<Tensor<B, 2>>,
}

impl<B: PolicyBackend, E: DeviceEnv<B>> DeviceCollector<B, E> {
    /// A collector for `env` (`num_envs` environments), drawing actions from the streams the
    /// host trainer uses for seed `seed` (`domain::POLICY`, one per environment).
    pub fn new(env: E, num_envs: usize, seed: u64, gamma: f32, device: &B::Device) -> Self {
        let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::POLICY, i as u64)).collect();
        DeviceCollector {
            env,
            policy_keys: Keys::new(&keys, 0, device),
            step: 0,
            running_returns: Tensor::zeros([num_envs], device),
            running_lengths: Tensor::zeros([num_envs], device),
            gamma,
            mask: None,
        }
    }

    /// This collector sampling only the actions `mask` (logit offsets, `[1, actions]`) allows.
    pub fn with_mask(mut self, mask: Option<Tensor<B, 2>>) -> Self {
        self.mask = mask;
        self
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// Steps the environments `num_steps` times with `model`, all on the device.
    pub fn collect(&mut self, model: &ActorCritic<B>, num_steps: usize) -> DeviceRollout<B> {
        let mut rows = Rows::default();
        let zero = || self.running_returns.zeros_like().narrow(0, 0, 1);
        let (mut ended_returns, mut ended_episodes, mut ended_lengths) = (zero(), zero(), zero());
        for _ in 0..num_steps {
            let obs = self.env.obs();
            let out = model.forward(obs.clone());
            let uniforms = uniform_f32(self.policy_keys.base(self.step), 0);
            let (actions, logprobs) = sample(masked(out.logits, self.mask.as_ref()), uniforms);
            let tr = self.env.step(actions.clone());
            self.step = self.step.wrapping_add(1);
            let ends = tr.terminated.clone().bool_or(tr.truncated.clone());
            let mut rewards = tr.rewards.clone();
            if E::CAN_TRUNCATE {
                // A cut episode's next state still has value; a terminated one's has none.
                let cut = tr.truncated.clone().bool_and(tr.terminated.clone().bool_not());
                let bootstrap = model.values(tr.final_obs.clone()).mul_scalar(self.gamma);
                rewards = rewards + bootstrap.mask_fill(cut.bool_not(), 0.0);
            }
            let returns = self.running_returns.clone() + tr.rewards;
            let lengths = self.running_lengths.clone().add_scalar(1.0);
            let running = ends.clone().bool_not();
            ended_returns = ended_returns + returns.clone().mask_fill(running.clone(), 0.0).sum();
            ended_lengths = ended_lengths + lengths.clone().mask_fill(running, 0.0).sum();
            ended_episodes = ended_episodes + ends.clone().float().sum();
            self.running_returns = returns.mask_fill(ends.clone(), 0.0);
            self.running_lengths = lengths.mask_fill(ends.clone(), 0.0);
            rows.push(obs, actions, logprobs, out.values, rewards, tr.safety.cost, ends);
        }
        let last_values = model.values(self.env.obs());
        DeviceRollout {
            obs: Tensor::cat(rows.obs, 0),
            actions: Tensor::cat(rows.actions, 0),
            logprobs: Tensor::cat(rows.logprobs, 0),
            values: Tensor::cat(rows.values, 0),
            rewards: Tensor::cat(rows.rewards, 0),
            costs: Tensor::cat(rows.costs, 0),
            ends: Tensor::cat(rows.ends, 0),
            last_values,
            ended_returns,
            ended_episodes,
            ended_lengths,
        }
    }
}

/// Per-step tensors gathered by [`DeviceCollector::collect`].
struct Rows<B: Backend> {
    obs: Vec<Tensor<B, 2>>,
    actions: Vec<Tensor<B, 1, Int>>,
    logprobs: Vec<Tensor<B, 1>>,
    values: Vec<Tensor<B, 1>>,
    rewards: Vec<Tensor<B, 1>>,
    costs: Vec<Tensor<B, 1>>,
    ends: Vec<Tensor<B, 1, Bool>>,
}

impl<B: Backend> Default for Rows<B> {
    fn default() -> Self {
        Rows {
            obs: vec![],
            actions: vec![],
            logprobs: vec![],
            values: vec![],
            rewards: vec![],
            costs: vec![],
            ends: vec![],
        }
    }
}

impl<B: Backend> Rows<B> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        obs: Tensor<B, 2>,
        actions: Tensor<B, 1, Int>,
        logprobs: Tensor<B, 1>,
        values: Tensor<B, 1>,
        rewards: Tensor<B, 1>,
        costs: Tensor<B, 1>,
        ends: Tensor<B, 1, Bool>,
    ) {
        self.obs.push(obs);
        self.actions.push(actions);
        self.logprobs.push(logprobs);
        self.values.push(values);
        self.rewards.push(rewards);
        self.costs.push(costs);
        self.ends.push(ends);
    }
}

/// Generalised advantage estimation on the device: `crate::rollout::gae`'s recursion, one
/// `[N]`-wide step at a time from the last step back, with its operations in the same order
/// (so on a CPU backend the two agree bit for bit). Returns `(advantages, returns)`, `[T * N]`.
pub fn gae<B: Backend>(
    rewards: Tensor<B, 1>,
    values: Tensor<B, 1>,
    ends: Tensor<B, 1, Bool>,
    last_values: Tensor<B, 1>,
    num_envs: usize,
    gamma: f32,
    lambda: f32,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let steps = rewards.dims()[0] / num_envs;
    let row = |t: &Tensor<B, 1>, s: usize| t.clone().narrow(0, s * num_envs, num_envs);
    let mut advantages = Vec::with_capacity(steps);
    let not_ends = ends.float().neg().add_scalar(1.0);
    let mut last = last_values.zeros_like();
    let mut next_value = last_values;
    for s in (0..steps).rev() {
        let not_end = row(&not_ends, s);
        let value = row(&values, s);
        let delta = row(&rewards, s) + next_value.mul_scalar(gamma) * not_end.clone() - value.clone();
        last = delta + not_end.mul_scalar(gamma * lambda) * last;
        advantages.push(last.clone());
        next_value = value;
    }
    advantages.reverse();
    let advantages = Tensor::cat(advantages, 0);
    let returns = advantages.clone() + values;
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    use sim_core::rng::Draws;

    use super::*;
    use crate::inference::{ActMode, choose};

    /// The device sampler against the host's `choose`, on the same logits and draws: the same
    /// actions and the same log-probabilities, bit for bit, including near-certain and
    /// near-uniform rows.
    #[test]
    fn sampling_matches_the_host_rule() {
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for a in [2usize, 3, 10] {
            let n = 3000;
            let scale = |i: usize| [0.01f32, 1.0, 8.0, 40.0][i % 4];
            let logits: Vec<f32> =
                (0..n * a).map(|k| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * scale(k / a)).collect();
            let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(9, domain::POLICY, i as u64)).collect();
            let step = 17;
            let uniforms = uniform_f32(Keys::<Flex>::new(&keys, 0, &device).base(step), 0);
            let t = Tensor::<Flex, 2>::from_data(TensorData::new(logits.clone(), [n, a]), &device);
            let (actions, logprobs) = sample(t, uniforms);
            let actions: Vec<i64> = actions.into_data().convert::<i64>().to_vec().unwrap();
            let logprobs: Vec<f32> = logprobs.into_data().to_vec().unwrap();
            let mut seen = vec![0usize; a];
            for i in 0..n {
                let (want, want_lp) = choose(&logits[i * a..(i + 1) * a], &Draws::new(keys[i], step), ActMode::Sample);
                assert_eq!(actions[i], i64::from(want), "{a} actions, row {i}");
                assert_eq!(logprobs[i].to_bits(), want_lp.to_bits(), "{a} actions, row {i}");
                seen[want as usize] += 1;
            }
            assert!(seen.iter().all(|&c| c > 0), "every action drawn somewhere: {seen:?}");
        }
    }

    /// With an action mask, the device sampler (logits offset by −1e9) and the host's `choose`
    /// (masked logits at −∞) agree bit for bit, and neither takes a masked action, also with the
    /// largest uniform the generator makes (forced in every seventh row), which lands on the last
    /// allowed action past a masked tail. (The fallback for a target at the very top of the
    /// cumulative sum is defensive: with round-to-nearest, `u * sum < sum` for every `u < 1`.)
    #[test]
    fn masked_sampling_matches_the_host_and_never_takes_a_masked_action() {
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (n, a) = (4000usize, 6usize);
        let allowed = [true, false, true, true, false, false];
        let mask = crate::mask::ActionMask { allowed: allowed.to_vec() };
        let logits: Vec<f32> = (0..n * a).map(|_| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 6.0).collect();
        let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(2, domain::POLICY, i as u64)).collect();
        let mut uniforms: Vec<f32> =
            uniform_f32(Keys::<Flex>::new(&keys, 0, &device).base(3), 0).into_data().to_vec().unwrap();
        // The largest uniform the generator makes.
        for u in uniforms.iter_mut().step_by(7) {
            *u = 1.0 - 1.0 / 16_777_216.0;
        }
        let t = Tensor::<Flex, 2>::from_data(TensorData::new(logits.clone(), [n, a]), &device);
        let u = Tensor::<Flex, 1>::from_data(TensorData::new(uniforms.clone(), [n]), &device);
        let (actions, logprobs) = sample(masked(t, Some(&mask.offsets(&device))), u);
        let actions: Vec<i64> = actions.into_data().convert::<i64>().to_vec().unwrap();
        let logprobs: Vec<f32> = logprobs.into_data().to_vec().unwrap();
        for i in 0..n {
            let mut row = logits[i * a..(i + 1) * a].to_vec();
            mask.apply(&mut row);
            let (want, want_lp) = crate::inference::choose_with(&row, uniforms[i], ActMode::Sample);
            assert!(allowed[want as usize], "row {i}: masked action {want}");
            assert_eq!(actions[i], i64::from(want), "row {i}");
            assert_eq!(logprobs[i].to_bits(), want_lp.to_bits(), "row {i}");
        }
    }

    /// GAE on the device against the host recursion, bit for bit.
    #[test]
    fn gae_matches_the_host_recursion() {
        let device = Default::default();
        let (steps, n, gamma, lambda) = (9usize, 5usize, 0.97f32, 0.9f32);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut uniform = || rng.next_u32() as f32 / u32::MAX as f32;
        let rewards: Vec<f32> = (0..steps * n).map(|_| uniform() * 2.0 - 0.5).collect();
        let values: Vec<f32> = (0..steps * n).map(|_| uniform() * 3.0).collect();
        let ends: Vec<bool> = (0..steps * n).map(|_| uniform() < 0.2).collect();
        let last: Vec<f32> = (0..n).map(|_| uniform()).collect();
        let (mut adv, mut ret) = (vec![0.0; steps * n], vec![0.0; steps * n]);
        crate::rollout::gae(&rewards, &values, &ends, &last, n, gamma, lambda, &mut adv, &mut ret);
        let f = |v: &[f32]| Tensor::<Flex, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        let e = Tensor::<Flex, 1, Bool>::from_data(TensorData::new(ends.clone(), [ends.len()]), &device);
        let (dadv, dret) = gae(f(&rewards), f(&values), e, f(&last), n, gamma, lambda);
        let bits =
            |t: Tensor<Flex, 1>| t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(dadv), adv.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert_eq!(bits(dret), ret.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}
