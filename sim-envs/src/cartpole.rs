//! CartPole-v1 with Gymnasium's dynamics: the reference environment for validating trainers.
//!
//! The classic-control equations of Barto, Sutton & Anderson (1983), integrated with explicit
//! Euler steps exactly as `gymnasium.envs.classic_control.CartPoleEnv` does it (state in `f64`,
//! the same operation order, observations rounded to `f32`), with the `TimeLimit` of
//! CartPole-v1: an episode is truncated after 500 steps. Reward is 1 for every step, including
//! the terminating one. `tests/cartpole_reference.rs` replays trajectories recorded from
//! Gymnasium and checks every observation within 1e-5.
//!
//! CartPole has no safety events: its violation and monitor kinds are empty.

use serde::{Deserialize, Serialize};
use sim_core::env::{Batch, step_each};
use sim_core::params::{ParamError, Validate, check_at_least, check_positive};
use sim_core::prelude::*;
use sim_core::safety::NoKind;

/// CartPole parameters; the defaults are CartPole-v1's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CartPoleParams {
    /// Gravitational acceleration (m/s²).
    pub gravity: f64,
    /// Mass of the cart (kg).
    pub masscart: f64,
    /// Mass of the pole (kg).
    pub masspole: f64,
    /// Half the pole's length (m).
    pub length: f64,
    /// Magnitude of the force of one push (N).
    pub force_mag: f64,
    /// Seconds between state updates.
    pub tau: f64,
    /// The episode terminates when the pole leans more than this (radians).
    pub theta_threshold_radians: f64,
    /// The episode terminates when the cart is further than this from the centre (m).
    pub x_threshold: f64,
    /// Steps after which the episode is truncated (CartPole-v1: 500).
    pub max_steps: u32,
    /// Each state variable starts uniform in `[-reset_bound, reset_bound)`.
    pub reset_bound: f64,
}

impl Default for CartPoleParams {
    fn default() -> Self {
        CartPoleParams {
            gravity: 9.8,
            masscart: 1.0,
            masspole: 0.1,
            length: 0.5,
            force_mag: 10.0,
            tau: 0.02,
            theta_threshold_radians: 12.0 * 2.0 * std::f64::consts::PI / 360.0,
            x_threshold: 2.4,
            max_steps: 500,
            reset_bound: 0.05,
        }
    }
}

impl Validate for CartPoleParams {
    fn validate(&self) -> Result<(), ParamError> {
        let positive = [
            ("gravity", self.gravity),
            ("masscart", self.masscart),
            ("masspole", self.masspole),
            ("length", self.length),
            ("force_mag", self.force_mag),
            ("tau", self.tau),
            ("theta_threshold_radians", self.theta_threshold_radians),
            ("x_threshold", self.x_threshold),
            ("reset_bound", self.reset_bound),
        ];
        for (field, value) in positive {
            check_positive(field, value)?;
        }
        check_at_least("max_steps", self.max_steps.into(), 1)
    }
}

/// The state of one cart-pole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CartPoleState {
    /// Cart position (m).
    pub x: f64,
    /// Cart velocity (m/s).
    pub x_dot: f64,
    /// Pole angle (rad, 0 is upright).
    pub theta: f64,
    /// Pole angular velocity (rad/s).
    pub theta_dot: f64,
    /// Steps taken in this episode.
    pub t: u32,
}

/// CartPole-v1. Actions: 0 pushes the cart left, 1 pushes it right; an out-of-range action is
/// replaced by 0 (and counted by the runner).
pub struct CartPole;

impl CartPole {
    /// Writes the `f32` observation of `s`.
    #[inline(always)]
    pub fn observe(s: &CartPoleState, obs: &mut [f32]) {
        obs[0] = s.x as f32;
        obs[1] = s.x_dot as f32;
        obs[2] = s.theta as f32;
        obs[3] = s.theta_dot as f32;
    }

    /// Whether the cart left the track or the pole fell (`|` rather than `||`: no branches).
    #[inline(always)]
    pub fn out_of_bounds(p: &CartPoleParams, x: f64, theta: f64) -> bool {
        (x < -p.x_threshold)
            | (x > p.x_threshold)
            | (theta < -p.theta_threshold_radians)
            | (theta > p.theta_threshold_radians)
    }

    /// One Euler step of the dynamics under `action`, without the episode bookkeeping.
    #[inline(always)]
    pub fn integrate(p: &CartPoleParams, s: &mut CartPoleState, action: u32) {
        let force = if action == 1 { p.force_mag } else { -p.force_mag };
        let inv_total_mass = 1.0 / (p.masspole + p.masscart);
        let polemass_length = p.masspole * p.length;
        let (sintheta, costheta) = sin_cos(s.theta);
        // Gymnasium's operation order, with its divisions by the total mass as multiplications
        // by the reciprocal (at most an ulp apart; two fewer divisions on the critical path).
        let temp = (force + polemass_length * (s.theta_dot * s.theta_dot) * sintheta) * inv_total_mass;
        let thetaacc = (p.gravity * sintheta - costheta * temp)
            / (p.length * (4.0 / 3.0 - p.masspole * (costheta * costheta) * inv_total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta * inv_total_mass;
        s.x += p.tau * s.x_dot;
        s.x_dot += p.tau * xacc;
        s.theta += p.tau * s.theta_dot;
        s.theta_dot += p.tau * thetaacc;
    }
}

/// `(sin x, cos x)`: Taylor polynomials of degree 15 and 16 for `|x| <= π/4` (truncation error
/// below 1e-16, so within a few ulps of libm), libm beyond. The pole's angle stays below 0.25
/// rad in every episode (it terminates past 0.21), so the polynomial branch is the one taken;
/// it is branch-free and several times cheaper than libm's `sincos`.
#[inline(always)]
pub fn sin_cos(x: f64) -> (f64, f64) {
    if x.abs() > std::f64::consts::FRAC_PI_4 { x.sin_cos() } else { sin_cos_poly(x) }
}

/// The polynomial branch of [`sin_cos`], valid for `|x| <= π/4`.
#[inline(always)]
fn sin_cos_poly(x: f64) -> (f64, f64) {
    let x2 = x * x;
    // sin x = x (1 - x²/3! + x⁴/5! - ... - x¹⁴/15!)
    let s = 1.0
        + x2 * (-1.0 / 6.0
            + x2 * (1.0 / 120.0
                + x2 * (-1.0 / 5040.0
                    + x2 * (1.0 / 362_880.0
                        + x2 * (-1.0 / 39_916_800.0
                            + x2 * (1.0 / 6_227_020_800.0 + x2 * (-1.0 / 1_307_674_368_000.0)))))));
    // cos x = 1 - x²/2! + x⁴/4! - ... + x¹⁶/16!
    let c = 1.0
        + x2 * (-0.5
            + x2 * (1.0 / 24.0
                + x2 * (-1.0 / 720.0
                    + x2 * (1.0 / 40_320.0
                        + x2 * (-1.0 / 3_628_800.0
                            + x2 * (1.0 / 479_001_600.0
                                + x2 * (-1.0 / 87_178_291_200.0 + x2 * (1.0 / 20_922_789_888_000.0))))))));
    (x * s, c)
}

impl Environment for CartPole {
    type Params = CartPoleParams;
    type State = CartPoleState;
    type Violation = NoKind;
    type Monitor = NoKind;
    type Metrics = ();

    const NAME: &'static str = "cartpole";

    fn spaces(_: &CartPoleParams) -> Spaces {
        Spaces { obs_dim: 4, num_actions: 2 }
    }

    fn fallback_action(_: &CartPoleParams) -> u32 {
        0
    }

    fn action_name(_: &CartPoleParams, action: u32) -> String {
        match action {
            0 => "push_left".into(),
            1 => "push_right".into(),
            a => format!("invalid_{a}"),
        }
    }

    fn reset(p: &CartPoleParams, draws: &Draws, obs: &mut [f32]) -> CartPoleState {
        let b = p.reset_bound;
        let u = |d| -b + 2.0 * b * f64::from(draws.uniform(d));
        let s = CartPoleState { x: u(0), x_dot: u(1), theta: u(2), theta_dot: u(3), t: 0 };
        Self::observe(&s, obs);
        s
    }

    #[inline(always)]
    fn step(
        p: &CartPoleParams,
        s: &mut CartPoleState,
        action: u32,
        _: &Draws,
        obs: &mut [f32],
        _: &mut SafetyOf<Self>,
    ) -> Transition {
        Self::integrate(p, s, action);
        s.t += 1;
        Self::observe(s, obs);
        Transition { reward: 1.0, terminated: Self::out_of_bounds(p, s.x, s.theta), truncated: s.t >= p.max_steps }
    }

    /// The whole chunk in struct-of-arrays form: the states are gathered into lane arrays,
    /// the dynamics run as straight loops over them (which LLVM vectorises), and the results
    /// are scattered back. Lane arithmetic is exactly [`CartPole::integrate`]'s, so the results
    /// equal the scalar step (`tests::batch_step_equals_scalar_step`).
    #[inline(always)]
    fn step_batch(p: &CartPoleParams, b: Batch<'_, Self>) {
        const N: usize = sim_core::runner::CHUNK;
        let n = b.states.len();
        if n > N {
            return step_each::<Self>(p, b);
        }
        let mut x = [0.0; N];
        let mut x_dot = [0.0; N];
        let mut theta = [0.0; N];
        let mut theta_dot = [0.0; N];
        for (j, s) in b.states.iter().enumerate() {
            (x[j], x_dot[j], theta[j], theta_dot[j]) = (s.x, s.x_dot, s.theta, s.theta_dot);
        }
        let (mut sintheta, mut costheta) = ([0.0; N], [0.0; N]);
        let mut wide = false;
        for j in 0..n {
            (sintheta[j], costheta[j]) = sin_cos_poly(theta[j]);
            wide |= theta[j].abs() > std::f64::consts::FRAC_PI_4;
        }
        if wide {
            for j in 0..n {
                (sintheta[j], costheta[j]) = sin_cos(theta[j]);
            }
        }
        let inv_total_mass = 1.0 / (p.masspole + p.masscart);
        let polemass_length = p.masspole * p.length;
        for j in 0..n {
            let force = if b.actions[j] == 1 { p.force_mag } else { -p.force_mag };
            let temp = (force + polemass_length * (theta_dot[j] * theta_dot[j]) * sintheta[j]) * inv_total_mass;
            let thetaacc = (p.gravity * sintheta[j] - costheta[j] * temp)
                / (p.length * (4.0 / 3.0 - p.masspole * (costheta[j] * costheta[j]) * inv_total_mass));
            let xacc = temp - polemass_length * thetaacc * costheta[j] * inv_total_mass;
            x[j] += p.tau * x_dot[j];
            x_dot[j] += p.tau * xacc;
            theta[j] += p.tau * theta_dot[j];
            theta_dot[j] += p.tau * thetaacc;
        }
        for (j, s) in b.states.iter_mut().enumerate() {
            (s.x, s.x_dot, s.theta, s.theta_dot) = (x[j], x_dot[j], theta[j], theta_dot[j]);
            s.t += 1;
            b.truncated[j] = s.t >= p.max_steps;
        }
        for (j, o) in b.obs.chunks_exact_mut(4).enumerate() {
            o.copy_from_slice(&[x[j] as f32, x_dot[j] as f32, theta[j] as f32, theta_dot[j] as f32]);
            b.rewards[j] = 1.0;
            b.terminated[j] = Self::out_of_bounds(p, x[j], theta[j]);
        }
    }

    fn metrics(_: &CartPoleParams, _: &CartPoleState) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_end_and_autoreset_keeps_the_final_observation() {
        let p = CartPoleParams::default();
        let n = 8;
        let mut buf = StepBuffers::new(CartPole::spaces(&p), n);
        let mut safety = safety_buffer::<CartPole>(n);
        let mut runner = BatchRunner::<CartPole>::new(p.clone(), n, 1, &mut buf).unwrap();
        for v in &buf.obs {
            assert!(v.abs() <= 0.05);
        }
        // Always pushing right tips the pole within a few dozen steps.
        let actions = vec![1; n];
        let mut ended = vec![false; n];
        for _ in 0..100 {
            runner.step(&actions, &mut buf, &mut safety);
            for (i, ended) in ended.iter_mut().enumerate() {
                if buf.done(i) {
                    *ended = true;
                    assert!(buf.terminated[i]);
                    let last = &buf.final_obs[i * 4..i * 4 + 4];
                    assert!(last[2].abs() > p.theta_threshold_radians as f32 || last[0].abs() > 2.4);
                    assert!(buf.obs[i * 4 + 2].abs() <= 0.05, "reset observation after the end");
                }
            }
        }
        assert!(ended.iter().all(|&e| e));
        let mut episodes = vec![];
        runner.drain_episodes(&mut episodes);
        assert!(episodes.iter().all(|e| e.ret == f64::from(e.length) && e.terminated && !e.truncated));
    }

    #[test]
    fn polynomial_sin_cos_matches_libm() {
        let mut worst = 0.0f64;
        for i in -100_000..=100_000 {
            let x = f64::from(i) * 1e-5; // [-1, 1]: both branches
            let (s, c) = sin_cos(x);
            worst = worst.max((s - x.sin()).abs()).max((c - x.cos()).abs());
        }
        assert!(worst < 4e-16, "worst error {worst:e}");
    }

    #[test]
    fn bad_params_name_the_field() {
        let err = sim_core::params::parse_ron::<CartPoleParams>("(tau: -0.02)", "cp.ron").unwrap_err();
        assert_eq!(err.to_string(), "cp.ron: field `tau` is -0.02, expected a finite number > 0");
        let err = sim_core::params::parse_ron::<CartPoleParams>("(max_steps: 0)", "cp.ron").unwrap_err();
        assert!(err.to_string().contains("max_steps"), "{err}");
    }
}
