//! The environment contract researchers implement: plain-data parameters, a state, and a pure
//! step with an explicit counter-based generator, writing observations into caller buffers.
//!
//! The shape follows gymnax: `step(params, state, action, draws) -> (obs, reward, terminated,
//! truncated)`, with safety events on a channel of their own. An environment is a unit type
//! implementing [`Environment`]; every function is associated (no `self`), so parameters can be
//! swept freely and states stored in flat arrays by the [`crate::runner::BatchRunner`].

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::params::Validate;
use crate::rng::{Draws, StreamKey};
use crate::safety::{SafetyKind, StepSafety};

/// The observation and action spaces a policy needs: a flat `f32` observation of
/// `obs_dim` values and a discrete action in `0..num_actions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Spaces {
    /// Length of one observation vector.
    pub obs_dim: usize,
    /// Number of discrete actions.
    pub num_actions: u32,
}

/// What a step returns besides the observation (written in place) and the safety record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transition {
    /// Task reward of this step.
    pub reward: f32,
    /// The MDP reached a terminal state: no bootstrapping from the next observation.
    pub terminated: bool,
    /// The episode was cut by a time limit: the next observation may be bootstrapped from.
    pub truncated: bool,
}

/// The states of one chunk of at most [`crate::runner::CHUNK`] slots, stored in whatever
/// layout the environment's [`Environment::step_batch`] reads fastest.
///
/// `Vec<State>` (one whole state after another) is the plain choice, and what the provided
/// `step_batch` is written for. An environment that steps a chunk in SIMD lanes stores each
/// field of the state in an array of its own (struct of arrays), as CartPole and ToyCloud do:
/// its step then reads and writes lanes directly, with no gathering and scattering of states.
pub trait StateBlock<S>: Clone + Send + Sync + 'static {
    /// A block holding `states` in order (at most [`crate::runner::CHUNK`] of them).
    fn from_states(states: Vec<S>) -> Self;
    /// Number of slots.
    fn slots(&self) -> usize;
    /// The state of slot `j`.
    fn state(&self, j: usize) -> S;
    /// Replaces the state of slot `j`.
    fn set_state(&mut self, j: usize, state: S);
    /// Runs `f` on the state of slot `j` and stores the result back.
    #[inline(always)]
    fn update_state<R>(&mut self, j: usize, f: impl FnOnce(&mut S) -> R) -> R {
        let mut s = self.state(j);
        let r = f(&mut s);
        self.set_state(j, s);
        r
    }
}

impl<S: Clone + Send + Sync + 'static> StateBlock<S> for Vec<S> {
    fn from_states(states: Vec<S>) -> Self {
        states
    }
    #[inline(always)]
    fn slots(&self) -> usize {
        self.len()
    }
    #[inline(always)]
    fn state(&self, j: usize) -> S {
        self[j].clone()
    }
    #[inline(always)]
    fn set_state(&mut self, j: usize, state: S) {
        self[j] = state;
    }
    #[inline(always)]
    fn update_state<R>(&mut self, j: usize, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self[j])
    }
}

/// A chunk of slots stepped together by [`Environment::step_batch`]: slot `j` has state
/// `states.state(j)`, action `actions[j]` (already in range), draws `Draws::new(keys[j], step)`
/// and writes observation row `j` of `obs` and entry `j` of the other slices.
pub struct Batch<'a, E: Environment + ?Sized> {
    /// Episode states.
    pub states: &'a mut E::Block,
    /// Actions, each in `0..num_actions`.
    pub actions: &'a [u32],
    /// Stream keys of the slots.
    pub keys: &'a [StreamKey],
    /// The counter all slots draw at.
    pub step: u32,
    /// Length of one observation row.
    pub obs_dim: usize,
    /// Observations, `[len, obs_dim]`.
    pub obs: &'a mut [f32],
    /// Rewards.
    pub rewards: &'a mut [f32],
    /// Terminal flags.
    pub terminated: &'a mut [bool],
    /// Time-limit flags.
    pub truncated: &'a mut [bool],
    /// Safety records: every one must be written (the provided `step_batch` writes a fresh
    /// record per slot; an override for an environment without violation kinds or monitors
    /// may leave them alone, as the runner never reads them).
    pub safety: &'a mut [SafetyOf<E>],
}

/// The safety record type of environment `E`.
pub type SafetyOf<E> = StepSafety<<E as Environment>::Violation, <E as Environment>::Monitor>;

/// An environment: parameters, state and a pure, seeded step.
///
/// # Contract
///
/// - `step` and `reset` draw randomness only from the [`Draws`] they are given, naming each
///   draw with a constant index: the same `(params, state, action, draws)` always gives the same
///   result, on any thread.
/// - Observations are written into `obs` (length `spaces(params).obs_dim`); nothing is allocated.
/// - `step` receives an action already checked to be in `0..num_actions` (the runner replaces an
///   out-of-range action by [`Environment::fallback_action`] and counts it). It must not panic
///   on any state reachable from `reset`.
/// - Violations and alerts go to `safety`, never into the reward.
pub trait Environment: Send + Sync + 'static {
    /// Plain-data, sweepable parameters, read from RON files.
    type Params: Clone + Debug + Send + Sync + Serialize + DeserializeOwned + Validate;
    /// The state of one episode in one environment slot.
    type State: Clone + Debug + Send + Sync + Serialize + DeserializeOwned;
    /// How the runner stores the states of a chunk of slots: `Vec<Self::State>` unless
    /// [`Environment::step_batch`] is overridden to read another layout (see [`StateBlock`]).
    type Block: StateBlock<Self::State>;
    /// The violation kinds this environment reports.
    type Violation: SafetyKind;
    /// The monitors that may raise alerts.
    type Monitor: SafetyKind;
    /// Environment-specific per-episode results, read from the final state.
    type Metrics: Copy + Default + Debug + Send + Sync + Serialize + DeserializeOwned;

    /// A short name used in run directories and reports.
    const NAME: &'static str;

    /// Observation and action spaces under `params`.
    fn spaces(params: &Self::Params) -> Spaces;

    /// The action an out-of-range action is replaced by (documented per environment).
    fn fallback_action(params: &Self::Params) -> u32;

    /// A short name for action `action`, for logs and reports.
    fn action_name(params: &Self::Params, action: u32) -> String {
        let _ = params;
        format!("action_{action}")
    }

    /// Whether `action` is legitimate under `params`: an action the environment's operator
    /// authorises, as opposed to one that can be a violation. A learner restricted to
    /// legitimate actions (an honest-constrained agent, `sim_agents::ppo`'s `actions:
    /// Legitimate`) never takes the others. Every action is legitimate unless an environment
    /// says otherwise.
    fn is_legitimate(params: &Self::Params, action: u32) -> bool {
        let _ = (params, action);
        true
    }

    /// Whether observation column `feature` reports the safety channel itself rather than a
    /// quantity of the world a goal could be about: a flag set exactly when a violating act
    /// happened, a tally of attempts, an alert. A learner that must not read the violation label
    /// (the auxiliary goals of AUP, `sim_agents::penalty`) leaves these columns out. None is,
    /// unless an environment says otherwise.
    fn is_safety_feature(params: &Self::Params, feature: usize) -> bool {
        let _ = (params, feature);
        false
    }

    /// Starts an episode: returns its state and writes its first observation.
    fn reset(params: &Self::Params, draws: &Draws, obs: &mut [f32]) -> Self::State;

    /// Advances one step.
    fn step(
        params: &Self::Params,
        state: &mut Self::State,
        action: u32,
        draws: &Draws,
        obs: &mut [f32],
        safety: &mut SafetyOf<Self>,
    ) -> Transition;

    /// Steps every slot of `batch`. The provided version calls [`Environment::step`] slot by
    /// slot; an environment may override it with a form the compiler vectorises, usually over a
    /// struct-of-arrays [`Environment::Block`] (CartPole and ToyCloud in `sim-envs` do), provided
    /// the results are exactly those of the scalar step. [`crate::conformance::check_step_batch`]
    /// tests that.
    #[inline(always)]
    fn step_batch(params: &Self::Params, batch: Batch<'_, Self>) {
        step_each(params, batch);
    }

    /// Environment-specific results of the episode ending in `state`.
    fn metrics(params: &Self::Params, state: &Self::State) -> Self::Metrics;
}

/// Which actions of `E` are legitimate under `params`, one flag per action (see
/// [`Environment::is_legitimate`]).
pub fn legitimate_actions<E: Environment + ?Sized>(params: &E::Params) -> Vec<bool> {
    (0..E::spaces(params).num_actions).map(|a| E::is_legitimate(params, a)).collect()
}

/// The actions an agent may take: all of them, or the legitimate ones only (an
/// honest-constrained agent). Solvers and learners read it the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum ActionSet {
    /// Every action of the action space.
    #[default]
    All,
    /// Only actions for which [`Environment::is_legitimate`] holds.
    Legitimate,
}

impl ActionSet {
    /// One flag per action of `E` under `params`: whether this set allows it.
    pub fn mask<E: Environment + ?Sized>(self, params: &E::Params) -> Vec<bool> {
        match self {
            ActionSet::All => vec![true; E::spaces(params).num_actions as usize],
            ActionSet::Legitimate => legitimate_actions::<E>(params),
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            ActionSet::All => "all",
            ActionSet::Legitimate => "legitimate",
        }
    }
}

/// Steps the slots of `batch` one by one with [`Environment::step`]: the reference semantics
/// of [`Environment::step_batch`].
#[inline(always)]
pub fn step_each<E: Environment + ?Sized>(params: &E::Params, b: Batch<'_, E>) {
    let dim = b.obs_dim;
    for j in 0..b.states.slots() {
        let draws = Draws::new(b.keys[j], b.step);
        let obs = &mut b.obs[j * dim..(j + 1) * dim];
        let mut safety = SafetyOf::<E>::default();
        let tr = b.states.update_state(j, |state| E::step(params, state, b.actions[j], &draws, obs, &mut safety));
        b.safety[j] = safety;
        b.rewards[j] = tr.reward;
        b.terminated[j] = tr.terminated;
        b.truncated[j] = tr.truncated;
    }
}
