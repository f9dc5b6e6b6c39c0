//! What an algorithm is to the trainer: an [`Objective`], its advantages and its loss on a
//! minibatch. The trainer's loop (rollouts, penalties, the Lagrangian multiplier, shuffled
//! minibatches over epochs, clipping, Adam, checkpoints, metrics) is the same for every
//! objective; adding an algorithm means writing these two functions, not another update.
//!
//! PPO's objective ([`Ppo`]) is the reference: [`super::loss::ppo_loss`] is its loss, read as
//! CleanRL's reader reads it, differentiated by burn's autodiff. The hand-written kernels (the
//! `fused` CPU update and the `batched` population update) implement PPO's loss only and are
//! tested against it (`fused::tests::one_update_matches_burn*`,
//! `tests/population.rs`'s `the_batched_update_agrees_with_burns_within_a_stated_tolerance`); any other objective trains on
//! burn's autodiff ([`super::Kernel::Burn`], which [`super::Kernel::Auto`] then resolves to).

use burn::tensor::Tensor;

use super::PpoConfig;
use super::loss::{EpochStats, Minibatch, ppo_loss};
use burn::tensor::backend::AutodiffBackend;

use crate::backend::PolicyBackend;
use crate::policy::ActorCritic;
use crate::rollout::gae;

/// A rollout's rewards and values as an [`Objective`] reads them for its advantages: `[T, N]`
/// arrays, time-major (see [`gae`] for `ends` and truncation).
#[derive(Clone, Copy)]
pub struct Trajectories<'a> {
    /// Training rewards (the penalty already applied).
    pub rewards: &'a [f32],
    /// The critic's values of the observations.
    pub values: &'a [f32],
    /// Whether an episode ended after each step.
    pub ends: &'a [bool],
    /// The values of the observations after the last step, `[N]`.
    pub last_values: &'a [f32],
    /// Whether each step is learned from: all of them, except in an episodic rollout (GRPO,
    /// RLOO: [`crate::algorithms::Algorithm::group_size`]) the steps a slot takes after its
    /// scored episode ended.
    pub live: &'a [bool],
    /// The observations the actions were taken in, `[T, N, obs_dim]`.
    pub obs: &'a [f32],
    /// The actions taken.
    pub actions: &'a [u32],
    /// Their log-probabilities under the acting policy.
    pub logprobs: &'a [f32],
    /// N, the environments.
    pub num_envs: usize,
    /// The update the rollout is for (0 for the first), for objectives whose terms follow it.
    pub update: usize,
}

/// An algorithm the trainer runs: the advantages it ascends and the loss it minimises.
pub trait Objective<B: AutodiffBackend + PolicyBackend>: Send {
    /// A short name, for errors and logs.
    fn name(&self) -> &'static str;

    /// Writes each step's advantage and the critic's target into `advantages` and `returns`
    /// (`[T, N]`). The trainer then normalises the advantages per minibatch when
    /// `c.norm_adv` is set. The default is GAE(γ, λ) with `c.gamma` and `c.gae_lambda`.
    fn advantages(&self, t: Trajectories<'_>, c: &PpoConfig, advantages: &mut [f32], returns: &mut [f32]) {
        gae(t.rewards, t.values, t.ends, t.last_values, t.num_envs, c.gamma, c.gae_lambda, advantages, returns);
    }

    /// The loss to minimise on one minibatch and its scalars. `mask` holds the action mask's
    /// logit offsets (`[1, actions]`) when the policy is restricted.
    fn loss(
        &self,
        model: &ActorCritic<B>,
        minibatch: Minibatch<B>,
        c: &PpoConfig,
        mask: Option<&Tensor<B, 2>>,
    ) -> (Tensor<B, 1>, EpochStats);

    /// Whether its loss is PPO's ([`ppo_loss`]), which the hand-written kernels implement too
    /// (then they run it, with this objective's advantages).
    fn is_ppo(&self) -> bool {
        false
    }

    /// The objective's latest estimate of the KL from the policy to its reference, for one with
    /// a KL term (`None` without).
    fn reference_kl(&self) -> Option<f32> {
        None
    }
}

/// PPO's objective: GAE and the clipped surrogate with clipped value loss and an entropy
/// bonus ([`ppo_loss`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ppo;

impl<B: AutodiffBackend + PolicyBackend> Objective<B> for Ppo {
    fn name(&self) -> &'static str {
        "PPO"
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
}
