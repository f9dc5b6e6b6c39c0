//! PPO's update written out by hand for the CPU: the actor-critic's forward pass, the loss of
//! [`super::loss::ppo_loss`] and its gradient, the backward pass, global-norm clipping and
//! Adam, over plain `f32` arrays, with every buffer kept from one minibatch to the next.
//!
//! burn's autodiff does the same arithmetic in tens of tensor operations a minibatch, each
//! allocating its result and each matrix product packing its operands for a general kernel;
//! on the small matrices of PPO (a minibatch of 1 024–4 096 rows through 64-wide layers) that
//! overhead weighs most. Here the layers are register tiles written with `pulp`'s vectors, run
//! in the widest instructions the host has ([`crate::math::widest`]).
//!
//! **Results.** Every product is a chain of fused multiply-adds (`f32::mul_add`) in a fixed
//! order: output `(r, o)` of a layer is `fma(x[r][k-1], w[k-1][o], ... fma(x[r][0], w[0][o], b[o]))`
//! and a weight gradient `(k, o)` the chain over the minibatch's rows in order. The vectors run
//! across independent outputs only, never across a sum, so the values are the same bit for bit
//! on AVX-512, on AVX2 and in the scalar fallback (`tests::kernels_do_not_depend_on_the_vector_width`).
//! They are not burn's: burn sums in another order and without fused multiply-adds, so the two
//! kernels agree to float rounding (`tests::one_update_matches_burn`), and a run's weights
//! checksum depends on which kernel trained it ([`super::Kernel`]).

use serde::{Deserialize, Serialize};

use super::PpoConfig;
use super::learner::check_finite;
use super::loss::EpochStats;
use super::optim::{adam, clip_scale};
use crate::error::StateError;
use crate::inference::DenseMlp;
use pulp::Simd;
use rayon::prelude::*;

use crate::math::{tanh_backward_in_place, tanh_in_place, widest};

/// Rows (or weight-gradient inputs) a tile computes together, reusing each loaded vector.
const ROWS: usize = 4;

/// One minibatch gathered from the rollout, on the host.
#[derive(Default)]
pub(super) struct HostMinibatch {
    /// `[rows, obs_dim]`.
    pub obs: Vec<f32>,
    pub actions: Vec<u32>,
    pub old_logprobs: Vec<f32>,
    pub advantages: Vec<f32>,
    pub returns: Vec<f32>,
    pub old_values: Vec<f32>,
    /// Empty without a cost critic.
    pub cost_returns: Vec<f32>,
    /// 1 for the rows learned from, 0 for the others, in an episodic rollout; empty otherwise.
    pub live: Vec<f32>,
}

impl HostMinibatch {
    /// Rows `r0..r1`.
    fn rows(&self, r0: usize, r1: usize) -> Rows<'_> {
        let dim = self.obs.len() / self.actions.len().max(1);
        Rows {
            obs: &self.obs[r0 * dim..r1 * dim],
            actions: &self.actions[r0..r1],
            old_logprobs: &self.old_logprobs[r0..r1],
            advantages: &self.advantages[r0..r1],
            returns: &self.returns[r0..r1],
            old_values: &self.old_values[r0..r1],
            cost_returns: if self.cost_returns.is_empty() { &[] } else { &self.cost_returns[r0..r1] },
        }
    }
}

/// Some rows of a [`HostMinibatch`].
#[derive(Clone, Copy)]
struct Rows<'a> {
    obs: &'a [f32],
    actions: &'a [u32],
    old_logprobs: &'a [f32],
    advantages: &'a [f32],
    returns: &'a [f32],
    old_values: &'a [f32],
    cost_returns: &'a [f32],
}

/// Adam's first and second moments of one layer's weight and bias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct LayerMoments {
    m_weight: Vec<f32>,
    v_weight: Vec<f32>,
    m_bias: Vec<f32>,
    v_bias: Vec<f32>,
}

/// One network (actor, critic or cost critic): its weights with their transposes, Adam's
/// moments and the minibatch's gradients.
struct Net {
    mlp: DenseMlp,
    /// Each layer's weight transposed (`[outputs, inputs]`), for the backward pass.
    transposed: Vec<Vec<f32>>,
    moments: Vec<LayerMoments>,
    /// Per layer: `[inputs, outputs]` weight gradient and `[outputs]` bias gradient.
    grads: Vec<(Vec<f32>, Vec<f32>)>,
}

/// What one chunk of rows keeps for one network: the activations of its forward pass, the
/// gradients of its rows, and scratch.
#[derive(Default)]
struct Work {
    /// Hidden layers' outputs after tanh, `[rows, width]` each.
    hidden: Vec<Vec<f32>>,
    /// The last layer's output, `[rows, outputs]`.
    out: Vec<f32>,
    /// The gradient at the current layer's output; the loss's at the start of the backward pass.
    delta: Vec<f32>,
    spare: Vec<f32>,
    grads: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Net {
    fn new(mlp: DenseMlp) -> Self {
        let zeros = |n: usize| vec![0.0f32; n];
        let moments = mlp
            .layers
            .iter()
            .map(|l| LayerMoments {
                m_weight: zeros(l.weight.len()),
                v_weight: zeros(l.weight.len()),
                m_bias: zeros(l.bias.len()),
                v_bias: zeros(l.bias.len()),
            })
            .collect();
        let grads = mlp.layers.iter().map(|l| (zeros(l.weight.len()), zeros(l.bias.len()))).collect();
        let mut net = Net { transposed: vec![Vec::new(); mlp.layers.len()], mlp, moments, grads };
        net.transpose();
        net
    }

    /// Refreshes the transposed weights (after the weights changed). The first layer's stays
    /// empty: no gradient flows to the observations.
    fn transpose(&mut self) {
        for (layer, wt) in self.mlp.layers.iter().zip(&mut self.transposed).skip(1) {
            transpose(&layer.weight, layer.inputs, layer.outputs, wt);
        }
    }

    /// The sum of the chunks' gradients, in chunk order.
    fn reduce<'a>(&mut self, works: impl Iterator<Item = &'a Work>) {
        for (i, work) in works.enumerate() {
            for ((gw, gb), (cw, cb)) in self.grads.iter_mut().zip(&work.grads) {
                if i == 0 {
                    gw.copy_from_slice(cw);
                    gb.copy_from_slice(cb);
                } else {
                    for (g, &c) in gw.iter_mut().zip(cw).chain(gb.iter_mut().zip(cb)) {
                        *g += c;
                    }
                }
            }
        }
    }

    /// Σ of the squared gradients.
    fn grad_sq(&self) -> f64 {
        let sq = |v: &[f32]| v.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>();
        self.grads.iter().map(|(w, b)| sq(w) + sq(b)).sum()
    }

    fn scale_grads(&mut self, coef: f32) {
        for (w, b) in &mut self.grads {
            for g in w.iter_mut().chain(b.iter_mut()) {
                *g *= coef;
            }
        }
    }

    /// One Adam step of every parameter, as burn's `Adam` takes it (moments first, then the
    /// bias-corrected step with ε scaled by the second correction).
    fn adam(&mut self, lr: f32, time: i32) {
        let correction = adam::correction(time);
        let step = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                adam::step(w, g, m, v, lr, correction);
            }
        };
        for ((layer, (gw, gb)), mo) in self.mlp.layers.iter_mut().zip(&self.grads).zip(&mut self.moments) {
            step(&mut layer.weight, gw, &mut mo.m_weight, &mut mo.v_weight);
            step(&mut layer.bias, gb, &mut mo.m_bias, &mut mo.v_bias);
        }
        self.transpose();
    }
}

/// The forward pass of `rows` observations through `mlp`, keeping every activation in `work`.
#[inline(always)]
fn forward<S: Simd>(simd: S, mlp: &DenseMlp, obs: &[f32], rows: usize, work: &mut Work) {
    let last = mlp.layers.len() - 1;
    work.hidden.resize_with(last, Vec::new);
    for (l, layer) in mlp.layers.iter().enumerate() {
        let (before, after) = work.hidden.split_at_mut(l);
        let input: &[f32] = if l == 0 { obs } else { &before[l - 1] };
        let output = if l == last { &mut work.out } else { &mut after[0] };
        output.resize(rows * layer.outputs, 0.0);
        affine(simd, input, layer.inputs, &layer.weight, layer.outputs, Some(&layer.bias), output);
        if l < last {
            tanh_in_place(output);
        }
    }
}

/// The backward pass from `work.delta` (the loss's gradient at the output, `[rows, outputs]`)
/// into `work.grads`.
#[inline(always)]
fn backward<S: Simd>(simd: S, net: &Net, obs: &[f32], work: &mut Work) {
    let layers = &net.mlp.layers;
    work.grads.resize_with(layers.len(), Default::default);
    for (l, layer) in layers.iter().enumerate().rev() {
        let input: &[f32] = if l == 0 { obs } else { &work.hidden[l - 1] };
        let (gw, gb) = &mut work.grads[l];
        gw.resize(layer.weight.len(), 0.0);
        gb.resize(layer.bias.len(), 0.0);
        weight_grad(simd, input, layer.inputs, &work.delta, layer.outputs, gw, gb);
        if l > 0 {
            // The gradient at this layer's input: delta W^T, through the tanh before it.
            let rows = work.delta.len() / layer.outputs;
            work.spare.resize(rows * layer.inputs, 0.0);
            affine(simd, &work.delta, layer.outputs, &net.transposed[l], layer.inputs, None, &mut work.spare);
            tanh_backward_in_place(&mut work.spare, input);
            std::mem::swap(&mut work.delta, &mut work.spare);
        }
    }
}

/// Rows of a minibatch one task computes. The minibatch is always cut at the same rows, and
/// the chunks' gradients are summed in chunk order, so results do not depend on how many
/// threads take the chunks.
const CHUNK: usize = 256;

/// What one chunk keeps: a [`Work`] per network and the sums of its loss terms.
#[derive(Default)]
struct Chunk {
    nets: [Work; 3],
    sums: Sums,
}

/// A chunk's sums of the per-row loss terms.
#[derive(Clone, Copy, Default)]
struct Sums {
    policy: f64,
    value: f64,
    entropy: f64,
    old_kl: f64,
    kl: f64,
    clipped: usize,
    cost: f64,
}

/// What the hand-written update keeps between minibatches and updates: the three networks,
/// Adam's state and each chunk's buffers.
pub(super) struct FusedLearner {
    actor: Net,
    critic: Net,
    cost: Option<Net>,
    /// Adam steps taken by the actor and critic, and by the cost critic.
    time: i32,
    cost_time: i32,
    chunks: Vec<Chunk>,
}

/// Adam's state, for checkpoints (the weights travel in the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct FusedState {
    time: i32,
    cost_time: i32,
    moments: Vec<LayerMoments>,
}

/// A non-finite loss term or gradient norm: its name and value.
pub(super) type NonFinite = (&'static str, f32);

impl FusedLearner {
    /// A learner starting from these weights with fresh optimiser state.
    pub fn new(actor: DenseMlp, critic: DenseMlp, cost: Option<DenseMlp>) -> Self {
        FusedLearner {
            actor: Net::new(actor),
            critic: Net::new(critic),
            cost: cost.map(Net::new),
            time: 0,
            cost_time: 0,
            chunks: Vec::new(),
        }
    }

    /// The current weights: actor, critic, cost critic.
    pub fn weights(&self) -> (&DenseMlp, &DenseMlp, Option<&DenseMlp>) {
        (&self.actor.mlp, &self.critic.mlp, self.cost.as_ref().map(|n| &n.mlp))
    }

    fn nets(&self) -> impl Iterator<Item = &Net> {
        [Some(&self.actor), Some(&self.critic), self.cost.as_ref()].into_iter().flatten()
    }

    /// Adam's state.
    pub fn state(&self) -> FusedState {
        FusedState {
            time: self.time,
            cost_time: self.cost_time,
            moments: self.nets().flat_map(|n| n.moments.iter().cloned()).collect(),
        }
    }

    /// Restores Adam's state; refused when its shapes are not this network's.
    pub fn restore(&mut self, state: FusedState) -> Result<(), StateError> {
        let shapes: Vec<[usize; 4]> = self
            .nets()
            .flat_map(|n| n.mlp.layers.iter().map(|l| [l.weight.len(), l.weight.len(), l.bias.len(), l.bias.len()]))
            .collect();
        let theirs: Vec<[usize; 4]> = state
            .moments
            .iter()
            .map(|m| [m.m_weight.len(), m.v_weight.len(), m.m_bias.len(), m.v_bias.len()])
            .collect();
        if shapes != theirs {
            return Err(StateError::Shapes { found: theirs, expected: shapes });
        }
        let mut moments = state.moments.into_iter();
        for net in [Some(&mut self.actor), Some(&mut self.critic), self.cost.as_mut()].into_iter().flatten() {
            for m in &mut net.moments {
                *m = moments.next().expect("counted above");
            }
        }
        self.time = state.time;
        self.cost_time = state.cost_time;
        Ok(())
    }

    /// One minibatch: the loss, its checks, the gradients, clipping and the Adam steps.
    /// `allowed` is the action mask (`None`: every action). A non-finite loss term or gradient
    /// norm stops it before any weight changes, naming the term.
    pub fn step(
        &mut self,
        mb: &HostMinibatch,
        c: &PpoConfig,
        learning_rate: f64,
        allowed: Option<&[bool]>,
    ) -> Result<EpochStats, NonFinite> {
        let rows = mb.actions.len();
        let n_chunks = rows.div_ceil(CHUNK);
        self.chunks.resize_with(n_chunks, Chunk::default);
        let inv = 1.0 / rows as f32;
        let nets = [Some(&self.actor), Some(&self.critic), self.cost.as_ref()];
        self.chunks[..n_chunks].par_iter_mut().enumerate().for_each(|(i, chunk)| {
            let part = mb.rows(i * CHUNK, ((i + 1) * CHUNK).min(rows));
            widest(ChunkStep { nets, part, chunk, c, allowed, inv });
        });
        let chunks = &self.chunks[..n_chunks];
        let mut total = Sums::default();
        for s in chunks.iter().map(|c| c.sums) {
            total.policy += s.policy;
            total.value += s.value;
            total.entropy += s.entropy;
            total.old_kl += s.old_kl;
            total.kl += s.kl;
            total.clipped += s.clipped;
            total.cost += s.cost;
        }
        let n = rows as f64;
        let stats = EpochStats {
            policy_loss: (total.policy / n) as f32,
            value_loss: (0.5 * total.value / n) as f32,
            entropy: (total.entropy / n) as f32,
            old_approx_kl: (total.old_kl / n) as f32,
            approx_kl: (total.kl / n) as f32,
            clipfrac: (total.clipped as f64 / n) as f32,
            cost_value_loss: (0.5 * total.cost / n) as f32,
        };
        check_finite(&stats)?;
        self.actor.reduce(chunks.iter().map(|c| &c.nets[0]));
        self.critic.reduce(chunks.iter().map(|c| &c.nets[1]));
        let clip = |sq: f64| {
            let norm = sq.sqrt() as f32;
            (norm, clip_scale(norm, c.max_grad_norm))
        };
        // The cost critic on its own norm, as the burn learner clips it.
        if let Some(cost) = &mut self.cost {
            cost.reduce(chunks.iter().map(|c| &c.nets[2]));
            let (norm, scale) = clip(cost.grad_sq());
            if !norm.is_finite() {
                return Err(("cost_grad_norm", norm));
            }
            if let Some(scale) = scale {
                cost.scale_grads(scale);
            }
        }
        let (norm, scale) = clip(self.actor.grad_sq() + self.critic.grad_sq());
        if !norm.is_finite() {
            return Err(("grad_norm", norm));
        }
        if let Some(scale) = scale {
            self.actor.scale_grads(scale);
            self.critic.scale_grads(scale);
        }
        let lr = learning_rate as f32;
        if let Some(cost) = &mut self.cost {
            self.cost_time += 1;
            cost.adam(lr, self.cost_time);
        }
        self.time += 1;
        self.actor.adam(lr, self.time);
        self.critic.adam(lr, self.time);
        Ok(stats)
    }
}

/// One chunk's forward passes, loss and backward passes, compiled for the widest vectors.
struct ChunkStep<'a> {
    nets: [Option<&'a Net>; 3],
    part: Rows<'a>,
    chunk: &'a mut Chunk,
    c: &'a PpoConfig,
    allowed: Option<&'a [bool]>,
    inv: f32,
}

impl pulp::WithSimd for ChunkStep<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ChunkStep { nets, part, chunk, c, allowed, inv } = self;
        let rows = part.actions.len();
        for (net, work) in nets.iter().zip(&mut chunk.nets) {
            if let Some(net) = net {
                forward(simd, &net.mlp, part.obs, rows, work);
            }
        }
        let [actor, critic, cost] = &mut chunk.nets;
        actor.delta.resize(actor.out.len(), 0.0);
        critic.delta.resize(rows, 0.0);
        let has_cost = nets[2].is_some();
        cost.delta.resize(if has_cost { rows } else { 0 }, 0.0);
        chunk.sums = loss_and_grad(
            part,
            c,
            allowed,
            inv,
            &actor.out,
            &critic.out,
            has_cost.then_some(&cost.out[..]),
            &mut actor.delta,
            &mut critic.delta,
            &mut cost.delta,
        );
        for (net, work) in nets.iter().zip(&mut chunk.nets) {
            if let Some(net) = net {
                backward(simd, net, part.obs, work);
            }
        }
    }
}

/// PPO's loss on some rows of the minibatch (the terms of [`super::loss::ppo_loss`], summed)
/// and its gradient with respect to the logits, the values and the cost values; `inv` is one
/// over the minibatch's rows (the loss is a mean over the whole minibatch).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn loss_and_grad(
    mb: Rows<'_>,
    c: &PpoConfig,
    allowed: Option<&[bool]>,
    inv: f32,
    logits: &[f32],
    values: &[f32],
    cost_values: Option<&[f32]>,
    d_logits: &mut [f32],
    d_values: &mut [f32],
    d_cost: &mut [f32],
) -> Sums {
    let rows = mb.actions.len();
    let a_n = logits.len() / rows.max(1);
    let (lo, hi) = (1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let ok = |k: usize| allowed.is_none_or(|a| a[k]);
    let mut sums = Sums::default();
    for i in 0..rows {
        let z = &logits[i * a_n..(i + 1) * a_n];
        let dz = &mut d_logits[i * a_n..(i + 1) * a_n];
        let max = (0..a_n).filter(|&k| ok(k)).map(|k| z[k]).fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = (0..a_n).filter(|&k| ok(k)).map(|k| (z[k] - max).exp()).sum();
        let lse = max + sum.ln();
        let mut h = 0.0f32;
        for k in (0..a_n).filter(|&k| ok(k)) {
            let lp = z[k] - lse;
            h -= lp.exp() * lp;
        }
        let action = mb.actions[i] as usize;
        let log_ratio = (z[action] - lse) - mb.old_logprobs[i];
        let ratio = log_ratio.exp();
        let adv = mb.advantages[i];
        let pg1 = -adv * ratio;
        let pg2 = -adv * ratio.clamp(lo, hi);
        // The surrogate's gradient flows through the unclipped ratio when it is the larger
        // term (inside the clip range the two are equal and so are their gradients).
        let d_ratio = if pg1 >= pg2 { -adv } else { 0.0 };
        let d_logprob = d_ratio * ratio * inv;
        let d_entropy = c.ent_coef * inv;
        for k in 0..a_n {
            dz[k] = if ok(k) {
                let lp = z[k] - lse;
                let p = lp.exp();
                let onehot = if k == action { 1.0 } else { 0.0 };
                d_logprob * (onehot - p) + d_entropy * p * (lp + h)
            } else {
                0.0
            };
        }
        sums.policy += f64::from(pg1.max(pg2));
        sums.entropy += f64::from(h);
        sums.old_kl += f64::from(-log_ratio);
        sums.kl += f64::from((ratio - 1.0) - log_ratio);
        sums.clipped += usize::from((ratio - 1.0).abs() > c.clip_coef);

        let (v, ret, old) = (values[i], mb.returns[i], mb.old_values[i]);
        let unclipped = (v - ret) * (v - ret);
        let (loss, d) = if c.clip_vloss {
            let diff = v - old;
            let v_clip = old + diff.clamp(-c.clip_coef, c.clip_coef);
            let clipped_sq = (v_clip - ret) * (v_clip - ret);
            if unclipped >= clipped_sq {
                (unclipped, v - ret)
            } else {
                let inside = diff > -c.clip_coef && diff < c.clip_coef;
                (clipped_sq, if inside { v_clip - ret } else { 0.0 })
            }
        } else {
            (unclipped, v - ret)
        };
        sums.value += f64::from(loss);
        d_values[i] = c.vf_coef * inv * d;
        if let Some(cv) = cost_values {
            let e = cv[i] - mb.cost_returns[i];
            sums.cost += f64::from(e * e);
            d_cost[i] = c.vf_coef * inv * e;
        }
    }
    sums
}

/// The first `width` (at most `S::F32_LANES`) values of `s` as a vector, zeros after them.
#[inline(always)]
fn load<S: Simd>(simd: S, s: &[f32], width: usize) -> S::f32s {
    if width == S::F32_LANES { S::as_simd_f32s(&s[..width]).0[0] } else { simd.partial_load_f32s(&s[..width]) }
}

/// Writes the first `width` lanes of `v` to the start of `s`.
#[inline(always)]
fn store<S: Simd>(simd: S, s: &mut [f32], width: usize, v: S::f32s) {
    if width == S::F32_LANES {
        S::as_mut_simd_f32s(&mut s[..width]).0[0] = v;
    } else {
        simd.partial_store_f32s(&mut s[..width], v);
    }
}

/// The column tiles of an `n`-wide output: `(first column, width of its first vector, width of
/// its second)`, two vectors at a time, the last ones possibly partial (a second width of 0: a
/// one-vector tile).
#[inline(always)]
fn column_tiles(n: usize, lanes: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n).step_by(2 * lanes).map(move |o| {
        let first = (n - o).min(lanes);
        (o, first, (n - o - first).min(lanes))
    })
}

/// A column tile: `(first column, width of its first vector, width of its second)`.
type Tile = (usize, usize, usize);

/// One register tile of [`ROWS`] accumulators of up to two vectors each: over the rows `t` of
/// `b`, `acc[j] = fma(a(t, j), b[t][tile's columns], acc[j])`, from `init`. Both kernels are
/// this loop: each vector of `b` loaded serves all [`ROWS`] accumulators.
#[inline(always)]
fn tile<'a, S: Simd>(
    simd: S,
    init: [S::f32s; 2],
    b: impl Iterator<Item = &'a [f32]>,
    a: impl Fn(usize, usize) -> f32,
    (o, w0, w1): Tile,
) -> [[S::f32s; 2]; ROWS] {
    let lanes = S::F32_LANES;
    let mut acc = [init; ROWS];
    for (t, brow) in b.enumerate() {
        let v0 = load(simd, &brow[o..], w0);
        if w1 > 0 {
            let v1 = load(simd, &brow[o + lanes..], w1);
            for (j, acc) in acc.iter_mut().enumerate() {
                let av = simd.splat_f32s(a(t, j));
                acc[0] = simd.mul_add_f32s(av, v0, acc[0]);
                acc[1] = simd.mul_add_f32s(av, v1, acc[1]);
            }
        } else {
            for (j, acc) in acc.iter_mut().enumerate() {
                acc[0] = simd.mul_add_f32s(simd.splat_f32s(a(t, j)), v0, acc[0]);
            }
        }
    }
    acc
}

/// Writes the first `count` accumulators of a [`tile`] to rows `first..first + count` of the
/// `n`-wide `out`.
#[inline(always)]
fn store_tile<S: Simd>(
    simd: S,
    acc: &[[S::f32s; 2]; ROWS],
    out: &mut [f32],
    first: usize,
    count: usize,
    n: usize,
    (o, w0, w1): Tile,
) {
    for (j, acc) in acc.iter().enumerate().take(count) {
        let row = &mut out[(first + j) * n + o..];
        store(simd, row, w0, acc[0]);
        if w1 > 0 {
            store(simd, &mut row[S::F32_LANES..], w1, acc[1]);
        }
    }
}

/// `out[r] = x[r] W (+ b)` for `x` of `[rows, k]`, `w` of `[k, n]` row-major and `out` of
/// `[rows, n]`: each output the chain `fma(x[r][k-1], w[k-1][o], ... fma(x[r][0], w[0][o], b[o]))`,
/// in tiles of [`ROWS`] rows.
#[inline(always)]
fn affine<S: Simd>(simd: S, x: &[f32], k: usize, w: &[f32], n: usize, bias: Option<&[f32]>, out: &mut [f32]) {
    let lanes = S::F32_LANES;
    let rows = out.len() / n;
    let zero = simd.splat_f32s(0.0);
    for r0 in (0..rows).step_by(ROWS) {
        // Rows past the end repeat the last one and are not stored.
        let mut xr: [&[f32]; ROWS] = [&[]; ROWS];
        for (r, slot) in xr.iter_mut().enumerate() {
            let r = (r0 + r).min(rows - 1);
            *slot = &x[r * k..(r + 1) * k];
        }
        for t @ (o, w0, w1) in column_tiles(n, lanes) {
            let b0 = bias.map_or(zero, |b| load(simd, &b[o..], w0));
            let b1 = bias.map_or(zero, |b| if w1 > 0 { load(simd, &b[o + lanes..], w1) } else { zero });
            let acc = tile(simd, [b0, b1], w.chunks_exact(n).take(k), |kk, r| xr[r][kk], t);
            store_tile(simd, &acc, out, r0, ROWS.min(rows - r0), n, t);
        }
    }
}

/// The weight and bias gradients of a layer from its input `x` (`[rows, k]`) and the gradient
/// at its output `delta` (`[rows, n]`): `gw[k][o]` is the chain of fused multiply-adds of
/// `x[r][k] delta[r][o]` over the rows in order, `gb[o]` the sum of `delta[r][o]` in order;
/// in tiles of [`ROWS`] inputs.
#[inline(always)]
fn weight_grad<S: Simd>(simd: S, x: &[f32], k: usize, delta: &[f32], n: usize, gw: &mut [f32], gb: &mut [f32]) {
    let zero = simd.splat_f32s(0.0);
    for t in column_tiles(n, S::F32_LANES) {
        for k0 in (0..k).step_by(ROWS) {
            // Inputs past the end repeat the last one and are not stored.
            let mut ks = [0usize; ROWS];
            for (j, kk) in ks.iter_mut().enumerate() {
                *kk = (k0 + j).min(k - 1);
            }
            let acc = tile(simd, [zero, zero], delta.chunks_exact(n), |r, j| x[r * k + ks[j]], t);
            store_tile(simd, &acc, gw, k0, ROWS.min(k - k0), n, t);
        }
    }
    gb.fill(0.0);
    for dr in delta.chunks_exact(n) {
        for (b, &d) in gb.iter_mut().zip(dr) {
            *b += d;
        }
    }
}

/// `wt = w^T`: `[k, n]` to `[n, k]`.
#[inline(always)]
fn transpose(w: &[f32], k: usize, n: usize, wt: &mut Vec<f32>) {
    wt.resize(k * n, 0.0);
    for kk in 0..k {
        for o in 0..n {
            wt[o * k + kk] = w[kk * n + o];
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor, TensorData};
    use rand_core::Rng;
    use sim_core::env::Spaces;
    use sim_core::rng::{StreamKey, domain};

    use super::super::learner::{Learner, for_each_minibatch};
    use super::super::loss::Minibatch;
    use super::super::{Adapter, LagrangianConfig};
    use super::*;
    use crate::backend::CpuAutodiff;
    use crate::mask::ActionMask;
    use crate::penalty::PenaltyConfig;
    use crate::policy::{ActorCritic, PolicyConfig};

    fn uniform(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| ((rng.next_u32() >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0) * scale).collect()
    }

    /// The documented chains, one scalar fused multiply-add at a time.
    fn affine_reference(x: &[f32], k: usize, w: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let rows = x.len() / k;
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for o in 0..n {
                let mut acc = bias.map_or(0.0, |b| b[o]);
                for kk in 0..k {
                    acc = x[r * k + kk].mul_add(w[kk * n + o], acc);
                }
                out[r * n + o] = acc;
            }
        }
        out
    }

    fn weight_grad_reference(x: &[f32], k: usize, delta: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let rows = delta.len() / n;
        let (mut gw, mut gb) = (vec![0.0; k * n], vec![0.0; n]);
        for kk in 0..k {
            for o in 0..n {
                let mut acc = 0.0f32;
                for r in 0..rows {
                    acc = x[r * k + kk].mul_add(delta[r * n + o], acc);
                }
                gw[kk * n + o] = acc;
            }
        }
        for r in 0..rows {
            for o in 0..n {
                gb[o] += delta[r * n + o];
            }
        }
        (gw, gb)
    }

    /// Both kernels on one shape, on the instruction set `S`.
    struct Kernels<'a> {
        x: &'a [f32],
        k: usize,
        w: &'a [f32],
        n: usize,
        bias: Option<&'a [f32]>,
        delta: &'a [f32],
    }

    impl pulp::WithSimd for Kernels<'_> {
        type Output = (Vec<f32>, Vec<f32>, Vec<f32>);
        fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
            let rows = self.x.len() / self.k;
            let mut out = vec![f32::NAN; rows * self.n];
            affine(simd, self.x, self.k, self.w, self.n, self.bias, &mut out);
            let (mut gw, mut gb) = (vec![f32::NAN; self.k * self.n], vec![f32::NAN; self.n]);
            weight_grad(simd, self.x, self.k, self.delta, self.n, &mut gw, &mut gb);
            (out, gw, gb)
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn kernels_do_not_depend_on_the_vector_width() {
        let mut rng = StreamKey([3, 4]).chacha();
        // Whole tiles, left-over columns, partial row blocks and narrow heads.
        for (rows, k, n) in
            [(37, 5, 70), (300, 64, 2), (17, 64, 1), (256, 64, 64), (9, 3, 33), (1, 1, 1), (70, 100, 11)]
        {
            let x = uniform(&mut rng, rows * k, 2.0);
            let w = uniform(&mut rng, k * n, 1.0);
            let b = uniform(&mut rng, n, 0.5);
            let delta = uniform(&mut rng, rows * n, 1.0);
            for bias in [Some(&b[..]), None] {
                let want = affine_reference(&x, k, &w, n, bias);
                let (want_gw, want_gb) = weight_grad_reference(&x, k, &delta, n);
                let kernels = || Kernels { x: &x, k, w: &w, n, bias, delta: &delta };
                let mut results = vec![("scalar", pulp::Scalar::new().vectorize(kernels()))];
                #[cfg(target_arch = "x86_64")]
                {
                    if let Some(v3) = pulp::x86::V3::try_new() {
                        results.push(("avx2", v3.vectorize(|| pulp::WithSimd::with_simd(kernels(), v3))));
                    }
                    if let Some(v4) = pulp::x86::V4::try_new() {
                        results.push(("avx512", v4.vectorize(|| pulp::WithSimd::with_simd(kernels(), v4))));
                    }
                }
                results.push(("dispatched", widest(kernels())));
                for (isa, (out, gw, gb)) in results {
                    let shape = format!("{isa}, rows {rows}, k {k}, n {n}, bias {}", bias.is_some());
                    assert_eq!(bits(&out), bits(&want), "affine: {shape}");
                    assert_eq!(bits(&gw), bits(&want_gw), "weight gradient: {shape}");
                    assert_eq!(bits(&gb), bits(&want_gb), "bias gradient: {shape}");
                }
            }
        }
    }

    /// A network, its optimisers, a rollout-like batch and a configuration for comparing the
    /// kernels: `mask` restricts the policy, `lagrangian` adds the cost critic.
    struct Case {
        model: ActorCritic<CpuAutodiff>,
        c: PpoConfig,
        mask: Option<ActionMask>,
        batch: HostMinibatch,
        obs_dim: usize,
    }

    fn case(masked: bool, lagrangian: bool) -> Case {
        let (obs_dim, actions, n) = (6, 4, 600);
        let spaces = Spaces { obs_dim, num_actions: actions as u32 };
        let key = StreamKey::derive(11, domain::INIT, 0);
        let model = ActorCritic::<CpuAutodiff>::init(
            spaces,
            &PolicyConfig { hidden: vec![40, 24], ..PolicyConfig::default() },
            &[0.3, 0.0, -0.2, 0.1],
            lagrangian,
            key,
            &Default::default(),
        );
        let mut rng = StreamKey([9, 9]).chacha();
        let mask = masked.then(|| ActionMask { allowed: vec![true, false, true, true] });
        let allowed = [0u32, 2, 3];
        let batch = HostMinibatch {
            obs: uniform(&mut rng, n * obs_dim, 1.5),
            actions: (0..n).map(|_| allowed[rng.next_u32() as usize % 3]).collect(),
            // Old log-probabilities near the initial policy's, so that some ratios clip.
            old_logprobs: uniform(&mut rng, n, 0.3).iter().map(|d| (1.0f32 / 3.0).ln() + d).collect(),
            advantages: uniform(&mut rng, n, 1.0),
            returns: uniform(&mut rng, n, 2.0),
            old_values: uniform(&mut rng, n, 0.3),
            cost_returns: if lagrangian { uniform(&mut rng, n, 1.0) } else { Vec::new() },
            live: Vec::new(),
        };
        let c = PpoConfig {
            num_envs: n,
            num_steps: 1,
            num_minibatches: 2,
            update_epochs: 3,
            learning_rate: 1e-3,
            penalty: if lagrangian { PenaltyConfig::CostSignal } else { PenaltyConfig::TaskOnly },
            lagrangian: lagrangian.then(LagrangianConfig::default),
            ..PpoConfig::default()
        };
        Case { model, c, mask, batch, obs_dim }
    }

    fn gather(b: &HostMinibatch, dim: usize, idx: &[usize], mb: &mut HostMinibatch) {
        let pick = |v: &[f32]| idx.iter().map(|&k| v[k]).collect::<Vec<f32>>();
        mb.obs = idx.iter().flat_map(|&k| b.obs[k * dim..(k + 1) * dim].iter().copied()).collect();
        mb.actions = idx.iter().map(|&k| b.actions[k]).collect();
        mb.old_logprobs = pick(&b.old_logprobs);
        mb.advantages = pick(&b.advantages);
        mb.returns = pick(&b.returns);
        mb.old_values = pick(&b.old_values);
        mb.cost_returns = if b.cost_returns.is_empty() { Vec::new() } else { pick(&b.cost_returns) };
    }

    /// Three epochs of two minibatches on burn and on the hand-written kernel, from the same
    /// weights and permutations: the weights' changes agree to float rounding, and so do the
    /// last minibatch's loss terms.
    fn compare_with_burn(masked: bool, lagrangian: bool) {
        let Case { model, c, mask, batch, obs_dim } = case(masked, lagrangian);
        let (actor, critic, cost) = model.to_dense();
        let mut fused = FusedLearner::new(actor.clone(), critic.clone(), cost.clone());
        let allowed = mask.as_ref().map(|m| m.allowed().to_vec());
        let mut mb = HostMinibatch::default();
        let fused_stats = for_each_minibatch(&c, 1, &mut StreamKey([1, 1]).chacha(), |idx, fail| {
            gather(&batch, obs_dim, idx, &mut mb);
            fused.step(&mb, &c, c.learning_rate, allowed.as_deref()).map_err(|(t, v)| fail(t, v))
        })
        .unwrap();

        let device = Default::default();
        let mut burn_model = model.clone();
        let mut optim: Adapter<CpuAutodiff> = super::super::adam::config().init();
        let mut cost_optim: Adapter<CpuAutodiff> = super::super::adam::config().init();
        let mut shuffle = StreamKey([1, 1]).chacha();
        let learner = Learner {
            model: &mut burn_model,
            objective: &super::super::Ppo,
            optim: &mut optim,
            cost_optim: lagrangian.then_some(&mut cost_optim),
            shuffle: &mut shuffle,
            mask: mask.as_ref().map(|m| m.offsets(&device)),
        };
        let burn_stats = learner
            .epochs(&c, 1, c.learning_rate, |idx| {
                let mut mb = HostMinibatch::default();
                gather(&batch, obs_dim, idx, &mut mb);
                let n = idx.len();
                let t1 = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [n]), &device);
                Minibatch {
                    obs: Tensor::from_data(TensorData::new(mb.obs, [n, obs_dim]), &device),
                    actions: Tensor::<CpuAutodiff, 1, Int>::from_data(
                        TensorData::new(mb.actions.iter().map(|&a| i64::from(a)).collect(), [n]),
                        &device,
                    ),
                    old_logprobs: t1(mb.old_logprobs),
                    advantages: t1(mb.advantages),
                    returns: t1(mb.returns),
                    old_values: t1(mb.old_values),
                    cost_returns: lagrangian.then(|| t1(mb.cost_returns)),
                    live: None,
                }
            })
            .unwrap();

        let (burn_actor, burn_critic, burn_cost) = burn_model.to_dense();
        let (fa, fc, fk) = fused.weights();
        let nets = [("actor", &actor, &burn_actor, fa), ("critic", &critic, &burn_critic, fc)]
            .into_iter()
            .chain(cost.as_ref().zip(burn_cost.as_ref()).zip(fk).map(|((a, b), f)| ("cost critic", a, b, f)));
        for (name, before, burn, fused) in nets {
            let mut worst = 0.0f32;
            let mut largest = 0.0f32;
            for ((b0, b1), f1) in before.layers.iter().zip(&burn.layers).zip(&fused.layers) {
                let pairs = b0.weight.iter().zip(&b1.weight).zip(&f1.weight);
                let pairs = pairs.chain(b0.bias.iter().zip(&b1.bias).zip(&f1.bias));
                for ((w0, wb), wf) in pairs {
                    largest = largest.max((wb - w0).abs());
                    worst = worst.max((wb - wf).abs());
                }
            }
            assert!(largest > 1e-4, "{name}: the update moved the weights ({largest})");
            assert!(worst <= 1e-3 * largest, "{name}: kernels differ by {worst}, updates up to {largest}");
        }
        let pairs = [
            (fused_stats.policy_loss, burn_stats.policy_loss),
            (fused_stats.value_loss, burn_stats.value_loss),
            (fused_stats.entropy, burn_stats.entropy),
            (fused_stats.approx_kl, burn_stats.approx_kl),
            (fused_stats.clipfrac, burn_stats.clipfrac),
            (fused_stats.cost_value_loss, burn_stats.cost_value_loss),
        ];
        for (i, (f, b)) in pairs.into_iter().enumerate() {
            assert!((f - b).abs() <= 1e-5 + 1e-4 * b.abs(), "term {i}: fused {f}, burn {b}");
        }
        assert!(fused_stats.clipfrac > 0.0, "some ratios clipped");
    }

    #[test]
    fn one_update_matches_burn() {
        compare_with_burn(false, false);
    }

    #[test]
    fn one_update_matches_burn_with_a_mask() {
        compare_with_burn(true, false);
    }

    #[test]
    fn one_update_matches_burn_with_the_cost_critic() {
        compare_with_burn(false, true);
    }

    #[test]
    fn the_thread_count_does_not_change_a_bit() {
        let Case { model, c, mask, batch, .. } = case(true, true);
        let run = |threads: usize| {
            let (actor, critic, cost) = model.to_dense();
            let mut fused = FusedLearner::new(actor, critic, cost);
            let allowed = mask.as_ref().map(|m| m.allowed().to_vec());
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for _ in 0..3 {
                    fused.step(&batch, &c, 1e-3, allowed.as_deref()).unwrap();
                }
            });
            let (a, b, k) = fused.weights();
            [a, b, k.unwrap()].iter().flat_map(|m| m.layers.iter().flat_map(|l| bits(&l.weight))).collect::<Vec<_>>()
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(5));
    }
}
