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

#[cfg(feature = "device")]
pub mod device;

use serde::{Deserialize, Serialize};
use sim_core::env::{Batch, StateBlock};
use sim_core::lanes::{Lanes, Real, Scalar, select};
use sim_core::params::{ParamError, Validate, check_at_least, check_positive};
use sim_core::prelude::*;
use sim_core::runner::CHUNK;
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
        let (sintheta, costheta) = sin_cos(s.theta);
        [s.x, s.x_dot, s.theta, s.theta_dot] =
            euler::<Scalar>(p, [s.x, s.x_dot, s.theta, s.theta_dot], sintheta, costheta, action == 1);
    }
}

sim_core::lane_state! {
    /// CartPole's state as lanes.
    pub struct CartPoleLanes, block CartPoleBlock {
        f32 {
            /// Steps taken in this episode (exact).
            t,
        }
        f64 {
            /// Cart position.
            x,
            /// Cart velocity.
            x_dot,
            /// Pole angle.
            theta,
            /// Pole angular velocity.
            theta_dot,
        }
        mask {}
    }
}

/// The Euler step of `[x, x_dot, theta, theta_dot]`, pushing right where `right` holds, given the
/// angle's sine and cosine: the one definition of the dynamics, for the scalar step, the CPU
/// lanes and the device.
#[inline(always)]
pub fn euler<V: Lanes>(
    p: &CartPoleParams,
    [x, x_dot, theta, theta_dot]: [V::D; 4],
    sintheta: V::D,
    costheta: V::D,
    right: V::M,
) -> [V::D; 4] {
    let force = select(right, x.splat(p.force_mag), x.splat(-p.force_mag));
    let inv_total_mass = 1.0 / (p.masspole + p.masscart);
    let polemass_length = p.masspole * p.length;
    // Gymnasium's operation order, with its divisions by the total mass as multiplications
    // by the reciprocal (at most an ulp apart; two fewer divisions on the critical path).
    let temp = (force + theta_dot.clone() * theta_dot.clone() * polemass_length * sintheta.clone()) * inv_total_mass;
    let thetaacc = (sintheta * p.gravity - costheta.clone() * temp.clone())
        / ((-(costheta.clone() * costheta.clone() * p.masspole * inv_total_mass) + 4.0 / 3.0) * p.length);
    let xacc = temp - thetaacc.clone() * polemass_length * costheta * inv_total_mass;
    [x + x_dot.clone() * p.tau, x_dot + xacc * p.tau, theta + theta_dot.clone() * p.tau, theta_dot + thetaacc * p.tau]
}

/// One step of `l` after the angle's sine and cosine are known: the integration, the step count,
/// and whether each lane terminated and was truncated.
#[inline(always)]
pub fn advance<V: Lanes>(
    p: &CartPoleParams,
    l: &mut CartPoleLanes<V>,
    action: &V::A,
    sintheta: V::D,
    costheta: V::D,
) -> (V::M, V::M) {
    let state = [l.x.clone(), l.x_dot.clone(), l.theta.clone(), l.theta_dot.clone()];
    [l.x, l.x_dot, l.theta, l.theta_dot] = euler::<V>(p, state, sintheta, costheta, V::is(action, 1));
    l.t = l.t.clone() + 1.0;
    let terminated = l.x.clone().lt_c(-p.x_threshold)
        | l.x.clone().gt_c(p.x_threshold)
        | l.theta.clone().lt_c(-p.theta_threshold_radians)
        | l.theta.clone().gt_c(p.theta_threshold_radians);
    (terminated, l.t.clone().ge_c(p.max_steps as f32))
}

/// The `f32` observation columns `[x, x_dot, theta, theta_dot]` of `l`.
#[inline(always)]
pub fn observe_lanes<V: Lanes>(l: &CartPoleLanes<V>) -> [V::F; 4] {
    [l.x.clone(), l.x_dot.clone(), l.theta.clone(), l.theta_dot.clone()].map(V::narrow)
}

/// Fresh episodes from the reset draws of `words`: [`CartPole`]'s reset (each variable
/// uniform in `[-reset_bound, reset_bound)`, from draws 0 to 3).
pub fn reset_lanes<V: Lanes>(p: &CartPoleParams, words: &V::Words) -> CartPoleLanes<V> {
    let b = p.reset_bound;
    let u = |d| V::widen(V::uniform(words, d)) * (2.0 * b) + (-b);
    let t = V::uniform(words, 0).splat(0.0);
    CartPoleLanes { t, x: u(0), x_dot: u(1), theta: u(2), theta_dot: u(3) }
}

/// `(sin x, cos x)` by the polynomials of [`sin_cos`] where `|x| <= π/4`, the platform's
/// `sin`/`cos` beyond, lane by lane (both computed, one selected).
#[inline(always)]
pub fn sin_cos_lanes<V: Lanes>(x: V::D) -> (V::D, V::D) {
    let wide = x.clone().abs().gt_c(std::f64::consts::FRAC_PI_4);
    let (s, c) = sin_cos_poly::<V>(x.clone());
    (select(wide.clone(), x.clone().sin(), s), select(wide, x.cos(), c))
}

/// Taylor coefficients of `sin x / x` beyond the constant 1, in powers of `x²`.
const SIN: [f64; 7] = [
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5040.0,
    1.0 / 362_880.0,
    -1.0 / 39_916_800.0,
    1.0 / 6_227_020_800.0,
    -1.0 / 1_307_674_368_000.0,
];
/// Taylor coefficients of `cos x` beyond the constant 1, in powers of `x²`.
const COS: [f64; 8] = [
    -0.5,
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40_320.0,
    -1.0 / 3_628_800.0,
    1.0 / 479_001_600.0,
    -1.0 / 87_178_291_200.0,
    1.0 / 20_922_789_888_000.0,
];

/// `(sin x, cos x)`: Taylor polynomials of degree 15 and 16 for `|x| <= π/4` (truncation error
/// below 1e-16, so within a few ulps of libm), libm beyond. The pole's angle stays below 0.25
/// rad in every episode (it terminates past 0.21), so the polynomial branch is the one taken;
/// it is branch-free and several times cheaper than libm's `sincos`.
#[inline(always)]
pub fn sin_cos(x: f64) -> (f64, f64) {
    if x.abs() > std::f64::consts::FRAC_PI_4 { x.sin_cos() } else { sin_cos_poly::<Scalar>(x) }
}

/// The polynomial branch of [`sin_cos`], valid for `|x| <= π/4`: `sin x = x (1 + x² (c1 + x²
/// (c2 + ...)))` and `cos x = 1 + x² (d1 + ...)` by Horner's rule.
#[inline(always)]
pub fn sin_cos_poly<V: Lanes>(x: V::D) -> (V::D, V::D) {
    let x2 = x.clone() * x.clone();
    let horner = |coefficients: &[f64]| {
        let (&last, rest) = coefficients.split_last().expect("coefficients");
        rest.iter().rev().fold(x2.clone() * last, |acc, &c| (acc + c) * x2.clone()) + 1.0
    };
    let (s, c) = (horner(&SIN), horner(&COS));
    (x * s, c)
}

impl Environment for CartPole {
    type Params = CartPoleParams;
    type State = CartPoleState;
    type Block = CartPoleBlock;
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

    /// The whole chunk at once, on [`CartPoleBlock`]'s lanes: straight loops over the state
    /// arrays, which LLVM vectorises. Lane arithmetic is exactly [`CartPole::integrate`]'s, so
    /// the results equal the scalar step bit for bit (`check_step_batch` in `tests/cartpole_reference.rs`).
    #[inline(always)]
    fn step_batch(p: &CartPoleParams, b: Batch<'_, Self>) {
        let n = b.states.len();
        let wide = (0..n).fold(false, |w, j| w | (b.states.lane(j).theta.abs() > std::f64::consts::FRAC_PI_4));
        if wide { step_lanes(p, b, sin_cos_lanes::<Scalar>) } else { step_lanes(p, b, sin_cos_poly::<Scalar>) }
    }

    fn metrics(_: &CartPoleParams, _: &CartPoleState) {}
}

impl StateBlock<CartPoleState> for CartPoleBlock {
    fn from_states(states: Vec<CartPoleState>) -> Self {
        let mut b = CartPoleBlock::new(states.len());
        for (j, s) in states.into_iter().enumerate() {
            b.set_state(j, s);
        }
        b
    }

    #[inline(always)]
    fn slots(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn state(&self, j: usize) -> CartPoleState {
        assert!(j < self.len());
        self.lane(j).state()
    }

    #[inline(always)]
    fn set_state(&mut self, j: usize, s: CartPoleState) {
        assert!(j < self.len());
        self.set_lane(j, CartPoleLanes::of(&s));
    }
}

impl CartPoleLanes<Scalar> {
    /// One slot's state as lanes (the step count as an `f32`, exact below 2^24).
    #[inline(always)]
    pub fn of(s: &CartPoleState) -> Self {
        CartPoleLanes { t: s.t as f32, x: s.x, x_dot: s.x_dot, theta: s.theta, theta_dot: s.theta_dot }
    }

    /// The state these one-slot lanes hold.
    #[inline(always)]
    pub fn state(&self) -> CartPoleState {
        CartPoleState { x: self.x, x_dot: self.x_dot, theta: self.theta, theta_dot: self.theta_dot, t: self.t as u32 }
    }
}

/// One step of every lane of `b`, with `sin_cos` for the pole's angle: [`advance`] on scalar
/// lanes, in straight passes (sines, dynamics, observations, flags), each simple enough to
/// vectorise, and short enough that the processor overlaps many iterations of the long chains
/// of dependent multiplies and adds in the sine polynomial.
#[inline(always)]
fn step_lanes(p: &CartPoleParams, b: Batch<'_, CartPole>, sin_cos: impl Fn(f64) -> (f64, f64)) {
    let s = b.states;
    let n = s.len();
    let (obs, rewards) = (&mut b.obs[..4 * n], &mut b.rewards[..n]);
    let (terminated, truncated) = (&mut b.terminated[..n], &mut b.truncated[..n]);
    let (mut sin, mut cos) = ([0.0; CHUNK], [0.0; CHUNK]);
    for j in 0..n {
        (sin[j], cos[j]) = sin_cos(s.lane(j).theta);
    }
    let actions = &b.actions[..n];
    for j in 0..n {
        let mut lane = s.lane(j);
        (terminated[j], truncated[j]) = advance::<Scalar>(p, &mut lane, &actions[j], sin[j], cos[j]);
        rewards[j] = 1.0;
        s.set_lane(j, lane);
    }
    for (j, o) in obs.chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&observe_lanes::<Scalar>(&s.lane(j)));
    }
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
    fn invalid_actions_act_as_the_fallback_and_are_counted_per_episode() {
        // Two chunks: the first with invalid actions in some slots, the second with none.
        let p = CartPoleParams::default();
        let n = CHUNK + 3;
        let run = |actions: &[u32]| {
            let mut buf = StepBuffers::new(CartPole::spaces(&p), n);
            let mut safety = safety_buffer::<CartPole>(n);
            let mut runner = BatchRunner::<CartPole>::new(p.clone(), n, 9, &mut buf).unwrap();
            let mut episodes = vec![];
            for _ in 0..120 {
                runner.step(actions, &mut buf, &mut safety);
            }
            runner.drain_episodes(&mut episodes);
            (buf.obs, episodes, runner.invalid_actions())
        };
        let invalid = |j: usize| j < CHUNK && j.is_multiple_of(3);
        let given: Vec<u32> = (0..n).map(|j| if invalid(j) { 2 + j as u32 } else { (j % 2) as u32 }).collect();
        let meant: Vec<u32> = (0..n).map(|j| if invalid(j) { 0 } else { given[j] }).collect();
        let (obs, episodes, count) = run(&given);
        let (obs_meant, episodes_meant, none) = run(&meant);
        assert_eq!(obs, obs_meant);
        assert_eq!((count, none), (120 * (0..n).filter(|&j| invalid(j)).count() as u64, 0));
        assert_eq!(episodes.len(), episodes_meant.len());
        for (e, m) in episodes.iter().zip(&episodes_meant) {
            assert_eq!((e.slot, e.end_step, e.length, m.invalid_actions), (m.slot, m.end_step, m.length, 0));
            let expected = if invalid(e.slot as usize) { e.length } else { 0 };
            assert_eq!(e.invalid_actions, expected, "slot {}", e.slot);
        }
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
