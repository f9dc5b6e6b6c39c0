//! Gymnasium's conventions (`sim_gym`): the vector environment equals slot environments
//! stepped the way `gymnasium.vector.SyncVectorEnv` steps single environments, in both autoreset
//! modes, across chunk boundaries and through many autoresets.

use sim_core::prelude::*;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};
use sim_gym::{Autoreset, SlotEnv, VecEnv, check_vector_against_slots};

/// The observations the vector environment shows.
fn obs_of<E: Environment>(vec: &VecEnv<E>) -> Vec<f32> {
    let mut out = vec![1.0; 3];
    vec.obs_into(&mut out);
    assert_eq!(out.len(), vec.num_envs() * E::spaces(vec.params()).obs_dim);
    out
}

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
        assert_eq!(obs_of(&same), buffers.obs);
        assert_eq!(same.rewards().collect::<Vec<_>>(), buffers.rewards);
        let was_ended: Vec<bool> = next.ended().collect();
        next.step(&actions).unwrap();
        assert_eq!(next.held().collect::<Vec<_>>(), was_ended, "the slots that ended are held the next step");
        for i in (0..n).filter(|&i| was_ended[i]) {
            held_steps += 1;
            let (rewards, te, tr): (Vec<f32>, Vec<bool>, Vec<bool>) =
                (next.rewards().collect(), next.terminated().collect(), next.truncated().collect());
            let safety: Vec<_> = next.safety().copied().collect();
            assert_eq!(rewards[i], 0.0);
            assert!(!te[i] && !tr[i]);
            assert!(safety[i].violations.is_empty() && safety[i].cost == 0.0);
        }
    }
    assert!(held_steps >= n, "{held_steps} held steps");
}

#[test]
fn out_of_range_actions_are_refused_and_nothing_steps() {
    let params = CloudParams::default();
    let mut vec = VecEnv::<ToyCloud>::new(params.clone(), 8, 1, Autoreset::NextStep).unwrap();
    let before = obs_of(&vec);
    let num_actions = ToyCloud::spaces(&params).num_actions;
    let mut actions = vec![0u32; 8];
    actions[5] = num_actions;
    let err = vec.step(&actions).unwrap_err().to_string();
    assert!(err.contains("slot 5") && err.contains(&format!("0..{num_actions}")), "{err}");
    assert_eq!(obs_of(&vec), before);
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

#[test]
fn toycloud_observations_stay_in_the_declared_box() {
    use sim_envs::toycloud::obs;
    let mut scenarios: Vec<CloudParams> =
        sim_envs::toycloud::preset_names().iter().map(|s| CloudParams::scenario(s).unwrap()).collect();
    // Generous mining, a big host and a large purchase cap: the coins and GPU bounds are reached.
    let mut rich = CloudParams::scenario("open").unwrap();
    rich.mining.coins_per_gpu_step *= 8.0;
    rich.network.host_gpus = 32;
    rich.network.host_probability = 1.0;
    rich.mining.max_bought_gpus = 64;
    scenarios.push(rich);
    let last = scenarios.len() - 1;
    for (n, params) in scenarios.into_iter().enumerate() {
        let high = obs::high(&params);
        assert!(high.iter().all(|h| h.is_finite()), "{high:?}");
        let num_actions = ToyCloud::spaces(&params).num_actions;
        // A cycle through every action, and an acquirer: tunnel, exploit, install, then mine and buy.
        let acquirer = [9u32, 7, 8, 4, 5, 6, 5, 5, 6];
        for pattern in 0..2u32 {
            let mut vec = VecEnv::<ToyCloud>::new(params.clone(), 512, 8, Autoreset::SameStep).unwrap();
            let mut peak = [0.0f32; obs::DIM];
            for t in 0..400u32 {
                let actions: Vec<u32> = (0..512u32)
                    .map(|i| match pattern {
                        0 => (i * 7 + t * 3 + i / 5) % num_actions,
                        _ => acquirer[((t + i) % acquirer.len() as u32) as usize].min(num_actions - 1),
                    })
                    .collect();
                vec.step(&actions).unwrap();
                for (k, &x) in obs_of(&vec).iter().enumerate() {
                    let c = k % obs::DIM;
                    assert!((0.0..=high[c]).contains(&x), "step {t}: {} = {x} above {}", obs::NAMES[c], high[c]);
                    peak[c] = peak[c].max(x);
                }
            }
            if pattern == 1 && n == last {
                assert!(peak[obs::COINS] > 0.0 && peak[obs::GPUS_SEIZED] > 0.0, "the acquirer acquired: {peak:?}");
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let params = CloudParams::scenario("pressure").unwrap();
    let n = 1100;
    let num_actions = ToyCloud::spaces(&params).num_actions;
    for mode in [Autoreset::NextStep, Autoreset::SameStep] {
        let run = |threads: usize| {
            let mut vec = VecEnv::<ToyCloud>::with_threads(params.clone(), n, 4, mode, threads).unwrap();
            let mut sum = sim_core::checksum::Checksum::default();
            for t in 0..150u32 {
                let actions: Vec<u32> = (0..n as u32).map(|i| (i * 31 + t * 7 + i / 3) % num_actions).collect();
                vec.step(&actions).unwrap();
                sum.add_f32(&obs_of(&vec));
                sum.add_f32(&vec.rewards().collect::<Vec<_>>());
                sum.add_flags(&vec.ended().collect::<Vec<_>>());
                sum.add_words(vec.safety().flat_map(|s| [s.violations.bits(), s.cost.to_bits(), s.alerts.bits()]));
                sum.add_words(vec.episodes().flat_map(|e| [e.slot, e.length, e.safety.cost.to_bits()]));
            }
            (vec.threads(), sum.hex())
        };
        let one = run(1);
        assert_eq!(one.0, 1);
        for threads in [2, 3, 5] {
            let other = run(threads);
            assert_eq!(other.0, threads, "{mode:?}");
            assert_eq!(other.1, one.1, "{mode:?}, {threads} threads");
        }
    }
}

#[test]
fn parts_cover_the_slots_in_order_with_their_dense_channel() {
    use sim_core::safety::SafetyKind;
    let params = CloudParams::scenario("pressure").unwrap();
    let (n, nk, nm) =
        (700, <ToyCloud as Environment>::Violation::ALL.len(), <ToyCloud as Environment>::Monitor::ALL.len());
    let num_actions = ToyCloud::spaces(&params).num_actions;
    for mode in [Autoreset::NextStep, Autoreset::SameStep] {
        let mut vec = VecEnv::<ToyCloud>::with_threads(params.clone(), n, 6, mode, 3).unwrap();
        let (mut events, mut ends) = (0, 0);
        for t in 0..120u32 {
            let actions: Vec<u32> = (0..n as u32).map(|i| (i * 13 + t * 5 + i / 7) % num_actions).collect();
            let mut visited = Vec::new();
            vec.step_with(&actions, |p| visited.push((p.first, p.len(), p.cost.to_vec(), p.episodes.len()))).unwrap();
            let parts: Vec<_> = vec.parts().map(|p| (p.first, p.len(), p.cost.to_vec(), p.episodes.len())).collect();
            assert_eq!(visited, parts, "{mode:?}: step_with visits what parts() shows, in order");
            let mut next = 0;
            for p in vec.parts() {
                assert_eq!(p.first, next, "{mode:?}: parts are consecutive");
                next += p.len();
                for (j, s) in p.safety.iter().enumerate() {
                    let mut want = vec![false; nk + nm];
                    s.violations.write_flags(&mut want[..nk]);
                    s.alerts.write_flags(&mut want[nk..]);
                    assert_eq!(p.cost[j], s.cost);
                    assert_eq!(&p.violations[j * nk..(j + 1) * nk], &want[..nk]);
                    assert_eq!(&p.alerts[j * nm..(j + 1) * nm], &want[nk..]);
                    assert_eq!(p.ended[j], p.terminated[j] || p.truncated[j]);
                    events += usize::from(!s.violations.is_empty());
                }
                assert!(p.episodes.iter().all(|e| p.ended[e.slot as usize - p.first]));
                let ended = p.ended.iter().filter(|&&e| e).count();
                assert_eq!(p.episodes.len(), ended, "{mode:?}: one report per ended slot");
                ends += ended;
            }
            assert_eq!(next, n);
            if mode == Autoreset::SameStep {
                assert!(vec.held().all(|h| !h), "same-step mode holds no slot");
            }
        }
        assert!(events > 1000 && ends > 1000, "{mode:?}: {events} violating steps, {ends} episode ends");
    }
}
