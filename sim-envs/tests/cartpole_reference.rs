//! CartPole-v1 against trajectories recorded from Gymnasium 1.3.0 (`data/cartpole_reference.csv`,
//! made by `data/gen_cartpole_reference.py`; the script's docstring gives the exact command).
//!
//! Two checks:
//! - step by step: from every recorded state, one step with the recorded action must give the
//!   recorded next state (float64, within 1e-12) and observation (float32, within 1e-5), reward
//!   and end flags;
//! - open loop: each episode replayed from its first state with the recorded actions must stay
//!   within 1e-5 of the recorded observations. The upright pole is unstable (errors grow about
//!   8% per step), so any two correct float64 implementations whose sines differ in the last bit
//!   drift apart after roughly 400 steps; the 500-step episodes are compared open loop for their
//!   first 250 steps and step by step throughout.

use sim_core::prelude::*;
use sim_core::rng::Draws;
use sim_envs::{CartPole, CartPoleParams, CartPoleState};

struct Row {
    episode: u32,
    t: u32,
    before: [f64; 4],
    action: u32,
    after: [f64; 4],
    obs: [f32; 4],
    reward: f32,
    terminated: bool,
    truncated: bool,
}

fn reference() -> Vec<Row> {
    let text = include_str!("data/cartpole_reference.csv");
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 18, "malformed reference row: {line}");
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            Row {
                episode: f[0].parse().unwrap(),
                t: f[1].parse().unwrap(),
                before: [num(2), num(3), num(4), num(5)],
                action: f[6].parse().unwrap(),
                after: [num(7), num(8), num(9), num(10)],
                obs: [num(11) as f32, num(12) as f32, num(13) as f32, num(14) as f32],
                reward: num(15) as f32,
                terminated: f[16] == "1",
                truncated: f[17] == "1",
            }
        })
        .collect()
}

fn state_of(v: [f64; 4], t: u32) -> CartPoleState {
    CartPoleState { x: v[0], x_dot: v[1], theta: v[2], theta_dot: v[3], t }
}

fn step(state: &mut CartPoleState, action: u32) -> ([f32; 4], Transition) {
    let p = CartPoleParams::default();
    let mut obs = [0.0f32; 4];
    let mut safety = SafetyOf::<CartPole>::default();
    let draws = Draws::new(StreamKey([0, 0]), 0);
    let tr = CartPole::step(&p, state, action, &draws, &mut obs, &mut safety);
    (obs, tr)
}

#[test]
fn every_step_matches_gymnasium() {
    let rows = reference();
    assert_eq!(rows.len(), 1147);
    for r in &rows {
        let mut s = state_of(r.before, r.t);
        let (obs, tr) = step(&mut s, r.action);
        let got = [s.x, s.x_dot, s.theta, s.theta_dot];
        for k in 0..4 {
            let (state, want) = (got[k], r.after[k]);
            assert!((state - want).abs() <= 1e-12, "episode {} step {}: state[{k}] {state} vs {want}", r.episode, r.t);
            let (o, want) = (obs[k], r.obs[k]);
            assert!((o - want).abs() <= 1e-5, "episode {} step {}: obs[{k}] {o} vs {want}", r.episode, r.t);
        }
        assert_eq!(tr.reward, r.reward);
        assert_eq!((tr.terminated, tr.truncated), (r.terminated, r.truncated), "episode {} step {}", r.episode, r.t);
    }
}

#[test]
fn episodes_replayed_open_loop_match_gymnasium() {
    let rows = reference();
    let mut truncated_at_500 = 0;
    for episode in 0..8 {
        let ep: Vec<&Row> = rows.iter().filter(|r| r.episode == episode).collect();
        let mut s = state_of(ep[0].before, 0);
        for r in &ep {
            let (obs, tr) = step(&mut s, r.action);
            if r.t < 250 {
                for (k, (got, want)) in obs.iter().zip(&r.obs).enumerate() {
                    assert!((got - want).abs() <= 1e-5, "episode {episode} step {}: obs[{k}] {got} vs {want}", r.t);
                }
                assert_eq!((tr.terminated, tr.truncated), (r.terminated, r.truncated));
            }
        }
        let last = ep.last().unwrap();
        if last.truncated {
            assert_eq!(ep.len(), 500, "CartPole-v1 truncates at 500 steps");
            truncated_at_500 += 1;
        } else {
            assert!(last.terminated);
        }
    }
    assert_eq!(truncated_at_500, 2);
}

/// The chunked (vectorised) step of the runner must give exactly the scalar step's results.
#[test]
fn batch_step_equals_scalar_step() {
    sim_core::conformance::check_step_batch::<CartPole>(&CartPoleParams::default(), 1000, 300, 5).unwrap();
}
