//! Gymnasium's conventions over the batched runner, beside the Python package that is their
//! reason (`sim-py`, whose native core is built on them): a vector environment with either of Gymnasium's autoreset modes, and one
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
//! vector environment produces, bit for bit ([`check_vector_against_slots`], run by
//! this crate's `tests/gym.rs`; and from Python against `gymnasium.vector.SyncVectorEnv`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sim_core::conformance::CheckError;
use sim_core::env::{Environment, SafetyOf};
use sim_core::params::{ParamError, Validate};
use sim_core::rng::{Draws, StreamKey, domain};
use sim_core::runner::{
    BatchRunner, Episode, InvalidAction, SafetyBuffer, StepBuffers, check_actions, reset_draws, safety_buffer,
};
use sim_core::safety::{EpisodeSafety, SafetyKind};

/// Gymnasium's autoreset modes (`gymnasium.vector.AutoresetMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The slots `first..first + len` of a [`VecEnv`]: a runner of their own, stepped on a thread of
/// their own.
struct Shard<E: Environment> {
    first: usize,
    mode: Autoreset,
    runner: BatchRunner<E>,
    buffers: StepBuffers,
    safety: SafetyBuffer<E>,
    actions: Vec<u32>,
    /// Slots held at this step (next-step mode: those that ended at the last).
    hold: Vec<bool>,
    /// Slots whose episode ended at the last step.
    ended: Vec<bool>,
    episodes: Vec<Episode<E>>,
    /// The last step's safety channel as dense arrays, row per slot (written on the shard's own
    /// thread, so that a binding's callers get arrays without a loop over slots of their own).
    cost: Vec<f32>,
    violations: Vec<bool>,
    alerts: Vec<bool>,
}

impl<E: Environment> Shard<E> {
    fn new(params: E::Params, first: usize, len: usize, seed: u64, mode: Autoreset) -> Result<Self, ParamError> {
        let mut buffers = StepBuffers::new(E::spaces(&params), len);
        let mut runner = BatchRunner::with_first_slot(params, first as u64, len, seed, &mut buffers)?;
        runner.set_parallel(false);
        Ok(Shard {
            first,
            mode,
            runner,
            buffers,
            safety: safety_buffer::<E>(len),
            actions: vec![0; len],
            hold: vec![false; len],
            ended: vec![false; len],
            episodes: Vec::new(),
            cost: vec![0.0; len],
            violations: vec![false; len * E::Violation::ALL.len()],
            alerts: vec![false; len * E::Monitor::ALL.len()],
        })
    }

    fn step(&mut self) {
        match self.mode {
            Autoreset::SameStep => self.runner.step(&self.actions, &mut self.buffers, &mut self.safety),
            // The slots that ended last step already hold the next episode's first observation
            // (the runner resets within the step): held for this step, they show it.
            Autoreset::NextStep => {
                std::mem::swap(&mut self.hold, &mut self.ended);
                self.runner.step_holding(&self.actions, &self.hold, &mut self.buffers, &mut self.safety)
            }
        }
        let b = &self.buffers;
        for (e, (&te, &tr)) in self.ended.iter_mut().zip(b.terminated.iter().zip(&b.truncated)) {
            *e = te | tr;
        }
        self.episodes.clear();
        self.runner.drain_episodes(&mut self.episodes);
        let (nk, nm) = (E::Violation::ALL.len(), E::Monitor::ALL.len());
        for (j, s) in self.safety.iter().enumerate() {
            self.cost[j] = s.cost;
            s.violations.write_flags(&mut self.violations[j * nk..(j + 1) * nk]);
            s.alerts.write_flags(&mut self.alerts[j * nm..(j + 1) * nm]);
        }
    }

    fn part(&self) -> Part<'_, E> {
        let b = &self.buffers;
        Part {
            first: self.first,
            mode: self.mode,
            rewards: &b.rewards,
            terminated: &b.terminated,
            truncated: &b.truncated,
            ended: &self.ended,
            held: &self.hold,
            safety: &self.safety,
            cost: &self.cost,
            violations: &self.violations,
            alerts: &self.alerts,
            episodes: &self.episodes,
            obs: &b.obs,
            final_obs: &b.final_obs,
        }
    }
}

/// How long a waiting thread spins before it sleeps. Waking a sleeping thread costs a system
/// call and, in a virtual machine, an interrupt to another core (tens of microseconds measured
/// here), a large share of a step of a few thousand slots; a thread that spins through the
/// caller's gap between steps (a Python loop drawing its next actions) is handed the next step
/// at the cost of a memory write. Past this, it sleeps and the next step wakes it.
const SPIN: Duration = Duration::from_micros(300);

const IDLE: u8 = 0;
const READY: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;
const STOP: u8 = 4;

/// The exchange between the stepping thread and a helper: the shard, and where it is.
struct Handoff<E: Environment> {
    shard: Mutex<Option<Box<Shard<E>>>>,
    state: AtomicU8,
    /// The thread waiting for the result.
    waiter: Mutex<Option<Thread>>,
}

/// Spins up to [`SPIN`], then parks, until `state` is one of `wanted`; returns it.
fn wait_for(state: &AtomicU8, wanted: &[u8]) -> u8 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let now = state.load(Ordering::Acquire);
        if wanted.contains(&now) {
            return now;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) || start.elapsed() < SPIN {
            std::hint::spin_loop();
        } else {
            // Spurious wake-ups and early unparks only lead back to the check above.
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}

/// A thread that steps a shard whenever one is handed it.
struct Helper<E: Environment> {
    handoff: Arc<Handoff<E>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<E: Environment> Helper<E> {
    fn spawn() -> Self {
        let handoff =
            Arc::new(Handoff { shard: Mutex::new(None), state: AtomicU8::new(IDLE), waiter: Mutex::new(None) });
        let h = Arc::clone(&handoff);
        let thread = std::thread::Builder::new()
            .name(format!("{}-vecenv", E::NAME))
            .spawn(move || {
                loop {
                    if wait_for(&h.state, &[READY, STOP]) == STOP {
                        return;
                    }
                    let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        if let Some(shard) = lock(&h.shard).as_mut() {
                            shard.step();
                        }
                    }));
                    h.state.store(if stepped.is_ok() { DONE } else { FAILED }, Ordering::Release);
                    if let Some(waiter) = lock(&h.waiter).as_ref() {
                        waiter.unpark();
                    }
                }
            })
            .expect("a stepping thread starts");
        Helper { handoff, thread: Some(thread) }
    }

    /// Hands `shard` to the thread; the caller's thread is told when it is done.
    fn start(&self, shard: Box<Shard<E>>) {
        *lock(&self.handoff.shard) = Some(shard);
        *lock(&self.handoff.waiter) = Some(std::thread::current());
        self.handoff.state.store(READY, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Waits for the stepped shard.
    fn finish(&self) -> Box<Shard<E>> {
        let state = wait_for(&self.handoff.state, &[DONE, FAILED]);
        assert_eq!(state, DONE, "a stepping thread panicked");
        self.handoff.state.store(IDLE, Ordering::Release);
        lock(&self.handoff.shard).take().expect("the stepped shard is handed back")
    }
}

impl<E: Environment> Drop for Helper<E> {
    fn drop(&mut self) {
        self.handoff.state.store(STOP, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A mutex's guard, also after a panic elsewhere (the data are plain buffers).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The results of the last step for the consecutive slots `first..first + rewards.len()`.
pub struct Part<'a, E: Environment> {
    /// The first slot.
    pub first: usize,
    mode: Autoreset,
    /// Rewards.
    pub rewards: &'a [f32],
    /// Terminal flags.
    pub terminated: &'a [bool],
    /// Time-limit flags.
    pub truncated: &'a [bool],
    /// Whether the episode ended (`terminated || truncated`).
    pub ended: &'a [bool],
    /// Whether the slot only reset (next-step mode; never in same-step mode).
    pub held: &'a [bool],
    /// Safety records (empty for held slots).
    pub safety: &'a [SafetyOf<E>],
    /// The records' costs.
    pub cost: &'a [f32],
    /// The records' violation kinds as flags, `[len, Violation::ALL.len()]` row-major.
    pub violations: &'a [bool],
    /// The records' alerting monitors as flags, `[len, Monitor::ALL.len()]` row-major.
    pub alerts: &'a [bool],
    /// Episodes that ended at the last step, in slot order.
    pub episodes: &'a [Episode<E>],
    obs: &'a [f32],
    final_obs: &'a [f32],
}

impl<'a, E: Environment> Part<'a, E> {
    /// Number of slots.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether the part holds no slot (never, for a part of a [`VecEnv`]).
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// The observation Gymnasium shows for the part's slot `j` (see [`VecEnv::obs_row`]).
    pub fn obs_row(&self, j: usize) -> &'a [f32] {
        let dim = self.obs.len() / self.len();
        let r = j * dim..(j + 1) * dim;
        if self.mode == Autoreset::NextStep && self.ended[j] { &self.final_obs[r] } else { &self.obs[r] }
    }

    /// The last observation of the part's slot `j`, if its episode ended at the last step in
    /// same-step mode (see [`VecEnv::final_obs_row`]).
    pub fn final_obs_row(&self, j: usize) -> Option<&'a [f32]> {
        let dim = self.obs.len() / self.len();
        (self.mode == Autoreset::SameStep && self.ended[j]).then(|| &self.final_obs[j * dim..(j + 1) * dim])
    }

    /// Appends the observations Gymnasium shows, `[len, obs_dim]` row-major, to `out`.
    pub fn obs_into(&self, out: &mut Vec<f32>) {
        let dim = self.obs.len() / self.len();
        let start = out.len();
        out.extend_from_slice(self.obs);
        if self.mode == Autoreset::NextStep {
            for j in (0..self.len()).filter(|&j| self.ended[j]) {
                let g = start + j * dim;
                out[g..g + dim].copy_from_slice(&self.final_obs[j * dim..(j + 1) * dim]);
            }
        }
    }
}

/// `num_envs` slots of `E` with Gymnasium's semantics. See the module docs.
///
/// The slots are cut into one shard per thread (a runner each, over consecutive slots); the
/// caller's thread steps the first, threads owned by the environment the others (they spin
/// for `SPIN` after a step, then sleep). Rayon's pool would do the same work, but the caller
/// would only wait for it, and its workers' spinning competes with the caller's own work.
/// Results do not depend on the number of threads: each slot draws from its own key, as in one
/// runner.
pub struct VecEnv<E: Environment> {
    params: E::Params,
    mode: Autoreset,
    num_envs: usize,
    per_shard: usize,
    shards: Vec<Option<Box<Shard<E>>>>,
    helpers: Vec<Helper<E>>,
}

impl<E: Environment> VecEnv<E> {
    /// Validates `params` and resets `num_envs` slots with `seed`, on as many threads as the
    /// machine has cores (at most one per 256 slots).
    pub fn new(params: E::Params, num_envs: usize, seed: u64, mode: Autoreset) -> Result<Self, ParamError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(params, num_envs, seed, mode, cores)
    }

    /// As [`VecEnv::new`] on at most `threads` threads (the caller's included).
    pub fn with_threads(
        params: E::Params,
        num_envs: usize,
        seed: u64,
        mode: Autoreset,
        threads: usize,
    ) -> Result<Self, ParamError> {
        params.validate()?;
        if num_envs == 0 {
            return Err(ParamError { field: "num_envs".into(), value: "0".into(), expected: "at least 1".into() });
        }
        let count = threads.clamp(1, num_envs.div_ceil(sim_core::runner::CHUNK));
        let per_shard = num_envs.div_ceil(count);
        let mut env = VecEnv {
            params,
            mode,
            num_envs,
            per_shard,
            shards: Vec::new(),
            helpers: (1..count).map(|_| Helper::spawn()).collect(),
        };
        env.build_shards(seed)?;
        Ok(env)
    }

    fn build_shards(&mut self, seed: u64) -> Result<(), ParamError> {
        self.shards = (0..self.num_envs)
            .step_by(self.per_shard)
            .map(|first| {
                let len = self.per_shard.min(self.num_envs - first);
                Shard::new(self.params.clone(), first, len, seed, self.mode).map(|s| Some(Box::new(s)))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Starts every slot afresh with keys derived from `seed`.
    pub fn reset(&mut self, seed: u64) {
        self.build_shards(seed).expect("parameters validated when made");
    }

    fn shards(&self) -> impl Iterator<Item = &Shard<E>> {
        self.shards.iter().map(|s| &**s.as_ref().expect("shards are home between steps"))
    }

    fn locate(&self, i: usize) -> (&Shard<E>, usize) {
        let shard = self.shards[i / self.per_shard].as_ref().expect("shards are home between steps");
        (shard, i % self.per_shard)
    }

    /// Steps every slot; an out-of-range action is an error and nothing is stepped.
    pub fn step(&mut self, actions: &[u32]) -> Result<(), InvalidAction> {
        self.step_with(actions, |_| {})
    }

    /// As [`VecEnv::step`], handing each shard's results to `visit` as soon as that shard is
    /// stepped, in slot order: the caller's thread reads the first shard's while the other
    /// threads are still stepping theirs (a binding copying results out overlaps the copy
    /// with the stepping).
    pub fn step_with(&mut self, actions: &[u32], mut visit: impl FnMut(Part<'_, E>)) -> Result<(), InvalidAction> {
        assert_eq!(actions.len(), self.num_envs, "one action per environment slot");
        check_actions(actions, E::spaces(&self.params).num_actions)?;
        for shard in self.shards.iter_mut().flatten() {
            let r = shard.first..shard.first + shard.actions.len();
            shard.actions.copy_from_slice(&actions[r]);
        }
        for (k, helper) in self.helpers.iter().enumerate() {
            helper.start(self.shards[k + 1].take().expect("shards are home between steps"));
        }
        let first = self.shards[0].as_mut().expect("shards are home between steps");
        first.step();
        visit(first.part());
        for (k, helper) in self.helpers.iter().enumerate() {
            let shard = helper.finish();
            visit(shard.part());
            self.shards[k + 1] = Some(shard);
        }
        Ok(())
    }

    /// Number of slots.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Number of threads stepping the slots (the caller's included).
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// The autoreset mode.
    pub fn mode(&self) -> Autoreset {
        self.mode
    }

    /// The parameters.
    pub fn params(&self) -> &E::Params {
        &self.params
    }

    /// The observation Gymnasium shows for slot `i`: in next-step mode an ended slot's last
    /// observation, in same-step mode the next episode's first.
    pub fn obs_row(&self, i: usize) -> &[f32] {
        let (shard, j) = self.locate(i);
        shard.part().obs_row(j)
    }

    /// Writes the observations Gymnasium shows into `out`, `[num_envs, obs_dim]`, replacing what
    /// it held (without zeroing it first).
    pub fn obs_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.reserve(self.num_envs * E::spaces(&self.params).obs_dim);
        for part in self.parts() {
            part.obs_into(out);
        }
    }

    /// The last step's results, shard by shard: consecutive slots and their buffers.
    pub fn parts(&self) -> impl Iterator<Item = Part<'_, E>> + '_ {
        self.shards().map(Shard::part)
    }

    /// The last observation of slot `i`'s episode, if it ended at the last step in same-step mode.
    pub fn final_obs_row(&self, i: usize) -> Option<&[f32]> {
        let (shard, j) = self.locate(i);
        shard.part().final_obs_row(j)
    }

    /// Rewards of the last step, slot by slot.
    pub fn rewards(&self) -> impl Iterator<Item = f32> + '_ {
        self.parts().flat_map(|p| p.rewards.iter().copied())
    }

    /// Terminal flags of the last step, slot by slot.
    pub fn terminated(&self) -> impl Iterator<Item = bool> + '_ {
        self.parts().flat_map(|p| p.terminated.iter().copied())
    }

    /// Time-limit flags of the last step, slot by slot.
    pub fn truncated(&self) -> impl Iterator<Item = bool> + '_ {
        self.parts().flat_map(|p| p.truncated.iter().copied())
    }

    /// Safety records of the last step, slot by slot (empty for held slots).
    pub fn safety(&self) -> impl Iterator<Item = &SafetyOf<E>> + '_ {
        self.parts().flat_map(|p| p.safety.iter())
    }

    /// Slots whose episode ended at the last step, slot by slot.
    pub fn ended(&self) -> impl Iterator<Item = bool> + '_ {
        self.parts().flat_map(|p| p.ended.iter().copied())
    }

    /// Slots that only reset at the last step (next-step mode; none in same-step mode).
    pub fn held(&self) -> impl Iterator<Item = bool> + '_ {
        self.parts().flat_map(|p| p.held.iter().copied())
    }

    /// Episodes that ended at the last step, in slot order.
    pub fn episodes(&self) -> impl Iterator<Item = &Episode<E>> + '_ {
        self.shards().flat_map(|s| s.episodes.iter())
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
/// same seed draws. See the module docs. Serialized, it is the whole slot (parameters, key,
/// clock, state and the running episode), so a deserialized copy continues bit for bit.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
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
    pub fn step(&mut self, action: u32) -> Result<sim_core::env::Transition, SlotError> {
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
) -> Result<usize, CheckError> {
    let mut vec = VecEnv::<E>::new(params.clone(), n, seed, mode)?;
    let mut slots = Vec::with_capacity(n);
    for i in 0..n {
        slots.push(SlotEnv::<E>::new(params.clone(), i as u64, seed, mode)?);
    }
    let spaces = E::spaces(params);
    let mut autoreset = vec![false; n];
    let mut episodes = 0;
    let key = StreamKey::derive(seed, domain::SCRIPT, 0);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    for t in 0..steps {
        let draws = Draws::new(key, t);
        let actions: Vec<u32> = (0..n as u32).map(|j| draws.below(j, spaces.num_actions)).collect();
        vec.step(&actions)?;
        let (rewards, terminated, truncated): (Vec<f32>, Vec<bool>, Vec<bool>) =
            (vec.rewards().collect(), vec.terminated().collect(), vec.truncated().collect());
        let records: Vec<SafetyOf<E>> = vec.safety().copied().collect();
        let mut ended = Vec::new();
        for (i, s) in slots.iter_mut().enumerate() {
            let at = format!("step {t}, slot {i}");
            let (reward, te, tr, safety) = if mode == Autoreset::NextStep && autoreset[i] {
                s.reset(None);
                (0.0, false, false, SafetyOf::<E>::default())
            } else {
                let tn = s
                    .step(actions[i])
                    .map_err(|source| CheckError::Step { at: at.clone(), source: Box::new(source) })?;
                ended.extend(s.episode().copied());
                (tn.reward, tn.terminated, tn.truncated, *s.safety())
            };
            if mode == Autoreset::SameStep && (te || tr) {
                if vec.final_obs_row(i).map(bits) != Some(bits(s.obs())) {
                    return Err(CheckError::Differs { at, what: "final observations differ".into() });
                }
                s.reset(None);
            }
            let v = &records[i];
            let checks = [
                ("observation", bits(vec.obs_row(i)) == bits(s.obs())),
                ("reward", rewards[i].to_bits() == reward.to_bits()),
                ("flags", (terminated[i], truncated[i]) == (te, tr)),
                (
                    "safety record",
                    (v.violations.bits(), v.cost.to_bits(), v.alerts.bits())
                        == (safety.violations.bits(), safety.cost.to_bits(), safety.alerts.bits()),
                ),
            ];
            if let Some((what, _)) = checks.iter().find(|(_, same)| !same) {
                return Err(CheckError::Differs { at, what: format!("{what} differs") });
            }
            autoreset[i] = te || tr;
        }
        let same_episode = |a: &Episode<E>, b: &Episode<E>| {
            (a.slot, a.end_step, a.length, a.ret.to_bits(), a.terminated, a.truncated)
                == (b.slot, b.end_step, b.length, b.ret.to_bits(), b.terminated, b.truncated)
                && a.safety == b.safety
        };
        if vec.episodes().count() != ended.len() || !vec.episodes().zip(&ended).all(|(a, b)| same_episode(a, b)) {
            return Err(CheckError::Differs { at: format!("step {t}"), what: "the episode reports differ".into() });
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
