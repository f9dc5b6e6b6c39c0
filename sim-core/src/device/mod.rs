//! Environments as tensor programs on a device (feature `device`): state, observations,
//! rewards, end flags and the safety channel stay on the backend's device (a GPU with burn's
//! CUDA backend) between steps.
//!
//! An environment gets its device form from its branch-free step written once over
//! [`crate::lanes`]: instantiated on [`Tensors`], the same definition its CPU lanes run is a
//! tensor program. [`rng`] evaluates [`crate::rng::Draws`] with integer tensor operations, so a
//! device environment draws what the native one draws. On a CPU backend the two agree bit for
//! bit; on a GPU, transcendental functions and fused multiply-adds may differ in the last bits.
//!
//! [`DeviceEnv`] is what a learner's device rollout steps (`sim_agents::source::DeviceSource`).

pub mod rng;
mod tensors;

use std::marker::PhantomData;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

pub use tensors::{TensorF32, TensorF64, TensorMask, Tensors};

/// The elements of a bool tensor, whatever the backend stores them as: `flex` holds native
/// `bool`s, the CubeCL backends (CUDA, Vulkan) bytes or words, which `TensorData` will not read
/// back as `bool`; those go through an integer tensor.
pub fn read_bools<B: Backend, const D: usize>(t: Tensor<B, D, Bool>) -> Vec<bool> {
    if let Ok(v) = t.clone().into_data().to_vec::<bool>() {
        return v;
    }
    let ints = t.int().into_data().convert::<i64>().to_vec::<i64>().expect("a bool tensor read as integers");
    ints.into_iter().map(|v| v != 0).collect()
}

use crate::env::Environment;
use crate::rng::StreamKey;
use crate::safety::SafetyKind;

/// The safety channel of one batched device step, typed by the environment's violation kinds
/// `V` and monitors `M`: what [`crate::safety::StepSafety`] holds per slot, as tensors.
pub struct DeviceSafety<B: Backend, V, M> {
    /// Violation kinds of each slot as bits (`KindSet::bits`: bit `k` for kind `k`), `[N]`.
    pub violations: Tensor<B, 1, Int>,
    /// Ground-truth cost of each slot's violations, `[N]`.
    pub cost: Tensor<B, 1>,
    /// Monitors that alerted, as bits, `[N]`.
    pub alerts: Tensor<B, 1, Int>,
    kinds: PhantomData<fn() -> (V, M)>,
}

impl<B: Backend, V, M> Clone for DeviceSafety<B, V, M> {
    fn clone(&self) -> Self {
        DeviceSafety {
            violations: self.violations.clone(),
            cost: self.cost.clone(),
            alerts: self.alerts.clone(),
            kinds: PhantomData,
        }
    }
}

impl<B: Backend, V: SafetyKind, M: SafetyKind> DeviceSafety<B, V, M> {
    /// The record of one step from per-kind masks (indexed by `SafetyKind::index`), costs, and
    /// per-monitor masks.
    pub fn from_masks(violations: &[Tensor<B, 1, Bool>], cost: Tensor<B, 1>, alerts: &[Tensor<B, 1, Bool>]) -> Self {
        assert_eq!(violations.len(), V::ALL.len(), "one mask per violation kind");
        assert_eq!(alerts.len(), M::ALL.len(), "one mask per monitor");
        let bits = |masks: &[Tensor<B, 1, Bool>]| {
            let zero = cost.zeros_like().int();
            masks.iter().enumerate().fold(zero, |acc, (k, m)| acc + m.clone().int().mul_scalar(1i64 << k))
        };
        DeviceSafety { violations: bits(violations), alerts: bits(alerts), cost, kinds: PhantomData }
    }

    /// A record of nothing for `n` slots (an environment without violations).
    pub fn none(like: &Tensor<B, 1>) -> Self {
        let zero = like.zeros_like();
        DeviceSafety { violations: zero.clone().int(), alerts: zero.clone().int(), cost: zero, kinds: PhantomData }
    }

    /// Where violation kind `kind` happened.
    pub fn violated(&self, kind: V) -> Tensor<B, 1, Bool> {
        bit(&self.violations, kind.index())
    }

    /// Where monitor `monitor` alerted.
    pub fn alerted(&self, monitor: M) -> Tensor<B, 1, Bool> {
        bit(&self.alerts, monitor.index())
    }

    /// Where any violation happened.
    pub fn any_violation(&self) -> Tensor<B, 1, Bool> {
        self.violations.clone().not_equal_elem(0)
    }

    /// The records read back to the host, one per slot. Device environments do not name what
    /// an alert detected (`detected` stays empty, `detection_latency` 0): none of this
    /// workspace's reports a `PendingAlert`.
    pub fn read(&self) -> Vec<crate::safety::StepSafety<V, M>> {
        let ints = |t: &Tensor<B, 1, Int>| -> Vec<u32> {
            t.clone()
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .expect("integer bits")
                .iter()
                .map(|&b| b as u32)
                .collect()
        };
        let cost: Vec<f32> = self.cost.clone().into_data().convert::<f32>().to_vec().expect("f32 costs");
        let (violations, alerts) = (ints(&self.violations), ints(&self.alerts));
        (0..cost.len()).map(|i| crate::safety::StepSafety::from_bits(violations[i], cost[i], alerts[i])).collect()
    }

    /// Number of monitors that alerted, per slot, as floats.
    pub fn alert_count(&self) -> Tensor<B, 1> {
        M::ALL.iter().fold(self.cost.zeros_like(), |acc, &m| acc + self.alerted(m).float())
    }
}

fn bit<B: Backend>(bits: &Tensor<B, 1, Int>, k: usize) -> Tensor<B, 1, Bool> {
    use burn::tensor::ElementConversion;
    bits.clone().bitwise_right_shift_scalar((k as i64).elem()).bitwise_and_scalar(1i64.elem()).equal_elem(1)
}

/// What one batched step of a device environment produces.
pub struct DeviceTransition<B: Backend, E: Environment> {
    /// Observations after the step (after autoreset where an episode ended), `[N, obs_dim]`.
    pub obs: Tensor<B, 2>,
    /// Observations the ended episodes ended in, `[N, obs_dim]`.
    pub final_obs: Tensor<B, 2>,
    /// Task rewards, `[N]`.
    pub rewards: Tensor<B, 1>,
    /// The episode reached a terminal state.
    pub terminated: Tensor<B, 1, Bool>,
    /// The episode was cut by a time limit.
    pub truncated: Tensor<B, 1, Bool>,
    /// The safety channel: violation kinds with their cost, alerts per monitor.
    pub safety: DeviceSafety<B, E::Violation, E::Monitor>,
}

/// A batch of environments stepped on the device, mirroring a native environment.
pub trait DeviceEnv<B: Backend>: Sized {
    /// The native environment it mirrors (parameters, action names, seeding, kinds).
    type Native: Environment;
    /// Whether an episode can be truncated (then a rollout bootstraps it).
    const CAN_TRUNCATE: bool;
    /// One environment per key in `keys`, stepping and resetting from that stream; `params`
    /// must be valid. With `StreamKey::envs(seed, n)` they are seeded as
    /// `BatchRunner::<Self::Native>::new(params, n, seed)` seeds its own; a population
    /// concatenates its runs' keys.
    fn create(params: &<Self::Native as Environment>::Params, keys: &[StreamKey], device: &B::Device) -> Self;
    /// The current observations, `[N, obs_dim]`.
    fn obs(&self) -> Tensor<B, 2>;
    /// Steps every environment with `actions` (`[N]`; out-of-range actions act as the native
    /// fallback does).
    fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceTransition<B, Self::Native>;

    /// Every environment's state, held on the device (taking it copies nothing).
    type States: Clone;
    /// The current states.
    fn states(&self) -> Self::States;
    /// The states the last step left before autoreset replaced those whose episode ended: what
    /// an ended episode's [`Environment::metrics`] reads (the current states before any step).
    fn final_states(&self) -> Self::States;
    /// `states` read back to the host, one per environment.
    fn read_states(states: &Self::States) -> Vec<<Self::Native as Environment>::State>;
    /// Steps taken so far (the counter the step and reset draws are taken at).
    fn steps(&self) -> u32;
    /// Ends every environment's episode and starts a new one, environment `i` from
    /// `sim_core::runner::restart_draws(keys[i], steps())`, as `BatchRunner::restart` does;
    /// the clock does not advance and the final states become the new ones.
    fn restart(&mut self, keys: &[StreamKey], device: &B::Device);
    /// Environments created from `keys` as [`DeviceEnv::create`] creates them, continuing after
    /// `steps` steps from `states` (one per key, as [`DeviceEnv::read_states`] gave them): they
    /// step on exactly as the environments the states were read from.
    fn restore(
        params: &<Self::Native as Environment>::Params,
        keys: &[StreamKey],
        steps: u32,
        states: &[<Self::Native as Environment>::State],
        device: &B::Device,
    ) -> Self;
}
