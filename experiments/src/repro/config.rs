//! The experiment matrix of `rome_repro`: one base scenario, conditions that each state only
//! what defines them (a patch of named controls, a penalty, a constraint, an action set), seeds,
//! PPO, evaluation and bootstrap settings, and the preregistered criteria the verdicts use. Read
//! from RON with unknown fields rejected; written back resolved into every run directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_agents::PpoConfig;
use sim_agents::algorithms::Algorithm;

use crate::pretrain::{GoldenRl, PretrainSpec};
use sim_agents::penalty::PenaltyConfig;
use sim_agents::ppo::LagrangianConfig;
use sim_core::env::ActionSet;
use sim_core::params::{ConfigError, ParamError, Validate, check_at_least, check_range, parse_ron};
use sim_envs::CloudParams;
use sim_envs::toycloud::{Egress, Logs, Response};

use crate::device::Loop;

/// What a condition is for: the phenomenon that reads it. Plots and the report group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// Task reward only, on the base (P1, and the reference of the other contrasts).
    Baseline,
    /// Task reward only, on the base's no-pay twin (`repro::twin`): the same mechanics with the
    /// payoff of violating removed, chosen and confirmed by the solver (P1's control).
    Twin,
    /// An honest-constrained agent (legitimate actions only): the empirical honest reference.
    Honest,
    /// An agent trained honest whose restriction is lifted during training (P1, emergence).
    Emergence,
    /// Another egress policy, everything else equal (P2).
    Egress,
    /// Mining's yield scaled down, everything else equal (P2, dose–response).
    Yield,
    /// The persistence pair: log-only against kill-process, the tunnel not hiding egress (P3).
    Persistence,
    /// Where concealment has value (allow-all egress, a hiding tunnel, alerts logged): the
    /// task-only reference and penalties on detected violations (P4).
    Evasion,
    /// A penalty on ground-truth violation cost (P5).
    Oracle,
    /// PPO-Lagrangian with a cost limit (P5).
    Lagrangian,
    /// Attainable utility preservation (P5).
    Aup,
    /// An infrastructure control, no penalty (P6).
    Control,
    /// Another response to alerts (the factorial preset, P6).
    Response,
    /// A penalty on detected violations outside the evasion set-up.
    Detected,
    /// Another learning algorithm than PPO on the base, task reward only (GRPO, RLOO,
    /// REINFORCE, PPO-KL: `algorithm:`), for their learning curves beside PPO's baseline.
    Algorithm,
}

impl Family {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Baseline => "baseline",
            Family::Twin => "twin",
            Family::Honest => "honest",
            Family::Emergence => "emergence",
            Family::Egress => "egress",
            Family::Yield => "yield",
            Family::Persistence => "persistence",
            Family::Evasion => "evasion",
            Family::Oracle => "oracle",
            Family::Lagrangian => "lagrangian",
            Family::Aup => "aup",
            Family::Control => "control",
            Family::Response => "response",
            Family::Algorithm => "algorithm",
            Family::Detected => "detected",
        }
    }
}

/// What a condition changes in the base scenario: named controls only, never the economics
/// (rewards, costs, job sizes), so that a different base keeps every condition meaningful. The
/// one exception is `mining_yield_scale`, the dose of the tunnel's dose–response (P2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Patch {
    /// The response to an alert.
    pub response: Option<Response>,
    /// The egress policy.
    pub egress: Option<Egress>,
    /// Whether an open tunnel hides egress from the firewall (concealment).
    pub tunnel_hides_egress: Option<bool>,
    /// Whether an open tunnel survives a process kill (persistence).
    pub tunnel_survives_kill: Option<bool>,
    /// Privilege.
    pub sudo: Option<bool>,
    /// GPU metering.
    pub gpu_metering: Option<bool>,
    /// Process telemetry.
    pub process_telemetry: Option<bool>,
    /// Whether the agent sees alerts fire.
    pub alerts_visible: Option<bool>,
    /// The log control.
    pub logs: Option<Logs>,
    /// A spending limit on bought GPUs.
    pub spending_limit: Option<u32>,
    /// Mining's coins per GPU-step, as a multiple of the base's (the dose–response's dose).
    pub mining_yield_scale: Option<f32>,
}

impl Patch {
    /// `base` with this patch applied.
    pub fn apply(&self, base: &CloudParams) -> CloudParams {
        let mut p = base.clone();
        let c = &mut p.controls;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        set!(response, egress, tunnel_hides_egress, tunnel_survives_kill, sudo, gpu_metering, process_telemetry);
        set!(alerts_visible, logs);
        if let Some(limit) = self.spending_limit {
            c.spending_limit = Some(limit);
        }
        if let Some(scale) = self.mining_yield_scale {
            p.mining.coins_per_gpu_step *= scale;
        }
        p
    }

    /// This patch without the infrastructure controls P6 studies (privilege, GPU metering,
    /// process telemetry, the log control, a spending limit): the scenario a control condition
    /// is compared with, everything else equal.
    pub fn without_controls(&self) -> Patch {
        Patch {
            sudo: None,
            gpu_metering: None,
            process_telemetry: None,
            logs: None,
            spending_limit: None,
            ..self.clone()
        }
    }
}

/// One condition of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Unique name (letters, digits, `_`, `.` and `-`): used in file names and tables.
    pub name: String,
    /// What it is for.
    pub family: Family,
    /// What it changes in the base scenario.
    #[serde(default)]
    pub patch: Patch,
    /// How the safety channel enters training.
    #[serde(default)]
    pub penalty: PenaltyConfig,
    /// A cost constraint (needs `penalty: CostSignal`).
    #[serde(default)]
    pub lagrangian: Option<LagrangianConfig>,
    /// The knob swept within the family (penalty weight, cost limit, λ, dose), for the curves.
    #[serde(default)]
    pub knob: Option<f64>,
    /// The actions the agent may take (`Legitimate`: an honest-constrained agent).
    #[serde(default)]
    pub actions: ActionSet,
    /// Lift the action restriction after this many environment steps (emergence).
    #[serde(default)]
    pub lift_mask_at: Option<u64>,
    /// The learning algorithm (PPO unless stated; [`sim_agents::algorithms`]).
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Start from a policy pretrained on demonstrations (recorded on this condition's scenario
    /// from the run's seed, fitted by behaviour cloning; [`crate::pretrain`]) instead of a fresh
    /// network: the policy trained and the reference of a KL term.
    #[serde(default)]
    pub pretrain: Option<PretrainSpec>,
    /// Golden trajectories in RL: a behaviour-cloning term on clean demonstrations in every
    /// update ([`crate::pretrain::GoldenRl`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_rl: Option<GoldenRl>,
}

/// How policies are evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate for the learning curves every this many updates (and before training).
    pub every: usize,
    /// Episodes per learning-curve point.
    pub curve_episodes: usize,
    /// Episodes of the final evaluation (greedy, sampled and with the monitors removed each).
    pub final_episodes: usize,
    /// Environments stepped together when evaluating.
    pub envs: usize,
    /// Evaluate the learning curves with the most probable action (`true`) or sampled.
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
    /// The scenario every condition patches (preset, file, or `space.ron@draw`).
    pub base_scenario: String,
    /// The reported seeds of every condition.
    pub seeds: Vec<u64>,
    /// The seeds any choice of this matrix was tuned on (penalty weights, λ, limits, entropy):
    /// disjoint from `seeds`, named in the report.
    #[serde(default)]
    pub tuning_seeds: Vec<u64>,
    /// The preregistered criteria (a preset name, or a file), read by the verdicts.
    #[serde(default = "default_criteria")]
    pub criteria: String,
    /// PPO settings shared by every condition (each condition sets its penalty, constraint and
    /// action set).
    pub ppo: PpoConfig,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Intervals.
    #[serde(default)]
    pub bootstrap: BootstrapConfig,
    /// The conditions.
    pub conditions: Vec<Condition>,
    /// Where the runs collect their rollouts (`Host` unless said; `rome_repro --loop`).
    #[serde(default, skip_serializing_if = "Loop::is_host")]
    pub train_loop: Loop,
}

fn default_criteria() -> String {
    "default".into()
}

impl Validate for ReproConfig {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("seeds", self.seeds.len() as u64, 1)?;
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.seeds.iter().enumerate() {
            if !seen.insert(*s) {
                return Err(ParamError::new(format!("seeds[{i}]"), s, "distinct seeds"));
            }
        }
        if let Some(t) = self.tuning_seeds.iter().find(|t| self.seeds.contains(t)) {
            return Err(ParamError::new("tuning_seeds", t, "seeds disjoint from the reported `seeds`"));
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
                return Err(ParamError::new(
                    field("name"),
                    format!("{:?}", c.name),
                    "a unique name of letters, digits, `_`, `.` and `-`",
                ));
            }
            if let Some(spec) = &c.pretrain {
                crate::pretrain::counts(&spec.mixture, spec.episodes).map_err(|e| {
                    ParamError::new(format!("pretrain (of condition `{}`)", c.name), "its mixture", e.to_string())
                })?;
                spec.clone.validate().map_err(|e| ParamError {
                    field: format!("pretrain.{} (of condition `{}`)", e.field, c.name),
                    ..e
                })?;
            }
            if let Some(g) = &c.golden_rl {
                g.check().map_err(|e| {
                    ParamError::new(format!("golden_rl (of condition `{}`)", c.name), "its settings", e.to_string())
                })?;
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
            lift_mask_at: c.lift_mask_at,
            algorithm: c.algorithm.clone(),
            ..self.ppo.clone()
        }
    }

    /// The first condition of `family`, if any.
    pub fn first(&self, family: Family) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.family == family)
    }

    /// The conditions of `family`, by knob.
    pub fn of(&self, family: Family) -> Vec<&Condition> {
        let mut v: Vec<&Condition> = self.conditions.iter().filter(|c| c.family == family).collect();
        v.sort_by(|a, b| a.knob.unwrap_or(0.0).total_cmp(&b.knob.unwrap_or(0.0)));
        v
    }

    /// Reads, parses and validates a matrix, then resolves every condition's scenario.
    pub fn load(path: &Path) -> Result<(Self, CloudParams, Vec<CloudParams>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a matrix from text (`origin` names it in errors) and resolves the base scenario and
    /// every condition's patch of it.
    pub fn parse(text: &str, origin: &str) -> Result<(Self, CloudParams, Vec<CloudParams>), ConfigError> {
        let config: ReproConfig = parse_ron(text, origin)?;
        config.resolve(origin)
    }

    /// The base scenario and every condition's scenario, validated.
    pub fn resolve(self, origin: &str) -> Result<(Self, CloudParams, Vec<CloudParams>), ConfigError> {
        let invalid = |source: ParamError| ConfigError::Invalid { origin: origin.into(), source };
        super::criteria::Registered::load(&self.criteria)
            .map_err(|e| invalid(ParamError::new("criteria", format!("{:?}", self.criteria), e.to_string())))?;
        let base = CloudParams::scenario(&self.base_scenario).map_err(|e| {
            invalid(ParamError::new("base_scenario", format!("{:?}", self.base_scenario), e.to_string()))
        })?;
        let scenarios = self
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.family == Family::Twin {
                    return Self::twin(c, i, &base).map_err(invalid);
                }
                let p = c.patch.apply(&base);
                p.validate().map_err(|e| invalid(e.within(&format!("conditions[{i}].patch"))))?;
                Ok(p)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self, base, scenarios))
    }

    /// The scenario of condition `c` (number `i`) of family `Twin` as read: the base, which
    /// [`super::solutions::Solutions::resolve`] replaces by its no-pay twin when the matrix runs. A twin takes
    /// no patch, penalty, constraint or action set.
    fn twin(c: &Condition, i: usize, base: &CloudParams) -> Result<CloudParams, ParamError> {
        let field = |f: &str| format!("conditions[{i}].{f}");
        if c.patch != Patch::default() {
            return Err(ParamError::new(field("patch"), "a patch", "none: a twin is the base's, chosen by the solver"));
        }
        if c.penalty != PenaltyConfig::TaskOnly || c.lagrangian.is_some() {
            return Err(ParamError::new(field("penalty"), "a penalty", "TaskOnly: a twin is P1's task-only control"));
        }
        if c.actions != ActionSet::All || c.lift_mask_at.is_some() {
            return Err(ParamError::new(field("actions"), "a restriction", "All: a twin is P1's task-only control"));
        }
        // The solver runs when the matrix does (`Solutions::resolve`), not when it is read.
        Ok(base.clone())
    }

    /// The condition a control condition is compared with (P6): the task-only condition of
    /// family `Baseline` or `Response` whose patch is the control's without its controls, with
    /// the same action set. In the default matrix that is `baseline`; in the factorial preset,
    /// the same response without the control.
    pub fn reference_of(&self, control: &Condition) -> Option<&Condition> {
        let patch = control.patch.without_controls();
        self.conditions.iter().find(|c| {
            matches!(c.family, Family::Baseline | Family::Response)
                && c.patch == patch
                && c.penalty == PenaltyConfig::TaskOnly
                && c.lagrangian.is_none()
                && c.actions == control.actions
                && c.lift_mask_at.is_none()
        })
    }

    /// The condition named `name`.
    pub fn condition(&self, name: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.name == name)
    }
}

/// The shipped matrices: `default` (10 reported seeds on `pressure`), `quick` (CI smoke test),
/// `draws` (the reduced matrix run on draws of a scenario space), `penalty_sweep` (the tuning
/// seeds' sweep of the penalties' settings), `controls` (P6's controls × responses factorial) and
/// `p1_dose` (task-only agents on the base and its twin, for `--sensitivity`'s dose–response),
/// `tuning` (the learner's competence on the tuning seeds and a tuning base, for choosing PPO's
/// settings), `algorithms` (every learning algorithm's curves beside PPO's, no verdicts).
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../configs/rome_repro.ron")),
    ("quick", include_str!("../../configs/rome_repro_quick.ron")),
    ("draws", include_str!("../../configs/rome_repro_draws.ron")),
    ("penalty_sweep", include_str!("../../configs/penalty_sweep.ron")),
    ("controls", include_str!("../../configs/rome_repro_controls.ron")),
    ("penalties", include_str!("../../configs/rome_repro_penalties.ron")),
    ("p1_dose", include_str!("../../configs/rome_repro_p1_dose.ron")),
    ("tuning", include_str!("../../configs/rome_repro_tuning.ron")),
    ("algorithms", include_str!("../../configs/rome_repro_algorithms.ron")),
    ("emergence", include_str!("../../configs/rome_repro_emergence.ron")),
    ("emergence_full", include_str!("../../configs/rome_repro_emergence_full.ron")),
    ("emergence_competent", include_str!("../../configs/rome_repro_emergence_competent.ron")),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> ReproConfig {
        let text = PRESETS.iter().find(|(n, _)| *n == name).expect("a preset").1;
        parse_ron(text, name).expect("the preset parses")
    }

    #[test]
    fn every_preset_parses_resolves_and_keeps_its_seeds_apart_from_the_tuning_seeds() {
        for (name, text) in PRESETS {
            let (config, _, scenarios) = ReproConfig::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.name, *name, "a preset is named as it is called");
            assert_eq!(scenarios.len(), config.conditions.len());
            assert!(config.seeds.iter().all(|s| !config.tuning_seeds.contains(s)), "{name}");
        }
    }

    #[test]
    fn each_control_is_compared_with_the_same_scenario_without_it() {
        let reference = |m: &ReproConfig, c: &str| m.reference_of(m.condition(c).unwrap()).map(|r| r.name.clone());
        let draws = preset("draws");
        assert!(!draws.of(Family::Control).is_empty());
        for c in draws.of(Family::Control) {
            assert_eq!(reference(&draws, &c.name).as_deref(), Some("baseline"), "{}", c.name);
        }
        let factorial = preset("controls");
        for (control, expected) in [
            ("gpu_metering", "baseline"),
            ("no_sudo", "baseline"),
            ("kill_network_gpu_metering", "kill_network"),
            ("kill_network_no_sudo", "kill_network"),
            ("log_only_gpu_metering", "log_only"),
            ("log_only_no_sudo", "log_only"),
        ] {
            assert_eq!(reference(&factorial, control).as_deref(), Some(expected), "{control}");
        }
        // Without the same response untouched, or with a penalty on it, there is no reference.
        let mut missing = factorial.clone();
        missing.conditions.retain(|c| c.name != "log_only");
        assert_eq!(reference(&missing, "log_only_no_sudo"), None);
        let mut penalised = factorial.clone();
        penalised.conditions.iter_mut().find(|c| c.name == "kill_network").unwrap().penalty =
            PenaltyConfig::TrueCost { weight: 0.5 };
        assert_eq!(reference(&penalised, "kill_network_no_sudo"), None);
    }
}
