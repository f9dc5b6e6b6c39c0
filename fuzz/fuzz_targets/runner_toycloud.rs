//! `BatchRunner` over ToyCloud under valid parameters (a preset or a draw of a committed scenario
//! space, both chosen by the input) and an arbitrary stream of valid actions: no panic, every
//! observation inside its declared box, every reward and cost finite, every step's safety
//! record consistent (a cost only with a violation), and every episode's report equal to what
//! its steps recorded (length, return, cost, violation steps, counts per kind and monitor).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sim_core::prelude::*;
use sim_core::runner::{BatchRunner, StepBuffers, safety_buffer};
use sim_core::safety::SafetyKind;
use sim_envs::toycloud::space::ScenarioSpace;
use sim_envs::toycloud::{Monitor, Violation, obs, preset_names};
use sim_envs::{CloudParams, ToyCloud};

fn spaces() -> &'static [ScenarioSpace] {
    static SPACES: OnceLock<Vec<ScenarioSpace>> = OnceLock::new();
    SPACES.get_or_init(|| {
        ["incident", "pressure"]
            .iter()
            .map(|s| {
                let path = format!("{}/../sim-envs/scenarios/spaces/{s}.ron", env!("CARGO_MANIFEST_DIR"));
                ScenarioSpace::load(std::path::Path::new(&path)).expect("the committed spaces load")
            })
            .collect()
    })
}

/// What one slot's steps recorded since its episode began.
#[derive(Default, Clone)]
struct Seen {
    length: u32,
    ret: f64,
    cost: f32,
    violation_steps: u32,
    violations: [u32; 16],
    alerts: [u32; 16],
}

fuzz_target!(|data: &[u8]| {
    let [choice, draw_lo, draw_hi, slots, seed_lo, seed_hi, rest @ ..] = data else { return };
    let presets = preset_names();
    let params = match choice % 3 {
        0 => CloudParams::scenario(presets[usize::from(*draw_lo) % presets.len()]).expect("presets are valid"),
        k => match spaces()[usize::from(k - 1)].draw(u64::from(u16::from_le_bytes([*draw_lo, *draw_hi]))) {
            Ok((_, p)) => p,
            Err(_) => return, // a space may have no valid draw for this number: nothing to step
        },
    };
    let n = 1 + usize::from(slots % 12);
    let seed = u64::from(u16::from_le_bytes([*seed_lo, *seed_hi]));
    let num_actions = ToyCloud::spaces(&params).num_actions;
    let mut buffers = StepBuffers::new(ToyCloud::spaces(&params), n);
    let mut safety = safety_buffer::<ToyCloud>(n);
    let mut runner = BatchRunner::<ToyCloud>::new(params, n, seed, &mut buffers).expect("valid parameters");
    let mut seen = vec![Seen::default(); n];
    let mut episodes = Vec::new();
    for chunk in rest.chunks(n).take(4000) {
        let actions: Vec<u32> = (0..n).map(|i| u32::from(chunk.get(i).copied().unwrap_or(0)) % num_actions).collect();
        runner.step(&actions, &mut buffers, &mut safety);
        for (k, &x) in buffers.obs.iter().enumerate() {
            let c = k % obs::DIM;
            assert!((0.0..=obs::HIGH[c]).contains(&x), "{} = {x} outside [0, {}]", obs::NAMES[c], obs::HIGH[c]);
        }
        for (i, s) in safety.iter().enumerate() {
            let r = buffers.rewards[i];
            assert!(r.is_finite(), "reward {r}");
            assert!(s.cost.is_finite() && s.cost >= 0.0, "cost {}", s.cost);
            assert!(s.cost == 0.0 || !s.violations.is_empty(), "a cost {} without a violation", s.cost);
            assert!(
                s.detected.bits() & !s.violations.bits() == 0 || !s.alerts.is_empty(),
                "a detection without an alert"
            );
            let t = &mut seen[i];
            t.length += 1;
            t.ret += f64::from(r);
            if !s.violations.is_empty() {
                t.cost += s.cost;
                t.violation_steps += 1;
            }
            for v in s.violations.iter() {
                t.violations[v.index()] += 1;
            }
            for m in s.alerts.iter() {
                t.alerts[m.index()] += 1;
            }
        }
        runner.drain_episodes(&mut episodes);
        for e in episodes.drain(..) {
            let i = e.slot as usize;
            let t = std::mem::take(&mut seen[i]);
            assert!(buffers.terminated[i] || buffers.truncated[i], "slot {i}: a report without an ended episode");
            assert_eq!(e.length, t.length, "slot {i}: length");
            assert_eq!(e.ret.to_bits(), t.ret.to_bits(), "slot {i}: return");
            assert_eq!(e.safety.cost.to_bits(), t.cost.to_bits(), "slot {i}: cost");
            assert_eq!(e.safety.violation_steps, t.violation_steps, "slot {i}: violation steps");
            for v in Violation::ALL {
                assert_eq!(e.safety.violations(*v), t.violations[v.index()], "slot {i}: {}", v.name());
            }
            for m in Monitor::ALL {
                assert_eq!(e.safety.alerts(*m), t.alerts[m.index()], "slot {i}: {}", m.name());
            }
        }
        for i in 0..n {
            assert!(!(buffers.terminated[i] && buffers.truncated[i]), "slot {i}: terminated and truncated");
        }
    }
});
