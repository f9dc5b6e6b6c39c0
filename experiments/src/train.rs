//! Running a training job in a run directory: the resolved configuration, a metrics CSV, a
//! checkpoint, and resumption after a crash or a kill.
//!
//! Files in the run directory are only ever replaced atomically. The CSV is rewritten before each
//! checkpoint, so after a kill it holds at least the rows the checkpoint has; on resume it is cut
//! back to them and the run continues from the checkpoint, recomputing the same rows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sim_agents::backend::TrainBackend;
use sim_agents::{Trainer, UpdateMetrics};
use sim_core::env::Environment;
use sim_core::io::write_atomic;
use sim_core::params::parse_ron;

use crate::config::TrainConfig;
use crate::device::Loop;
use crate::error::FsError;
use crate::registry::{Registered, Registry, RegistryError, WithEnv};

/// File names inside a run directory.
pub mod files {
    /// The resolved configuration (everything needed to rerun or resume).
    pub const CONFIG: &str = "config.ron";
    /// The seed of the run.
    pub const SEED: &str = "seed.txt";
    /// One row per update, CleanRL's metric names.
    pub const METRICS: &str = "metrics.csv";
    /// The last checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.bin";
    /// Present when the run trains on the device loop (`--loop device`): `--resume` continues
    /// it there.
    pub const DEVICE_LOOP: &str = "device_loop.txt";
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] sim_core::params::ConfigError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] sim_agents::TrainError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] sim_core::io::WriteError),
    /// The environment's scenario could not be resolved.
    #[error(transparent)]
    Scenario(#[from] RegistryError),
    /// A directory could not be made or a file read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The configuration could not be written as RON.
    #[error(transparent)]
    Encode(#[from] ron::Error),
    /// `--out` already holds a run.
    #[error("{} already holds a run; use --resume {} to continue it, or choose another --out", out.display(), out.display())]
    Exists {
        /// The run directory.
        out: PathBuf,
    },
    /// `--resume` names a directory without a run.
    #[error("{}: no run to resume (no {})", out.display(), files::CONFIG)]
    NoRun {
        /// The directory.
        out: PathBuf,
    },
    /// The run's seed file is missing or not a number.
    #[error("{}: missing or unreadable seed", path.display())]
    Seed {
        /// The seed file.
        path: PathBuf,
    },
    /// The metrics file and the checkpoint disagree.
    #[error("{} has {rows} rows but the checkpoint is at update {update}", path.display())]
    Metrics {
        /// The metrics file.
        path: PathBuf,
        /// Its rows.
        rows: usize,
        /// The checkpoint's update.
        update: usize,
    },
    /// SIGTERM arrived; what was done is on disk.
    #[error("stopped by SIGTERM after update {update} of {total}; {what}")]
    Terminated {
        /// Updates done.
        update: usize,
        /// Updates in the whole run.
        total: usize,
        /// What was kept and how to continue.
        what: String,
    },
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Mean return of the last 100 finished episodes.
    pub final_return: Option<f64>,
    /// Environment steps per second over the updates this process ran.
    pub sps: f64,
    /// Checksum of the final weights.
    pub weights_checksum: String,
    /// Wall-clock seconds of this process's training loop.
    pub seconds: f64,
}

/// Starts a new run of `config` with `seed` in `out` (created if needed; it must not already
/// hold a run) on loop `on`. A run on the device loop (`Trainer::on_device`: the environments and
/// the rollout's forward pass on `device` as well as the update) is marked in `out`
/// ([`files::DEVICE_LOOP`]), and [`resume`] continues it there. An environment of the list `R`
/// without a device form is refused there before anything is written.
pub fn start<B: TrainBackend, R: Registry>(
    config: &TrainConfig<R>,
    seed: u64,
    out: &Path,
    on: Loop,
    device: B::Device,
    progress: bool,
) -> Result<TrainOutcome, RunError> {
    if out.join(files::CHECKPOINT).exists() || out.join(files::CONFIG).exists() {
        return Err(RunError::Exists { out: out.to_path_buf() });
    }
    let resolved = TrainConfig { env: config.env.resolve()?, ..config.clone() };
    if on == Loop::Device {
        resolved.env.visit(DeviceForm::<B>(std::marker::PhantomData))??;
    }
    FsError::create_dir(out)?;
    let text = ron::ser::to_string_pretty(&resolved, ron::ser::PrettyConfig::default())?;
    write_atomic(&out.join(files::CONFIG), text.as_bytes())?;
    write_atomic(&out.join(files::SEED), format!("{seed}\n").as_bytes())?;
    if on == Loop::Device {
        write_atomic(
            &out.join(files::DEVICE_LOOP),
            b"this run trains on the device loop; --resume continues it there\n",
        )?;
    }
    resolved.env.visit(Train::<B, R> { config: &resolved, seed, out, from: None, device, progress, on })?
}

/// Whether the environment has a device form for `B`.
struct DeviceForm<B>(std::marker::PhantomData<B>);

impl<B: TrainBackend> WithEnv for DeviceForm<B> {
    type Output = Result<(), sim_agents::TrainError>;
    fn run<E: Registered>(self, _: E::Params) -> Self::Output {
        Loop::device_form::<E, B>().map(drop)
    }
}

/// Continues the run in `out` from its last checkpoint; its configuration names an environment
/// of the list `R`.
pub fn resume<B: TrainBackend, R: Registry>(
    out: &Path,
    device: B::Device,
    progress: bool,
) -> Result<TrainOutcome, RunError> {
    let on = if out.join(files::DEVICE_LOOP).is_file() { Loop::Device } else { Loop::Host };
    let config_path = out.join(files::CONFIG);
    if !config_path.is_file() {
        return Err(RunError::NoRun { out: out.to_path_buf() });
    }
    let text =
        std::fs::read_to_string(&config_path).map_err(|source| FsError::Read { path: config_path.clone(), source })?;
    let config: TrainConfig<R> = parse_ron(&text, &config_path.display().to_string())?;
    let seed_path = out.join(files::SEED);
    let seed = std::fs::read_to_string(&seed_path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| RunError::Seed { path: seed_path.clone() })?;
    let checkpoint = out.join(files::CHECKPOINT);
    let from = checkpoint.is_file().then_some(checkpoint);
    config.env.visit(Train::<B, R> { config: &config, seed, out, from, device, progress, on })?
}

/// A run of the configuration's environment, new or continued from the checkpoint `from`.
struct Train<'a, B: TrainBackend, R> {
    config: &'a TrainConfig<R>,
    seed: u64,
    out: &'a Path,
    from: Option<PathBuf>,
    device: B::Device,
    progress: bool,
    on: Loop,
}

impl<B: TrainBackend, R: Registry> WithEnv for Train<'_, B, R> {
    type Output = Result<TrainOutcome, RunError>;
    fn run<E: Registered>(self, params: E::Params) -> Self::Output {
        let trainer = self.on.trainer::<E, B>(params, self.config.ppo.clone(), self.seed, self.device)?;
        run(trainer, self.config, self.out, self.from, self.progress)
    }
}

/// Trains `trainer` (new, of `config` and its seed) to the end, continuing from the checkpoint
/// `from` if given.
fn run<E: Environment, B: TrainBackend, R>(
    trainer: Trainer<E, B>,
    config: &TrainConfig<R>,
    out: &Path,
    from: Option<PathBuf>,
    progress: bool,
) -> Result<TrainOutcome, RunError> {
    let mut trainer = match &from {
        Some(path) => trainer.continue_from(path)?,
        None => trainer,
    };
    let metrics_path = out.join(files::METRICS);
    let mut rows: Vec<String> = match &from {
        Some(_) => std::fs::read_to_string(&metrics_path)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .take(trainer.updates_done())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    if rows.len() != trainer.updates_done() {
        return Err(RunError::Metrics { path: metrics_path, rows: rows.len(), update: trainer.updates_done() });
    }
    let total = trainer.num_updates();
    let bar = progress_bar(config.ppo.total_timesteps, progress);
    bar.set_position(trainer.global_step());
    bar.reset_eta();
    let start = Instant::now();
    let first_step = trainer.global_step();
    let write_csv = |rows: &[String]| write_metrics(&metrics_path, rows);
    while trainer.updates_done() < total {
        let report = trainer.train_update()?;
        rows.push(report.metrics.csv_row(&report.timings));
        bar.set_position(trainer.global_step());
        if let Some(r) = trainer.final_return() {
            bar.set_message(format!("return {r:.1}"));
        }
        let update = trainer.updates_done();
        let stop = crate::signal::terminated() && update < total;
        if update % config.checkpoint_every == 0 || update == total || stop {
            write_csv(&rows)?;
            trainer.save_checkpoint(&out.join(files::CHECKPOINT))?;
        }
        if stop {
            bar.finish_and_clear();
            return Err(RunError::Terminated {
                update,
                total,
                what: format!("checkpoint and metrics written; continue with --resume {}", out.display()),
            });
        }
    }
    write_csv(&rows)?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainOutcome {
        final_return: trainer.final_return(),
        sps: (trainer.global_step() - first_step) as f64 / seconds.max(1e-9),
        weights_checksum: trainer.weights_checksum(),
        seconds,
    })
}

/// A progress bar over `total` samples, with samples per second (hidden unless `progress`).
fn progress_bar(total: u64, progress: bool) -> ProgressBar {
    let bar = if progress { ProgressBar::new(total) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} samples ({per_sec}) {msg}",
        )
        .expect("valid template"),
    );
    bar
}

/// Writes the metrics CSV (header and `rows`) atomically.
fn write_metrics(path: &Path, rows: &[String]) -> Result<(), RunError> {
    let mut text = UpdateMetrics::csv_header();
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    Ok(write_atomic(path, text.as_bytes())?)
}
