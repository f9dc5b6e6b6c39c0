//! A run resumed from a checkpoint continues exactly: same metrics, same final weights, as the
//! uninterrupted run (including PPO-Lagrangian's cost critic, its optimiser and the multiplier's
//! Adam state, and AUP's Q network, target network and schedule), on either update kernel and
//! on either loop (the device loop's environments and running episodes travel in the
//! checkpoint too).

use sim_agents::backend::CpuAutodiff;
use sim_agents::penalty::{AupConfig, PenaltyConfig};
use sim_agents::ppo::{Kernel, LagrangianConfig};
use sim_agents::{PpoConfig, TrainError, Trainer, UpdateMetrics};
use sim_core::env::Environment;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPole, CloudParams, ToyCloud};

type Cpu = sim_agents::backend::Cpu;

/// Makes a trainer of one loop: `(params, config, seed)`.
type Make<E> = dyn Fn(<E as Environment>::Params, PpoConfig, u64) -> Result<Trainer<E, CpuAutodiff>, TrainError>;

fn host<E: Environment>(
    params: E::Params,
    config: PpoConfig,
    seed: u64,
) -> Result<Trainer<E, CpuAutodiff>, TrainError> {
    Trainer::new(params, config, seed, None, Default::default())
}

fn metrics<E: Environment>(t: &mut Trainer<E, CpuAutodiff>, until: usize) -> Vec<UpdateMetrics> {
    let mut rows = Vec::new();
    while t.updates_done() < until {
        rows.push(t.train_update().unwrap().metrics);
    }
    rows
}

fn check<E: Environment>(tag: &str, params: E::Params, config: PpoConfig, split: usize) {
    check_on::<E>(tag, params, config, split, &host::<E>)
}

fn check_on<E: Environment>(tag: &str, params: E::Params, config: PpoConfig, split: usize, make: &Make<E>) {
    let total = config.num_updates();
    let mut straight = make(params.clone(), config.clone(), 5).unwrap();
    let all = metrics(&mut straight, total);

    let dir = std::env::temp_dir().join(format!("resume-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.bin");
    let mut first = make(params.clone(), config.clone(), 5).unwrap();
    let mut rows = metrics(&mut first, split);
    first.save_checkpoint(&path).unwrap();
    drop(first); // as if the process had died here
    let mut other = config.clone();
    other.learning_rate *= 2.0;
    for (config, seed) in [(&other, 5), (&config, 6)] {
        let refused = make(params.clone(), config.clone(), seed).unwrap().continue_from(&path);
        let message = refused.err().expect("another configuration or seed is refused").to_string();
        assert!(message.contains("another configuration or seed"), "{message}");
    }
    let mut resumed = make(params, config, 5).unwrap().continue_from(&path).unwrap();
    assert_eq!(resumed.updates_done(), split);
    rows.extend(metrics(&mut resumed, total));
    assert_eq!(rows, all, "{}: metrics after resume differ", E::NAME);
    assert_eq!(resumed.weights_checksum(), straight.weights_checksum());
    assert_eq!(resumed.final_return(), straight.final_return());
    // What the penalty measured of itself too (AUP's goal diversity is measured once, on the
    // run's first rollout, and must not be measured again after the resume).
    assert_eq!(resumed.penalty_diagnostics(), straight.penalty_diagnostics());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cartpole_resumes_exactly() {
    let config = PpoConfig { total_timesteps: 512 * 9, ..PpoConfig::default() };
    check::<CartPole>("cartpole", Default::default(), config, 4);
}

#[test]
fn cartpole_on_burns_update_resumes_exactly() {
    let config = PpoConfig { total_timesteps: 512 * 9, kernel: Kernel::Burn, ..PpoConfig::default() };
    check::<CartPole>("cartpole_burn", Default::default(), config, 4);
}

#[test]
fn toycloud_with_ppo_lagrangian_resumes_exactly() {
    let config = PpoConfig {
        total_timesteps: 16 * 32 * 8,
        num_envs: 16,
        num_steps: 32,
        penalty: PenaltyConfig::CostSignal,
        lagrangian: Some(LagrangianConfig { cost_limit: 0.5, lambda_init: 0.1, lambda_lr: 0.05 }),
        ..PpoConfig::default()
    };
    check::<ToyCloud>("lagrangian", CloudParams::default(), config, 3);
}

#[test]
fn toycloud_with_aup_resumes_exactly() {
    let config = PpoConfig {
        total_timesteps: 16 * 32 * 7,
        num_envs: 16,
        num_steps: 32,
        penalty: PenaltyConfig::Aup(aup()),
        ..PpoConfig::default()
    };
    check::<ToyCloud>("aup", CloudParams::default(), config, 3);
}

/// AUP biting from the second rollout (512 steps each), its target network refreshed every
/// second fit, so that a split after 3 updates falls between two refreshes.
fn aup() -> AupConfig {
    AupConfig { lambda: 0.5, warmup_steps: 512, ramp_steps: 1024, target_period: 2, num_aux: 6, ..AupConfig::default() }
}

#[test]
fn the_device_loop_resumes_exactly_with_truncation_lagrangian_and_aup() {
    // CartPole with a short time limit: truncated episodes are bootstrapped on the device, and
    // episodes run across the split.
    let device_cartpole = |p, c, s| Trainer::on_device::<DeviceCartPole<Cpu>>(p, c, s, None, Default::default());
    let params = sim_envs::CartPoleParams { max_steps: 40, ..Default::default() };
    let config = PpoConfig { total_timesteps: 16 * 32 * 6, num_envs: 16, num_steps: 32, ..PpoConfig::default() };
    check_on::<CartPole>("device_cartpole", params, config, 3, &device_cartpole);

    let device_cloud = |p, c, s| Trainer::on_device::<DeviceToyCloud<Cpu>>(p, c, s, None, Default::default());
    let small = PpoConfig { total_timesteps: 16 * 32 * 6, num_envs: 16, num_steps: 32, ..PpoConfig::default() };
    let lagrangian = PpoConfig {
        penalty: PenaltyConfig::CostSignal,
        lagrangian: Some(LagrangianConfig { cost_limit: 0.5, lambda_init: 0.1, lambda_lr: 0.05 }),
        kernel: Kernel::Burn,
        ..small.clone()
    };
    check_on::<ToyCloud>("device_lagrangian", CloudParams::default(), lagrangian, 3, &device_cloud);
    let aup = PpoConfig { penalty: PenaltyConfig::Aup(aup()), ..small };
    check_on::<ToyCloud>("device_aup", CloudParams::default(), aup, 3, &device_cloud);
}

/// A checkpoint holds the environments of the loop that wrote it: the other loop refuses it
/// by name.
#[test]
fn a_checkpoint_continues_only_on_its_own_loop() {
    let config = PpoConfig { total_timesteps: 16 * 32 * 2, num_envs: 16, num_steps: 32, ..PpoConfig::default() };
    let dir = std::env::temp_dir().join(format!("resume-loops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.bin");
    let mut t = host::<CartPole>(Default::default(), config.clone(), 5).unwrap();
    t.train_update().unwrap();
    t.save_checkpoint(&path).unwrap();
    let device = Trainer::<CartPole, CpuAutodiff>::on_device::<DeviceCartPole<Cpu>>(
        Default::default(),
        config,
        5,
        None,
        Default::default(),
    )
    .unwrap();
    let message = device.continue_from(&path).err().expect("refused").to_string();
    assert!(message.contains("host loop's environments, not the device loop's"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression (found by the `checkpoint` fuzz target): burn's binary record reader panics on
/// damaged bytes instead of returning an error, so a checkpoint with one byte of its model
/// section changed brought the process down. The checkpoint's checksum now refuses it first,
/// naming the file.
#[test]
fn a_damaged_model_section_is_an_error_not_a_panic_in_burn() {
    let config = PpoConfig { total_timesteps: 512 * 2, ..PpoConfig::default() };
    let dir = std::env::temp_dir().join(format!("resume-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.bin");
    let mut trainer =
        Trainer::<CartPole, CpuAutodiff>::new(Default::default(), config.clone(), 5, None, Default::default()).unwrap();
    trainer.train_update().unwrap();
    trainer.save_checkpoint(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    // The header line, the section count and the model section's length, then its first bytes.
    let model_starts = good.iter().position(|&b| b == b'\n').unwrap() + 1 + 16;
    for at in [model_starts, model_starts + 3, good.len() / 2, good.len() - 1] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x5a;
        std::fs::write(&path, &damaged).unwrap();
        let refused =
            Trainer::<CartPole, CpuAutodiff>::resume(&path, Default::default(), &config, 5, None, Default::default());
        let message = refused.err().expect("a damaged checkpoint is refused").to_string();
        assert!(message.contains("checkpoint.bin") && message.contains("damaged"), "byte {at}: {message}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
