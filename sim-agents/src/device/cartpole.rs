//! CartPole-v1 on the device: `sim_envs::CartPole` as a tensor program over a batch.
//!
//! The state is four `f64` tensors and an integer step count per environment; a step is
//! about sixty elementwise tensor operations on the whole batch, with no data returned to the
//! host. The arithmetic follows the native step operation for operation (the same
//! association, the same polynomial `sin`/`cos` below π/4), so on a CPU backend the two agree
//! bit for bit; reset draws come from the same counter-based stream, keyed and counted as
//! `sim_core::runner::BatchRunner` keys and counts them.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, DType, FloatDType, Int, Tensor};
use sim_core::rng::{StreamKey, domain};
use sim_core::runner::RESET_SALT;
use sim_envs::CartPoleParams;

use super::rng::{Keys, uniform_f64};

/// What one batched step produces, on the device.
#[derive(Clone, Debug)]
pub struct DeviceStep<B: Backend> {
    /// Observations after the step (after autoreset where an episode ended), `[N, 4]`, `f32`.
    pub obs: Tensor<B, 2>,
    /// Observations the ended episodes ended in (for bootstrapping), `[N, 4]`, `f32`; equal to
    /// `obs` where nothing ended.
    pub final_obs: Tensor<B, 2>,
    /// Rewards, `[N]`, `f32`.
    pub rewards: Tensor<B, 1>,
    /// The pole fell or the cart left the track.
    pub terminated: Tensor<B, 1, Bool>,
    /// The step limit was reached.
    pub truncated: Tensor<B, 1, Bool>,
}

/// A batch of CartPole environments on a device.
#[derive(Clone, Debug)]
pub struct DeviceCartPole<B: Backend> {
    params: CartPoleParams,
    keys: Keys<B>,
    step: u32,
    x: Tensor<B, 1>,
    x_dot: Tensor<B, 1>,
    theta: Tensor<B, 1>,
    theta_dot: Tensor<B, 1>,
    t: Tensor<B, 1, Int>,
}

/// The four state variables of a batch.
struct Vars<B: Backend>([Tensor<B, 1>; 4]);

impl<B: Backend> DeviceCartPole<B> {
    /// `num_envs` environments seeded as `BatchRunner::<CartPole>::new(params, num_envs, seed)`
    /// seeds them; `params` must be valid (`Validate`).
    pub fn new(params: CartPoleParams, num_envs: usize, seed: u64, device: &B::Device) -> Self {
        let keys: Vec<StreamKey> = (0..num_envs).map(|i| StreamKey::derive(seed, domain::ENV, i as u64)).collect();
        let keys = Keys::new(&keys, RESET_SALT, device);
        let Vars([x, x_dot, theta, theta_dot]) = Self::reset_vars(&params, &keys, 0);
        let t = Tensor::zeros([num_envs], (device, DType::I64));
        DeviceCartPole { params, keys, step: 0, x, x_dot, theta, theta_dot, t }
    }

    /// The observations of the current states, `[N, 4]`.
    pub fn obs(&self) -> Tensor<B, 2> {
        observe(&[self.x.clone(), self.x_dot.clone(), self.theta.clone(), self.theta_dot.clone()])
    }

    /// The states `[x, x_dot, theta, theta_dot]` in `f64`, `[N, 4]` (for inspection; a policy
    /// reads [`DeviceCartPole::obs`]).
    pub fn state(&self) -> Tensor<B, 2> {
        Tensor::stack::<2>(vec![self.x.clone(), self.x_dot.clone(), self.theta.clone(), self.theta_dot.clone()], 1)
    }

    /// Fresh states from the reset draws at counter `counter`.
    fn reset_vars(p: &CartPoleParams, keys: &Keys<B>, counter: u32) -> Vars<B> {
        let base = keys.base(counter);
        let b = p.reset_bound;
        let u = |d| uniform_f64(base.clone(), d).mul_scalar(2.0 * b).add_scalar(-b);
        Vars([u(0), u(1), u(2), u(3)])
    }

    /// Steps every environment with `actions` (`[N]`; 1 pushes right, anything else left, as
    /// the native environment's fallback does for out-of-range actions).
    pub fn step(&mut self, actions: Tensor<B, 1, Int>) -> DeviceStep<B> {
        let p = &self.params;
        let inv_total_mass = 1.0 / (p.masspole + p.masscart);
        let polemass_length = p.masspole * p.length;
        let right = actions.equal_elem(1);
        let force = self.x.zeros_like().add_scalar(-p.force_mag).mask_fill(right, p.force_mag);
        let (sintheta, costheta) = sin_cos(self.theta.clone());
        let td2 = self.theta_dot.clone() * self.theta_dot.clone();
        let temp = (force + td2.mul_scalar(polemass_length) * sintheta.clone()).mul_scalar(inv_total_mass);
        let c2 = costheta.clone() * costheta.clone();
        let thetaacc = (sintheta.mul_scalar(p.gravity) - costheta.clone() * temp.clone())
            / c2.mul_scalar(p.masspole).mul_scalar(inv_total_mass).neg().add_scalar(4.0 / 3.0).mul_scalar(p.length);
        let xacc = temp - (thetaacc.clone().mul_scalar(polemass_length) * costheta).mul_scalar(inv_total_mass);
        let x = self.x.clone() + self.x_dot.clone().mul_scalar(p.tau);
        let x_dot = self.x_dot.clone() + xacc.mul_scalar(p.tau);
        let theta = self.theta.clone() + self.theta_dot.clone().mul_scalar(p.tau);
        let theta_dot = self.theta_dot.clone() + thetaacc.mul_scalar(p.tau);
        let t = self.t.clone().add_scalar(1);

        let truncated = t.clone().greater_equal_elem(i64::from(p.max_steps));
        let terminated = x
            .clone()
            .lower_elem(-p.x_threshold)
            .bool_or(x.clone().greater_elem(p.x_threshold))
            .bool_or(theta.clone().lower_elem(-p.theta_threshold_radians))
            .bool_or(theta.clone().greater_elem(p.theta_threshold_radians));
        let done = terminated.clone().bool_or(truncated.clone());
        let final_obs = observe(&[x.clone(), x_dot.clone(), theta.clone(), theta_dot.clone()]);

        // Autoreset: the ended environments start over from the draws of the next counter.
        let Vars(fresh) = Self::reset_vars(p, &self.keys, self.step.wrapping_add(1));
        let [rx, rx_dot, rtheta, rtheta_dot] = fresh;
        self.x = x.mask_where(done.clone(), rx);
        self.x_dot = x_dot.mask_where(done.clone(), rx_dot);
        self.theta = theta.mask_where(done.clone(), rtheta);
        self.theta_dot = theta_dot.mask_where(done.clone(), rtheta_dot);
        self.t = t.mask_fill(done, 0);
        self.step = self.step.wrapping_add(1);
        let rewards = self.x.ones_like().cast(FloatDType::F32);
        DeviceStep { obs: self.obs(), final_obs, rewards, terminated, truncated }
    }
}

/// `[x, x_dot, theta, theta_dot]` as `f32` observations, `[N, 4]`.
fn observe<B: Backend>(vars: &[Tensor<B, 1>; 4]) -> Tensor<B, 2> {
    Tensor::stack::<2>(vars.to_vec(), 1).cast(FloatDType::F32)
}

/// `sim_envs::cartpole::sin_cos` elementwise: Taylor polynomials up to π/4, the backend's
/// `sin`/`cos` beyond.
fn sin_cos<B: Backend>(x: Tensor<B, 1>) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let x2 = x.clone() * x.clone();
    let horner = |coefficients: &[f64]| {
        let (&last, rest) = coefficients.split_last().expect("coefficients");
        rest.iter().rev().fold(x2.clone().mul_scalar(last), |acc, &c| (acc.add_scalar(c)) * x2.clone())
    };
    // The native polynomials: s = 1 + x2*(-1/6 + x2*(...)), c = 1 + x2*(-1/2 + x2*(...)).
    let s = horner(&[
        -1.0 / 6.0,
        1.0 / 120.0,
        -1.0 / 5040.0,
        1.0 / 362_880.0,
        -1.0 / 39_916_800.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 1_307_674_368_000.0,
    ])
    .add_scalar(1.0);
    let c = horner(&[
        -0.5,
        1.0 / 24.0,
        -1.0 / 720.0,
        1.0 / 40_320.0,
        -1.0 / 3_628_800.0,
        1.0 / 479_001_600.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 20_922_789_888_000.0,
    ])
    .add_scalar(1.0);
    let wide = x.clone().abs().greater_elem(std::f64::consts::FRAC_PI_4);
    let sin = (x.clone() * s).mask_where(wide.clone(), x.clone().sin());
    let cos = c.mask_where(wide, x.cos());
    (sin, cos)
}
