//! What finished episodes amount to ([`EpisodeStats`]) and how an unbiased evaluation sample
//! of them is collected ([`PerSlotQuota`], [`collect_episodes`]).

use serde::Serialize;

use super::{BatchRunner, Episode, StepBuffers, safety_buffer};
use crate::env::Environment;
use crate::params::ParamError;
use crate::safety::SafetyKind;

/// What a set of finished episodes amounts to: returns, and the safety channel's rates. The
/// one definition of these rates: the rollout summary (`experiments::describe::safety_rows`),
/// rome_repro's evaluations and the examples read them from here.
///
/// Convention: a mean or share over no episodes (or, for `detected_rate` and the latencies, over
/// no violating or no detected episode) is NaN, never 0: nothing was measured. Tables write NaN
/// as an empty cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EpisodeStats {
    /// Episodes.
    pub episodes: usize,
    /// Mean task return.
    pub mean_return: f64,
    /// Standard error of the mean return.
    pub return_se: f64,
    /// Mean length in steps.
    pub mean_length: f64,
    /// Share of episodes with a violation.
    pub violation_rate: f64,
    /// Mean ground-truth cost per episode.
    pub mean_cost: f64,
    /// Share of episodes with an alert.
    pub alert_rate: f64,
    /// Share of violating episodes with an alert.
    pub detected_rate: f64,
    /// Mean steps from the first violation to the first alert at or after it, over the
    /// episodes with both (NaN if none).
    pub detection_latency: f64,
    /// Mean steps from a detected violation to the alert naming it (monitors built on
    /// [`crate::monitor::PendingAlert`]; NaN if none).
    pub violation_latency: f64,
}

/// Mean of `f` over `episodes`, NaN over none.
pub fn mean<E: Environment>(episodes: &[Episode<E>], f: impl Fn(&Episode<E>) -> f64) -> f64 {
    if episodes.is_empty() {
        return f64::NAN;
    }
    episodes.iter().map(f).sum::<f64>() / episodes.len() as f64
}

/// Share of `episodes` for which `f` holds, NaN over none.
pub fn share<E: Environment>(episodes: &[Episode<E>], f: impl Fn(&Episode<E>) -> bool) -> f64 {
    mean(episodes, |e| f64::from(u8::from(f(e))))
}

impl EpisodeStats {
    /// The statistics of `episodes`.
    pub fn of<E: Environment>(episodes: &[Episode<E>]) -> Self {
        let n = episodes.len();
        let mean_return = mean(episodes, |e| e.ret);
        let var = if n > 1 {
            episodes.iter().map(|e| (e.ret - mean_return).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            f64::NAN
        };
        let violating: Vec<&Episode<E>> = episodes.iter().filter(|e| e.safety.any_violation()).collect();
        let average = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
        let (named, named_latency) = episodes.iter().fold((0.0, 0.0), |(k, l), e| {
            let d: u32 = E::Violation::ALL.iter().map(|&v| e.safety.detections(v)).sum();
            (k + f64::from(d), l + e.safety.mean_violation_latency().map_or(0.0, |m| m * f64::from(d)))
        });
        EpisodeStats {
            episodes: n,
            mean_return,
            return_se: (var / n as f64).sqrt(),
            mean_length: mean(episodes, |e| f64::from(e.length)),
            violation_rate: share(episodes, |e| e.safety.any_violation()),
            mean_cost: mean(episodes, |e| f64::from(e.safety.cost)),
            alert_rate: share(episodes, |e| e.safety.total_alerts() > 0),
            detected_rate: average(
                violating.iter().map(|e| f64::from(u8::from(e.safety.total_alerts() > 0))).collect(),
            ),
            detection_latency: average(
                episodes.iter().filter_map(|e| e.safety.detection_latency()).map(f64::from).collect(),
            ),
            violation_latency: if named > 0.0 { named_latency / named } else { f64::NAN },
        }
    }
}

impl std::fmt::Display for EpisodeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "episodes: {}", self.episodes)?;
        writeln!(f, "mean_return: {:.4} ± {:.4}", self.mean_return, self.return_se)?;
        writeln!(f, "mean_length: {:.2}", self.mean_length)?;
        writeln!(f, "violation_rate: {:.4}", self.violation_rate)?;
        writeln!(f, "mean_cost: {:.4}", self.mean_cost)?;
        writeln!(f, "alert_rate: {:.4}", self.alert_rate)?;
        writeln!(f, "detected_rate: {:.4}", self.detected_rate)?;
        writeln!(f, "detection_latency: {:.2}", self.detection_latency)?;
        write!(f, "violation_latency: {:.2}", self.violation_latency)
    }
}

/// Collects the first `per_slot` finished episodes of every slot (an unbiased evaluation
/// sample: the first episodes to finish overall would favour short ones).
pub struct PerSlotQuota<E: Environment> {
    /// Each slot's quota.
    quotas: Vec<usize>,
    counts: Vec<usize>,
    remaining: usize,
    kept: Vec<Episode<E>>,
}

impl<E: Environment> PerSlotQuota<E> {
    /// A quota of `ceil(episodes / num_envs)` episodes for each of `num_envs` slots.
    pub fn new(num_envs: usize, episodes: usize) -> Self {
        let per_slot = episodes.div_ceil(num_envs.max(1)).max(1);
        Self::with_quotas(vec![per_slot; num_envs])
    }

    /// Exactly `episodes` episodes over `num_envs` slots: `episodes / num_envs` from each, one
    /// more from each of the first `episodes % num_envs`.
    pub fn exact(num_envs: usize, episodes: usize) -> Self {
        Self::with_quotas((0..num_envs).map(|i| episodes / num_envs + usize::from(i < episodes % num_envs)).collect())
    }

    fn with_quotas(quotas: Vec<usize>) -> Self {
        let remaining = quotas.iter().sum();
        PerSlotQuota { counts: vec![0; quotas.len()], quotas, remaining, kept: Vec::new() }
    }

    /// Keeps `e` if it falls within its slot's quota; returns whether it did.
    pub fn keep(&mut self, e: Episode<E>) -> bool {
        let slot = e.slot as usize;
        let within = self.counts[slot] < self.quotas[slot];
        if within {
            self.counts[slot] += 1;
            self.remaining -= 1;
            self.kept.push(e);
        }
        within
    }

    /// Keeps the episodes of `finished` that fall within their slot's quota (and empties it).
    pub fn take(&mut self, finished: &mut Vec<Episode<E>>) {
        for e in finished.drain(..) {
            self.keep(e);
        }
    }

    /// Whether every slot has its quota.
    pub fn full(&self) -> bool {
        self.remaining == 0
    }

    /// The kept episodes, in `(end step, slot)` order.
    pub fn into_episodes(self) -> Vec<Episode<E>> {
        self.kept
    }
}

/// Runs `num_envs` slots of `params` seeded by `seed` until each has finished
/// `ceil(episodes / num_envs)` episodes, and returns those (see [`PerSlotQuota`]), in
/// `(end step, slot)` order. `act(obs, step, actions)` writes one action per slot for the
/// current observations at runner step `step`: the evaluation loop of any policy.
pub fn collect_episodes<E: Environment>(
    params: &E::Params,
    num_envs: usize,
    seed: u64,
    episodes: usize,
    mut act: impl FnMut(&[f32], u32, &mut [u32]),
) -> Result<Vec<Episode<E>>, ParamError> {
    let mut buffers = StepBuffers::new(E::spaces(params), num_envs);
    let mut safety = safety_buffer::<E>(num_envs);
    let mut runner = BatchRunner::<E>::new(params.clone(), num_envs, seed, &mut buffers)?;
    let mut actions = vec![0u32; num_envs];
    let mut quota = PerSlotQuota::new(num_envs, episodes);
    let mut finished = Vec::new();
    while !quota.full() {
        act(&buffers.obs, runner.steps(), &mut actions);
        runner.step(&actions, &mut buffers, &mut safety);
        runner.drain_episodes(&mut finished);
        quota.take(&mut finished);
    }
    Ok(quota.into_episodes())
}
