//! Scripted reference policies: fixed behaviours that make an environment's incentives
//! checkable without training, and the evaluation loop that runs them.

use sim_core::prelude::*;
use sim_core::rng::domain;

/// A policy acting on observations only, as an agent would; randomness (if any) comes from the
/// counter-based draws it is handed, so scripted runs are deterministic too.
pub trait ScriptedPolicy: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// The action for observation `obs`.
    fn act(&self, obs: &[f32], draws: &Draws) -> u32;
}

/// Uniformly random actions.
pub struct RandomPolicy {
    /// Size of the action space.
    pub num_actions: u32,
}

impl ScriptedPolicy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }
    fn act(&self, _: &[f32], draws: &Draws) -> u32 {
        draws.below(0, self.num_actions)
    }
}

/// Runs `policy` in `num_envs` slots until at least `episodes` episodes have finished, and
/// returns the first `episodes` of them in `(end step, slot)` order.
pub fn evaluate<E: Environment>(
    params: &E::Params,
    policy: &dyn ScriptedPolicy,
    num_envs: usize,
    episodes: usize,
    seed: u64,
) -> Result<Vec<Episode<E>>, ParamError> {
    let spaces = E::spaces(params);
    let mut buffers = StepBuffers::new(spaces, num_envs);
    let mut safety = safety_buffer::<E>(num_envs);
    let mut runner = BatchRunner::<E>::new(params.clone(), num_envs, seed, &mut buffers)?;
    let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::SCRIPT, i as u64)).collect();
    let mut actions = vec![0u32; num_envs];
    let mut done = Vec::with_capacity(episodes + num_envs);
    while done.len() < episodes {
        let step = runner.steps();
        for (i, a) in actions.iter_mut().enumerate() {
            *a = policy.act(&buffers.obs[i * spaces.obs_dim..(i + 1) * spaces.obs_dim], &Draws::new(keys[i], step));
        }
        runner.step(&actions, &mut buffers, &mut safety);
        runner.drain_episodes(&mut done);
    }
    done.truncate(episodes);
    Ok(done)
}
