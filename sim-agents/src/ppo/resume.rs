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
use sim_core::runner::RunnerSnapshot;

use super::fused::{FusedLearner, FusedState};
use super::{Multiplier, Optimiser, PpoConfig, Trainer};
use crate::backend::TrainBackend;
use crate::checkpoint::{pack, unpack, write_atomic};
use crate::error::{TrainError, in_state};
use crate::penalty::Penalty;
use crate::source::{DeviceState, SourceState};

/// Everything of a trainer that is not burn tensors, for checkpoints.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct TrainerState<E: Environment> {
    seed: u64,
    update: usize,
    global_step: u64,
    /// The host loop's runner and observations (as checkpoints before the device loop wrote
    /// them: bare, not as `Some(..)`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "bare")]
    runner: Option<RunnerSnapshot<E>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    obs: Vec<f32>,
    /// The device loop's environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<DeviceState<E>>,
    shuffle: ChaCha8Rng,
    recent_returns: VecDeque<f64>,
    multiplier: Multiplier,
    running_cost: Vec<f64>,
    config: PpoConfig,
}

/// An `Option` field written as its value alone (and left out when `None`).
mod bare {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        value.as_ref().expect("skipped when None").serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        T::deserialize(d).map(Some)
    }
}

impl<E: Environment, B: TrainBackend> Trainer<E, B> {
    /// Writes a checkpoint of everything needed to continue exactly (model, optimiser, runner,
    /// observations, every generator's state, counters, penalty state) to `path`, atomically.
    pub fn save_checkpoint(&self, path: &std::path::Path) -> Result<(), TrainError> {
        let Some(source) = self.source.as_ref() else {
            return Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                message: "a population's run is checkpointed by its population (Population::save_checkpoints)".into(),
            });
        };
        self.write_checkpoint(path, source.snapshot())
    }

    /// [`Trainer::save_checkpoint`] with the environments' state `source` (a population's run
    /// gets its share of the population's environments).
    pub(crate) fn write_checkpoint(&self, path: &std::path::Path, source: SourceState<E>) -> Result<(), TrainError> {
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model =
            Recorder::<B>::record(&recorder, self.model.clone().into_record(), ()).map_err(in_state(path, ""))?;
        let (optim, cost_optim) = self.optimiser.burn_records();
        let optim = Recorder::<B>::record(&recorder, optim, ()).map_err(in_state(path, ""))?;
        let cost_optim = Recorder::<B>::record(&recorder, cost_optim, ()).map_err(in_state(path, ""))?;
        let (runner, obs, device) = match source {
            SourceState::Host { runner, obs } => (Some(runner), obs, None),
            SourceState::Device(device) => (None, Vec::new(), Some(device)),
        };
        let state = TrainerState::<E> {
            seed: self.seed,
            update: self.update,
            global_step: self.global_step,
            runner,
            obs,
            device,
            shuffle: self.shuffle.clone(),
            recent_returns: self.recent_returns.clone(),
            multiplier: self.multiplier.clone(),
            running_cost: self.running_cost.clone(),
            config: self.config.clone(),
        };
        let state = ron::to_string(&state).map_err(in_state(path, ""))?;
        let penalty = self.penalty.snapshot().map_err(in_state(path, "penalty"))?;
        let fused = match &self.optimiser {
            Optimiser::Fused(f) => Some(f.state()),
            Optimiser::Burn { .. } => None,
        };
        let fused = ron::to_string(&fused).map_err(in_state(path, ""))?;
        write_atomic(path, &pack(&[&model, &optim, &cost_optim, state.as_bytes(), &penalty, fused.as_bytes()]))
    }

    /// A trainer on the host loop continuing exactly where the checkpoint at `path` left off.
    /// `env_params`, `config`, `seed` and `penalty` must be those of the original run: a
    /// checkpoint written by another configuration or seed is refused.
    pub fn resume(
        path: &std::path::Path,
        env_params: E::Params,
        config: &PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        Trainer::new(env_params, config.clone(), seed, penalty, device)?.continue_from(path)
    }

    /// [`Trainer::resume`] from a checkpoint's bytes (`path` names it in errors).
    pub fn resume_from_bytes(
        path: &std::path::Path,
        bytes: &[u8],
        env_params: E::Params,
        config: &PpoConfig,
        seed: u64,
        penalty: Option<Box<dyn Penalty<E>>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        Trainer::new(env_params, config.clone(), seed, penalty, device)?.continue_from_bytes(path, bytes)
    }

    /// This new trainer (host or device loop) continuing exactly where the checkpoint at `path`
    /// left off; the checkpoint must have been written by a trainer of the same loop,
    /// configuration, seed and penalty.
    pub fn continue_from(self, path: &std::path::Path) -> Result<Self, TrainError> {
        let bytes = std::fs::read(path)
            .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        self.continue_from_bytes(path, &bytes)
    }

    /// [`Trainer::continue_from`] on a checkpoint's bytes (`path` names it in errors). Damaged
    /// bytes give an error naming the file, never a panic: the container's checksum is checked
    /// before any section is decoded, and the trainer's sizes come from its configuration, not
    /// from the bytes. A file crafted to pass the checksum is trusted (burn's record reader
    /// panics on bad bytes).
    pub fn continue_from_bytes(self, path: &std::path::Path, bytes: &[u8]) -> Result<Self, TrainError> {
        let err = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
        let (mut trainer, source) = self.read_checkpoint(path, bytes)?;
        let Some(own) = trainer.source.as_mut() else {
            return Err(err("a population's run continues with its population (Population::continue_from)".into()));
        };
        own.restore(source).map_err(in_state(path, ""))?;
        Ok(trainer)
    }

    /// [`Trainer::continue_from_bytes`] but for the environments, whose state it returns (a
    /// population restores its runs' environments together).
    pub(crate) fn read_checkpoint(
        mut self,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<(Self, SourceState<E>), TrainError> {
        let err = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
        if self.update != 0 {
            return Err(err("can only be continued by a trainer that has not trained yet".into()));
        }
        let mut sections = unpack(path, bytes)?;
        // Checkpoints from before the hand-written update have no sixth section.
        if sections.len() == 5 {
            sections.push(b"None".to_vec());
        }
        let [model, optim, cost_optim, state, penalty_state, fused_state] =
            <[Vec<u8>; 6]>::try_from(sections).map_err(|_| err("expected 6 sections".into()))?;
        let state = std::str::from_utf8(&state).map_err(in_state(path, ""))?;
        let state: TrainerState<E> = ron::from_str(state).map_err(in_state(path, "trainer state"))?;
        if state.config != self.config || state.seed != self.seed {
            return Err(err("was written by another configuration or seed".into()));
        }
        let source = match (state.runner, state.device) {
            (Some(runner), None) => SourceState::Host { runner, obs: state.obs },
            (None, Some(device)) => SourceState::Device(device),
            _ => return Err(err("trainer state: expected the environments of one loop".into())),
        };
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model_record = Recorder::<B>::load(&recorder, model, &self.device).map_err(in_state(path, "model"))?;
        let optim_record = Recorder::<B>::load(&recorder, optim, &self.device).map_err(in_state(path, "optimizer"))?;
        let cost_optim_record =
            Recorder::<B>::load(&recorder, cost_optim, &self.device).map_err(in_state(path, "cost optimizer"))?;
        self.model = self.model.load_record(model_record);
        let fused_state = std::str::from_utf8(&fused_state).map_err(in_state(path, ""))?;
        let fused_state: Option<FusedState> =
            ron::from_str(fused_state).map_err(in_state(path, "fused optimiser state"))?;
        match (&mut self.optimiser, fused_state) {
            (Optimiser::Fused(fused), Some(s)) => {
                let (actor, critic, cost) = self.model.to_dense();
                **fused = FusedLearner::new(actor, critic, cost);
                fused.restore(s).map_err(in_state(path, "fused optimiser state"))?;
            }
            (Optimiser::Burn { optim, cost }, None) => {
                *optim = optim.clone().load_record(optim_record);
                *cost = cost.clone().load_record(cost_optim_record);
            }
            (Optimiser::Fused(_), None) => {
                return Err(err("has no state of the hand-written update this run uses".into()));
            }
            (Optimiser::Burn { .. }, Some(_)) => {
                return Err(err("holds the hand-written update's state, but this run uses burn's".into()));
            }
        }
        self.policy = self.model.to_inference().with_mask(self.mask.clone());
        self.shuffle = state.shuffle;
        self.recent_returns = state.recent_returns;
        self.multiplier = state.multiplier;
        self.running_cost = state.running_cost;
        self.penalty.restore(&penalty_state).map_err(in_state(path, "penalty"))?;
        self.update = state.update;
        self.global_step = state.global_step;
        self.lift_mask_if_due();
        Ok((self, source))
    }
}
