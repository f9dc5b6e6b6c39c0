//! REINFORCE with a learned baseline (Williams 1992; Sutton & Barto §13.4), written as an
//! [`Objective`]: the whole algorithm is these two functions. The book's guide "Writing your
//! own algorithm" reads it from here.

use burn::tensor::Tensor;

use crate::backend::TrainBackend;
use crate::policy::ActorCritic;
use crate::ppo::{EpochStats, Minibatch, Objective, PpoConfig, Trajectories, policy_terms, read_scalars};
use crate::rollout::gae;

// ANCHOR: objective
/// REINFORCE with a baseline: ascend `A log π(a|s)` with `A` the discounted return to go minus
/// the critic's value (GAE at λ = 1), regress the critic on the return, plus the entropy bonus.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reinforce;

impl<B: TrainBackend> Objective<B> for Reinforce {
    fn name(&self) -> &'static str {
        "REINFORCE"
    }

    fn advantages(&self, t: Trajectories<'_>, c: &PpoConfig, advantages: &mut [f32], returns: &mut [f32]) {
        gae(t.rewards, t.values, t.ends, t.last_values, t.num_envs, c.gamma, 1.0, advantages, returns);
    }

    fn loss(
        &self,
        model: &ActorCritic<B>,
        m: Minibatch<B>,
        c: &PpoConfig,
        mask: Option<&Tensor<B, 2>>,
    ) -> (Tensor<B, 1>, EpochStats) {
        let out = model.forward(m.obs);
        let (taken, entropy) = policy_terms(out.logits, m.actions, mask);
        let entropy = entropy.mean();
        let policy_loss = -(m.advantages * taken).mean();
        let value_loss = (out.values - m.returns).powi_scalar(2).mean() * 0.5;
        let loss = policy_loss.clone() - entropy.clone() * c.ent_coef + value_loss.clone() * c.vf_coef;
        let s = read_scalars(vec![policy_loss.detach(), value_loss.detach(), entropy.detach()]);
        let stats = EpochStats { policy_loss: s[0], value_loss: s[1], entropy: s[2], ..EpochStats::default() };
        (loss, stats)
    }
}
// ANCHOR_END: objective
