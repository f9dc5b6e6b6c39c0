//! Where unrestricted acquisition switches on: over a grid of two scenario parameters, the
//! exact honest and unrestricted optima and PPO's learned behaviour, as `phase.csv` and
//! `phase.svg` in a run directory. Prints `run_dir: <path>` last.
//!
//! `cargo run --release -p experiments --bin phase_diagram` runs the default grid (firewall
//! detection x alert response over `pressure`); `--quick` a smoke test; `--config <ron>` any.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::device::Device;
use experiments::phase::{Grid, PRESETS, run};

/// A phase diagram of when violating pays, exactly and as PPO learns it.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Run the small smoke-test grid (the `quick` preset).
    #[arg(long, conflicts_with = "config")]
    quick: bool,
    /// A grid file (RON), or a preset name: default, quick.
    #[arg(long)]
    config: Option<String>,
    /// Run directory (default: runs/phase_diagram__<name>__<unix time>); an existing one of the
    /// same grid is resumed.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs trained at once (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to train: cpu, or cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<PathBuf, String> {
        args.device.check()?;
        let name = if args.quick { "quick" } else { args.config.as_deref().unwrap_or("default") };
        if !PRESETS.iter().any(|(n, _)| *n == name) && !std::path::Path::new(name).is_file() {
            let presets: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(format!("no grid file `{name}` (presets: {})", presets.join(", ")));
        }
        let grid = Grid::load(name).map_err(|e| e.to_string())?;
        let out = args.out.clone().unwrap_or_else(|| {
            let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            PathBuf::from(format!("runs/phase_diagram__{}__{time}", grid.config.name))
        });
        let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let outcome = run(&grid, &out, threads, args.device, !args.quiet).map_err(|e| e.to_string())?;
        eprintln!(
            "{} cells, {} runs computed, {:.1} s; {}",
            outcome.cells.len(),
            outcome.computed,
            outcome.seconds,
            out.join("phase.csv").display()
        );
        Ok(out)
    };
    match run() {
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
