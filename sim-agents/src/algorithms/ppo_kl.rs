//! PPO with a per-step KL penalty to a reference policy, in the reward (the RLHF form of
//! Ziegler et al. 2019 and Ouyang et al. 2022): every step's training reward becomes
//! `r_t - beta * (log π_old(a_t|s_t) - log π_ref(a_t|s_t))`, the acting policy's log-ratio to
//! the reference on the action it took (whose expectation under π_old is KL(π_old ‖ π_ref)),
//! and GAE and PPO's loss run on the shaped rewards. Its loss is PPO's, so the hand-written
//! kernels run it too.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

use burn::tensor::Tensor;

use crate::backend::TrainBackend;
use crate::inference::{InferencePolicy, exp_sum};
use crate::policy::ActorCritic;
use crate::ppo::{EpochStats, Minibatch, Objective, PpoConfig, Trajectories, ppo_loss};
use crate::rollout::gae;

/// PPO with the KL penalty `beta` to `reference` in the reward.
pub struct PpoKl<B: TrainBackend> {
    beta: f32,
    /// The reference, frozen, on the host.
    reference: InferencePolicy,
    /// The last rollout's mean log-ratio to the reference (f32 bits), for the metrics.
    last_kl: AtomicU32,
    backend: PhantomData<fn() -> B>,
}

impl<B: TrainBackend> PpoKl<B> {
    /// The objective with coefficient `beta` to `reference` (frozen as it is now).
    pub fn new(beta: f32, reference: &ActorCritic<B>) -> Self {
        PpoKl { beta, reference: reference.to_inference(), last_kl: AtomicU32::new(0), backend: PhantomData }
    }

    /// The reference's log-probability of `actions[k]` in observation row `k` of `obs`
    /// (`[rows, obs_dim]` flat).
    fn ref_logprobs(&self, obs: &[f32], actions: &[u32]) -> Vec<f32> {
        let dim = self.reference.obs_dim();
        let row = |k: usize| {
            let logits = self.reference.logits(&obs[k * dim..(k + 1) * dim]);
            let (max, sum) = exp_sum(&logits);
            logits[actions[k] as usize] - max - sum.ln()
        };
        (0..actions.len()).map(row).collect()
    }

    /// `rewards` shaped by the KL penalty: `r - beta * (logprob - ref_logprob)` per step, and
    /// the mean log-ratio.
    pub fn shape(beta: f32, rewards: &[f32], logprobs: &[f32], ref_logprobs: &[f32]) -> (Vec<f32>, f32) {
        let mut sum = 0.0f64;
        let shaped = rewards
            .iter()
            .zip(logprobs.iter().zip(ref_logprobs))
            .map(|(&r, (&lp, &rlp))| {
                sum += f64::from(lp - rlp);
                r - beta * (lp - rlp)
            })
            .collect();
        (shaped, (sum / rewards.len().max(1) as f64) as f32)
    }
}

impl<B: TrainBackend> Objective<B> for PpoKl<B> {
    fn name(&self) -> &'static str {
        "PPO-KL"
    }

    fn advantages(&self, t: Trajectories<'_>, c: &PpoConfig, advantages: &mut [f32], returns: &mut [f32]) {
        let ref_logprobs = self.ref_logprobs(t.obs, t.actions);
        let (shaped, kl) = Self::shape(self.beta, t.rewards, t.logprobs, &ref_logprobs);
        self.last_kl.store(kl.to_bits(), Ordering::Relaxed);
        gae(&shaped, t.values, t.ends, t.last_values, t.num_envs, c.gamma, c.gae_lambda, advantages, returns);
    }

    fn loss(
        &self,
        model: &ActorCritic<B>,
        minibatch: Minibatch<B>,
        c: &PpoConfig,
        mask: Option<&Tensor<B, 2>>,
    ) -> (Tensor<B, 1>, EpochStats) {
        ppo_loss(model, minibatch, c, mask)
    }

    fn is_ppo(&self) -> bool {
        true
    }

    fn reference_kl(&self) -> Option<f32> {
        Some(f32::from_bits(self.last_kl.load(Ordering::Relaxed)))
    }
}
