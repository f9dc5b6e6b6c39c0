//! The tables a researcher opens: `summary.csv` (one row per condition and seed),
//! `aggregate.csv` (per condition and metric: interquartile mean with its BCa interval, and
//! Safety Gym's three numbers), `modes.csv` (seeds per behavioural mode) and the learning-curve
//! CSVs; and [`Aggregate`], the one computation of per-condition statistics everything reads.
//!
//! Numbers are written in Rust's shortest round-trip form and rows in matrix order, so the same
//! configuration gives byte-identical files.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::config::{Condition, ReproConfig};
use super::run::{CurvePoint, RunResult, SummaryRow};
use crate::stats::{Bootstrap, Estimate, mean};

macro_rules! metrics {
    ($( $variant:ident = $name:literal => $value:expr ),* $(,)?) => {
        /// A numeric column of `summary.csv`: its name and how it is read from a summary row,
        /// in one place. Tables, plots, the report and the verdicts name metrics by it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric {
            $( #[doc = concat!("`", $name, "`.")] $variant, )*
        }

        impl Metric {
            /// Every metric, in column order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),*];

            /// The column name.
            pub fn name(self) -> &'static str {
                match self { $(Metric::$variant => $name),* }
            }

            /// The value of a summary row (`None` where it has none).
            pub fn of(self, row: &SummaryRow) -> Option<f64> {
                let read: fn(&SummaryRow) -> Option<f64> = match self { $(Metric::$variant => $value),* };
                read(row).filter(|v| !v.is_nan())
            }
        }
    };
}

metrics! {
    TaskReturn = "task_return" => |r| Some(r.task_return),
    SuccessRate = "success_rate" => |r| Some(r.success_rate),
    ViolationRate = "violation_rate" => |r| Some(r.violation_rate),
    TrueCost = "true_cost" => |r| Some(r.true_cost),
    AlertRate = "alert_rate" => |r| Some(r.alert_rate),
    DetectedShare = "detected_share" => |r| Some(r.detected_share),
    MeanDetectionLatency = "mean_detection_latency" => |r| Some(r.mean_detection_latency),
    TunnelRate = "tunnel_rate" => |r| Some(r.tunnel_rate),
    MiningShare = "mining_share" => |r| Some(r.mining_share),
    ExploitRate = "exploit_rate" => |r| Some(r.exploit_rate),
    SelfReportRate = "self_report_rate" => |r| Some(r.self_report_rate),
    CoinsMined = "coins_mined" => |r| Some(r.coins_mined),
    StepsToMajorityViolation = "steps_to_majority_violation" => |r| r.steps_to_majority_violation.map(|s| s as f64),
    TunnelShareOfViolating = "tunnel_share_of_violating" => |r| Some(r.tunnel_share_of_violating),
    TunnelStep = "tunnel_step" => |r| Some(r.tunnel_step),
    ProbeRate = "probe_rate" => |r| Some(r.probe_rate),
    UntrainedViolationRate = "untrained_violation_rate" => |r| Some(r.untrained_violation_rate),
    UntrainedReturn = "untrained_return" => |r| Some(r.untrained_return),
    FinalTrainReturn = "final_train_return" => |r| Some(r.final_train_return),
    CostRate = "cost_rate" => |r| Some(r.cost_rate),
    TrainEpisodes = "train_episodes" => |r| Some(r.train_episodes as f64),
    TrainSteps = "train_steps" => |r| Some(r.train_steps as f64),
    LagrangeMultiplier = "lagrange_multiplier" => |r| r.lagrange_multiplier,
    AlertsPerEpisode = "alerts_per_episode" => |r| Some(r.alerts_per_episode),
    UnauthorizedGpuSteps = "unauthorized_gpu_steps" => |r| Some(r.unauthorized_gpu_steps),
    NeverDetectedShare = "never_detected_share" => |r| Some(r.never_detected_share),
    TunnelGivenMining = "tunnel_given_mining" => |r| Some(r.tunnel_given_mining),
    TunnelGivenNoHost = "tunnel_given_no_host" => |r| Some(r.tunnel_given_no_host),
    SampledReturn = "sampled_return" => |r| Some(r.sampled_return),
    SampledViolationRate = "sampled_violation_rate" => |r| Some(r.sampled_violation_rate),
    SampledTrueCost = "sampled_true_cost" => |r| Some(r.sampled_true_cost),
    UnmonitoredReturn = "unmonitored_return" => |r| Some(r.unmonitored_return),
    UnmonitoredViolationRate = "unmonitored_violation_rate" => |r| Some(r.unmonitored_violation_rate),
    UnmonitoredTrueCost = "unmonitored_true_cost" => |r| Some(r.unmonitored_true_cost),
}

/// A number as a CSV cell: shortest round-trip form, empty for NaN or missing.
pub fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if !x.is_nan() => format!("{x}"),
        _ => String::new(),
    }
}

/// `summary.csv`: `condition,seed`, every [`Metric`], then the behavioural `mode`.
pub fn summary_csv(results: &[&RunResult]) -> String {
    let mut out = String::from("condition,seed");
    for m in Metric::ALL {
        let _ = write!(out, ",{}", m.name());
    }
    out.push_str(",mode\n");
    for r in results {
        let s = &r.summary;
        let _ = write!(out, "{},{}", s.condition, s.seed);
        for m in Metric::ALL {
            let _ = write!(out, ",{}", cell(m.of(s)));
        }
        let _ = writeln!(out, ",{}", s.mode);
    }
    out
}

/// Safety Gym's three numbers (Ray et al., 2019): final return and final episode cost of the
/// trained policy, and the cost rate over all of training. Named so in `aggregate.csv`.
pub const SAFETY_GYM: &[(&str, Metric)] = &[
    ("safety_gym/final_return", Metric::TaskReturn),
    ("safety_gym/final_cost", Metric::TrueCost),
    ("safety_gym/cost_rate", Metric::CostRate),
];

/// The per-seed values of `metric` for `condition` (NaN where a seed has none).
pub fn values(results: &[&RunResult], condition: &str, metric: Metric) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r.summary.condition == condition)
        .map(|r| metric.of(&r.summary).unwrap_or(f64::NAN))
        .collect()
}

/// One condition's metric: the IQM with its interval, the mean, and the seeds with a value.
type Cell = (Option<Estimate>, Option<f64>, usize);

/// Every condition's every metric over seeds, computed once: the IQM with its BCa interval
/// (see `stats`), the mean, and the seeds with a value. The CSVs, the plots, the report and the
/// verdicts read it.
pub struct Aggregate {
    cells: BTreeMap<(String, Metric), Cell>,
}

impl Aggregate {
    /// The aggregate of `results` over the conditions of `config`.
    pub fn compute(config: &ReproConfig, results: &[&RunResult], b: &Bootstrap) -> Self {
        let mut cells = BTreeMap::new();
        for c in &config.conditions {
            for &m in Metric::ALL {
                let v = values(results, &c.name, m);
                let seeds = v.iter().filter(|x| !x.is_nan()).count();
                cells.insert((c.name.clone(), m), (b.bca_iqm(&v), mean(&v), seeds));
            }
        }
        Aggregate { cells }
    }

    /// The IQM of `metric` over `condition`'s seeds, with its interval.
    pub fn get(&self, condition: &str, metric: Metric) -> Option<Estimate> {
        self.cells.get(&(condition.to_string(), metric)).and_then(|c| c.0)
    }

    /// As [`Aggregate::get`], shown `point [low, high]`, or `n/a`.
    pub fn show(&self, condition: &str, metric: Metric, digits: usize) -> String {
        self.get(condition, metric).map_or("n/a".into(), |e| e.show(digits))
    }

    /// `aggregate.csv`: per condition and metric (and Safety Gym's names), seeds, IQM, interval
    /// and mean.
    pub fn csv(&self, config: &ReproConfig) -> String {
        let mut out = String::from("condition,family,knob,metric,seeds,iqm,ci_low,ci_high,mean\n");
        let metrics: Vec<(&str, Metric)> =
            Metric::ALL.iter().map(|m| (m.name(), *m)).chain(SAFETY_GYM.iter().copied()).collect();
        for c in &config.conditions {
            for (label, m) in &metrics {
                let (e, mean, seeds) = self.cells[&(c.name.clone(), *m)];
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
                    cell(mean)
                );
            }
        }
        out
    }
}

/// `modes.csv`: per condition, how many seeds' final policies are in each behavioural mode.
pub fn modes_csv(config: &ReproConfig, results: &[&RunResult]) -> String {
    let mut out = String::from("condition,mode,seeds\n");
    for c in &config.conditions {
        let mut modes: BTreeMap<&str, usize> = BTreeMap::new();
        for r in results.iter().filter(|r| r.summary.condition == c.name) {
            *modes.entry(r.summary.mode.as_str()).or_default() += 1;
        }
        for (mode, n) in modes {
            let _ = writeln!(out, "{},{mode},{n}", c.name);
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
