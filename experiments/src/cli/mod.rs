//! The binaries' command lines. `train` and `rollout` are here whole, generic over the list of
//! environments they can run ([`crate::registry`]), so a binary of your own runs them over your
//! list; the rest are pieces shared by the binaries that train a matrix into a run directory
//! (`rome_repro`, `phase_diagram`): the run-directory, thread, device and progress options, and
//! the `run_dir: <path>` line they print last.

pub mod rollout;
pub mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::device::Device;

/// Where and how a matrix is run.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run directory (default: `runs/<binary>__<name>__<unix time>`). An existing directory of the
    /// same matrix is resumed: finished runs are kept.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs trained at once (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to train: cpu, or cuda / cuda:N (needs the `cuda` feature and a GPU).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Hide progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl RunArgs {
    /// `--out`, or `runs/<binary>__<name>__<unix time>`.
    pub fn out_dir(&self, binary: &str, name: &str) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            PathBuf::from(format!("runs/{binary}__{name}__{time}"))
        })
    }

    /// `--threads`, or one per core.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// The matrix or grid `--quick` / `--config` name: `quick`, the `--config` value, or `default`.
pub fn config_name(quick: bool, config: Option<&str>) -> &str {
    if quick { "quick" } else { config.unwrap_or("default") }
}

/// The text of preset `name` among `presets`, `None` where `name` is a file that exists, or an
/// error naming the presets (`what` says what the file holds: matrix, grid).
pub fn preset_or_file<'a>(
    name: &str,
    presets: &[(&str, &'a str)],
    what: &'static str,
) -> Result<Option<&'a str>, NoSuchPreset> {
    if let Some((_, text)) = presets.iter().find(|(n, _)| *n == name) {
        return Ok(Some(text));
    }
    if std::path::Path::new(name).is_file() {
        return Ok(None);
    }
    let presets = presets.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    Err(NoSuchPreset { what, name: name.into(), presets })
}

/// `--config` names neither a preset nor a file.
#[derive(Debug, thiserror::Error)]
#[error("no {what} file `{name}` (presets: {presets})")]
pub struct NoSuchPreset {
    /// What the file holds (`matrix`, `grid`).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The presets, comma-separated.
    pub presets: String,
}

/// The exit status of a process that SIGTERM stopped after keeping its work (sysexits'
/// `EX_TEMPFAIL`: run the same command again to continue). Slurm scripts tell it from a failure.
pub const EXIT_TERMINATED: u8 = 75;

/// Prints `error: <e>` and returns the failure status: how every binary reports what stopped it.
pub fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// Prints `run_dir: <path>` (the last line) and succeeds, or prints the error and fails (with
/// [`EXIT_TERMINATED`] where SIGTERM stopped the work).
pub fn finish(result: Result<PathBuf, crate::error::CliError>) -> ExitCode {
    match result {
        Ok(dir) => {
            println!("run_dir: {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let failed = fail(e);
            if crate::signal::terminated() { ExitCode::from(EXIT_TERMINATED) } else { failed }
        }
    }
}
