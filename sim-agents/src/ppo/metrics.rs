//! What an update reports: CleanRL's metric names, the CSV row, and the explained variance both
//! trainers compute it with.

use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::runner::Episode;

use super::loss::EpochStats;

/// What one update measured, named as CleanRL logs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateMetrics {
    /// 1-based update number.
    pub update: usize,
    /// Environment steps so far.
    pub global_step: u64,
    /// `charts/learning_rate`.
    pub learning_rate: f64,
    /// `charts/episodic_return`: mean task return of episodes that ended in this rollout.
    pub episodic_return: Option<f64>,
    /// `charts/episodic_length`.
    pub episodic_length: Option<f64>,
    /// Episodes that ended in this rollout.
    pub episodes: usize,
    /// `losses/value_loss` (last minibatch).
    pub value_loss: f32,
    /// `losses/policy_loss` (last minibatch).
    pub policy_loss: f32,
    /// `losses/entropy` (last minibatch).
    pub entropy: f32,
    /// `losses/old_approx_kl` (last minibatch).
    pub old_approx_kl: f32,
    /// `losses/approx_kl` (last minibatch).
    pub approx_kl: f32,
    /// `losses/clipfrac`: mean over all minibatches of the update.
    pub clipfrac: f32,
    /// `losses/explained_variance` of the value function on this rollout.
    pub explained_variance: f64,
    /// `losses/cost_value_loss` (PPO-Lagrangian; last minibatch).
    pub cost_value_loss: Option<f32>,
    /// `charts/lagrange_multiplier` after this update's multiplier step.
    pub lagrange_multiplier: Option<f32>,
    /// `charts/episodic_cost`: mean training cost of episodes that ended in this rollout.
    pub episodic_cost: Option<f64>,
    /// `charts/penalty_per_step`: what the penalty took from the reward, per step of this
    /// rollout (0 for the task-only reward and the cost signal).
    pub penalty_per_step: f64,
    /// `losses/ref_kl`: the objective's estimate of the KL to its reference policy
    /// ([`super::Objective::reference_kl`]), for an objective with a KL term.
    pub ref_kl: Option<f32>,
}

/// What an update measured of the clock. Kept apart from [`UpdateMetrics`] because it differs
/// from run to run: result files that must be reproducible never hold it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateTimings {
    /// `charts/SPS`: environment steps per second of this update (rollout and optimisation).
    pub sps: f64,
    /// `charts/rollout_seconds`: wall-clock time collecting the rollout.
    pub rollout_seconds: f64,
    /// `charts/optimize_seconds`: wall-clock time of the PPO epochs.
    pub optimize_seconds: f64,
}

/// One CSV column: its name and its cell.
type Column = (&'static str, fn(&UpdateMetrics, &UpdateTimings) -> String);

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// The metrics CSV's columns, CleanRL's names, in order: each column's name and cell defined
/// once, so the header and the rows cannot drift apart. Missing values are empty cells.
const COLUMNS: &[Column] = &[
    ("update", |m, _| m.update.to_string()),
    ("global_step", |m, _| m.global_step.to_string()),
    ("charts/learning_rate", |m, _| m.learning_rate.to_string()),
    ("charts/episodic_return", |m, _| opt(m.episodic_return)),
    ("charts/episodic_length", |m, _| opt(m.episodic_length)),
    ("charts/episodes", |m, _| m.episodes.to_string()),
    ("charts/SPS", |_, t| format!("{:.1}", t.sps)),
    ("charts/rollout_seconds", |_, t| format!("{:.4}", t.rollout_seconds)),
    ("charts/optimize_seconds", |_, t| format!("{:.4}", t.optimize_seconds)),
    ("losses/value_loss", |m, _| m.value_loss.to_string()),
    ("losses/policy_loss", |m, _| m.policy_loss.to_string()),
    ("losses/entropy", |m, _| m.entropy.to_string()),
    ("losses/old_approx_kl", |m, _| m.old_approx_kl.to_string()),
    ("losses/approx_kl", |m, _| m.approx_kl.to_string()),
    ("losses/clipfrac", |m, _| m.clipfrac.to_string()),
    ("losses/explained_variance", |m, _| m.explained_variance.to_string()),
    ("losses/cost_value_loss", |m, _| opt(m.cost_value_loss.map(f64::from))),
    ("charts/lagrange_multiplier", |m, _| opt(m.lagrange_multiplier.map(f64::from))),
    ("charts/episodic_cost", |m, _| opt(m.episodic_cost)),
    ("charts/penalty_per_step", |m, _| m.penalty_per_step.to_string()),
    ("losses/ref_kl", |m, _| opt(m.ref_kl.map(f64::from))),
];

impl UpdateMetrics {
    /// The CSV header (no line break).
    pub fn csv_header() -> String {
        COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(",")
    }

    /// The metrics as a CSV row (no line break), with the update's `timings`; a reproducible
    /// file passes `UpdateTimings::default()`, whose cells read 0.
    pub fn csv_row(&self, timings: &UpdateTimings) -> String {
        COLUMNS.iter().map(|(_, cell)| cell(self, timings)).collect::<Vec<_>>().join(",")
    }

    /// `rows` as a CSV file: the header, then one line per update (timings 0).
    pub fn csv(rows: &[UpdateMetrics]) -> String {
        let mut text = Self::csv_header();
        text.push('\n');
        for m in rows {
            text.push_str(&m.csv_row(&UpdateTimings::default()));
            text.push('\n');
        }
        text
    }

    /// These metrics with the losses of an update's epochs (the last minibatch's, the clip
    /// fraction averaged over all of them), as both trainers report them.
    pub(super) fn with_losses(self, s: &EpochStats) -> Self {
        UpdateMetrics {
            value_loss: s.value_loss,
            policy_loss: s.policy_loss,
            entropy: s.entropy,
            old_approx_kl: s.old_approx_kl,
            approx_kl: s.approx_kl,
            clipfrac: s.clipfrac,
            ..self
        }
    }
}

/// What [`Trainer::train_update`](super::Trainer::train_update) returns (for each run, what
/// [`crate::population::Population::train_update`] returns).
pub struct UpdateReport<E: Environment> {
    /// The update's metrics.
    pub metrics: UpdateMetrics,
    /// Its timings.
    pub timings: UpdateTimings,
    /// Episodes that ended during its rollout (task returns and safety reports).
    pub episodes: Vec<Episode<E>>,
}

/// `1 - Var(returns - values) / Var(returns)`.
pub(super) fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = values.len() as f64;
    let mean = |f: &dyn Fn(usize) -> f64| (0..values.len()).map(f).sum::<f64>() / n;
    let mr = mean(&|k| f64::from(returns[k]));
    let var_r = mean(&|k| (f64::from(returns[k]) - mr).powi(2));
    let md = mean(&|k| f64::from(returns[k] - values[k]));
    let var_d = mean(&|k| (f64::from(returns[k] - values[k]) - md).powi(2));
    if var_r == 0.0 { f64::NAN } else { 1.0 - var_d / var_r }
}
