//! Pretraining by behaviour cloning: fit a policy to demonstrations, cross-entropy on the
//! demonstrated actions (the critic, where the model has one, regressed on the demonstrations'
//! discounted returns to go), shuffled minibatches over epochs with Adam. The fitted policy is
//! what an outcome-reward run starts from and anchors its KL to
//! ([`crate::Trainer::with_initial_policy`]): the simulator's analogue of the incident's
//! supervised fine-tuning before RL.
//!
//! Demonstrations are environment-agnostic rows here; who wrote them (scripted strategies,
//! solver policies, in what shares) is the caller's to record beside them.

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sim_core::params::{ParamError, Validate, check_at_least, check_non_negative, check_positive};
use sim_core::rng::{StreamKey, domain};

use crate::backend::TrainBackend;
use crate::error::TrainError;
use crate::inference::greedy;
use crate::policy::ActorCritic;
use crate::ppo::{adam, read_scalars, shuffle};

/// Demonstration rows: what was observed, what the demonstrator did, what followed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Demonstrations {
    /// Observation width.
    pub obs_dim: usize,
    /// `[rows, obs_dim]`.
    pub obs: Vec<f32>,
    /// The demonstrated actions.
    pub actions: Vec<u32>,
    /// The discounted return to go from each row (the critic's target).
    pub returns: Vec<f32>,
}

impl Demonstrations {
    /// Empty, for observations `obs_dim` wide.
    pub fn new(obs_dim: usize) -> Self {
        Demonstrations { obs_dim, ..Demonstrations::default() }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Appends one episode: its observations (`[steps, obs_dim]`), actions and rewards, the
    /// returns to go discounted by `gamma`.
    pub fn push_episode(&mut self, obs: &[f32], actions: &[u32], rewards: &[f32], gamma: f32) {
        assert!(obs.len() == actions.len() * self.obs_dim && rewards.len() == actions.len(), "one row per step");
        let mut returns = vec![0.0f32; rewards.len()];
        let mut to_go = 0.0f32;
        for t in (0..rewards.len()).rev() {
            to_go = rewards[t] + gamma * to_go;
            returns[t] = to_go;
        }
        self.obs.extend_from_slice(obs);
        self.actions.extend_from_slice(actions);
        self.returns.extend(returns);
    }
}

/// How a policy is fitted to demonstrations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloneConfig {
    /// Passes over the demonstrations.
    pub epochs: usize,
    /// Rows per Adam step.
    pub minibatch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The critic's loss weight (0: the critic is not fitted).
    pub vf_coef: f32,
}

impl Default for CloneConfig {
    fn default() -> Self {
        CloneConfig { epochs: 20, minibatch_size: 256, learning_rate: 1e-3, vf_coef: 0.5 }
    }
}

impl Validate for CloneConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("clone.epochs", self.epochs as u64, 1)?;
        check_at_least("clone.minibatch_size", self.minibatch_size as u64, 1)?;
        check_positive("clone.learning_rate", self.learning_rate)?;
        check_non_negative("clone.vf_coef", self.vf_coef)
    }
}

/// One epoch of fitting, as [`clone_policy`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CloneEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean cross-entropy of the demonstrated actions over the epoch's minibatches.
    pub cross_entropy: f64,
    /// Mean critic loss (`0.5 (V - G)^2`).
    pub value_loss: f64,
    /// Share of rows whose most probable action is the demonstrated one, after the epoch.
    pub agreement: f64,
}

/// Fits `model` to `demos` by behaviour cloning under `c`, minibatches shuffled from `seed`.
/// Returns the fitted model and each epoch's figures.
pub fn clone_policy<B: TrainBackend>(
    mut model: ActorCritic<B>,
    demos: &Demonstrations,
    c: &CloneConfig,
    seed: u64,
    device: &B::Device,
) -> Result<(ActorCritic<B>, Vec<CloneEpoch>), TrainError> {
    c.validate()?;
    if demos.is_empty() {
        return Err(ParamError::new("demonstrations", 0, "at least one row").into());
    }
    let mut optim = adam::config().init::<B, ActorCritic<B>>();
    let mut rng = StreamKey::derive(seed, domain::MINIBATCH, 0).chacha();
    let mut order: Vec<usize> = (0..demos.len()).collect();
    let dim = demos.obs_dim;
    let mut report = Vec::with_capacity(c.epochs);
    for epoch in 1..=c.epochs {
        shuffle(&mut order, &mut rng);
        let (mut ce_sum, mut v_sum, mut batches) = (0.0, 0.0, 0usize);
        for idx in order.chunks(c.minibatch_size) {
            let n = idx.len();
            let obs: Vec<f32> = idx.iter().flat_map(|&k| demos.obs[k * dim..(k + 1) * dim].iter().copied()).collect();
            let actions: Vec<i64> = idx.iter().map(|&k| i64::from(demos.actions[k])).collect();
            let returns: Vec<f32> = idx.iter().map(|&k| demos.returns[k]).collect();
            let out = model.forward(Tensor::from_data(TensorData::new(obs, [n, dim]), device));
            let log_probs = log_softmax(out.logits, 1);
            let actions = Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [n]), device);
            let cross_entropy = -log_probs.gather(1, actions.reshape([n, 1])).mean();
            let returns = Tensor::<B, 1>::from_data(TensorData::new(returns, [n]), device);
            let value_loss = (out.values - returns).powi_scalar(2).mean() * 0.5;
            let loss = cross_entropy.clone() + value_loss.clone() * c.vf_coef;
            let s = read_scalars(vec![cross_entropy.detach(), value_loss.detach()]);
            if !s.iter().all(|v| v.is_finite()) {
                return Err(TrainError::NonFiniteLoss {
                    update: 0,
                    epoch,
                    minibatch: batches,
                    term: "cross_entropy",
                    value: s[0],
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(c.learning_rate, model, grads);
            (ce_sum, v_sum, batches) = (ce_sum + f64::from(s[0]), v_sum + f64::from(s[1]), batches + 1);
        }
        report.push(CloneEpoch {
            epoch,
            cross_entropy: ce_sum / batches as f64,
            value_loss: v_sum / batches as f64,
            agreement: agreement(&model, demos),
        });
    }
    Ok((model, report))
}

/// Share of `demos`' rows whose most probable action under `model` is the demonstrated one.
pub fn agreement<B: TrainBackend>(model: &ActorCritic<B>, demos: &Demonstrations) -> f64 {
    let policy = model.to_inference();
    let dim = demos.obs_dim;
    let agree = (0..demos.len())
        .filter(|&k| greedy(&policy.logits(&demos.obs[k * dim..(k + 1) * dim])) == demos.actions[k])
        .count();
    agree as f64 / demos.len() as f64
}
