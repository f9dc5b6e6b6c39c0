//! GRPO and RLOO: outcome-reward algorithms without a critic. A rollout is episodic (see
//! [`super::Algorithm::group_size`]): every slot plays one scored episode from a start it shares
//! with the other `G - 1` slots of its group. An episode's advantage is its return compared
//! with its group's ([`Baseline`]), the same for each of its steps; the loss is PPO's clipped
//! ratio per step plus `beta` times the k3 estimate of the KL to the reference, averaged over
//! the scored steps (the per-step mean of Dr. GRPO and DAPO, not GRPO's per-episode mean, so
//! a long episode weighs as many steps as it has).
//!
//! What IPA (the incident's algorithm) adds is credit per *chunk* of interaction instead of
//! per episode: a ToyCloud step is one tool call with its observable effect, so the steps are
//! already the chunks; chunk-level credit would need a per-step outcome signal (a verifier of
//! intermediate progress) that ToyCloud's reward, paid at completion and deadline, does not
//! give. Per-episode outcome credit is what is built here.

use std::sync::atomic::{AtomicU32, Ordering};

use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

use crate::backend::TrainBackend;
use crate::policy::ActorCritic;
use crate::ppo::{EpochStats, Minibatch, Objective, PpoConfig, Trajectories, policy_terms, read_scalars};

/// How an episode's return is compared with its group's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// GRPO: `(R_i - mean) / (std + 1e-4)`, the std unbiased (over `G - 1`), as TRL's GRPO
    /// trainer computes it. A group whose returns are all equal has advantage 0.
    Standardised,
    /// RLOO: `R_i - mean of the other G - 1 returns`, an unbiased baseline independent of the
    /// episode it is subtracted from.
    LeaveOneOut,
}

/// The ε added to the group's standard deviation by [`Baseline::Standardised`].
pub const STD_EPS: f64 = 1e-4;

/// Each slot's outcome: the sum of its training rewards over the steps of its scored episode
/// (`t.live`), `[N]`.
pub fn outcome_returns(t: &Trajectories<'_>) -> Vec<f64> {
    let n = t.num_envs;
    let mut ret = vec![0.0; n];
    for (k, (&r, &live)) in t.rewards.iter().zip(t.live).enumerate() {
        if live {
            ret[k % n] += f64::from(r);
        }
    }
    ret
}

/// Each return's advantage against its group: consecutive runs of `group_size` returns.
pub fn group_advantages(returns: &[f64], group_size: usize, baseline: Baseline) -> Vec<f64> {
    assert!(group_size >= 2 && returns.len().is_multiple_of(group_size), "whole groups of at least 2");
    let g = group_size as f64;
    returns
        .chunks_exact(group_size)
        .flat_map(|group| {
            let sum: f64 = group.iter().sum();
            let mean = sum / g;
            let std = (group.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (g - 1.0)).sqrt();
            group.iter().map(move |&r| match baseline {
                Baseline::Standardised => (r - mean) / (std + STD_EPS),
                Baseline::LeaveOneOut => r - (sum - r) / (g - 1.0),
            })
        })
        .collect()
}

/// GRPO's or RLOO's objective (which, by its [`Baseline`]).
pub struct GroupObjective<B: TrainBackend> {
    name: &'static str,
    baseline: Baseline,
    group_size: usize,
    beta: f32,
    /// The reference, frozen, without its autodiff graph.
    reference: ActorCritic<B::InnerBackend>,
    /// The last minibatch's k3 estimate (f32 bits), for the metrics.
    last_kl: AtomicU32,
}

impl<B: TrainBackend> GroupObjective<B> {
    /// `name`'s objective: groups of `group_size`, KL coefficient `beta` to `reference` (frozen
    /// as it is now).
    pub fn new(
        name: &'static str,
        baseline: Baseline,
        group_size: usize,
        beta: f32,
        reference: &ActorCritic<B>,
    ) -> Self {
        let reference = reference.valid();
        GroupObjective { name, baseline, group_size, beta, reference, last_kl: AtomicU32::new(0) }
    }
}

impl<B: TrainBackend> Objective<B> for GroupObjective<B> {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Every scored step of slot `i` gets its episode's group advantage (the others 0); the
    /// "returns" are the outcomes themselves (there is no critic to fit).
    fn advantages(&self, t: Trajectories<'_>, _: &PpoConfig, advantages: &mut [f32], returns: &mut [f32]) {
        let n = t.num_envs;
        let outcomes = outcome_returns(&t);
        let adv = group_advantages(&outcomes, self.group_size, self.baseline);
        for (k, &live) in t.live.iter().enumerate() {
            advantages[k] = if live { adv[k % n] as f32 } else { 0.0 };
            returns[k] = outcomes[k % n] as f32;
        }
    }

    fn reference_kl(&self) -> Option<f32> {
        (self.beta > 0.0).then(|| f32::from_bits(self.last_kl.load(Ordering::Relaxed)))
    }

    fn loss(
        &self,
        model: &ActorCritic<B>,
        m: Minibatch<B>,
        c: &PpoConfig,
        mask: Option<&Tensor<B, 2>>,
    ) -> (Tensor<B, 1>, EpochStats) {
        let [n] = m.old_logprobs.dims();
        let device = m.old_logprobs.device();
        let weights = m.live.unwrap_or_else(|| Tensor::ones([n], &device));
        let scored = weights.clone().sum().clamp_min(1.0);
        let mean = |x: Tensor<B, 1>| (x * weights.clone()).sum() / scored.clone();

        let (new_logprobs, entropy) = policy_terms(model.logits(m.obs.clone()), m.actions.clone(), mask);
        let entropy = mean(entropy);
        let log_ratio = new_logprobs.clone() - m.old_logprobs;
        let ratio = log_ratio.clone().exp();
        let pg1 = -m.advantages.clone() * ratio.clone();
        let pg2 = -m.advantages * ratio.clone().clamp(1.0 - c.clip_coef, 1.0 + c.clip_coef);
        let policy_loss = mean(pg1.max_pair(pg2));
        let mut loss = policy_loss.clone() - entropy.clone() * c.ent_coef;
        let ref_kl = if self.beta > 0.0 {
            // The reference's log-probabilities, off the graph.
            let ref_log_probs = Tensor::from_inner(log_softmax(self.reference.logits(m.obs.inner()), 1));
            let ref_logprobs = ref_log_probs.gather(1, m.actions.reshape([n, 1])).reshape([n]);
            let log_r = ref_logprobs - new_logprobs;
            let kl = mean(log_r.clone().exp() - log_r - 1.0);
            loss = loss + kl.clone() * self.beta;
            kl.detach()
        } else {
            Tensor::zeros([1], &device)
        };

        let lr = log_ratio.detach();
        let ratio = ratio.detach();
        let scalars = read_scalars(vec![
            policy_loss.detach(),
            entropy.detach(),
            mean(-lr.clone()),
            mean((ratio.clone() - 1.0) - lr),
            mean((ratio - 1.0).abs().greater_elem(c.clip_coef).float()),
            ref_kl,
        ]);
        self.last_kl.store(scalars[5].to_bits(), Ordering::Relaxed);
        let stats = EpochStats {
            policy_loss: scalars[0],
            entropy: scalars[1],
            old_approx_kl: scalars[2],
            approx_kl: scalars[3],
            clipfrac: scalars[4],
            ..EpochStats::default()
        };
        (loss, stats)
    }
}
