//! `rome_repro`: reproduce the incident's mechanism in ToyCloud and measure what penalties and
//! infrastructure controls do to it, over a matrix of conditions and seeds.
//!
//! A run directory holds `config.ron` (the resolved matrix), `runs/<condition>__seed<s>/` (each
//! run's `result.ron`, PPO `metrics.csv` and learning curve), `curves/` (the learning-curve
//! CSVs together), `summary.csv`, `aggregate.csv`, four SVG figures and `report.md`. Every file is
//! written atomically. A run's `result.ron` is written when it finishes; running the same matrix
//! into the same directory again reuses finished runs and computes the rest (the results are
//! deterministic, so a resumed matrix ends exactly as an uninterrupted one).

pub mod calibration;
pub mod config;
pub mod criteria;
pub mod emergence;
pub mod plots;
pub mod report;
pub mod run;
pub mod solutions;
pub mod sweep;
pub mod tables;
pub mod twin;
pub mod verdicts;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim_core::io::write_atomic;
use sim_envs::CloudParams;

use self::config::ReproConfig;
use self::plots::PlotError;
use self::run::RunResult;
use self::solutions::Solutions;
use crate::device::{Device, DeviceError, Loop};
use crate::error::FsError;
use crate::stats::Bootstrap;

/// Why a matrix could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// The configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] sim_core::params::ConfigError),
    /// A run failed.
    #[error("condition `{condition}`, seed {seed}: {source}")]
    Train {
        /// The condition.
        condition: String,
        /// The seed.
        seed: u64,
        /// What went wrong.
        source: sim_agents::TrainError,
    },
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] sim_core::io::WriteError),
    /// The machine cannot train on the device asked for.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A directory could not be made.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A record could not be written as RON.
    #[error(transparent)]
    Encode(#[from] ron::Error),
    /// The thread pool could not start.
    #[error(transparent)]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// A figure could not be drawn.
    #[error("{figure}: {source}")]
    Plot {
        /// The figure's file name.
        figure: &'static str,
        /// What the plotting library reported.
        source: PlotError,
    },
    /// An array task index beyond the matrix.
    #[error(
        "task {index} does not exist: the matrix has {runs} runs, so {tasks} tasks of {runs_per_task} (0 to {})",
        tasks.saturating_sub(1)
    )]
    NoSuchTask {
        /// The index asked for.
        index: usize,
        /// Runs in the matrix.
        runs: usize,
        /// Tasks it splits into.
        tasks: usize,
        /// Runs per task.
        runs_per_task: usize,
    },
    /// The run directory holds this matrix run elsewhere, or another matrix.
    #[error("{} {how}", out.display())]
    OtherMatrix {
        /// The run directory.
        out: PathBuf,
        /// How it differs and what to do.
        how: Elsewhere,
    },
    /// Aggregation found runs that no array task finished.
    #[error(
        "{} of {total} runs are not finished in {}: {} (array tasks {} of {runs_per_task} runs each; rerun them, \
         then aggregate again)",
        runs.len(),
        out.display(),
        runs.join(", "),
        tasks.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
    )]
    Unfinished {
        /// The run directory.
        out: PathBuf,
        /// The unfinished runs' names.
        runs: Vec<String>,
        /// Runs in the matrix.
        total: usize,
        /// The array tasks that hold them.
        tasks: Vec<usize>,
        /// Runs per task.
        runs_per_task: usize,
    },
    /// SIGTERM arrived: the runs in progress were checkpointed, finished runs are kept.
    #[error(
        "stopped by SIGTERM: {checkpointed} runs in progress checkpointed, {finished} finished, {left} not started; \
         run the same command again to continue"
    )]
    Terminated {
        /// Runs that left a checkpoint.
        checkpointed: usize,
        /// Runs finished, in this invocation or before.
        finished: usize,
        /// Runs not started.
        left: usize,
    },
}

/// How a run directory's matrix differs from the one asked for.
#[derive(Debug)]
pub enum Elsewhere {
    /// The same matrix on the other loop.
    Loop(Loop),
    /// The same matrix on another device (`cpu`, `cuda:N`).
    Device(String),
    /// Another matrix; its `config.ron`.
    Matrix(PathBuf),
}

impl std::fmt::Display for Elsewhere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elsewhere::Loop(l) => write!(f, "was run with --loop {l}; resume it with that"),
            Elsewhere::Device(d) => write!(f, "was run with --device {d}; resume it with that"),
            Elsewhere::Matrix(p) => write!(f, "holds a different matrix ({}); choose another --out", p.display()),
        }
    }
}

/// The matrix with its scenarios resolved: what `config.ron` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedMatrix {
    /// The matrix as configured.
    pub config: ReproConfig,
    /// Each condition's scenario parameters, in condition order.
    pub scenarios: Vec<CloudParams>,
    /// The device it trains on (`cpu`, `cuda:N`): a matrix resumed on another device would mix
    /// results that are not bit-identical.
    pub device: String,
}

/// What a finished matrix reports.
pub struct MatrixOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Runs computed in this invocation.
    pub computed: usize,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// Training episodes over all runs.
    pub episodes: u64,
    /// The verdicts (as in `verdicts.csv`).
    pub verdicts: Vec<verdicts::Row>,
    /// The per-condition IQMs and intervals (as in `aggregate.csv`).
    pub aggregate: tables::Aggregate,
    /// The exact incentives the verdicts used.
    pub exact: verdicts::Exact,
    /// What each emergence condition's seeds did after the lift: `(condition, emergence)`.
    pub emergence: Vec<(String, verdicts::Emergence)>,
}

fn run_name(condition: &str, seed: u64) -> String {
    format!("{condition}__seed{seed}")
}

/// Every run of a matrix, in condition-then-seed order, and how many this invocation computed.
pub struct Runs {
    /// The runs' results.
    pub results: Vec<RunResult>,
    /// Runs computed now (the others were finished by an earlier invocation).
    pub computed: usize,
}

/// Which runs of a matrix an invocation computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Share {
    /// Every run.
    All,
    /// Task `index` of an array job: the runs `index * runs_per_task..(index + 1) * runs_per_task`
    /// in condition-then-seed order.
    Task {
        /// The task.
        index: usize,
        /// Runs per task.
        runs_per_task: usize,
    },
}

/// The matrix's runs, `(condition index, seed)` in condition-then-seed order (the order of
/// array tasks and of `summary.csv`).
pub fn jobs(config: &ReproConfig) -> Vec<(usize, u64)> {
    (0..config.conditions.len()).flat_map(|c| config.seeds.iter().map(move |&s| (c, s))).collect()
}

/// How many array tasks of `runs_per_task` runs the matrix makes.
pub fn task_count(config: &ReproConfig, runs_per_task: usize) -> usize {
    jobs(config).len().div_ceil(runs_per_task.max(1))
}

/// Trains and evaluates every (condition, seed) of `config` into `out` (its `config.ron`, and
/// per run `runs/<condition>__seed<s>/`), resuming what an earlier invocation left unfinished:
/// what both `rome_repro` and `phase_diagram` run.
#[allow(clippy::too_many_arguments)]
pub fn run_all(
    config: &ReproConfig,
    scenarios: &[CloudParams],
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
    solutions: &Solutions,
) -> Result<Runs, ReproError> {
    let (results, computed) = compute(config, scenarios, out, threads, device, progress, Share::All, solutions)?;
    let results: Vec<RunResult> = results.into_iter().map(|r| r.expect("every run finished")).collect();
    Ok(Runs { results, computed })
}

/// Computes array task `index`'s runs (those an earlier invocation did not finish) into `out`;
/// returns how many it computed. The tables are [`aggregate_matrix`]'s.
#[allow(clippy::too_many_arguments)]
pub fn run_task(
    config: &ReproConfig,
    scenarios: &[CloudParams],
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
    index: usize,
    runs_per_task: usize,
    solutions: &Solutions,
) -> Result<usize, ReproError> {
    let tasks = task_count(config, runs_per_task);
    if runs_per_task == 0 || index >= tasks {
        return Err(ReproError::NoSuchTask { index, runs: jobs(config).len(), tasks, runs_per_task });
    }
    let share = Share::Task { index, runs_per_task };
    Ok(compute(config, scenarios, out, threads, device, progress, share, solutions)?.1)
}

/// Writes `config.ron` (refusing a directory that holds another matrix) and the directories.
fn prepare(config: &ReproConfig, scenarios: &[CloudParams], out: &Path, device: Device) -> Result<(), ReproError> {
    device.check()?;
    let resolved = ResolvedMatrix { config: config.clone(), scenarios: scenarios.to_vec(), device: device.to_string() };
    let text = ron::ser::to_string_pretty(&resolved, ron::ser::PrettyConfig::default())?;
    let config_path = out.join("config.ron");
    if let Ok(existing) = std::fs::read_to_string(&config_path)
        && existing != text
    {
        // The same matrix on another loop or device: say which, so that resuming is one flag away.
        let theirs: Option<ResolvedMatrix> = ron::from_str(&existing).ok();
        let but_for_where = |t: &ResolvedMatrix| {
            let config = ReproConfig { train_loop: resolved.config.train_loop, ..t.config.clone() };
            ResolvedMatrix { config, device: resolved.device.clone(), ..t.clone() } == resolved
        };
        let how = match theirs {
            Some(t) if but_for_where(&t) && t.config.train_loop != config.train_loop => {
                Elsewhere::Loop(t.config.train_loop)
            }
            Some(t) if but_for_where(&t) => Elsewhere::Device(t.device),
            _ => Elsewhere::Matrix(config_path),
        };
        return Err(ReproError::OtherMatrix { out: out.to_path_buf(), how });
    }
    for dir in [out.to_path_buf(), out.join("runs"), out.join("curves")] {
        FsError::create_dir(&dir)?;
    }
    write_atomic(&config_path, text.as_bytes())?;
    Ok(())
}

/// The finished result of condition `c` with `seed` in `out`, if there is one.
fn load(config: &ReproConfig, out: &Path, c: usize, seed: u64) -> Option<RunResult> {
    let path = out.join("runs").join(run_name(&config.conditions[c].name, seed)).join("result.ron");
    let r: RunResult = ron::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (r.summary.condition == config.conditions[c].name && r.summary.seed == seed).then_some(r)
}

/// Every run's result in `out`, or an error naming the missing runs and their array tasks.
pub fn collect(
    config: &ReproConfig,
    scenarios: &[CloudParams],
    out: &Path,
    device: Device,
    runs_per_task: usize,
    solutions: &Solutions,
) -> Result<Vec<RunResult>, ReproError> {
    let scenarios = &solutions.resolve(config, scenarios);
    prepare(config, scenarios, out, device)?;
    let jobs = jobs(config);
    let results: Vec<Option<RunResult>> = jobs.iter().map(|&(c, s)| load(config, out, c, s)).collect();
    let missing: Vec<usize> = (0..jobs.len()).filter(|&j| results[j].is_none()).collect();
    if !missing.is_empty() {
        let runs: Vec<String> =
            missing.iter().map(|&j| run_name(&config.conditions[jobs[j].0].name, jobs[j].1)).collect();
        let mut tasks: Vec<usize> = missing.iter().map(|&j| j / runs_per_task.max(1)).collect();
        tasks.dedup();
        return Err(ReproError::Unfinished { out: out.to_path_buf(), runs, total: jobs.len(), tasks, runs_per_task });
    }
    Ok(results.into_iter().map(|r| r.expect("none missing")).collect())
}

/// Computes the runs of `share` that an earlier invocation did not finish; returns every run's
/// result found or computed (in [`jobs`] order) and how many were computed. In stages: the
/// twins resolved and the directory prepared; the runs already finished read back ([`pending`]);
/// the rest grouped into units ([`units`]: a run alone, or on the device loop a condition's runs
/// as one population) and trained on a pool of `threads`, each finished run stored as it ends
/// ([`store`]); then SIGTERM's accounting.
#[allow(clippy::too_many_arguments)]
fn compute(
    config: &ReproConfig,
    scenarios: &[CloudParams],
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
    share: Share,
    solutions: &Solutions,
) -> Result<(Vec<Option<RunResult>>, usize), ReproError> {
    let scenarios = &solutions.resolve(config, scenarios);
    prepare(config, scenarios, out, device)?;
    let jobs = jobs(config);
    let (mut results, todo) = pending(config, out, &jobs, share);
    let bars = Bars::new(config, todo.len(), progress);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    let finished = Mutex::new(Vec::new());
    let checkpointed = std::sync::atomic::AtomicUsize::new(0);
    pool.install(|| {
        units(config, &jobs, &todo).par_iter().with_max_len(1).try_for_each(|unit| {
            if crate::signal::terminated() {
                return Ok(());
            }
            let Some(trained) = train_unit(config, scenarios, out, device, &jobs, unit, &bars)? else {
                checkpointed.fetch_add(unit.len(), std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            };
            for (&j, result) in unit.iter().zip(trained) {
                store(config, out, jobs[j], &result)?;
                finished.lock().expect("no panics while holding the lock").push((j, result));
            }
            Ok::<_, ReproError>(())
        })
    })?;
    bars.overall.finish_and_clear();
    let finished = finished.into_inner().expect("no panics while holding the lock");
    let computed = finished.len();
    // Also when every run is done: the tables and verdicts (the exact solver among them) can take
    // longer than a scheduler waits after its SIGTERM, and the next invocation writes them.
    if crate::signal::terminated() {
        let checkpointed = checkpointed.into_inner();
        return Err(ReproError::Terminated {
            checkpointed,
            finished: results.iter().flatten().count() + computed,
            left: todo.len() - computed - checkpointed,
        });
    }
    for (j, r) in finished {
        results[j] = Some(r);
    }
    Ok((results, computed))
}

/// The runs of `share` already finished in `out` (read back, in [`jobs`] order; `None` for
/// the others), and the indices of those left to compute.
fn pending(
    config: &ReproConfig,
    out: &Path,
    jobs: &[(usize, u64)],
    share: Share,
) -> (Vec<Option<RunResult>>, Vec<usize>) {
    let mine = match share {
        Share::All => 0..jobs.len(),
        Share::Task { index, runs_per_task } => {
            (index * runs_per_task).min(jobs.len())..((index + 1) * runs_per_task).min(jobs.len())
        }
    };
    let results: Vec<Option<RunResult>> = jobs
        .iter()
        .enumerate()
        .map(|(j, &(c, s))| mine.contains(&j).then(|| load(config, out, c, s)).flatten())
        .collect();
    let todo = mine.filter(|&j| results[j].is_none()).collect();
    (results, todo)
}

/// The runs `todo` as units of work: one run at a time, or on the device loop each condition's
/// runs together as one population (each gives the result it gives alone;
/// `sim_agents::population`).
fn units(config: &ReproConfig, jobs: &[(usize, u64)], todo: &[usize]) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    for &j in todo {
        match units.last_mut() {
            Some(unit) if config.train_loop == Loop::Device && jobs[unit[0]].0 == jobs[j].0 => unit.push(j),
            _ => units.push(vec![j]),
        }
    }
    units
}

/// The matrix's progress display: one bar for the whole matrix, one per run in training.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    run_style: ProgressStyle,
    /// Environment steps of one run.
    total_steps: u64,
}

impl Bars {
    /// Bars for `runs` runs of `config` (drawn on stderr when `progress`, hidden otherwise).
    fn new(config: &ReproConfig, runs: usize, progress: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let batch = config.ppo.batch_size() as u64;
        let total_steps = config.ppo.total_timesteps / batch * batch;
        let overall = multi.add(ProgressBar::new(total_steps * runs as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "matrix {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} env-steps ({per_sec}) eta {eta}",
            )
            .expect("template"),
        );
        overall.set_message(format!("{runs} runs"));
        let run_style = ProgressStyle::with_template("  {msg:32} [{bar:30}] {human_pos}/{human_len} ({per_sec})")
            .expect("template");
        Bars { multi, overall, run_style, total_steps }
    }

    /// A bar for the run `name`.
    fn run(&self, name: String) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(self.total_steps));
        bar.set_style(self.run_style.clone());
        bar.set_message(name);
        bar
    }

    /// Removes a finished run's bar.
    fn done(&self, bar: ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(&bar);
    }
}

/// Trains one unit (runs of one condition) on `device`: its results, or `None` where SIGTERM
/// stopped it after a checkpoint.
fn train_unit(
    config: &ReproConfig,
    scenarios: &[CloudParams],
    out: &Path,
    device: Device,
    jobs: &[(usize, u64)],
    unit: &[usize],
    bars: &Bars,
) -> Result<Option<Vec<RunResult>>, ReproError> {
    let c = jobs[unit[0]].0;
    let condition = &config.conditions[c];
    let seeds: Vec<u64> = unit.iter().map(|&j| jobs[j].1).collect();
    let dirs: Vec<PathBuf> = seeds.iter().map(|&seed| out.join("runs").join(run_name(&condition.name, seed))).collect();
    let mut run_bars = Vec::with_capacity(unit.len());
    for (dir, &seed) in dirs.iter().zip(&seeds) {
        FsError::create_dir(dir)?;
        run_bars.push(bars.run(run_name(&condition.name, seed)));
    }
    let mut last = vec![0; unit.len()];
    let on_update = |r: usize, step| {
        run_bars[r].set_position(step);
        bars.overall.inc(step - last[r]);
        last[r] = step;
    };
    let train_error = |(seed, source)| ReproError::Train { condition: condition.name.clone(), seed, source };
    let results = if let [seed] = seeds[..] {
        let mut on_update = on_update;
        let job =
            run::Job { config, condition, params: &scenarios[c], seed, dir: &dirs[0], on_update: |s| on_update(0, s) };
        device.dispatch(job).map_err(|source| train_error((seed, source)))?.map(|r| vec![r])
    } else {
        let job =
            run::PopulationJob { config, condition, params: &scenarios[c], seeds: &seeds, dirs: &dirs, on_update };
        device.dispatch(job).map_err(train_error)?
    };
    for bar in run_bars {
        bars.done(bar);
    }
    Ok(results)
}

/// Writes a finished run's files as it ends: its metrics and curve, then its `result.ron`,
/// whose presence marks the run finished (a checkpoint it was resumed from is then spent).
fn store(config: &ReproConfig, out: &Path, (c, seed): (usize, u64), result: &RunResult) -> Result<(), ReproError> {
    let name = run_name(&config.conditions[c].name, seed);
    let dir = out.join("runs").join(&name);
    write_atomic(&dir.join("metrics.csv"), sim_agents::UpdateMetrics::csv(&result.metrics).as_bytes())?;
    let curve = out.join("curves").join(format!("{name}.csv"));
    write_atomic(&curve, tables::curve_csv(&result.curve).as_bytes())?;
    write_atomic(&dir.join("result.ron"), ron::to_string(result)?.as_bytes())?;
    for spent in [run::CHECKPOINT, run::PROGRESS] {
        let _ = std::fs::remove_file(dir.join(spent));
    }
    Ok(())
}

/// Runs the matrix into `out`, resuming what an earlier invocation left unfinished, and writes
/// its tables, figures and report. `solutions` keeps the exact solutions (pass one
/// `Solutions::default()` to every matrix of one base to solve it once).
#[allow(clippy::too_many_arguments)]
pub fn run_matrix(
    config: &ReproConfig,
    base: &CloudParams,
    scenarios: &[CloudParams],
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
    solutions: &Solutions,
) -> Result<MatrixOutcome, ReproError> {
    let start = Instant::now();
    // The criteria are read before any training, so a bad file fails at once.
    let criteria = criteria::Registered::load(&config.criteria)?;
    let Runs { results, computed } = run_all(config, scenarios, out, threads, device, progress, solutions)?;
    write_outputs(config, base, scenarios, out, &results, computed, &criteria, start, solutions)
}

/// Writes the tables, figures and report of a matrix whose runs array tasks computed into
/// `out` (the same bytes as [`run_matrix`]'s, but for the report's timing line); an error names
/// the runs not finished.
pub fn aggregate_matrix(
    config: &ReproConfig,
    base: &CloudParams,
    scenarios: &[CloudParams],
    out: &Path,
    device: Device,
    runs_per_task: usize,
    solutions: &Solutions,
) -> Result<MatrixOutcome, ReproError> {
    let start = Instant::now();
    let criteria = criteria::Registered::load(&config.criteria)?;
    let results = collect(config, scenarios, out, device, runs_per_task, solutions)?;
    write_outputs(config, base, scenarios, out, &results, 0, &criteria, start, solutions)
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    config: &ReproConfig,
    base: &CloudParams,
    scenarios: &[CloudParams],
    out: &Path,
    results: &[RunResult],
    computed: usize,
    criteria: &criteria::Registered,
    start: Instant,
    solutions: &Solutions,
) -> Result<MatrixOutcome, ReproError> {
    let refs: Vec<&RunResult> = results.iter().collect();
    let scenarios = &solutions.resolve(config, scenarios);

    // Tables, verdicts, figures, report.
    let b = Bootstrap { resamples: config.bootstrap.resamples, confidence: config.bootstrap.confidence, seed: 0 };
    let aggregate = tables::Aggregate::compute(config, &refs, &b);
    let exact = solutions.exact(config, base, scenarios);
    let inputs = verdicts::Inputs {
        config,
        base,
        scenarios,
        results: &refs,
        aggregate: &aggregate,
        criteria: &criteria.criteria,
        bootstrap: &b,
    };
    // The calibration first: every verdict's criterion run on oracle pseudo-agents.
    let calibrated = verdicts::calibrate(&inputs, &exact);
    let rows = verdicts::verdicts(&inputs, &exact, &calibrated);
    let phenomena: Vec<&str> = rows.iter().map(|r| r.phenomenon).collect();
    write_atomic(&out.join("calibration.csv"), calibration::csv(&calibrated, &phenomena).as_bytes())?;
    write_atomic(&out.join("summary.csv"), tables::summary_csv(&refs).as_bytes())?;
    write_atomic(&out.join("aggregate.csv"), aggregate.csv(config).as_bytes())?;
    write_atomic(&out.join("modes.csv"), tables::modes_csv(config, &refs).as_bytes())?;
    write_atomic(&out.join("verdicts.csv"), verdicts::csv(&rows).as_bytes())?;
    write_atomic(&out.join("detection_latency.csv"), tables::latency_csv(&refs).as_bytes())?;
    write_atomic(&out.join("violations_by_kind.csv"), tables::violations_by_kind_csv(&refs).as_bytes())?;
    let honest = exact.base.as_ref().map_or(f64::NAN, |i| i.honest.value);
    let figures: [(&str, Result<String, PlotError>); 4] = [
        ("learning_curves.svg", plots::learning_curves(config, &refs, &b)),
        ("frontier.svg", plots::frontier(config, &refs, &aggregate, honest)),
        ("detection_latency.svg", plots::detection_latency(&refs)),
        ("violation_breakdown.svg", plots::violation_breakdown(config, &refs)),
    ];
    for (name, svg) in figures {
        let svg = svg.map_err(|source| ReproError::Plot { figure: name, source })?;
        write_atomic(&out.join(name), svg.as_bytes())?;
    }
    // The emergence experiment's phase diagram, where the matrix has pretrained cells.
    let majority = criteria.criteria.majority;
    let honest_of = |c: &config::Condition| exact.at(&c.name).map_or(f64::NAN, |i| i.honest.upper);
    if let Some(svg) = emergence::svg(config, &refs, &aggregate, majority, honest_of) {
        let svg = svg.map_err(|source| ReproError::Plot { figure: "emergence.svg", source })?;
        write_atomic(&out.join("emergence.csv"), emergence::csv(config, &refs, &aggregate, majority).as_bytes())?;
        write_atomic(&out.join("emergence.svg"), svg.as_bytes())?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let facts = report::RunFacts { seconds, computed_runs: computed };
    let text = report::report(config, base, &refs, &aggregate, &exact, &rows, &calibrated, criteria, &facts);
    write_atomic(&out.join("report.md"), text.as_bytes())?;
    let emergence = config
        .of(config::Family::Emergence)
        .into_iter()
        .map(|c| (c.name.clone(), verdicts::Emergence::of(&refs, c, criteria.criteria.majority)))
        .collect();
    Ok(MatrixOutcome {
        emergence,
        dir: out.to_path_buf(),
        computed,
        seconds,
        episodes: results.iter().map(|r| r.summary.train_episodes).sum(),
        verdicts: rows,
        aggregate,
        exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Loop;

    /// A run directory holds one matrix on one loop and device: the same matrix asked for on
    /// another loop is refused with the flag that resumes it; another matrix is refused as such.
    #[test]
    fn a_run_directory_names_the_loop_it_was_run_on() {
        let text = config::PRESETS.iter().find(|(n, _)| *n == "quick").expect("the quick preset").1;
        let (quick, _, scenarios) = ReproConfig::parse(text, "quick").unwrap();
        let out = std::env::temp_dir().join(format!("repro-prepare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let on_device = ReproConfig { train_loop: Loop::Device, ..quick.clone() };
        prepare(&on_device, &scenarios, &out, Device::Cpu).unwrap();
        prepare(&on_device, &scenarios, &out, Device::Cpu).expect("the same matrix resumes");
        let err = prepare(&quick, &scenarios, &out, Device::Cpu).unwrap_err().to_string();
        assert!(err.ends_with("was run with --loop device; resume it with that"), "{err}");
        let other = ReproConfig { seeds: vec![7], ..on_device };
        let err = prepare(&other, &scenarios, &out, Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("holds a different matrix"), "{err}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
