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
    let (ca, cc, _) = cpu.model().to_dense();
    let (va, vc, _) = vk.model().to_dense();
    let mut worst = 0.0f32;
    for (x, y) in [(&ca, &va), (&cc, &vc)] {
        for (lx, ly) in x.layers.iter().zip(&y.layers) {
            for (p, q) in lx.weight.iter().chain(&lx.bias).zip(ly.weight.iter().chain(&ly.bias)) {
                worst = worst.max((p - q).abs());
            }
        }
    }
    eprintln!("largest weight difference after 3 updates: {worst:e}");
    assert!(worst < 1e-6, "weights differ by {worst}");
}
