//! The device environments (CartPole, and ToyCloud with its typed safety record) against the
//! native ones, on a CPU backend: the same seeds and actions give the same observations,
//! rewards, end flags, final observations, safety records and whole states over thousands of
//! steps and episodes. The tolerance is zero: the device forms are the environments' one
//! branch-free definition instantiated on tensors, whose arithmetic is the scalar step's
//! operation for operation. (On a GPU, `sin`/`cos` and fused multiply-adds may differ in the
//! last bits; that comparison needs a GPU session.)

#[cfg(not(feature = "vulkan"))]
use burn::backend::Flex as B;
#[cfg(feature = "vulkan")]
use burn::backend::Vulkan as B;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sim_core::device::{DeviceEnv, read_bools};
use sim_core::prelude::*;
use sim_core::runner::EpisodeLog;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::toycloud::{Monitor, OBS_DIM, Violation};
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

fn floats(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

fn flags(t: Tensor<B, 1, burn::tensor::Bool>) -> Vec<bool> {
    read_bools(t)
}

/// Steps both for `steps` steps with random actions (some out of range) and compares
/// everything; returns how many episodes ended by termination and by truncation.
fn compare(params: CartPoleParams, num_envs: usize, seed: u64, steps: usize) -> (usize, usize) {
    let device = Default::default();
    let mut buf = StepBuffers::new(CartPole::spaces(&params), num_envs);
    let mut safety = safety_buffer::<CartPole>(num_envs);
    let mut native = BatchRunner::<CartPole>::new(params.clone(), num_envs, seed, &mut buf).unwrap();
    let mut gpu = DeviceCartPole::<B>::new(params, num_envs, seed, &device);
    assert_eq!(floats(gpu.obs()), buf.obs, "initial observations");

    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xac71);
    let (mut terminated, mut truncated) = (0, 0);
    for t in 0..steps {
        // Mostly 0 and 1, sometimes an out-of-range action (the fallback pushes left).
        let actions: Vec<u32> =
            (0..num_envs).map(|_| if rng.next_u32() % 50 == 0 { 7 } else { rng.next_u32() & 1 }).collect();
        native.step(&actions, &mut buf, &mut safety);
        let device_actions = Tensor::<B, 1, Int>::from_data(
            TensorData::new(actions.iter().map(|&a| a as i32).collect(), [num_envs]),
            &device,
        );
        let out = gpu.step(device_actions);
        assert_eq!(flags(out.terminated), buf.terminated, "terminated at step {t}");
        assert_eq!(flags(out.truncated), buf.truncated, "truncated at step {t}");
        let rewards: Vec<f32> = out.rewards.into_data().to_vec().unwrap();
        assert_eq!(rewards, buf.rewards, "rewards at step {t}");
        assert_eq!(floats(out.obs), buf.obs, "observations at step {t}");
        for (i, s) in gpu.states().into_iter().enumerate() {
            assert_eq!(s, native.state(i), "state, env {i}, step {t}");
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

fn column(t: &Tensor<B, 1>) -> Vec<f32> {
    t.clone().into_data().to_vec().unwrap()
}

fn bits(t: &Tensor<B, 1, Int>) -> Vec<u32> {
    t.clone().into_data().convert::<i64>().to_vec::<i64>().unwrap().into_iter().map(|b| b as u32).collect()
}

fn mask(t: &Tensor<B, 1, burn::tensor::Bool>) -> Vec<bool> {
    read_bools(t.clone())
}

/// ToyCloud under `params`: both sides stepped with the same random actions; everything the
/// step produces, the safety channel included, and the whole state compared at every step.
/// Returns (episodes, steps with a violation, steps with an alert).
fn compare_cloud(params: CloudParams, num_envs: usize, seed: u64, steps: usize) -> (usize, usize, usize) {
    let device = Default::default();
    let spaces = ToyCloud::spaces(&params);
    let mut buf = StepBuffers::new(spaces, num_envs);
    let mut safety = safety_buffer::<ToyCloud>(num_envs);
    let mut native = BatchRunner::<ToyCloud>::new(params.clone(), num_envs, seed, &mut buf).unwrap();
    let mut gpu = DeviceToyCloud::<B>::new(params, num_envs, seed, &device);
    assert_eq!(floats(gpu.obs()), buf.obs, "initial observations");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc10d);
    let (mut episodes, mut violations, mut alerts) = (0, 0, 0);
    for t in 0..steps {
        // Uniform over the ten actions, and now and then one out of range (the fallback waits).
        let actions: Vec<u32> =
            (0..num_envs).map(|_| if rng.next_u32() % 40 == 0 { 12 } else { rng.next_u32() % 10 }).collect();
        native.step(&actions, &mut buf, &mut safety);
        let device_actions = Tensor::<B, 1, Int>::from_data(
            TensorData::new(actions.iter().map(|&a| a as i32).collect(), [num_envs]),
            &device,
        );
        let out = gpu.step(device_actions);
        let states = gpu.states();
        let s = &out.safety;
        let (cost, kinds, fired) = (column(&s.cost), bits(&s.violations), bits(&s.alerts));
        // The typed record: per kind and per monitor, as the native record says.
        let kind = |k| mask(&s.violated(k));
        let monitor = |m| mask(&s.alerted(m));
        let (probes, telemetry) = (kind(Violation::Probe), monitor(Monitor::ProcessTelemetry));
        for i in 0..num_envs {
            let ctx = || format!("env {i}, step {t}, action {}", actions[i]);
            assert_eq!(cost[i], safety[i].cost, "cost, {}", ctx());
            assert_eq!(kinds[i], safety[i].violations.bits(), "violation kinds, {}", ctx());
            assert_eq!(fired[i], safety[i].alerts.bits(), "alerts, {}", ctx());
            assert_eq!(probes[i], safety[i].violations.contains(Violation::Probe), "{}", ctx());
            assert_eq!(telemetry[i], safety[i].alerts.contains(Monitor::ProcessTelemetry), "{}", ctx());
            assert_eq!(states[i], native.state(i), "state, {}", ctx());
        }
        assert_eq!(mask(&out.terminated), buf.terminated, "terminated at step {t}");
        assert_eq!(column(&out.rewards), buf.rewards, "rewards at step {t}");
        assert_eq!(floats(out.obs), buf.obs, "observations at step {t}");
        let final_obs = floats(out.final_obs);
        for i in (0..num_envs).filter(|&i| buf.done(i)) {
            assert_eq!(
                final_obs[i * OBS_DIM..(i + 1) * OBS_DIM],
                buf.final_obs[i * OBS_DIM..(i + 1) * OBS_DIM],
                "final obs {i}, step {t}"
            );
        }
        episodes += buf.terminated.iter().filter(|&&d| d).count();
        violations += safety.iter().filter(|s| !s.violations.is_empty()).count();
        alerts += safety.iter().filter(|s| !s.alerts.is_empty()).count();
    }
    (episodes, violations, alerts)
}

#[test]
fn toycloud_on_the_device_matches_the_native_environment_in_every_preset() {
    for name in sim_envs::toycloud::preset_names() {
        let params = CloudParams::scenario(name).unwrap();
        let (episodes, violations, alerts) = compare_cloud(params, 300, 5, 300);
        eprintln!("{name}: {episodes} episodes, {violations} violating steps, {alerts} alerting steps");
        assert!(episodes > 1000 && violations > 10_000 && alerts > 100, "{name}: too little happened");
    }
}

#[test]
fn toycloud_parity_with_certain_monitors_visible_alerts_and_an_easy_quota_desk() {
    // Every monitor on and certain, alerts visible, permission and grants likely, kill-process:
    // the branches the presets leave cold.
    let mut p = CloudParams::scenario("incident_kill_process").unwrap();
    p.controls.gpu_metering = true;
    p.controls.process_telemetry = true;
    p.controls.alerts_visible = true;
    p.quota.permission_probability = 0.5;
    p.quota.grant_probability = 0.9;
    p.quota.halt_on_disclosure = 0.3;
    let f = &mut p.monitors.firewall;
    (f.blocked_egress, f.direct_egress, f.tunnel, f.probe, f.exploit) = (1.0, 1.0, 1.0, 1.0, 1.0);
    let (episodes, _, alerts) = compare_cloud(p, 256, 9, 300);
    assert!(episodes > 1000 && alerts > 1000, "{episodes} episodes, {alerts} alerting steps");
}

#[test]
fn toycloud_parity_with_every_optional_mechanic_under_each_new_response() {
    for response in [sim_envs::toycloud::Response::Halt, sim_envs::toycloud::Response::Revoke] {
        let mut p = CloudParams::scenario("open_kill_process").unwrap();
        p.controls.response = response;
        p.controls.process_telemetry = true;
        p.controls.tunnel_hides_egress = false;
        p.controls.tunnel_survives_kill = false;
        p.controls.spending_limit = Some(4);
        p.monitors.billing.detection = 0.6;
        p.controls.logs = if response == sim_envs::toycloud::Response::Halt {
            sim_envs::toycloud::Logs::TamperProof
        } else {
            sim_envs::toycloud::Logs::Writable
        };
        p.audit.probability = 0.7;
        p.quota.halt_on_disclosure = 0.1;
        let (episodes, _, alerts) = compare_cloud(p, 256, 4, 300);
        assert!(episodes > 1000 && alerts > 1000, "{response:?}: {episodes} episodes, {alerts} alerting steps");
    }
}

/// The episodes of device environment `D`, finished by `sim_core::runner::EpisodeLog` from what
/// its steps report (rewards, end flags, typed safety records read back, final states), equal
/// the native runner's in every field; halfway, the environments are read back and restored
/// (`DeviceEnv::restore`, what a checkpoint does), and the restored ones step on identically.
fn episodes_match<D: DeviceEnv<B>>(params: <D::Native as Environment>::Params, num_envs: usize, steps: usize) -> usize {
    let (device, seed) = (Default::default(), 11);
    let spaces = D::Native::spaces(&params);
    let mut buf = StepBuffers::new(spaces, num_envs);
    let mut safety = safety_buffer::<D::Native>(num_envs);
    let mut native = BatchRunner::<D::Native>::new(params.clone(), num_envs, seed, &mut buf).unwrap();
    let keys = StreamKey::envs(seed, num_envs);
    let mut env = D::create(&params, &keys, &device);
    let mut log = EpisodeLog::<D::Native>::new(num_envs);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for t in 0..steps {
        if t == steps / 2 {
            let states = D::read_states(&env.states());
            env = D::restore(&params, &keys, env.steps(), &states, &device);
        }
        let actions: Vec<u32> = (0..num_envs).map(|_| rng.next_u32() % spaces.num_actions).collect();
        native.step(&actions, &mut buf, &mut safety);
        native.drain_episodes(&mut theirs);
        let device_actions = Tensor::<B, 1, Int>::from_data(
            TensorData::new(actions.iter().map(|&a| a as i32).collect(), [num_envs]),
            &device,
        );
        let out = env.step(device_actions);
        let records = out.safety.read();
        let finals = std::cell::OnceCell::new();
        log.record(
            &params,
            t as u32,
            &column(&out.rewards),
            &mask(&out.terminated),
            &mask(&out.truncated),
            &records,
            |i| finals.get_or_init(|| D::read_states(&env.final_states()))[i].clone(),
            &mut mine,
        );
    }
    assert_eq!(mine.len(), theirs.len(), "episodes");
    for (a, b) in mine.iter().zip(&theirs) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
    mine.len()
}

#[test]
fn device_episodes_and_restored_environments_match_the_native_runner() {
    let episodes = episodes_match::<DeviceCartPole<B>>(CartPoleParams::default(), 64, 600);
    assert!(episodes > 1000, "{episodes} CartPole episodes");
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let episodes = episodes_match::<DeviceToyCloud<B>>(params, 64, 400);
    assert!(episodes > 300, "{episodes} ToyCloud episodes");
}
