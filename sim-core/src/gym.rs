//! Gymnasium's conventions over the batched runner, for bindings to other languages
//! (`sim-py`): a vector environment with either of Gymnasium's autoreset modes, and one
//! environment slot stepped alone that draws exactly what that slot of a [`BatchRunner`] draws.
//!
//! # Autoreset
//!
//! The runner resets an ended slot within the step that ended it ([`Autoreset::SameStep`]).
//! Gymnasium's default is [`Autoreset::NextStep`]: the step that ends an episode shows its last
//! observation, and the following step only resets the slot (reward 0, no flags, the action is
//! ignored) and shows the new episode's first observation. [`VecEnv`] gives either; in next-step
//! mode it holds the ended slots for one step ([`BatchRunner::step_holding`]).
//!
//! # Clocks
//!
//! Slot `i` of a runner seeded by `seed` draws from the key `(seed, domain::ENV, i)` at the
//! runner's step count, and resets at the count after the ending step. A [`SlotEnv`] for slot
//! `i` keeps the same clock: it counts its steps, and in next-step mode the reset after an
//! episode end takes one tick, as the held step does in the vector environment. So `n` slot
//! environments `0..n`, reset with one seed and stepped in the same mode, produce what the
//! vector environment produces, bit for bit (tested below, and from Python against
//! `gymnasium.vector.SyncVectorEnv`).

use crate::env::{Environment, SafetyOf};
use crate::params::{ParamError, Validate};
use crate::rng::{Draws, StreamKey, domain};
use crate::runner::{
    BatchRunner, Episode, InvalidAction, SafetyBuffer, StepBuffers, check_actions, reset_draws, safety_buffer,
};
use crate::safety::{EpisodeSafety, SafetyKind};

/// Gymnasium's autoreset modes (`gymnasium.vector.AutoresetMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoreset {
    /// The step after an episode's end resets the slot (Gymnasium's default).
    NextStep,
    /// The step that ends an episode also resets the slot; its last observation is returned
    /// beside ([`VecEnv::final_obs_row`]).
    SameStep,
}

impl Autoreset {
    /// The mode of Gymnasium's name for it (`next_step`, `same_step`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "next_step" | "NextStep" | "NEXT_STEP" => Some(Autoreset::NextStep),
            "same_step" | "SameStep" | "SAME_STEP" => Some(Autoreset::SameStep),
            _ => None,
        }
    }
}

/// `num_envs` slots of `E` with Gymnasium's semantics. See the module docs.
pub struct VecEnv<E: Environment> {
    runner: BatchRunner<E>,
    mode: Autoreset,
    buffers: StepBuffers,
    safety: SafetyBuffer<E>,
    /// Slots whose episode ended at the last step.
    ended: Vec<bool>,
    /// Slots that only reset at the last step (next-step mode).
    held: Vec<bool>,
    /// Episodes that ended at the last step, in slot order.
    episodes: Vec<Episode<E>>,
}

impl<E: Environment> VecEnv<E> {
    /// Validates `params` and resets `num_envs` slots with `seed`.
    pub fn new(params: E::Params, num_envs: usize, seed: u64, mode: Autoreset) -> Result<Self, ParamError> {
        params.validate()?;
        let mut buffers = StepBuffers::new(E::spaces(&params), num_envs);
        let runner = BatchRunner::new(params, num_envs, seed, &mut buffers)?;
        Ok(VecEnv {
            runner,
            mode,
            buffers,
            safety: safety_buffer::<E>(num_envs),
            ended: vec![false; num_envs],
            held: vec![false; num_envs],
            episodes: Vec::new(),
        })
    }

    /// Starts every slot afresh with keys derived from `seed`.
    pub fn reset(&mut self, seed: u64) {
        let n = self.num_envs();
        let params = self.runner.params().clone();
        self.runner = BatchRunner::new(params, n, seed, &mut self.buffers).expect("parameters validated when made");
        self.safety.fill(SafetyOf::<E>::default());
        self.ended.fill(false);
        self.held.fill(false);
        self.episodes.clear();
    }

    /// Steps every slot; an out-of-range action is an error and nothing is stepped.
    pub fn step(&mut self, actions: &[u32]) -> Result<(), InvalidAction> {
        assert_eq!(actions.len(), self.num_envs(), "one action per environment slot");
        check_actions(actions, self.runner.spaces().num_actions)?;
        let dim = self.runner.spaces().obs_dim;
        match self.mode {
            Autoreset::SameStep => self.runner.step(actions, &mut self.buffers, &mut self.safety),
            Autoreset::NextStep => {
                // The slots that ended last step show their last observation in `obs` and keep
                // the next episode's first in `final_obs` (swapped below): swap them back, hold
                // the slots for this step, and they show their first observation.
                std::mem::swap(&mut self.held, &mut self.ended);
                swap_rows(&mut self.buffers, &self.held, dim);
                self.runner.step_holding(actions, &self.held, &mut self.buffers, &mut self.safety);
            }
        }
        for (e, (&te, &tr)) in self.ended.iter_mut().zip(self.buffers.terminated.iter().zip(&self.buffers.truncated)) {
            *e = te | tr;
        }
        if self.mode == Autoreset::NextStep {
            swap_rows(&mut self.buffers, &self.ended, dim);
        }
        self.episodes.clear();
        self.runner.drain_episodes(&mut self.episodes);
        Ok(())
    }

    /// Number of slots.
    pub fn num_envs(&self) -> usize {
        self.runner.num_envs()
    }

    /// The autoreset mode.
    pub fn mode(&self) -> Autoreset {
        self.mode
    }

    /// The parameters.
    pub fn params(&self) -> &E::Params {
        self.runner.params()
    }

    /// The observations Gymnasium shows, `[num_envs, obs_dim]`: in next-step mode an ended
    /// slot's last observation, in same-step mode the next episode's first.
    pub fn obs(&self) -> &[f32] {
        &self.buffers.obs
    }

    /// The last observation of slot `i`'s episode, if it ended at the last step in same-step mode.
    pub fn final_obs_row(&self, i: usize) -> Option<&[f32]> {
        let dim = self.runner.spaces().obs_dim;
        (self.mode == Autoreset::SameStep && self.ended[i]).then(|| &self.buffers.final_obs[i * dim..(i + 1) * dim])
    }

    /// Rewards of the last step.
    pub fn rewards(&self) -> &[f32] {
        &self.buffers.rewards
    }

    /// Terminal flags of the last step.
    pub fn terminated(&self) -> &[bool] {
        &self.buffers.terminated
    }

    /// Time-limit flags of the last step.
    pub fn truncated(&self) -> &[bool] {
        &self.buffers.truncated
    }

    /// Safety records of the last step (empty for held slots).
    pub fn safety(&self) -> &[SafetyOf<E>] {
        &self.safety
    }

    /// Slots whose episode ended at the last step.
    pub fn ended(&self) -> &[bool] {
        &self.ended
    }

    /// Slots that only reset at the last step (next-step mode; none in same-step mode).
    pub fn held(&self) -> &[bool] {
        &self.held
    }

    /// Episodes that ended at the last step, in slot order.
    pub fn episodes(&self) -> &[Episode<E>] {
        &self.episodes
    }
}

/// Swaps the rows of `obs` and `final_obs` of the marked slots.
fn swap_rows(buffers: &mut StepBuffers, marked: &[bool], dim: usize) {
    for (i, _) in marked.iter().enumerate().filter(|(_, m)| **m) {
        let r = i * dim..(i + 1) * dim;
        buffers.obs[r.clone()].swap_with_slice(&mut buffers.final_obs[r]);
    }
}

/// Why a [`SlotEnv`] could not step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// The action is outside the action space.
    #[error("action {action} is out of range (the action space is 0..{num_actions})")]
    InvalidAction {
        /// The action given.
        action: u32,
        /// The size of the action space.
        num_actions: u32,
    },
    /// The episode ended and the environment was not reset.
    #[error("the episode has ended: call reset() before stepping again")]
    Ended,
}

/// One environment slot stepped alone, drawing what slot `slot` of a [`BatchRunner`] with the
/// same seed draws. See the module docs.
pub struct SlotEnv<E: Environment> {
    params: E::Params,
    slot: u64,
    mode: Autoreset,
    key: StreamKey,
    clock: u32,
    state: E::State,
    obs: Vec<f32>,
    ended: bool,
    safety: SafetyOf<E>,
    tally: EpisodeSafety<E::Violation, E::Monitor>,
    ret: f64,
    length: u32,
    episode: Option<Episode<E>>,
}

impl<E: Environment> SlotEnv<E> {
    /// Validates `params` and resets slot `slot` with `seed`.
    pub fn new(params: E::Params, slot: u64, seed: u64, mode: Autoreset) -> Result<Self, ParamError> {
        params.validate()?;
        if slot >= 1 << 40 {
            return Err(ParamError { field: "slot".into(), value: slot.to_string(), expected: "below 2^40".into() });
        }
        let dim = E::spaces(&params).obs_dim;
        let key = StreamKey::derive(seed, domain::ENV, slot);
        let mut obs = vec![0.0; dim];
        let state = E::reset(&params, &reset_draws(key, 0), &mut obs);
        Ok(SlotEnv {
            params,
            slot,
            mode,
            key,
            clock: 0,
            state,
            obs,
            ended: false,
            safety: SafetyOf::<E>::default(),
            tally: EpisodeSafety::default(),
            ret: 0.0,
            length: 0,
            episode: None,
        })
    }

    /// Starts an episode. With a seed, the slot's clock restarts from the key of `(seed, slot)`;
    /// without one, the episode starts at the current tick, and in next-step mode a reset after
    /// an episode's end takes a tick.
    pub fn reset(&mut self, seed: Option<u64>) {
        if let Some(seed) = seed {
            self.key = StreamKey::derive(seed, domain::ENV, self.slot);
            self.clock = 0;
        }
        self.state = E::reset(&self.params, &reset_draws(self.key, self.clock), &mut self.obs);
        if seed.is_none() && self.ended && self.mode == Autoreset::NextStep {
            self.clock = self.clock.wrapping_add(1);
        }
        self.ended = false;
        self.safety = SafetyOf::<E>::default();
        self.tally = EpisodeSafety::default();
        (self.ret, self.length, self.episode) = (0.0, 0, None);
    }

    /// Advances one step; the observation is then [`SlotEnv::obs`], the safety record
    /// [`SlotEnv::safety`], and at an episode's end its report [`SlotEnv::episode`].
    pub fn step(&mut self, action: u32) -> Result<crate::env::Transition, SlotError> {
        let num_actions = E::spaces(&self.params).num_actions;
        if action >= num_actions {
            return Err(SlotError::InvalidAction { action, num_actions });
        }
        if self.ended {
            return Err(SlotError::Ended);
        }
        self.safety = SafetyOf::<E>::default();
        let draws = Draws::new(self.key, self.clock);
        let t = E::step(&self.params, &mut self.state, action, &draws, &mut self.obs, &mut self.safety);
        self.ret += f64::from(t.reward);
        self.length += 1;
        if (self.safety.violations.bits() | self.safety.alerts.bits()) != 0 {
            self.tally.record(self.length - 1, &self.safety);
        }
        self.ended = t.terminated || t.truncated;
        if self.ended {
            self.episode = Some(Episode {
                slot: self.slot as u32,
                end_step: self.clock,
                ret: self.ret,
                length: self.length,
                terminated: t.terminated,
                truncated: t.truncated,
                invalid_actions: 0,
                safety: self.tally,
                metrics: E::metrics(&self.params, &self.state),
            });
        }
        self.clock = self.clock.wrapping_add(1);
        Ok(t)
    }

    /// The current observation.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// The safety record of the last step.
    pub fn safety(&self) -> &SafetyOf<E> {
        &self.safety
    }

    /// The report of the episode that ended at the last step.
    pub fn episode(&self) -> Option<&Episode<E>> {
        self.episode.as_ref().filter(|_| self.ended)
    }

    /// The parameters.
    pub fn params(&self) -> &E::Params {
        &self.params
    }
}

/// The number of violation kinds and monitors of `E`, the widths of the safety arrays a binding
/// shows.
pub fn safety_widths<E: Environment>() -> (usize, usize) {
    (E::Violation::ALL.len(), E::Monitor::ALL.len())
}

/// Checks a [`VecEnv`] of `n` slots against `n` [`SlotEnv`]s stepped the way Gymnasium's
/// `SyncVectorEnv` steps single environments in `mode`, for `steps` steps of random actions:
/// observations (and same-step final observations), rewards, flags, safety records and episode
/// reports, bit for bit. Returns the first difference, or the number of episodes compared.
pub fn check_vector_against_slots<E: Environment>(
    params: &E::Params,
    n: usize,
    steps: u32,
    seed: u64,
    mode: Autoreset,
) -> Result<usize, String> {
    let mut vec = VecEnv::<E>::new(params.clone(), n, seed, mode).map_err(|e| e.to_string())?;
    let mut slots = Vec::with_capacity(n);
    for i in 0..n {
        slots.push(SlotEnv::<E>::new(params.clone(), i as u64, seed, mode).map_err(|e| e.to_string())?);
    }
    let spaces = E::spaces(params);
    let dim = spaces.obs_dim;
    let mut autoreset = vec![false; n];
    let mut episodes = 0;
    let key = StreamKey::derive(seed, domain::SCRIPT, 0);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    for t in 0..steps {
        let draws = Draws::new(key, t);
        let actions: Vec<u32> = (0..n as u32).map(|j| draws.below(j, spaces.num_actions)).collect();
        vec.step(&actions).map_err(|e| e.to_string())?;
        let mut ended = Vec::new();
        for (i, s) in slots.iter_mut().enumerate() {
            let at = format!("step {t}, slot {i}");
            let (reward, te, tr, safety) = if mode == Autoreset::NextStep && autoreset[i] {
                s.reset(None);
                (0.0, false, false, SafetyOf::<E>::default())
            } else {
                let tn = s.step(actions[i]).map_err(|e| format!("{at}: {e}"))?;
                ended.extend(s.episode().copied());
                (tn.reward, tn.terminated, tn.truncated, *s.safety())
            };
            if mode == Autoreset::SameStep && (te || tr) {
                if vec.final_obs_row(i).map(bits) != Some(bits(s.obs())) {
                    return Err(format!("{at}: final observations differ"));
                }
                s.reset(None);
            }
            let v = &vec.safety()[i];
            let checks = [
                ("observation", bits(&vec.obs()[i * dim..(i + 1) * dim]) == bits(s.obs())),
                ("reward", vec.rewards()[i].to_bits() == reward.to_bits()),
                ("flags", (vec.terminated()[i], vec.truncated()[i]) == (te, tr)),
                (
                    "safety record",
                    (v.violations.bits(), v.cost.to_bits(), v.alerts.bits())
                        == (safety.violations.bits(), safety.cost.to_bits(), safety.alerts.bits()),
                ),
            ];
            if let Some((what, _)) = checks.iter().find(|(_, same)| !same) {
                return Err(format!("{at}: {what} differs"));
            }
            autoreset[i] = te || tr;
        }
        let same_episode = |a: &Episode<E>, b: &Episode<E>| {
            (a.slot, a.end_step, a.length, a.ret.to_bits(), a.terminated, a.truncated)
                == (b.slot, b.end_step, b.length, b.ret.to_bits(), b.terminated, b.truncated)
                && a.safety == b.safety
        };
        if vec.episodes().len() != ended.len() || !vec.episodes().iter().zip(&ended).all(|(a, b)| same_episode(a, b)) {
            return Err(format!("step {t}: the episode reports differ"));
        }
        episodes += ended.len();
    }
    Ok(episodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autoreset_names() {
        assert_eq!(Autoreset::from_name("next_step"), Some(Autoreset::NextStep));
        assert_eq!(Autoreset::from_name("SAME_STEP"), Some(Autoreset::SameStep));
        assert_eq!(Autoreset::from_name("sometimes"), None);
    }
}
