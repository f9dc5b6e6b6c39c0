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
