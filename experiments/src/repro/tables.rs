//! The tables a researcher opens: `summary.csv` (one row per condition and seed),
//! `aggregate.csv` (per condition and metric: interquartile mean with its 95% stratified
//! bootstrap interval, and Safety Gym's three numbers) and the learning-curve CSVs.
//!
//! Numbers are written in Rust's shortest round-trip form and rows in matrix order, so the same
//! configuration gives byte-identical files.

use std::fmt::Write;

use super::config::{Condition, ReproConfig};
use super::report::ScriptReference;
use super::run::{CurvePoint, RunResult, SummaryRow};
use crate::stats::{Bootstrap, Estimate, mean};

/// Columns of `summary.csv`, in order.
pub const SUMMARY_COLUMNS: &[&str] = &[
    "condition",
    "seed",
    "task_return",
    "success_rate",
    "violation_rate",
    "true_cost",
    "alert_rate",
    "detected_share",
    "mean_detection_latency",
    "tunnel_rate",
    "mining_share",
    "exploit_rate",
    "self_report_rate",
    "coins_mined",
    "steps_to_majority_violation",
    "tunnel_share_of_violating",
    "tunnel_step",
    "probe_rate",
    "untrained_violation_rate",
    "untrained_return",
    "final_train_return",
    "cost_rate",
    "train_episodes",
    "train_steps",
    "lagrange_multiplier",
];

/// A number as a CSV cell: shortest round-trip form, empty for NaN or missing.
pub fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if !x.is_nan() => format!("{x}"),
        _ => String::new(),
    }
}

/// The numeric columns of a summary row, by name (`None` for a missing value).
pub fn metric(row: &SummaryRow, name: &str) -> Option<f64> {
    Some(match name {
        "task_return" => row.task_return,
        "success_rate" => row.success_rate,
        "violation_rate" => row.violation_rate,
        "true_cost" => row.true_cost,
        "alert_rate" => row.alert_rate,
        "detected_share" => row.detected_share,
        "mean_detection_latency" => row.mean_detection_latency,
        "tunnel_rate" => row.tunnel_rate,
        "mining_share" => row.mining_share,
        "exploit_rate" => row.exploit_rate,
        "coins_mined" => row.coins_mined,
        "self_report_rate" => row.self_report_rate,
        "steps_to_majority_violation" => return row.steps_to_majority_violation.map(|s| s as f64),
        "tunnel_share_of_violating" => row.tunnel_share_of_violating,
        "tunnel_step" => row.tunnel_step,
        "probe_rate" => row.probe_rate,
        "untrained_violation_rate" => row.untrained_violation_rate,
        "untrained_return" => row.untrained_return,
        "final_train_return" => row.final_train_return,
        "cost_rate" => row.cost_rate,
        "train_episodes" => row.train_episodes as f64,
        "train_steps" => row.train_steps as f64,
        "lagrange_multiplier" => return row.lagrange_multiplier,
        _ => return None,
    })
}

/// `summary.csv`.
pub fn summary_csv(results: &[&RunResult]) -> String {
    let mut out = SUMMARY_COLUMNS.join(",");
    out.push('\n');
    for r in results {
        let s = &r.summary;
        let cells: Vec<String> = SUMMARY_COLUMNS
            .iter()
            .map(|c| match *c {
                "condition" => s.condition.clone(),
                "seed" => s.seed.to_string(),
                name => cell(metric(s, name)),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Safety Gym's three numbers (Ray et al., 2019): final return and final episode cost of the
/// trained policy, and the cost rate over all of training. Named so in `aggregate.csv`.
pub const SAFETY_GYM: &[(&str, &str)] = &[
    ("safety_gym/final_return", "task_return"),
    ("safety_gym/final_cost", "true_cost"),
    ("safety_gym/cost_rate", "cost_rate"),
];

/// The per-seed values of `metric` for `condition`.
pub fn values(results: &[&RunResult], condition: &str, metric_name: &str) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r.summary.condition == condition)
        .map(|r| metric(&r.summary, metric_name).unwrap_or(f64::NAN))
        .collect()
}

/// The IQM estimate of `metric` for `condition`.
pub fn estimate(results: &[&RunResult], condition: &str, metric_name: &str, b: &Bootstrap) -> Option<Estimate> {
    b.iqm(&values(results, condition, metric_name))
}

/// `aggregate.csv`: per condition and metric, the IQM over seeds with its bootstrap interval,
/// the mean, and the number of seeds with a value.
pub fn aggregate_csv(config: &ReproConfig, results: &[&RunResult], b: &Bootstrap) -> String {
    let mut out = String::from("condition,family,knob,metric,seeds,iqm,ci_low,ci_high,mean\n");
    let metrics: Vec<(&str, &str)> =
        SUMMARY_COLUMNS[2..].iter().map(|m| (*m, *m)).chain(SAFETY_GYM.iter().copied()).collect();
    for c in &config.conditions {
        for (label, name) in &metrics {
            let v = values(results, &c.name, name);
            let seeds = v.iter().filter(|x| !x.is_nan()).count();
            let e = b.iqm(&v);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                c.name,
                c.family.name(),
                cell(c.knob),
                label,
                seeds,
                cell(e.map(|e| e.point)),
                cell(e.map(|e| e.low)),
                cell(e.map(|e| e.high)),
                cell(mean(&v))
            );
        }
    }
    out
}

/// Columns of a learning-curve CSV.
pub const CURVE_COLUMNS: &str = "update,global_step,train_episodes,train_return,train_violation_rate,eval_return,\
eval_violation_rate,eval_alert_rate,eval_true_cost,eval_tunnel_rate";

/// A run's learning curve as CSV.
pub fn curve_csv(curve: &[CurvePoint]) -> String {
    let mut out = String::from(CURVE_COLUMNS);
    out.push('\n');
    for p in curve {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            p.update,
            p.global_step,
            p.train_episodes,
            cell(Some(p.train_return)),
            cell(Some(p.train_violation_rate)),
            cell(Some(p.eval_return)),
            cell(Some(p.eval_violation_rate)),
            cell(Some(p.eval_alert_rate)),
            cell(Some(p.eval_true_cost)),
            cell(Some(p.eval_tunnel_rate)),
        );
    }
    out
}

/// The runs of `condition`, in seed order.
pub fn runs_of<'a>(results: &[&'a RunResult], condition: &Condition) -> Vec<&'a RunResult> {
    results.iter().copied().filter(|r| r.summary.condition == condition.name).collect()
}

/// Final-evaluation detection latencies as a histogram per run and monitor:
/// `condition,seed,monitor,latency,episodes` (steps from the first violation to the monitor's
/// alert, and how many detected episodes had that latency).
pub fn latency_csv(results: &[&RunResult]) -> String {
    let mut out = String::from("condition,seed,monitor,latency,episodes\n");
    for r in results {
        for (monitor, latencies) in &r.latencies {
            let mut counts = std::collections::BTreeMap::new();
            for l in latencies {
                *counts.entry(*l).or_insert(0usize) += 1;
            }
            for (latency, n) in counts {
                let _ = writeln!(out, "{},{},{monitor},{latency},{n}", r.summary.condition, r.summary.seed);
            }
        }
    }
    out
}

/// Final-evaluation violation events per episode by kind: `condition,seed,kind,events_per_episode`.
pub fn violations_by_kind_csv(results: &[&RunResult]) -> String {
    let mut out = String::from("condition,seed,kind,events_per_episode\n");
    for r in results {
        for (kind, events) in &r.violations_by_kind {
            let _ = writeln!(out, "{},{},{kind},{}", r.summary.condition, r.summary.seed, cell(Some(*events)));
        }
    }
    out
}

/// The scripted reference policies under the baseline's scenario:
/// `policy,honest,return,ci_low,ci_high` (mean and 95% normal interval).
pub fn scripts_csv(scripts: &[ScriptReference]) -> String {
    let mut out = String::from("policy,honest,return,ci_low,ci_high\n");
    for s in scripts {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            s.name,
            s.honest,
            cell(Some(s.ret.point)),
            cell(Some(s.ret.low)),
            cell(Some(s.ret.high))
        );
    }
    out
}
