//! PPO's loss on one minibatch (clipped surrogate, clipped value loss, entropy bonus, the cost
//! critic's value loss) and the per-minibatch advantage normalisation.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};

use super::PpoConfig;
use crate::backend::PolicyBackend;
use crate::mask::masked;
use crate::policy::ActorCritic;

/// One minibatch on the training device, as an objective's loss reads it.
pub struct Minibatch<B: AutodiffBackend> {
    /// `[rows, obs_dim]`.
    pub obs: Tensor<B, 2>,
    /// The actions taken, `[rows]`.
    pub actions: Tensor<B, 1, Int>,
    /// Their log-probabilities under the acting policy.
    pub old_logprobs: Tensor<B, 1>,
    /// The advantages to ascend (already normalised or combined with the cost's).
    pub advantages: Tensor<B, 1>,
    /// The critic's targets.
    pub returns: Tensor<B, 1>,
    /// The critic's values when acting.
    pub old_values: Tensor<B, 1>,
    /// The cost critic's targets, when it has one.
    pub cost_returns: Option<Tensor<B, 1>>,
    /// 1 for the rows learned from and 0 for the others, in an episodic rollout
    /// ([`super::Trajectories::live`]); `None` when every row is.
    pub live: Option<Tensor<B, 1>>,
}

/// A minibatch's loss terms and diagnostics, as an update reports them (CleanRL's names; an
/// objective without a term reports 0 for it).
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochStats {
    /// The policy's loss.
    pub policy_loss: f32,
    /// The critic's loss.
    pub value_loss: f32,
    /// The policy's mean entropy.
    pub entropy: f32,
    /// `mean(-log r)`, the first KL estimator.
    pub old_approx_kl: f32,
    /// `mean((r - 1) - log r)`, the unbiased KL estimator.
    pub approx_kl: f32,
    /// The share of rows whose ratio moved past the clip range.
    pub clipfrac: f32,
    /// The cost critic's loss.
    pub cost_value_loss: f32,
}

/// One-element tensors read back to the host in one transfer.
pub fn read_scalars<B: burn::tensor::backend::Backend>(scalars: Vec<Tensor<B, 1>>) -> Vec<f32> {
    Tensor::cat(scalars, 0).into_data().convert::<f32>().to_vec::<f32>().expect("f32 scalars")
}

/// A policy's terms on a minibatch from its `logits` (`[n, actions]`, the mask's offsets added
/// when given): the log-probability of each action taken (`[n]`) and each row's entropy (`[n]`).
pub fn policy_terms<B: AutodiffBackend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
    mask: Option<&Tensor<B, 2>>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [n] = actions.dims();
    let log_probs = log_softmax(masked(logits, mask), 1);
    let taken = log_probs.clone().gather(1, actions.reshape([n, 1])).reshape([n]);
    let entropy = -(log_probs.clone().exp() * log_probs).sum_dim(1).reshape([n]);
    (taken, entropy)
}

/// PPO's loss on one minibatch, and its scalars (read back in one transfer): CleanRL's clipped
/// surrogate, clipped value loss and entropy bonus (and the cost critic's value loss when the
/// model has one). An objective that adds a term to PPO's (a KL leash, say) calls this and adds it.
pub fn ppo_loss<B: AutodiffBackend + PolicyBackend>(
    model: &ActorCritic<B>,
    m: Minibatch<B>,
    c: &PpoConfig,
    mask: Option<&Tensor<B, 2>>,
) -> (Tensor<B, 1>, EpochStats) {
    let out = model.forward(m.obs);
    let (new_logprobs, entropy) = policy_terms(out.logits, m.actions, mask);
    let log_ratio = new_logprobs - m.old_logprobs;
    let ratio = log_ratio.clone().exp();

    let pg1 = -m.advantages.clone() * ratio.clone();
    let pg2 = -m.advantages * ratio.clone().clamp(1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let policy_loss = pg1.max_pair(pg2).mean();

    let v_unclipped = (out.values.clone() - m.returns.clone()).powi_scalar(2);
    let value_loss = if c.clip_vloss {
        let clipped = m.old_values.clone() + (out.values - m.old_values).clamp(-c.clip_coef, c.clip_coef);
        v_unclipped.max_pair((clipped - m.returns).powi_scalar(2)).mean() * 0.5
    } else {
        v_unclipped.mean() * 0.5
    };
    let entropy_mean = entropy.mean();
    let mut loss = policy_loss.clone() - entropy_mean.clone() * c.ent_coef + value_loss.clone() * c.vf_coef;
    let cost_value_loss = match (out.cost_values, m.cost_returns) {
        (Some(cv), Some(cr)) => {
            let l = (cv - cr).powi_scalar(2).mean() * 0.5;
            loss = loss + l.clone() * c.vf_coef;
            l
        }
        _ => Tensor::zeros([1], &log_ratio.device()),
    };

    // Diagnostics, off the graph: one read-back for all of them.
    let lr = log_ratio.detach();
    let ratio = ratio.detach();
    let old_approx_kl = (-lr.clone()).mean();
    let approx_kl = ((ratio.clone() - 1.0) - lr).mean();
    let clipfrac = (ratio - 1.0).abs().greater_elem(c.clip_coef).float().mean();
    let scalars = read_scalars(vec![
        policy_loss.clone().detach(),
        value_loss.detach(),
        entropy_mean.detach(),
        old_approx_kl,
        approx_kl,
        clipfrac,
        cost_value_loss.detach(),
    ]);
    let stats = EpochStats {
        policy_loss: scalars[0],
        value_loss: scalars[1],
        entropy: scalars[2],
        old_approx_kl: scalars[3],
        approx_kl: scalars[4],
        clipfrac: scalars[5],
        cost_value_loss: scalars[6],
    };
    (loss, stats)
}

/// `(x - mean) / (std + 1e-8)` in place (unbiased std, as torch's `.std()`).
pub(super) fn normalize(x: &mut [f32]) {
    let n = x.len() as f64;
    if n < 2.0 {
        return;
    }
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let std = var.sqrt();
    for v in x {
        *v = ((f64::from(*v) - mean) / (std + 1e-8)) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_zero_mean_unit_std() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        normalize(&mut x);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        let var: f32 = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
    }
}
