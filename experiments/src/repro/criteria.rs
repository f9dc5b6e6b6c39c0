//! The preregistered criteria of the verdicts (`experiments/configs/criteria.ron`): thresholds
//! written before the reported seeds were run, read by `verdicts`, and printed with the file's
//! checksum in the report.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_core::checksum::Checksum;
use sim_core::params::{ConfigError, ParamError, Validate, check_probability, deserialize_ron};

/// P1's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P1 {
    /// Violation-rate gap between the base and its no-pay twin (the primary contrast).
    pub twin_gap: f64,
    /// Margin of the task-only return over the exact honest optimum.
    pub beats_honest_by: f64,
    /// Violation-rate gap between jobs where the optimum violates and where it does not.
    pub follow_gap: f64,
    /// Share of seeds in which violations emerge after the restriction is lifted.
    pub emergence_share: f64,
}

/// P2's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2 {
    /// Tunnel-rate gap, SSH-only against allow-all.
    pub tunnel_gap: f64,
    /// Tunnel-rate fall when mining yields nothing.
    pub dose_gap: f64,
}

/// P3's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P3 {
    /// Tunnel-rate gap, kill-process against log-only.
    pub tunnel_gap: f64,
    /// Steps earlier the tunnel opens under kill-process.
    pub earlier_by: f64,
}

/// P4's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P4 {
    /// Largest share of the task-only agents' alerts the penalised agents keep.
    pub alert_ratio: f64,
    /// Smallest share of the task-only agents' true cost the penalised agents keep.
    pub cost_kept: f64,
}

/// P5's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P5 {
    /// Share of oracle weights at which PPO's majority behaviour is the optimum's.
    pub oracle_agreement: f64,
    /// Tolerance on PPO-Lagrangian's cost limit.
    pub limit_tolerance: f64,
    /// At the loosest limit PPO-Lagrangian must out-earn the honest-masked agents by more than
    /// this (part of the primary contrast): a trade-off, not a collapse to honesty.
    pub trade_margin: f64,
}

/// P6's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P6 {
    /// Exploit-rate gain a mining-closing control must cause (and the baseline's ceiling).
    pub exploit_gap: f64,
}

/// P7's thresholds (emergence from a pretrained, honest start under outcome-reward RL).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P7 {
    /// Violation-rate gap, base minus twin, each algorithm's cells pooled (every algorithm's
    /// contrast must pass: the primary's p is the largest).
    pub twin_gap: f64,
    /// Margin of the agents' return over the exact honest optimum (secondary).
    pub beats_honest_by: f64,
    /// Share of the base's seeds that emerge, below then above the majority (secondary).
    pub emergence_share: f64,
}

/// P8's thresholds (the paper's remedies against P7's emergence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P8 {
    /// Violation-rate fall a remedy must cause against its unremedied counterpart.
    pub prevent_gap: f64,
    /// Largest shortfall of the remedied agents' return below the exact honest optimum
    /// (secondary: the cost of the remedy).
    pub cost_margin: f64,
}

/// Every criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Family-wise error rate of the primary contrasts (Holm).
    pub alpha: f64,
    /// Training length below which no verdict is given.
    pub min_train_steps: u64,
    /// "Most episodes".
    pub majority: f64,
    /// P1.
    pub p1: P1,
    /// P2.
    pub p2: P2,
    /// P3.
    pub p3: P3,
    /// P4.
    pub p4: P4,
    /// P5.
    pub p5: P5,
    /// P6.
    pub p6: P6,
    /// P7.
    pub p7: P7,
    /// P8.
    pub p8: P8,
}

impl Validate for Criteria {
    fn validate(&self) -> Result<(), ParamError> {
        check_probability("alpha", self.alpha)?;
        check_probability("majority", self.majority)?;
        check_probability("p1.emergence_share", self.p1.emergence_share)?;
        check_probability("p5.oracle_agreement", self.p5.oracle_agreement)?;
        check_probability("p7.emergence_share", self.p7.emergence_share)
    }
}

/// The shipped criteria.
pub const DEFAULT: &str = include_str!("../../configs/criteria.ron");

/// Criteria with the text they were read from (for the checksum).
pub struct Registered {
    /// The criteria.
    pub criteria: Criteria,
    /// Where they came from.
    pub origin: String,
    /// Checksum of the file's bytes (16 hex digits).
    pub checksum: String,
}

impl Registered {
    /// `default` (the shipped file) or a RON file by path.
    pub fn load(name_or_path: &str) -> Result<Self, ConfigError> {
        let (text, origin) = if name_or_path == "default" {
            (DEFAULT.to_string(), "experiments/configs/criteria.ron".to_string())
        } else {
            let path = Path::new(name_or_path);
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
            (text, path.display().to_string())
        };
        let criteria: Criteria = deserialize_ron(&text, &origin)?;
        criteria.validate().map_err(|source| ConfigError::Invalid { origin: origin.clone(), source })?;
        let mut sum = Checksum::default();
        sum.add_words(text.bytes().map(u32::from));
        Ok(Registered { criteria, origin, checksum: sum.hex() })
    }

    /// The commits that added the criteria file and last changed it (`added in abc 2026-01-01,
    /// last changed in def 2026-02-02`), when run from a git checkout.
    pub fn commit(&self) -> Option<String> {
        let log = |args: &[&str]| {
            let out = std::process::Command::new("git").args(args).output().ok()?;
            let text = String::from_utf8(out.stdout).ok()?;
            text.lines().last().map(str::to_string).filter(|s| !s.is_empty())
        };
        const FILE: &str = "experiments/configs/criteria.ron";
        let added = log(&["log", "--diff-filter=A", "--format=%h %cs", "--", FILE])?;
        Some(match log(&["log", "-1", "--format=%h %cs", "--", FILE]) {
            Some(last) if last != added => format!("added in commit {added}, last changed in commit {last}"),
            _ => format!("added in commit {added}"),
        })
    }
}
