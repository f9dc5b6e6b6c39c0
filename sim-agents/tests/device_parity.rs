//! The device environments against the native ones, on a CPU backend: the same seeds and
//! actions give the same observations, rewards, end flags and final observations over
//! thousands of steps and thousands of episodes, and the same `f64` states. The tolerance is
//! zero: the tensor program repeats the native arithmetic operation for operation in `f64`,
//! and both round to `f32` observations the same way. (On a GPU, `sin`/`cos` and fused multiply-adds may differ in the
//! last bits; that comparison needs a GPU session.)

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sim_agents::device::cartpole::DeviceCartPole;
use sim_core::prelude::*;
use sim_envs::{CartPole, CartPoleParams};

fn floats(t: Tensor<Flex, 2>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

fn flags(t: Tensor<Flex, 1, burn::tensor::Bool>) -> Vec<bool> {
    t.into_data().to_vec().unwrap()
}

/// Steps both for `steps` steps with random actions (some out of range) and compares
/// everything; returns how many episodes ended by termination and by truncation.
fn compare(params: CartPoleParams, num_envs: usize, seed: u64, steps: usize) -> (usize, usize) {
    let device = Default::default();
    let mut buf = StepBuffers::new(CartPole::spaces(&params), num_envs);
    let mut safety = safety_buffer::<CartPole>(num_envs);
    let mut native = BatchRunner::<CartPole>::new(params.clone(), num_envs, seed, &mut buf).unwrap();
    let mut gpu = DeviceCartPole::<Flex>::new(params, num_envs, seed, &device);
    assert_eq!(floats(gpu.obs()), buf.obs, "initial observations");

    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xac71);
    let (mut terminated, mut truncated) = (0, 0);
    for t in 0..steps {
        // Mostly 0 and 1, sometimes an out-of-range action (the fallback pushes left).
        let actions: Vec<u32> =
            (0..num_envs).map(|_| if rng.next_u32() % 50 == 0 { 7 } else { rng.next_u32() & 1 }).collect();
        native.step(&actions, &mut buf, &mut safety);
        let device_actions = Tensor::<Flex, 1, Int>::from_data(
            TensorData::new(actions.iter().map(|&a| a as i32).collect(), [num_envs]),
            &device,
        );
        let out = gpu.step(device_actions);
        assert_eq!(flags(out.terminated), buf.terminated, "terminated at step {t}");
        assert_eq!(flags(out.truncated), buf.truncated, "truncated at step {t}");
        let rewards: Vec<f32> = out.rewards.into_data().to_vec().unwrap();
        assert_eq!(rewards, buf.rewards, "rewards at step {t}");
        assert_eq!(floats(out.obs), buf.obs, "observations at step {t}");
        let state: Vec<f64> = gpu.state().into_data().to_vec().unwrap();
        for i in 0..num_envs {
            let s = native.state(i);
            assert_eq!(state[i * 4..i * 4 + 4], [s.x, s.x_dot, s.theta, s.theta_dot], "f64 state, env {i}, step {t}");
        }
        let final_obs = floats(out.final_obs);
        for i in 0..num_envs {
            if buf.done(i) {
                assert_eq!(
                    final_obs[i * 4..i * 4 + 4],
                    buf.final_obs[i * 4..i * 4 + 4],
                    "final observation, env {i}, step {t}"
                );
            }
        }
        terminated += buf.terminated.iter().filter(|&&d| d).count();
        truncated += buf.truncated.iter().filter(|&&d| d).count();
    }
    (terminated, truncated)
}

#[test]
fn cartpole_on_the_device_matches_the_native_environment() {
    // 300 slots (more than one of the runner's 256-slot chunks), 2000 steps: about 600 000
    // env-steps and 27 000 episodes. The pole never passes π/4 before CartPole-v1 ends an
    // episode, so this exercises the polynomial sin/cos.
    let (terminated, truncated) = compare(CartPoleParams::default(), 300, 7, 2000);
    eprintln!("{terminated} episodes terminated");
    assert!(terminated > 10_000, "{terminated} terminations");
    assert_eq!(truncated, 0);
}

#[test]
fn wide_angles_use_the_library_sin_cos_on_both_sides() {
    // A pole allowed to swing to 1.5 rad: the sin/cos beyond π/4 is the library's.
    let params = CartPoleParams { theta_threshold_radians: 1.5, x_threshold: 20.0, ..CartPoleParams::default() };
    let (terminated, _) = compare(params, 64, 11, 600);
    assert!(terminated > 100, "{terminated} terminations");
}

#[test]
fn truncation_and_autoreset_match_too() {
    // A short limit, so that truncation (and its reset) happens often.
    let params = CartPoleParams { max_steps: 9, ..CartPoleParams::default() };
    let (terminated, truncated) = compare(params, 64, 3, 300);
    assert!(truncated > 500, "{truncated} truncations");
    assert!(terminated > 0);
}
