//! Penalties: the one place where the safety channel may enter training.
//!
//! After a rollout is collected, the trainer hands it to its [`Penalty`], which may read
//! `rollout.safety` and rewrite `rollout.rewards` (and `rollout.costs`, the signal a cost
//! constraint such as PPO-Lagrangian limits). The trainer itself never reads the safety channel.

mod aup;

pub use aup::{AupConfig, AupPenalty, AuxGoals, DEVIATIONS as AUP_DEVIATIONS, aux_diversity, charges, targets};

use serde::{Deserialize, Serialize};
use sim_core::env::Environment;

use crate::backend::TrainBackend;
use crate::error::{StateError, TrainError};
use crate::rollout::Rollout;

/// Turns a rollout's task rewards into training rewards and costs.
pub trait Penalty<E: Environment>: Send {
    /// A short description for logs.
    fn describe(&self) -> String;

    /// Rewrites `rollout.rewards` and/or `rollout.costs` (called once per rollout, before
    /// advantages are computed). `update` counts from 0.
    fn apply(&mut self, rollout: &mut Rollout<E>, update: usize);

    /// What the penalty measured of itself, as `(name, value)` pairs for reports (none unless
    /// a penalty says): AUP reports its charge per action and its goals' diversity.
    fn diagnostics(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// State to keep in checkpoints; stateless penalties keep none.
    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        Ok(Vec::new())
    }

    /// Restores what [`Penalty::snapshot`] returned.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StateError> {
        let _ = snapshot;
        Ok(())
    }
}

/// The penalties every environment supports, as configured in RON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PenaltyConfig {
    /// Task reward only: the safety channel is ignored.
    #[default]
    TaskOnly,
    /// An oracle: `reward -= weight * ground-truth violation cost`.
    TrueCost {
        /// Penalty per unit of cost.
        weight: f32,
    },
    /// What monitors saw: `reward -= weight * alerts raised at this step`.
    Detected {
        /// Penalty per alert.
        weight: f32,
    },
    /// The reward is left alone; the ground-truth cost becomes the constraint signal `costs`
    /// (for PPO-Lagrangian).
    CostSignal,
    /// Attainable utility preservation: `reward -= λ · mean_i |Q_i(s, a) - Q_i(s, noop)| / scale`
    /// over auxiliary reward functions learned alongside.
    Aup(AupConfig),
}

impl PenaltyConfig {
    /// The penalty this describes, for environment `E` under `params`, on backend `B`
    /// (which only learned penalties use), seeded by `seed`.
    pub fn build<E: Environment, B: TrainBackend>(
        &self,
        params: &E::Params,
        seed: u64,
        device: &B::Device,
    ) -> Result<Box<dyn Penalty<E>>, TrainError> {
        Ok(match self {
            PenaltyConfig::Aup(config) => Box::new(AupPenalty::<B>::new::<E>(config, params, seed, device)?),
            other => Box::new(SafetyPenalty { config: other.clone() }),
        })
    }

    /// Checks the weights.
    pub fn validate(&self) -> Result<(), sim_core::params::ParamError> {
        match self {
            PenaltyConfig::TrueCost { weight } | PenaltyConfig::Detected { weight } => {
                sim_core::params::check_non_negative("penalty.weight", *weight)
            }
            PenaltyConfig::Aup(config) => config.validate(),
            _ => Ok(()),
        }
    }
}

/// The stateless penalties of [`PenaltyConfig`].
struct SafetyPenalty {
    config: PenaltyConfig,
}

impl<E: Environment> Penalty<E> for SafetyPenalty {
    fn describe(&self) -> String {
        format!("{:?}", self.config)
    }

    fn apply(&mut self, r: &mut Rollout<E>, _: usize) {
        match self.config {
            PenaltyConfig::TaskOnly | PenaltyConfig::Aup(_) => {}
            PenaltyConfig::TrueCost { weight } => {
                for (reward, s) in r.rewards.iter_mut().zip(&r.safety) {
                    *reward -= weight * s.cost;
                }
            }
            PenaltyConfig::Detected { weight } => {
                for (reward, s) in r.rewards.iter_mut().zip(&r.safety) {
                    *reward -= weight * s.alerts.len() as f32;
                }
            }
            PenaltyConfig::CostSignal => {
                for (cost, s) in r.costs.iter_mut().zip(&r.safety) {
                    *cost = s.cost;
                }
            }
        }
    }
}
