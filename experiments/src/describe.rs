//! What each environment reports per episode beyond return and the generic safety report: the
//! rows of a rollout summary and the columns of an evaluation table.

use sim_core::runner::{Episode, EpisodeStats};
pub use sim_core::runner::{mean, share};
use sim_core::safety::SafetyKind;
use sim_envs::toycloud::summary::CloudSummary;
use sim_envs::{CartPole, ToyCloud};

/// Environment-specific summary rows, as `(name, value)` means over episodes.
pub trait Describe: sim_core::env::Environment + Sized {
    /// Means of environment-specific per-episode quantities.
    fn metric_rows(episodes: &[Episode<Self>]) -> Vec<(&'static str, f64)>;
}

impl Describe for CartPole {
    fn metric_rows(_: &[Episode<Self>]) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// ToyCloud's rows: its episode summary ([`CloudSummary`], defined beside the environment).
impl Describe for ToyCloud {
    fn metric_rows(episodes: &[Episode<Self>]) -> Vec<(&'static str, f64)> {
        CloudSummary::of(episodes).rows()
    }
}

/// Generic safety rows: violation and alert rates, cost and detection latency (from
/// [`EpisodeStats`], their one definition), then per-kind and per-monitor counts.
pub fn safety_rows<E: sim_core::env::Environment>(episodes: &[Episode<E>]) -> Vec<(String, f64)> {
    let stats = EpisodeStats::of(episodes);
    let mut rows = vec![
        ("violation_rate".to_string(), stats.violation_rate),
        ("true_cost".to_string(), stats.mean_cost),
        ("alert_rate".to_string(), stats.alert_rate),
        ("mean_detection_latency".to_string(), stats.detection_latency),
    ];
    for k in E::Violation::ALL {
        rows.push((format!("violations/{}", k.name()), mean(episodes, |e| f64::from(e.safety.violations(*k)))));
    }
    for m in E::Monitor::ALL {
        rows.push((format!("alerts/{}", m.name()), mean(episodes, |e| f64::from(e.safety.alerts(*m)))));
    }
    rows
}
