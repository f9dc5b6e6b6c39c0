//! The `train` command: trains a PPO agent and writes a run directory (resolved config,
//! per-update metrics CSV with CleanRL's names, checkpoints), or resumes one; ends by printing
//! `final_return`, `sps` and `weights_checksum`.

use std::ffi::OsString;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use sim_agents::backend::TrainBackend;

use super::fail;
use crate::config::TrainConfig;
use crate::device::{Device, Loop, OnBackend};
use crate::error::CliError;
use crate::lock::DirLock;
use crate::registry::Registry;
use crate::train::{RunError, TrainOutcome, resume, start};

/// PPO training run.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Training configuration (RON).
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Seed of every stream of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run directory (default: runs/{env}__{config}__{seed}__{unix time}).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// Where to train: cpu, or cuda / cuda:N (needs the `cuda` feature and a GPU).
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Which loop: `host` steps the native environments and runs the rollout's forward on the
    /// host, and only the PPO update on `--device`; `device` steps the environments and runs
    /// the rollout's forward on `--device` too, reading the rollout back once per update. Both
    /// take every penalty and write checkpoints; `--resume` continues on the run's loop.
    #[arg(long = "loop", value_enum, default_value_t = Loop::Host)]
    train_loop: Loop,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Parses `args` (the program's name first), trains or resumes, prints the outcome, and
/// returns the exit status: `train` over the environments of the list `R`.
pub fn main<R: Registry>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let args = Args::parse_from(args);
    let result = rayon::ThreadPoolBuilder::new()
        .build()
        .map_err(CliError::from)
        .and_then(|pool| pool.install(|| run::<R>(&args)));
    match result {
        Ok(o) => {
            match o.final_return {
                Some(r) => println!("final_return: {r:.2}"),
                None => println!("final_return: none (no episode finished)"),
            }
            println!("wall_seconds: {:.2}", o.seconds);
            println!("sps: {:.0}", o.sps);
            println!("weights_checksum: {}", o.weights_checksum);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run<R: Registry>(args: &Args) -> Result<TrainOutcome, CliError> {
    args.device.check()?;
    // SIGTERM (a scheduler's time limit or preemption): finish the update, checkpoint, exit.
    experiments::signal::install()?;
    if let Some(dir) = &args.resume {
        // One writer: taken before anything else (a missing directory is resume's error to give).
        let _lock = if dir.is_dir() { Some(DirLock::acquire(dir)?) } else { None };
        eprintln!("resuming {}", dir.display());
        return Ok(args.device.dispatch(Resume::<R> { dir, progress: !args.quiet, list: PhantomData })?);
    }
    let path = args.config.as_ref().expect("clap requires --config without --resume");
    let config = TrainConfig::<R>::load(path)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/{}__{stem}__{}__{time}", config.env.name(), args.seed))
    });
    let _lock = DirLock::acquire(&out)?;
    eprintln!("run directory: {}", out.display());
    Ok(args.device.dispatch(Start {
        config: &config,
        seed: args.seed,
        out: &out,
        progress: !args.quiet,
        train_loop: args.train_loop,
    })?)
}

struct Start<'a, R> {
    config: &'a TrainConfig<R>,
    seed: u64,
    out: &'a Path,
    progress: bool,
    train_loop: Loop,
}

impl<R: Registry> OnBackend for Start<'_, R> {
    type Output = Result<TrainOutcome, RunError>;
    fn run<B: TrainBackend>(self, device: B::Device) -> Self::Output {
        start::<B, R>(self.config, self.seed, self.out, self.train_loop, device, self.progress)
    }
}

struct Resume<'a, R> {
    dir: &'a Path,
    progress: bool,
    list: PhantomData<R>,
}

impl<R: Registry> OnBackend for Resume<'_, R> {
    type Output = Result<TrainOutcome, RunError>;
    fn run<B: TrainBackend>(self, device: B::Device) -> Self::Output {
        resume::<B, R>(self.dir, device, self.progress)
    }
}
