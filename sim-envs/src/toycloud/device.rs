//! ToyCloud on a device (feature `device`): [`super::dynamics`] instantiated on tensors, with
//! the safety channel (violation kinds, ground-truth cost, alerts) kept on the device beside the
//! reward channel, and autoreset from the same counter-based draws as the native runner's.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use sim_core::device::rng::Keys;
use sim_core::device::{DeviceEnv, DeviceSafety, DeviceTransition, Tensors};
use sim_core::rng::StreamKey;
use sim_core::runner::{RESET_SALT, RESTART_SALT};

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
        Self::with_keys(params, &StreamKey::envs(seed, num_envs), device)
    }

    /// One environment per key, stepping and resetting from that stream (a population's runs
    /// each bring their own keys).
    pub fn with_keys(params: CloudParams, keys: &[StreamKey], device: &B::Device) -> Self {
        let step_keys = Keys::new(keys, 0, device);
        let reset_keys = Keys::new(keys, RESET_SALT, device);
        let state = dynamics::reset::<Tensors<B>>(&params, &reset_keys.base(0));
        DeviceToyCloud { params, step_keys, reset_keys, step: 0, last: state.clone(), state }
    }

    /// Environments created from `keys` as [`DeviceToyCloud::with_keys`] creates them, continuing
    /// after `step` steps from `states` (one per key).
    pub fn restore(
        params: CloudParams,
        keys: &[StreamKey],
        step: u32,
        states: &[CloudState],
        device: &B::Device,
    ) -> Self {
        assert_eq!(keys.len(), states.len(), "one state per key");
        let mut env = DeviceToyCloud::with_keys(params, keys, device);
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

    /// Starts every environment's episode afresh, environment `i` from the restart draws of
    /// `keys[i]` at the current step (see [`DeviceEnv::restart`]).
    pub fn restart(&mut self, keys: &[StreamKey], device: &B::Device) {
        let restart = Keys::new(keys, RESTART_SALT, device);
        self.state = dynamics::reset::<Tensors<B>>(&self.params, &restart.base(self.step));
        self.last = self.state.clone();
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

    fn create(params: &CloudParams, keys: &[StreamKey], device: &B::Device) -> Self {
        DeviceToyCloud::with_keys(params.clone(), keys, device)
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

    fn restart(&mut self, keys: &[StreamKey], device: &B::Device) {
        DeviceToyCloud::restart(self, keys, device);
    }

    fn restore(
        params: &CloudParams,
        keys: &[StreamKey],
        steps: u32,
        states: &[CloudState],
        device: &B::Device,
    ) -> Self {
        DeviceToyCloud::restore(params.clone(), keys, steps, states, device)
    }
}
