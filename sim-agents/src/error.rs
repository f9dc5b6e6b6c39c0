//! Errors at the trainer's edges: configuration, numerical failure, checkpoints.

use std::path::PathBuf;

/// Why training stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A parameter is out of range.
    #[error("invalid configuration: {0}")]
    Params(#[from] sim_core::params::ParamError),
    /// A configured action name is not an action of the environment.
    #[error("policy.initial_logits names `{name}`, which is not an action of {env} (actions: {known})")]
    UnknownAction {
        /// The name given.
        name: String,
        /// The environment.
        env: &'static str,
        /// Its action names.
        known: String,
    },
    /// A loss term became NaN or infinite; nothing of this update was applied or saved.
    #[error(
        "non-finite {term} ({value}) at update {update}, epoch {epoch}, minibatch {minibatch}; the last checkpoint is untouched"
    )]
    NonFiniteLoss {
        /// 1-based update.
        update: usize,
        /// 0-based epoch.
        epoch: usize,
        /// 0-based minibatch.
        minibatch: usize,
        /// Which loss term (`policy_loss`, `value_loss`, `entropy`, `cost_value_loss`, `grad_norm`).
        term: &'static str,
        /// Its value.
        value: f32,
    },
    /// A reward, cost or observation from the rollout is NaN or infinite.
    #[error("non-finite {what} ({value}) in the rollout of update {update} at step {step}, environment {env}")]
    NonFiniteRollout {
        /// 1-based update.
        update: usize,
        /// `reward`, `cost` or `observation`.
        what: &'static str,
        /// Step within the rollout.
        step: usize,
        /// Environment slot.
        env: usize,
        /// The value.
        value: f32,
    },
    /// The configuration asks for something this trainer does not do.
    #[error("{trainer} does not support {what}")]
    Unsupported {
        /// The trainer.
        trainer: &'static str,
        /// What was asked for.
        what: String,
    },
    /// One run of a population failed; `seed` names the run.
    #[error("the run with seed {seed}: {source}")]
    InRun {
        /// The run's seed.
        seed: u64,
        /// What went wrong.
        source: Box<TrainError>,
    },
    /// Reading or writing a checkpoint failed.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
