//! Running a solution's tables in the real environment: the check that the solver's values are
//! the environment's.
//!
//! Each slot of a [`BatchRunner`] keeps its information state. At a step the table gives the
//! action; after the step, what the slot's new state shows (its canonical form's observation,
//! or the state itself with full information) picks the successor among the move's, which is
//! the agent's Bayesian update done once and for all by the solver. The job size is tracked on
//! the solver's grid: the real progress of each step is subtracted from the tracked work and
//! put on the grid, as the solver's model does.

use sim_core::params::ParamError;
use sim_core::runner::{BatchRunner, Episode, PerSlotQuota, StepBuffers, safety_buffer};

use super::model::{Model, Solution};
use super::state::FxMap;
use crate::toycloud::{CloudState, OBS_DIM, ToyCloud};
use sim_core::env::Environment;

/// A slot's place in the tables.
#[derive(Clone, Copy, Debug)]
struct Track {
    t: usize,
    id: u32,
    /// Work left on the solver's grid.
    work: f32,
    /// The environment's own work left at the last step.
    real: f32,
}

/// A [`Solution`]'s policy, playable in the environment.
pub struct TablePolicy<'a> {
    model: &'a Model,
    solution: &'a Solution,
    starts: FxMap<[u32; OBS_DIM], u32>,
}

impl<'a> TablePolicy<'a> {
    /// The policy of `solution`, a solution of `model`.
    pub fn new(model: &'a Model, solution: &'a Solution) -> Self {
        let layer = &model.layers[0];
        let starts = (0..layer.len()).map(|i| (model.group_key(&layer.belief(i)[0].0.state()), i as u32)).collect();
        TablePolicy { model, solution, starts }
    }

    /// The action the tables choose in information state `(t, id)`.
    fn action(&self, track: &Track) -> u32 {
        u32::from(self.solution.actions[track.t][track.id as usize])
    }

    fn start(&self, s: &CloudState) -> Track {
        let work = self.model.canon.work(s.work_left);
        let c = self.model.canon.canonical(&self.model.params, &CloudState { work_left: work, ..*s });
        let key = self.model.group_key(&c);
        let id = *self.starts.get(&key).unwrap_or_else(|| panic!("no initial information state for {c:?}"));
        Track { t: 0, id, work, real: s.work_left }
    }

    fn advance(&self, track: Track, action: u32, s: &CloudState) -> Track {
        let work = self.model.canon.work(track.work - (track.real - s.work_left));
        let c = self.model.canon.canonical(&self.model.params, &CloudState { work_left: work, ..*s });
        let key = self.model.group_key(&c);
        let layer = &self.model.layers[track.t];
        let m = &layer.moves(track.id as usize)[action as usize];
        let next = &self.model.layers[track.t + 1];
        let id = layer
            .successors(m)
            .iter()
            .map(|&(_, j)| j)
            .find(|&j| self.model.group_key(&next.belief(j as usize)[0].0.state()) == key)
            .unwrap_or_else(|| panic!("the tables have no successor for {c:?} after action {action}: the solver and the environment disagree"));
        Track { t: track.t + 1, id, work, real: s.work_left }
    }

    /// Plays the policy in `num_envs` slots of the environment seeded by `seed` until each slot
    /// has finished `ceil(episodes / num_envs)` episodes, and returns those, in `(end step,
    /// slot)` order (per-slot quotas keep the sample unbiased).
    pub fn rollouts(&self, num_envs: usize, episodes: usize, seed: u64) -> Result<Vec<Episode<ToyCloud>>, ParamError> {
        let params = &self.model.params;
        let mut buffers = StepBuffers::new(ToyCloud::spaces(params), num_envs);
        let mut safety = safety_buffer::<ToyCloud>(num_envs);
        let mut runner = BatchRunner::<ToyCloud>::new(params.clone(), num_envs, seed, &mut buffers)?;
        let mut player = self.player(&runner);
        let mut actions = vec![0u32; num_envs];
        let mut quota = PerSlotQuota::new(num_envs, episodes);
        let mut finished = Vec::new();
        while !quota.full() {
            player.actions(&mut actions);
            runner.step(&actions, &mut buffers, &mut safety);
            player.stepped(&runner, &buffers, &actions);
            runner.drain_episodes(&mut finished);
            quota.take(&mut finished);
        }
        Ok(quota.into_episodes())
    }

    /// A player of the policy in `runner`'s slots, from their current states: whoever steps the
    /// runner asks it for the actions ([`TablePlayer::actions`]) and tells it each step
    /// ([`TablePlayer::stepped`]), so that a caller can watch every step (recording
    /// demonstrations, say).
    pub fn player(&self, runner: &BatchRunner<ToyCloud>) -> TablePlayer<'_> {
        TablePlayer { policy: self, tracks: (0..runner.num_envs()).map(|i| self.start(&runner.state(i))).collect() }
    }
}

/// A [`TablePolicy`] played in the slots of a [`BatchRunner`] that its caller steps.
pub struct TablePlayer<'a> {
    policy: &'a TablePolicy<'a>,
    tracks: Vec<Track>,
}

impl TablePlayer<'_> {
    /// Each slot's action now.
    pub fn actions(&self, out: &mut [u32]) {
        for (a, track) in out.iter_mut().zip(&self.tracks) {
            *a = self.policy.action(track);
        }
    }

    /// Follows the step `runner` just took with `actions` (its buffers `buffers`): each slot's
    /// information state advances, or starts again where its episode ended.
    pub fn stepped(&mut self, runner: &BatchRunner<ToyCloud>, buffers: &StepBuffers, actions: &[u32]) {
        for (i, track) in self.tracks.iter_mut().enumerate() {
            let s = runner.state(i);
            *track = if buffers.done(i) { self.policy.start(&s) } else { self.policy.advance(*track, actions[i], &s) };
        }
    }
}
