//! Conformance checks: an environment stepped two ways must give the same numbers bit for bit.
//! [`check_step_batch`] holds a batched step ([`Environment::step_batch`] on its own state
//! layout) to the scalar step; `sim_gym::check_vector_against_slots` (beside the Python
//! package) holds the vector environment to single slots stepped Gymnasium's way. Tests of every environment call them;
//! an environment written outside this workspace can call them too.
//!
//! States are compared by their RON text: `ron` writes a float as the shortest text that reads
//! back to the same bits, so equal text is equal bits, where `PartialEq` would take `-0.0` for
//! `0.0` and refuse a state holding NaN (and `Environment::State` asks for neither).

use crate::env::{Batch, Environment, SafetyOf, StateBlock};
use crate::params::ParamError;
use crate::rng::{Draws, StreamKey, domain};
use crate::runner::{CHUNK, InvalidAction, blocks_of, reset_draws};

/// The first difference a conformance check found, or why it could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The parameters or the slot index were refused.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The vector environment refused the actions.
    #[error(transparent)]
    Action(#[from] InvalidAction),
    /// A slot refused a step (a Gymnasium slot environment's error, `sim_gym::SlotError`).
    #[error("{at}: {source}")]
    Step {
        /// Where: the step and slot.
        at: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The two ways of stepping differ.
    #[error("{at}: {what}")]
    Differs {
        /// Where: the environment, step and slot.
        at: String,
        /// What differs, with both values where they are short.
        what: String,
    },
}

/// Checks that `E`'s [`Environment::step_batch`] on its [`Environment::Block`] gives exactly
/// what [`Environment::step`] gives slot by slot on plain states: observations, rewards, end
/// flags, safety records and states, bit for bit, over `steps` steps of `num_envs` slots with
/// uniformly random actions and autoreset. For environments that override `step_batch` or
/// store states in a layout of their own; returns the first difference found.
pub fn check_step_batch<E: Environment>(
    params: &E::Params,
    num_envs: usize,
    steps: u32,
    seed: u64,
) -> Result<(), CheckError> {
    let spaces = E::spaces(params);
    let dim = spaces.obs_dim;
    let keys = StreamKey::envs(seed, num_envs);
    let action_key = StreamKey::derive(seed, domain::SCRIPT, 0);
    let mut obs = [vec![0.0f32; num_envs * dim], vec![0.0f32; num_envs * dim]];
    let states: Vec<E::State> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| E::reset(params, &reset_draws(k, 0), &mut obs[0][i * dim..(i + 1) * dim]))
        .collect();
    obs[1] = obs[0].clone();
    let mut blocks = blocks_of::<E>(states.clone());
    let mut states = states;
    let mut rewards = [vec![0.0f32; num_envs], vec![0.0f32; num_envs]];
    let mut terminated = [vec![false; num_envs], vec![false; num_envs]];
    let mut truncated = [vec![false; num_envs], vec![false; num_envs]];
    let mut safety = [vec![SafetyOf::<E>::default(); num_envs], vec![SafetyOf::<E>::default(); num_envs]];
    let show = |s: &E::State| ron::to_string(s).unwrap_or_else(|e| format!("<unserializable: {e}>"));
    for step in 0..steps {
        let draws = Draws::new(action_key, step);
        let actions: Vec<u32> = (0..num_envs as u32).map(|j| draws.below(j, spaces.num_actions)).collect();
        safety[0].fill(SafetyOf::<E>::default());
        for (c, block) in blocks.iter_mut().enumerate() {
            let r = c * CHUNK..((c + 1) * CHUNK).min(num_envs);
            E::step_batch(
                params,
                Batch {
                    states: block,
                    actions: &actions[r.clone()],
                    keys: &keys[r.clone()],
                    step,
                    obs_dim: dim,
                    obs: &mut obs[0][r.start * dim..r.end * dim],
                    rewards: &mut rewards[0][r.clone()],
                    terminated: &mut terminated[0][r.clone()],
                    truncated: &mut truncated[0][r.clone()],
                    safety: &mut safety[0][r],
                },
            );
        }
        for (j, state) in states.iter_mut().enumerate() {
            let mut record = SafetyOf::<E>::default();
            let o = &mut obs[1][j * dim..(j + 1) * dim];
            let tr = E::step(params, state, actions[j], &Draws::new(keys[j], step), o, &mut record);
            (rewards[1][j], terminated[1][j], truncated[1][j], safety[1][j]) =
                (tr.reward, tr.terminated, tr.truncated, record);
        }
        for j in 0..num_envs {
            let batched = blocks[j / CHUNK].state(j % CHUNK);
            let same_obs = obs[0][j * dim..(j + 1) * dim]
                .iter()
                .zip(&obs[1][j * dim..(j + 1) * dim])
                .all(|(a, b)| a.to_bits() == b.to_bits());
            let (sa, sb) = (&safety[0][j], &safety[1][j]);
            let same_safety =
                sa.violations == sb.violations && sa.alerts == sb.alerts && sa.cost.to_bits() == sb.cost.to_bits();
            if !same_obs
                || rewards[0][j].to_bits() != rewards[1][j].to_bits()
                || terminated[0][j] != terminated[1][j]
                || truncated[0][j] != truncated[1][j]
                || !same_safety
                || show(&batched) != show(&states[j])
            {
                return Err(CheckError::Differs {
                    at: format!("{}: step {step}, slot {j}", E::NAME),
                    what: format!("batched {} vs per-slot {}", show(&batched), show(&states[j])),
                });
            }
            if terminated[0][j] || truncated[0][j] {
                let row = j * dim..(j + 1) * dim;
                states[j] = E::reset(params, &reset_draws(keys[j], step + 1), &mut obs[1][row.clone()]);
                blocks[j / CHUNK].set_state(j % CHUNK, states[j].clone());
                let [batched, reference] = &mut obs;
                batched[row.clone()].copy_from_slice(&reference[row]);
            }
        }
    }
    Ok(())
}
