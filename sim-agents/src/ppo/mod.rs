//! Proximal policy optimisation (Schulman et al. 2017) with the implementation details that
//! matter (Huang et al. 2022, CleanRL's `ppo.py`): vectorised environments, GAE, per-minibatch
//! advantage normalisation, the clipped surrogate, value-loss clipping, an entropy bonus, global
//! gradient-norm clipping, Adam with ε = 1e-5, linear learning-rate annealing, shuffled
//! minibatches over epochs, approximate-KL and clip-fraction logging. Truncated episodes are
//! bootstrapped from the value of their last observation; terminated ones never are.
//!
//! One [`Trainer::train_update`] collects a rollout from its source ([`crate::source`]: the
//! native environments and the host copy of the policy, or device environments and the policy
//! on the device), lets the [`crate::penalty::Penalty`] turn task rewards into training
//! rewards, computes advantages, and runs the epochs: on the CPU backend with the update written
//! out by hand (`fused`, [`Kernel`]), elsewhere on burn, or for a population's runs as one
//! batched model ([`Kernel::Batched`]). Everything after the rollout is the same code for both
//! sources.
//!
//! The pieces, by concern: `config` (hyperparameters and the learning-rate schedule), `metrics`
//! (what an update reports), `loss` (PPO's loss on a minibatch), `learner` (the epochs, and
//! burn's minibatch step), `fused` (the same step written out for the CPU), `batched` (the step
//! of many runs' stacked networks at once), `lagrange` (PPO-Lagrangian's multiplier) and
//! `resume` (checkpoints).

mod batched;
mod config;
mod fused;
mod lagrange;
mod learner;
mod loss;
mod metrics;
mod objective;
mod optim;
mod resume;

pub use config::{Kernel, LagrangianConfig, PpoConfig};
pub use lagrange::{DEVIATIONS as LAGRANGIAN_DEVIATIONS, Multiplier};
pub(crate) use learner::shuffle;
pub use loss::{EpochStats, Minibatch, policy_terms, ppo_loss, read_scalars};
pub use metrics::{UpdateMetrics, UpdateReport, UpdateTimings};
pub use objective::{Objective, Ppo, Trajectories};
pub use optim::adam;

use std::collections::VecDeque;
use std::time::Instant;

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use sim_core::device::DeviceEnv;
use sim_core::env::Environment;
use sim_core::params::Validate;
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::Episode;

use crate::algorithms::WithDemonstrations;
use crate::backend::{PolicyBackend, TrainBackend};
use crate::error::TrainError;
use crate::inference::InferencePolicy;
use crate::mask::ActionMask;
use crate::penalty::Penalty;
use crate::policy::ActorCritic;
use crate::pretrain::Demonstrations;
use crate::rollout::{Rollout, gae};
use crate::source::{Acting, DeviceSource, HostSource, RolloutSource, RunBuffers};
use fused::{FusedLearner, HostMinibatch};
use learner::{Learner, for_each_minibatch};
use loss::normalize;
use metrics::explained_variance;

type Adapter<B> = OptimizerAdaptor<Adam, ActorCritic<B>, B>;
/// burn's Adam state, as a checkpoint and the batched kernel read it.
type AdapterRecord<B> = <Adapter<B> as Optimizer<ActorCritic<B>, B>>::Record;

/// A PPO trainer for environment `E` on backend `B`.
pub struct Trainer<E: Environment, B: AutodiffBackend + PolicyBackend> {
    config: PpoConfig,
    seed: u64,
    device: B::Device,
    /// Where rollouts come from: the host's environments and inference, or the device's
    /// (`None` for a run of a [`crate::population::Population`], which collects them).
    source: Option<Box<dyn RolloutSource<E, B>>>,
    params: E::Params,
    model: ActorCritic<B>,
    /// The algorithm: its advantages and its loss ([`Ppo`] unless [`Trainer::with_objective`]).
    objective: Box<dyn Objective<B>>,
    /// The update kernel's state between updates.
    optimiser: Optimiser<B>,
    minibatch: HostMinibatch,
    policy: InferencePolicy,
    /// The actions allowed (`None`: all).
    mask: Option<ActionMask>,
    rollout: Rollout<E>,
    last_values: Vec<f32>,
    last_cost_values: Vec<f32>,
    shuffle: ChaCha8Rng,
    penalty: Box<dyn Penalty<E>>,
    multiplier: Multiplier,
    running_cost: Vec<f64>,
    update: usize,
    global_step: u64,
    recent_returns: VecDeque<f64>,
}

/// What a run's update kernel ([`Kernel`]) keeps between updates.
enum Optimiser<B: AutodiffBackend + PolicyBackend> {
    /// burn's Adam, for burn's update and the batched one (which stacks a population's states
    /// for each update and hands them back after it).
    Burn {
        optim: Adapter<B>,
        /// The cost critic's own optimiser (PPO-Lagrangian; it never sees the other gradients).
        cost: Adapter<B>,
    },
    /// The hand-written update with its weights and Adam's moments; the burn model takes the
    /// weights after every update.
    Fused(Box<FusedLearner>),
}

impl<B: TrainBackend> Optimiser<B> {
    /// The state `kernel` starts from on backend `B`, for `model`.
    fn new(kernel: Kernel, model: &ActorCritic<B>) -> Self {
        if uses_fused::<B>(kernel) {
            let (actor, critic, cost) = model.to_dense();
            Optimiser::Fused(Box::new(FusedLearner::new(actor, critic, cost)))
        } else {
            Optimiser::Burn { optim: adam::config().init(), cost: adam::config().init() }
        }
    }

    /// The records of burn's optimisers (the main one and the cost critic's); empty ones under
    /// the hand-written kernel, whose checkpoints carry them so.
    fn burn_records(&self) -> (AdapterRecord<B>, AdapterRecord<B>) {
        match self {
            Optimiser::Burn { optim, cost } => (optim.to_record(), cost.to_record()),
            Optimiser::Fused(_) => {
                let fresh = || adam::config().init::<B, ActorCritic<B>>().to_record();
                (fresh(), fresh())
            }
        }
    }
}

/// How many recent episode returns [`Trainer::final_return`] averages.
pub const RECENT_EPISODES: usize = 100;

/// An update's state between [`Trainer::prepare`] and [`Trainer::conclude`], while its
/// epochs run (alone, or batched with a population's other runs).
struct Prepared<E: Environment> {
    /// 1-based update.
    pub update: usize,
    pub learning_rate: f64,
    penalty_per_step: f64,
    episodic_cost: Option<f64>,
    episodes: Vec<Episode<E>>,
    rollout_seconds: f64,
    prepare_seconds: f64,
}

impl<E: Environment, B: TrainBackend> Trainer<E, B> {
    /// A trainer for `env_params` seeded by `seed`, on the host loop ([`HostSource`]). The
    /// penalty comes from `config.penalty` unless one is given (for penalties outside
    /// [`crate::penalty::PenaltyConfig`]).
    pub fn new(
        env_params: E::Params,
        config: PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let source = HostSource::<E>::new(env_params.clone(), config.num_envs, seed)?;
        Self::with_source(Some(Box::new(source)), env_params, config, seed, penalty, device)
    }

    /// [`Trainer::new`] on the device loop ([`DeviceSource`]): the environments are `D`, on
    /// `device`, and the rollout's forward pass and sampling run there too.
    pub fn on_device<D: DeviceEnv<B::InnerBackend, Native = E> + 'static>(
        env_params: E::Params,
        config: PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        env_params.validate()?;
        let source = DeviceSource::<B, D>::new(env_params.clone(), config.num_envs, seed, device.clone());
        Self::with_source(Some(Box::new(source)), env_params, config, seed, penalty, device)
    }

    /// A trainer over `source` (which has `config.num_envs` environments under `params`, valid,
    /// seeded by `seed`), or a population's run (`None`: its population collects its rollouts).
    pub(crate) fn with_source(
        source: Option<Box<dyn RolloutSource<E, B>>>,
        params: E::Params,
        config: PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        let spaces = E::spaces(&params);
        let logits = initial_logits::<E>(&params, &config)?;
        let n = config.num_envs;
        let model = ActorCritic::<B>::init(
            spaces,
            &config.policy,
            &logits,
            config.lagrangian.is_some(),
            StreamKey::derive(seed, domain::INIT, 0),
            &device,
        );
        let objective = config.algorithm.objective(&model);
        let optimiser = Optimiser::new(kernel_for(&*objective, config.kernel)?, &model);
        let mask = ActionMask::of::<E>(config.actions, &params);
        let policy = model.to_inference().with_mask(mask.clone());
        let penalty = match penalty {
            Some(p) => p,
            None => config.penalty.build::<E, B>(&params, seed, &device)?,
        };
        let multiplier = Multiplier::new(config.lagrangian.as_ref().map_or(0.0, |l| l.lambda_init));
        Ok(Trainer {
            rollout: Rollout::new(config.num_steps, n, spaces.obs_dim),
            last_values: vec![0.0; n],
            last_cost_values: vec![0.0; n],
            shuffle: StreamKey::derive(seed, domain::MINIBATCH, 0).chacha(),
            config,
            seed,
            device,
            source,
            params,
            model,
            objective,
            optimiser,
            minibatch: HostMinibatch::default(),
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

    /// This trainer, not yet trained, running `objective` in place of PPO's. The hand-written
    /// kernels implement PPO's loss only: [`Kernel::Auto`] then resolves to burn's update, and
    /// [`Kernel::Fused`] or [`Kernel::Batched`] is refused.
    pub fn with_objective(mut self, objective: Box<dyn Objective<B>>) -> Result<Self, TrainError> {
        if self.update != 0 {
            return Err(TrainError::Unsupported {
                trainer: "this trainer",
                what: format!("a change of objective to {} after training began", objective.name()),
            });
        }
        if self.config.algorithm.group_size().is_some() {
            return Err(TrainError::Unsupported {
                trainer: "this trainer",
                what: format!(
                    "{} in place of {:?}, whose rollouts are episodic",
                    objective.name(),
                    self.config.algorithm
                ),
            });
        }
        self.optimiser = Optimiser::new(kernel_for(&*objective, self.config.kernel)?, &self.model);
        self.objective = objective;
        Ok(self)
    }

    /// This trainer, not yet trained, starting from `model` (a pretrained policy,
    /// [`crate::pretrain`]) instead of a fresh network: the policy it acts with and updates, and
    /// the reference its KL term anchors to. `model` must have this run's shape (observation and
    /// action widths, hidden layers, a cost critic exactly when the run is PPO-Lagrangian). The
    /// objective is rebuilt from `config.algorithm`: give a custom one ([`Trainer::with_objective`])
    /// after this.
    pub fn with_initial_policy(mut self, model: &ActorCritic<B>) -> Result<Self, TrainError> {
        let refuse = |what: String| Err(TrainError::Unsupported { trainer: "this trainer", what });
        if self.update != 0 {
            return refuse("a new initial policy after training began".into());
        }
        let (theirs, ours) = (layer_shapes(model), layer_shapes(&self.model));
        if theirs != ours {
            return refuse(format!("an initial policy of layers {theirs:?} for a run of layers {ours:?}"));
        }
        self.model = model.clone();
        self.optimiser = Optimiser::new(kernel_for(&*self.objective, self.config.kernel)?, &self.model);
        self.objective = self.config.algorithm.objective(&self.model);
        self.policy = self.model.to_inference().with_mask(self.mask.clone());
        Ok(self)
    }

    /// This trainer, not yet trained, with a behaviour-cloning term of `weight` on `demos` added
    /// to its objective's loss ("golden trajectories in RL", [`crate::algorithms::golden`]);
    /// after [`Trainer::with_initial_policy`] and [`Trainer::with_objective`], which replace the
    /// objective. The loss is no longer PPO's alone: [`Kernel::Auto`] resolves to burn's update.
    pub fn with_demonstrations(mut self, demos: Demonstrations, weight: f32) -> Result<Self, TrainError> {
        let refuse = |what: String| Err(TrainError::Unsupported { trainer: "this trainer", what });
        if self.update != 0 {
            return refuse("demonstrations after training began".into());
        }
        if demos.is_empty() || demos.obs_dim != self.policy.obs_dim() {
            return refuse(format!(
                "{} demonstration rows of observations {} wide for a policy of observations {} wide",
                demos.len(),
                demos.obs_dim,
                self.policy.obs_dim()
            ));
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return refuse(format!("a demonstration weight of {weight}"));
        }
        let inner = std::mem::replace(&mut self.objective, Box::new(Ppo));
        let objective: Box<dyn Objective<B>> = Box::new(WithDemonstrations::new(inner, demos, weight));
        self.optimiser = Optimiser::new(kernel_for(&*objective, self.config.kernel)?, &self.model);
        self.objective = objective;
        Ok(self)
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
        &self.params
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
        let Some(mut source) = self.source.take() else {
            return Err(TrainError::Unsupported {
                trainer: "a population's run",
                what: "training alone (its population trains it: Population::train_update)".into(),
            });
        };
        if let Some(group_size) = self.config.algorithm.group_size() {
            source.restart(group_size);
        }
        let (acting, RunBuffers { rollout, last_values, last_cost_values }) = self.acting_and_buffers();
        let episodes = source.collect(&acting, rollout, last_values, last_cost_values);
        self.source = Some(source);
        self.learn(start.elapsed().as_secs_f64(), episodes)
    }

    /// The acting policy and where a rollout source writes this run's rollout.
    pub(crate) fn acting_and_buffers(&mut self) -> (Acting<'_, B>, RunBuffers<'_, E>) {
        // An episodic rollout scores episodes by what they earned: a truncated one is not
        // bootstrapped.
        let gamma = if self.config.algorithm.group_size().is_some() { 0.0 } else { self.config.gamma };
        let acting = Acting { policy: &self.policy, model: &self.model, mask: self.mask.as_ref(), gamma };
        let buffers = RunBuffers {
            rollout: &mut self.rollout,
            last_values: &mut self.last_values,
            last_cost_values: &mut self.last_cost_values,
        };
        (acting, buffers)
    }

    /// One PPO update on the rollout just collected (in `rollout_seconds`), whose ended
    /// episodes are `episodes`.
    pub(crate) fn learn(
        &mut self,
        rollout_seconds: f64,
        episodes: Vec<Episode<E>>,
    ) -> Result<UpdateReport<E>, TrainError> {
        let prepared = self.prepare(rollout_seconds, episodes)?;
        let start = Instant::now();
        let stats = self.optimize(prepared.update, prepared.learning_rate)?;
        Ok(self.conclude(prepared, stats, start.elapsed().as_secs_f64()))
    }

    /// An update up to its epochs: the penalty, the rollout's checks, advantages and the
    /// Lagrange multiplier's step.
    fn prepare(&mut self, rollout_seconds: f64, mut episodes: Vec<Episode<E>>) -> Result<Prepared<E>, TrainError> {
        let start = Instant::now();
        if self.config.algorithm.group_size().is_some() {
            episodes = score_first_episodes(&mut self.rollout, episodes);
        }
        let c = &self.config;
        let update = self.update + 1;
        let learning_rate = c.learning_rate_at(update);
        for e in &episodes {
            if self.recent_returns.len() == RECENT_EPISODES {
                self.recent_returns.pop_front();
            }
            self.recent_returns.push_back(e.ret);
        }
        let before: f64 = self.rollout.rewards.iter().map(|&r| f64::from(r)).sum();
        self.penalty.apply(&mut self.rollout, self.update);
        self.check_rollout(update)?;
        let after: f64 = self.rollout.rewards.iter().map(|&r| f64::from(r)).sum();
        let penalty_per_step = (before - after) / self.rollout.len() as f64;

        let r = &mut self.rollout;
        let trajectories = Trajectories {
            rewards: &r.rewards,
            values: &r.values,
            ends: &r.ends,
            last_values: &self.last_values,
            live: &r.live,
            obs: &r.obs,
            actions: &r.actions,
            logprobs: &r.logprobs,
            num_envs: c.num_envs,
            update: self.update,
        };
        self.objective.advantages(trajectories, c, &mut r.advantages, &mut r.returns);
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
        let prepare_seconds = start.elapsed().as_secs_f64();
        Ok(Prepared {
            update,
            learning_rate,
            penalty_per_step,
            episodic_cost,
            episodes,
            rollout_seconds,
            prepare_seconds,
        })
    }

    /// An update after its epochs (which gave `stats` in `optimize_seconds`): the acting
    /// policy refreshed, the counters advanced, the mask lifted if due, and the report.
    fn conclude(&mut self, p: Prepared<E>, stats: EpochStats, optimize_seconds: f64) -> UpdateReport<E> {
        let start = Instant::now();
        let lagrangian = self.config.lagrangian.is_some();
        self.policy = self.model.to_inference().with_mask(self.mask.clone());
        self.update = p.update;
        self.global_step += self.rollout.len() as u64;
        self.lift_mask_if_due();

        let episodes = p.episodes;
        let n_eps = episodes.len();
        let mean =
            |f: &dyn Fn(&Episode<E>) -> f64| (n_eps > 0).then(|| episodes.iter().map(f).sum::<f64>() / n_eps as f64);
        let seconds = p.rollout_seconds + p.prepare_seconds + optimize_seconds + start.elapsed().as_secs_f64();
        let metrics = UpdateMetrics {
            update: p.update,
            global_step: self.global_step,
            learning_rate: p.learning_rate,
            episodic_return: mean(&|e| e.ret),
            episodic_length: mean(&|e| f64::from(e.length)),
            episodes: n_eps,
            explained_variance: explained_variance(&self.rollout.values, &self.rollout.returns),
            cost_value_loss: lagrangian.then_some(stats.cost_value_loss),
            lagrange_multiplier: lagrangian.then(|| self.multiplier.value()),
            episodic_cost: p.episodic_cost,
            penalty_per_step: p.penalty_per_step,
            ref_kl: self.objective.reference_kl(),
            ..UpdateMetrics::default()
        }
        .with_losses(&stats);
        let timings = UpdateTimings {
            sps: self.rollout.len() as f64 / seconds,
            rollout_seconds: p.rollout_seconds,
            optimize_seconds,
        };
        UpdateReport { metrics, timings, episodes }
    }

    /// One PPO update of each of `runs` (a population's) on the rollouts just collected (in
    /// `rollout_seconds` each), whose ended episodes are `episodes[r]`: each on its own kernel,
    /// one after another, or, on [`Kernel::Batched`] (which a population's runs share), all as
    /// one batched model. An error names the failing run's seed ([`TrainError::InRun`]).
    pub(crate) fn learn_population(
        runs: &mut [Self],
        rollout_seconds: f64,
        episodes: Vec<Vec<Episode<E>>>,
    ) -> Result<Vec<UpdateReport<E>>, TrainError> {
        let in_run = |run: &Self, e: TrainError| TrainError::InRun { seed: run.seed, source: Box::new(e) };
        if runs[0].config.kernel != Kernel::Batched {
            let each = runs.iter_mut().zip(episodes);
            return each
                .map(|(run, episodes)| run.learn(rollout_seconds, episodes).map_err(|e| in_run(run, e)))
                .collect();
        }
        let mut prepared = Vec::with_capacity(runs.len());
        for (run, episodes) in runs.iter_mut().zip(episodes) {
            prepared.push(run.prepare(rollout_seconds, episodes).map_err(|e| in_run(run, e))?);
        }
        let start = Instant::now();
        let rates: Vec<f64> = prepared.iter().map(|p| p.learning_rate).collect();
        let stats = batched::epochs(runs, prepared[0].update, &rates).map_err(|(r, e)| in_run(&runs[r], e))?;
        let share = start.elapsed().as_secs_f64() / runs.len() as f64;
        Ok(runs.iter_mut().zip(prepared).zip(stats).map(|((run, p), s)| run.conclude(p, s, share)).collect())
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

    /// The PPO epochs over shuffled minibatches, gathered from the host rollout, on the
    /// configured kernel.
    fn optimize(&mut self, update: usize, learning_rate: f64) -> Result<EpochStats, TrainError> {
        if matches!(self.optimiser, Optimiser::Fused(_)) {
            return self.optimize_fused(update, learning_rate);
        }
        if self.config.kernel == Kernel::Batched {
            let mut stats =
                batched::epochs(std::slice::from_mut(self), update, &[learning_rate]).map_err(|(_, e)| e)?;
            return Ok(stats.remove(0));
        }
        let c = &self.config;
        let lagrangian = c.lagrangian.is_some();
        let episodic = c.algorithm.group_size().is_some();
        let r = &self.rollout;
        let dev = &self.device;
        let lambda = self.multiplier.value();
        let host = &mut self.minibatch;
        let minibatch = |idx: &[usize]| {
            gather_minibatch(r, c, lambda, idx, host);
            let n = idx.len();
            let t1 = |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [n]), dev);
            let actions: Vec<i64> = host.actions.iter().map(|&a| i64::from(a)).collect();
            Minibatch {
                obs: Tensor::<B, 2>::from_data(TensorData::new(host.obs.clone(), [n, r.obs_dim]), dev),
                actions: Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [n]), dev),
                old_logprobs: t1(&host.old_logprobs),
                advantages: t1(&host.advantages),
                returns: t1(&host.returns),
                old_values: t1(&host.old_values),
                cost_returns: lagrangian.then(|| t1(&host.cost_returns)),
                live: episodic.then(|| t1(&host.live)),
            }
        };
        let mask = self.mask.as_ref().map(|m| m.offsets::<B>(dev));
        let Optimiser::Burn { optim, cost } = &mut self.optimiser else {
            unreachable!("the fused kernel returned above")
        };
        let learner = Learner {
            model: &mut self.model,
            objective: &*self.objective,
            optim,
            cost_optim: lagrangian.then_some(cost),
            shuffle: &mut self.shuffle,
            mask,
        };
        learner.epochs(c, update, learning_rate, minibatch)
    }

    /// [`Trainer::optimize`] on the hand-written kernel; the burn model takes its weights
    /// afterwards.
    fn optimize_fused(&mut self, update: usize, learning_rate: f64) -> Result<EpochStats, TrainError> {
        let c = &self.config;
        let Optimiser::Fused(fused) = &mut self.optimiser else { unreachable!("called on the fused kernel") };
        let (r, host) = (&self.rollout, &mut self.minibatch);
        let lambda = self.multiplier.value();
        let allowed = self.mask.as_ref().map(|m| m.allowed());
        let stats = for_each_minibatch(c, update, &mut self.shuffle, |idx, fail| {
            gather_minibatch(r, c, lambda, idx, host);
            fused.step(host, c, learning_rate, allowed).map_err(|(term, value)| fail(term, value))
        })?;
        let (actor, critic, cost) = fused.weights();
        self.model = self.model.with_dense(actor, critic, cost);
        Ok(stats)
    }
}

/// The kernel `objective` runs on when `kernel` is asked for: the hand-written kernels
/// implement PPO's loss only, so another objective resolves [`Kernel::Auto`] to burn's update
/// and is refused [`Kernel::Fused`] and [`Kernel::Batched`] by name.
fn kernel_for<B: TrainBackend>(objective: &dyn Objective<B>, kernel: Kernel) -> Result<Kernel, TrainError> {
    match kernel {
        _ if objective.is_ppo() => Ok(kernel),
        Kernel::Auto | Kernel::Burn => Ok(Kernel::Burn),
        k @ (Kernel::Fused | Kernel::Batched) => Err(TrainError::Unsupported {
            trainer: "this trainer",
            what: format!(
                "{}'s loss on the {k:?} kernel, which implements PPO's only (use kernel: Burn or Auto)",
                objective.name()
            ),
        }),
    }
}

/// An episodic rollout's scored episodes: each slot's first, from the restart the rollout began
/// with. Marks the steps that belong to them as live (the steps after a slot's episode ended
/// are not learned from); a slot whose episode had not ended by the rollout's last step is cut
/// there (marked ended and truncated: its outcome is what it had earned; it is not reported as
/// an episode). Returns the reported episodes, in their order.
fn score_first_episodes<E: Environment>(r: &mut Rollout<E>, episodes: Vec<Episode<E>>) -> Vec<Episode<E>> {
    let n = r.num_envs;
    let mut running = vec![true; n];
    for t in 0..r.num_steps {
        for (i, live) in running.iter_mut().enumerate() {
            let k = t * n + i;
            r.live[k] = *live;
            if *live && t + 1 == r.num_steps && !r.ends[k] {
                (r.ends[k], r.truncated[k]) = (true, true);
            }
            *live &= !r.ends[k];
        }
    }
    let mut seen = vec![false; n];
    episodes
        .into_iter()
        .filter(|e| {
            let i = e.slot as usize % n;
            !std::mem::replace(&mut seen[i], true)
        })
        .collect()
}

/// The `(inputs, outputs)` of every layer of the actor, the critic and the cost critic (empty
/// without one).
fn layer_shapes<B: TrainBackend>(model: &ActorCritic<B>) -> [Vec<(usize, usize)>; 3] {
    let (actor, critic, cost) = model.to_dense();
    let sizes = |m: &crate::inference::DenseMlp| m.layers.iter().map(|l| (l.inputs, l.outputs)).collect();
    [sizes(&actor), sizes(&critic), cost.as_ref().map_or_else(Vec::new, sizes)]
}

/// Whether `kernel` on backend `B` is the hand-written one.
fn uses_fused<B: TrainBackend>(kernel: Kernel) -> bool {
    match kernel {
        Kernel::Fused => true,
        Kernel::Burn | Kernel::Batched => false,
        Kernel::Auto => std::any::TypeId::of::<B>() == std::any::TypeId::of::<crate::backend::CpuAutodiff>(),
    }
}

/// Gathers the rows `idx` of the rollout into `mb`, with the advantages PPO ascends: normalised
/// within the minibatch, or PPO-Lagrangian's `(A_r - λ A_c) / (1 + λ)`.
fn gather_minibatch<E: Environment>(r: &Rollout<E>, c: &PpoConfig, lambda: f32, idx: &[usize], mb: &mut HostMinibatch) {
    let dim = r.obs_dim;
    let lagrangian = c.lagrangian.is_some();
    let gather = |v: &[f32], out: &mut Vec<f32>| {
        out.clear();
        out.extend(idx.iter().map(|&k| v[k]));
    };
    mb.obs.clear();
    for &k in idx {
        mb.obs.extend_from_slice(&r.obs[k * dim..(k + 1) * dim]);
    }
    mb.actions.clear();
    mb.actions.extend(idx.iter().map(|&k| r.actions[k]));
    gather(&r.logprobs, &mut mb.old_logprobs);
    gather(&r.advantages, &mut mb.advantages);
    if lagrangian {
        // PPO-Lagrangian: ascend (A_r - λ A_c) / (1 + λ), both already normalised over the
        // rollout (OmniSafe); normalising here again would cancel the 1 + λ.
        for (a, &k) in mb.advantages.iter_mut().zip(idx) {
            *a = lagrange::combine(*a, r.cost_advantages[k], lambda);
        }
    } else if c.norm_adv && c.algorithm.group_size().is_none() {
        normalize(&mut mb.advantages);
    }
    mb.live.clear();
    if c.algorithm.group_size().is_some() {
        mb.live.extend(idx.iter().map(|&k| f32::from(u8::from(r.live[k]))));
    }
    gather(&r.returns, &mut mb.returns);
    gather(&r.values, &mut mb.old_values);
    if lagrangian {
        gather(&r.cost_returns, &mut mb.cost_returns);
    } else {
        mb.cost_returns.clear();
    }
}

/// The policy head's initial bias: `config.policy.initial_logits` by action name, 0 elsewhere.
fn initial_logits<E: Environment>(params: &E::Params, config: &PpoConfig) -> Result<Vec<f32>, TrainError> {
    let spaces = E::spaces(params);
    let names: Vec<String> = (0..spaces.num_actions).map(|a| E::action_name(params, a)).collect();
    let mut logits = vec![0.0f32; spaces.num_actions as usize];
    for (name, &logit) in &config.policy.initial_logits {
        let a = names.iter().position(|n| n == name).ok_or_else(|| TrainError::UnknownAction {
            field: "policy.initial_logits",
            name: name.clone(),
            env: E::NAME,
            known: names.join(", "),
        })?;
        logits[a] = logit;
    }
    Ok(logits)
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
