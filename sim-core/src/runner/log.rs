//! [`EpisodeLog`]: the runner's episode bookkeeping, for environments stepped elsewhere.

use serde::{Deserialize, Serialize};

use super::{Episode, Running, SafetyTally};
use crate::env::{Environment, SafetyOf};

/// The episode bookkeeping of [`BatchRunner`](super::BatchRunner) for environments stepped elsewhere (a device
/// environment, `crate::device::DeviceEnv`): fed each step's rewards, end flags and safety
/// records, it finishes episodes as the runner does, with the same returns, lengths, safety
/// reports and metrics. Out-of-range actions are not seen here: episodes report none.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct EpisodeLog<E: Environment> {
    running: Running,
    tallies: Vec<SafetyTally<E>>,
}

impl<E: Environment> Clone for EpisodeLog<E> {
    fn clone(&self) -> Self {
        EpisodeLog { running: self.running.clone(), tallies: self.tallies.clone() }
    }
}

impl<E: Environment> EpisodeLog<E> {
    /// A log of `num_envs` slots whose episodes have just begun.
    pub fn new(num_envs: usize) -> Self {
        EpisodeLog {
            running: Running {
                ret: vec![0.0; num_envs],
                length: vec![0; num_envs],
                invalid_actions: vec![0; num_envs],
            },
            tallies: vec![SafetyTally::<E>::default(); num_envs],
        }
    }

    /// Number of slots.
    pub fn num_envs(&self) -> usize {
        self.tallies.len()
    }

    /// Adds runner step `step` of every slot and appends the episodes it ended to `out`, in
    /// slot order. `final_state(i)` is the state slot `i`'s episode ended in (before autoreset);
    /// it is asked only of the slots whose episode ended.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        params: &E::Params,
        step: u32,
        rewards: &[f32],
        terminated: &[bool],
        truncated: &[bool],
        safety: &[SafetyOf<E>],
        mut final_state: impl FnMut(usize) -> E::State,
        out: &mut Vec<Episode<E>>,
    ) {
        let n = self.num_envs();
        assert!(
            rewards.len() == n && terminated.len() == n && truncated.len() == n && safety.len() == n,
            "one reward, end flag and safety record per slot"
        );
        for i in 0..n {
            self.running.ret[i] += f64::from(rewards[i]);
            self.running.length[i] += 1;
            let s = &safety[i];
            if (s.violations.bits() | s.alerts.bits()) != 0 {
                self.tallies[i].record(self.running.length[i] - 1, s);
            }
            if terminated[i] || truncated[i] {
                out.push(Episode {
                    slot: i as u32,
                    end_step: step,
                    ret: self.running.ret[i],
                    length: self.running.length[i],
                    terminated: terminated[i],
                    truncated: truncated[i],
                    invalid_actions: 0,
                    safety: std::mem::take(&mut self.tallies[i]),
                    metrics: E::metrics(params, &final_state(i)),
                });
                (self.running.ret[i], self.running.length[i]) = (0.0, 0);
            }
        }
    }
}
