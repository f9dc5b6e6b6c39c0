//! PPO's hyperparameters, read from RON. Defaults are CleanRL's `ppo.py` (classic control).

use serde::{Deserialize, Serialize};
use sim_core::env::ActionSet;
use sim_core::params::{ParamError, Validate, check_at_least, check_non_negative, check_positive, check_range};

use crate::algorithms::Algorithm;
use crate::inference::MAX_WIDTH;
use crate::penalty::PenaltyConfig;
use crate::policy::PolicyConfig;

/// PPO's hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Environment steps to train for, over all environments.
    pub total_timesteps: u64,
    /// Environments stepped together.
    pub num_envs: usize,
    /// Steps per environment per rollout (the rollout holds `num_envs * num_steps` samples).
    pub num_steps: usize,
    /// Adam's learning rate (at the start, when annealed).
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to zero over training.
    pub anneal_lr: bool,
    /// Discount factor.
    pub gamma: f32,
    /// GAE's λ.
    pub gae_lambda: f32,
    /// Minibatches per epoch.
    pub num_minibatches: usize,
    /// Passes over each rollout.
    pub update_epochs: usize,
    /// Normalise advantages within each minibatch (not for GRPO and RLOO, whose advantages are
    /// already compared within groups).
    pub norm_adv: bool,
    /// Surrogate clipping coefficient.
    pub clip_coef: f32,
    /// Clip the value loss around the old values, as PPO's reference implementation does.
    pub clip_vloss: bool,
    /// Entropy bonus coefficient.
    pub ent_coef: f32,
    /// Value loss coefficient.
    pub vf_coef: f32,
    /// Global gradient norm clip.
    pub max_grad_norm: f32,
    /// Stop an update's epochs early when the approximate KL exceeds this (none: never).
    pub target_kl: Option<f32>,
    /// The network.
    pub policy: PolicyConfig,
    /// How the safety channel enters training (task reward only by default).
    pub penalty: PenaltyConfig,
    /// A cost constraint enforced with a Lagrange multiplier (PPO-Lagrangian); needs
    /// `penalty: CostSignal`.
    pub lagrangian: Option<LagrangianConfig>,
    /// The actions the policy may take: `All`, or `Legitimate` for an honest-constrained agent
    /// (the others get zero probability in sampling, the greedy choice, log-probabilities and
    /// the entropy).
    pub actions: ActionSet,
    /// Lift the restriction of `actions` after this many environment steps: an agent trained
    /// honest, then free to violate (the experiment closest to the incident). `None`: never.
    pub lift_mask_at: Option<u64>,
    /// Which implementation runs the PPO update.
    pub kernel: Kernel,
    /// The algorithm: PPO, or another objective run by the same trainer
    /// ([`crate::algorithms`]).
    pub algorithm: Algorithm,
}

/// Which implementation runs the PPO update ([`super::Trainer`], on either loop). The two
/// compute the same loss, gradients, clipping and Adam steps, but sum in different orders (the
/// hand-written one with fused multiply-adds), so they agree to float rounding, not bit for
/// bit: a run's weights checksum, and every number downstream of it, depends on the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kernel {
    /// `Fused` when training on the CPU backend, `Burn` on any other.
    #[default]
    Auto,
    /// burn's autodiff and optimiser on the training backend.
    Burn,
    /// The update written out by hand for the CPU (the `fused` module): the same on every
    /// host whatever its vector width; measured 1.5–1.8× burn's samples/s end to end on
    /// CartPole, an update 1.1–1.4× faster than burn's on ToyCloud (`benches/README.md`).
    Fused,
    /// burn's autodiff over a population's stacked weights (`[R, in, out]`), every run's
    /// minibatch in one forward, backward and Adam step, with per-run hyperparameters as
    /// tensors (the `batched` module); a run alone is a population of one. For GPUs, where R
    /// runs then launch the kernels of one. Its runs must share epochs, minibatches and value
    /// clipping, and it has no early stopping on the KL.
    Batched,
}

/// PPO-Lagrangian: maximise reward subject to `mean episode cost <= cost_limit`, as OmniSafe's
/// `PPOLag` does it (see [`super::Multiplier`] and the `lagrange` module's list of deviations).
///
/// The multiplier takes one Adam step per rollout on `−λ (J_c − cost_limit)`, where `J_c` is
/// the mean cost of the episodes that ended in the rollout, and is projected onto `[0, ∞)`; the
/// policy ascends `(A_r − λ A_c) / (1 + λ)` over advantages normalised over the rollout (reward
/// standardised, cost centred), and a cost critic with its own optimiser learns `A_c`. The
/// defaults are OmniSafe's (`lagrangian_multiplier_init` 0.001, `lambda_lr` 0.035).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LagrangianConfig {
    /// Largest acceptable mean episode cost.
    pub cost_limit: f32,
    /// The multiplier's starting value.
    pub lambda_init: f32,
    /// The multiplier's Adam learning rate (about how far λ moves per rollout).
    pub lambda_lr: f32,
}

impl Default for LagrangianConfig {
    fn default() -> Self {
        LagrangianConfig { cost_limit: 1.0, lambda_init: 0.001, lambda_lr: 0.035 }
    }
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            total_timesteps: 500_000,
            num_envs: 4,
            num_steps: 128,
            learning_rate: 2.5e-4,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            policy: PolicyConfig::default(),
            penalty: PenaltyConfig::TaskOnly,
            lagrangian: None,
            actions: ActionSet::All,
            lift_mask_at: None,
            kernel: Kernel::Auto,
            algorithm: Algorithm::Ppo,
        }
    }
}

impl PpoConfig {
    /// Samples per rollout.
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.num_steps
    }

    /// Samples per minibatch.
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches
    }

    /// Updates in the whole run.
    pub fn num_updates(&self) -> usize {
        (self.total_timesteps / self.batch_size() as u64) as usize
    }

    /// The learning rate of update `update` (1-based): annealed linearly from `learning_rate`
    /// towards 0 over the run when `anneal_lr` is set, as CleanRL does.
    pub fn learning_rate_at(&self, update: usize) -> f64 {
        let frac = 1.0 - (update - 1) as f64 / self.num_updates() as f64;
        if self.anneal_lr { frac * self.learning_rate } else { self.learning_rate }
    }
}

impl Validate for PpoConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("num_envs", self.num_envs as u64, 1)?;
        check_at_least("num_steps", self.num_steps as u64, 1)?;
        check_at_least("num_minibatches", self.num_minibatches as u64, 1)?;
        check_at_least("update_epochs", self.update_epochs as u64, 1)?;
        if !self.batch_size().is_multiple_of(self.num_minibatches) {
            return Err(ParamError {
                field: "num_minibatches".into(),
                value: self.num_minibatches.to_string(),
                expected: format!("a divisor of num_envs * num_steps ({})", self.batch_size()),
            });
        }
        if self.total_timesteps < self.batch_size() as u64 {
            return Err(ParamError {
                field: "total_timesteps".into(),
                value: self.total_timesteps.to_string(),
                expected: format!("at least one rollout (num_envs * num_steps = {})", self.batch_size()),
            });
        }
        check_positive("learning_rate", self.learning_rate)?;
        check_range("gamma", self.gamma, 0.0, 1.0, "a discount in [0, 1]")?;
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0, "a value in [0, 1]")?;
        check_positive("clip_coef", self.clip_coef)?;
        check_non_negative("ent_coef", self.ent_coef)?;
        check_non_negative("vf_coef", self.vf_coef)?;
        check_positive("max_grad_norm", self.max_grad_norm)?;
        if let Some(kl) = self.target_kl {
            check_positive("target_kl", kl)?;
            if self.kernel == Kernel::Batched {
                return Err(ParamError {
                    field: "target_kl".into(),
                    value: kl.to_string(),
                    expected: "none with kernel: Batched (it steps a population's runs together, so no run's epochs \
                               may stop early)"
                        .into(),
                });
            }
        }
        if self.policy.hidden.is_empty() || self.policy.hidden.iter().any(|&w| w == 0 || w > MAX_WIDTH) {
            return Err(ParamError {
                field: "policy.hidden".into(),
                value: format!("{:?}", self.policy.hidden),
                expected: format!("at least one layer, each 1 to {MAX_WIDTH} wide"),
            });
        }
        for (name, &logit) in &self.policy.initial_logits {
            check_range(&format!("policy.initial_logits.{name}"), logit, -20.0, 20.0, "a logit in [-20, 20]")?;
        }
        self.penalty.validate()?;
        self.algorithm.validate(self.num_envs)?;
        if self.algorithm.group_size().is_some() && self.lagrangian.is_some() {
            return Err(ParamError::new(
                "lagrangian",
                "a constraint",
                format!("none with {:?}: an episodic algorithm has no cost critic", self.algorithm),
            ));
        }
        if self.lift_mask_at.is_some() && self.actions == ActionSet::All {
            return Err(ParamError::new(
                "lift_mask_at",
                format!("{:?}", self.lift_mask_at),
                "unset unless `actions` restricts the policy (Legitimate)",
            ));
        }
        if let Some(l) = &self.lagrangian {
            check_non_negative("lagrangian.cost_limit", l.cost_limit)?;
            check_non_negative("lagrangian.lambda_init", l.lambda_init)?;
            check_non_negative("lagrangian.lambda_lr", l.lambda_lr)?;
            if self.penalty != PenaltyConfig::CostSignal {
                return Err(ParamError {
                    field: "penalty".into(),
                    value: format!("{:?}", self.penalty),
                    expected: "CostSignal when a lagrangian constraint is set".into(),
                });
            }
        }
        Ok(())
    }
}
