//! PPO with the whole loop on the device (`sim_agents::ppo::device::DeviceTrainer`), run on the
//! CPU backend: it learns CartPole at small scale, the same seed gives the same weights and
//! metrics, and configurations it cannot honour are refused by name.

use sim_agents::backend::CpuAutodiff;
use sim_agents::penalty::PenaltyConfig;
use sim_agents::ppo::device::DeviceTrainer;
use sim_agents::{PpoConfig, TrainError};
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPoleParams, CloudParams};

type Cpu = sim_agents::backend::Cpu;
type CartPoleTrainer = DeviceTrainer<CpuAutodiff, DeviceCartPole<Cpu>>;

fn trainer(seed: u64, total: u64) -> CartPoleTrainer {
    let config = PpoConfig { total_timesteps: total, ..PpoConfig::default() };
    DeviceTrainer::new(&CartPoleParams::default(), config, seed, Default::default()).unwrap()
}

#[test]
fn cartpole_return_rises_within_100k_steps_on_the_device_loop() {
    let mut t = trainer(3, 100_352);
    let (mut first, mut last) = (None, Vec::new());
    while t.updates_done() < t.num_updates() {
        let m = t.train_update().unwrap();
        first = first.or(m.episodic_return);
        last.extend(m.episodic_return);
    }
    let first = first.unwrap();
    let tail = &last[last.len() - 10..];
    let last = tail.iter().sum::<f64>() / tail.len() as f64;
    // A random policy balances about 22 steps; the host trainer passes 150 by 100k steps.
    assert!(first < 40.0, "first return {first}");
    assert!(last > 150.0, "mean return of the last 10 updates {last} after 100k steps");
}

#[test]
fn same_seed_same_weights_on_the_device_loop() {
    let run = |seed| {
        let mut t = trainer(seed, 5_120);
        let mut rows = Vec::new();
        while t.updates_done() < t.num_updates() {
            let mut m = t.train_update().unwrap();
            (m.sps, m.rollout_seconds, m.optimize_seconds) = (0.0, 0.0, 0.0); // wall-clock
            rows.push(m);
        }
        (t.weights_checksum(), rows)
    };
    let (a, rows_a) = run(7);
    let (b, rows_b) = run(7);
    assert_eq!(a, b);
    assert_eq!(rows_a, rows_b);
    assert_ne!(a, run(8).0);
}

#[test]
fn toycloud_trains_with_the_true_cost_penalty_and_refuses_what_it_cannot_do() {
    let params = CloudParams::default();
    let config = PpoConfig {
        total_timesteps: 4 * 128 * 2,
        penalty: PenaltyConfig::TrueCost { weight: 0.3 },
        ..PpoConfig::default()
    };
    let mut t =
        DeviceTrainer::<CpuAutodiff, DeviceToyCloud<Cpu>>::new(&params, config.clone(), 1, Default::default()).unwrap();
    let m = t.train_update().unwrap();
    assert!(m.value_loss.is_finite() && m.episodes > 0, "{m:?}");

    let lagrangian =
        PpoConfig { lagrangian: Some(Default::default()), penalty: PenaltyConfig::CostSignal, ..config.clone() };
    let err = DeviceTrainer::<CpuAutodiff, DeviceToyCloud<Cpu>>::new(&params, lagrangian, 1, Default::default())
        .err()
        .expect("refused");
    assert!(matches!(err, TrainError::Unsupported { .. }) && err.to_string().contains("PPO-Lagrangian"), "{err}");
    let detected = PpoConfig { penalty: PenaltyConfig::Detected { weight: 0.1 }, ..config };
    let err = DeviceTrainer::<CpuAutodiff, DeviceToyCloud<Cpu>>::new(&params, detected, 1, Default::default())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("Detected"), "{err}");
}
