//! The device loop (`Trainer::on_device`: CartPole as a tensor program, the policy and sampling
//! on the device, the rollout read back, the PPO update with burn on the device) on burn's
//! Vulkan backend (feature `vulkan`, SPIR-V through
//! wgpu), on whatever Vulkan driver the machine has: Mesa's lavapipe runs it on the CPU. It is
//! compared with the same loop on the CPU backend, update by update.
//!
//! The first rollout comes from identical weights, so it must be the same episodes; after that
//! the two backends' updates may differ in the last bits (other summation orders and fused
//! multiply-adds in the SPIR-V kernels). On lavapipe (Mesa 22.3.6) the three updates gave the
//! same episodes and returns, value losses equal to 1e-7, and weights within 6e-8 of each other;
//! the tolerances below are those figures with a margin.

use sim_agents::backend::{CpuAutodiff, Vulkan};
use sim_agents::ppo::Kernel;
use sim_agents::{PpoConfig, Trainer};
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::{CartPole, CartPoleParams};

type Cpu = sim_agents::backend::Cpu;

#[test]
fn the_device_loop_on_vulkan_follows_the_cpu_backend() {
    let params = CartPoleParams::default();
    // burn's update on both sides (on the CPU backend the default is the hand-written one).
    let config = PpoConfig { total_timesteps: 4 * 128 * 3, kernel: Kernel::Burn, ..PpoConfig::default() };
    let mut cpu = Trainer::<CartPole, CpuAutodiff>::on_device::<DeviceCartPole<Cpu>>(
        params.clone(),
        config.clone(),
        3,
        None,
        Default::default(),
    )
    .unwrap();
    let mut vk = Trainer::<CartPole, burn::backend::Autodiff<Vulkan>>::on_device::<DeviceCartPole<Vulkan>>(
        params,
        config,
        3,
        None,
        Default::default(),
    )
    .unwrap();
    for update in 1..=3 {
        let (a, b) = (cpu.train_update().unwrap().metrics, vk.train_update().unwrap().metrics);
        eprintln!(
            "update {update}: episodes {} / {}, return {:?} / {:?}, value loss {} / {}",
            a.episodes, b.episodes, a.episodic_return, b.episodic_return, a.value_loss, b.value_loss
        );
        if update == 1 {
            assert_eq!(a.episodes, b.episodes, "the first rollout's episodes");
            assert_eq!(a.episodic_return, b.episodic_return, "the first rollout's returns");
        }
        assert!((a.value_loss - b.value_loss).abs() <= 1e-5 * a.value_loss.abs().max(1.0), "update {update}");
    }
    let worst = largest_difference(&cpu, &vk);
    eprintln!("largest weight difference after 3 updates: {worst:e}");
    assert!(worst < 1e-6, "weights differ by {worst}");
}

type VulkanAutodiff = burn::backend::Autodiff<Vulkan>;

/// The largest difference between two trainers' actor and critic weights.
fn largest_difference<A: sim_agents::backend::TrainBackend, B: sim_agents::backend::TrainBackend>(
    a: &Trainer<CartPole, A>,
    b: &Trainer<CartPole, B>,
) -> f32 {
    let (aa, ac, _) = a.model().to_dense();
    let (ba, bc, _) = b.model().to_dense();
    let mut worst = 0.0f32;
    for (x, y) in [(&aa, &ba), (&ac, &bc)] {
        for (lx, ly) in x.layers.iter().zip(&y.layers) {
            for (p, q) in lx.weight.iter().chain(&lx.bias).zip(ly.weight.iter().chain(&ly.bias)) {
                worst = worst.max((p - q).abs());
            }
        }
    }
    worst
}

/// A population of two runs on Vulkan (`sim_agents::population`: one batch of device
/// environments, one stacked forward pass with `[R, in, out]` weights) against each run alone on
/// Vulkan: the same first-rollout episodes, and after three updates weights within the tolerance
/// above (the batched matrix product is another kernel than the unbatched one, so bit equality is
/// not promised off the CPU backend).
#[test]
fn a_population_on_vulkan_follows_its_runs_alone() {
    let config = PpoConfig { total_timesteps: 4 * 128 * 3, kernel: Kernel::Burn, ..PpoConfig::default() };
    population_follows_runs_alone(Kernel::Burn, &[(config.clone(), 3), (config, 4)]);
}

/// The batched update (`Kernel::Batched`: both runs' networks as one `[R, in, out]` model, one
/// forward, backward and Adam step for the two) on Vulkan against burn's per-run update of each
/// run alone on Vulkan, the runs with different learning rates and entropy bonuses: the same
/// first-rollout episodes, and after three updates weights within the tolerance above (on
/// lavapipe they differed by 1.5e-8 and 6e-8).
#[test]
fn a_batched_population_on_vulkan_follows_burns_update_of_its_runs_alone() {
    let base = PpoConfig { total_timesteps: 4 * 128 * 3, ..PpoConfig::default() };
    population_follows_runs_alone(
        Kernel::Batched,
        &[(base.clone(), 3), (PpoConfig { learning_rate: 1e-3, ent_coef: 0.05, ..base }, 4)],
    );
}

/// The runs `configs` (config, seed) trained three updates as one population on `kernel` and
/// each alone on burn's update, all on Vulkan: the same first-rollout episodes, value losses
/// within 1e-5, weights within 1e-6.
fn population_follows_runs_alone(kernel: Kernel, configs: &[(PpoConfig, u64)]) {
    use sim_agents::population::{Population, Run};
    let params = CartPoleParams::default();
    let runs = configs.iter().map(|(c, s)| Run::new(PpoConfig { kernel, ..c.clone() }, *s)).collect();
    let mut pop =
        Population::<VulkanAutodiff, DeviceCartPole<Vulkan>>::new(params.clone(), runs, Default::default()).unwrap();
    let mut alone: Vec<Trainer<CartPole, VulkanAutodiff>> = configs
        .iter()
        .map(|(c, seed)| {
            let config = PpoConfig { kernel: Kernel::Burn, ..c.clone() };
            Trainer::on_device::<DeviceCartPole<Vulkan>>(params.clone(), config, *seed, None, Default::default())
                .unwrap()
        })
        .collect();
    for update in 1..=3 {
        let reports = pop.train_update().unwrap();
        for (r, (report, t)) in reports.iter().zip(&mut alone).enumerate() {
            let want = t.train_update().unwrap().metrics;
            let got = &report.metrics;
            eprintln!("run {r}, update {update}: value loss {} / {}", got.value_loss, want.value_loss);
            if update == 1 {
                assert_eq!((got.episodes, got.episodic_return), (want.episodes, want.episodic_return), "run {r}");
            }
            assert!((got.value_loss - want.value_loss).abs() <= 1e-5 * want.value_loss.abs().max(1.0), "run {r}");
        }
    }
    for (r, t) in alone.iter().enumerate() {
        let worst = largest_difference(&pop.runs()[r], t);
        eprintln!("run {r}: largest weight difference after 3 updates: {worst:e}");
        assert!(worst < 1e-6, "run {r}: weights differ by {worst}");
    }
}
