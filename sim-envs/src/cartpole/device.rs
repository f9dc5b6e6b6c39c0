//! CartPole-v1 on a device (feature `device`): [`super::advance`] and [`super::sin_cos_lanes`]
//! instantiated on tensors, with autoreset from the same counter-based draws as the native
//! runner's. A step is about sixty elementwise tensor operations on the whole batch.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use sim_core::device::rng::Keys;
use sim_core::device::{DeviceEnv, DeviceSafety, DeviceTransition, Tensors};
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::RESET_SALT;

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
        let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::ENV, i as u64)).collect();
        let keys = Keys::new(&keys, RESET_SALT, device);
        let state = reset_lanes::<Tensors<B>>(&params, &keys.base(0));
        DeviceCartPole { params, keys, step: 0, last: state.clone(), state }
    }

    /// Environments seeded as [`DeviceCartPole::new`] seeds them for `seed`, continuing after
    /// `step` steps from `states`.
    pub fn restore(params: CartPoleParams, seed: u64, step: u32, states: &[CartPoleState], device: &B::Device) -> Self {
        let mut env = DeviceCartPole::new(params, states.len(), seed, device);
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

    fn create(params: &CartPoleParams, num_envs: usize, seed: u64, device: &B::Device) -> Self {
        DeviceCartPole::new(params.clone(), num_envs, seed, device)
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

    fn restore(params: &CartPoleParams, seed: u64, steps: u32, states: &[CartPoleState], device: &B::Device) -> Self {
        DeviceCartPole::restore(params.clone(), seed, steps, states, device)
    }
}
