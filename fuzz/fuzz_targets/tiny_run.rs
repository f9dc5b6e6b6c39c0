//! The small ToyCloud training run behind the `checkpoint` target: its checkpoint is the real one
//! the target patches, and any bytes are resumed against its configuration and seed.

use std::path::Path;

use sim_agents::PpoConfig;
use sim_agents::TrainError;
use sim_agents::backend::CpuAutodiff;
use sim_envs::{CloudParams, ToyCloud};

pub type Trainer = sim_agents::Trainer<ToyCloud, CpuAutodiff>;

const SEED: u64 = 3;

fn params() -> CloudParams {
    CloudParams::scenario("incident").expect("the incident preset")
}

fn config() -> PpoConfig {
    let mut c = PpoConfig { num_envs: 2, num_steps: 8, num_minibatches: 2, update_epochs: 1, ..PpoConfig::default() };
    c.total_timesteps = 4 * c.batch_size() as u64;
    c.policy.hidden = vec![8];
    c
}

/// The tiny run, fresh.
pub fn trainer() -> Trainer {
    Trainer::new(params(), config(), SEED, None, Default::default()).expect("the tiny run builds")
}

/// The tiny run resumed from `bytes` (named `path` in errors).
pub fn resume(path: &Path, bytes: &[u8]) -> Result<Trainer, TrainError> {
    Trainer::resume_from_bytes(path, bytes, params(), &config(), SEED, None, Default::default())
}
