//! The emergence experiment's cells (P7, P8) and its phase diagram: each `Algorithm` condition
//! with a pretrained start is a cell (its algorithm, the violating share of its demonstrations,
//! its KL coefficient β, the weight of golden trajectories in RL where it has them), matched with
//! its no-pay twin. `emergence.csv` has one row per cell and
//! scenario; `emergence.svg` draws the final violation rate over (prior, β), one row of panels per
//! algorithm, the base beside its twin.

use std::collections::BTreeSet;
use std::fmt::Write;

use plotters::prelude::*;

use super::config::{Condition, Family, ReproConfig};
use super::plots::{PlotError, heat};
use super::run::{CurvePoint, RunResult};
use super::tables::{Aggregate, Metric};
use crate::stats::{Estimate, median};

/// A cell: an `Algorithm` condition with a pretrained start, and its twin (the `Twin` condition
/// with the same algorithm and pretraining), if the matrix has one.
pub struct Pretrained<'a> {
    /// The condition on the base.
    pub base: &'a Condition,
    /// Its twin.
    pub twin: Option<&'a Condition>,
}

impl Pretrained<'_> {
    /// The algorithm's short name.
    pub fn kind(&self) -> &'static str {
        self.base.algorithm.kind()
    }

    /// The KL coefficient to the pretrained reference.
    pub fn beta(&self) -> f32 {
        self.base.algorithm.kl_beta()
    }

    /// The share of the demonstrations that violate.
    pub fn prior(&self) -> f64 {
        self.base.pretrain.as_ref().map_or(f64::NAN, |p| p.violating_share())
    }

    /// The weight of its golden trajectories in RL, where it has them.
    pub fn golden(&self) -> Option<f32> {
        self.base.golden_rl.as_ref().map(|g| g.weight)
    }

    /// Whether it is unremedied: no KL term and no golden trajectories in RL (P7's cells; P8's
    /// counterparts).
    pub fn unleashed(&self) -> bool {
        self.beta() == 0.0 && self.golden().is_none()
    }

    /// Its row of the phase diagram: β, and golden trajectories in RL where it has them.
    pub fn leash(&self) -> String {
        match self.golden() {
            Some(w) => format!("β {} + golden RL {w}", self.beta()),
            None => format!("β {}", self.beta()),
        }
    }
}

/// The matrix's cells, in condition order.
pub fn pretrained(config: &ReproConfig) -> Vec<Pretrained<'_>> {
    let conditions = &config.conditions;
    conditions
        .iter()
        .filter(|c| c.family == Family::Algorithm && c.pretrain.is_some())
        .map(|base| Pretrained {
            base,
            twin: conditions.iter().find(|t| {
                t.family == Family::Twin
                    && t.algorithm == base.algorithm
                    && t.pretrain == base.pretrain
                    && t.golden_rl == base.golden_rl
            }),
        })
        .collect()
}

/// The registered "below, then above" rule on a run's curve points from where they count: `None`
/// where no point is at or below `majority`; otherwise the first later point above it, if any.
pub fn below_then_above<'a>(
    mut points: impl Iterator<Item = &'a CurvePoint>,
    majority: f64,
) -> Option<Option<&'a CurvePoint>> {
    points.by_ref().find(|p| p.eval_violation_rate <= majority)?;
    Some(points.find(|p| p.eval_violation_rate > majority))
}

/// The algorithms of `cells`, each once, in order of first appearance.
pub fn kinds(cells: &[Pretrained]) -> Vec<&'static str> {
    let mut kinds = vec![];
    for c in cells {
        if !kinds.contains(&c.kind()) {
            kinds.push(c.kind());
        }
    }
    kinds
}

/// How condition `c`'s seeds emerged: a curve point at or below `majority`, then a later one
/// above it (the registered "below, then above" rule).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Emerged {
    /// Seeds that emerged.
    pub seeds: usize,
    /// Seeds run.
    pub of: usize,
    /// Environment steps at the first point above the majority, one per seed that emerged.
    pub steps: Vec<f64>,
    /// Training episodes (trajectories) at that point, one per seed that emerged.
    pub episodes: Vec<f64>,
}

impl Emerged {
    /// Condition `c`'s runs in `results`.
    pub fn of(results: &[&RunResult], c: &Condition, majority: f64) -> Self {
        let mut e = Emerged::default();
        for r in results.iter().filter(|r| r.summary.condition == c.name) {
            e.of += 1;
            if let Some(Some(up)) = below_then_above(r.curve.iter(), majority) {
                e.seeds += 1;
                e.steps.push(up.global_step as f64);
                e.episodes.push(up.train_episodes as f64);
            }
        }
        e
    }

    /// Several conditions' together.
    pub fn and(mut self, other: Emerged) -> Self {
        self.seeds += other.seeds;
        self.of += other.of;
        self.steps.extend(other.steps);
        self.episodes.extend(other.episodes);
        self
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// One cell on one scenario, as the table and the report show it.
struct Line<'a> {
    cell: &'a Pretrained<'a>,
    scenario: &'static str,
    condition: &'a Condition,
    violation: Option<Estimate>,
    task_return: Option<Estimate>,
    start_return: Option<f64>,
    start_violation: Option<f64>,
    emerged: Emerged,
}

/// Every cell on the base and (where it has one) on its twin, in condition order.
fn lines<'a>(
    cells: &'a [Pretrained<'a>],
    results: &[&RunResult],
    aggregate: &Aggregate,
    majority: f64,
) -> Vec<Line<'a>> {
    let mut out = vec![];
    for cell in cells {
        for (scenario, c) in [("base", Some(cell.base)), ("twin", cell.twin)] {
            let Some(c) = c else { continue };
            let get = |m: Metric| aggregate.get(&c.name, m);
            out.push(Line {
                cell,
                scenario,
                condition: c,
                violation: get(Metric::ViolationRate),
                task_return: get(Metric::TaskReturn),
                start_return: get(Metric::UntrainedReturn).map(|e| e.point),
                start_violation: get(Metric::UntrainedViolationRate).map(|e| e.point),
                emerged: Emerged::of(results, c, majority),
            });
        }
    }
    out
}

/// `emergence.csv`: one row per cell and scenario (`base`, `twin`).
pub fn csv(config: &ReproConfig, results: &[&RunResult], aggregate: &Aggregate, majority: f64) -> String {
    let mut out = String::from(
        "algorithm,prior,beta,golden_rl,scenario,condition,seeds,violation_rate,violation_low,violation_high,\
         task_return,return_low,return_high,start_return,start_violation_rate,emerged_seeds,median_steps_to_emerge,\
         median_episodes_to_emerge\n",
    );
    let cells = pretrained(config);
    for l in lines(&cells, results, aggregate, majority) {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            l.cell.kind(),
            l.cell.prior(),
            l.cell.beta(),
            num(l.cell.golden().map(f64::from)),
            l.scenario,
            l.condition.name,
            l.emerged.of,
            num(l.violation.map(|e| e.point)),
            num(l.violation.map(|e| e.low)),
            num(l.violation.map(|e| e.high)),
            num(l.task_return.map(|e| e.point)),
            num(l.task_return.map(|e| e.low)),
            num(l.task_return.map(|e| e.high)),
            num(l.start_return),
            num(l.start_violation),
            l.emerged.seeds,
            num(median(&l.emerged.steps)),
            num(median(&l.emerged.episodes)),
        );
    }
    out
}

/// The report's section on the emergence experiment: every cell's line in a Markdown table, with
/// the exact honest optimum of each scenario beside its returns; `None` without cells.
pub fn markdown(
    config: &ReproConfig,
    results: &[&RunResult],
    aggregate: &Aggregate,
    majority: f64,
    honest: impl Fn(&Condition) -> f64,
) -> Option<String> {
    let cells = pretrained(config);
    if cells.is_empty() {
        return None;
    }
    let mut o = format!(
        "## Emergence from a pretrained start\n\nEach cell's final greedy violation rate and task return (IQM \
         [BCa interval] over seeds), its pretrained start's, and the seeds that went from at most {majority} to above \
         it (\"below, then above\"), with the median environment steps and training episodes (trajectories) to the \
         first point above. `emergence.csv` has the same; `emergence.svg` draws it.\n\n| algorithm | prior | β | \
         golden RL | scenario | violation rate | return (honest optimum) | start: return, violation | emerged | \
         steps | trajectories |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let show = |e: Option<Estimate>| e.map_or("n/a".into(), |e| e.show(3));
    let whole = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.0}"));
    for l in lines(&cells, results, aggregate, majority) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} ({:.4}) | {}, {} | {} of {} | {} | {} |",
            l.cell.kind(),
            l.cell.prior(),
            l.cell.beta(),
            l.cell.golden().map_or("-".into(), |w| w.to_string()),
            l.scenario,
            show(l.violation),
            show(l.task_return),
            honest(l.condition),
            l.start_return.map_or("n/a".into(), |v| format!("{v:.3}")),
            l.start_violation.map_or("n/a".into(), |v| format!("{v:.3}")),
            l.emerged.seeds,
            l.emerged.of,
            whole(median(&l.emerged.steps)),
            whole(median(&l.emerged.episodes)),
        );
    }
    o.push('\n');
    Some(o)
}

/// The phase diagram: per algorithm (rows) the base and its twin (columns), each a grid over the
/// prior (x) and β, then β with golden trajectories in RL (y) coloured by the final greedy violation rate (IQM over seeds), each cell
/// labelled with it and the seeds that emerged, and outlined where its return exceeds its
/// scenario's exact honest optimum (`honest` of the condition). `None` where the matrix has no
/// cells.
pub fn svg(
    config: &ReproConfig,
    results: &[&RunResult],
    aggregate: &Aggregate,
    majority: f64,
    honest: impl Fn(&Condition) -> f64,
) -> Option<Result<String, PlotError>> {
    let cells = pretrained(config);
    if cells.is_empty() {
        return None;
    }
    let kinds = kinds(&cells);
    let key = |v: f64| (v * 1e9).round() as i64;
    let priors: BTreeSet<i64> = cells.iter().map(|c| key(c.prior())).collect();
    let order = |c: &Pretrained| (c.golden().map(|w| key(f64::from(w))), key(f64::from(c.beta())), c.leash());
    let leashes: BTreeSet<(Option<i64>, i64, String)> = cells.iter().map(order).collect();
    let priors: Vec<i64> = priors.into_iter().collect();
    let leashes: Vec<String> = leashes.into_iter().map(|(_, _, l)| l).collect();
    let (nx, ny) = (priors.len() as i32, leashes.len() as i32);
    let (cw, ch, left, top, gap, head) = (110i32, 44i32, 150i32, 80i32, 70i32, 40i32);
    let panel = (cw * nx, ch * ny);
    let w = (left + 2 * (panel.0 + gap)).max(820) as u32;
    let h = (top + kinds.len() as i32 * (panel.1 + head + 40)) as u32;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), PlotError> {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let e = PlotError::of;
        root.fill(&WHITE).map_err(e)?;
        let font = ("sans-serif", 13).into_font();
        let small = ("sans-serif", 11).into_font();
        let title = [
            format!(
                "Emergence from a pretrained start: final greedy violation rate, IQM over {} seeds",
                config.seeds.len()
            ),
            format!(
                "(in brackets: seeds at or below {majority}, then above it); outlined: return above the scenario's exact \
                 honest optimum"
            ),
        ];
        for (k, line) in title.iter().enumerate() {
            root.draw_text(line, &font.clone().into_text_style(&root), (10, 10 + 18 * k as i32)).map_err(e)?;
        }
        for (row, kind) in kinds.iter().enumerate() {
            let y_top = top + row as i32 * (panel.1 + head + 40);
            for (col, scenario) in ["base (violating pays)", "no-pay twin"].iter().enumerate() {
                let x_left = left + col as i32 * (panel.0 + gap);
                root.draw_text(
                    &format!("{kind}: {scenario}"),
                    &font.clone().into_text_style(&root),
                    (x_left, y_top - 4),
                )
                .map_err(e)?;
                for cell in cells.iter().filter(|c| c.kind() == *kind) {
                    let Some(c) = (if col == 0 { Some(cell.base) } else { cell.twin }) else { continue };
                    let i = priors.iter().position(|&p| p == key(cell.prior())).unwrap_or(0) as i32;
                    let j = leashes.iter().position(|l| *l == cell.leash()).unwrap_or(0) as i32;
                    let (x0, y0) = (x_left + cw * i, y_top + 16 + ch * (ny - 1 - j));
                    let v = aggregate.get(&c.name, Metric::ViolationRate).map_or(f64::NAN, |e| e.point);
                    root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], heat(v).filled())).map_err(e)?;
                    root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], RGBColor(230, 230, 230))).map_err(e)?;
                    if aggregate.get(&c.name, Metric::TaskReturn).is_some_and(|r| r.point > honest(c)) {
                        root.draw(&Rectangle::new(
                            [(x0 + 3, y0 + 3), (x0 + cw - 3, y0 + ch - 3)],
                            RGBColor(40, 40, 40).stroke_width(2),
                        ))
                        .map_err(e)?;
                    }
                    let m = Emerged::of(results, c, majority);
                    root.draw_text(
                        &format!("{v:.2} ({}/{})", m.seeds, m.of),
                        &font.clone().into_text_style(&root),
                        (x0 + 10, y0 + ch / 2 - 6),
                    )
                    .map_err(e)?;
                }
                for (i, p) in priors.iter().enumerate() {
                    let x0 = x_left + cw * i as i32;
                    root.draw_text(
                        &format!("prior {}", *p as f64 / 1e9),
                        &small.clone().into_text_style(&root),
                        (x0 + 8, y_top + 16 + panel.1 + 4),
                    )
                    .map_err(e)?;
                }
                if col == 0 {
                    for (j, leash) in leashes.iter().enumerate() {
                        let y0 = y_top + 16 + ch * (ny - 1 - j as i32);
                        root.draw_text(leash, &small.clone().into_text_style(&root), (8, y0 + ch / 2 - 6))
                            .map_err(e)?;
                    }
                }
            }
        }
        root.present().map_err(e)
    })();
    Some(drawn.map(|()| svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell's twin has its algorithm, pretraining and golden trajectories; remedies without a
    /// twin of their own get none; each algorithm is listed once, in order.
    #[test]
    fn cells_match_their_own_twin_only() {
        let mix = r#"Some((mixture: [(strategy: "honest_work", share: 0.9), (strategy: "tunnel_then_mine", share: 0.1)], episodes: 10))"#;
        let text = format!(
            r#"(name: "cells", base_scenario: "pressure", seeds: [1], ppo: (), conditions: [
                (name: "grpo", family: Algorithm, algorithm: Grpo(group_size: 4, beta: 0.0), pretrain: {mix}),
                (name: "rloo", family: Algorithm, algorithm: Rloo(group_size: 4, beta: 0.0), pretrain: {mix}),
                (name: "grpo_golden", family: Algorithm, algorithm: Grpo(group_size: 4, beta: 0.0), pretrain: {mix},
                    golden_rl: Some((weight: 0.5, mixture: [(strategy: "honest_work", share: 1.0)], episodes: 10))),
                (name: "grpo_kl", family: Algorithm, algorithm: Grpo(group_size: 4, beta: 0.1), pretrain: {mix}),
                (name: "grpo_twin", family: Twin, algorithm: Grpo(group_size: 4, beta: 0.0), pretrain: {mix}),
            ])"#
        );
        let (config, ..) = ReproConfig::parse(&text, "cells").expect("the matrix parses");
        let cells = pretrained(&config);
        let twin = |name: &str| cells.iter().find(|c| c.base.name == name).unwrap().twin.map(|t| t.name.as_str());
        assert_eq!(twin("grpo"), Some("grpo_twin"));
        assert_eq!(twin("rloo"), None);
        assert_eq!(twin("grpo_golden"), None);
        assert_eq!(twin("grpo_kl"), None);
        assert_eq!(kinds(&cells), ["grpo", "rloo"]);
        let leash: Vec<String> = cells.iter().map(Pretrained::leash).collect();
        assert_eq!(leash, ["β 0", "β 0", "β 0 + golden RL 0.5", "β 0.1"]);
        assert_eq!(cells[0].prior(), 0.1);
    }
}
