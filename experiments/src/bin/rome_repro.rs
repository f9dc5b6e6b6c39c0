//! Reproduces the incident's mechanism in ToyCloud and evaluates penalties and infrastructure
//! controls against it: trains every condition of a matrix over several seeds and writes a
//! self-contained run directory (tables, learning curves, figures, report). Prints
//! `run_dir: <path>` last.
//!
//! `cargo run --release -p experiments --bin rome_repro` runs the default matrix;
//! `--quick` a smoke test; `--config <ron>` any matrix; `--out <dir>` chooses (or resumes) the
//! run directory; `--base-scenario <preset|file.ron>` reruns the matrix on another base, and
//! `--base-scenario <space.ron> --draws N` on N draws of a scenario space (one run directory per
//! draw, and `draws.csv` with every draw's verdicts); `--sensitivity` reruns it across entropy
//! coefficients with and without the honest prior (`sensitivity.csv`, and P1's dose–response on
//! the base and its no-pay twin in `dose_response.csv`, emergence's lift time by entropy in
//! `emergence.csv`; `--config p1_dose` is the small matrix for it).
//!
//! On a cluster: `--slurm <dir>` writes a Slurm array job over the matrix (`array.sbatch`,
//! `aggregate.sbatch`, `submit.sh`; see `experiments::slurm`) and runs nothing; each array task
//! runs `--task <i>`, which trains only its share of the runs, and `--aggregate` writes the
//! tables, figures, verdicts and report from the finished runs (the same bytes as one process).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::cli::{RunArgs, config_name, finish, preset_or_file};
use experiments::device::Loop;
use experiments::error::CliError;
use experiments::lock::DirLock;
use experiments::publish::Provenance;
use experiments::repro::config::{PRESETS, ReproConfig};
use experiments::repro::solutions::Solutions;
use experiments::repro::sweep::{Sweep, run_sweep};
use experiments::repro::{MatrixOutcome, aggregate_matrix, run_matrix, run_task, task_count};
use experiments::slurm::{ArrayJob, options_file, parse_option};
use sim_envs::CloudParams;

/// mimalloc: see "Allocator" in the `experiments` crate's documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reproduce the ROME incident's mechanism and evaluate interventions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Run the small smoke-test matrix (the `quick` preset).
    #[arg(long, conflicts_with = "config")]
    quick: bool,
    /// A matrix file (RON), or a preset name: default, quick, draws, penalty_sweep, controls,
    /// penalties, p1_dose, tuning, algorithms.
    #[arg(long)]
    config: Option<String>,
    /// Replace the matrix's base scenario (a preset, a scenario file, or `space.ron@N`); with
    /// `--draws`, a scenario space.
    #[arg(long)]
    base_scenario: Option<String>,
    /// Run the matrix on draws 0..N of the scenario space `--base-scenario`.
    #[arg(long, requires = "base_scenario")]
    draws: Option<u64>,
    /// Run the matrix once per entropy coefficient (0, 0.003, 0.01, 0.03, 0.05), each with and
    /// without the honest prior (`policy.initial_logits`), and tabulate the verdicts
    /// (`sensitivity.csv`) and the base's and twin's violation rates (`dose_response.csv`).
    #[arg(long, conflicts_with = "draws")]
    sensitivity: bool,
    /// Write a Slurm array job over the matrix into this directory (array.sbatch,
    /// aggregate.sbatch, submit.sh) instead of running it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["task", "aggregate", "draws", "sensitivity"])]
    slurm: Option<PathBuf>,
    /// Train and evaluate only array task N's runs (`--runs-per-task` of them, in
    /// condition-then-seed order); no tables.
    #[arg(long, value_name = "N", conflicts_with_all = ["aggregate", "draws", "sensitivity"])]
    task: Option<usize>,
    /// Write the tables, figures, verdicts and report from the runs array tasks finished.
    #[arg(long, conflicts_with_all = ["draws", "sensitivity"])]
    aggregate: bool,
    /// Runs per array task.
    #[arg(long, default_value_t = 1, value_name = "K")]
    runs_per_task: usize,
    /// An sbatch option of the generated scripts, `key=value` or a flag `key` (`key=` removes a
    /// default); repeatable, after `--sbatch-file`'s.
    #[arg(long, value_name = "OPTION", requires = "slurm")]
    sbatch: Vec<String>,
    /// A file of sbatch options, one per line (`#SBATCH --time=4:00:00`, `--time=…` or `time=…`).
    #[arg(long, value_name = "FILE", requires = "slurm")]
    sbatch_file: Option<PathBuf>,
    /// Where the runs collect their rollouts: `host` (the native environments, the policy's
    /// forward pass on the host) or `device` (device environments and the forward pass on
    /// `--device`); by default the matrix's `train_loop` (host). Recorded in `config.ron`.
    #[arg(long = "loop", value_enum)]
    train_loop: Option<Loop>,
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> ExitCode {
    finish(run(&Args::parse()))
}

/// `dir`, a run directory with its report written, after recording where it came from (commit,
/// command, host) for its results page.
fn reported(dir: PathBuf) -> Result<PathBuf, CliError> {
    Provenance::of_this_process().write(&dir)?;
    Ok(dir)
}

fn run(args: &Args) -> Result<PathBuf, CliError> {
    args.run.device.check()?;
    let name = config_name(args.quick, args.config.as_deref());
    let (config, base, scenarios) = match preset_or_file(name, PRESETS, "matrix")? {
        Some(text) => ReproConfig::parse(text, &format!("preset `{name}`")),
        None => ReproConfig::load(std::path::Path::new(name)),
    }?;
    let (mut config, base, scenarios) = match &args.base_scenario {
        Some(b) if args.draws.is_none() => rebase(config, b)?,
        _ => (config, base, scenarios),
    };
    if let Some(on) = args.train_loop {
        config.train_loop = on;
    }
    let out = args.run.out_dir("rome_repro", &config.name);
    if args.runs_per_task == 0 {
        return Err("--runs-per-task must be at least 1".into());
    }
    if let Some(dir) = &args.slurm {
        return write_array_job(args, &config, &out, dir);
    }
    // The exact solutions (each base's twin and solver, the verdicts' references), solved once
    // for every matrix this invocation runs.
    let solutions = Solutions::default();
    if let Some(index) = args.task {
        let _lock = DirLock::acquire_task(&out, index)?;
        experiments::signal::install()?;
        let computed = run_task(
            &config,
            &scenarios,
            &out,
            args.run.threads(),
            args.run.device,
            !args.run.quiet,
            index,
            args.runs_per_task,
            &solutions,
        )?;
        eprintln!("task {index}: {computed} runs computed into {}", out.display());
        return Ok(out);
    }
    let _lock = DirLock::acquire(&out)?;
    if args.aggregate {
        let outcome =
            aggregate_matrix(&config, &base, &scenarios, &out, args.run.device, args.runs_per_task, &solutions)?;
        report(&outcome);
        return reported(outcome.dir);
    }
    // SIGTERM (a scheduler's time limit or preemption) checkpoints the runs in progress.
    experiments::signal::install()?;
    let threads = args.run.threads();
    let (progress, device) = (!args.run.quiet, args.run.device);
    // Variants of the matrix, each run into its own directory, their verdicts in one table:
    // draws of a scenario space, or the sensitivity sweep over PPO's entropy bonus and prior.
    let sweep = match (args.draws, &args.base_scenario) {
        (Some(count), Some(space)) => Sweep::Draws { space: space.clone(), count },
        _ if args.sensitivity => Sweep::Sensitivity,
        _ => {
            let outcome = run_matrix(&config, &base, &scenarios, &out, threads, device, progress, &solutions)?;
            report(&outcome);
            return reported(outcome.dir);
        }
    };
    let (_, lines) = run_sweep(&sweep, &config, &out, threads, device, progress, &solutions, report)?;
    for line in lines {
        eprintln!("{line}");
    }
    let (file, summary_file, _) = sweep.files();
    eprintln!("every variant's verdicts: {} (tallied in {summary_file})", out.join(file).display());
    reported(out)
}

/// `path` made absolute against the working directory (array tasks start elsewhere).
fn absolute(path: &std::path::Path) -> Result<PathBuf, CliError> {
    Ok(std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?)
}

/// Writes the array job's scripts into `dir`.
fn write_array_job(
    args: &Args,
    config: &ReproConfig,
    out: &std::path::Path,
    dir: &std::path::Path,
) -> Result<PathBuf, CliError> {
    // The matrix as the tasks must choose it: files made absolute, presets by name.
    let mut matrix_args = Vec::new();
    let name = config_name(args.quick, args.config.as_deref());
    let file_or_name = |value: &str| -> Result<String, CliError> {
        // A scenario space's draw is `space.ron@N`: the file is before the `@`.
        let (file, draw) =
            value.rsplit_once('@').filter(|(f, _)| std::path::Path::new(f).is_file()).unwrap_or((value, ""));
        if std::path::Path::new(file).is_file() {
            let abs = absolute(std::path::Path::new(file))?.display().to_string();
            Ok(if draw.is_empty() { abs } else { format!("{abs}@{draw}") })
        } else {
            Ok(value.to_string())
        }
    };
    matrix_args.extend(["--config".to_string(), file_or_name(name)?]);
    if let Some(b) = &args.base_scenario {
        matrix_args.extend(["--base-scenario".to_string(), file_or_name(b)?]);
    }
    matrix_args.extend(["--device".to_string(), args.run.device.to_string()]);
    if let Some(on) = args.train_loop {
        matrix_args.extend(["--loop".to_string(), on.to_string()]);
    }
    let mut overrides = match &args.sbatch_file {
        Some(f) => options_file(f)?,
        None => Vec::new(),
    };
    for o in &args.sbatch {
        overrides.push(parse_option(o, "--sbatch")?);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary's path: {e}"))?;
    let (run_dir, script_dir) = (absolute(out)?, absolute(dir)?);
    let tasks = task_count(config, args.runs_per_task);
    let job = ArrayJob {
        name: &config.name,
        exe: &exe,
        run_dir: &run_dir,
        script_dir: &script_dir,
        matrix_args,
        tasks,
        runs_per_task: args.runs_per_task,
        overrides,
    };
    for path in job.write()? {
        eprintln!("wrote {}", path.display());
    }
    eprintln!(
        "{tasks} array tasks of {} runs each into {}; submit with {}",
        args.runs_per_task,
        run_dir.display(),
        script_dir.join("submit.sh").display()
    );
    Ok(run_dir)
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
