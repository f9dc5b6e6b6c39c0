//! ToyCloud on a device (feature `device`): [`super::dynamics`] instantiated on tensors, with
//! the safety channel (violation kinds, ground-truth cost, alerts) kept on the device beside the
//! reward channel, and autoreset from the same counter-based draws as the native runner's.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use sim_core::device::rng::Keys;
use sim_core::device::{DeviceEnv, DeviceSafety, DeviceTransition, Tensors};
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::RESET_SALT;

use super::dynamics::{self, CloudLanes};
use super::{CloudParams, CloudState, OBS_DIM, ToyCloud};

/// A batch of ToyCloud environments on a device.
#[derive(Clone)]
pub struct DeviceToyCloud<B: Backend> {
    params: CloudParams,
    step_keys: Keys<B>,
    reset_keys: Keys<B>,
    step: u32,
    state: CloudLanes<Tensors<B>>,
    /// The states the last step left before autoreset.
    last: CloudLanes<Tensors<B>>,
}

/// `[N, OBS_DIM]` observations from their columns.
fn rows<B: Backend>(columns: [sim_core::device::TensorF32<B>; OBS_DIM]) -> Tensor<B, 2> {
    Tensor::stack::<2>(columns.into_iter().map(|c| c.0).collect(), 1)
}

impl<B: Backend> DeviceToyCloud<B> {
    /// `num_envs` environments seeded as `BatchRunner::<ToyCloud>::new(params, num_envs, seed)`
    /// seeds them; `params` must be valid (`Validate`).
    pub fn new(params: CloudParams, num_envs: usize, seed: u64, device: &B::Device) -> Self {
        let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::ENV, i as u64)).collect();
        let step_keys = Keys::new(&keys, 0, device);
        let reset_keys = Keys::new(&keys, RESET_SALT, device);
        let state = dynamics::reset::<Tensors<B>>(&params, &reset_keys.base(0));
        DeviceToyCloud { params, step_keys, reset_keys, step: 0, last: state.clone(), state }
    }

    /// Environments seeded as [`DeviceToyCloud::new`] seeds them for `seed`, continuing after
    /// `step` steps from `states`.
    pub fn restore(params: CloudParams, seed: u64, step: u32, states: &[CloudState], device: &B::Device) -> Self {
        let mut env = DeviceToyCloud::new(params, states.len(), seed, device);
        let lanes: Vec<_> = states.iter().map(CloudLanes::of).collect();
        env.state = CloudLanes::stack(device, &lanes);
        env.last = env.state.clone();
        env.step = step;
        env
    }

    /// The current state, as lanes.
    pub fn lanes(&self) -> &CloudLanes<Tensors<B>> {
        &self.state
    }

    /// Every environment's current state, read back to the host.
    pub fn states(&self) -> Vec<CloudState> {
        <Self as DeviceEnv<B>>::read_states(&self.state)
    }

    /// The observations of the current states, `[N, OBS_DIM]`.
    pub fn obs(&self) -> Tensor<B, 2> {
        rows(dynamics::observe(&self.params, &self.state))
    }

    /// Steps every environment with `actions` (`[N]`, indices of `CloudAction`; anything out of
    /// range waits, as the native fallback does).
    pub fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceTransition<B, ToyCloud> {
        let p = &self.params;
        let mut next = self.state.clone();
        let out = dynamics::step::<Tensors<B>>(p, &mut next, &actions, &self.step_keys.base(self.step));
        let final_obs = rows(dynamics::observe(p, &next));
        let fresh = dynamics::reset::<Tensors<B>>(p, &self.reset_keys.base(self.step.wrapping_add(1)));
        self.last = next.clone();
        self.state = CloudLanes::select(out.terminated.clone(), fresh, next);
        self.step = self.step.wrapping_add(1);
        let safety = DeviceSafety::from_masks(&out.violations.map(|m| m.0), out.cost.0, &out.alerts.map(|m| m.0));
        let terminated = out.terminated.0;
        DeviceTransition {
            obs: self.obs(),
            final_obs,
            rewards: out.reward.0,
            truncated: terminated.clone().bool_and(terminated.clone().bool_not()), // never
            terminated,
            safety,
        }
    }
}

impl<B: Backend> DeviceEnv<B> for DeviceToyCloud<B> {
    type Native = ToyCloud;
    const CAN_TRUNCATE: bool = false;

    fn create(params: &CloudParams, num_envs: usize, seed: u64, device: &B::Device) -> Self {
        DeviceToyCloud::new(params.clone(), num_envs, seed, device)
    }

    fn obs(&self) -> Tensor<B, 2> {
        DeviceToyCloud::obs(self)
    }

    fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceTransition<B, ToyCloud> {
        DeviceToyCloud::step(self, actions)
    }

    type States = CloudLanes<Tensors<B>>;

    fn states(&self) -> Self::States {
        self.state.clone()
    }

    fn final_states(&self) -> Self::States {
        self.last.clone()
    }

    fn read_states(states: &Self::States) -> Vec<CloudState> {
        states.unstack().iter().map(CloudLanes::state).collect()
    }

    fn steps(&self) -> u32 {
        self.step
    }

    fn restore(params: &CloudParams, seed: u64, steps: u32, states: &[CloudState], device: &B::Device) -> Self {
        DeviceToyCloud::restore(params.clone(), seed, steps, states, device)
    }
}
