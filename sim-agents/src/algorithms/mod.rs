//! The algorithms a [`crate::Trainer`] runs, each an [`Objective`]: its advantages and its loss,
//! nothing else (the rollouts, minibatches, clipping and Adam steps are the trainer's).
//!
//! - [`Algorithm::Ppo`]: PPO ([`crate::ppo::Ppo`]), the default.
//! - [`Algorithm::PpoKl`]: PPO with a per-step KL penalty to a reference policy in the reward
//!   (the RLHF form; [`ppo_kl`]).
//! - [`Algorithm::Reinforce`]: REINFORCE with a learned baseline ([`reinforce`]).
//! - [`Algorithm::Grpo`] and [`Algorithm::Rloo`]: outcome-reward algorithms without a critic
//!   ([`group`]): groups of episodes from the same start, each episode's return compared with
//!   its group's, PPO's clipped ratio per step and a KL term to the reference (the k3
//!   estimator, [`k3`]).
//!
//! Any of them may carry a behaviour-cloning term on clean demonstrations ("golden
//! trajectories in RL", [`golden`]; [`crate::Trainer::with_demonstrations`]).
//!
//! The reference is the policy the run started from, frozen (unmasked): a fresh network, or a
//! pretrained one given to [`crate::Trainer::with_initial_policy`]. A loss's KL term reads it on
//! the training device ([`GroupObjective`]), PPO-KL's reward shaping on the host ([`PpoKl`]).

pub mod golden;
pub mod group;
pub mod ppo_kl;
pub mod reinforce;

use serde::{Deserialize, Serialize};
use sim_core::params::{ParamError, check_at_least, check_non_negative};

use crate::backend::TrainBackend;
use crate::policy::ActorCritic;
use crate::ppo::{Objective, Ppo};

pub use golden::WithDemonstrations;
pub use group::{Baseline, GroupObjective, STD_EPS, group_advantages, outcome_returns};
pub use ppo_kl::PpoKl;
pub use reinforce::Reinforce;

/// Which algorithm a run trains with (`algorithm:` in a run's `ppo:` block).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Algorithm {
    /// PPO: GAE and the clipped surrogate.
    #[default]
    Ppo,
    /// PPO with `beta * (log π(a|s) - log π_ref(a|s))` subtracted from every step's reward.
    PpoKl {
        /// The KL coefficient β.
        beta: f32,
    },
    /// REINFORCE with a learned baseline: the return to go minus the critic's value.
    Reinforce,
    /// GRPO (Shao et al. 2024): the episode's return standardised within its group of
    /// `group_size` episodes from the same start.
    Grpo {
        /// Episodes per group, G (at least 2; `num_envs` must be a multiple of it).
        group_size: usize,
        /// The coefficient β of the k3 KL term to the reference.
        beta: f32,
    },
    /// RLOO (Ahmadian et al. 2024): the episode's return minus the mean of the other
    /// `group_size - 1` episodes of its group.
    Rloo {
        /// Episodes per group, G (at least 2; `num_envs` must be a multiple of it).
        group_size: usize,
        /// The coefficient β of the k3 KL term to the reference.
        beta: f32,
    },
}

impl Algorithm {
    /// The episodes per group when rollouts are episodic (GRPO and RLOO): each rollout then
    /// restarts every environment, the slots of each group from the same state, and scores
    /// each slot's first episode by its outcome; the steps a slot takes after that episode ends
    /// are not learned from. `None` for the others, whose rollouts run on across updates.
    pub fn group_size(&self) -> Option<usize> {
        match *self {
            Algorithm::Grpo { group_size, .. } | Algorithm::Rloo { group_size, .. } => Some(group_size),
            Algorithm::Ppo | Algorithm::PpoKl { .. } | Algorithm::Reinforce => None,
        }
    }

    /// A short name without its settings (`ppo`, `ppo_kl`, `reinforce`, `grpo`, `rloo`): what
    /// tables group runs by when they compare KL coefficients.
    pub fn kind(&self) -> &'static str {
        match self {
            Algorithm::Ppo => "ppo",
            Algorithm::PpoKl { .. } => "ppo_kl",
            Algorithm::Reinforce => "reinforce",
            Algorithm::Grpo { .. } => "grpo",
            Algorithm::Rloo { .. } => "rloo",
        }
    }

    /// The KL coefficient β to the reference (0 for the algorithms without a KL term).
    pub fn kl_beta(&self) -> f32 {
        match *self {
            Algorithm::PpoKl { beta } | Algorithm::Grpo { beta, .. } | Algorithm::Rloo { beta, .. } => beta,
            Algorithm::Ppo | Algorithm::Reinforce => 0.0,
        }
    }

    /// The same algorithm with KL coefficient `beta` (unchanged for those without a KL term).
    pub fn with_kl_beta(&self, beta: f32) -> Algorithm {
        match self.clone() {
            Algorithm::PpoKl { .. } => Algorithm::PpoKl { beta },
            Algorithm::Grpo { group_size, .. } => Algorithm::Grpo { group_size, beta },
            Algorithm::Rloo { group_size, .. } => Algorithm::Rloo { group_size, beta },
            other => other,
        }
    }

    /// Checks the algorithm's own settings against the run's `num_envs`.
    pub fn validate(&self, num_envs: usize) -> Result<(), ParamError> {
        match *self {
            Algorithm::Ppo | Algorithm::Reinforce => Ok(()),
            Algorithm::PpoKl { beta } => check_non_negative("algorithm.beta", beta),
            Algorithm::Grpo { group_size, beta } | Algorithm::Rloo { group_size, beta } => {
                check_non_negative("algorithm.beta", beta)?;
                check_at_least("algorithm.group_size", group_size as u64, 2)?;
                if !num_envs.is_multiple_of(group_size) {
                    return Err(ParamError::new(
                        "algorithm.group_size",
                        group_size.to_string(),
                        format!("a divisor of num_envs ({num_envs}): every group fills its slots"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The objective, with `reference` (frozen as it is now) as its KL anchor where it has one.
    pub fn objective<B: TrainBackend>(&self, reference: &ActorCritic<B>) -> Box<dyn Objective<B>> {
        match *self {
            Algorithm::Ppo => Box::new(Ppo),
            Algorithm::PpoKl { beta } => Box::new(PpoKl::new(beta, reference)),
            Algorithm::Reinforce => Box::new(Reinforce),
            Algorithm::Grpo { group_size, beta } => {
                Box::new(GroupObjective::new("GRPO", Baseline::Standardised, group_size, beta, reference))
            }
            Algorithm::Rloo { group_size, beta } => {
                Box::new(GroupObjective::new("RLOO", Baseline::LeaveOneOut, group_size, beta, reference))
            }
        }
    }
}

/// The k3 estimator of KL(π ‖ π_ref) from one sampled action (Schulman 2020, "Approximating KL
/// divergence"): with `log_r = log π_ref(a|s) - log π(a|s)`, `exp(log_r) - log_r - 1`. Unbiased
/// under actions drawn from π, never negative, and low-variance where the policies are close.
pub fn k3(ref_logprob: f64, logprob: f64) -> f64 {
    let log_r = ref_logprob - logprob;
    log_r.exp() - log_r - 1.0
}
