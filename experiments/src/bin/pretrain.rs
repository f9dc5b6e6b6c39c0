//! Pretrains a policy by behaviour cloning on demonstrations recorded from ToyCloud's scripted
//! strategies in the shares a config states, and reports its prior: how often it runs each
//! violation and the whole tunnel → mine → buy chain, beside its data.
//!
//! `cargo run --release -p experiments --bin pretrain -- --config experiments/configs/pretrain_incident.ron --seed 1 --out runs/pretrain1`
//!
//! Writes `dataset.ron` (the data's provenance), `demonstrations.csv`, `clone.csv` (the fit per
//! epoch), `prior.csv`, `prior.md` and `provenance.txt` into `--out`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::error::CliError;
use experiments::pretrain::{PretrainConfig, pretrain, prior_markdown, write};
use experiments::publish::Provenance;

/// Behaviour cloning from scripted demonstrations, and the fitted policy's prior.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The pretraining config (RON).
    #[arg(long)]
    config: PathBuf,
    /// Seed of the demonstrations, the network and the prior's rollouts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
}

/// mimalloc: see "Allocator" in the `experiments` crate's documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => experiments::cli::fail(e),
    }
}

fn run(args: &Args) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.config).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let config: PretrainConfig = ron::from_str(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    config.counts().map_err(|e| format!("{}: {e}", args.config.display()))?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let start = std::time::Instant::now();
    let p = pretrain(&config, args.seed)?;
    write(&args.out, &p)?;
    Provenance::of_this_process().write(&args.out)?;
    print!("{}", prior_markdown(&p));
    println!("\nwall_seconds: {:.1}", start.elapsed().as_secs_f64());
    println!("out: {}", args.out.display());
    Ok(())
}
