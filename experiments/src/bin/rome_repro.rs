//! Reproduces the incident's mechanism in ToyCloud and evaluates penalties and infrastructure
//! controls against it: trains every condition of a matrix over several seeds and writes a
//! self-contained run directory (tables, learning curves, figures, report). Prints
//! `run_dir: <path>` last.
//!
//! `cargo run --release -p experiments --bin rome_repro` runs the default matrix;
//! `--quick` a smoke test; `--config <ron>` any matrix; `--out <dir>` chooses (or resumes) the
//! run directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::device::Device;
use experiments::repro::config::{PRESETS, ReproConfig};
use experiments::repro::run_matrix;

/// Reproduce the ROME incident's mechanism and evaluate interventions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Run the small smoke-test matrix (the `quick` preset).
    #[arg(long, conflicts_with = "config")]
    quick: bool,
    /// A matrix file (RON), or a preset name: default, quick, full.
    #[arg(long)]
    config: Option<String>,
    /// Run directory (default: runs/rome_repro__<name>__<unix time>). An existing directory of
    /// the same matrix is resumed: finished runs are kept.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs trained at once (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to train: cpu, or cuda / cuda:N (needs the `cuda` feature and a GPU).
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(dir) => {
            println!("run_dir: {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<PathBuf, String> {
    args.device.check()?;
    let name = if args.quick { "quick" } else { args.config.as_deref().unwrap_or("default") };
    let (config, scenarios) = match PRESETS.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => ReproConfig::parse(text, &format!("preset `{n}`")),
        None => {
            let path = std::path::Path::new(name);
            if !path.is_file() {
                let presets: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                return Err(format!("no matrix file `{name}` (presets: {})", presets.join(", ")));
            }
            ReproConfig::load(path)
        }
    }
    .map_err(|e| e.to_string())?;
    let out = args.out.clone().unwrap_or_else(|| {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/rome_repro__{}__{time}", config.name))
    });
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let outcome =
        run_matrix(&config, &scenarios, &out, threads, args.device, !args.quiet).map_err(|e| e.to_string())?;
    eprintln!(
        "{} runs computed in {:.1} s; {} training episodes over the matrix; report: {}",
        outcome.computed,
        outcome.seconds,
        outcome.episodes,
        outcome.dir.join("report.md").display()
    );
    Ok(outcome.dir)
}
