//! The batched runner: steps N environments of one kind into caller-owned struct-of-arrays
//! buffers, with autoreset, per-episode reports, and bit-identical results on any thread count.
//!
//! # Determinism
//!
//! Slot `i` draws only from its own key, derived from `(seed, domain::ENV, i)`, at counter
//! values given by the runner's step count; no state is shared between slots. The batch is
//! cut into fixed chunks of [`CHUNK`] slots (independent of the thread count) that rayon may
//! step in any order; finished episodes are queued per chunk and merged in `(end step, slot)`
//! order. So the same seed gives the same buffers and the same episode list with 1 or 64
//! threads.
//!
//! # Autoreset
//!
//! When a slot's episode ends at a step (terminated or truncated), the runner stores its last
//! observation in [`StepBuffers::final_obs`], sets `done`, resets the slot and writes the first
//! observation of the next episode into [`StepBuffers::obs`], all within the same step
//! (Gymnasium's same-step autoreset). The reward, `terminated` and `truncated` of that step
//! belong to the ended episode.
//!
//! # Out-of-range actions
//!
//! An action `>= num_actions` never panics: it is replaced by
//! [`Environment::fallback_action`] and counted (per episode in [`Episode::invalid_actions`] and
//! in total by [`BatchRunner::invalid_actions`]). Use [`check_actions`] at the edges to reject
//! them with an error instead.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::env::{Batch, Environment, SafetyOf, Spaces, StateBlock};
use crate::params::{ParamError, Validate};
use crate::rng::{Draws, StreamKey, domain};
use crate::safety::{EpisodeSafety, MAX_KINDS, SafetyKind};

mod log;
mod stats;

pub use log::EpisodeLog;
pub use stats::{EpisodeStats, PerSlotQuota, collect_episodes, mean, share};

/// Environment slots per chunk of work; fixed so that results do not depend on the thread count.
pub const CHUNK: usize = 256;

/// Salt of the reset generator, so reset draws never coincide with step draws of the same counter.
pub const RESET_SALT: u32 = 0x5eed_0001;

/// Salt of the restart generator ([`BatchRunner::restart`]), so a restart's draws never coincide
/// with an autoreset's or a step's at the same counter.
pub const RESTART_SALT: u32 = 0x5eed_0002;

/// The reward channel of one batched step, owned by the caller: flat, one entry (or one
/// observation row) per environment slot.
#[derive(Clone, Debug)]
pub struct StepBuffers {
    /// Current observations, `[num_envs, obs_dim]` row-major; after an episode ends, the first
    /// observation of the next one.
    pub obs: Vec<f32>,
    /// Rewards of the last step, `[num_envs]`.
    pub rewards: Vec<f32>,
    /// Whether the last step ended the episode in a terminal state, `[num_envs]`.
    pub terminated: Vec<bool>,
    /// Whether the last step ended the episode by a time limit, `[num_envs]`.
    pub truncated: Vec<bool>,
    /// Last observations of episodes that ended at the last step, `[num_envs, obs_dim]`;
    /// meaningful only where `terminated || truncated`.
    pub final_obs: Vec<f32>,
}

impl StepBuffers {
    /// Buffers for `num_envs` slots of an environment with `spaces`.
    pub fn new(spaces: Spaces, num_envs: usize) -> Self {
        StepBuffers {
            obs: vec![0.0; num_envs * spaces.obs_dim],
            rewards: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            final_obs: vec![0.0; num_envs * spaces.obs_dim],
        }
    }

    /// Number of slots.
    pub fn num_envs(&self) -> usize {
        self.rewards.len()
    }

    /// Whether slot `i`'s episode ended at the last step.
    #[inline]
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }
}

/// The safety channel of one batched step, `[num_envs]` records; kept apart from
/// [`StepBuffers`] so that a trainer sees it only when a penalty is handed it.
pub type SafetyBuffer<E> = Vec<SafetyOf<E>>;

/// A new safety buffer for `num_envs` slots.
pub fn safety_buffer<E: Environment>(num_envs: usize) -> SafetyBuffer<E> {
    vec![SafetyOf::<E>::default(); num_envs]
}

/// One finished episode: its return, length, how it ended, its safety report and the
/// environment's own metrics.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Episode<E: Environment> {
    /// The environment slot it ran in.
    pub slot: u32,
    /// The runner step at which it ended (0-based).
    pub end_step: u32,
    /// Sum of task rewards.
    pub ret: f64,
    /// Number of steps.
    pub length: u32,
    /// Ended in a terminal state.
    pub terminated: bool,
    /// Ended by a time limit.
    pub truncated: bool,
    /// Out-of-range actions that were replaced by the fallback action.
    pub invalid_actions: u32,
    /// The safety report.
    pub safety: EpisodeSafety<E::Violation, E::Monitor>,
    /// Environment-specific results.
    pub metrics: E::Metrics,
}

impl<E: Environment> Clone for Episode<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E: Environment> Copy for Episode<E> {}
impl<E: Environment> std::fmt::Debug for Episode<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Episode")
            .field("slot", &self.slot)
            .field("end_step", &self.end_step)
            .field("ret", &self.ret)
            .field("length", &self.length)
            .field("terminated", &self.terminated)
            .field("truncated", &self.truncated)
            .field("invalid_actions", &self.invalid_actions)
            .field("safety", &self.safety)
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// The running returns, lengths and invalid-action counts of the slots' episodes, touched
/// every step; struct-of-arrays so that the update vectorises.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct Running {
    pub(super) ret: Vec<f64>,
    pub(super) length: Vec<u32>,
    pub(super) invalid_actions: Vec<u32>,
}

/// The safety report of a slot's running episode, touched only on safety events.
pub(super) type SafetyTally<E> = EpisodeSafety<<E as Environment>::Violation, <E as Environment>::Monitor>;

/// A runner's complete state, for checkpoints: restoring it and the caller's
/// [`StepBuffers::obs`] continues the exact same trajectories.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RunnerSnapshot<E: Environment> {
    seed: u64,
    #[serde(default)]
    first_slot: u64,
    step: u32,
    invalid_actions: u64,
    keys: Vec<StreamKey>,
    states: Vec<E::State>,
    running: Running,
    tallies: Vec<SafetyTally<E>>,
    finished: Vec<Vec<Episode<E>>>,
}

/// Steps `num_envs` environments of type `E` together. See the module docs.
pub struct BatchRunner<E: Environment> {
    params: E::Params,
    spaces: Spaces,
    seed: u64,
    /// The global index of the first slot (see [`BatchRunner::with_first_slot`]).
    first_slot: u64,
    /// Whether a step may split its chunks over rayon's threads.
    parallel: bool,
    step: u32,
    invalid_actions: u64,
    keys: Vec<StreamKey>,
    /// The slots' states, one block per chunk.
    blocks: Vec<E::Block>,
    running: Running,
    tallies: Vec<SafetyTally<E>>,
    finished: Vec<Vec<Episode<E>>>,
}

/// An action outside the action space, found by [`check_actions`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("action {action} of environment slot {slot} is out of range (the action space is 0..{num_actions})")]
pub struct InvalidAction {
    /// The slot.
    pub slot: usize,
    /// The action given.
    pub action: u32,
    /// The size of the action space.
    pub num_actions: u32,
}

/// Rejects the first out-of-range action, for callers that take actions from outside
/// (files, user code) and prefer an error to the runner's fallback.
pub fn check_actions(actions: &[u32], num_actions: u32) -> Result<(), InvalidAction> {
    match actions.iter().position(|&a| a >= num_actions) {
        Some(slot) => Err(InvalidAction { slot, action: actions[slot], num_actions }),
        None => Ok(()),
    }
}

impl<E: Environment> BatchRunner<E> {
    /// A runner of `num_envs` slots seeded by `seed`; validates `params` and writes the first
    /// observations into `buffers` (which must have been made for `num_envs` and these spaces).
    pub fn new(params: E::Params, num_envs: usize, seed: u64, buffers: &mut StepBuffers) -> Result<Self, ParamError> {
        Self::with_first_slot(params, 0, num_envs, seed, buffers)
    }

    /// A runner of the `num_envs` slots `first_slot..first_slot + num_envs` of a larger batch:
    /// slot `i` here draws what slot `first_slot + i` of one runner over the whole batch draws,
    /// and its episodes carry that global index. Shards of a batch stepped on threads of their
    /// own (`sim_gym`, beside the Python package) are built this way.
    pub fn with_first_slot(
        params: E::Params,
        first_slot: u64,
        num_envs: usize,
        seed: u64,
        buffers: &mut StepBuffers,
    ) -> Result<Self, ParamError> {
        params.validate()?;
        assert!(
            E::Violation::ALL.len() <= MAX_KINDS && E::Monitor::ALL.len() <= MAX_KINDS,
            "{} declares more than {MAX_KINDS} violation kinds or monitors",
            E::NAME
        );
        if num_envs == 0 {
            return Err(ParamError { field: "num_envs".into(), value: "0".into(), expected: "at least 1".into() });
        }
        let spaces = E::spaces(&params);
        check_buffers(spaces, num_envs, buffers);
        let dim = spaces.obs_dim;
        let keys: Vec<StreamKey> =
            (0..num_envs).map(|i| StreamKey::derive(seed, domain::ENV, first_slot + i as u64)).collect();
        let states = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| E::reset(&params, &reset_draws(key, 0), &mut buffers.obs[i * dim..(i + 1) * dim]))
            .collect();
        buffers.rewards.fill(0.0);
        buffers.terminated.fill(false);
        buffers.truncated.fill(false);
        let chunks = num_envs.div_ceil(CHUNK);
        Ok(BatchRunner {
            params,
            spaces,
            seed,
            first_slot,
            parallel: true,
            step: 0,
            invalid_actions: 0,
            keys,
            blocks: blocks_of::<E>(states),
            running: Running {
                ret: vec![0.0; num_envs],
                length: vec![0; num_envs],
                invalid_actions: vec![0; num_envs],
            },
            tallies: vec![SafetyTally::<E>::default(); num_envs],
            finished: (0..chunks).map(|_| Vec::with_capacity(CHUNK)).collect(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &E::Params {
        &self.params
    }

    /// Observation and action spaces.
    pub fn spaces(&self) -> Spaces {
        self.spaces
    }

    /// Number of environment slots.
    pub fn num_envs(&self) -> usize {
        self.keys.len()
    }

    /// The seed the slots' keys were derived from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Lets a step split its chunks over rayon's threads (the default) or not: a runner that is
    /// itself one of several stepped on threads of their own steps on its caller's thread.
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// Out-of-range actions replaced by the fallback action so far.
    pub fn invalid_actions(&self) -> u64 {
        self.invalid_actions
    }

    /// The episode state of slot `i` (for inspection and tests).
    pub fn state(&self, i: usize) -> E::State {
        self.blocks[i / CHUNK].state(i % CHUNK)
    }

    /// Ends every slot's running episode unreported and starts a new one, slot `i` from
    /// [`restart_draws`]`(keys[i], steps())`, writing the first observations into
    /// `buffers.obs`. Slots given the same key start in the same state (groups of an
    /// outcome-reward algorithm: [`StreamKey::grouped`]) while their steps still draw from their
    /// own streams, so their episodes then differ. The clock does not advance.
    pub fn restart(&mut self, keys: &[StreamKey], buffers: &mut StepBuffers) {
        let n = self.keys.len();
        assert_eq!(keys.len(), n, "one restart key per environment slot");
        check_buffers(self.spaces, n, buffers);
        let dim = self.spaces.obs_dim;
        for (i, &key) in keys.iter().enumerate() {
            let state =
                E::reset(&self.params, &restart_draws(key, self.step), &mut buffers.obs[i * dim..(i + 1) * dim]);
            self.blocks[i / CHUNK].set_state(i % CHUNK, state);
        }
        self.running.ret.fill(0.0);
        self.running.length.fill(0);
        self.running.invalid_actions.fill(0);
        self.tallies.fill(SafetyTally::<E>::default());
        for queue in &mut self.finished {
            queue.clear();
        }
        buffers.rewards.fill(0.0);
        buffers.terminated.fill(false);
        buffers.truncated.fill(false);
    }

    /// Steps every slot with `actions[i]`, writing the reward channel into `buffers` and the
    /// safety channel into `safety`. Allocates nothing (finished-episode queues keep their
    /// capacity between drains).
    pub fn step(&mut self, actions: &[u32], buffers: &mut StepBuffers, safety: &mut [SafetyOf<E>]) {
        self.step_inner(actions, None, buffers, safety);
    }

    /// Steps every slot whose `hold[i]` is false, as [`BatchRunner::step`] does; a held slot
    /// takes no step: its state, running episode and observation row stay as they are, its
    /// reward is 0, its end flags are false and its safety record is empty (its action is not
    /// read); its `final_obs` row is overwritten. The runner's clock still advances, so a held
    /// slot's next step draws at the next counter value. This is what Gymnasium's next-step
    /// autoreset needs: the step after an episode ends only shows the new episode's first
    /// observation (`sim_gym`).
    pub fn step_holding(
        &mut self,
        actions: &[u32],
        hold: &[bool],
        buffers: &mut StepBuffers,
        safety: &mut [SafetyOf<E>],
    ) {
        assert_eq!(hold.len(), self.keys.len(), "one hold flag per environment slot");
        self.step_inner(actions, Some(hold), buffers, safety);
    }

    fn step_inner(
        &mut self,
        actions: &[u32],
        hold: Option<&[bool]>,
        buffers: &mut StepBuffers,
        safety: &mut [SafetyOf<E>],
    ) {
        let n = self.keys.len();
        assert_eq!(actions.len(), n, "one action per environment slot");
        assert_eq!(safety.len(), n, "one safety record per environment slot");
        check_buffers(self.spaces, n, buffers);
        let dim = self.spaces.obs_dim;
        let ctx = StepContext::<E> {
            params: &self.params,
            spaces: self.spaces,
            step: self.step,
            first_slot: self.first_slot,
        };
        let invalid: u64 = if self.parallel && n > CHUNK && rayon::current_num_threads() > 1 {
            let rows = CHUNK * dim.max(1);
            let chunks = (
                (self.keys.par_chunks(CHUNK), self.blocks.par_iter_mut(), self.tallies.par_chunks_mut(CHUNK)),
                (
                    self.running.ret.par_chunks_mut(CHUNK),
                    self.running.length.par_chunks_mut(CHUNK),
                    self.running.invalid_actions.par_chunks_mut(CHUNK),
                ),
                actions.par_chunks(CHUNK),
                buffers.obs.par_chunks_mut(rows),
                buffers.final_obs.par_chunks_mut(rows),
                buffers.rewards.par_chunks_mut(CHUNK),
                buffers.terminated.par_chunks_mut(CHUNK),
                buffers.truncated.par_chunks_mut(CHUNK),
                safety.par_chunks_mut(CHUNK),
                self.finished.par_iter_mut(),
            );
            chunks
                .into_par_iter()
                .enumerate()
                .map(|(c, ((keys, states, tallies), (ret, length, inv), actions, obs, f, r, te, tr, sa, fi))| {
                    let w = ChunkWork {
                        hold: hold.map(|h| &h[c * CHUNK..n.min((c + 1) * CHUNK)]),
                        keys,
                        states,
                        ret,
                        length,
                        invalid_actions: inv,
                        tallies,
                        actions,
                        obs,
                        final_obs: f,
                        rewards: r,
                        terminated: te,
                        truncated: tr,
                        safety: sa,
                        finished: fi,
                    };
                    ctx.step_chunk(c * CHUNK, w)
                })
                .sum()
        } else {
            // The same chunks, in order, on this thread: identical results without the cost
            // of a fork-join (which dominates small batches).
            let mut invalid = 0;
            for (c, (finished, states)) in self.finished.iter_mut().zip(&mut self.blocks).enumerate() {
                let r = c * CHUNK..n.min((c + 1) * CHUNK);
                let w = ChunkWork {
                    hold: hold.map(|h| &h[r.clone()]),
                    keys: &self.keys[r.clone()],
                    states,
                    ret: &mut self.running.ret[r.clone()],
                    length: &mut self.running.length[r.clone()],
                    invalid_actions: &mut self.running.invalid_actions[r.clone()],
                    tallies: &mut self.tallies[r.clone()],
                    actions: &actions[r.clone()],
                    obs: &mut buffers.obs[r.start * dim..r.end * dim],
                    final_obs: &mut buffers.final_obs[r.start * dim..r.end * dim],
                    rewards: &mut buffers.rewards[r.clone()],
                    terminated: &mut buffers.terminated[r.clone()],
                    truncated: &mut buffers.truncated[r.clone()],
                    safety: &mut safety[r.clone()],
                    finished,
                };
                invalid += ctx.step_chunk(r.start, w);
            }
            invalid
        };
        self.invalid_actions += invalid;
        self.step = self.step.wrapping_add(1);
    }

    /// Moves the episodes finished since the last call into `out`, in `(end step, slot)` order.
    ///
    /// Each chunk's queue is already in that order (a chunk pushes its slots in order, step after
    /// step) and chunks hold disjoint, increasing slot ranges, so the queues are merged: all
    /// chunks' episodes of the earliest end step, chunk by chunk, then the next step's.
    pub fn drain_episodes(&mut self, out: &mut Vec<Episode<E>>) {
        out.reserve(self.finished.iter().map(Vec::len).sum());
        let mut heads = vec![0usize; self.finished.len()];
        loop {
            let next_step = self.finished.iter().zip(&heads).filter_map(|(q, &h)| q.get(h)).map(|e| e.end_step).min();
            let Some(step) = next_step else { break };
            for (queue, head) in self.finished.iter().zip(&mut heads) {
                let run = queue[*head..].iter().take_while(|e| e.end_step == step).count();
                out.extend_from_slice(&queue[*head..*head + run]);
                *head += run;
            }
        }
        for queue in &mut self.finished {
            queue.clear();
        }
    }

    /// The runner's complete state, for checkpoints.
    pub fn snapshot(&self) -> RunnerSnapshot<E> {
        RunnerSnapshot {
            seed: self.seed,
            first_slot: self.first_slot,
            step: self.step,
            invalid_actions: self.invalid_actions,
            keys: self.keys.clone(),
            states: (0..self.keys.len()).map(|i| self.state(i)).collect(),
            running: self.running.clone(),
            tallies: self.tallies.clone(),
            finished: self.finished.clone(),
        }
    }

    /// A runner continuing exactly from `snapshot` with `params` (which must be those it was
    /// taken with; the caller restores the observation buffer it saved alongside).
    pub fn restore(params: E::Params, snapshot: RunnerSnapshot<E>) -> Result<Self, ParamError> {
        params.validate()?;
        let spaces = E::spaces(&params);
        let mut finished = snapshot.finished;
        for q in &mut finished {
            q.reserve(CHUNK);
        }
        Ok(BatchRunner {
            params,
            spaces,
            seed: snapshot.seed,
            first_slot: snapshot.first_slot,
            parallel: true,
            step: snapshot.step,
            invalid_actions: snapshot.invalid_actions,
            keys: snapshot.keys,
            blocks: blocks_of::<E>(snapshot.states),
            running: snapshot.running,
            tallies: snapshot.tallies,
            finished,
        })
    }
}

/// The indices of the set bits of `bits`, lowest first.
#[inline(always)]
fn set_bits(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            b
        })
    })
}

/// The indices of the nonzero bytes of `marks` (each 0 or 1), lowest first. The bytes are
/// packed into one bit per slot, 64 slots a word (LLVM compiles the packing to byte-mask
/// instructions), so that a visit costs a mispredicted branch per word rather than per slot.
#[inline(always)]
fn marked(marks: &[u8; CHUNK]) -> impl Iterator<Item = usize> {
    let mut words = [0u64; CHUNK / 64];
    for (word, bytes) in words.iter_mut().zip(marks.chunks_exact(64)) {
        for (b, &m) in bytes.iter().enumerate() {
            *word |= u64::from(m != 0) << b;
        }
    }
    words.into_iter().enumerate().flat_map(|(w, bits)| set_bits(bits).map(move |b| w * 64 + b))
}

/// The states of consecutive slots cut into one block per chunk.
pub(crate) fn blocks_of<E: Environment>(states: Vec<E::State>) -> Vec<E::Block> {
    let mut states = states.into_iter();
    let mut blocks = Vec::new();
    loop {
        let chunk: Vec<E::State> = states.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return blocks;
        }
        blocks.push(E::Block::from_states(chunk));
    }
}

fn check_buffers(spaces: Spaces, n: usize, b: &StepBuffers) {
    assert!(
        b.obs.len() == n * spaces.obs_dim
            && b.final_obs.len() == n * spaces.obs_dim
            && b.rewards.len() == n
            && b.terminated.len() == n
            && b.truncated.len() == n,
        "StepBuffers were made for a different number of slots or observation size"
    );
}

/// The draws a reset at counter value `counter` uses.
#[inline(always)]
pub fn reset_draws(key: StreamKey, counter: u32) -> Draws {
    Draws::new(StreamKey([key.0[0] ^ RESET_SALT, key.0[1]]), counter)
}

/// The draws a restart ([`BatchRunner::restart`]) at counter value `counter` uses.
#[inline(always)]
pub fn restart_draws(key: StreamKey, counter: u32) -> Draws {
    Draws::new(StreamKey([key.0[0] ^ RESTART_SALT, key.0[1]]), counter)
}

/// The slices of one chunk.
struct ChunkWork<'a, E: Environment> {
    /// Slots that take no step ([`BatchRunner::step_holding`]).
    hold: Option<&'a [bool]>,
    keys: &'a [StreamKey],
    states: &'a mut E::Block,
    ret: &'a mut [f64],
    length: &'a mut [u32],
    invalid_actions: &'a mut [u32],
    tallies: &'a mut [SafetyTally<E>],
    actions: &'a [u32],
    obs: &'a mut [f32],
    final_obs: &'a mut [f32],
    rewards: &'a mut [f32],
    terminated: &'a mut [bool],
    truncated: &'a mut [bool],
    safety: &'a mut [SafetyOf<E>],
    finished: &'a mut Vec<Episode<E>>,
}

struct StepContext<'p, E: Environment> {
    params: &'p E::Params,
    spaces: Spaces,
    step: u32,
    first_slot: u64,
}

impl<E: Environment> StepContext<'_, E> {
    /// Steps one chunk whose first slot is `first`; returns the number of invalid actions.
    ///
    /// Three passes: actions are checked, the environment steps the whole chunk
    /// ([`Environment::step_batch`]), then the runner does its bookkeeping.
    #[inline]
    fn step_chunk(&self, first: usize, w: ChunkWork<'_, E>) -> u64 {
        let dim = self.spaces.obs_dim;
        let num_actions = self.spaces.num_actions;
        let fallback = E::fallback_action(self.params);
        let len = w.states.slots();
        // Actions are nearly always valid: then the environment reads the caller's slice, and
        // only a chunk with an invalid action pays for a corrected copy and per-slot counts.
        let valid = w.actions.iter().fold(true, |ok, &a| ok & (a < num_actions));
        let mut corrected: [u32; CHUNK];
        let (actions, invalid) = if valid {
            (w.actions, 0)
        } else {
            corrected = [fallback; CHUNK];
            let mut invalid = 0u64;
            for (j, &raw) in w.actions.iter().enumerate() {
                let bad = raw >= num_actions;
                corrected[j] = if bad { fallback } else { raw };
                // A held slot's action is not read, so it is not counted.
                let bad = bad && !w.hold.is_some_and(|h| h[j]);
                invalid += u64::from(bad);
                w.invalid_actions[j] += u32::from(bad);
            }
            (&corrected[..len], invalid)
        };
        // An environment without violation kinds or monitors has no safety records to read.
        let has_safety = !(E::Violation::ALL.is_empty() && E::Monitor::ALL.is_empty());
        // Held slots are stepped with the others (a SIMD step cannot skip lanes) and put back:
        // their states are kept aside, their observation rows in their `final_obs` rows (which
        // mean nothing for a slot whose episode does not end at this step).
        let held = w.hold.filter(|h| h.contains(&true));
        let kept: Vec<(usize, E::State)> =
            held.map_or_else(Vec::new, |h| (0..len).filter(|&j| h[j]).map(|j| (j, w.states.state(j))).collect());
        for (j, _) in &kept {
            let r = j * dim..(j + 1) * dim;
            w.final_obs[r.clone()].copy_from_slice(&w.obs[r]);
        }
        E::step_batch(
            self.params,
            Batch {
                states: w.states,
                actions,
                keys: w.keys,
                step: self.step,
                obs_dim: dim,
                obs: w.obs,
                rewards: w.rewards,
                terminated: w.terminated,
                truncated: w.truncated,
                safety: w.safety,
            },
        );
        for (j, state) in &kept {
            let j = *j;
            w.states.set_state(j, state.clone());
            let r = j * dim..(j + 1) * dim;
            w.obs[r.clone()].copy_from_slice(&w.final_obs[r]);
            (w.rewards[j], w.terminated[j], w.truncated[j]) = (0.0, false, false);
            w.safety[j] = SafetyOf::<E>::default();
        }
        for j in 0..len {
            w.ret[j] += f64::from(w.rewards[j]);
            w.length[j] += 1;
        }
        for (j, _) in &kept {
            w.length[*j] -= 1;
        }
        // Slots with safety events and slots whose episode ended are marked without a branch
        // (one per slot would be mispredicted at every event), then visited one by one.
        if has_safety {
            let mut events = [0u8; CHUNK];
            for (e, s) in events.iter_mut().zip(w.safety.iter()) {
                *e = u8::from((s.violations.bits() | s.alerts.bits()) != 0);
            }
            for j in marked(&events) {
                w.tallies[j].record(w.length[j] - 1, &w.safety[j]);
            }
        }
        let mut ended = [0u8; CHUNK];
        for (e, (&te, &tr)) in ended.iter_mut().zip(w.terminated.iter().zip(w.truncated.iter())) {
            *e = u8::from(te | tr);
        }
        for j in marked(&ended) {
            let o = &mut w.obs[j * dim..(j + 1) * dim];
            w.final_obs[j * dim..(j + 1) * dim].copy_from_slice(o);
            let state = w.states.state(j);
            w.finished.push(Episode {
                slot: (self.first_slot + (first + j) as u64) as u32,
                end_step: self.step,
                ret: w.ret[j],
                length: w.length[j],
                terminated: w.terminated[j],
                truncated: w.truncated[j],
                invalid_actions: w.invalid_actions[j],
                safety: std::mem::take(&mut w.tallies[j]),
                metrics: E::metrics(self.params, &state),
            });
            (w.ret[j], w.length[j], w.invalid_actions[j]) = (0.0, 0, 0);
            w.states.set_state(j, E::reset(self.params, &reset_draws(w.keys[j], self.step.wrapping_add(1)), o));
        }
        invalid
    }
}
