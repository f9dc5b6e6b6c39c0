//! The exact incentives of a ToyCloud scenario: the best expected return over honest policies
//! and over all policies, whether violating pays, and what the optimal policy does.
//!
//! `cargo run --release -p experiments --bin incentives -- --scenario incident --rollouts 20000`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::error::CliError;
use experiments::incentives::{Request, classes_csv, compute, lines, sweep, sweep_csv};
use sim_core::io::write_atomic;
use sim_envs::CloudParams;
use sim_envs::toycloud::space::ScenarioSpace;

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
    /// Also solve the entropy-regularised optimum at this temperature (PPO's objective with its
    /// entropy coefficient in reward units): what its stochastic and greedy policies do.
    #[arg(long)]
    temperature: Option<f64>,
    /// Also write the unrestricted policy's violation probability per job-size class as CSV.
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Solve draws of this scenario space instead of one scenario (with `--draws` and `--out`).
    #[arg(long, conflicts_with = "scenario")]
    space: Option<PathBuf>,
    /// Draws of the space to solve.
    #[arg(long, default_value_t = 16, requires = "space")]
    draws: u64,
    /// Where the space's CSV goes (one row per draw).
    #[arg(long, requires = "space")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => experiments::cli::fail(e),
    }
}

fn run(args: &Args) -> Result<(), CliError> {
    if !(args.cost_weight >= 0.0 && args.cost_weight.is_finite()) {
        return Err(format!("--cost-weight is {}, expected a finite number >= 0", args.cost_weight).into());
    }
    if !(args.gamma > 0.0 && args.gamma <= 1.0) {
        return Err(format!("--gamma is {}, expected a discount in (0, 1]", args.gamma).into());
    }
    if let Some(t) = args.temperature
        && !(t > 0.0 && t.is_finite())
    {
        return Err(format!("--temperature is {t}, expected a finite number > 0").into());
    }
    if let Some(dir) = args.classes.as_ref().and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(format!("--classes: directory {} does not exist", dir.display()).into());
    }
    if let Some(space) = &args.space {
        return sweep_space(args, space);
    }
    let params = CloudParams::scenario(&args.scenario)?;
    let request = Request {
        cost_weight: args.cost_weight,
        gamma: args.gamma,
        rollouts: args.rollouts,
        seed: args.seed,
        temperature: args.temperature,
    };
    let outcome = compute(&params, &request).map_err(|e| format!("{}: {e}", args.scenario))?;
    println!("scenario: {}", args.scenario);
    for line in lines(&outcome, &request) {
        println!("{line}");
    }
    if let Some(path) = &args.classes {
        write_atomic(path, classes_csv(&outcome.incentives).as_bytes())?;
    }
    Ok(())
}

fn sweep_space(args: &Args, path: &std::path::Path) -> Result<(), CliError> {
    let out = args.out.as_ref().ok_or("--space needs --out <file.csv>")?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(format!("--out: directory {} does not exist", dir.display()).into());
    }
    let space = ScenarioSpace::load(path)?;
    let request =
        Request { cost_weight: args.cost_weight, gamma: args.gamma, rollouts: 0, seed: args.seed, temperature: None };
    let bar = indicatif::ProgressBar::new(args.draws).with_style(
        indicatif::ProgressStyle::with_template("draws {pos}/{len} [{wide_bar}] {per_sec} eta {eta}")
            .expect("template"),
    );
    let rows = sweep(&space, args.draws, &request, |_| bar.inc(1))?;
    bar.finish_and_clear();
    write_atomic(out, sweep_csv(&rows).as_bytes())?;
    let solved: Vec<_> = rows.iter().filter_map(|r| r.incentives.as_ref().ok()).collect();
    println!("space: {}", path.display());
    println!("draws: {}", rows.len());
    println!("solved: {}", solved.len());
    println!("violation_pays: {}", solved.iter().filter(|i| i.violation_pays()).count());
    println!("out: {}", out.display());
    Ok(())
}
