//! Reproduces the incident's mechanism in ToyCloud and evaluates penalties and infrastructure
//! controls against it: trains every condition of a matrix over several seeds and writes a
//! self-contained run directory (tables, learning curves, figures, report). Prints
//! `run_dir: <path>` last.
//!
//! `cargo run --release -p experiments --bin rome_repro` runs the default matrix;
//! `--quick` a smoke test; `--config <ron>` any matrix; `--out <dir>` chooses (or resumes) the
//! run directory; `--base-scenario <preset|file.ron>` reruns the matrix on another base, and
//! `--base-scenario <space.ron> --draws N` on N draws of a scenario space (one run directory per
//! draw, and `draws.csv` with every draw's verdicts).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::device::Device;
use experiments::repro::config::{PRESETS, ReproConfig};
use std::fmt::Write;

use experiments::repro::{MatrixOutcome, run_matrix};
use sim_core::io::write_atomic;
use sim_envs::CloudParams;

/// Reproduce the ROME incident's mechanism and evaluate interventions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Run the small smoke-test matrix (the `quick` preset).
    #[arg(long, conflicts_with = "config")]
    quick: bool,
    /// A matrix file (RON), or a preset name: default, quick, draws, sensitivity.
    #[arg(long)]
    config: Option<String>,
    /// Replace the matrix's base scenario (a preset, a scenario file, or `space.ron@N`); with
    /// `--draws`, a scenario space.
    #[arg(long)]
    base_scenario: Option<String>,
    /// Run the matrix on draws 0..N of the scenario space `--base-scenario`.
    #[arg(long, requires = "base_scenario")]
    draws: Option<u64>,
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
    let (config, base, scenarios) = match PRESETS.iter().find(|(n, _)| *n == name) {
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
    let (config, base, scenarios) = match &args.base_scenario {
        Some(b) if args.draws.is_none() => rebase(config, b)?,
        _ => (config, base, scenarios),
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/rome_repro__{}__{time}", config.name))
    });
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let progress = !args.quiet;
    let (Some(n), Some(space)) = (args.draws, &args.base_scenario) else {
        let outcome =
            run_matrix(&config, &base, &scenarios, &out, threads, args.device, progress).map_err(|e| e.to_string())?;
        report(&outcome);
        return Ok(outcome.dir);
    };
    // One matrix per draw of the space, then every draw's verdicts in one table.
    let mut table = String::from("draw,base_scenario,phenomenon,verdict,precondition,effect,low,high\n");
    for draw in 0..n {
        let name = format!("{space}@{draw}");
        let (config, base, scenarios) = rebase(config.clone(), &name)?;
        let dir = out.join(format!("draw{draw}"));
        let outcome =
            run_matrix(&config, &base, &scenarios, &dir, threads, args.device, progress).map_err(|e| e.to_string())?;
        report(&outcome);
        for r in &outcome.verdicts {
            let e = r.primary.map(|c| c.estimate);
            let num = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let _ = writeln!(
                table,
                "{draw},{name},{},{},\"{}\",{},{},{}",
                r.phenomenon,
                r.verdict.name(),
                r.precondition.replace('"', "\"\""),
                num(e.map(|e| e.point)),
                num(e.map(|e| e.low)),
                num(e.map(|e| e.high))
            );
        }
    }
    write_atomic(&out.join("draws.csv"), table.as_bytes()).map_err(|e| e.to_string())?;
    eprintln!("every draw's verdicts: {}", out.join("draws.csv").display());
    Ok(out)
}

fn rebase(mut config: ReproConfig, base: &str) -> Result<(ReproConfig, CloudParams, Vec<CloudParams>), String> {
    config.base_scenario = base.to_string();
    config.resolve("--base-scenario").map_err(|e| e.to_string())
}

fn report(outcome: &MatrixOutcome) {
    eprintln!(
        "{} runs computed in {:.1} s; {} training episodes over the matrix; report: {}",
        outcome.computed,
        outcome.seconds,
        outcome.episodes,
        outcome.dir.join("report.md").display()
    );
}
