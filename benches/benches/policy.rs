//! The policy's host forward pass (actions, log-probabilities and values) at 64, 1024 and 4096
//! observations, and one PPO update (rollout and epochs) on a 2048×8 CartPole rollout, with the
//! hand-written CPU update and with burn's.
//!
//! `cargo bench -p benches --bench policy`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_agents::backend::{Cpu, CpuAutodiff};
use sim_agents::inference::{ActMode, ActOutput};
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::ppo::Kernel;
use sim_agents::{PpoConfig, Trainer};
use sim_core::env::Spaces;
use sim_core::rng::{StreamKey, domain};
use sim_envs::{CartPole, CartPoleParams};

fn inference(c: &mut Criterion) {
    // ToyCloud's shapes: 16 observations, 10 actions, 64x64 actor and critic.
    let spaces = Spaces { obs_dim: 16, num_actions: 10 };
    let key = StreamKey::derive(0, domain::INIT, 0);
    let model = ActorCritic::<Cpu>::init(spaces, &PolicyConfig::default(), &[0.0; 10], false, key, &Default::default());
    let policy = model.to_inference();
    let pool = rayon::ThreadPoolBuilder::new().build().expect("pool");
    let mut group = c.benchmark_group(format!("policy_forward/{}threads", pool.current_num_threads()));
    for n in [64usize, 1024, 4096] {
        let obs: Vec<f32> = (0..n * 16).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(0, domain::POLICY, i as u64)).collect();
        let mut out = ActOutput::new(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}"), |b| {
            pool.install(|| b.iter(|| policy.act(&obs, &keys, 0, ActMode::Sample, &mut out)))
        });
    }
    group.finish();
    // The critic alone, as a rollout values the observations after its last step.
    let mut group = c.benchmark_group(format!("policy_values/{}threads", pool.current_num_threads()));
    for n in [64usize, 1024, 4096] {
        let obs: Vec<f32> = (0..n * 16).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let mut values = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}"), |b| pool.install(|| b.iter(|| policy.values(&obs, &mut values))));
    }
    group.finish();
}

fn ppo_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("ppo_update");
    group.sample_size(10);
    group.throughput(Throughput::Elements(16384));
    // The hand-written CPU update (the default there) and burn's, side by side.
    for (name, kernel) in [("cartpole_2048x8", Kernel::Fused), ("cartpole_2048x8_burn", Kernel::Burn)] {
        // 8 environments x 2048 steps = 16384 samples; CleanRL's 4 minibatches x 4 epochs.
        let config =
            PpoConfig { num_envs: 8, num_steps: 2048, total_timesteps: 16384 * 1000, kernel, ..PpoConfig::default() };
        let mut trainer =
            Trainer::<CartPole, CpuAutodiff>::new(CartPoleParams::default(), config, 0, None, Default::default())
                .expect("valid");
        group.bench_function(name, |b| b.iter(|| trainer.train_update().expect("finite")));
    }
    group.finish();
}

criterion_group!(benches, inference, ppo_update);
criterion_main!(benches);
