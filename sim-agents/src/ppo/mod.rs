//! Proximal policy optimisation (Schulman et al. 2017) with the implementation details that
//! matter (Huang et al. 2022, CleanRL's `ppo.py`): vectorised environments, GAE, per-minibatch
//! advantage normalisation, the clipped surrogate, value-loss clipping, an entropy bonus, global
//! gradient-norm clipping, Adam with ε = 1e-5, linear learning-rate annealing, shuffled
//! minibatches over epochs, approximate-KL and clip-fraction logging. Truncated episodes are
//! bootstrapped from the value of their last observation; terminated ones never are.
//!
//! One [`Trainer::train_update`] collects a rollout with the host copy of the policy
//! ([`crate::inference`]), lets the [`crate::penalty::Penalty`] turn task rewards into training
//! rewards, computes advantages, and runs the epochs on burn. [`device::DeviceTrainer`] runs the
//! same update with the environments and the rollout on the device as well.

mod config;
pub mod device;
mod lagrange;

pub use config::{LagrangianConfig, PpoConfig};
pub use lagrange::{DEVIATIONS as LAGRANGIAN_DEVIATIONS, Multiplier};

use std::collections::VecDeque;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::params::Validate;
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::{BatchRunner, Episode, RunnerSnapshot, SafetyBuffer, StepBuffers, safety_buffer};

use crate::backend::{PolicyBackend, TrainBackend};
use crate::checkpoint::{pack, unpack, write_atomic};
use crate::error::TrainError;
use crate::inference::{ActMode, ActOutput, InferencePolicy};
use crate::mask::{ActionMask, masked};
use crate::penalty::Penalty;
use crate::policy::ActorCritic;
use crate::rollout::{Rollout, gae};

/// What one update measured, named as CleanRL logs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateMetrics {
    /// 1-based update number.
    pub update: usize,
    /// Environment steps so far.
    pub global_step: u64,
    /// `charts/learning_rate`.
    pub learning_rate: f64,
    /// `charts/episodic_return`: mean task return of episodes that ended in this rollout.
    pub episodic_return: Option<f64>,
    /// `charts/episodic_length`.
    pub episodic_length: Option<f64>,
    /// Episodes that ended in this rollout.
    pub episodes: usize,
    /// `charts/SPS`: environment steps per second of this update (rollout and optimisation).
    pub sps: f64,
    /// `charts/rollout_seconds`: wall-clock time collecting the rollout.
    pub rollout_seconds: f64,
    /// `charts/optimize_seconds`: wall-clock time of the PPO epochs.
    pub optimize_seconds: f64,
    /// `losses/value_loss` (last minibatch).
    pub value_loss: f32,
    /// `losses/policy_loss` (last minibatch).
    pub policy_loss: f32,
    /// `losses/entropy` (last minibatch).
    pub entropy: f32,
    /// `losses/old_approx_kl` (last minibatch).
    pub old_approx_kl: f32,
    /// `losses/approx_kl` (last minibatch).
    pub approx_kl: f32,
    /// `losses/clipfrac`: mean over all minibatches of the update.
    pub clipfrac: f32,
    /// `losses/explained_variance` of the value function on this rollout.
    pub explained_variance: f64,
    /// `losses/cost_value_loss` (PPO-Lagrangian; last minibatch).
    pub cost_value_loss: Option<f32>,
    /// `charts/lagrange_multiplier` after this update's multiplier step.
    pub lagrange_multiplier: Option<f32>,
    /// `charts/episodic_cost`: mean training cost of episodes that ended in this rollout.
    pub episodic_cost: Option<f64>,
    /// `charts/penalty_per_step`: what the penalty took from the reward, per step of this
    /// rollout (0 for the task-only reward and the cost signal).
    pub penalty_per_step: f64,
}

impl UpdateMetrics {
    /// CSV header, CleanRL's metric names.
    pub const CSV_HEADER: &'static str = "update,global_step,charts/learning_rate,charts/episodic_return,\
charts/episodic_length,charts/episodes,charts/SPS,charts/rollout_seconds,charts/optimize_seconds,losses/value_loss,losses/policy_loss,losses/entropy,\
losses/old_approx_kl,losses/approx_kl,losses/clipfrac,losses/explained_variance,losses/cost_value_loss,\
charts/lagrange_multiplier,charts/episodic_cost,charts/penalty_per_step";

    /// The metrics as a CSV row (empty cells for missing values).
    pub fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{:.1},{:.4},{:.4},{},{},{},{},{},{},{},{},{},{},{}",
            self.update,
            self.global_step,
            self.learning_rate,
            opt(self.episodic_return),
            opt(self.episodic_length),
            self.episodes,
            self.sps,
            self.rollout_seconds,
            self.optimize_seconds,
            self.value_loss,
            self.policy_loss,
            self.entropy,
            self.old_approx_kl,
            self.approx_kl,
            self.clipfrac,
            self.explained_variance,
            opt(self.cost_value_loss.map(f64::from)),
            opt(self.lagrange_multiplier.map(f64::from)),
            opt(self.episodic_cost),
            self.penalty_per_step,
        )
    }
}

/// What [`Trainer::train_update`] returns.
pub struct UpdateReport<E: Environment> {
    /// The update's metrics.
    pub metrics: UpdateMetrics,
    /// Episodes that ended during its rollout (task returns and safety reports).
    pub episodes: Vec<Episode<E>>,
}

/// Everything of a trainer that is not burn tensors, for checkpoints.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct TrainerState<E: Environment> {
    seed: u64,
    update: usize,
    global_step: u64,
    runner: RunnerSnapshot<E>,
    obs: Vec<f32>,
    shuffle: ChaCha8Rng,
    recent_returns: VecDeque<f64>,
    multiplier: Multiplier,
    running_cost: Vec<f64>,
    config: PpoConfig,
}

type Adapter<B> = OptimizerAdaptor<Adam, ActorCritic<B>, B>;

/// A PPO trainer for environment `E` on backend `B`.
pub struct Trainer<E: Environment, B: AutodiffBackend + PolicyBackend> {
    config: PpoConfig,
    seed: u64,
    device: B::Device,
    runner: BatchRunner<E>,
    buffers: StepBuffers,
    safety: SafetyBuffer<E>,
    model: ActorCritic<B>,
    optim: Adapter<B>,
    /// The cost critic's own optimiser (PPO-Lagrangian; it never sees the other gradients).
    cost_optim: Adapter<B>,
    policy: InferencePolicy,
    /// The actions allowed (`None`: all).
    mask: Option<ActionMask>,
    rollout: Rollout<E>,
    act: ActOutput,
    last_values: Vec<f32>,
    last_cost_values: Vec<f32>,
    policy_keys: Vec<StreamKey>,
    shuffle: ChaCha8Rng,
    penalty: Box<dyn Penalty<E>>,
    multiplier: Multiplier,
    running_cost: Vec<f64>,
    update: usize,
    global_step: u64,
    recent_returns: VecDeque<f64>,
}

/// How many recent episode returns [`Trainer::final_return`] averages.
pub const RECENT_EPISODES: usize = 100;

impl<E: Environment, B: TrainBackend> Trainer<E, B> {
    /// A trainer for `env_params` seeded by `seed`. The penalty comes from `config.penalty`
    /// unless one is given (for penalties outside [`crate::penalty::PenaltyConfig`]).
    pub fn new(
        env_params: E::Params,
        config: PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let spaces = E::spaces(&env_params);
        let logits = initial_logits::<E>(&env_params, &config)?;
        let n = config.num_envs;
        let mut buffers = StepBuffers::new(spaces, n);
        let runner = BatchRunner::<E>::new(env_params, n, seed, &mut buffers)?;
        let model = ActorCritic::<B>::init(
            spaces,
            &config.policy,
            &logits,
            config.lagrangian.is_some(),
            StreamKey::derive(seed, domain::INIT, 0),
            &device,
        );
        let optim = AdamConfig::new().with_epsilon(1e-5).init::<B, ActorCritic<B>>();
        let mask = ActionMask::of::<E>(config.actions, runner.params());
        let policy = model.to_inference().with_mask(mask.clone());
        let penalty = match penalty {
            Some(p) => p,
            None => config.penalty.build::<E, B>(runner.params(), seed, &device)?,
        };
        let multiplier = Multiplier::new(config.lagrangian.as_ref().map_or(0.0, |l| l.lambda_init));
        Ok(Trainer {
            rollout: Rollout::new(config.num_steps, n, spaces.obs_dim),
            act: ActOutput::new(n),
            last_values: vec![0.0; n],
            last_cost_values: vec![0.0; n],
            policy_keys: (0..n).map(|i| StreamKey::derive(seed, domain::POLICY, i as u64)).collect(),
            shuffle: StreamKey::derive(seed, domain::MINIBATCH, 0).chacha(),
            safety: safety_buffer::<E>(n),
            config,
            seed,
            device,
            runner,
            buffers,
            model,
            optim,
            cost_optim: AdamConfig::new().with_epsilon(1e-5).init::<B, ActorCritic<B>>(),
            policy,
            mask,
            penalty,
            multiplier,
            running_cost: vec![0.0; n],
            update: 0,
            global_step: 0,
            recent_returns: VecDeque::with_capacity(RECENT_EPISODES),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    /// The seed the run was started with.
    pub fn seed(&self) -> u64 {
        self.seed
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

    /// The host copy of the current policy (for evaluation).
    pub fn policy(&self) -> &InferencePolicy {
        &self.policy
    }

    /// The burn model.
    pub fn model(&self) -> &ActorCritic<B> {
        &self.model
    }

    /// The environment parameters.
    pub fn env_params(&self) -> &E::Params {
        self.runner.params()
    }

    /// What the penalty measured of itself ([`Penalty::diagnostics`]).
    pub fn penalty_diagnostics(&self) -> Vec<(String, f64)> {
        self.penalty.diagnostics()
    }

    /// The current Lagrange multiplier (0 without a constraint).
    pub fn lagrange_multiplier(&self) -> f32 {
        self.multiplier.value()
    }

    /// Mean task return of the last [`RECENT_EPISODES`] finished episodes.
    pub fn final_return(&self) -> Option<f64> {
        (!self.recent_returns.is_empty())
            .then(|| self.recent_returns.iter().sum::<f64>() / self.recent_returns.len() as f64)
    }

    /// Checksum of every weight of the model (16 hex digits).
    pub fn weights_checksum(&self) -> String {
        self.model.weights_checksum()
    }

    /// Whether the policy (and the next update) is still restricted to `config.actions`.
    pub fn masked(&self) -> bool {
        self.mask.is_some()
    }

    /// Drops the action mask once `config.lift_mask_at` environment steps are done.
    fn lift_mask_if_due(&mut self) {
        if self.mask.is_some() && self.config.lift_mask_at.is_some_and(|at| self.global_step >= at) {
            self.mask = None;
            self.policy = self.model.to_inference();
        }
    }

    /// Collects one rollout and runs one PPO update on it.
    pub fn train_update(&mut self) -> Result<UpdateReport<E>, TrainError> {
        let start = Instant::now();
        let c = self.config.clone();
        let update = self.update + 1;
        let frac = 1.0 - (update - 1) as f64 / c.num_updates() as f64;
        let learning_rate = if c.anneal_lr { frac * c.learning_rate } else { c.learning_rate };

        let episodes = self.collect_rollout(update)?;
        let rollout_seconds = start.elapsed().as_secs_f64();
        let before: f64 = self.rollout.rewards.iter().map(|&r| f64::from(r)).sum();
        self.penalty.apply(&mut self.rollout, self.update);
        self.check_rollout(update)?;
        let after: f64 = self.rollout.rewards.iter().map(|&r| f64::from(r)).sum();
        let penalty_per_step = (before - after) / self.rollout.len() as f64;

        let r = &mut self.rollout;
        gae(
            &r.rewards,
            &r.values,
            &r.ends,
            &self.last_values,
            c.num_envs,
            c.gamma,
            c.gae_lambda,
            &mut r.advantages,
            &mut r.returns,
        );
        let mut episodic_cost = None;
        if let Some(l) = &c.lagrangian {
            gae(
                &r.costs,
                &r.cost_values,
                &r.ends,
                &self.last_cost_values,
                c.num_envs,
                c.gamma,
                c.gae_lambda,
                &mut r.cost_advantages,
                &mut r.cost_returns,
            );
            if c.norm_adv {
                lagrange::prepare_advantages(&mut r.advantages, &mut r.cost_advantages);
            }
            // Each ended episode's training cost, accumulated per slot across rollouts.
            let costs = accumulate_episode_costs(r, &mut self.running_cost);
            if !costs.is_empty() {
                let jc = costs.iter().sum::<f64>() / costs.len() as f64;
                episodic_cost = Some(jc);
                self.multiplier.step(l.lambda_lr, jc, l.cost_limit);
            }
        }

        let optimize_start = Instant::now();
        let stats = self.optimize(update, learning_rate)?;
        let optimize_seconds = optimize_start.elapsed().as_secs_f64();
        self.policy = self.model.to_inference().with_mask(self.mask.clone());
        self.update = update;
        self.global_step += self.rollout.len() as u64;
        self.lift_mask_if_due();

        let n_eps = episodes.len();
        let mean =
            |f: &dyn Fn(&Episode<E>) -> f64| (n_eps > 0).then(|| episodes.iter().map(f).sum::<f64>() / n_eps as f64);
        let metrics = UpdateMetrics {
            update,
            global_step: self.global_step,
            learning_rate,
            episodic_return: mean(&|e| e.ret),
            episodic_length: mean(&|e| f64::from(e.length)),
            episodes: n_eps,
            sps: self.rollout.len() as f64 / start.elapsed().as_secs_f64(),
            rollout_seconds,
            optimize_seconds,
            value_loss: stats.value_loss,
            policy_loss: stats.policy_loss,
            entropy: stats.entropy,
            old_approx_kl: stats.old_approx_kl,
            approx_kl: stats.approx_kl,
            clipfrac: stats.clipfrac,
            explained_variance: explained_variance(&self.rollout.values, &self.rollout.returns),
            cost_value_loss: c.lagrangian.as_ref().map(|_| stats.cost_value_loss),
            lagrange_multiplier: c.lagrangian.as_ref().map(|_| self.multiplier.value()),
            episodic_cost,
            penalty_per_step,
        };
        Ok(UpdateReport { metrics, episodes })
    }

    /// Steps the environments `num_steps` times with the current policy.
    fn collect_rollout(&mut self, update: usize) -> Result<Vec<Episode<E>>, TrainError> {
        let (n, dim, gamma) = (self.config.num_envs, self.rollout.obs_dim, self.config.gamma);
        let mut episodes = Vec::new();
        let mut bootstrap = [0.0f32; 1];
        for t in 0..self.config.num_steps {
            let r = &mut self.rollout;
            let rows = t * n..(t + 1) * n;
            r.obs[t * n * dim..(t + 1) * n * dim].copy_from_slice(&self.buffers.obs);
            self.policy.act(&self.buffers.obs, &self.policy_keys, self.runner.steps(), ActMode::Sample, &mut self.act);
            r.actions[rows.clone()].copy_from_slice(&self.act.actions);
            r.logprobs[rows.clone()].copy_from_slice(&self.act.logprobs);
            r.values[rows.clone()].copy_from_slice(&self.act.values);
            r.cost_values[rows.clone()].copy_from_slice(&self.act.cost_values);
            self.runner.step(&self.act.actions, &mut self.buffers, &mut self.safety);
            r.task_rewards[rows.clone()].copy_from_slice(&self.buffers.rewards);
            r.rewards[rows.clone()].copy_from_slice(&self.buffers.rewards);
            r.costs[rows.clone()].fill(0.0);
            r.safety[rows.clone()].copy_from_slice(&self.safety);
            r.next_obs[t * n * dim..(t + 1) * n * dim].copy_from_slice(&self.buffers.obs);
            for i in 0..n {
                let k = t * n + i;
                let (terminated, truncated) = (self.buffers.terminated[i], self.buffers.truncated[i]);
                r.ends[k] = terminated || truncated;
                r.truncated[k] = truncated && !terminated;
                if r.ends[k] {
                    let last = &self.buffers.final_obs[i * dim..(i + 1) * dim];
                    r.next_obs[k * dim..(k + 1) * dim].copy_from_slice(last);
                    if r.truncated[k] {
                        // The episode was cut, not finished: its next state still has value.
                        self.policy.values(last, &mut bootstrap);
                        r.rewards[k] += gamma * bootstrap[0];
                    }
                }
            }
            let before = episodes.len();
            self.runner.drain_episodes(&mut episodes);
            for e in &episodes[before..] {
                if self.recent_returns.len() == RECENT_EPISODES {
                    self.recent_returns.pop_front();
                }
                self.recent_returns.push_back(e.ret);
            }
            let _ = update;
        }
        self.policy.values(&self.buffers.obs, &mut self.last_values);
        self.policy.cost_values(&self.buffers.obs, &mut self.last_cost_values);
        Ok(episodes)
    }

    /// Rejects NaN and infinities in what the update will learn from.
    fn check_rollout(&self, update: usize) -> Result<(), TrainError> {
        let r = &self.rollout;
        let n = r.num_envs;
        let bad = |what: &'static str, k: usize, value: f32| TrainError::NonFiniteRollout {
            update,
            what,
            step: k / n,
            env: k % n,
            value,
        };
        if let Some(k) = r.rewards.iter().position(|v| !v.is_finite()) {
            return Err(bad("reward", k, r.rewards[k]));
        }
        if let Some(k) = r.costs.iter().position(|v| !v.is_finite()) {
            return Err(bad("cost", k, r.costs[k]));
        }
        if let Some(j) = r.obs.iter().position(|v| !v.is_finite()) {
            return Err(bad("observation", j / r.obs_dim, r.obs[j]));
        }
        Ok(())
    }

    /// The PPO epochs over shuffled minibatches, gathered from the host rollout.
    fn optimize(&mut self, update: usize, learning_rate: f64) -> Result<EpochStats, TrainError> {
        let c = &self.config;
        let dim = self.rollout.obs_dim;
        let lagrangian = c.lagrangian.is_some();
        let lambda = self.multiplier.value();
        let r = &self.rollout;
        let dev = &self.device;
        let minibatch = |idx: &[usize]| {
            let mut adv: Vec<f32> = idx.iter().map(|&k| r.advantages[k]).collect();
            if lagrangian {
                // PPO-Lagrangian: ascend (A_r - λ A_c) / (1 + λ), both already normalised
                // over the rollout (OmniSafe); normalising here again would cancel the 1 + λ.
                for (a, &k) in adv.iter_mut().zip(idx) {
                    *a = lagrange::combine(*a, r.cost_advantages[k], lambda);
                }
            } else if c.norm_adv {
                normalize(&mut adv);
            }
            let obs: Vec<f32> = idx.iter().flat_map(|&k| r.obs[k * dim..(k + 1) * dim].iter().copied()).collect();
            let gather = |v: &[f32]| -> Vec<f32> { idx.iter().map(|&k| v[k]).collect() };
            let t1 = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [idx.len()]), dev);
            let actions: Vec<i64> = idx.iter().map(|&k| i64::from(r.actions[k])).collect();
            Minibatch {
                obs: Tensor::<B, 2>::from_data(TensorData::new(obs, [idx.len(), dim]), dev),
                actions: Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [idx.len()]), dev),
                old_logprobs: t1(gather(&r.logprobs)),
                advantages: t1(adv),
                returns: t1(gather(&r.returns)),
                old_values: t1(gather(&r.values)),
                cost_returns: lagrangian.then(|| t1(gather(&r.cost_returns))),
            }
        };
        let mask = self.mask.as_ref().map(|m| m.offsets::<B>(dev));
        let learner = Learner {
            model: &mut self.model,
            optim: &mut self.optim,
            cost_optim: lagrangian.then_some(&mut self.cost_optim),
            shuffle: &mut self.shuffle,
            mask,
        };
        learner.epochs(c, update, learning_rate, minibatch)
    }

    /// Writes a checkpoint of everything needed to continue exactly (model, optimiser, runner,
    /// observations, every generator's state, counters, penalty state) to `path`, atomically.
    pub fn save_checkpoint(&self, path: &std::path::Path) -> Result<(), TrainError> {
        let err = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model =
            Recorder::<B>::record(&recorder, self.model.clone().into_record(), ()).map_err(|e| err(e.to_string()))?;
        let optim = Recorder::<B>::record(&recorder, self.optim.to_record(), ()).map_err(|e| err(e.to_string()))?;
        let cost_optim =
            Recorder::<B>::record(&recorder, self.cost_optim.to_record(), ()).map_err(|e| err(e.to_string()))?;
        let state = TrainerState::<E> {
            seed: self.seed,
            update: self.update,
            global_step: self.global_step,
            runner: self.runner.snapshot(),
            obs: self.buffers.obs.clone(),
            shuffle: self.shuffle.clone(),
            recent_returns: self.recent_returns.clone(),
            multiplier: self.multiplier.clone(),
            running_cost: self.running_cost.clone(),
            config: self.config.clone(),
        };
        let state = ron::to_string(&state).map_err(|e| err(e.to_string()))?;
        let penalty = self.penalty.snapshot().map_err(|e| err(format!("penalty: {e}")))?;
        write_atomic(path, &pack(&[&model, &optim, &cost_optim, state.as_bytes(), &penalty]))
    }

    /// A trainer continuing exactly where the checkpoint at `path` left off. `env_params`,
    /// `config`, `seed` and `penalty` must be those of the original run: a checkpoint written by
    /// another configuration or seed is refused.
    pub fn resume(
        path: &std::path::Path,
        env_params: E::Params,
        config: &PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        let bytes = std::fs::read(path)
            .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        Self::resume_from_bytes(path, &bytes, env_params, config, seed, penalty, device)
    }

    /// [`Trainer::resume`] from a checkpoint's bytes (`path` names it in errors). Any bytes give
    /// a trainer or an error naming the damaged part, never a panic: the sizes the trainer
    /// allocates come from `config`, not from the bytes, and every section is checked against
    /// what `config` builds.
    pub fn resume_from_bytes(
        path: &std::path::Path,
        bytes: &[u8],
        env_params: E::Params,
        config: &PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        let err = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
        let sections = unpack(path, bytes)?;
        let [model, optim, cost_optim, state, penalty_state] =
            <[Vec<u8>; 5]>::try_from(sections).map_err(|_| err("expected 5 sections".into()))?;
        let state = std::str::from_utf8(&state).map_err(|e| err(e.to_string()))?;
        let state: TrainerState<E> = ron::from_str(state).map_err(|e| err(format!("trainer state: {e}")))?;
        if state.config != *config || state.seed != seed {
            return Err(err("was written by another configuration or seed".into()));
        }
        let mut trainer = Trainer::<E, B>::new(env_params.clone(), config.clone(), seed, penalty, device)?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model_record =
            Recorder::<B>::load(&recorder, model, &trainer.device).map_err(|e| err(format!("model: {e}")))?;
        let optim_record =
            Recorder::<B>::load(&recorder, optim, &trainer.device).map_err(|e| err(format!("optimizer: {e}")))?;
        let cost_optim_record = Recorder::<B>::load(&recorder, cost_optim, &trainer.device)
            .map_err(|e| err(format!("cost optimizer: {e}")))?;
        trainer.model = trainer.model.load_record(model_record);
        trainer.optim = trainer.optim.load_record(optim_record);
        trainer.cost_optim = trainer.cost_optim.load_record(cost_optim_record);
        trainer.policy = trainer.model.to_inference().with_mask(trainer.mask.clone());
        trainer.runner = BatchRunner::restore(env_params, state.runner)?;
        if state.obs.len() != trainer.buffers.obs.len() {
            return Err(err("observation buffer does not match the configuration".into()));
        }
        trainer.buffers.obs = state.obs;
        trainer.shuffle = state.shuffle;
        trainer.recent_returns = state.recent_returns;
        trainer.multiplier = state.multiplier;
        trainer.running_cost = state.running_cost;
        trainer.penalty.restore(&penalty_state).map_err(|e| err(format!("penalty: {e}")))?;
        trainer.update = state.update;
        trainer.global_step = state.global_step;
        trainer.lift_mask_if_due();
        Ok(trainer)
    }
}

/// One minibatch on the device.
struct Minibatch<B: AutodiffBackend> {
    obs: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
    old_logprobs: Tensor<B, 1>,
    advantages: Tensor<B, 1>,
    returns: Tensor<B, 1>,
    old_values: Tensor<B, 1>,
    cost_returns: Option<Tensor<B, 1>>,
}

/// What the PPO epochs change: the model, the optimiser and the minibatch permutation's
/// generator. Both trainers run their epochs through it, each with its own way of gathering a
/// minibatch.
struct Learner<'a, B: TrainBackend> {
    model: &'a mut ActorCritic<B>,
    optim: &'a mut Adapter<B>,
    /// The cost critic's own optimiser, when it has one: its gradients are clipped and applied
    /// apart from the others.
    cost_optim: Option<&'a mut Adapter<B>>,
    shuffle: &'a mut ChaCha8Rng,
    /// Logit offsets of the action mask (`[1, actions]`), if the policy is restricted.
    mask: Option<Tensor<B, 2>>,
}

impl<B: TrainBackend> Learner<'_, B> {
    /// `c.update_epochs` epochs over the batch in shuffled minibatches built by `minibatch`
    /// from their row indices: loss, finiteness checks, backward pass, global-norm clipping and
    /// an Adam step each, stopping early past `c.target_kl`. Returns the last minibatch's
    /// scalars, with the clip fraction averaged over all of them.
    fn epochs(
        mut self,
        c: &PpoConfig,
        update: usize,
        learning_rate: f64,
        mut minibatch: impl FnMut(&[usize]) -> Minibatch<B>,
    ) -> Result<EpochStats, TrainError> {
        let mut order: Vec<usize> = (0..c.batch_size()).collect();
        let all = param_ids(&*self.model);
        let cost = self.model.cost_critic().map(param_ids).unwrap_or_default();
        let rest: Vec<(ParamId, usize)> = all.iter().copied().filter(|p| !cost.contains(p)).collect();
        let mut stats = EpochStats::default();
        let mut clipfracs = Vec::new();
        'epochs: for epoch in 0..c.update_epochs {
            shuffle(&mut order, self.shuffle);
            for (index, idx) in order.chunks(c.minibatch_size()).enumerate() {
                let (loss, s) = ppo_loss(self.model, minibatch(idx), c, self.mask.as_ref());
                let fail = |term: &'static str, value: f32| TrainError::NonFiniteLoss {
                    update,
                    epoch,
                    minibatch: index,
                    term,
                    value,
                };
                for (term, value) in [
                    ("policy_loss", s.policy_loss),
                    ("value_loss", s.value_loss),
                    ("entropy", s.entropy),
                    ("cost_value_loss", s.cost_value_loss),
                ] {
                    if !value.is_finite() {
                        return Err(fail(term, value));
                    }
                }
                let mut grads = GradientsParams::from_grads(loss.backward(), &*self.model);
                if let Some(cost_optim) = self.cost_optim.as_deref_mut() {
                    let cost_grads = take_grads::<B>(&mut grads, &cost);
                    let (cost_grads, norm) = clip_global_norm::<B>(&cost, cost_grads, c.max_grad_norm);
                    if !norm.is_finite() {
                        return Err(fail("cost_grad_norm", norm));
                    }
                    *self.model = cost_optim.step(learning_rate, self.model.clone(), cost_grads);
                }
                let (grads, norm) = clip_global_norm::<B>(&rest, grads, c.max_grad_norm);
                if !norm.is_finite() {
                    return Err(fail("grad_norm", norm));
                }
                *self.model = self.optim.step(learning_rate, self.model.clone(), grads);
                clipfracs.push(s.clipfrac);
                stats = s;
            }
            if c.target_kl.is_some_and(|kl| stats.approx_kl > kl) {
                break 'epochs;
            }
        }
        stats.clipfrac = clipfracs.iter().sum::<f32>() / clipfracs.len().max(1) as f32;
        Ok(stats)
    }
}

/// Scalars of the last minibatch.
#[derive(Clone, Copy, Debug, Default)]
struct EpochStats {
    policy_loss: f32,
    value_loss: f32,
    entropy: f32,
    old_approx_kl: f32,
    approx_kl: f32,
    clipfrac: f32,
    cost_value_loss: f32,
}

/// PPO's loss on one minibatch, and its scalars (read back in one transfer).
fn ppo_loss<B: AutodiffBackend + PolicyBackend>(
    model: &ActorCritic<B>,
    m: Minibatch<B>,
    c: &PpoConfig,
    mask: Option<&Tensor<B, 2>>,
) -> (Tensor<B, 1>, EpochStats) {
    let [n] = m.old_logprobs.dims();
    let out = model.forward(m.obs);
    let log_probs = log_softmax(masked(out.logits, mask), 1); // [n, A]
    let new_logprobs = log_probs.clone().gather(1, m.actions.reshape([n, 1])).reshape([n]);
    let entropy = -(log_probs.clone().exp() * log_probs).sum_dim(1).reshape([n]);
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
    let scalars = Tensor::cat(
        vec![
            policy_loss.clone().detach(),
            value_loss.detach(),
            entropy_mean.detach(),
            old_approx_kl,
            approx_kl,
            clipfrac,
            cost_value_loss.detach(),
        ],
        0,
    )
    .into_data()
    .to_vec::<f32>()
    .expect("f32 scalars");
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
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
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

/// The policy head's initial bias: `config.policy.initial_logits` by action name, 0 elsewhere.
fn initial_logits<E: Environment>(params: &E::Params, config: &PpoConfig) -> Result<Vec<f32>, TrainError> {
    let spaces = E::spaces(params);
    let names: Vec<String> = (0..spaces.num_actions).map(|a| E::action_name(params, a)).collect();
    let mut logits = vec![0.0f32; spaces.num_actions as usize];
    for (name, &logit) in &config.policy.initial_logits {
        let a = names.iter().position(|n| n == name).ok_or_else(|| TrainError::UnknownAction {
            name: name.clone(),
            env: E::NAME,
            known: names.join(", "),
        })?;
        logits[a] = logit;
    }
    Ok(logits)
}

trait ToF32 {
    fn to_f32(self) -> f32;
}
impl<T: burn::tensor::ElementConversion> ToF32 for T {
    fn to_f32(self) -> f32 {
        self.elem::<f32>()
    }
}

/// `(x - mean) / (std + 1e-8)` in place (unbiased std, as torch's `.std()`).
fn normalize(x: &mut [f32]) {
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

/// Fisher–Yates shuffle from a ChaCha stream.
pub(crate) fn shuffle(order: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..order.len()).rev() {
        let j = (((rng.next_u64() >> 11) as u128 * (i as u128 + 1)) >> 53) as usize;
        order.swap(i, j);
    }
}

/// `1 - Var(returns - values) / Var(returns)`.
fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = values.len() as f64;
    let mean = |f: &dyn Fn(usize) -> f64| (0..values.len()).map(f).sum::<f64>() / n;
    let mr = mean(&|k| f64::from(returns[k]));
    let var_r = mean(&|k| (f64::from(returns[k]) - mr).powi(2));
    let md = mean(&|k| f64::from(returns[k] - values[k]));
    let var_d = mean(&|k| (f64::from(returns[k] - values[k]) - md).powi(2));
    if var_r == 0.0 { f64::NAN } else { 1.0 - var_d / var_r }
}

/// Adds the rollout's training costs to each slot's running episode cost and returns the
/// totals of the episodes that ended.
fn accumulate_episode_costs<E: Environment>(r: &Rollout<E>, running: &mut [f64]) -> Vec<f64> {
    let n = r.num_envs;
    let mut ended = Vec::new();
    for t in 0..r.num_steps {
        for i in 0..n {
            let k = t * n + i;
            running[i] += f64::from(r.costs[k]);
            if r.ends[k] {
                ended.push(running[i]);
                running[i] = 0.0;
            }
        }
    }
    ended
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn normalize_gives_zero_mean_unit_std() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        normalize(&mut x);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        let var: f32 = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
    }
}
