//! Checkpoints of the host trainer: everything needed to continue exactly (model, optimisers,
//! runner, observations, every generator's state, counters, penalty state), written atomically
//! in the container of [`crate::checkpoint`], and read back against the run's configuration.

use std::collections::VecDeque;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::runner::{BatchRunner, RunnerSnapshot};

use super::fused::{FusedLearner, FusedState};
use super::{Multiplier, PpoConfig, Trainer};
use crate::backend::TrainBackend;
use crate::checkpoint::{pack, unpack, write_atomic};
use crate::error::TrainError;
use crate::penalty::Penalty;

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

impl<E: Environment, B: TrainBackend> Trainer<E, B> {
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
        let fused = ron::to_string(&self.fused.as_ref().map(|f| f.state())).map_err(|e| err(e.to_string()))?;
        write_atomic(path, &pack(&[&model, &optim, &cost_optim, state.as_bytes(), &penalty, fused.as_bytes()]))
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

    /// [`Trainer::resume`] from a checkpoint's bytes (`path` names it in errors). Damaged bytes
    /// give an error naming the file, never a panic: the container's checksum is checked before
    /// any section is decoded, and the trainer's sizes come from `config`, not from the bytes. A
    /// file crafted to pass the checksum is trusted (burn's record reader panics on bad bytes).
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
        let mut sections = unpack(path, bytes)?;
        // Checkpoints from before the hand-written update have no sixth section.
        if sections.len() == 5 {
            sections.push(b"None".to_vec());
        }
        let [model, optim, cost_optim, state, penalty_state, fused_state] =
            <[Vec<u8>; 6]>::try_from(sections).map_err(|_| err("expected 6 sections".into()))?;
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
        let fused_state = std::str::from_utf8(&fused_state).map_err(|e| err(e.to_string()))?;
        let fused_state: Option<FusedState> =
            ron::from_str(fused_state).map_err(|e| err(format!("fused optimiser state: {e}")))?;
        match (trainer.fused.as_mut(), fused_state) {
            (Some(fused), Some(s)) => {
                let (actor, critic, cost) = trainer.model.to_dense();
                **fused = FusedLearner::new(actor, critic, cost);
                fused.restore(s).map_err(|e| err(format!("fused optimiser state: {e}")))?;
            }
            (None, None) => {}
            (Some(_), None) => return Err(err("has no state of the hand-written update this run uses".into())),
            (None, Some(_)) => {
                return Err(err("holds the hand-written update's state, but this run uses burn's".into()));
            }
        }
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
