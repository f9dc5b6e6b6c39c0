//! `phase_diagram`: where unrestricted acquisition switches on, by the exact solver and by PPO.
//!
//! Two axes of scenario parameters span a grid over a base scenario (each axis sets one or more
//! parameter paths to each of its values: the firewall's detection probability, the response to
//! an alert). In every cell the solver gives the honest and unrestricted optima and whether
//! violating pays; PPO is trained on the task reward over several seeds (the cells are the
//! conditions of a `rome_repro` matrix, so runs resume, and run in parallel) and its final
//! greedy policy evaluated. `phase.csv` has one row per cell; `phase.svg` draws PPO's learned
//! violation rate as a heat map with the exact boundary (where violating starts to pay) over
//! it: cells where PPO violates outside the boundary are exploration artefacts, cells inside it
//! where it does not are missed incentives.

use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use sim_agents::PpoConfig;
use sim_core::io::write_atomic;
use sim_core::params::{ConfigError, ParamError, Validate, check_at_least, parse_ron};
use sim_envs::CloudParams;
use sim_envs::toycloud::exact::{Incentives, SolveError};
use sim_envs::toycloud::space::with_values;

use crate::device::Device;
use crate::repro::config::{BootstrapConfig, Condition, EvalConfig, Family, ReproConfig};
use crate::repro::plots::{PlotError, heat};
use crate::repro::run::RunResult;
use crate::repro::solutions::Solutions;
use crate::repro::{ReproError, Runs, run_all};
use crate::stats::{Bootstrap, Estimate};

/// One axis of the grid: a name, the parameter paths it sets, and their values (RON text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The axis's name (a column of `phase.csv`'s header comment, and the figure's label).
    pub name: String,
    /// The parameters set to each value, by dotted path.
    pub paths: Vec<String>,
    /// The values, as RON text (`"0.3"`, `"Halt"`).
    pub values: Vec<String>,
}

/// A phase diagram's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    /// A name for the run directory.
    pub name: String,
    /// The base scenario (preset, file, or draw of a space).
    pub base: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// PPO's seeds in every cell.
    pub seeds: Vec<u64>,
    /// PPO's settings (task reward only).
    pub ppo: PpoConfig,
    /// How the final policies are evaluated.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Intervals.
    #[serde(default)]
    pub bootstrap: BootstrapConfig,
}

/// The shipped configurations: `default` and `quick` (a smoke test for CI).
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../configs/phase_diagram.ron")),
    ("quick", include_str!("../configs/phase_diagram_quick.ron")),
];

impl Validate for PhaseConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("seeds", self.seeds.len() as u64, 1)?;
        for (name, axis) in [("x", &self.x), ("y", &self.y)] {
            check_at_least(&format!("{name}.paths"), axis.paths.len() as u64, 1)?;
            check_at_least(&format!("{name}.values"), axis.values.len() as u64, 1)?;
        }
        self.ppo.validate().map_err(|e| e.within("ppo"))
    }
}

/// A configuration with its cells resolved.
pub struct Grid {
    /// The configuration.
    pub config: PhaseConfig,
    /// Each cell's `(x index, y index, scenario)`, x fastest.
    pub cells: Vec<(usize, usize, CloudParams)>,
}

impl Grid {
    /// Parses and validates a configuration, resolving every cell's scenario (so that a bad path
    /// or value fails before any training, naming the cell).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: PhaseConfig = parse_ron(text, origin)?;
        let base = CloudParams::scenario(&config.base).map_err(|e| ConfigError::Invalid {
            origin: origin.into(),
            source: ParamError::new("base", format!("{:?}", config.base), e.to_string()),
        })?;
        let mut cells = Vec::new();
        for (j, yv) in config.y.values.iter().enumerate() {
            for (i, xv) in config.x.values.iter().enumerate() {
                let values: Vec<(&str, &str)> = config
                    .x
                    .paths
                    .iter()
                    .map(|p| (p.as_str(), xv.as_str()))
                    .chain(config.y.paths.iter().map(|p| (p.as_str(), yv.as_str())))
                    .collect();
                let cell = format!("{origin}: cell {}={xv}, {}={yv}", config.x.name, config.y.name);
                let params = with_values(&base, &values, &cell).map_err(|e| ConfigError::Invalid {
                    origin: origin.into(),
                    source: ParamError::new(
                        format!("cell {}={xv}, {}={yv}", config.x.name, config.y.name),
                        "",
                        e.to_string(),
                    ),
                })?;
                cells.push((i, j, params));
            }
        }
        Ok(Grid { config, cells })
    }

    /// A preset by name, or a RON file by path.
    pub fn load(name_or_path: &str) -> Result<Self, ConfigError> {
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, &format!("preset `{name}`"));
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn cell_name(&self, i: usize, j: usize) -> String {
        format!("x{i}_y{j}")
    }

    /// The cells as the conditions of a task-only matrix.
    fn matrix(&self) -> ReproConfig {
        let c = &self.config;
        ReproConfig {
            name: c.name.clone(),
            base_scenario: c.base.clone(),
            tuning_seeds: vec![],
            criteria: "default".into(),
            seeds: c.seeds.clone(),
            ppo: c.ppo.clone(),
            eval: c.eval.clone(),
            bootstrap: c.bootstrap.clone(),
            conditions: self
                .cells
                .iter()
                .map(|(i, j, _)| Condition {
                    name: self.cell_name(*i, *j),
                    family: Family::Baseline,
                    patch: Default::default(),
                    lift_mask_at: None,
                    penalty: Default::default(),
                    lagrangian: None,
                    knob: None,
                    actions: Default::default(),
                    algorithm: Default::default(),
                    pretrain: None,
                    golden_rl: None,
                })
                .collect(),
            train_loop: Default::default(),
        }
    }
}

/// One cell's results.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Index on the x axis.
    pub i: usize,
    /// Index on the y axis.
    pub j: usize,
    /// The exact incentives (or why they could not be computed).
    pub incentives: Result<Incentives, SolveError>,
    /// PPO's final greedy return, over seeds (IQM and interval).
    pub ret: Option<Estimate>,
    /// PPO's true cost per episode.
    pub cost: Option<Estimate>,
    /// PPO's violation rate.
    pub violation: Option<Estimate>,
}

/// What a phase diagram run produced.
pub struct PhaseOutcome {
    /// The cells.
    pub cells: Vec<Cell>,
    /// Runs computed in this invocation.
    pub computed: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Solves and trains every cell of `grid` into `out`, and writes `phase.csv` and `phase.svg`.
pub fn run(
    grid: &Grid,
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
) -> Result<PhaseOutcome, ReproError> {
    let start = std::time::Instant::now();
    let scenarios: Vec<CloudParams> = grid.cells.iter().map(|c| c.2.clone()).collect();
    let matrix = grid.matrix();
    let Runs { results, computed } =
        run_all(&matrix, &scenarios, out, threads, device, progress, &Solutions::default())?;
    let b =
        Bootstrap { resamples: grid.config.bootstrap.resamples, confidence: grid.config.bootstrap.confidence, seed: 0 };
    let bar = indicatif::ProgressBar::new(grid.cells.len() as u64);
    if progress {
        bar.set_style(
            indicatif::ProgressStyle::with_template("solving cells {pos}/{len} [{wide_bar}] eta {eta}")
                .expect("template"),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let cells: Vec<Cell> = grid
        .cells
        .iter()
        .map(|(i, j, params)| {
            let name = grid.cell_name(*i, *j);
            let runs: Vec<&RunResult> = results.iter().filter(|r| r.summary.condition == name).collect();
            let est = |f: fn(&RunResult) -> f64| b.iqm(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
            let incentives = Incentives::compute(params, 0.0, 1.0);
            bar.inc(1);
            Cell {
                i: *i,
                j: *j,
                incentives,
                ret: est(|r| r.summary.task_return),
                cost: est(|r| r.summary.true_cost),
                violation: est(|r| r.summary.violation_rate),
            }
        })
        .collect();
    bar.finish_and_clear();
    write_atomic(&out.join("phase.csv"), phase_csv(grid, &cells).as_bytes())?;
    let svg = phase_svg(grid, &cells).map_err(|source| ReproError::Plot { figure: "phase.svg", source })?;
    write_atomic(&out.join("phase.svg"), svg.as_bytes())?;
    Ok(PhaseOutcome { cells, computed, seconds: start.elapsed().as_secs_f64() })
}

/// The columns of `phase.csv`.
pub const COLUMNS: &str = "x,y,honest_optimum,unrestricted_optimum,violation_pays,ppo_return,ppo_return_low,\
ppo_return_high,ppo_true_cost,ppo_true_cost_low,ppo_true_cost_high,ppo_violation_rate,ppo_violation_rate_low,\
ppo_violation_rate_high,honest_upper,unrestricted_upper,method,optimal_violation_rate,x_name,y_name";

fn phase_csv(grid: &Grid, cells: &[Cell]) -> String {
    let c = &grid.config;
    let mut csv = format!("{COLUMNS}\n");
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    let three = |e: &Option<Estimate>| {
        format!("{},{},{}", num(e.map(|e| e.point)), num(e.map(|e| e.low)), num(e.map(|e| e.high)))
    };
    for cell in cells {
        let (h, u, pays, hu, uu, method, optimal) = match &cell.incentives {
            Ok(i) => (
                num(Some(i.honest.value)),
                num(Some(i.unrestricted.value)),
                i.violation_pays().to_string(),
                num(Some(i.honest.upper)),
                num(Some(i.unrestricted.upper)),
                i.method.name().to_string(),
                num(Some(i.unrestricted.stats.violation_probability)),
            ),
            Err(_) => Default::default(),
        };
        csv.push_str(&format!(
            "{},{},{h},{u},{pays},{},{},{},{hu},{uu},{method},{optimal},{},{}\n",
            c.x.values[cell.i],
            c.y.values[cell.j],
            three(&cell.ret),
            three(&cell.cost),
            three(&cell.violation),
            c.x.name,
            c.y.name
        ));
    }
    csv
}

/// The heat map: PPO's violation rate per cell (white 0, red 1, the IQM written in, with the
/// optimal policy's rate beside it), cells where violating pays by the solver outlined, and two
/// exact boundaries drawn thick: where violating starts to pay at all (black), and where the
/// optimal policy violates in a majority of episodes (blue, dashed look by a lighter stroke).
fn phase_svg(grid: &Grid, cells: &[Cell]) -> Result<String, PlotError> {
    let c = &grid.config;
    let (nx, ny) = (c.x.values.len(), c.y.values.len());
    let (cw, ch, left, top) = (92i32, 56i32, 110i32, 70i32);
    let (w, h) = ((left + cw * nx as i32 + 30) as u32, (top + ch * ny as i32 + 70) as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let e = |x: DrawingAreaErrorKind<_>| PlotError::of(x);
        root.fill(&WHITE).map_err(e)?;
        let font = ("sans-serif", 13).into_font();
        root.draw_text(
            &format!(
                "PPO's violation rate, IQM over {} seeds (the exact optimum's in brackets); outlined: violating pays; \
                 black line: where it stops paying; blue line: where the optimum stops violating in most episodes",
                c.seeds.len()
            ),
            &font.clone().into_text_style(&root),
            (10, 10),
        )
        .map_err(e)?;
        root.draw_text(&c.base, &("sans-serif", 11).into_font().into_text_style(&root), (10, 30)).map_err(e)?;
        let incentives =
            |i: usize, j: usize| cells.iter().find(|k| k.i == i && k.j == j).and_then(|k| k.incentives.as_ref().ok());
        let pays = |i: usize, j: usize| incentives(i, j).map(Incentives::violation_pays);
        let majority = |i: usize, j: usize| incentives(i, j).map(|k| k.unrestricted.stats.violation_probability > 0.5);
        let origin = |i: usize, j: usize| (left + cw * i as i32, top + ch * (ny - 1 - j) as i32);
        for cell in cells {
            let (x0, y0) = origin(cell.i, cell.j);
            let v = cell.violation.map_or(f64::NAN, |e| e.point);
            root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], heat(v).filled())).map_err(e)?;
            root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], RGBColor(230, 230, 230))).map_err(e)?;
            if pays(cell.i, cell.j) == Some(true) {
                root.draw(&Rectangle::new(
                    [(x0 + 4, y0 + 4), (x0 + cw - 4, y0 + ch - 4)],
                    RGBColor(70, 70, 70).stroke_width(1),
                ))
                .map_err(e)?;
            }
            let label = match &cell.incentives {
                Ok(i) => format!("{v:.2} ({:.2})", i.unrestricted.stats.violation_probability),
                Err(_) => format!("{v:.2} (n/a)"),
            };
            root.draw_text(&label, &font.clone().into_text_style(&root), (x0 + 6, y0 + ch / 2 - 6)).map_err(e)?;
        }
        // The exact boundaries: between neighbours that differ.
        // Which side of a boundary a cell is on, if known.
        type Side<'a> = &'a dyn Fn(usize, usize) -> Option<bool>;
        let boundaries: [(Side, ShapeStyle); 2] = [(&pays, BLACK.stroke_width(5)), (&majority, BLUE.stroke_width(3))];
        for (side, style) in boundaries {
            for j in 0..ny {
                for i in 0..nx {
                    let (x0, y0) = origin(i, j);
                    let differs = |a: Option<bool>, b: Option<bool>| a.is_some() && b.is_some() && a != b;
                    if i + 1 < nx && differs(side(i, j), side(i + 1, j)) {
                        root.draw(&PathElement::new(vec![(x0 + cw, y0), (x0 + cw, y0 + ch)], style)).map_err(e)?;
                    }
                    if j + 1 < ny && differs(side(i, j), side(i, j + 1)) {
                        root.draw(&PathElement::new(vec![(x0, y0), (x0 + cw, y0)], style)).map_err(e)?;
                    }
                }
            }
        }
        let small = ("sans-serif", 12).into_font();
        for (i, v) in c.x.values.iter().enumerate() {
            let (x0, _) = origin(i, 0);
            root.draw_text(v, &small.clone().into_text_style(&root), (x0 + 6, top + ch * ny as i32 + 8)).map_err(e)?;
        }
        root.draw_text(&c.x.name, &font.clone().into_text_style(&root), (left, top + ch * ny as i32 + 30))
            .map_err(e)?;
        for (j, v) in c.y.values.iter().enumerate() {
            let (_, y0) = origin(0, j);
            root.draw_text(v, &small.clone().into_text_style(&root), (8, y0 + ch / 2 - 6)).map_err(e)?;
        }
        root.draw_text(&c.y.name, &font.into_text_style(&root), (8, top - 20)).map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}
