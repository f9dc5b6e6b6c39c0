//! Seeding: ChaCha-derived stream keys and the counter-based generator every environment draws from.
//!
//! Two layers, so that the same numbers can be produced on the CPU and on a GPU:
//!
//! 1. [`StreamKey::derive`] turns `(seed, domain, index)` into a 64-bit key with a ChaCha12
//!    stream (`rand_chacha`). It runs once per environment slot (or per trainer stream), on
//!    the host. Distinct domains and indices give independent keys.
//! 2. [`Draws`] is a *counter-based* generator: draw `d` at step `t` of a stream is a pure
//!    function `hash(key, t, d)`. No generator state is carried between steps, so any thread
//!    may step any environment in any order, and a device kernel (or a tensor program) computes
//!    exactly the same bits from the same key, step and draw index.
//!
//! The hash is Chris Wellons' `lowbias32` integer finaliser, chained over the words of the
//! counter. It is a statistical generator for simulation, not a cryptographic one; the tests
//! below check uniformity and independence between neighbouring steps, draws and keys.
//! Every multiplication is by a 32-bit constant on a 32-bit value, so the same function can be
//! evaluated exactly with 64-bit signed integer tensors: `crate::device::rng` does, for the
//! device environments.

use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The two multipliers of [`mix32`], public so that device implementations can share them.
pub const MIX_MULTIPLIERS: [u32; 2] = [0x7feb_352d, 0x846c_a68b];

/// Domains of derived streams. Keys of different domains never coincide by construction of
/// the ChaCha stream id; new users pick a new constant.
pub mod domain {
    /// Per environment slot of a batched runner: all of that slot's dynamics.
    pub const ENV: u32 = 1;
    /// Action sampling of a policy during rollouts.
    pub const POLICY: u32 = 2;
    /// Minibatch shuffling in a trainer.
    pub const MINIBATCH: u32 = 3;
    /// Parameter initialisation of a network.
    pub const INIT: u32 = 4;
    /// Evaluation episodes, kept apart from training streams.
    pub const EVAL: u32 = 5;
    /// Scripted reference policies.
    pub const SCRIPT: u32 = 6;
    /// Draws of scenario spaces.
    pub const SPACE: u32 = 7;
}

/// The 64-bit key of one stream, as two 32-bit words (device friendly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamKey(pub [u32; 2]);

impl StreamKey {
    /// Derives the key of stream `(domain, index)` of `seed` from a ChaCha12 stream.
    ///
    /// `index` uses the low 40 bits of the ChaCha stream id and `domain` the high 24, so up to
    /// 2^40 streams per domain are distinct.
    pub fn derive(seed: u64, domain: u32, index: u64) -> Self {
        debug_assert!(index < (1 << 40), "stream index {index} exceeds 2^40");
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        rng.set_stream((u64::from(domain) << 40) | (index & ((1 << 40) - 1)));
        let word = rng.next_u64();
        StreamKey([word as u32, (word >> 32) as u32])
    }

    /// The environment streams of slots `0..num_envs` of a runner seeded by `seed` (what
    /// `BatchRunner::new` and the device environments step and reset from).
    pub fn envs(seed: u64, num_envs: usize) -> Vec<StreamKey> {
        (0..num_envs).map(|i| StreamKey::derive(seed, domain::ENV, i as u64)).collect()
    }

    /// `keys` with each group of `group_size` consecutive keys replaced by the group's first:
    /// what slots that must share a start restart from (`BatchRunner::restart`). Groups never
    /// straddle a multiple of `group_size`, so a population's runs of `n` slots each (`n` a
    /// multiple of `group_size`) group within their own slots.
    pub fn grouped(keys: &[StreamKey], group_size: usize) -> Vec<StreamKey> {
        assert!(group_size >= 1, "a group has at least one slot");
        (0..keys.len()).map(|i| keys[i / group_size * group_size]).collect()
    }

    /// A ChaCha8 generator seeded from this key, for host-only sequential sampling
    /// (minibatch permutations, initialisation) where a stateful generator is simpler.
    pub fn chacha(self) -> rand_chacha::ChaCha8Rng {
        let word = u64::from(self.0[0]) | (u64::from(self.0[1]) << 32);
        rand_chacha::ChaCha8Rng::seed_from_u64(word)
    }
}

/// Wellons' `lowbias32` finaliser: a bijection on `u32` with low avalanche bias.
#[inline(always)]
pub const fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(MIX_MULTIPLIERS[0]);
    x ^= x >> 15;
    x = x.wrapping_mul(MIX_MULTIPLIERS[1]);
    x ^= x >> 16;
    x
}

/// The per-draw salt: `mix32(draw ^ golden ratio)`. A constant for constant draw indices.
#[inline(always)]
pub const fn draw_salt(draw: u32) -> u32 {
    mix32(draw ^ 0x9e37_79b9)
}

/// Random draws of one stream at one step: `uniform(d)` is a pure function of
/// `(key, step, d)`.
///
/// Environments name their draws with constant indices (`const DRAW_QUOTA: u32 = 3`), so a
/// draw's value does not depend on which other draws a branch happened to make, and a device
/// implementation can reproduce each one independently.
///
/// The per-step base word is computed on the first draw, so a step that draws nothing (the
/// common case in most environments) pays nothing for randomness.
#[derive(Clone, Debug)]
pub struct Draws {
    key: StreamKey,
    step: u32,
    base: std::cell::Cell<Option<u32>>,
}

impl Draws {
    /// The draws of stream `key` at step `step`.
    #[inline(always)]
    pub fn new(key: StreamKey, step: u32) -> Self {
        Draws { key, step, base: std::cell::Cell::new(None) }
    }

    #[inline(always)]
    fn base(&self) -> u32 {
        match self.base.get() {
            Some(b) => b,
            None => {
                let b = Self::base_of(self.key, self.step);
                self.base.set(Some(b));
                b
            }
        }
    }

    /// The per-step base word: `mix32(mix32(step ^ k0) ^ k1)`.
    #[inline(always)]
    pub const fn base_of(key: StreamKey, step: u32) -> u32 {
        mix32(mix32(step ^ key.0[0]) ^ key.0[1])
    }

    /// Raw 32 random bits of draw `draw`.
    #[inline(always)]
    pub fn bits(&self, draw: u32) -> u32 {
        mix32(self.base() ^ draw_salt(draw))
    }

    /// A uniform `f32` in `[0, 1)` with 24 random bits.
    #[inline(always)]
    pub fn uniform(&self, draw: u32) -> f32 {
        bits_to_unit_f32(self.bits(draw))
    }

    /// A uniform `f64` in `[0, 1)` from two draws (`draw` and `draw + 1`), 53 random bits.
    #[inline(always)]
    pub fn uniform_f64(&self, draw: u32) -> f64 {
        let hi = u64::from(self.bits(draw) >> 5); // 27 bits
        let lo = u64::from(self.bits(draw.wrapping_add(1)) >> 6); // 26 bits
        ((hi << 26) | lo) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (exactly `false` for `p <= 0`, `true` for `p >= 1`).
    #[inline(always)]
    pub fn bernoulli(&self, draw: u32, p: f32) -> bool {
        self.uniform(draw) < p
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 * n).
    #[inline(always)]
    pub fn below(&self, draw: u32, n: u32) -> u32 {
        ((u64::from(self.bits(draw)) * u64::from(n)) >> 32) as u32
    }
}

/// A source of named Bernoulli draws: what a step needs when all of its randomness is
/// "does event `draw` happen, with probability `p`".
///
/// [`Draws`] is the source every run uses. A step written against `Chance` instead of
/// `Draws` can also be handed a source that *enumerates* the outcomes (a solver that needs a
/// step's exact distribution over next states, as `sim_envs::toycloud::exact` does), so the
/// one definition of the dynamics serves simulation and exact analysis alike.
pub trait Chance {
    /// Whether event `draw` happens; it happens with probability [`grid_probability`]`(p)`.
    fn bernoulli(&self, draw: u32, p: f32) -> bool;
}

impl Chance for Draws {
    #[inline(always)]
    fn bernoulli(&self, draw: u32, p: f32) -> bool {
        Draws::bernoulli(self, draw, p)
    }
}

/// Number of distinct values [`Draws::uniform`] takes: its uniforms lie on a grid of `2^-24`.
pub const UNIFORM_GRID: u32 = 1 << 24;

/// How many of the [`UNIFORM_GRID`] values `u` of a uniform satisfy `u < p`: the exact
/// probability of [`Draws::bernoulli`]`(_, p)` is this count divided by `2^24` (for example
/// `p = 0.15` as an `f32` happens with probability `2 516 583 / 2^24`, not 0.15 exactly).
#[inline]
pub fn grid_count(p: f32) -> u32 {
    // u = k / 2^24 < p  <=>  k < p * 2^24 (exact in f64), so k ranges over 0..ceil(p * 2^24).
    let scaled = (f64::from(p) * f64::from(UNIFORM_GRID)).ceil();
    scaled.clamp(0.0, f64::from(UNIFORM_GRID)) as u32
}

/// The exact probability of [`Draws::bernoulli`]`(_, p)`: [`grid_count`]`(p) / 2^24`.
#[inline]
pub fn grid_probability(p: f32) -> f64 {
    f64::from(grid_count(p)) / f64::from(UNIFORM_GRID)
}

/// The top 24 bits of `bits` as a float in `[0, 1)`; exact in `f32`.
#[inline(always)]
pub fn bits_to_unit_f32(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix32_is_a_bijection_on_a_sample() {
        // A bijection never maps two inputs to one output; check a dense window.
        let mut seen = std::collections::HashSet::new();
        for x in 0..200_000u32 {
            assert!(seen.insert(mix32(x)), "collision at {x}");
        }
    }

    #[test]
    fn derived_keys_differ_by_seed_domain_and_index() {
        let a = StreamKey::derive(7, domain::ENV, 0);
        assert_eq!(a, StreamKey::derive(7, domain::ENV, 0));
        assert_ne!(a, StreamKey::derive(8, domain::ENV, 0));
        assert_ne!(a, StreamKey::derive(7, domain::POLICY, 0));
        assert_ne!(a, StreamKey::derive(7, domain::ENV, 1));
    }

    /// Mean, variance and a 64-bucket chi-square test over draws from many keys and steps.
    #[test]
    fn uniform_draws_are_uniform() {
        let mut buckets = [0u32; 64];
        let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0u32);
        for env in 0..64 {
            let key = StreamKey::derive(1, domain::ENV, env);
            for step in 0..256 {
                let draws = Draws::new(key, step);
                for d in 0..8 {
                    let u = f64::from(draws.uniform(d));
                    assert!((0.0..1.0).contains(&u));
                    sum += u;
                    sum_sq += u * u;
                    n += 1;
                    buckets[(u * 64.0) as usize] += 1;
                }
            }
        }
        let n_f = f64::from(n);
        let mean = sum / n_f;
        let var = sum_sq / n_f - mean * mean;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "variance {var}");
        let expected = n_f / 64.0;
        let chi2: f64 = buckets.iter().map(|&c| (f64::from(c) - expected).powi(2) / expected).sum();
        // 63 degrees of freedom: the 99.9% quantile is about 103.4.
        assert!(chi2 < 103.4, "chi-square {chi2}");
    }

    /// Neighbouring steps, draws and environments must not be correlated.
    #[test]
    fn neighbouring_draws_are_uncorrelated() {
        fn corr(pairs: &[(f64, f64)]) -> f64 {
            let n = pairs.len() as f64;
            let (ma, mb) = pairs.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
            let cov: f64 = pairs.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum::<f64>() / n;
            let va: f64 = pairs.iter().map(|p| (p.0 - ma).powi(2)).sum::<f64>() / n;
            let vb: f64 = pairs.iter().map(|p| (p.1 - mb).powi(2)).sum::<f64>() / n;
            cov / (va * vb).sqrt()
        }
        let (mut by_step, mut by_draw, mut by_env) = (vec![], vec![], vec![]);
        for env in 0..100u64 {
            let key = StreamKey::derive(3, domain::ENV, env);
            let next_key = StreamKey::derive(3, domain::ENV, env + 1);
            for step in 0..200u32 {
                let here = Draws::new(key, step);
                by_step.push((f64::from(here.uniform(0)), f64::from(Draws::new(key, step + 1).uniform(0))));
                by_draw.push((f64::from(here.uniform(0)), f64::from(here.uniform(1))));
                by_env.push((f64::from(here.uniform(0)), f64::from(Draws::new(next_key, step).uniform(0))));
            }
        }
        // 20k pairs: the standard error of a zero correlation is about 0.007.
        for (name, pairs) in [("step", by_step), ("draw", by_draw), ("env", by_env)] {
            let c = corr(&pairs);
            assert!(c.abs() < 0.03, "correlation between neighbouring {name}s: {c}");
        }
    }

    /// The grid probability is the exact frequency of `bernoulli` over every value the
    /// uniform can take.
    #[test]
    fn grid_probability_is_the_exact_frequency() {
        for p in [0.0f32, 1e-9, 0.15, 0.3, 0.5, 0.6, 0.999_999_9, 1.0, 1.5, -0.2] {
            let count = (0..UNIFORM_GRID).filter(|&k| bits_to_unit_f32(k << 8) < p).count() as u32;
            assert_eq!(grid_count(p), count, "p = {p}");
        }
        assert_eq!(grid_count(0.15), 2_516_583);
        assert!((grid_probability(0.15) - 0.15).abs() < 1e-7 && grid_probability(0.15) != 0.15);
    }

    #[test]
    fn bernoulli_edges_and_below_range() {
        let draws = Draws::new(StreamKey::derive(0, domain::ENV, 0), 0);
        for d in 0..1000 {
            assert!(!draws.bernoulli(d, 0.0));
            assert!(draws.bernoulli(d, 1.0));
            assert!(draws.below(d, 7) < 7);
            let u = draws.uniform_f64(d);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
