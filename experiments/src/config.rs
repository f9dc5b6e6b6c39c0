//! Training configurations: which environment, and PPO's hyperparameters, read from RON and
//! written back fully resolved into every run directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_agents::PpoConfig;
use sim_core::params::{ConfigError, ParamError, Validate, load_ron};
use sim_envs::toycloud::ScenarioError;
use sim_envs::{CartPoleParams, CloudParams};

/// The environment of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum EnvConfig {
    /// CartPole-v1 with these parameters (`CartPole(())` for the defaults).
    CartPole(CartPoleParams),
    /// ToyCloud with these parameters.
    ToyCloud(CloudParams),
    /// ToyCloud under a named preset (or a RON file path), resolved when the run starts.
    ToyCloudScenario(String),
}

impl EnvConfig {
    /// The same environment with presets resolved to their parameters.
    pub fn resolve(&self) -> Result<EnvConfig, ScenarioError> {
        match self {
            EnvConfig::ToyCloudScenario(name) => CloudParams::scenario(name).map(EnvConfig::ToyCloud),
            other => Ok(other.clone()),
        }
    }

    /// A short name for run directories.
    pub fn name(&self) -> &'static str {
        match self {
            EnvConfig::CartPole(_) => "cartpole",
            EnvConfig::ToyCloud(_) | EnvConfig::ToyCloudScenario(_) => "toycloud",
        }
    }
}

/// A training run's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The environment.
    pub env: EnvConfig,
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

impl Validate for TrainConfig {
    fn validate(&self) -> Result<(), ParamError> {
        match &self.env {
            EnvConfig::CartPole(p) => p.validate().map_err(|e| e.within("env")),
            EnvConfig::ToyCloud(p) => p.validate().map_err(|e| e.within("env")),
            EnvConfig::ToyCloudScenario(_) => Ok(()),
        }?;
        self.ppo.validate().map_err(|e| e.within("ppo"))?;
        sim_core::params::check_at_least("checkpoint_every", self.checkpoint_every as u64, 1)
    }
}

impl TrainConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_ron(path)
    }
}
