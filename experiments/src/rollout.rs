//! Batched rollouts of a fixed (random or scripted) policy: the `rollout` binary's engine.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_envs::scripted::{RandomPolicy, ScriptedPolicy};

use crate::describe::{Describe, mean, safety_rows};
use sim_core::checksum::Checksum;

/// What a rollout produced.
pub struct RolloutReport<E: Environment> {
    /// Episodes finished during the rollout, in `(end step, slot)` order.
    pub episodes: Vec<Episode<E>>,
    /// Checksum of every observation, reward, end flag and safety record, in step order.
    pub checksum: Checksum,
    /// Environment steps taken (`envs * steps`).
    pub env_steps: u64,
    /// Wall-clock seconds of the stepping loop (policy, stepping and checksum).
    pub seconds: f64,
    /// Out-of-range actions replaced by the fallback.
    pub invalid_actions: u64,
}

/// Runs `policy` for `steps` steps of `envs` slots seeded by `seed`, showing a progress bar when
/// `progress` is set.
pub fn rollout<E: Environment>(
    params: &E::Params,
    policy: &dyn ScriptedPolicy,
    envs: usize,
    steps: u32,
    seed: u64,
    progress: bool,
) -> Result<RolloutReport<E>, ParamError> {
    let spaces = E::spaces(params);
    let mut buffers = StepBuffers::new(spaces, envs);
    let mut safety = safety_buffer::<E>(envs);
    let mut runner = BatchRunner::<E>::new(params.clone(), envs, seed, &mut buffers)?;
    let keys: Vec<StreamKey> = (0..envs).map(|i| StreamKey::derive(seed, domain::POLICY, i as u64)).collect();
    let mut actions = vec![0u32; envs];
    let mut episodes = Vec::new();
    let mut checksum = Checksum::default();
    let bar = if progress { ProgressBar::new(u64::from(steps) * envs as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} env-steps ({per_sec})")
            .expect("valid template"),
    );
    let dim = spaces.obs_dim;
    let start = Instant::now();
    for t in 0..steps {
        for (i, a) in actions.iter_mut().enumerate() {
            *a = policy.act(&buffers.obs[i * dim..(i + 1) * dim], &Draws::new(keys[i], t));
        }
        runner.step(&actions, &mut buffers, &mut safety);
        checksum.add_f32(&buffers.obs);
        checksum.add_f32(&buffers.rewards);
        checksum.add_flags(&buffers.terminated);
        checksum.add_flags(&buffers.truncated);
        checksum.add_words(safety.iter().flat_map(|s| [s.violations.bits(), s.cost.to_bits(), s.alerts.bits()]));
        runner.drain_episodes(&mut episodes);
        bar.inc(envs as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(RolloutReport {
        episodes,
        checksum,
        env_steps: u64::from(steps) * envs as u64,
        seconds,
        invalid_actions: runner.invalid_actions(),
    })
}

/// A uniformly random policy for `E`.
pub fn random_policy<E: Environment>(params: &E::Params) -> RandomPolicy {
    RandomPolicy { num_actions: E::spaces(params).num_actions }
}

/// Human-readable summary lines of a rollout (without the final checksum and rate lines).
pub fn summary<E: Describe>(report: &RolloutReport<E>) -> Vec<String> {
    let eps = &report.episodes;
    let n = eps.len();
    let mut lines = vec![format!("episodes finished: {n}")];
    if n > 0 {
        let ret = mean(eps, |e| e.ret);
        let sd = (eps.iter().map(|e| (e.ret - ret).powi(2)).sum::<f64>() / n as f64).sqrt();
        lines.push(format!("mean return: {ret:.4} (sd {sd:.4}, se {:.4})", sd / (n as f64).sqrt()));
        lines.push(format!("mean length: {:.2}", mean(eps, |e| f64::from(e.length))));
        for (name, v) in safety_rows(eps) {
            lines.push(format!("{name}: {v:.4}"));
        }
        for (name, v) in E::metric_rows(eps) {
            lines.push(format!("{name}: {v:.4}"));
        }
    }
    lines.push(format!("invalid actions: {}", report.invalid_actions));
    lines
}
