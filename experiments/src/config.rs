//! Training configurations: which environment, and PPO's hyperparameters, read from RON and
//! written back fully resolved into every run directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_agents::PpoConfig;
use sim_core::params::{ConfigError, ParamError, Validate, load_ron};

pub use crate::registry::EnvConfig;
use crate::registry::Registry;

/// A training run's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "R: Registry")]
pub struct TrainConfig<R = EnvConfig> {
    /// The environment, one of the list `R` ([`crate::registry`]).
    pub env: R,
    /// PPO's hyperparameters (CleanRL's defaults where omitted).
    #[serde(default)]
    pub ppo: PpoConfig,
    /// Write a checkpoint every this many updates (and after the last).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
}

fn default_checkpoint_every() -> usize {
    10
}

impl<R: Registry> Validate for TrainConfig<R> {
    fn validate(&self) -> Result<(), ParamError> {
        self.env.validate().map_err(|e| e.within("env"))?;
        self.ppo.validate().map_err(|e| e.within("ppo"))?;
        sim_core::params::check_at_least("checkpoint_every", self.checkpoint_every as u64, 1)
    }
}

impl<R: Registry> TrainConfig<R> {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_ron(path)
    }
}

#[cfg(test)]
mod tests {
    use sim_agents::algorithms::Algorithm;

    use super::*;

    /// The committed CartPole config of every algorithm loads, validates and names its
    /// algorithm (their results are in the book's algorithm guide).
    #[test]
    fn every_algorithms_cartpole_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        for (file, want) in [
            ("cartpole_ppo.ron", "Ppo"),
            ("cartpole_ppo_kl.ron", "PpoKl"),
            ("cartpole_reinforce.ron", "Reinforce"),
            ("cartpole_grpo.ron", "Grpo"),
            ("cartpole_rloo.ron", "Rloo"),
        ] {
            let c = TrainConfig::<EnvConfig>::load(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(format!("{:?}", c.ppo.algorithm).starts_with(want), "{file}: {:?}", c.ppo.algorithm);
            if let Algorithm::Grpo { group_size, .. } | Algorithm::Rloo { group_size, .. } = c.ppo.algorithm {
                assert_eq!(c.ppo.num_steps, 500, "{file}: one whole CartPole episode per slot and rollout");
                assert_eq!(c.ppo.num_envs % group_size, 0);
            }
        }
    }
}
