//! The `pretrain` binary's engine: demonstrations recorded from ToyCloud's scripted strategies
//! in stated shares, a policy cloned from them (`sim_agents::pretrain`), and that policy's
//! prior: how often, sampled, it runs each violation and the whole tunnel → mine → buy chain,
//! beside how often its data did.
//!
//! The demonstrations are files with their provenance (`dataset.ron`: scenario, strategies,
//! shares, episodes and rows per strategy, seed), so a run can be traced to its data.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sim_agents::TrainError;
use sim_agents::backend::{CpuAutodiff, TrainBackend};
use sim_agents::evaluate::evaluate;
use sim_agents::inference::{ActMode, InferencePolicy};
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::pretrain::{CloneConfig, CloneEpoch, Demonstrations, clone_policy};
use sim_core::io::write_atomic;
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_core::runner::PerSlotQuota;
use sim_envs::toycloud::exact::{Incentives, Solver, TablePlayer, TablePolicy};
use sim_envs::toycloud::scripts::{CloudScript, Strategy};
use sim_envs::toycloud::{CloudAction, Violation};
use sim_envs::{CloudParams, ToyCloud};

use crate::error::CliError;

/// One strategy's share of the demonstrations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// A scripted strategy's name (`honest_work`, `tunnel_then_mine`, ...), or `solver_honest`
    /// or `solver_unrestricted` (an exact optimum of the scenario: [`Demonstrator`]).
    pub strategy: String,
    /// Its share of the episodes, in `[0, 1]`; the shares sum to 1.
    pub share: f64,
}

/// Who plays a part of the demonstrations: one of ToyCloud's scripted strategies, or an exact
/// optimum of the scenario played from the solver's tables (`solver_honest`: the best policy
/// that never violates; `solver_unrestricted`: the best policy for the task reward alone, which
/// violates where that pays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demonstrator {
    /// A scripted strategy.
    Script(Strategy),
    /// The exact honest optimum (undiscounted task return).
    SolverHonest,
    /// The exact unrestricted optimum (undiscounted task return).
    SolverUnrestricted,
}

impl Demonstrator {
    /// The demonstrator called `name` in a mixture (a strategy's name, `solver_honest` or
    /// `solver_unrestricted`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "solver_honest" => Some(Demonstrator::SolverHonest),
            "solver_unrestricted" => Some(Demonstrator::SolverUnrestricted),
            _ => Strategy::from_name(name).map(Demonstrator::Script),
        }
    }

    /// Its name in a mixture.
    pub fn name(self) -> &'static str {
        match self {
            Demonstrator::Script(s) => s.name(),
            Demonstrator::SolverHonest => "solver_honest",
            Demonstrator::SolverUnrestricted => "solver_unrestricted",
        }
    }

    /// Whether it stays within what it is authorised to do (the unrestricted optimum violates
    /// wherever violating pays).
    pub fn is_honest(self) -> bool {
        match self {
            Demonstrator::Script(s) => s.is_honest(),
            Demonstrator::SolverHonest => true,
            Demonstrator::SolverUnrestricted => false,
        }
    }

    /// Every name a mixture may use.
    pub fn known() -> Vec<&'static str> {
        let mut names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
        names.extend(["solver_honest", "solver_unrestricted"]);
        names
    }

    fn solver(self) -> bool {
        matches!(self, Demonstrator::SolverHonest | Demonstrator::SolverUnrestricted)
    }
}

/// What `pretrain` records, fits and measures (`experiments/configs/pretrain_*.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// A ToyCloud preset name or scenario RON file.
    pub scenario: String,
    /// The strategies and their shares of the episodes.
    pub mixture: Vec<Share>,
    /// Demonstration episodes in all.
    pub episodes: usize,
    /// The discount of the critic's targets.
    #[serde(default = "default_gamma")]
    pub gamma: f32,
    /// The network (as the runs that start from it will have it).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// How it is fitted.
    #[serde(default)]
    pub clone: CloneConfig,
    /// Sampled episodes of the fitted policy that measure its prior.
    pub prior_episodes: usize,
}

fn default_gamma() -> f32 {
    0.99
}

impl PretrainConfig {
    /// Each strategy with its episodes ([`counts`]); also checks `prior_episodes`.
    pub fn counts(&self) -> Result<Vec<(Demonstrator, usize)>, CliError> {
        if self.prior_episodes == 0 {
            return Err("prior_episodes is 0, expected at least 1".into());
        }
        counts(&self.mixture, self.episodes)
    }
}

/// Each strategy of `mixture` with its episodes: `share * episodes` rounded by largest
/// remainder, so that they sum to `episodes`. Errors name the field and value.
pub fn counts(mixture: &[Share], episodes: usize) -> Result<Vec<(Demonstrator, usize)>, CliError> {
    if mixture.is_empty() || episodes == 0 {
        return Err(format!(
            "mixture has {} strategies and episodes is {episodes}, expected at least 1 each",
            mixture.len()
        )
        .into());
    }
    let mut total = 0.0;
    let mut out = Vec::new();
    for s in mixture {
        let strategy = Demonstrator::from_name(&s.strategy).ok_or_else(|| {
            format!("mixture: unknown strategy `{}` (known: {})", s.strategy, Demonstrator::known().join(", "))
        })?;
        if !(0.0..=1.0).contains(&s.share) {
            return Err(
                format!("mixture: share of `{}` is {}, expected a number in [0, 1]", s.strategy, s.share).into()
            );
        }
        total += s.share;
        out.push((strategy, s.share * episodes as f64));
    }
    if (total - 1.0).abs() > 1e-9 {
        return Err(format!("mixture: the shares sum to {total}, expected 1").into());
    }
    let mut counts: Vec<usize> = out.iter().map(|&(_, x)| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&a, &b| (out[b].1 - out[b].1.floor()).total_cmp(&(out[a].1 - out[a].1.floor())).then(a.cmp(&b)));
    let short = episodes - counts.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        counts[i] += 1;
    }
    Ok(out.iter().zip(counts).map(|(&(s, _), c)| (s, c)).collect())
}

/// One strategy's part of a dataset, as its provenance records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The strategy.
    pub strategy: String,
    /// Its episodes.
    pub episodes: usize,
    /// Its rows (steps).
    pub rows: usize,
    /// The seed its environments were run from.
    pub seed: u64,
    /// Share of its episodes with each violation kind, in [`Violation::ALL`]'s order.
    pub violating: Vec<f64>,
    /// Share of its episodes that ran the whole chain (a tunnel, mining and a purchase).
    pub chain: f64,
    /// Its episodes' mean return (the task reward, undiscounted).
    pub mean_return: f64,
}

/// Whether an episode ran the tunnel → mine → buy chain.
pub fn ran_chain(e: &Episode<ToyCloud>) -> bool {
    [Violation::Tunnel, Violation::Mining, Violation::ComputePurchase].iter().all(|&k| e.safety.violations(k) > 0)
}

/// Records exactly `episodes` episodes of `strategy` under `params` (environments seeded by
/// `seed`), each slot's first ones, into `demos`; returns its part. A scripted strategy plays
/// itself; the solver's demonstrators play `table`, the solved optimum they name (which they
/// need: `None` is refused).
pub fn record(
    params: &CloudParams,
    strategy: Demonstrator,
    table: Option<&TablePolicy>,
    episodes: usize,
    seed: u64,
    gamma: f32,
    demos: &mut Demonstrations,
) -> Result<Part, ParamError> {
    let part = |rows, eps: &[Episode<ToyCloud>]| {
        let share = |f: &dyn Fn(&Episode<ToyCloud>) -> bool| {
            if eps.is_empty() { 0.0 } else { eps.iter().filter(|e| f(e)).count() as f64 / eps.len() as f64 }
        };
        Part {
            strategy: strategy.name().into(),
            episodes: eps.len(),
            rows,
            seed,
            violating: Violation::ALL.iter().map(|&k| share(&|e| e.safety.violations(k) > 0)).collect(),
            chain: share(&ran_chain),
            mean_return: if eps.is_empty() { 0.0 } else { eps.iter().map(|e| e.ret).sum::<f64>() / eps.len() as f64 },
        }
    };
    if episodes == 0 {
        return Ok(part(0, &[]));
    }
    // Each slot's first episodes (per-slot quotas keep the sample unbiased; the first episodes
    // to finish overall would favour short ones).
    let n = episodes.min(256);
    let dim = ToyCloud::spaces(params).obs_dim;
    let mut buffers = StepBuffers::new(ToyCloud::spaces(params), n);
    let mut safety = safety_buffer::<ToyCloud>(n);
    let mut runner = BatchRunner::<ToyCloud>::new(params.clone(), n, seed, &mut buffers)?;
    // Who acts: the script from each observation, or the tables from each slot's information state.
    enum Actor<'a> {
        Script(CloudScript),
        Table(TablePlayer<'a>),
    }
    let mut actor = match (strategy, table) {
        (Demonstrator::Script(s), _) => Actor::Script(CloudScript::new(s, params)),
        (_, Some(table)) => Actor::Table(table.player(&runner)),
        (_, None) => return Err(ParamError::new("mixture", strategy.name(), "a solved scenario to play")),
    };
    let mut running: Vec<(Vec<f32>, Vec<u32>, Vec<f32>)> = vec![Default::default(); n];
    let mut quota = PerSlotQuota::exact(n, episodes);
    let mut finished = Vec::new();
    let rows_before = demos.len();
    let mut actions = vec![0u32; n];
    while !quota.full() {
        if let Actor::Table(p) = &actor {
            p.actions(&mut actions);
        }
        for (i, a) in actions.iter_mut().enumerate() {
            let o = &buffers.obs[i * dim..(i + 1) * dim];
            if let Actor::Script(script) = &actor {
                *a = script.action(o) as u32;
            }
            running[i].0.extend_from_slice(o);
            running[i].1.push(*a);
        }
        runner.step(&actions, &mut buffers, &mut safety);
        if let Actor::Table(p) = &mut actor {
            p.stepped(&runner, &buffers, &actions);
        }
        for (i, r) in running.iter_mut().enumerate() {
            r.2.push(buffers.rewards[i]);
        }
        runner.drain_episodes(&mut finished);
        for e in finished.drain(..) {
            let (obs, acts, rewards) = std::mem::take(&mut running[e.slot as usize]);
            if quota.keep(e) {
                demos.push_episode(&obs, &acts, &rewards, gamma);
            }
        }
    }
    let eps = quota.into_episodes();
    Ok(part(demos.len() - rows_before, &eps))
}

/// A dataset's provenance (`dataset.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The scenario.
    pub scenario: String,
    /// The seed the parts' seeds derive from.
    pub seed: u64,
    /// The discount of the returns to go.
    pub gamma: f32,
    /// Each strategy's part.
    pub parts: Vec<Part>,
    /// Rows in all.
    pub rows: usize,
}

/// A fitted policy's prior against its data's.
#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    /// Sampled episodes measured.
    pub episodes: usize,
    /// Share of the policy's episodes with each violation kind.
    pub violating: Vec<f64>,
    /// Share that ran the chain.
    pub chain: f64,
    /// The same in the data (episode-weighted over the parts).
    pub data_violating: Vec<f64>,
    /// The data's chain share.
    pub data_chain: f64,
    /// The policy's mean probability of each action in the episodes' first states.
    pub start_probabilities: Vec<f64>,
    /// The sampled episodes' mean return (the task reward, undiscounted): its competence.
    pub mean_return: f64,
    /// The data's (episode-weighted over the parts).
    pub data_return: f64,
}

/// Everything `pretrain` produced.
pub struct Pretrained {
    /// The data's provenance.
    pub dataset: Dataset,
    /// The rows.
    pub demos: Demonstrations,
    /// The fitted model.
    pub model: ActorCritic<CpuAutodiff>,
    /// Each epoch's fit.
    pub epochs: Vec<CloneEpoch>,
    /// Its prior.
    pub prior: Prior,
}

/// What a pretrained start is fitted to: demonstrations in stated shares, and how the policy
/// is fitted (a `rome_repro` condition's `pretrain:`; the scenario, network and discount are the
/// run's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    /// The strategies and their shares of the episodes.
    pub mixture: Vec<Share>,
    /// Demonstration episodes in all.
    pub episodes: usize,
    /// How the policy is fitted.
    #[serde(default)]
    pub clone: CloneConfig,
}

/// Golden trajectories in RL (a `rome_repro` condition's `golden_rl:`): clean demonstrations,
/// recorded on the condition's scenario from the run's seed (apart from its pretraining's), whose
/// cross-entropy is added to every minibatch's loss with `weight`
/// ([`sim_agents::algorithms::golden`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenRl {
    /// The behaviour-cloning term's weight.
    pub weight: f32,
    /// The honest strategies and their shares of the episodes (no violating strategy).
    pub mixture: Vec<Share>,
    /// Demonstration episodes in all.
    pub episodes: usize,
}

/// Where golden demonstrations' seeds part from pretraining's: the same run seed records other
/// episodes.
const GOLDEN_SALT: u64 = 0x601d_e11e_7a5c_0001;

impl GoldenRl {
    /// Checks the mixture and the weight; errors name the field and value.
    pub fn check(&self) -> Result<(), CliError> {
        counts(&self.mixture, self.episodes)?;
        if let Some(s) =
            self.mixture.iter().find(|s| Demonstrator::from_name(&s.strategy).is_some_and(|k| !k.is_honest()))
        {
            return Err(format!("mixture: `{}` violates; golden trajectories are honest", s.strategy).into());
        }
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(format!("weight is {}, expected a number >= 0", self.weight).into());
        }
        Ok(())
    }

    /// The demonstrations of a run with `seed` on `params`.
    pub fn demonstrations(&self, params: &CloudParams, gamma: f32, seed: u64) -> Result<Demonstrations, TrainError> {
        let counts = counts(&self.mixture, self.episodes)
            .map_err(|e| ParamError::new("golden_rl", "its mixture", e.to_string()))?;
        Ok(demonstrations("", params, &counts, gamma, seed ^ GOLDEN_SALT)?.0)
    }
}

impl PretrainSpec {
    /// The share of the demonstration episodes whose strategy violates (any strategy that is not
    /// [`Demonstrator::is_honest`]; an unknown name counts as violating): the data's prior on
    /// acquisition. Only meaningful for a validated mixture.
    pub fn violating_share(&self) -> f64 {
        self.mixture
            .iter()
            .filter(|s| Demonstrator::from_name(&s.strategy).is_none_or(|k| !k.is_honest()))
            .map(|s| s.share)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    }
}

/// The demonstrations of `mixture` under `params` from `seed`, and their provenance.
pub fn demonstrations(
    scenario: &str,
    params: &CloudParams,
    counts: &[(Demonstrator, usize)],
    gamma: f32,
    seed: u64,
) -> Result<(Demonstrations, Dataset), ParamError> {
    let mut demos = Demonstrations::new(ToyCloud::spaces(params).obs_dim);
    let mut parts = Vec::new();
    // The exact optima, solved once where a part needs them (undiscounted task return, as the
    // verdicts' honest optimum).
    let solved = if counts.iter().any(|(d, n)| d.solver() && *n > 0) {
        let solver = Solver::new(params).map_err(|e| ParamError::new("mixture", "solver_*", e.to_string()))?;
        let incentives = Incentives::of(&solver, 0.0, 1.0);
        Some((solver, incentives))
    } else {
        None
    };
    for (k, &(strategy, episodes)) in counts.iter().enumerate() {
        let key = StreamKey::derive(seed, domain::SCRIPT, k as u64);
        let part_seed = u64::from(key.0[0]) | (u64::from(key.0[1]) << 32);
        let table = solved.as_ref().and_then(|(solver, i)| match strategy {
            Demonstrator::SolverHonest => Some(solver.policy(&i.honest)),
            Demonstrator::SolverUnrestricted => Some(solver.policy(&i.unrestricted)),
            Demonstrator::Script(_) => None,
        });
        parts.push(record(params, strategy, table.as_ref(), episodes, part_seed, gamma, &mut demos)?);
    }
    let dataset = Dataset { scenario: scenario.into(), seed, gamma, parts, rows: demos.len() };
    Ok((demos, dataset))
}

/// A network shaped by `policy` for `params`, initialised from `seed` as a trainer initialises
/// its own, fitted to `demos`.
pub fn fit<B: TrainBackend>(
    params: &CloudParams,
    policy: &PolicyConfig,
    demos: &Demonstrations,
    clone: &CloneConfig,
    seed: u64,
    device: &B::Device,
) -> Result<(ActorCritic<B>, Vec<CloneEpoch>), TrainError> {
    let spaces = ToyCloud::spaces(params);
    let zeros = vec![0.0; spaces.num_actions as usize];
    let init = StreamKey::derive(seed, domain::INIT, 0);
    let model = ActorCritic::<B>::init(spaces, policy, &zeros, false, init, device);
    clone_policy(model, demos, clone, seed, device)
}

/// The pretrained start of a run under `params` with `seed`: `spec`'s demonstrations, recorded
/// from `seed`, and the policy fitted to them.
pub fn pretrained_start<B: TrainBackend>(
    spec: &PretrainSpec,
    params: &CloudParams,
    policy: &PolicyConfig,
    gamma: f32,
    seed: u64,
    device: &B::Device,
) -> Result<ActorCritic<B>, TrainError> {
    let counts =
        counts(&spec.mixture, spec.episodes).map_err(|e| ParamError::new("pretrain", "its mixture", e.to_string()))?;
    let (demos, _) = demonstrations("", params, &counts, gamma, seed)?;
    Ok(fit(params, policy, &demos, &spec.clone, seed, device)?.0)
}

/// Records the demonstrations, fits the policy and measures its prior.
pub fn pretrain(config: &PretrainConfig, seed: u64) -> Result<Pretrained, CliError> {
    let params = CloudParams::scenario(&config.scenario)?;
    let counts = config.counts()?;
    let (demos, dataset) = demonstrations(&config.scenario, &params, &counts, config.gamma, seed)?;
    let (model, epochs) =
        fit::<CpuAutodiff>(&params, &config.policy, &demos, &config.clone, seed, &Default::default())?;
    let policy = model.to_inference();
    let prior = prior(&params, &policy, &dataset, config.prior_episodes, seed)?;
    Ok(Pretrained { dataset, demos, model, epochs, prior })
}

/// The prior of `policy`, sampled for `episodes` episodes, beside `data`'s.
pub fn prior(
    params: &CloudParams,
    policy: &InferencePolicy,
    data: &Dataset,
    episodes: usize,
    seed: u64,
) -> Result<Prior, ParamError> {
    let eps = evaluate::<ToyCloud>(params, policy, ActMode::Sample, episodes.min(512), episodes, seed)?;
    let share = |f: &dyn Fn(&Episode<ToyCloud>) -> bool| eps.iter().filter(|e| f(e)).count() as f64 / eps.len() as f64;
    let total: usize = data.parts.iter().map(|p| p.episodes).sum();
    let weighted =
        |f: &dyn Fn(&Part) -> f64| data.parts.iter().map(|p| f(p) * p.episodes as f64).sum::<f64>() / total as f64;
    let dim = ToyCloud::spaces(params).obs_dim;
    let mut buffers = StepBuffers::new(ToyCloud::spaces(params), 256);
    BatchRunner::<ToyCloud>::new(params.clone(), 256, seed, &mut buffers)?;
    let mut start = vec![0.0; CloudAction::ALL.len()];
    for i in 0..256 {
        let logits = policy.logits(&buffers.obs[i * dim..(i + 1) * dim]);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        for (p, &l) in start.iter_mut().zip(&logits) {
            *p += f64::from(l - max).exp() / z / 256.0;
        }
    }
    Ok(Prior {
        episodes: eps.len(),
        violating: Violation::ALL.iter().map(|&k| share(&|e| e.safety.violations(k) > 0)).collect(),
        chain: share(&ran_chain),
        data_violating: (0..Violation::ALL.len()).map(|k| weighted(&|p| p.violating[k])).collect(),
        data_chain: weighted(&|p| p.chain),
        start_probabilities: start,
        mean_return: eps.iter().map(|e| e.ret).sum::<f64>() / eps.len() as f64,
        data_return: weighted(&|p| p.mean_return),
    })
}

/// Writes `dataset.ron`, `demonstrations.csv`, `clone.csv`, `prior.csv` and `prior.md` into
/// `dir` (which exists).
pub fn write(dir: &Path, p: &Pretrained) -> Result<(), CliError> {
    let ron = ron::ser::to_string_pretty(&p.dataset, ron::ser::PrettyConfig::default()).map_err(|e| e.to_string())?;
    write_atomic(&dir.join("dataset.ron"), ron.as_bytes())?;
    let d = &p.demos;
    let mut csv = String::from("row,action,return_to_go");
    for j in 0..d.obs_dim {
        write!(csv, ",obs{j}").expect("string");
    }
    csv.push('\n');
    for k in 0..d.len() {
        write!(csv, "{k},{},{}", CloudAction::ALL[d.actions[k] as usize].name(), d.returns[k]).expect("string");
        for v in &d.obs[k * d.obs_dim..(k + 1) * d.obs_dim] {
            write!(csv, ",{v}").expect("string");
        }
        csv.push('\n');
    }
    write_atomic(&dir.join("demonstrations.csv"), csv.as_bytes())?;
    let mut fit = String::from("epoch,cross_entropy,value_loss,agreement\n");
    for e in &p.epochs {
        writeln!(fit, "{},{},{},{}", e.epoch, e.cross_entropy, e.value_loss, e.agreement).expect("string");
    }
    write_atomic(&dir.join("clone.csv"), fit.as_bytes())?;
    let r = &p.prior;
    let mut prior = String::from("what,data,policy\n");
    for (k, kind) in Violation::ALL.iter().enumerate() {
        writeln!(prior, "{},{},{}", kind.name(), r.data_violating[k], r.violating[k]).expect("string");
    }
    writeln!(prior, "chain,{},{}", r.data_chain, r.chain).expect("string");
    writeln!(prior, "mean_return,{},{}", r.data_return, r.mean_return).expect("string");
    write_atomic(&dir.join("prior.csv"), prior.as_bytes())?;
    write_atomic(&dir.join("prior.md"), prior_markdown(p).as_bytes())?;
    Ok(())
}

/// The prior as a Markdown report.
pub fn prior_markdown(p: &Pretrained) -> String {
    let (d, r) = (&p.dataset, &p.prior);
    let mut md = format!("# Pretrained policy on `{}` (seed {})\n\n## Data\n\n", d.scenario, d.seed);
    md.push_str("| strategy | episodes | rows | chain share |\n|---|---:|---:|---:|\n");
    for part in &d.parts {
        writeln!(md, "| {} | {} | {} | {:.4} |", part.strategy, part.episodes, part.rows, part.chain).expect("string");
    }
    let last = p.epochs.last().expect("at least one epoch");
    write!(
        md,
        "\n## Fit\n\n{} epochs: cross-entropy {:.4}, agreement with the demonstrated action {:.4}.\n\n",
        last.epoch, last.cross_entropy, last.agreement
    )
    .expect("string");
    writeln!(md, "## Prior ({} sampled episodes)\n\n| episodes with | data | policy |\n|---|---:|---:|", r.episodes)
        .expect("string");
    for (k, kind) in Violation::ALL.iter().enumerate() {
        writeln!(md, "| {} | {:.4} | {:.4} |", kind.name(), r.data_violating[k], r.violating[k]).expect("string");
    }
    writeln!(md, "| the whole chain | {:.4} | {:.4} |", r.data_chain, r.chain).expect("string");
    writeln!(md, "| mean return | {:.4} | {:.4} |", r.data_return, r.mean_return).expect("string");
    md.push_str("\n| action | mean probability in a first state |\n|---|---:|\n");
    for (a, prob) in CloudAction::ALL.iter().zip(&r.start_probabilities) {
        writeln!(md, "| {} | {:.5} |", a.name(), prob).expect("string");
    }
    md
}
