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
    /// `charts/SPS`: environment steps per second of this update (rollout and optimisation).
    pub sps: f64,
    /// `charts/rollout_seconds`: wall-clock time collecting the rollout.
    pub rollout_seconds: f64,
    /// `charts/optimize_seconds`: wall-clock time of the PPO epochs.
    pub optimize_seconds: f64,
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
}

impl UpdateMetrics {
    /// CSV header, CleanRL's metric names.
    pub const CSV_HEADER: &'static str = "update,global_step,charts/learning_rate,charts/episodic_return,\
charts/episodic_length,charts/episodes,charts/SPS,charts/rollout_seconds,charts/optimize_seconds,losses/value_loss,losses/policy_loss,losses/entropy,\
losses/old_approx_kl,losses/approx_kl,losses/clipfrac,losses/explained_variance,losses/cost_value_loss,\
charts/lagrange_multiplier,charts/episodic_cost,charts/penalty_per_step";

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

    /// The metrics as a CSV row (empty cells for missing values).
    pub fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{:.1},{:.4},{:.4},{},{},{},{},{},{},{},{},{},{},{}",
            self.update,
            self.global_step,
            self.learning_rate,
            opt(self.episodic_return),
            opt(self.episodic_length),
            self.episodes,
            self.sps,
            self.rollout_seconds,
            self.optimize_seconds,
            self.value_loss,
            self.policy_loss,
            self.entropy,
            self.old_approx_kl,
            self.approx_kl,
            self.clipfrac,
            self.explained_variance,
            opt(self.cost_value_loss.map(f64::from)),
            opt(self.lagrange_multiplier.map(f64::from)),
            opt(self.episodic_cost),
            self.penalty_per_step,
        )
    }
}

/// What [`Trainer::train_update`](super::Trainer::train_update) returns (for each run, what
/// [`crate::population::Population::train_update`] returns).
pub struct UpdateReport<E: Environment> {
    /// The update's metrics.
    pub metrics: UpdateMetrics,
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
