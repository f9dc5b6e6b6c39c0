//! PPO with the whole loop on the device: environments, rollout, advantages and update.
//!
//! [`DeviceTrainer`] is [`super::Trainer`]'s update on a [`DeviceEnv`]: the rollout is
//! collected by [`DeviceCollector`] (policy forward, sampling, environment step on the device),
//! advantages come from the device GAE, and minibatches are gathered on the device by index.
//! The same hyperparameters, loss, gradient clipping and Adam settings as the host trainer are
//! used, and minibatches are shuffled by the same seeded permutation. What crosses to the host
//! per update: a handful of scalars (episode statistics, non-finite checks, explained variance),
//! the minibatch indices going the other way, and the loss diagnostics the host trainer also
//! reads per minibatch.
//!
//! It supports the task-only reward and the true-cost penalty; the other penalties and
//! PPO-Lagrangian read per-step safety records or a cost critic that the device rollout does
//! not keep yet, and are refused. Checkpoints are not written: a run is not resumable.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::AdamConfig;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use sim_core::env::Environment;
use sim_core::params::Validate;
use sim_core::rng::{StreamKey, domain};

use super::learner::Learner;
use super::loss::{EpochStats, Minibatch};
use super::{Adapter, PpoConfig, UpdateMetrics, initial_logits};
use crate::backend::TrainBackend;
use crate::device::rollout::{DeviceCollector, DeviceEnv, DeviceRollout, gae};
use crate::error::TrainError;
use crate::mask::ActionMask;
use crate::penalty::PenaltyConfig;
use crate::policy::ActorCritic;

/// The name errors give this trainer.
const NAME: &str = "the device trainer";

/// A PPO trainer whose environments, rollout and update all run on `B`'s device.
pub struct DeviceTrainer<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> {
    config: PpoConfig,
    device: B::Device,
    collector: DeviceCollector<B::InnerBackend, D>,
    model: ActorCritic<B>,
    optim: Adapter<B>,
    shuffle: ChaCha8Rng,
    cost_weight: Option<f32>,
    mask: Option<ActionMask>,
    update: usize,
    global_step: u64,
}

impl<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> DeviceTrainer<B, D> {
    /// A trainer for `params` seeded by `seed`, its `config.num_envs` environments created on
    /// `device`.
    pub fn new(
        params: &<D::Native as Environment>::Params,
        config: PpoConfig,
        seed: u64,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        params.validate()?;
        let unsupported = |what: String| TrainError::Unsupported { trainer: NAME, what };
        if config.lagrangian.is_some() {
            return Err(unsupported("PPO-Lagrangian (`lagrangian`)".into()));
        }
        if config.lift_mask_at.is_some() {
            return Err(unsupported("lifting the action mask mid-run (`lift_mask_at`)".into()));
        }
        if config.kernel == super::Kernel::Fused {
            return Err(unsupported("the hand-written CPU update (`kernel: Fused`; it updates with burn)".into()));
        }
        let cost_weight = match &config.penalty {
            PenaltyConfig::TaskOnly => None,
            PenaltyConfig::TrueCost { weight } => Some(*weight),
            other => return Err(unsupported(format!("the penalty {other:?}"))),
        };
        let spaces = D::Native::spaces(params);
        let logits = initial_logits::<D::Native>(params, &config)?;
        let key = StreamKey::derive(seed, domain::INIT, 0);
        let model = ActorCritic::<B>::init(spaces, &config.policy, &logits, false, key, &device);
        let env = D::create(params, config.num_envs, seed, &device);
        let mask = ActionMask::of::<D::Native>(config.actions, params);
        let collector = DeviceCollector::new(env, config.num_envs, seed, config.gamma, &device)
            .with_mask(mask.as_ref().map(|m| m.offsets(&device)));
        Ok(DeviceTrainer {
            collector,
            mask,
            optim: AdamConfig::new().with_epsilon(1e-5).init::<B, ActorCritic<B>>(),
            shuffle: StreamKey::derive(seed, domain::MINIBATCH, 0).chacha(),
            model,
            cost_weight,
            config,
            device,
            update: 0,
            global_step: 0,
        })
    }

    /// Updates done so far.
    pub fn updates_done(&self) -> usize {
        self.update
    }

    /// Updates in the whole run.
    pub fn num_updates(&self) -> usize {
        self.config.num_updates()
    }

    /// Environment steps so far.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// The burn model.
    pub fn model(&self) -> &ActorCritic<B> {
        &self.model
    }

    /// Checksum of every weight of the model (16 hex digits).
    pub fn weights_checksum(&self) -> String {
        self.model.weights_checksum()
    }

    /// Collects one rollout and runs one PPO update on it, all on the device.
    pub fn train_update(&mut self) -> Result<UpdateMetrics, TrainError> {
        let start = Instant::now();
        let c = self.config.clone();
        let update = self.update + 1;
        let learning_rate = c.learning_rate_at(update);

        let mut r = self.collector.collect(&self.model.valid(), c.num_steps);
        if let Some(weight) = self.cost_weight {
            r.rewards = r.rewards - r.costs.clone().mul_scalar(weight);
        }
        let (advantages, returns) = gae(
            r.rewards.clone(),
            r.values.clone(),
            r.ends.clone(),
            r.last_values.clone(),
            c.num_envs,
            c.gamma,
            c.gae_lambda,
        );
        let summary = Summary::read(&r, &returns, self.cost_weight.unwrap_or(0.0));
        let rollout_seconds = start.elapsed().as_secs_f64();
        summary.check(update, c.num_envs)?;

        let optimize_start = Instant::now();
        let stats = self.optimize(&r, advantages, returns, update, learning_rate)?;
        let optimize_seconds = optimize_start.elapsed().as_secs_f64();
        let samples = (c.num_envs * c.num_steps) as u64;
        self.update = update;
        self.global_step += samples;
        let episodes = summary.episodes as usize;
        let per_episode = |total: f32| (episodes > 0).then(|| f64::from(total) / episodes as f64);
        Ok(UpdateMetrics {
            update,
            global_step: self.global_step,
            learning_rate,
            episodic_return: per_episode(summary.returns),
            episodic_length: per_episode(summary.lengths),
            episodes,
            sps: samples as f64 / start.elapsed().as_secs_f64(),
            rollout_seconds,
            optimize_seconds,
            explained_variance: f64::from(summary.explained_variance),
            cost_value_loss: None,
            lagrange_multiplier: None,
            episodic_cost: None,
            penalty_per_step: f64::from(summary.penalty),
            ..UpdateMetrics::default()
        }
        .with_losses(&stats))
    }

    /// The PPO epochs over shuffled minibatches, gathered on the device.
    fn optimize(
        &mut self,
        r: &DeviceRollout<B::InnerBackend>,
        advantages: Tensor<B::InnerBackend, 1>,
        returns: Tensor<B::InnerBackend, 1>,
        update: usize,
        learning_rate: f64,
    ) -> Result<EpochStats, TrainError> {
        let c = &self.config;
        let device = &self.device;
        let minibatch = |idx: &[usize]| {
            let indices: Vec<i64> = idx.iter().map(|&k| k as i64).collect();
            let idx = Tensor::<B::InnerBackend, 1, Int>::from_data(TensorData::new(indices, [idx.len()]), device);
            let pick = |t: &Tensor<B::InnerBackend, 1>| Tensor::from_inner(t.clone().select(0, idx.clone()));
            let mut adv = advantages.clone().select(0, idx.clone());
            if c.norm_adv && idx.dims()[0] > 1 {
                // As the host trainer normalises: sample standard deviation, plus 1e-8.
                let n = idx.dims()[0] as f32;
                let centred = adv.clone() - adv.mean().unsqueeze();
                let std = centred.clone().powi_scalar(2).sum().div_scalar(n - 1.0).sqrt();
                adv = centred / std.add_scalar(1e-8).unsqueeze();
            }
            Minibatch {
                obs: Tensor::from_inner(r.obs.clone().select(0, idx.clone())),
                actions: Tensor::from_inner(r.actions.clone().select(0, idx.clone())),
                old_logprobs: pick(&r.logprobs),
                advantages: Tensor::from_inner(adv),
                returns: pick(&returns),
                old_values: pick(&r.values),
                cost_returns: None,
            }
        };
        let mask = self.mask.as_ref().map(|m| m.offsets::<B>(&self.device));
        let learner = Learner {
            model: &mut self.model,
            optim: &mut self.optim,
            cost_optim: None,
            shuffle: &mut self.shuffle,
            mask,
        };
        learner.epochs(c, update, learning_rate, minibatch)
    }
}

/// What one update reads back from the device about its rollout, in one transfer.
struct Summary {
    returns: f32,
    episodes: f32,
    lengths: f32,
    explained_variance: f32,
    /// First non-finite reward and observation row (`-1`: none), with the value found.
    bad_reward: (f32, f32),
    bad_obs: (f32, f32),
    /// The true-cost penalty per step (`cost_weight` times the mean cost).
    penalty: f32,
}

impl Summary {
    fn read<B: burn::tensor::backend::Backend>(r: &DeviceRollout<B>, returns: &Tensor<B, 1>, cost_weight: f32) -> Self {
        // The first non-finite entry of `t` (x - x is NaN exactly for NaN and infinities), as
        // `[index or -1, value]`.
        let first_bad = |t: Tensor<B, 1>| {
            let bad = (t.clone() - t.clone()).is_nan();
            let any = bad.clone().int().sum().float().greater_elem(0.0).float();
            let index = bad.int().argmax(0).float();
            let value = t.select(0, index.clone().int());
            Tensor::cat(vec![index * any.clone() - (any.neg().add_scalar(1.0)), value], 0)
        };
        let [rows, dim] = r.obs.dims();
        let residual = returns.clone() - r.values.clone();
        let variance = |t: Tensor<B, 1>| (t.clone() - t.mean().unsqueeze()).powi_scalar(2).mean();
        let explained = variance(residual).div(variance(returns.clone())).neg().add_scalar(1.0);
        let values = Tensor::cat(
            vec![
                r.ended_returns.clone(),
                r.ended_episodes.clone(),
                r.ended_lengths.clone(),
                explained,
                first_bad(r.rewards.clone()),
                first_bad(r.obs.clone().reshape([rows * dim])),
                r.costs.clone().mean().mul_scalar(cost_weight),
            ],
            0,
        )
        .into_data()
        .to_vec::<f32>()
        .expect("f32 scalars");
        let obs_row = if values[6] < 0.0 { -1.0 } else { (values[6] as usize / dim) as f32 };
        Summary {
            returns: values[0],
            episodes: values[1],
            lengths: values[2],
            explained_variance: values[3],
            bad_reward: (values[4], values[5]),
            bad_obs: (obs_row, values[7]),
            penalty: values[8],
        }
    }

    /// Rejects NaN and infinities in what the update would learn from, naming where.
    fn check(&self, update: usize, num_envs: usize) -> Result<(), TrainError> {
        for (what, (row, value)) in [("reward", self.bad_reward), ("observation", self.bad_obs)] {
            if row >= 0.0 {
                let k = row as usize;
                return Err(TrainError::NonFiniteRollout {
                    update,
                    what,
                    step: k / num_envs,
                    env: k % num_envs,
                    value,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{Bool, TensorData};

    use super::*;

    fn rollout(rewards: Vec<f32>, obs: Vec<f32>, dim: usize) -> DeviceRollout<Flex> {
        let device = Default::default();
        let n = rewards.len();
        let f = |v: Vec<f32>| Tensor::<Flex, 1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
        DeviceRollout {
            obs: Tensor::from_data(TensorData::new(obs, [n, dim]), &device),
            actions: Tensor::<Flex, 1, Int>::zeros([n], &device),
            logprobs: f(vec![0.0; n]),
            values: f((0..n).map(|k| k as f32 * 0.5).collect()),
            rewards: f(rewards),
            costs: f(vec![0.0; n]),
            ends: Tensor::<Flex, 1, Bool>::from_data(TensorData::new(vec![false; n], [n]), &device),
            last_values: f(vec![0.0; 2]),
            ended_returns: f(vec![3.0]),
            ended_episodes: f(vec![2.0]),
            ended_lengths: f(vec![7.0]),
        }
    }

    /// A NaN or an infinity in the rollout is reported with its step, environment and value;
    /// a clean rollout passes, with its episode statistics read back.
    #[test]
    fn non_finite_rollouts_are_named() {
        let (n, dim) = (8, 3); // 4 steps of 2 environments
        let clean = rollout((0..n).map(|k| k as f32).collect(), vec![0.5; n * dim], dim);
        let returns = clean.values.clone() + 1.0;
        let s = Summary::read(&clean, &returns, 0.0);
        assert!(s.check(1, 2).is_ok());
        assert_eq!((s.returns, s.episodes, s.lengths), (3.0, 2.0, 7.0));

        let mut rewards: Vec<f32> = (0..n).map(|k| k as f32).collect();
        rewards[5] = f32::NAN;
        rewards[6] = f32::INFINITY;
        let err = Summary::read(&rollout(rewards, vec![0.5; n * dim], dim), &returns, 0.0).check(4, 2).unwrap_err();
        match err {
            TrainError::NonFiniteRollout { update: 4, what: "reward", step: 2, env: 1, value } => {
                assert!(value.is_nan())
            }
            other => panic!("{other}"),
        }
        let mut obs = vec![0.5; n * dim];
        obs[3 * dim + 2] = f32::NEG_INFINITY;
        let err = Summary::read(&rollout(vec![0.0; n], obs, dim), &returns, 0.0).check(1, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "non-finite observation (-inf) in the rollout of update 1 at step 1, environment 1"
        );
    }
}
