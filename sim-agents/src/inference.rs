//! The policy's forward pass on the host, for collecting rollouts and evaluating: plain Rust
//! over a copy of the weights, no autodiff, no allocation per call.
//!
//! Rollouts call the policy once per environment step on small batches, where burn's per-op
//! cost (a few microseconds each, about 30 operations) would dominate; this path costs about
//! one microsecond per observation on one core. Weights are copied out of the burn model after
//! every update ([`crate::policy::ActorCritic::to_inference`]).

use rayon::prelude::*;
use sim_core::rng::{Draws, StreamKey};

use crate::mask::ActionMask;
use crate::math::tanh;

/// The widest layer the host path supports.
pub const MAX_WIDTH: usize = 512;

/// One dense layer: `weight` is `[inputs, outputs]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `[inputs, outputs]` row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// Rows evaluated together: a tile of `TILE` outputs of [`BLOCK`] rows lives in registers
/// while the inputs stream past, so each weight load serves every row of the block.
pub const BLOCK: usize = 8;
/// Outputs per register tile (one 8-wide vector).
const TILE: usize = 8;

impl Dense {
    /// `out[r] = x[r] W + b` for the rows of a block; row `r` of `x` and of `out` start at
    /// `r * MAX_WIDTH`. All [`BLOCK`] rows are computed (rows past the caller's are ignored).
    /// `t` (at least `inputs * BLOCK` long) takes the block transposed, so that the `BLOCK`
    /// rows' inputs `i` are one contiguous vector.
    ///
    /// Every output is `((0 + x_0 w_0) + x_1 w_1) + ... + b` in input order, whether its column
    /// is in a register tile or in the remainder (which is vectorised across the rows instead):
    /// the same values as the one-row loop, bit for bit.
    #[inline(always)]
    fn apply_block(&self, x: &[f32], out: &mut [f32], t: &mut [f32]) {
        let n_out = self.outputs;
        let full = n_out - n_out % TILE;
        for (i, col) in t[..self.inputs * BLOCK].chunks_exact_mut(BLOCK).enumerate() {
            for (r, v) in col.iter_mut().enumerate() {
                *v = x[r * MAX_WIDTH + i];
            }
        }
        let t = &t[..self.inputs * BLOCK];
        for o in (0..full).step_by(TILE) {
            let mut acc = [[0.0f32; TILE]; BLOCK];
            for (i, col) in t.chunks_exact(BLOCK).enumerate() {
                let w: &[f32; TILE] = self.weight[i * n_out + o..i * n_out + o + TILE].try_into().expect("tile");
                let col: &[f32; BLOCK] = col.try_into().expect("a column of the block");
                for (acc, &xv) in acc.iter_mut().zip(col) {
                    for k in 0..TILE {
                        acc[k] += xv * w[k];
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for k in 0..TILE {
                    out[r * MAX_WIDTH + o + k] = acc[k] + self.bias[o + k];
                }
            }
        }
        for o in full..n_out {
            let mut acc = [0.0f32; BLOCK];
            for (i, col) in t.chunks_exact(BLOCK).enumerate() {
                let w = self.weight[i * n_out + o];
                let col: &[f32; BLOCK] = col.try_into().expect("a column of the block");
                for (a, &xv) in acc.iter_mut().zip(col) {
                    *a += xv * w;
                }
            }
            for (r, a) in acc.iter().enumerate() {
                out[r * MAX_WIDTH + o] = a + self.bias[o];
            }
        }
    }
}

/// A multilayer perceptron with tanh between layers.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseMlp {
    /// The layers, input first.
    pub layers: Vec<Dense>,
}

impl DenseMlp {
    /// The output of one row `x`, written to the start of `out` (length of the last layer).
    pub fn forward_row(&self, x: &[f32], out: &mut [f32]) {
        with_workspace(|w| {
            self.forward_block(x, x.len(), 1, &mut w.scratch, &mut w.first);
            let n = self.outputs();
            out[..n].copy_from_slice(&w.first[..n]);
        });
    }

    /// The outputs of a block of `rows <= BLOCK` rows (row `r` of `x` starts at
    /// `r * x_stride`) into `out` (row `r` at `r * MAX_WIDTH`), using `scratch`.
    /// Compiled for the widest vectors the host has (`math::widest`); the values do
    /// not depend on which.
    pub fn forward_block(&self, x: &[f32], x_stride: usize, rows: usize, scratch: &mut BlockScratch, out: &mut [f32]) {
        struct Op<'a> {
            mlp: &'a DenseMlp,
            x: &'a [f32],
            x_stride: usize,
            rows: usize,
            scratch: &'a mut BlockScratch,
            out: &'a mut [f32],
        }
        impl pulp::WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                self.mlp.forward_block_here(self.x, self.x_stride, self.rows, self.scratch, self.out)
            }
        }
        crate::math::widest(Op { mlp: self, x, x_stride, rows, scratch, out })
    }

    /// The first output of each row of a block (a value head's) into `out[..rows]`, with `buf`
    /// taking the block's outputs as [`DenseMlp::forward_block`]'s `out`.
    fn heads_block(
        &self,
        x: &[f32],
        x_stride: usize,
        rows: usize,
        scratch: &mut BlockScratch,
        buf: &mut [f32],
        out: &mut [f32],
    ) {
        self.forward_block(x, x_stride, rows, scratch, buf);
        for (r, o) in out[..rows].iter_mut().enumerate() {
            *o = buf[r * MAX_WIDTH];
        }
    }

    #[inline(always)]
    fn forward_block_here(&self, x: &[f32], x_stride: usize, rows: usize, scratch: &mut BlockScratch, out: &mut [f32]) {
        let width = self.layers[0].inputs;
        for r in 0..rows {
            scratch.a[r * MAX_WIDTH..r * MAX_WIDTH + width].copy_from_slice(&x[r * x_stride..r * x_stride + width]);
        }
        let (last, hidden) = self.layers.split_last().expect("at least one layer");
        let BlockScratch { a, b, t } = scratch;
        let (mut cur, mut next) = (a, b);
        for layer in hidden {
            layer.apply_block(&cur[..], &mut next[..], t);
            for r in 0..rows {
                for v in &mut next[r * MAX_WIDTH..r * MAX_WIDTH + layer.outputs] {
                    *v = tanh(*v);
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        last.apply_block(&cur[..], out, t);
    }

    /// Width of the output.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }
}

/// Activation buffers for [`DenseMlp::forward_block`].
pub struct BlockScratch {
    a: Vec<f32>,
    b: Vec<f32>,
    /// A block's inputs transposed ([`Dense::apply_block`]).
    t: Vec<f32>,
}

impl Default for BlockScratch {
    fn default() -> Self {
        BlockScratch {
            a: vec![0.0; BLOCK * MAX_WIDTH],
            b: vec![0.0; BLOCK * MAX_WIDTH],
            t: vec![0.0; BLOCK * MAX_WIDTH],
        }
    }
}

/// The buffers of one thread's forward passes: allocated on the thread's first call and reused
/// by every later one, so that acting and valuing allocate nothing per call.
struct Workspace {
    scratch: BlockScratch,
    /// A block's outputs of the first network (the actor's logits, or a head's values).
    first: Vec<f32>,
    /// A block's outputs of the critics.
    second: Vec<f32>,
}

thread_local! {
    static WORKSPACE: std::cell::RefCell<Workspace> = std::cell::RefCell::new(Workspace {
        scratch: BlockScratch::default(),
        first: vec![0.0; BLOCK * MAX_WIDTH],
        second: vec![0.0; BLOCK * MAX_WIDTH],
    });
}

/// Runs `f` on this thread's [`Workspace`] (not re-entrant: `f` must not call it again).
fn with_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    WORKSPACE.with(|w| f(&mut w.borrow_mut()))
}

/// How actions are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActMode {
    /// Sampled from the policy's distribution (training rollouts).
    Sample,
    /// The most probable action (evaluation).
    Greedy,
}

/// What the policy produced for a batch of observations.
#[derive(Clone, Debug, Default)]
pub struct ActOutput {
    /// Chosen actions.
    pub actions: Vec<u32>,
    /// Log-probabilities of the chosen actions.
    pub logprobs: Vec<f32>,
    /// State values.
    pub values: Vec<f32>,
    /// Cost values (zeros without a cost critic).
    pub cost_values: Vec<f32>,
}

impl ActOutput {
    /// Buffers for `n` rows.
    pub fn new(n: usize) -> Self {
        ActOutput { actions: vec![0; n], logprobs: vec![0.0; n], values: vec![0.0; n], cost_values: vec![0.0; n] }
    }
}

/// The actor-critic's weights on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct InferencePolicy {
    actor: DenseMlp,
    critic: DenseMlp,
    cost_critic: Option<DenseMlp>,
    mask: Option<ActionMask>,
}

const ROWS_PER_TASK: usize = 256;

impl InferencePolicy {
    /// A policy from its three networks.
    pub fn new(actor: DenseMlp, critic: DenseMlp, cost_critic: Option<DenseMlp>) -> Self {
        for mlp in [Some(&actor), Some(&critic), cost_critic.as_ref()].into_iter().flatten() {
            assert!(mlp.layers.iter().all(|l| l.outputs <= MAX_WIDTH), "layers wider than {MAX_WIDTH}");
        }
        InferencePolicy { actor, critic, cost_critic, mask: None }
    }

    /// This policy restricted to `mask`'s actions (or not, with `None`).
    pub fn with_mask(mut self, mask: Option<ActionMask>) -> Self {
        if let Some(m) = &mask {
            assert_eq!(m.allowed().len(), self.num_actions(), "the mask has one flag per action");
        }
        self.mask = mask;
        self
    }

    /// The action mask, if the policy is restricted.
    pub fn mask(&self) -> Option<&ActionMask> {
        self.mask.as_ref()
    }

    /// Number of actions.
    pub fn num_actions(&self) -> usize {
        self.actor.outputs()
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.actor.layers[0].inputs
    }

    /// Actions, their log-probabilities and the values of `n` observations (`obs` is
    /// `[n, obs_dim]`). Sampling for row `i` draws from `Draws::new(keys[i], step)`, so the
    /// result does not depend on the thread count.
    pub fn act(&self, obs: &[f32], keys: &[StreamKey], step: u32, mode: ActMode, out: &mut ActOutput) {
        let dim = self.obs_dim();
        let n = keys.len();
        assert!(obs.len() == n * dim && out.actions.len() >= n, "act: batch sizes disagree");
        let work = (
            obs.par_chunks(ROWS_PER_TASK * dim),
            keys.par_chunks(ROWS_PER_TASK),
            out.actions[..n].par_chunks_mut(ROWS_PER_TASK),
            out.logprobs[..n].par_chunks_mut(ROWS_PER_TASK),
            out.values[..n].par_chunks_mut(ROWS_PER_TASK),
            out.cost_values[..n].par_chunks_mut(ROWS_PER_TASK),
        );
        work.into_par_iter().with_min_len(if n > ROWS_PER_TASK { 1 } else { usize::MAX }).for_each(
            |(obs, keys, actions, logprobs, values, cost_values)| {
                with_workspace(|w| {
                    let Workspace { scratch, first: logits, second: v } = w;
                    let num_actions = self.num_actions();
                    for start in (0..keys.len()).step_by(BLOCK) {
                        let rows = BLOCK.min(keys.len() - start);
                        let x = &obs[start * dim..];
                        self.actor.forward_block(x, dim, rows, scratch, logits);
                        for r in 0..rows {
                            let row = &mut logits[r * MAX_WIDTH..r * MAX_WIDTH + num_actions];
                            if let Some(m) = &self.mask {
                                m.apply(row);
                            }
                            (actions[start + r], logprobs[start + r]) =
                                choose(row, &Draws::new(keys[start + r], step), mode);
                        }
                        self.critic.heads_block(x, dim, rows, scratch, v, &mut values[start..]);
                        match &self.cost_critic {
                            Some(c) => c.heads_block(x, dim, rows, scratch, v, &mut cost_values[start..]),
                            None => cost_values[start..start + rows].fill(0.0),
                        }
                    }
                });
            },
        );
    }

    /// State values of `[n, obs_dim]` observations into `values`.
    pub fn values(&self, obs: &[f32], values: &mut [f32]) {
        Self::head(&self.critic, obs, values);
    }

    /// Cost values of `[n, obs_dim]` observations (zeros without a cost critic).
    pub fn cost_values(&self, obs: &[f32], values: &mut [f32]) {
        match &self.cost_critic {
            Some(c) => Self::head(c, obs, values),
            None => values.fill(0.0),
        }
    }

    /// Action logits of one observation (−∞ for masked actions).
    pub fn logits(&self, obs: &[f32]) -> Vec<f32> {
        let mut logits = [0.0f32; MAX_WIDTH];
        self.actor.forward_row(obs, &mut logits);
        let mut out = logits[..self.num_actions()].to_vec();
        if let Some(m) = &self.mask {
            m.apply(&mut out);
        }
        out
    }

    fn head(mlp: &DenseMlp, obs: &[f32], values: &mut [f32]) {
        let dim = mlp.layers[0].inputs;
        let n = values.len();
        assert_eq!(obs.len(), n * dim, "one observation per value");
        (values.par_chunks_mut(ROWS_PER_TASK), obs.par_chunks(ROWS_PER_TASK * dim))
            .into_par_iter()
            .with_min_len(if n > ROWS_PER_TASK { 1 } else { usize::MAX })
            .for_each(|(values, obs)| {
                with_workspace(|w| {
                    for start in (0..values.len()).step_by(BLOCK) {
                        let rows = BLOCK.min(values.len() - start);
                        let x = &obs[start * dim..];
                        mlp.heads_block(x, dim, rows, &mut w.scratch, &mut w.first, &mut values[start..]);
                    }
                })
            });
    }
}

/// Picks an action from `logits` and returns it with its log-probability.
#[inline]
pub(crate) fn choose(logits: &[f32], draws: &Draws, mode: ActMode) -> (u32, f32) {
    choose_with(logits, if mode == ActMode::Sample { draws.uniform(0) } else { 0.0 }, mode)
}

/// The largest of `logits` and `Σ exp(l − max)` over them (masked actions, at −∞, add nothing):
/// the log-softmax's normaliser is `max + ln(sum)`.
pub fn exp_sum(logits: &[f32]) -> (f32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for &l in logits {
        sum += (l - max).exp();
    }
    (max, sum)
}

/// The most probable action of `logits` (the first of equal ones): the greedy choice.
pub fn greedy(logits: &[f32]) -> u32 {
    logits.iter().enumerate().fold(0, |best, (i, &l)| if l > logits[best] { i } else { best }) as u32
}

/// [`choose`] with the sampling uniform `u` in `[0, 1)` given.
pub(crate) fn choose_with(logits: &[f32], u: f32, mode: ActMode) -> (u32, f32) {
    let (max, sum) = exp_sum(logits);
    let log_norm = max + sum.ln();
    let action = match mode {
        ActMode::Greedy => greedy(logits) as usize,
        ActMode::Sample => {
            let target = u * sum;
            let mut acc = 0.0f32;
            // A target at the very top (defensive: with round-to-nearest `u * sum < sum` for
            // every u < 1) takes the first action at which the running sum reaches the total,
            // never one of probability zero (a masked one).
            let mut top = None;
            let mut chosen = None;
            for (i, &l) in logits.iter().enumerate() {
                acc += (l - max).exp();
                if target < acc {
                    chosen = Some(i);
                    break;
                }
                if acc >= sum && top.is_none() {
                    top = Some(i);
                }
            }
            chosen.or(top).unwrap_or(logits.len() - 1)
        }
    };
    (action as u32, logits[action] - log_norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::domain;

    fn layer(inputs: usize, outputs: usize, seed: u32) -> Dense {
        let draws = Draws::new(StreamKey([seed, 1]), 0);
        Dense {
            inputs,
            outputs,
            weight: (0..inputs * outputs).map(|i| draws.uniform(i as u32) - 0.5).collect(),
            bias: (0..outputs).map(|i| draws.uniform(10_000 + i as u32) - 0.5).collect(),
        }
    }

    #[test]
    fn forward_matches_a_plain_f64_reference() {
        let mlp = DenseMlp { layers: vec![layer(5, 8, 1), layer(8, 8, 2), layer(8, 3, 3)] };
        let x = [0.3f32, -1.2, 0.5, 2.0, -0.1];
        let mut out = [0.0f32; 3];
        mlp.forward_row(&x, &mut out);
        let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (k, l) in mlp.layers.iter().enumerate() {
            let mut next: Vec<f64> = l.bias.iter().map(|&b| f64::from(b)).collect();
            for i in 0..l.inputs {
                for o in 0..l.outputs {
                    next[o] += h[i] * f64::from(l.weight[i * l.outputs + o]);
                }
            }
            h = if k + 1 < mlp.layers.len() { next.iter().map(|v| v.tanh()).collect() } else { next };
        }
        for o in 0..3 {
            assert!((f64::from(out[o]) - h[o]).abs() < 1e-5, "{o}: {} vs {}", out[o], h[o]);
        }
    }

    #[test]
    fn blocks_compute_exactly_what_rows_compute() {
        let mlp = DenseMlp { layers: vec![layer(5, 8, 1), layer(8, 8, 2), layer(8, 3, 3)] };
        let x: Vec<f32> = (0..5 * 7).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut scratch = BlockScratch::default();
        let mut out = vec![0.0f32; BLOCK * MAX_WIDTH];
        mlp.forward_block(&x, 5, 7, &mut scratch, &mut out);
        for r in 0..7 {
            let mut row = [0.0f32; 3];
            mlp.forward_row(&x[r * 5..r * 5 + 5], &mut row);
            assert_eq!(&out[r * MAX_WIDTH..r * MAX_WIDTH + 3], &row[..], "row {r}");
        }
    }

    /// The forward in the widest vectors the host has equals the build's baseline code, and the
    /// remainder columns (vectorised across rows) equal the one-input-at-a-time sum, bit for
    /// bit: on an AVX-512 host this compares AVX-512 with AVX2; elsewhere, the code with itself.
    #[test]
    fn the_widest_forward_equals_the_baseline_and_a_plain_sum_bit_for_bit() {
        // Widths with register tiles and remainders: 13 inputs, 64 and 19 hidden, 11 outputs.
        let mlp = DenseMlp { layers: vec![layer(13, 64, 4), layer(64, 19, 5), layer(19, 11, 6)] };
        let x: Vec<f32> = (0..13 * BLOCK).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
        let (mut wide, mut base) = (vec![0.0f32; BLOCK * MAX_WIDTH], vec![0.0f32; BLOCK * MAX_WIDTH]);
        mlp.forward_block(&x, 13, BLOCK, &mut BlockScratch::default(), &mut wide);
        mlp.forward_block_here(&x, 13, BLOCK, &mut BlockScratch::default(), &mut base);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wide), bits(&base));
        for r in 0..BLOCK {
            let mut h: Vec<f32> = x[r * 13..r * 13 + 13].to_vec();
            for (k, l) in mlp.layers.iter().enumerate() {
                let next: Vec<f32> = (0..l.outputs)
                    .map(|o| {
                        let sum = (0..l.inputs).fold(0.0f32, |acc, i| acc + h[i] * l.weight[i * l.outputs + o]);
                        let y = sum + l.bias[o];
                        if k + 1 < mlp.layers.len() { crate::math::tanh(y) } else { y }
                    })
                    .collect();
                h = next;
            }
            assert_eq!(bits(&wide[r * MAX_WIDTH..r * MAX_WIDTH + 11]), bits(&h), "row {r}");
        }
    }

    #[test]
    fn sampling_follows_the_softmax_and_log_probs_are_right() {
        let logits = [1.0f32, 0.0, -1.0];
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        let mut counts = [0u32; 3];
        let key = StreamKey::derive(0, domain::POLICY, 0);
        for step in 0..60_000 {
            let (a, lp) = choose(&logits, &Draws::new(key, step), ActMode::Sample);
            counts[a as usize] += 1;
            assert!((lp - (logits[a as usize] - z.ln())).abs() < 1e-6);
        }
        for i in 0..3 {
            let p = logits[i].exp() / z;
            let freq = f64::from(counts[i]) / 60_000.0;
            assert!((freq - f64::from(p)).abs() < 0.01, "action {i}: {freq} vs {p}");
        }
        assert_eq!(choose(&logits, &Draws::new(key, 0), ActMode::Greedy).0, 0);
    }

    #[test]
    fn batched_act_is_independent_of_the_thread_count() {
        let policy = InferencePolicy::new(
            DenseMlp { layers: vec![layer(4, 16, 1), layer(16, 3, 2)] },
            DenseMlp { layers: vec![layer(4, 16, 3), layer(16, 1, 4)] },
            None,
        );
        let n = 1000;
        let obs: Vec<f32> = (0..n * 4).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
        let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(9, domain::POLICY, i as u64)).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut out = ActOutput::new(n);
            pool.install(|| policy.act(&obs, &keys, 3, ActMode::Sample, &mut out));
            out
        };
        let (a, b) = (run(1), run(3));
        assert_eq!(a.actions, b.actions);
        assert_eq!(a.logprobs, b.logprobs);
        assert_eq!(a.values, b.values);
    }
}
