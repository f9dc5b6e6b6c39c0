//! CartPole-v1 on a device (feature `device`): [`super::advance`] and [`super::sin_cos_lanes`]
//! instantiated on tensors, with autoreset from the same counter-based draws as the native
//! runner's. A step is about sixty elementwise tensor operations on the whole batch.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use sim_core::device::rng::Keys;
use sim_core::device::{DeviceEnv, DeviceSafety, DeviceTransition, Tensors};
use sim_core::rng::StreamKey;
use sim_core::runner::{RESET_SALT, RESTART_SALT};

use super::{
    CartPole, CartPoleLanes, CartPoleParams, CartPoleState, advance, observe_lanes, reset_lanes, sin_cos_lanes,
};

/// A batch of CartPole environments on a device.
#[derive(Clone)]
pub struct DeviceCartPole<B: Backend> {
    params: CartPoleParams,
    keys: Keys<B>,
    step: u32,
    state: CartPoleLanes<Tensors<B>>,
    /// The states the last step left before autoreset.
    last: CartPoleLanes<Tensors<B>>,
}

impl<B: Backend> DeviceCartPole<B> {
    /// `num_envs` environments seeded as `BatchRunner::<CartPole>::new(params, num_envs, seed)`
    /// seeds them; `params` must be valid (`Validate`).
    pub fn new(params: CartPoleParams, num_envs: usize, seed: u64, device: &B::Device) -> Self {
        Self::with_keys(params, &StreamKey::envs(seed, num_envs), device)
    }

    /// One environment per key, stepping and resetting from that stream (a population's runs
    /// each bring their own keys).
    pub fn with_keys(params: CartPoleParams, keys: &[StreamKey], device: &B::Device) -> Self {
        let keys = Keys::new(keys, RESET_SALT, device);
        let state = reset_lanes::<Tensors<B>>(&params, &keys.base(0));
        DeviceCartPole { params, keys, step: 0, last: state.clone(), state }
    }

    /// Starts every environment's episode afresh, environment `i` from the restart draws of
    /// `keys[i]` at the current step (see [`DeviceEnv::restart`]).
    pub fn restart(&mut self, keys: &[StreamKey], device: &B::Device) {
        let restart = Keys::new(keys, RESTART_SALT, device);
        self.state = reset_lanes::<Tensors<B>>(&self.params, &restart.base(self.step));
        self.last = self.state.clone();
    }

    /// Environments created from `keys` as [`DeviceCartPole::with_keys`] creates them, continuing
    /// after `step` steps from `states` (one per key).
    pub fn restore(
        params: CartPoleParams,
        keys: &[StreamKey],
        step: u32,
        states: &[CartPoleState],
        device: &B::Device,
    ) -> Self {
        assert_eq!(keys.len(), states.len(), "one state per key");
        let mut env = DeviceCartPole::with_keys(params, keys, device);
        let lanes: Vec<_> = states.iter().map(CartPoleLanes::of).collect();
        env.state = CartPoleLanes::stack(device, &lanes);
        env.last = env.state.clone();
        env.step = step;
        env
    }

    /// Every environment's current state, read back to the host.
    pub fn states(&self) -> Vec<CartPoleState> {
        <Self as DeviceEnv<B>>::read_states(&self.state)
    }

    /// The observations of the current states, `[N, 4]`.
    pub fn obs(&self) -> Tensor<B, 2> {
        observe(&self.state)
    }

    /// Steps every environment with `actions` (`[N]`; 1 pushes right, anything else left, as
    /// the native environment's fallback does for out-of-range actions).
    pub fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceTransition<B, CartPole> {
        let mut next = self.state.clone();
        let (sin, cos) = sin_cos_lanes::<Tensors<B>>(next.theta.clone());
        let (terminated, truncated) = advance::<Tensors<B>>(&self.params, &mut next, &actions, sin, cos);
        let final_obs = observe(&next);
        let done = terminated.clone() | truncated.clone();
        let fresh = reset_lanes::<Tensors<B>>(&self.params, &self.keys.base(self.step.wrapping_add(1)));
        self.last = next.clone();
        self.state = CartPoleLanes::select(done, fresh, next);
        self.step = self.step.wrapping_add(1);
        let rewards = self.state.t.0.ones_like();
        let safety = DeviceSafety::none(&rewards);
        DeviceTransition {
            obs: self.obs(),
            final_obs,
            rewards,
            terminated: terminated.0,
            truncated: truncated.0,
            safety,
        }
    }
}

/// `[N, 4]` `f32` observations of `l`.
fn observe<B: Backend>(l: &CartPoleLanes<Tensors<B>>) -> Tensor<B, 2> {
    Tensor::stack::<2>(observe_lanes(l).into_iter().map(|c| c.0).collect(), 1)
}

impl<B: Backend> DeviceEnv<B> for DeviceCartPole<B> {
    type Native = CartPole;
    const CAN_TRUNCATE: bool = true;

    fn create(params: &CartPoleParams, keys: &[StreamKey], device: &B::Device) -> Self {
        DeviceCartPole::with_keys(params.clone(), keys, device)
    }

    fn obs(&self) -> Tensor<B, 2> {
        DeviceCartPole::obs(self)
    }

    fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceTransition<B, CartPole> {
        DeviceCartPole::step(self, actions)
    }

    type States = CartPoleLanes<Tensors<B>>;

    fn states(&self) -> Self::States {
        self.state.clone()
    }

    fn final_states(&self) -> Self::States {
        self.last.clone()
    }

    fn read_states(states: &Self::States) -> Vec<CartPoleState> {
        states.unstack().iter().map(CartPoleLanes::state).collect()
    }

    fn steps(&self) -> u32 {
        self.step
    }

    fn restart(&mut self, keys: &[StreamKey], device: &B::Device) {
        DeviceCartPole::restart(self, keys, device);
    }

    fn restore(
        params: &CartPoleParams,
        keys: &[StreamKey],
        steps: u32,
        states: &[CartPoleState],
        device: &B::Device,
    ) -> Self {
        DeviceCartPole::restore(params.clone(), keys, steps, states, device)
    }
}
