//! PPO's epochs for the runs of a population as one batched model ([`Kernel::Batched`]).
//!
//! Every layer of the R runs' networks is one `[R, in, out]` weight and one `[R, 1, out]` bias,
//! so a minibatch step is one forward pass, one backward pass and one Adam step for the whole
//! population, whatever R is: on a GPU, R runs launch the kernels of one. What differs between
//! runs is data: each run's minibatch rows (its own rollout, permutation and advantage
//! normalisation), its clipping coefficient, entropy and value coefficients, gradient-norm
//! limit, learning rate, Adam step count, action mask and PPO-Lagrangian multiplier. The loss
//! is the sum of the runs' losses, so run `r`'s weights get exactly run `r`'s gradients;
//! global-norm clipping is per run (the cost critic's gradients apart, as its own optimiser
//! has them), and a non-finite loss or norm names its run.
//!
//! The runs' weights and Adam moments live where a run alone keeps them (its burn model and
//! optimiser records): they are stacked at the start of an update and handed back after it.
//! So checkpoints are a burn run's own, and a run alone with this kernel is a population of
//! one.
//!
//! What the runs must share is the loop's shape: epochs and minibatches per update, value
//! clipping on or off, and no early stopping on the KL (`target_kl`), which would end one run's
//! epochs before the others' (`Population::new` and the configuration's validation check it).
//!
//! [`Kernel::Batched`]: super::Kernel::Batched

use burn::module::ParamId;
use burn::optim::record::AdaptorRecord;
use burn::optim::{Adam, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use sim_core::env::Environment;

use super::learner::{check_finite, shuffle};
use super::loss::EpochStats;
use super::{Optimiser, Trainer, gather_minibatch};
use crate::backend::TrainBackend;
use crate::error::TrainError;
use crate::mask::ActionMask;
use crate::policy::{ActorCritic, mlp_forward};

use super::optim::adam::{self, BETA_1, BETA_2};
use super::optim::clip_scale;

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// A burn optimiser's records, by parameter.
type Records<B> = <super::Adapter<B> as Optimizer<ActorCritic<B>, B>>::Record;

/// One layer's parameter of every run, stacked: its value and Adam moments `[R, rows, cols]`
/// (a bias is one row), and whether it is the cost critic's.
struct Stacked<B: AutodiffBackend> {
    id: ParamId,
    value: Tensor<B, 3>,
    moment_1: Tensor<Inner<B>, 3>,
    moment_2: Tensor<Inner<B>, 3>,
    cost: bool,
}

/// The PPO epochs of `runs` (one update, `update`, 1-based) as one batched model; the runs'
/// models and optimiser records hold the result. Returns each run's last minibatch's scalars,
/// with the clip fraction averaged over its minibatches; an error names the failing run by
/// its index.
pub(super) fn epochs<E: Environment, B: TrainBackend>(
    runs: &mut [Trainer<E, B>],
    update: usize,
    learning_rates: &[f64],
) -> Result<Vec<EpochStats>, (usize, TrainError)> {
    let r_count = runs.len();
    let c0 = runs[0].config.clone();
    let device = runs[0].device.clone();
    let (mb, dim) = (c0.minibatch_size(), runs[0].rollout.obs_dim);
    let lagrangian = c0.lagrangian.is_some();
    let (mut params, mut steps) = stack(runs);

    let per_run = |f: &dyn Fn(&super::PpoConfig) -> f32| {
        let v: Vec<f32> = runs.iter().map(|t| f(&t.config)).collect();
        Tensor::<B, 2>::from_data(TensorData::new(v, [r_count, 1]), &device)
    };
    let clip = per_run(&|c| c.clip_coef);
    let ent_coef = per_run(&|c| c.ent_coef);
    let vf_coef = per_run(&|c| c.vf_coef);
    let mask = mask_offsets(runs, &device);

    let mut orders: Vec<Vec<usize>> = runs.iter().map(|_| (0..c0.batch_size()).collect()).collect();
    let mut last = vec![EpochStats::default(); r_count];
    let mut clipfracs = vec![0.0f32; r_count];
    let mut minibatches = 0usize;
    let mut host = HostBatch::default();
    for epoch in 0..c0.update_epochs {
        for (order, run) in orders.iter_mut().zip(runs.iter_mut()) {
            shuffle(order, &mut run.shuffle);
        }
        for index in 0..c0.num_minibatches {
            host.clear();
            for (order, run) in orders.iter().zip(runs.iter_mut()) {
                let idx = &order[index * mb..(index + 1) * mb];
                gather_minibatch(&run.rollout, &run.config, run.multiplier.value(), idx, &mut run.minibatch);
                host.push(&run.minibatch, lagrangian);
            }
            let batch = host.upload::<B>(r_count, mb, dim, &device);
            let (loss, scalars) = loss(&params, batch, &clip, &ent_coef, &vf_coef, mask.as_ref(), c0.clip_vloss);
            let grads = loss.backward();
            let grads: Vec<Tensor<Inner<B>, 3>> =
                params.iter().map(|p| p.value.grad(&grads).expect("every parameter takes part in the loss")).collect();
            let square_norm = |cost: bool| {
                let parts = params.iter().zip(&grads).filter(|(p, _)| p.cost == cost);
                parts.fold(Tensor::<Inner<B>, 1>::zeros([r_count], &device), |total, (_, g)| {
                    total + g.clone().powi_scalar(2).sum_dim(2).sum_dim(1).reshape([r_count])
                })
            };
            // One read-back per minibatch: every run's scalars and both gradient norms.
            let read =
                Tensor::cat(vec![scalars.inner().reshape([r_count * 7]), square_norm(false), square_norm(true)], 0)
                    .into_data()
                    .to_vec::<f32>()
                    .expect("f32 scalars");
            let (norms, cost_norms) = (&read[r_count * 7..r_count * 8], &read[r_count * 8..]);
            let mut scales = (Vec::with_capacity(r_count), Vec::with_capacity(r_count));
            for (r, run) in runs.iter().enumerate() {
                let s = &read[r * 7..r * 7 + 7];
                let stats = EpochStats {
                    policy_loss: s[0],
                    value_loss: s[1],
                    entropy: s[2],
                    old_approx_kl: s[3],
                    approx_kl: s[4],
                    clipfrac: s[5],
                    cost_value_loss: s[6],
                };
                let fail = |term: &'static str, value: f32| {
                    (r, TrainError::NonFiniteLoss { update, epoch, minibatch: index, term, value })
                };
                check_finite(&stats).map_err(|(term, value)| fail(term, value))?;
                let (norm, cost_norm) = (norms[r].sqrt(), cost_norms[r].sqrt());
                if lagrangian && !cost_norm.is_finite() {
                    return Err(fail("cost_grad_norm", cost_norm));
                }
                if !norm.is_finite() {
                    return Err(fail("grad_norm", norm));
                }
                // torch's clip_grad_norm_, per run and group.
                let scale = |norm: f32| clip_scale(norm, run.config.max_grad_norm).unwrap_or(1.0);
                scales.0.push(scale(norm));
                scales.1.push(scale(cost_norm));
                clipfracs[r] += stats.clipfrac;
                last[r] = stats;
            }
            minibatches += 1;
            for s in &mut steps {
                *s += 1;
            }
            adam_step(&mut params, grads, &scales, &steps, learning_rates, &device);
        }
    }
    for (stats, clipfrac) in last.iter_mut().zip(clipfracs) {
        stats.clipfrac = clipfrac / minibatches.max(1) as f32;
    }
    unstack(runs, params, &steps);
    Ok(last)
}

/// Every layer parameter of `runs`, stacked along a leading run axis, with its Adam moments
/// (zeros before the first step, where burn's first step starts from); and each run's Adam step
/// count (all its parameters take every step together).
fn stack<E: Environment, B: TrainBackend>(runs: &[Trainer<E, B>]) -> (Vec<Stacked<B>>, Vec<i32>) {
    let records: Vec<_> = runs.iter().map(|t| t.optimiser.burn_records()).collect();
    let first = runs[0].model.layers()[0].weight.id;
    let steps = records
        .iter()
        .map(|(optim, _)| optim.get(&first).map_or(0, |r| r.clone().into_state::<2>().momentum.time as i32))
        .collect();
    let layers: Vec<_> = runs.iter().map(|t| t.model.layers()).collect();
    let mut out = Vec::new();
    for l in 0..layers[0].len() {
        let cost = layers[0][l].cost;
        for (id, rank2) in [(layers[0][l].weight.id, true), (layers[0][l].bias.id, false)] {
            let mut values = Vec::new();
            let mut m1 = Vec::new();
            let mut m2 = Vec::new();
            for (r, run_layers) in layers.iter().enumerate() {
                let layer = &run_layers[l];
                let value =
                    if rank2 { layer.weight.val().inner() } else { layer.bias.val().inner().unsqueeze_dim::<2>(0) };
                let record = if cost { &records[r].1 } else { &records[r].0 };
                let (a, b) = match record.get(&id) {
                    Some(rec) if rank2 => {
                        let m = rec.clone().into_state::<2>().momentum;
                        (m.moment_1, m.moment_2)
                    }
                    Some(rec) => {
                        let m = rec.clone().into_state::<1>().momentum;
                        (m.moment_1.unsqueeze_dim::<2>(0), m.moment_2.unsqueeze_dim::<2>(0))
                    }
                    None => (value.zeros_like(), value.zeros_like()),
                };
                values.push(value);
                m1.push(a);
                m2.push(b);
            }
            out.push(Stacked {
                id,
                value: Tensor::from_inner(Tensor::stack::<3>(values, 0)).require_grad(),
                moment_1: Tensor::stack::<3>(m1, 0),
                moment_2: Tensor::stack::<3>(m2, 0),
                cost,
            });
        }
    }
    (out, steps)
}

/// Hands each run its share of `params` back: its model's weights, and its optimisers'
/// records at `steps` Adam steps.
fn unstack<E: Environment, B: TrainBackend>(runs: &mut [Trainer<E, B>], params: Vec<Stacked<B>>, steps: &[i32]) {
    let inner: Vec<_> = params.into_iter().map(|p| (p.id, p.value.inner(), p.moment_1, p.moment_2, p.cost)).collect();
    for (r, run) in runs.iter_mut().enumerate() {
        let take = |t: &Tensor<Inner<B>, 3>| {
            let [_, rows, cols] = t.dims();
            t.clone().slice([r..r + 1, 0..rows, 0..cols]).reshape([rows, cols])
        };
        let mut optim = Records::<B>::new();
        let mut cost_optim = Records::<B>::new();
        let mut values = Vec::new();
        for pair in inner.chunks(2) {
            let [(wid, w, wm1, wm2, cost), (bid, b, bm1, bm2, _)] = pair else { unreachable!("weight, bias") };
            let time = steps[r] as usize;
            let records = if *cost { &mut cost_optim } else { &mut optim };
            let [_, _, out] = b.dims();
            let row = |t: &Tensor<Inner<B>, 3>| take(t).reshape([out]);
            records.insert(*wid, record::<B, 2>(time, take(wm1), take(wm2)));
            records.insert(*bid, record::<B, 1>(time, row(bm1), row(bm2)));
            values.push((Tensor::<B, 2>::from_inner(take(w)), Tensor::<B, 1>::from_inner(row(b))));
        }
        run.model = run.model.with_layers(values);
        let Optimiser::Burn { optim: own, cost } = &mut run.optimiser else {
            unreachable!("the batched kernel keeps burn's state")
        };
        *own = std::mem::replace(own, fresh::<B>()).load_record(optim);
        if !cost_optim.is_empty() {
            *cost = std::mem::replace(cost, fresh::<B>()).load_record(cost_optim);
        }
    }
}

fn fresh<B: TrainBackend>() -> super::Adapter<B> {
    adam::config().init()
}

/// burn's Adam record of one parameter after `time` steps.
fn record<B: TrainBackend, const D: usize>(
    time: usize,
    moment_1: Tensor<Inner<B>, D>,
    moment_2: Tensor<Inner<B>, D>,
) -> AdaptorRecord<Adam, B> {
    AdaptorRecord::from_state(AdamState::new(AdaptiveMomentumState::new(time, moment_1, moment_2)))
}

/// One Adam step of every run's parameters, as burn's Adam takes it, after scaling run `r`'s
/// gradients by `scales.0[r]` (`scales.1[r]` for the cost critic's): per-run learning rates
/// and step counts, as `[R, 1, 1]` factors.
fn adam_step<B: TrainBackend>(
    params: &mut [Stacked<B>],
    grads: Vec<Tensor<Inner<B>, 3>>,
    scales: &(Vec<f32>, Vec<f32>),
    steps: &[i32],
    learning_rates: &[f64],
    device: &B::Device,
) {
    let runs = steps.len();
    let column = |v: Vec<f32>| Tensor::<Inner<B>, 3>::from_data(TensorData::new(v, [runs, 1, 1]), device);
    let corrections: Vec<adam::Correction> = steps.iter().map(|&t| adam::correction(t)).collect();
    let factor = column(corrections.iter().map(|c| c.factor).collect());
    let epsilon = column(corrections.iter().map(|c| c.epsilon).collect());
    let lr = column(learning_rates.iter().map(|&lr| lr as f32).collect());
    let (scale, cost_scale) = (column(scales.0.clone()), column(scales.1.clone()));
    for (p, g) in params.iter_mut().zip(grads) {
        let g = g * if p.cost { cost_scale.clone() } else { scale.clone() };
        let m1 = p.moment_1.clone().mul_scalar(BETA_1).add(g.clone().mul_scalar(1.0 - BETA_1));
        let m2 = p.moment_2.clone().mul_scalar(BETA_2).add(g.square().mul_scalar(1.0 - BETA_2));
        let delta = (m1.clone() * factor.clone()).div(m2.clone().sqrt() + epsilon.clone()) * lr.clone();
        let value = p.value.clone().inner() - delta;
        p.value = Tensor::from_inner(value).require_grad();
        p.moment_1 = m1;
        p.moment_2 = m2;
    }
}

/// Each run's action-mask offsets, `[R, 1, A]` (0 where a run is unmasked); `None` when no run
/// is masked.
fn mask_offsets<E: Environment, B: TrainBackend>(runs: &[Trainer<E, B>], device: &B::Device) -> Option<Tensor<B, 3>> {
    if runs.iter().all(|t| t.mask.is_none()) {
        return None;
    }
    let actions = E::spaces(&runs[0].params).num_actions as usize;
    let rows: Vec<f32> =
        runs.iter().flat_map(|t| t.mask.as_ref().map_or_else(|| vec![0.0; actions], ActionMask::offset_row)).collect();
    Some(Tensor::from_data(TensorData::new(rows, [runs.len(), 1, actions]), device))
}

/// A population's minibatch on the host, run after run.
#[derive(Default)]
struct HostBatch {
    obs: Vec<f32>,
    actions: Vec<i64>,
    old_logprobs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
    cost_returns: Vec<f32>,
}

/// A population's minibatch on the device: `[R, n, obs_dim]` observations, `[R, n]` the rest.
struct Batch<B: Backend> {
    obs: Tensor<B, 3>,
    actions: Tensor<B, 2, Int>,
    old_logprobs: Tensor<B, 2>,
    advantages: Tensor<B, 2>,
    returns: Tensor<B, 2>,
    old_values: Tensor<B, 2>,
    cost_returns: Option<Tensor<B, 2>>,
}

impl HostBatch {
    fn clear(&mut self) {
        for v in [
            &mut self.obs,
            &mut self.old_logprobs,
            &mut self.advantages,
            &mut self.returns,
            &mut self.old_values,
            &mut self.cost_returns,
        ] {
            v.clear();
        }
        self.actions.clear();
    }

    fn push(&mut self, m: &super::HostMinibatch, lagrangian: bool) {
        self.obs.extend_from_slice(&m.obs);
        self.actions.extend(m.actions.iter().map(|&a| i64::from(a)));
        self.old_logprobs.extend_from_slice(&m.old_logprobs);
        self.advantages.extend_from_slice(&m.advantages);
        self.returns.extend_from_slice(&m.returns);
        self.old_values.extend_from_slice(&m.old_values);
        if lagrangian {
            self.cost_returns.extend_from_slice(&m.cost_returns);
        }
    }

    fn upload<B: Backend>(&self, runs: usize, n: usize, dim: usize, device: &B::Device) -> Batch<B> {
        let t2 = |v: &[f32]| Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), [runs, n]), device);
        Batch {
            obs: Tensor::from_data(TensorData::new(self.obs.clone(), [runs, n, dim]), device),
            actions: Tensor::from_data(TensorData::new(self.actions.clone(), [runs, n]), device),
            old_logprobs: t2(&self.old_logprobs),
            advantages: t2(&self.advantages),
            returns: t2(&self.returns),
            old_values: t2(&self.old_values),
            cost_returns: (!self.cost_returns.is_empty()).then(|| t2(&self.cost_returns)),
        }
    }
}

/// The runs' networks on their own rows: `[R, n, in]` through the stacked layers `layers`
/// (weight, bias pairs), tanh after every layer but the last.
///
/// The bias is added as `ones [R, n, 1] × bias [R, 1, out]` (`ones` given), a product with one term, so exactly
/// the bias: the same values as a broadcast add, but both ways on matrix products (flex's
/// broadcast over a middle axis, and the reduction its backward takes, go element by element
/// through a strided iterator: 37% of a population of 8's time on CartPole).
fn mlp<B: TrainBackend>(layers: &[&Stacked<B>], ones: &Tensor<B, 3>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    mlp_forward(layers.chunks_exact(2), x, |h, pair| {
        h.matmul(pair[0].value.clone()) + ones.clone().matmul(pair[1].value.clone())
    })
}

/// The sum over runs of each run's PPO loss (as [`super::loss::ppo_loss`] computes it, with
/// run `r`'s coefficients from row `r` of `clip`, `ent_coef` and `vf_coef`, `[R, 1]`), and
/// each run's scalars, `[R, 7]` (policy loss, value loss, entropy, old and new approximate KL,
/// clip fraction, cost value loss).
fn loss<B: TrainBackend>(
    params: &[Stacked<B>],
    m: Batch<B>,
    clip: &Tensor<B, 2>,
    ent_coef: &Tensor<B, 2>,
    vf_coef: &Tensor<B, 2>,
    mask: Option<&Tensor<B, 3>>,
    clip_vloss: bool,
) -> (Tensor<B, 1>, Tensor<B, 2>) {
    let [runs, n] = m.old_logprobs.dims();
    // The layers of the actor, critic and cost critic: the same count each.
    let networks = if params.iter().any(|p| p.cost) { 3 } else { 2 };
    let per = params.len() / networks;
    let refs: Vec<&Stacked<B>> = params.iter().collect();
    let ones = Tensor::<B, 3>::ones([runs, n, 1], &m.obs.device());
    let logits = mlp(&refs[..per], &ones, m.obs.clone());
    let logits = match mask {
        Some(offsets) => logits + offsets.clone(),
        None => logits,
    };
    let values = mlp(&refs[per..2 * per], &ones, m.obs.clone()).reshape([runs, n]);
    let log_probs = log_softmax(logits, 2); // [R, n, A]
    let new_logprobs = log_probs.clone().gather(2, m.actions.reshape([runs, n, 1])).reshape([runs, n]);
    let entropy = -(log_probs.clone().exp() * log_probs).sum_dim(2).reshape([runs, n]);
    let log_ratio = new_logprobs - m.old_logprobs;
    let ratio = log_ratio.clone().exp();
    let (lo, hi) = ((-clip.clone() + 1.0).expand([runs, n]), (clip.clone() + 1.0).expand([runs, n]));

    let pg1 = -m.advantages.clone() * ratio.clone();
    let pg2 = -m.advantages * ratio.clone().max_pair(lo).min_pair(hi);
    let policy_loss = pg1.max_pair(pg2).mean_dim(1); // [R, 1]

    let v_unclipped = (values.clone() - m.returns.clone()).powi_scalar(2);
    let value_loss = if clip_vloss {
        let (neg, pos) = ((-clip.clone()).expand([runs, n]), clip.clone().expand([runs, n]));
        let clipped = m.old_values.clone() + (values - m.old_values).max_pair(neg).min_pair(pos);
        v_unclipped.max_pair((clipped - m.returns).powi_scalar(2)).mean_dim(1) * 0.5
    } else {
        v_unclipped.mean_dim(1) * 0.5
    };
    let entropy_mean = entropy.mean_dim(1);
    let mut loss = policy_loss.clone() - entropy_mean.clone() * ent_coef.clone() + value_loss.clone() * vf_coef.clone();
    let cost_value_loss = match m.cost_returns {
        Some(cr) => {
            let cv = mlp(&refs[2 * per..], &ones, m.obs).reshape([runs, n]);
            let l = (cv - cr).powi_scalar(2).mean_dim(1) * 0.5;
            loss = loss + l.clone() * vf_coef.clone();
            l
        }
        None => Tensor::zeros([runs, 1], &log_ratio.device()),
    };

    // Diagnostics, off the graph.
    let lr = log_ratio.detach();
    let ratio = ratio.detach();
    let old_approx_kl = (-lr.clone()).mean_dim(1);
    let approx_kl = ((ratio.clone() - 1.0) - lr).mean_dim(1);
    let clipfrac = (ratio - 1.0).abs().greater(clip.clone().detach().expand([runs, n])).float().mean_dim(1);
    let scalars = Tensor::cat(
        vec![
            policy_loss.detach(),
            value_loss.detach(),
            entropy_mean.detach(),
            old_approx_kl,
            approx_kl,
            clipfrac,
            cost_value_loss.detach(),
        ],
        1,
    );
    (loss.sum(), scalars)
}
