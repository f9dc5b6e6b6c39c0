//! Errors at the trainer's edges: configuration, numerical failure, checkpoints.

use std::path::PathBuf;

/// Why training stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A parameter is out of range.
    #[error("invalid configuration: {0}")]
    Params(#[from] sim_core::params::ParamError),
    /// A configured action name is not an action of the environment.
    #[error("{field} names `{name}`, which is not an action of {env} (actions: {known})")]
    UnknownAction {
        /// The configuration field (`policy.initial_logits`, `penalty.noop`).
        field: &'static str,
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
    /// A checkpoint's section could not be encoded, or does not fit this run.
    #[error("checkpoint {path}: {}{source}", prefix(part))]
    State {
        /// The file.
        path: PathBuf,
        /// The section (`model`, `penalty`, ...), or empty for the environments.
        part: &'static str,
        /// What went wrong.
        source: Box<StateError>,
    },
}

fn prefix(part: &str) -> String {
    if part.is_empty() { String::new() } else { format!("{part}: ") }
}

/// Why a saved state (a rollout source's environments, an optimiser's moments, a penalty's own
/// state) cannot be written or restored. [`TrainError::State`] names the checkpoint around it.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Environments saved on one rollout loop, restored on the other.
    #[error("holds a {found} loop's environments, not the {expected} loop's")]
    WrongLoop {
        /// The loop that saved them.
        found: &'static str,
        /// The loop restoring them.
        expected: &'static str,
    },
    /// A part of the state has other sizes than this configuration gives it.
    #[error("{what} does not match the configuration")]
    Mismatch {
        /// The part (`observation buffer`, `its environments`).
        what: &'static str,
    },
    /// A population restores as many runs as it has.
    #[error("{found} runs' environments for a population of {expected}")]
    Runs {
        /// Runs saved.
        found: usize,
        /// Runs in the population.
        expected: usize,
    },
    /// A population's runs were saved at different steps.
    #[error("runs were checkpointed at different steps ({other} and {first})")]
    Steps {
        /// The first run's step.
        first: u32,
        /// Another run's.
        other: u32,
    },
    /// An optimiser's moments have other shapes than the network's parameters.
    #[error("optimiser state of shapes {found:?}, expected {expected:?}")]
    Shapes {
        /// The saved moments' lengths per layer (first and second moments of the weight, then of the bias).
        found: Vec<[usize; 4]>,
        /// This network's.
        expected: Vec<[usize; 4]>,
    },
    /// A state container holds another number of sections.
    #[error("expected {expected} sections")]
    Sections {
        /// Sections expected.
        expected: usize,
    },
    /// The environments' parameters refused the saved runner.
    #[error(transparent)]
    Params(#[from] sim_core::params::ParamError),
    /// A burn record (weights, optimiser) could not be encoded or decoded.
    #[error(transparent)]
    Record(#[from] burn::record::RecorderError),
    /// A RON section could not be written.
    #[error(transparent)]
    Write(#[from] ron::Error),
    /// A RON section could not be read.
    #[error(transparent)]
    Read(#[from] ron::error::SpannedError),
    /// A text section is not UTF-8.
    #[error(transparent)]
    Utf8(#[from] std::str::Utf8Error),
    /// A nested container is damaged.
    #[error(transparent)]
    Container(#[from] Box<TrainError>),
}

/// [`TrainError::State`] for the section `part` (empty: the environments) of the checkpoint at
/// `path`, as a `map_err` argument.
pub(crate) fn in_state<'a, E: Into<StateError>>(
    path: &'a std::path::Path,
    part: &'static str,
) -> impl FnOnce(E) -> TrainError + 'a {
    move |e| TrainError::State { path: path.to_path_buf(), part, source: Box::new(e.into()) }
}
