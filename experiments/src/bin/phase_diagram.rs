//! Where unrestricted acquisition switches on: over a grid of two scenario parameters, the
//! exact honest and unrestricted optima and PPO's learned behaviour, as `phase.csv` and
//! `phase.svg` in a run directory, with `provenance.txt` for its results page. Prints
//! `run_dir: <path>` last.
//!
//! `cargo run --release -p experiments --bin phase_diagram` runs the default grid (firewall
//! detection x alert response over `pressure`); `--quick` a smoke test; `--config <ron>` any.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::cli::{RunArgs, config_name, finish, preset_or_file};
use experiments::error::CliError;
use experiments::lock::DirLock;
use experiments::phase::{Grid, PRESETS, run};

/// mimalloc: see "Allocator" in the `experiments` crate's documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<PathBuf, CliError> {
        args.run.device.check()?;
        let name = config_name(args.quick, args.config.as_deref());
        preset_or_file(name, PRESETS, "grid")?;
        let grid = Grid::load(name)?;
        let out = args.run.out_dir("phase_diagram", &grid.config.name);
        let _lock = DirLock::acquire(&out)?;
        experiments::signal::install()?;
        let outcome = run(&grid, &out, args.run.threads(), args.run.device, !args.run.quiet)?;
        eprintln!(
            "{} cells, {} runs computed, {:.1} s; {}",
            outcome.cells.len(),
            outcome.computed,
            outcome.seconds,
            out.join("phase.csv").display()
        );
        // Where the run came from, for its results page (`results_page --run <dir>`).
        experiments::publish::Provenance::of_this_process().write(&out)?;
        Ok(out)
    };
    finish(run())
}
