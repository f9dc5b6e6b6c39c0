//! The experiment matrix of `rome_repro`: conditions (scenario, penalty, constraint) × seeds, with
//! PPO settings, evaluation and bootstrap settings. Read from RON with unknown fields rejected;
//! written back resolved into every run directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_agents::PpoConfig;
use sim_agents::penalty::PenaltyConfig;
use sim_agents::ppo::LagrangianConfig;
use sim_core::env::ActionSet;
use sim_core::params::{ConfigError, ParamError, Validate, check_at_least, check_range, parse_ron};
use sim_envs::CloudParams;

/// What kind of intervention a condition is; plots and the report group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// Task reward only, the incident scenario.
    Baseline,
    /// A different response to alerts (kill process, kill network).
    Response,
    /// A penalty on ground-truth violation cost.
    Oracle,
    /// A penalty on detected violations (alerts).
    Detected,
    /// PPO-Lagrangian with a cost limit.
    Lagrangian,
    /// Attainable utility preservation.
    Aup,
    /// An infrastructure control, no penalty.
    Control,
}

impl Family {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Baseline => "baseline",
            Family::Response => "response",
            Family::Oracle => "oracle",
            Family::Detected => "detected",
            Family::Lagrangian => "lagrangian",
            Family::Aup => "aup",
            Family::Control => "control",
        }
    }
}

/// One condition of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Unique name (letters, digits, `_`, `.` and `-`): used in file names and tables.
    pub name: String,
    /// What kind of intervention it is.
    pub family: Family,
    /// A ToyCloud preset name or a RON file path.
    pub scenario: String,
    /// How the safety channel enters training.
    #[serde(default)]
    pub penalty: PenaltyConfig,
    /// A cost constraint (needs `penalty: CostSignal`).
    #[serde(default)]
    pub lagrangian: Option<LagrangianConfig>,
    /// The knob swept within the family (penalty weight, cost limit, λ), for the frontier plot.
    #[serde(default)]
    pub knob: Option<f64>,
    /// The actions the agent may take (`Legitimate`: an honest-constrained agent).
    #[serde(default)]
    pub actions: ActionSet,
}

/// How policies are evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate for the learning curves every this many updates (and before training).
    pub every: usize,
    /// Episodes per learning-curve point.
    pub curve_episodes: usize,
    /// Episodes of the final evaluation.
    pub final_episodes: usize,
    /// Environments stepped together when evaluating.
    pub envs: usize,
    /// Evaluate the most probable action (`true`) or sample (`false`).
    pub greedy: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { every: 10, curve_episodes: 256, final_episodes: 2048, envs: 256, greedy: true }
    }
}

/// Bootstrap settings of the reported intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Resamples.
    pub resamples: usize,
    /// Confidence level.
    pub confidence: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig { resamples: 2000, confidence: 0.95 }
    }
}

/// The whole matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproConfig {
    /// A name for the run directory.
    pub name: String,
    /// Seeds of every condition.
    pub seeds: Vec<u64>,
    /// PPO settings shared by every condition (each condition sets `penalty` and `lagrangian`).
    pub ppo: PpoConfig,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Intervals.
    #[serde(default)]
    pub bootstrap: BootstrapConfig,
    /// The conditions.
    pub conditions: Vec<Condition>,
}

impl Validate for ReproConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("seeds", self.seeds.len() as u64, 1)?;
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.seeds.iter().enumerate() {
            if !seen.insert(*s) {
                return Err(ParamError {
                    field: format!("seeds[{i}]"),
                    value: s.to_string(),
                    expected: "distinct seeds".into(),
                });
            }
        }
        check_at_least("eval.every", self.eval.every as u64, 1)?;
        check_at_least("eval.curve_episodes", self.eval.curve_episodes as u64, 1)?;
        check_at_least("eval.final_episodes", self.eval.final_episodes as u64, 1)?;
        check_at_least("eval.envs", self.eval.envs as u64, 1)?;
        check_at_least("bootstrap.resamples", self.bootstrap.resamples as u64, 100)?;
        check_range("bootstrap.confidence", self.bootstrap.confidence, 0.5, 0.999, "a level in [0.5, 0.999]")?;
        check_at_least("conditions", self.conditions.len() as u64, 1)?;
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.conditions.iter().enumerate() {
            let field = |f: &str| format!("conditions[{i}].{f}");
            let ok = !c.name.is_empty() && c.name.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
            if !ok || !names.insert(c.name.clone()) {
                return Err(ParamError {
                    field: field("name"),
                    value: format!("{:?}", c.name),
                    expected: "a unique name of letters, digits, `_`, `.` and `-`".into(),
                });
            }
            let ppo = self.ppo_for(c);
            ppo.validate()
                .map_err(|e| ParamError { field: format!("{} (of condition `{}`)", e.field, c.name), ..e })?;
        }
        self.ppo.validate().map_err(|e| e.within("ppo"))
    }
}

impl ReproConfig {
    /// PPO settings of one condition.
    pub fn ppo_for(&self, c: &Condition) -> PpoConfig {
        PpoConfig {
            penalty: c.penalty.clone(),
            lagrangian: c.lagrangian.clone(),
            actions: c.actions,
            ..self.ppo.clone()
        }
    }

    /// Reads, parses and validates a matrix, then resolves every scenario (so that a typo in a
    /// scenario name fails before any training).
    pub fn load(path: &Path) -> Result<(Self, Vec<CloudParams>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a matrix from text (`origin` names it in errors) and resolves its scenarios.
    pub fn parse(text: &str, origin: &str) -> Result<(Self, Vec<CloudParams>), ConfigError> {
        let config: ReproConfig = parse_ron(text, origin)?;
        let scenarios = config
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                CloudParams::scenario(&c.scenario).map_err(|e| ConfigError::Invalid {
                    origin: origin.into(),
                    source: ParamError {
                        field: format!("conditions[{i}].scenario"),
                        value: format!("{:?}", c.scenario),
                        expected: e.to_string(),
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((config, scenarios))
    }
}

/// The shipped matrices: `default` (CPU, under 10 minutes on 2 cores), `quick` (CI smoke test)
/// and `full` (10 seeds, for GPU machines).
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../configs/rome_repro.ron")),
    ("quick", include_str!("../../configs/rome_repro_quick.ron")),
    ("full", include_str!("../../configs/rome_repro_full.ron")),
];
