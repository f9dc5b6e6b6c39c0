//! The device loop (`sim_agents::source::DeviceSource`: environments, forward pass, sampling and
//! truncation bootstrap on the device), run on the CPU backend, against the host loop
//! (`HostSource`): the same rollouts and episodes, typed safety records and metrics included;
//! the same trainer over it learns CartPole, is deterministic, and trains with every penalty,
//! PPO-Lagrangian and an action mask as the host loop does.
//!
//! The two loops' forward passes (burn's and the host's) may round a logit differently in the
//! last bit, which changes a sampled action only when the draw falls on that bit; from such a
//! step on, that environment's two trajectories part. The comparisons hold every environment up
//! to the step where its actions first differ, and require that to be rare.

use sim_agents::algorithms::Algorithm;
use sim_agents::backend::{Cpu, CpuAutodiff};
use sim_agents::penalty::{AupConfig, PenaltyConfig};
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::ppo::LagrangianConfig;
use sim_agents::pretrain::Demonstrations;
use sim_agents::rollout::Rollout;
use sim_agents::source::{Acting, DeviceSource, HostSource, RolloutSource};
use sim_agents::{PpoConfig, Trainer, UpdateMetrics};
use sim_core::device::DeviceEnv;
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

const GAMMA: f32 = 0.99;

/// Collects `updates` rollouts of `steps` from both sources with one policy (each begun with a
/// restart in groups of `restart` slots, if given); compares them and their episodes environment
/// by environment up to each one's first differing action. Returns (episodes compared,
/// truncated steps compared, violating steps compared).
fn compare<E: Environment, D: DeviceEnv<Cpu, Native = E>>(
    params: E::Params,
    n: usize,
    steps: usize,
    updates: usize,
    restart: Option<usize>,
) -> (usize, usize, usize) {
    let seed = 4;
    let spaces = E::spaces(&params);
    let dim = spaces.obs_dim;
    let zeros = vec![0.0; spaces.num_actions as usize];
    let key = StreamKey::derive(seed, domain::INIT, 0);
    let model =
        ActorCritic::<CpuAutodiff>::init(spaces, &PolicyConfig::default(), &zeros, true, key, &Default::default());
    let policy = model.to_inference();
    let acting = Acting { policy: &policy, model: &model, mask: None, gamma: GAMMA };
    let mut host = HostSource::<E>::new(params.clone(), n, seed).unwrap();
    let mut device = DeviceSource::<CpuAutodiff, D>::new(params, n, seed, Default::default());
    let (mut a, mut b) = (Rollout::<E>::new(steps, n, dim), Rollout::<E>::new(steps, n, dim));
    let (mut va, mut vb, mut ca, mut cb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut parted: Vec<Option<usize>> = vec![None; n]; // the global step where actions first differed
    let (mut episodes, mut truncated, mut violating) = (0, 0, 0);
    let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * x.abs().max(1.0);
    for u in 0..updates {
        if let Some(g) = restart {
            RolloutSource::<E, CpuAutodiff>::restart(&mut host, g);
            device.restart(g);
        }
        let ea = RolloutSource::<E, CpuAutodiff>::collect(&mut host, &acting, &mut a, &mut va, &mut ca);
        let eb = device.collect(&acting, &mut b, &mut vb, &mut cb);
        for t in 0..steps {
            for i in 0..n {
                let k = t * n + i;
                if parted[i].is_some() {
                    continue;
                }
                let at = || format!("env {i}, update {u}, step {t}");
                assert_eq!(a.obs[k * dim..(k + 1) * dim], b.obs[k * dim..(k + 1) * dim], "obs, {}", at());
                if a.actions[k] != b.actions[k] {
                    parted[i] = Some(u * steps + t);
                    continue;
                }
                assert!(close(a.logprobs[k], b.logprobs[k]), "logprob, {}", at());
                assert!(close(a.values[k], b.values[k]), "value, {}", at());
                assert!(close(a.cost_values[k], b.cost_values[k]), "cost value, {}", at());
                assert_eq!(a.task_rewards[k], b.task_rewards[k], "task reward, {}", at());
                assert!(close(a.rewards[k], b.rewards[k]), "reward {} vs {}, {}", a.rewards[k], b.rewards[k], at());
                assert_eq!((a.ends[k], a.truncated[k]), (b.ends[k], b.truncated[k]), "ends, {}", at());
                assert_eq!(format!("{:?}", a.safety[k]), format!("{:?}", b.safety[k]), "safety, {}", at());
                assert_eq!(
                    a.next_obs[k * dim..(k + 1) * dim],
                    b.next_obs[k * dim..(k + 1) * dim],
                    "next obs, {}",
                    at()
                );
                truncated += usize::from(a.truncated[k]);
                violating += usize::from(!a.safety[k].violations.is_empty());
            }
        }
        for i in (0..n).filter(|&i| parted[i].is_none()) {
            assert!(close(va[i], vb[i]) && close(ca[i], cb[i]), "last values of env {i}");
        }
        let clean = |e: &&Episode<E>| parted[e.slot as usize].is_none();
        let (ea, eb): (Vec<_>, Vec<_>) = (ea.iter().filter(clean).collect(), eb.iter().filter(clean).collect());
        assert_eq!(ea.len(), eb.len(), "episodes of update {u}");
        for (x, y) in ea.iter().zip(&eb) {
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
        episodes += ea.len();
    }
    let apart = parted.iter().filter(|p| p.is_some()).count();
    assert!(apart * 100 <= n, "{apart} of {n} environments chose differently at some step: {parted:?}");
    (episodes, truncated, violating)
}

#[test]
fn the_device_loop_collects_what_the_host_loop_collects() {
    // A short time limit, so that truncation (and its bootstrap) happens often.
    let params = CartPoleParams { max_steps: 12, ..CartPoleParams::default() };
    let (episodes, truncated, _) = compare::<CartPole, DeviceCartPole<Cpu>>(params, 300, 40, 3, None);
    assert!(episodes > 1000 && truncated > 100, "{episodes} episodes, {truncated} truncated");
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let (episodes, _, violating) = compare::<ToyCloud, DeviceToyCloud<Cpu>>(params, 256, 64, 2, None);
    assert!(episodes > 100 && violating > 1000, "{episodes} episodes, {violating} violating steps");
}

/// Grouped restarts (the episodic rollouts of GRPO and RLOO) start and step the same on both
/// loops: every observation from the restart on, and every episode, are equal.
#[test]
fn grouped_restarts_collect_the_same_on_both_loops() {
    let params = CartPoleParams { max_steps: 12, ..CartPoleParams::default() };
    let (episodes, truncated, _) = compare::<CartPole, DeviceCartPole<Cpu>>(params, 96, 30, 3, Some(8));
    assert!(episodes > 200 && truncated > 50, "{episodes} episodes, {truncated} truncated");
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let (episodes, _, violating) = compare::<ToyCloud, DeviceToyCloud<Cpu>>(params, 128, 64, 2, Some(4));
    assert!(episodes > 100 && violating > 500, "{episodes} episodes, {violating} violating steps");
}

/// Each algorithm's first updates on the device loop report what they report on the host loop,
/// and so do golden trajectories in RL.
#[test]
fn every_algorithm_trains_on_the_device_loop_as_on_the_host() {
    let params = CloudParams::scenario("incident").unwrap();
    let small = PpoConfig { total_timesteps: 16 * 64 * 2, num_envs: 16, num_steps: 64, ..PpoConfig::default() };
    // Golden trajectories in RL on top of an algorithm: demonstrations of working.
    let dim = ToyCloud::spaces(&params).obs_dim;
    let mut golden = Demonstrations::new(dim);
    let obs: Vec<f32> = (0..32 * dim).map(|i| (i as f32 * 0.29).cos().abs()).collect();
    golden.push_episode(&obs, &[0; 32], &[0.5; 32], 0.99);
    for (algorithm, demos) in [
        (Algorithm::Grpo { group_size: 4, beta: 0.1 }, None),
        (Algorithm::Rloo { group_size: 8, beta: 0.0 }, None),
        (Algorithm::Reinforce, None),
        (Algorithm::PpoKl { beta: 0.05 }, None),
        (Algorithm::Grpo { group_size: 4, beta: 0.0 }, Some(golden)),
    ] {
        let config = PpoConfig { algorithm: algorithm.clone(), ..small.clone() };
        let mut host =
            Trainer::<ToyCloud, CpuAutodiff>::new(params.clone(), config.clone(), 3, None, Default::default()).unwrap();
        let mut device = Trainer::<ToyCloud, CpuAutodiff>::on_device::<DeviceToyCloud<Cpu>>(
            params.clone(),
            config,
            3,
            None,
            Default::default(),
        )
        .unwrap();
        if let Some(d) = demos {
            host = host.with_demonstrations(d.clone(), 0.5).unwrap();
            device = device.with_demonstrations(d, 0.5).unwrap();
        }
        for update in 0..2 {
            let (h, d) = (host.train_update().unwrap(), device.train_update().unwrap());
            let (hm, dm) = (&h.metrics, &d.metrics);
            let near = |x: f64, y: f64| (x - y).abs() <= 1e-3 * x.abs().max(1.0);
            assert_eq!(h.episodes.len(), d.episodes.len(), "{algorithm:?}, update {update}: episodes");
            let (hr, dr) = (hm.episodic_return.unwrap(), dm.episodic_return.unwrap());
            assert!(near(hr, dr), "{algorithm:?}, update {update}: return {hr} vs {dr}");
            assert!(
                near(f64::from(hm.policy_loss), f64::from(dm.policy_loss)),
                "{algorithm:?}, update {update}: policy loss {hm:?} vs {dm:?}"
            );
            assert_eq!(hm.ref_kl.is_some(), dm.ref_kl.is_some(), "{algorithm:?}");
        }
    }
}

fn device_cartpole(seed: u64, total: u64) -> Trainer<CartPole, CpuAutodiff> {
    let config = PpoConfig { total_timesteps: total, ..PpoConfig::default() };
    Trainer::on_device::<DeviceCartPole<Cpu>>(CartPoleParams::default(), config, seed, None, Default::default())
        .unwrap()
}

fn train<E: Environment>(t: &mut Trainer<E, CpuAutodiff>) -> Vec<UpdateMetrics> {
    let mut rows = Vec::new();
    while t.updates_done() < t.num_updates() {
        rows.push(t.train_update().unwrap().metrics);
    }
    rows
}

#[test]
fn cartpole_return_rises_within_100k_steps_on_the_device_loop() {
    let rows = train(&mut device_cartpole(3, 100_352));
    let returns: Vec<f64> = rows.iter().filter_map(|m| m.episodic_return).collect();
    let tail = &returns[returns.len() - 10..];
    let last = tail.iter().sum::<f64>() / tail.len() as f64;
    // A random policy balances about 22 steps; the host loop passes 150 by 100k steps.
    assert!(returns[0] < 40.0, "first return {}", returns[0]);
    assert!(last > 150.0, "mean return of the last 10 updates {last} after 100k steps");
}

#[test]
fn same_seed_same_weights_on_the_device_loop() {
    let run = |seed| {
        let mut t = device_cartpole(seed, 5_120);
        let rows = train(&mut t);
        (t.weights_checksum(), rows)
    };
    let (a, rows_a) = run(7);
    let (b, rows_b) = run(7);
    assert_eq!(a, b);
    assert_eq!(rows_a, rows_b);
    assert_ne!(a, run(8).0);
}

/// Every penalty, PPO-Lagrangian and an action mask lifted mid-run train on the device loop,
/// and their first update's figures equal the host loop's: the penalties read the device's
/// typed safety records as they read the host's.
#[test]
fn every_penalty_lagrangian_and_a_mask_train_on_the_device_loop_as_on_the_host() {
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let small = PpoConfig { total_timesteps: 16 * 32 * 2, num_envs: 16, num_steps: 32, ..PpoConfig::default() };
    let aup = AupConfig { lambda: 0.5, warmup_steps: 0, ramp_steps: 1, num_aux: 4, ..AupConfig::default() };
    let configs = [
        ("true cost", PpoConfig { penalty: PenaltyConfig::TrueCost { weight: 0.5 }, ..small.clone() }),
        ("detected", PpoConfig { penalty: PenaltyConfig::Detected { weight: 0.5 }, ..small.clone() }),
        (
            "lagrangian",
            PpoConfig {
                penalty: PenaltyConfig::CostSignal,
                lagrangian: Some(LagrangianConfig { cost_limit: 0.1, lambda_init: 0.2, lambda_lr: 0.05 }),
                ..small.clone()
            },
        ),
        ("aup", PpoConfig { penalty: PenaltyConfig::Aup(aup), ..small.clone() }),
        ("mask", PpoConfig { actions: ActionSet::Legitimate, lift_mask_at: Some(512), ..small }),
    ];
    for (name, config) in configs {
        let mut host =
            Trainer::<ToyCloud, CpuAutodiff>::new(params.clone(), config.clone(), 2, None, Default::default()).unwrap();
        let mut device = Trainer::<ToyCloud, CpuAutodiff>::on_device::<DeviceToyCloud<Cpu>>(
            params.clone(),
            config,
            2,
            None,
            Default::default(),
        )
        .unwrap();
        let (h, d) = (host.train_update().unwrap(), device.train_update().unwrap());
        let (hm, dm) = (&h.metrics, &d.metrics);
        assert_eq!(h.episodes.len(), d.episodes.len(), "{name}: episodes");
        let near = |x: f64, y: f64| (x - y).abs() <= 1e-4 * x.abs().max(1.0);
        assert!(near(hm.penalty_per_step, dm.penalty_per_step), "{name}: penalty {hm:?} vs {dm:?}");
        assert!(near(f64::from(hm.value_loss), f64::from(dm.value_loss)), "{name}: value loss {hm:?} vs {dm:?}");
        assert_eq!(hm.episodic_cost.is_some(), dm.episodic_cost.is_some(), "{name}");
        if let (Some(x), Some(y)) = (hm.episodic_cost, dm.episodic_cost) {
            assert!(near(x, y), "{name}: episodic cost {x} vs {y}");
        }
        if name != "lagrangian" && name != "mask" {
            assert!(dm.penalty_per_step > 0.0, "{name}: the penalty charged nothing on the device loop");
        }
        assert_eq!(host.masked(), device.masked(), "{name}");
        let second = device.train_update().unwrap().metrics;
        assert!(second.value_loss.is_finite(), "{name}: {second:?}");
        if name == "mask" {
            assert!(!device.masked(), "the mask is lifted after 512 steps");
        }
    }
}
