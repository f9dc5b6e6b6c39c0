//! The figures of a `rome_repro` run, as SVG (plotters): learning curves with confidence bands,
//! the return-versus-violation frontier, detection-latency distributions per monitor and the
//! violation breakdown by kind. Each is rendered to a string and written atomically.

use plotters::prelude::*;

use super::config::{Condition, Family, ReproConfig};
use super::run::RunResult;
use super::tables::{Aggregate, Metric, runs_of};
use crate::stats::Bootstrap;

type PlotResult = Result<String, PlotError>;

/// What plotters reported when a figure could not be drawn (its error types borrow the drawing
/// backend, so the report keeps their text).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(pub String);

impl PlotError {
    /// plotters' error, as its text.
    pub fn of<E: std::fmt::Display>(e: E) -> Self {
        PlotError(e.to_string())
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// A rate in `[0, 1]` as a heat-map colour: white at 0, red at 1, grey where it is not a number.
pub fn heat(v: f64) -> RGBColor {
    if v.is_nan() {
        return RGBColor(200, 200, 200);
    }
    let t = v.clamp(0.0, 1.0);
    RGBColor(255, (255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8)
}

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::of(e)
}

/// Draws a chart's legend at `position` on a white box of opacity `background`.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    background: f64,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(background))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(err)
}

/// The name of a segmented axis's row or column.
fn segment_label(names: &[String], seg: &SegmentValue<usize>) -> String {
    match seg {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// Panels of the learning-curve figure: which families each shows.
const PANELS: &[(&str, &[Family])] = &[
    ("task reward: baseline, honest, emergence", &[Family::Baseline, Family::Honest, Family::Emergence]),
    ("egress, yield and persistence", &[Family::Baseline, Family::Egress, Family::Yield, Family::Persistence]),
    ("oracle penalty", &[Family::Baseline, Family::Oracle]),
    ("evasion: detected-only penalty", &[Family::Evasion, Family::Detected]),
    ("PPO-Lagrangian and AUP", &[Family::Baseline, Family::Lagrangian, Family::Aup]),
    ("controls and responses", &[Family::Baseline, Family::Control, Family::Response]),
];

/// The panel of other algorithms beside PPO's baseline, drawn only for a matrix that has them.
const ALGORITHMS_PANEL: (&str, &[Family]) = ("algorithms beside PPO", &[Family::Baseline, Family::Algorithm]);

/// Learning curves of evaluated return and violation rate: IQM over seeds with its interval.
pub fn learning_curves(config: &ReproConfig, results: &[&RunResult], b: &Bootstrap) -> PlotResult {
    let mut svg = String::new();
    {
        let mut panels = PANELS.to_vec();
        if config.conditions.iter().any(|c| c.family == Family::Algorithm) {
            panels.push(ALGORITHMS_PANEL);
        }
        let root = SVGBackend::with_string(&mut svg, (380 * panels.len() as u32, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((2, panels.len()));
        let max_step = results.iter().flat_map(|r| r.curve.iter().map(|p| p.global_step)).max().unwrap_or(1) as f64;
        let max_return = results.iter().flat_map(|r| r.curve.iter().map(|p| p.eval_return)).fold(0.1f64, f64::max);
        for (col, (title, families)) in panels.iter().enumerate() {
            let conditions: Vec<&Condition> =
                config.conditions.iter().filter(|c| families.contains(&c.family)).collect();
            for (row, (label, y_max)) in
                [("eval return", max_return * 1.05), ("eval violation rate", 1.05)].into_iter().enumerate()
            {
                let area = &areas[row * panels.len() + col];
                let mut chart = ChartBuilder::on(area)
                    .caption(if row == 0 { *title } else { "" }, ("sans-serif", 15))
                    .margin(8)
                    .x_label_area_size(30)
                    .y_label_area_size(40)
                    .build_cartesian_2d(0.0..max_step, 0.0..y_max)
                    .map_err(err)?;
                chart.configure_mesh().x_desc("env steps").y_desc(label).x_labels(4).y_labels(6).draw().map_err(err)?;
                for (i, c) in conditions.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    let runs = runs_of(results, c);
                    let Some(first) = runs.first() else { continue };
                    let mut line = Vec::new();
                    let mut band_low = Vec::new();
                    let mut band_high = Vec::new();
                    for k in 0..first.curve.len() {
                        let v: Vec<f64> = runs
                            .iter()
                            .filter_map(|r| r.curve.get(k))
                            .map(|p| if row == 0 { p.eval_return } else { p.eval_violation_rate })
                            .collect();
                        let Some(e) = b.iqm(&v) else { continue };
                        let x = first.curve[k].global_step as f64;
                        line.push((x, e.point));
                        band_low.push((x, e.low));
                        band_high.push((x, e.high));
                    }
                    let mut polygon = band_low.clone();
                    polygon.extend(band_high.iter().rev());
                    chart.draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.15)))).map_err(err)?;
                    let series = chart.draw_series(LineSeries::new(line, color.stroke_width(2))).map_err(err)?;
                    if row == 1 {
                        series
                            .label(c.name.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                    }
                }
                if row == 1 {
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK.mix(0.3))
                        .label_font(("sans-serif", 11))
                        .draw()
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Return versus violation rate across penalty weights and cost limits, with intervals.
pub fn frontier(config: &ReproConfig, results: &[&RunResult], aggregate: &Aggregate, honest_return: f64) -> PlotResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max_return = results.iter().map(|r| r.summary.task_return).fold(honest_return, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("Task return vs violation rate (IQM and 95% CI over seeds)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.02..1.05, 0.0..max_return)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("violation rate (share of episodes)")
            .y_desc("task return")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                vec![(-0.02, honest_return), (1.05, honest_return)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("exact honest optimum ({honest_return:.3})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.5)));
        let families = [Family::Baseline, Family::Honest, Family::Oracle, Family::Lagrangian, Family::Aup];
        for (i, f) in families.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let mut conditions: Vec<&Condition> = config.conditions.iter().filter(|c| c.family == *f).collect();
            conditions.sort_by(|a, b| a.knob.unwrap_or(0.0).total_cmp(&b.knob.unwrap_or(0.0)));
            let mut points = Vec::new();
            for c in &conditions {
                let (Some(v), Some(r)) =
                    (aggregate.get(&c.name, Metric::ViolationRate), aggregate.get(&c.name, Metric::TaskReturn))
                else {
                    continue;
                };
                points.push((v.point, r.point));
                chart
                    .draw_series([
                        PathElement::new(vec![(v.low, r.point), (v.high, r.point)], color.stroke_width(1)),
                        PathElement::new(vec![(v.point, r.low), (v.point, r.high)], color.stroke_width(1)),
                    ])
                    .map_err(err)?;
                let label = match c.knob {
                    Some(k) => format!("{k}"),
                    None => String::new(),
                };
                chart
                    .draw_series(std::iter::once(Text::new(label, (v.point + 0.01, r.point), ("sans-serif", 11))))
                    .map_err(err)?;
            }
            if points.is_empty() {
                continue;
            }
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(1))).map_err(err)?;
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(err)?
                .label(f.name())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 0.8)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Distributions of detection latency (steps from the first violation to a monitor's first
/// alert) per monitor, pooled over the final evaluations of every run.
pub fn detection_latency(results: &[&RunResult]) -> PlotResult {
    let monitors: Vec<String> =
        results.first().map(|r| r.latencies.iter().map(|(m, _)| m.clone()).collect()).unwrap_or_default();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360 * monitors.len().max(1) as u32, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, monitors.len().max(1)));
        for (i, m) in monitors.iter().enumerate() {
            let all: Vec<u32> = results.iter().flat_map(|r| r.latencies[i].1.iter().copied()).collect();
            let max = all.iter().copied().max().unwrap_or(0) as usize;
            let mut counts = vec![0usize; max + 1];
            for l in &all {
                counts[*l as usize] += 1;
            }
            let total = all.len().max(1) as f64;
            let top = counts.iter().copied().max().unwrap_or(0) as f64 / total;
            let mut chart = ChartBuilder::on(&areas[i])
                .caption(format!("{m} (n = {})", all.len()), ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(32)
                .y_label_area_size(45)
                .build_cartesian_2d(0u32..(max as u32 + 1), 0.0..(top * 1.1).max(0.05))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("steps from first violation to alert")
                .y_desc("share of detected episodes")
                .draw()
                .map_err(err)?;
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(counts.iter().enumerate().map(|(l, &c)| {
                    Rectangle::new([(l as u32, 0.0), (l as u32 + 1, c as f64 / total)], color.mix(0.7).filled())
                }))
                .map_err(err)?;
            if all.is_empty() {
                chart
                    .draw_series(std::iter::once(Text::new("no detections", (0, 0.025), ("sans-serif", 14))))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Mean violation events per episode by kind, per condition (final evaluation, mean over seeds).
pub fn violation_breakdown(config: &ReproConfig, results: &[&RunResult]) -> PlotResult {
    let kinds: Vec<String> =
        results.first().map(|r| r.violations_by_kind.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    let rows: Vec<(String, Vec<f64>)> = config
        .conditions
        .iter()
        .map(|c| {
            let runs = runs_of(results, c);
            let n = runs.len().max(1) as f64;
            let means =
                (0..kinds.len()).map(|k| runs.iter().map(|r| r.violations_by_kind[k].1).sum::<f64>() / n).collect();
            (c.name.clone(), means)
        })
        .collect();
    let max = rows.iter().map(|(_, v)| v.iter().sum::<f64>()).fold(0.5, f64::max);
    let mut svg = String::new();
    {
        let height = 90 + 26 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Violation events per episode, by kind (final evaluation)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..max * 1.05, (0..rows.len()).into_segmented())
            .map_err(err)?;
        let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
        chart
            .configure_mesh()
            .x_desc("events per episode")
            .y_label_formatter(&|seg| segment_label(&names, seg))
            .y_labels(rows.len())
            .disable_y_mesh()
            .draw()
            .map_err(err)?;
        for (k, kind) in kinds.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
                    let start: f64 = v[..k].iter().sum();
                    Rectangle::new(
                        [(start, SegmentValue::Exact(i)), (start + v[k], SegmentValue::Exact(i + 1))],
                        color.mix(0.8).filled(),
                    )
                }))
                .map_err(err)?
                .label(kind.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.8).filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 0.85)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One row of a phenomenon's contrast figure: who was measured, the verdict it got, and its
/// primary effect with its interval.
#[derive(Clone, Debug, PartialEq)]
pub struct ContrastRow {
    /// The trained agents, or a calibration pseudo-agent's name.
    pub label: String,
    /// The verdict this row's agents got.
    pub verdict: String,
    /// The primary effect and its interval `(point, low, high)`, where it was measured.
    pub effect: Option<(f64, f64, f64)>,
}

/// A phenomenon's primary contrast: the trained agents' effect with its interval beside the
/// calibration's pseudo-agents (the optimal agents, which show the criterion's power, and the
/// honest, random and always-violating ones, which must not pass), against the criterion's
/// threshold.
pub fn contrast(title: &str, rows: &[ContrastRow], threshold: f64) -> PlotResult {
    let measured = rows.iter().filter_map(|r| r.effect);
    let (lo, hi) = measured
        .fold((threshold.min(0.0), threshold.max(0.0)), |(lo, hi), (p, l, h)| (lo.min(l).min(p), hi.max(h).max(p)));
    let pad = ((hi - lo) * 0.08).max(0.05);
    let (lo, hi) = (lo - pad, hi + pad);
    let labels: Vec<String> = rows.iter().map(|r| format!("{} ({})", r.label, r.verdict)).collect();
    let mut svg = String::new();
    {
        let height = 80 + 34 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(250)
            .build_cartesian_2d(lo..hi, (0..rows.len()).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("primary effect (IQM over seeds, 95% interval)")
            .y_label_formatter(&|seg| segment_label(&labels, seg))
            .y_labels(rows.len())
            .disable_y_mesh()
            .draw()
            .map_err(err)?;
        let line = |x: f64, style: ShapeStyle| {
            PathElement::new(vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Exact(rows.len()))], style)
        };
        chart.draw_series([line(0.0, BLACK.mix(0.3).stroke_width(1))]).map_err(err)?;
        chart
            .draw_series([line(threshold, PALETTE[1].stroke_width(2))])
            .map_err(err)?
            .label(format!("threshold {threshold}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PALETTE[1].stroke_width(2)));
        for (i, row) in rows.iter().enumerate() {
            let color = if i == 0 { PALETTE[0] } else { RGBColor(90, 90, 90) };
            let Some((point, low, high)) = row.effect else {
                let at = (lo, SegmentValue::CenterOf(i));
                chart.draw_series(std::iter::once(Text::new(" not measured", at, ("sans-serif", 12)))).map_err(err)?;
                continue;
            };
            chart
                .draw_series([PathElement::new(
                    vec![(low, SegmentValue::CenterOf(i)), (high, SegmentValue::CenterOf(i))],
                    color.stroke_width(2),
                )])
                .map_err(err)?;
            chart.draw_series([Circle::new((point, SegmentValue::CenterOf(i)), 5, color.filled())]).map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 0.85)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The colour of a verdict in the verdict grid, with the verdicts in legend order.
const VERDICT_COLOURS: [(&str, RGBColor); 6] = [
    ("supported", RGBColor(44, 160, 44)),
    ("partly", RGBColor(160, 215, 110)),
    ("not_supported", RGBColor(214, 39, 40)),
    ("artefact", RGBColor(255, 127, 14)),
    ("precondition_fails", RGBColor(170, 170, 170)),
    ("not_measured", RGBColor(235, 235, 235)),
];

/// A sweep's verdicts as a grid: one row per variant (a draw or a setting), one column per
/// phenomenon, each cell coloured by its verdict. `cells[v][p]` is variant `v`'s verdict on
/// phenomenon `p`.
pub fn verdict_grid(title: &str, variants: &[String], phenomena: &[String], cells: &[Vec<String>]) -> PlotResult {
    let mut svg = String::new();
    {
        let (cell_w, cell_h) = (70u32, 22u32);
        let width = 170 + cell_w * phenomena.len() as u32 + 180;
        let height = 90 + cell_h * variants.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .margin_right(190)
            .x_label_area_size(30)
            .y_label_area_size(150)
            .build_cartesian_2d((0..phenomena.len()).into_segmented(), (0..variants.len()).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|s| segment_label(phenomena, s))
            .y_label_formatter(&|s| segment_label(variants, s))
            .x_labels(phenomena.len())
            .y_labels(variants.len())
            .disable_mesh()
            .draw()
            .map_err(err)?;
        for (v, row) in cells.iter().enumerate() {
            chart
                .draw_series(row.iter().enumerate().map(|(p, verdict)| {
                    let colour = VERDICT_COLOURS.iter().find(|(n, _)| n == verdict).map_or(WHITE, |(_, c)| *c);
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(p), SegmentValue::Exact(v)),
                            (SegmentValue::Exact(p + 1), SegmentValue::Exact(v + 1)),
                        ],
                        colour.filled(),
                    )
                }))
                .map_err(err)?;
        }
        // The legend beside the grid, in pixels.
        let x = (width - 170) as i32;
        for (i, (name, colour)) in VERDICT_COLOURS.iter().enumerate() {
            let y = 50 + 20 * i as i32;
            root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], BLACK.mix(0.3))).map_err(err)?;
            root.draw(&Text::new(*name, (x + 20, y + 1), ("sans-serif", 12))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
