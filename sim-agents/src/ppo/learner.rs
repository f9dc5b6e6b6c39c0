//! The PPO epochs both trainers run: shuffled minibatches, the loss, finiteness checks, the
//! backward pass, global-norm clipping (the cost critic's gradients apart) and Adam steps.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use super::loss::{EpochStats, Minibatch};
use super::objective::Objective;
use super::optim::clip_scale;
use super::{Adapter, PpoConfig};
use crate::backend::TrainBackend;
use crate::error::TrainError;
use crate::policy::ActorCritic;

/// What the PPO epochs change: the model, the optimiser and the minibatch permutation's
/// generator. Both trainers run their epochs through it, each with its own way of gathering a
/// minibatch.
pub(super) struct Learner<'a, B: TrainBackend> {
    pub model: &'a mut ActorCritic<B>,
    /// The loss the model descends.
    pub objective: &'a dyn Objective<B>,
    pub optim: &'a mut Adapter<B>,
    /// The cost critic's own optimiser, when it has one: its gradients are clipped and applied
    /// apart from the others.
    pub cost_optim: Option<&'a mut Adapter<B>>,
    pub shuffle: &'a mut ChaCha8Rng,
    /// Logit offsets of the action mask (`[1, actions]`), if the policy is restricted.
    pub mask: Option<Tensor<B, 2>>,
}

impl<B: TrainBackend> Learner<'_, B> {
    /// `c.update_epochs` epochs over the batch in shuffled minibatches built by `minibatch`
    /// from their row indices: loss, finiteness checks, backward pass, global-norm clipping and
    /// an Adam step each, stopping early past `c.target_kl`. Returns the last minibatch's
    /// scalars, with the clip fraction averaged over all of them.
    pub(super) fn epochs(
        self,
        c: &PpoConfig,
        update: usize,
        learning_rate: f64,
        mut minibatch: impl FnMut(&[usize]) -> Minibatch<B>,
    ) -> Result<EpochStats, TrainError> {
        let all = param_ids(&*self.model);
        let cost = self.model.cost_critic().map(param_ids).unwrap_or_default();
        let rest: Vec<(ParamId, usize)> = all.iter().copied().filter(|p| !cost.contains(p)).collect();
        let Learner { model, objective, optim, mut cost_optim, shuffle, mask } = self;
        for_each_minibatch(c, update, shuffle, |idx, fail| {
            let (loss, s) = objective.loss(model, minibatch(idx), c, mask.as_ref());
            check_finite(&s).map_err(|(term, value)| fail(term, value))?;
            let mut grads = GradientsParams::from_grads(loss.backward(), &*model);
            if let Some(cost_optim) = cost_optim.as_deref_mut() {
                let cost_grads = take_grads::<B>(&mut grads, &cost);
                let (cost_grads, norm) = clip_global_norm::<B>(&cost, cost_grads, c.max_grad_norm);
                if !norm.is_finite() {
                    return Err(fail("cost_grad_norm", norm));
                }
                *model = cost_optim.step(learning_rate, model.clone(), cost_grads);
            }
            let (grads, norm) = clip_global_norm::<B>(&rest, grads, c.max_grad_norm);
            if !norm.is_finite() {
                return Err(fail("grad_norm", norm));
            }
            *model = optim.step(learning_rate, model.clone(), grads);
            Ok(s)
        })
    }
}

/// PPO's epochs around a minibatch step, whichever kernel takes it: `c.update_epochs` passes
/// over the batch in minibatches shuffled from `rng`, each given to `step` with its row
/// indices and a constructor of the error naming the minibatch; stops early past
/// `c.target_kl`. Returns the last minibatch's scalars, with the clip fraction averaged over
/// all of them.
pub(super) fn for_each_minibatch(
    c: &PpoConfig,
    update: usize,
    rng: &mut ChaCha8Rng,
    mut step: impl FnMut(&[usize], &dyn Fn(&'static str, f32) -> TrainError) -> Result<EpochStats, TrainError>,
) -> Result<EpochStats, TrainError> {
    let mut order: Vec<usize> = (0..c.batch_size()).collect();
    let mut stats = EpochStats::default();
    let mut clipfracs = Vec::new();
    for epoch in 0..c.update_epochs {
        shuffle(&mut order, rng);
        for (index, idx) in order.chunks(c.minibatch_size()).enumerate() {
            let fail = |term: &'static str, value: f32| TrainError::NonFiniteLoss {
                update,
                epoch,
                minibatch: index,
                term,
                value,
            };
            stats = step(idx, &fail)?;
            clipfracs.push(stats.clipfrac);
        }
        if c.target_kl.is_some_and(|kl| stats.approx_kl > kl) {
            break;
        }
    }
    stats.clipfrac = clipfracs.iter().sum::<f32>() / clipfracs.len().max(1) as f32;
    Ok(stats)
}

/// The first non-finite loss term of a minibatch, if any: its name and value.
pub(super) fn check_finite(s: &EpochStats) -> Result<(), (&'static str, f32)> {
    for (term, value) in [
        ("policy_loss", s.policy_loss),
        ("value_loss", s.value_loss),
        ("entropy", s.entropy),
        ("cost_value_loss", s.cost_value_loss),
    ] {
        if !value.is_finite() {
            return Err((term, value));
        }
    }
    Ok(())
}

/// The float parameters of `module` with their ranks, in module order.
fn param_ids<B: AutodiffBackend, M: Module<B>>(module: &M) -> Vec<(ParamId, usize)> {
    struct Ids(Vec<(ParamId, usize)>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push((param.id, D));
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// Moves the gradients of `ids` out of `grads` into a set of their own.
fn take_grads<B: AutodiffBackend>(grads: &mut GradientsParams, ids: &[(ParamId, usize)]) -> GradientsParams {
    let mut taken = GradientsParams::new();
    for &(id, d) in ids {
        match d {
            1 => {
                if let Some(g) = grads.remove::<B::InnerBackend, 1>(id) {
                    taken.register::<B::InnerBackend, 1>(id, g);
                }
            }
            _ => {
                if let Some(g) = grads.remove::<B::InnerBackend, 2>(id) {
                    taken.register::<B::InnerBackend, 2>(id, g);
                }
            }
        }
    }
    taken
}

/// Scales the gradients of `ids` together so that their global L2 norm is at most `max_norm`,
/// as `torch.nn.utils.clip_grad_norm_` does over the parameters it is given (burn's own clipping
/// is per tensor). Returns the clipped gradients and the norm before clipping.
fn clip_global_norm<B: AutodiffBackend>(
    ids: &[(ParamId, usize)],
    mut grads: GradientsParams,
    max_norm: f32,
) -> (GradientsParams, f32) {
    let mut total: Option<Tensor<B::InnerBackend, 1>> = None;
    for &(id, d) in ids {
        let sq = match d {
            1 => grads.get::<B::InnerBackend, 1>(id).map(|g| g.powi_scalar(2).sum()),
            2 => grads.get::<B::InnerBackend, 2>(id).map(|g| g.powi_scalar(2).sum()),
            _ => unreachable!("linear layers have 1- and 2-dimensional parameters"),
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let norm = total.map_or(0.0, |t| t.into_scalar().to_f32().sqrt());
    if let Some(coef) = clip_scale(norm, max_norm) {
        for &(id, d) in ids {
            match d {
                1 => {
                    if let Some(g) = grads.remove::<B::InnerBackend, 1>(id) {
                        grads.register::<B::InnerBackend, 1>(id, g * coef);
                    }
                }
                _ => {
                    if let Some(g) = grads.remove::<B::InnerBackend, 2>(id) {
                        grads.register::<B::InnerBackend, 2>(id, g * coef);
                    }
                }
            }
        }
    }
    (grads, norm)
}

trait ToF32 {
    fn to_f32(self) -> f32;
}
impl<T: burn::tensor::ElementConversion> ToF32 for T {
    fn to_f32(self) -> f32 {
        self.elem::<f32>()
    }
}

/// Fisher–Yates shuffle from a ChaCha stream.
pub(crate) fn shuffle(order: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..order.len()).rev() {
        let j = (((rng.next_u64() >> 11) as u128 * (i as u128 + 1)) >> 53) as usize;
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use sim_core::rng::StreamKey;

    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<usize> = (0..1000).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut StreamKey([1, 2]).chacha());
        shuffle(&mut b, &mut StreamKey([1, 2]).chacha());
        assert_eq!(a, b);
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..1000).collect::<Vec<_>>());
    }
}
