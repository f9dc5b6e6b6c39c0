//! The exact incentives of a ToyCloud scenario: the best expected return over honest policies
//! and over all policies, whether violating pays, and what the optimal policy does.
//!
//! `cargo run --release -p experiments --bin incentives -- --scenario incident --rollouts 20000`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::incentives::{Request, classes_csv, compute, lines};
use sim_core::io::write_atomic;
use sim_envs::CloudParams;

/// Exact optima of a ToyCloud scenario by backward induction.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A preset name (incident, open, hardened, ...) or the path of a scenario RON file.
    #[arg(long, default_value = "incident")]
    scenario: String,
    /// Weight of the ground-truth cost: the objective is task return - W * true cost.
    #[arg(long, default_value_t = 0.0)]
    cost_weight: f64,
    /// Discount per step (1: undiscounted, as reports show returns; PPO optimises 0.99).
    #[arg(long, default_value_t = 1.0)]
    gamma: f64,
    /// Play each optimal policy for this many episodes in the environment and print the mean.
    #[arg(long, default_value_t = 0)]
    rollouts: usize,
    /// Seed of the rollouts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the unrestricted policy's violation probability per job-size class as CSV.
    #[arg(long)]
    classes: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !(args.cost_weight >= 0.0 && args.cost_weight.is_finite()) {
        return Err(format!("--cost-weight is {}, expected a finite number >= 0", args.cost_weight));
    }
    if !(args.gamma > 0.0 && args.gamma <= 1.0) {
        return Err(format!("--gamma is {}, expected a discount in (0, 1]", args.gamma));
    }
    if let Some(dir) = args.classes.as_ref().and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(format!("--classes: directory {} does not exist", dir.display()));
    }
    let params = CloudParams::scenario(&args.scenario).map_err(|e| e.to_string())?;
    let request =
        Request { cost_weight: args.cost_weight, gamma: args.gamma, rollouts: args.rollouts, seed: args.seed };
    let outcome = compute(&params, &request).map_err(|e| format!("{}: {e}", args.scenario))?;
    println!("scenario: {}", args.scenario);
    for line in lines(&outcome, &request) {
        println!("{line}");
    }
    if let Some(path) = &args.classes {
        write_atomic(path, classes_csv(&outcome.incentives).as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}
