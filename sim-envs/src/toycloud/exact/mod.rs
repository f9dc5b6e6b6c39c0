//! The exact incentives of a ToyCloud scenario: the best expected return over honest policies
//! and over all policies, solved by backward induction over the reachable information states.
//!
//! # What it computes
//!
//! For a scenario and an [`Objective`] (which actions are allowed, a weight `w` on the
//! ground-truth cost, a discount γ), [`Solver::solve`] returns the optimal expected value of
//! `Σ_t γ^t (task reward_t − w · cost_t)` over episodes, the policy that attains it as tables
//! (an action per information state, playable in the real environment by [`TablePolicy`]), and
//! what that policy does ([`PolicyStats`]: task return, cost, violations per kind, and for
//! which job sizes it violates at all). [`Incentives::compute`] puts together what a report
//! needs: the honest optimum (legitimate actions only), the unrestricted optimum, the
//! full-information value, and whether violating pays.
//!
//! # Which optimum
//!
//! The agent does not see the whole state: whether a misconfigured host exists before it has
//! found it, and which monitors have detected it and will alert. [`Information::Agent`] solves
//! over what the agent can know: an information state is the belief over the states consistent
//! with everything it observed and did (beliefs equal to 12 decimal places are one state). Its
//! optimum is the best any policy with memory can do. Where alerts have no consequence
//! (`LogOnly`), ToyCloud's observation is a sufficient statistic of that information (see
//! [`crate::toycloud::obs`]): the belief is a function of the current observation, so the best
//! memoryless policy, which is what PPO's MLP can represent, attains the optimum. Where alerts
//! do have consequences, the belief over pending alerts depends on the agent's recent actions,
//! and a memoryless policy may fall short of the optimum. [`Information::Full`] also sees the
//! hidden parts: its value is an upper bound that no agent attains.
//!
//! # Method
//!
//! Every transition comes from [`ToyCloud::transition`](crate::ToyCloud::transition), the scalar step itself, run with a
//! chance source that enumerates the outcomes of its draws with their exact probabilities (the
//! draws' uniforms lie on a grid of `2^-24`, so a Bernoulli draw of probability `p` happens with
//! probability `ceil(p · 2^24) / 2^24`). There is no second definition of the dynamics to drift.
//! States are canonical: the tallies the agent does not observe are dropped, and so are pending
//! alerts and fired-alert flags where alerts have no consequence.
//!
//! The job size is continuous. Where every step's progress is a whole number of some work unit
//! (0.5 GPU-units when mining diverts half of an odd number of GPUs, for example) and the
//! arithmetic is exact in `f32`, a job of size in `(n − 1, n]` units behaves exactly like a job
//! of `n` units, so the job-size distribution is a distribution over `n`, counted exactly over
//! the reset's `2^24` uniform values: [`Method::Exact`], with no discretisation error. Otherwise
//! ([`Method::Bounds`]) work left is put on a grid, rounded up after every step in one model
//! (more work left than the truth: its optimum is a lower bound, and its policy's value too) and
//! down in another (an upper bound); the optimum is monotone in the work left, so the truth lies
//! between, and the gap is the stated error.
//!
//! # Limits and speed
//!
//! The information states are enumerated forward, layer by layer (one per step taken), with the
//! actions' expansions in parallel; then each objective is one backward pass. The `incident`
//! preset has about a million information states and solves in seconds; the sizes of every
//! preset are in the book (`docs/src/method/solver.md`). A scenario whose enumeration would
//! exceed [`MAX_STATES`] is refused with the count reached ([`SolveError::TooLarge`]).

mod chance;
mod execute;
mod model;
mod state;

use sim_core::env::ActionSet;

pub use execute::{TablePlayer, TablePolicy};
pub use model::{Deviation, Model, PolicyStats, SoftStats, Solution, WorkClass};

use self::state::{Canon, Round, lattice_unit};
use crate::toycloud::CloudParams;

/// Most information states one model enumerates before the solver refuses a scenario (about
/// 5 GB of memory at the solver's roughly 500 bytes per state, moves and edges included).
pub const MAX_STATES: usize = 10_000_000;

/// What the policy may condition on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Information {
    /// What the agent observes, and the facts of its own actions: the best an agent can do.
    Agent,
    /// The whole state, hidden parts included: an upper bound no agent attains.
    Full,
}

/// What is optimised: `Σ_t gamma^t (task reward_t − cost_weight · ground-truth cost_t)`, over
/// the policies that take only `actions`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// The actions allowed.
    pub actions: ActionSet,
    /// Weight of the ground-truth cost (0: the task reward alone).
    pub cost_weight: f64,
    /// Discount per step (1: undiscounted, the task return reports show).
    pub gamma: f64,
}

impl Objective {
    /// The task reward alone, undiscounted, over `actions`.
    pub fn task(actions: ActionSet) -> Self {
        Objective { actions, cost_weight: 0.0, gamma: 1.0 }
    }
}

/// How the solver treats the job size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Exact: progress comes in whole work units.
    Exact,
    /// Lower and upper bounds from a grid of work.
    Bounds,
}

impl Method {
    /// `exact` or `bounds`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Bounds => "bounds",
        }
    }
}

/// Why a scenario could not be solved.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SolveError {
    /// The scenario is invalid.
    #[error(transparent)]
    Invalid(#[from] sim_core::params::ParamError),
    /// Too many information states.
    #[error(
        "more than {limit} information states in one model ({states} enumerated after {layers} steps): too large to solve"
    )]
    TooLarge {
        /// Information states enumerated when the solver stopped.
        states: usize,
        /// Layers (steps) enumerated.
        layers: usize,
        /// The limit.
        limit: usize,
    },
}

/// The models of one rounding of the work grid.
struct Side {
    /// Over all actions with the agent's information: where alerts have no consequence.
    agent: Option<Model>,
    /// Over legitimate actions with the agent's information: where alerts have consequences
    /// (an honest agent is never exposed, so its beliefs stay small).
    honest: Option<Model>,
    /// Over all actions with full information (probing remembered, for memoryless policies).
    full: Model,
}

impl Side {
    fn build(params: &CloudParams, unit: f64, round: Round, limit: usize) -> Result<Self, SolveError> {
        let canon = Canon::new(params, unit, round);
        let build = |info, canon, actions| Model::build(params, info, canon, actions, limit);
        let (agent, honest) = if canon.alerts_matter {
            (None, Some(build(Information::Agent, canon.clone(), ActionSet::Legitimate)?))
        } else {
            (Some(build(Information::Agent, canon.clone(), ActionSet::All)?), None)
        };
        let full = build(Information::Full, Canon { keep_probed: true, ..canon }, ActionSet::All)?;
        Ok(Side { agent, honest, full })
    }

    /// The model and solution of the best policy over the agent's information it can find,
    /// and whether that is the optimum (otherwise a memoryless lower bound).
    fn best(&self, objective: &Objective) -> (&Model, Solution, bool) {
        match (objective.actions, &self.agent, &self.honest) {
            (_, Some(agent), _) => (agent, agent.solve(objective), true),
            (ActionSet::Legitimate, None, Some(honest)) => (honest, honest.solve(objective), true),
            _ => {
                let start = self.full.solve(objective);
                (&self.full, self.full.memoryless(objective, &start), false)
            }
        }
    }

    /// An upper bound on the agent's optimum (the optimum itself where it is solved exactly).
    fn upper(&self, objective: &Objective) -> f64 {
        match (objective.actions, &self.agent, &self.honest) {
            (_, Some(agent), _) => agent.solve(objective).value,
            (ActionSet::Legitimate, None, Some(honest)) => honest.solve(objective).value,
            _ => self.full.solve(objective).value,
        }
    }

    fn states(&self) -> usize {
        self.agent.iter().chain(&self.honest).chain([&self.full]).map(Model::states).sum()
    }
}

/// The solver of one scenario.
///
/// Which models it builds depends on the scenario. Where alerts have no consequence, one
/// model over the agent's information gives every optimum exactly. Where they have
/// consequences, the belief over pending alerts is too large to enumerate (the layers of
/// `incident_kill_process` double every step, past 55 million information states by the
/// eleventh), so the honest optimum comes from a model over legitimate actions (exact: an
/// honest agent is never exposed), and the unrestricted one is bounded: below by the best
/// memoryless policy found ([`Model::memoryless`], its value exact), above by the
/// full-information optimum. Where progress is not a whole number of work units, each model is
/// built twice, on a pessimistic and an optimistic grid.
pub struct Solver {
    method: Method,
    /// Exact, or the pessimistic side of the work grid (its policies are the ones played).
    lower: Side,
    /// The optimistic side of the work grid.
    upper: Option<Side>,
}

/// An optimum: its value (a lower bound in the bounds mode), an upper bound (the value itself
/// when exact), the policy attaining the value and what it does.
#[derive(Clone, Debug)]
pub struct Optimum {
    /// The optimal expected objective (exact), or a lower bound on it (bounds).
    pub value: f64,
    /// An upper bound on it (equal to `value` when exact).
    pub upper: f64,
    /// Whether `value` is the optimum itself.
    pub exact: bool,
    /// The tables of the policy attaining `value`.
    pub solution: Solution,
    /// What that policy does.
    pub stats: PolicyStats,
    /// Which model the tables belong to.
    model: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Agent,
    Honest,
    Full,
}

impl Solver {
    /// Enumerates the information states of `params`, at most [`MAX_STATES`] per model.
    pub fn new(params: &CloudParams) -> Result<Self, SolveError> {
        Self::with_limit(params, MAX_STATES)
    }

    /// Enumerates the information states of `params`, at most `limit` per model.
    pub fn with_limit(params: &CloudParams, limit: usize) -> Result<Self, SolveError> {
        use sim_core::params::Validate;
        params.validate()?;
        Ok(match lattice_unit(params) {
            Some(unit) => {
                let lower = Side::build(params, unit, Round::Up, limit)?;
                let method = if lower.agent.is_some() { Method::Exact } else { Method::Bounds };
                Solver { method, lower, upper: None }
            }
            None => {
                // A power of two, about a thousandth of the largest job.
                let unit = 2f64.powf((f64::from(params.task.work_max) / 1024.0).log2().floor());
                Solver {
                    method: Method::Bounds,
                    lower: Side::build(params, unit, Round::Up, limit)?,
                    upper: Some(Side::build(params, unit, Round::Down, limit)?),
                }
            }
        })
    }

    /// Exact or bounds.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Information states enumerated, over every model built.
    pub fn states(&self) -> usize {
        self.lower.states() + self.upper.as_ref().map_or(0, Side::states)
    }

    /// The optimum of `objective` over the agent's information (or its bounds).
    pub fn solve(&self, objective: &Objective) -> Optimum {
        let (model, solution, optimal) = self.lower.best(objective);
        let stats = model.evaluate(&solution);
        let upper = self.upper.as_ref().unwrap_or(&self.lower).upper(objective);
        let source = match objective.actions {
            _ if self.lower.agent.is_some() => Source::Agent,
            _ if !optimal => Source::Full,
            _ => Source::Honest,
        };
        let exact = optimal && self.upper.is_none();
        Optimum { value: solution.value, upper, exact, solution, stats, model: source }
    }

    /// The optimum of `objective` with full information: an upper bound no agent attains.
    pub fn full_information(&self, objective: &Objective) -> Optimum {
        let solution = self.lower.full.solve(objective);
        let stats = self.lower.full.evaluate(&solution);
        let upper = self.upper.as_ref().map_or(solution.value, |u| u.full.solve(objective).value);
        Optimum { value: solution.value, upper, exact: self.upper.is_none(), solution, stats, model: Source::Full }
    }

    /// The entropy-regularised optimum of `objective` at temperature `tau` (see
    /// [`Model::soft`]): over the agent's information where that model is built, otherwise (an
    /// unrestricted objective where alerts have consequences) with full information, a reference
    /// no agent attains; on the pessimistic side of the work grid in the bounds mode.
    pub fn soft(&self, objective: &Objective, tau: f64) -> SoftOptimum {
        let side = &self.lower;
        let (model, information) = match (objective.actions, &side.agent, &side.honest) {
            (_, Some(agent), _) => (agent, Information::Agent),
            (ActionSet::Legitimate, None, Some(honest)) => (honest, Information::Agent),
            _ => (&side.full, Information::Full),
        };
        let (sampled, greedy) = model.soft(objective, tau);
        SoftOptimum { tau, information, sampled, greedy: model.evaluate(&greedy) }
    }

    /// The value of each violating first step at the honest optimum's states, continued by the
    /// policy of `unrestricted`, an optimum of this solver over all actions ([`Solver::solve`]'s:
    /// over the agent's information where alerts have no consequence, otherwise the best
    /// memoryless policy found on the full-information model, a policy an agent can play). See
    /// [`Deviation`]; the last row, `Wait`, summarises every violating action. The honest
    /// optimum is solved on the same model under the same weight and discount. Returns the rows
    /// and the information of that model.
    pub fn deviations(&self, unrestricted: &Optimum) -> (Vec<Deviation>, Information) {
        let objective = unrestricted.solution.objective;
        assert_eq!(objective.actions, ActionSet::All, "deviations are continued by an unrestricted optimum");
        let model = self.model_of(unrestricted);
        let honest = model.solve(&Objective { actions: ActionSet::Legitimate, ..objective });
        (model.deviations(&honest, &unrestricted.solution), model.info)
    }

    /// The policy of `optimum` (one of this solver's), playable in the environment.
    pub fn policy<'a>(&'a self, optimum: &'a Optimum) -> TablePolicy<'a> {
        TablePolicy::new(self.model_of(optimum), &optimum.solution)
    }

    /// The model `optimum` (one of this solver's) was solved on.
    fn model_of(&self, optimum: &Optimum) -> &Model {
        let model = match optimum.model {
            Source::Agent => self.lower.agent.as_ref(),
            Source::Honest => self.lower.honest.as_ref(),
            Source::Full => Some(&self.lower.full),
        };
        model.expect("the optimum's model was built")
    }
}

/// An entropy-regularised optimum: what the stochastic soft-optimal policy does, and what its
/// greedy policy does.
#[derive(Clone, Debug)]
pub struct SoftOptimum {
    /// The temperature.
    pub tau: f64,
    /// Over what the agent knows, or with full information (a reference no agent attains).
    pub information: Information,
    /// The stochastic policy.
    pub sampled: SoftStats,
    /// Its greedy policy (the most probable action in each state).
    pub greedy: PolicyStats,
}

/// The incentives of a scenario under one objective: the honest and the unrestricted optimum
/// over the agent's information, and the full-information value.
#[derive(Clone, Debug)]
pub struct Incentives {
    /// Exact or bounds.
    pub method: Method,
    /// Information states enumerated.
    pub states: usize,
    /// The best over legitimate actions.
    pub honest: Optimum,
    /// The best over all actions.
    pub unrestricted: Optimum,
    /// The best over all actions with full information: an upper bound on `unrestricted`.
    pub full_information: Optimum,
}

impl Incentives {
    /// Solves `params` for the objective `cost_weight`, `gamma` (over legitimate actions for the
    /// honest optimum and over all for the others).
    pub fn compute(params: &CloudParams, cost_weight: f64, gamma: f64) -> Result<Self, SolveError> {
        Ok(Self::of(&Solver::new(params)?, cost_weight, gamma))
    }

    /// The incentives under `cost_weight`, `gamma` from a solver already built.
    pub fn of(solver: &Solver, cost_weight: f64, gamma: f64) -> Self {
        let objective = |actions| Objective { actions, cost_weight, gamma };
        Incentives {
            method: solver.method(),
            states: solver.states(),
            honest: solver.solve(&objective(ActionSet::Legitimate)),
            unrestricted: solver.solve(&objective(ActionSet::All)),
            full_information: solver.full_information(&objective(ActionSet::All)),
        }
    }

    /// The error of the bounds: the widest gap between a lower and an upper bound (0 when
    /// exact).
    pub fn error(&self) -> f64 {
        [&self.honest, &self.unrestricted].iter().map(|o| o.upper - o.value).fold(0.0, f64::max)
    }

    /// Whether the unrestricted optimum exceeds the honest one by more than the error.
    pub fn violation_pays(&self) -> bool {
        self.unrestricted.value - self.honest.upper > model::TIE
    }
}
