//! Gymnasium's conventions (`sim_core::gym`): the vector environment equals slot environments
//! stepped the way `gymnasium.vector.SyncVectorEnv` steps single environments, in both autoreset
//! modes, across chunk boundaries and through many autoresets.

use sim_core::gym::{Autoreset, SlotEnv, VecEnv, check_vector_against_slots};
use sim_core::prelude::*;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

#[test]
fn toycloud_vector_equals_its_slots_in_both_modes() {
    for scenario in ["incident", "pressure", "hardened"] {
        let params = CloudParams::scenario(scenario).unwrap();
        for mode in [Autoreset::NextStep, Autoreset::SameStep] {
            let episodes = check_vector_against_slots::<ToyCloud>(&params, 300, 120, 5, mode)
                .unwrap_or_else(|e| panic!("{scenario}, {mode:?}: {e}"));
            assert!(episodes >= 600, "{scenario}, {mode:?}: only {episodes} episodes");
        }
    }
}

#[test]
fn cartpole_vector_equals_its_slots_in_both_modes() {
    let params = CartPoleParams::default();
    for mode in [Autoreset::NextStep, Autoreset::SameStep] {
        let episodes = check_vector_against_slots::<CartPole>(&params, 260, 300, 9, mode).unwrap();
        assert!(episodes >= 260, "{mode:?}: only {episodes} episodes");
    }
}

#[test]
fn same_step_mode_is_the_runner_and_next_step_mode_holds_ended_slots() {
    let params = CloudParams::default();
    let n = 64;
    let mut buffers = StepBuffers::new(ToyCloud::spaces(&params), n);
    let mut safety = safety_buffer::<ToyCloud>(n);
    let mut runner = BatchRunner::<ToyCloud>::new(params.clone(), n, 3, &mut buffers).unwrap();
    let mut same = VecEnv::<ToyCloud>::new(params.clone(), n, 3, Autoreset::SameStep).unwrap();
    let mut next = VecEnv::<ToyCloud>::new(params.clone(), n, 3, Autoreset::NextStep).unwrap();
    let mut held_steps = 0;
    for t in 0..90u32 {
        let actions: Vec<u32> = (0..n as u32).map(|i| (i + t) % 4).collect();
        runner.step(&actions, &mut buffers, &mut safety);
        same.step(&actions).unwrap();
        assert_eq!(same.obs(), &buffers.obs[..]);
        assert_eq!(same.rewards(), &buffers.rewards[..]);
        let was_ended = next.ended().to_vec();
        next.step(&actions).unwrap();
        assert_eq!(next.held(), &was_ended[..], "the slots that ended are held the next step");
        for i in (0..n).filter(|&i| was_ended[i]) {
            held_steps += 1;
            assert_eq!(next.rewards()[i], 0.0);
            assert!(!next.terminated()[i] && !next.truncated()[i]);
            assert!(next.safety()[i].violations.is_empty() && next.safety()[i].cost == 0.0);
        }
    }
    assert!(held_steps >= n, "{held_steps} held steps");
}

#[test]
fn out_of_range_actions_are_refused_and_nothing_steps() {
    let params = CloudParams::default();
    let mut vec = VecEnv::<ToyCloud>::new(params.clone(), 8, 1, Autoreset::NextStep).unwrap();
    let before = vec.obs().to_vec();
    let num_actions = ToyCloud::spaces(&params).num_actions;
    let mut actions = vec![0u32; 8];
    actions[5] = num_actions;
    let err = vec.step(&actions).unwrap_err().to_string();
    assert!(err.contains("slot 5") && err.contains(&format!("0..{num_actions}")), "{err}");
    assert_eq!(vec.obs(), &before[..]);
    let mut slot = SlotEnv::<ToyCloud>::new(params, 5, 1, Autoreset::NextStep).unwrap();
    let err = slot.step(num_actions + 3).unwrap_err().to_string();
    assert!(err.contains(&format!("action {}", num_actions + 3)), "{err}");
}

#[test]
fn a_slot_that_ended_must_be_reset() {
    let params = CartPoleParams::default();
    let mut slot = SlotEnv::<CartPole>::new(params, 0, 2, Autoreset::NextStep).unwrap();
    while !slot.step(1).map(|t| t.terminated || t.truncated).unwrap() {}
    assert!(slot.episode().is_some());
    assert_eq!(slot.step(1).unwrap_err().to_string(), "the episode has ended: call reset() before stepping again");
    slot.reset(None);
    assert!(slot.episode().is_none());
    slot.step(1).unwrap();
}
