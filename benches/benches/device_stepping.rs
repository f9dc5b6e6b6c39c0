//! CartPole and ToyCloud stepped on the device as tensor programs (`sim_core::device`), in
//! env-steps per second, at growing batch sizes: burn's CPU backend by default, burn's CUDA backend with the
//! `cuda` feature (where the sizes go up to 2^22). Each stepping iteration steps the whole batch
//! with a fixed action tensor already on the device and waits for the device to finish. Each
//! rollout iteration collects an 8-step ToyCloud rollout on the device with a 64×64 policy
//! (forward pass, sampling, stepping, bootstrapping; then the read-back to the host and the
//! episodes finished there: `sim_agents::source::DeviceSource`). Each PPO iteration is one
//! whole update of `Trainer::on_device` (rollout, GAE, four epochs of four minibatches), in
//! samples per second.
//!
//! `cargo bench -p benches --bench device_stepping`
//! `cargo bench -p benches --features cuda --bench device_stepping` (on a GPU machine)

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_agents::backend::TrainBackend;
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::rollout::Rollout;
use sim_agents::source::{Acting, DeviceSource, RolloutSource};
use sim_agents::{PpoConfig, Trainer};
use sim_core::device::DeviceEnv;
use sim_core::env::Environment;
use sim_core::rng::{StreamKey, domain};
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPoleParams, CloudParams, ToyCloud};

/// One benchmark group: `make(n)` builds a batch of `n` environments, `step` steps it.
fn group<B: Backend, E, T>(
    c: &mut Criterion,
    name: String,
    sizes: &[usize],
    num_actions: usize,
    make: impl Fn(usize) -> E,
    step: impl Fn(&mut E, Tensor<B, 1, Int>) -> T,
) {
    let device = B::Device::default();
    let mut group = c.benchmark_group(name);
    for &n in sizes {
        let mut env = make(n);
        let a = benches::spread_actions::<B>(n, num_actions, &device);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                let out = step(&mut env, a.clone());
                B::sync(&device).expect("the device finishes");
                out
            })
        });
    }
    group.finish();
}

fn device_stepping<B: Backend>(c: &mut Criterion, name: &str, sizes: &[usize]) {
    let device = B::Device::default();
    group::<B, _, _>(
        c,
        format!("device_cartpole/{name}"),
        sizes,
        2,
        |n| DeviceCartPole::<B>::new(CartPoleParams::default(), n, 1, &device),
        |env, a| env.step(a),
    );
    group::<B, _, _>(
        c,
        format!("device_toycloud/{name}"),
        sizes,
        10,
        |n| DeviceToyCloud::<B>::new(CloudParams::default(), n, 1, &device),
        |env, a| env.step(a),
    );
}

/// Steps per rollout in the rollout benchmark.
const ROLLOUT_STEPS: usize = 8;

fn device_rollout<B: TrainBackend>(c: &mut Criterion, name: &str, sizes: &[usize]) {
    let device = B::Device::default();
    let params = CloudParams::default();
    let spaces = ToyCloud::spaces(&params);
    let zeros = vec![0.0; spaces.num_actions as usize];
    let key = StreamKey::derive(1, domain::INIT, 0);
    let model = ActorCritic::<B>::init(spaces, &PolicyConfig::default(), &zeros, false, key, &device);
    let policy = model.to_inference();
    let acting = Acting { policy: &policy, model: &model, mask: None, gamma: 0.99 };
    let mut group = c.benchmark_group(format!("device_rollout_toycloud/{name}"));
    for &n in sizes {
        let mut source = DeviceSource::<B, DeviceToyCloud<B::InnerBackend>>::new(params.clone(), n, 1, device.clone());
        let mut rollout = Rollout::<ToyCloud>::new(ROLLOUT_STEPS, n, spaces.obs_dim);
        let (mut values, mut cost_values) = (vec![0.0; n], vec![0.0; n]);
        group.throughput(Throughput::Elements((n * ROLLOUT_STEPS) as u64));
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| source.collect(&acting, &mut rollout, &mut values, &mut cost_values))
        });
    }
    group.finish();
}

/// One PPO update per iteration on the device loop, `envs` environments × `steps` steps.
fn device_ppo<B: TrainBackend, D: DeviceEnv<B::InnerBackend> + 'static>(
    c: &mut Criterion,
    name: String,
    params: &<D::Native as Environment>::Params,
    runs: &[(usize, usize)],
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for &(envs, steps) in runs {
        // Enough updates that the learning rate never anneals to zero within the benchmark.
        let total = (envs * steps * 1000) as u64;
        let config = PpoConfig { num_envs: envs, num_steps: steps, total_timesteps: total, ..PpoConfig::default() };
        let mut trainer =
            Trainer::<D::Native, B>::on_device::<D>(params.clone(), config, 1, None, B::Device::default())
                .expect("valid config");
        group.throughput(Throughput::Elements((envs * steps) as u64));
        group.bench_function(format!("{envs}x{steps}"), |b| b.iter(|| trainer.train_update().expect("finite")));
    }
    group.finish();
}

fn cpu(c: &mut Criterion) {
    device_stepping::<sim_agents::backend::Cpu>(c, "flex", &[4096, 65536]);
    device_rollout::<sim_agents::backend::CpuAutodiff>(c, "flex", &[4096]);
    type Ad = sim_agents::backend::CpuAutodiff;
    type Inner = sim_agents::backend::Cpu;
    device_ppo::<Ad, DeviceCartPole<Inner>>(
        c,
        "device_ppo_cartpole/flex".into(),
        &CartPoleParams::default(),
        &[(64, 32)],
    );
}

#[cfg(feature = "cuda")]
fn cuda(c: &mut Criterion) {
    let sizes = [1 << 16, 1 << 18, 1 << 20, 1 << 22];
    device_stepping::<sim_agents::backend::Cuda>(c, "cuda", &sizes);
    device_rollout::<burn::backend::Autodiff<sim_agents::backend::Cuda>>(c, "cuda", &sizes);
    type Ad = burn::backend::Autodiff<sim_agents::backend::Cuda>;
    type Inner = sim_agents::backend::Cuda;
    let runs = [(1 << 12, 128), (1 << 14, 128), (1 << 16, 128)];
    device_ppo::<Ad, DeviceCartPole<Inner>>(c, "device_ppo_cartpole/cuda".into(), &CartPoleParams::default(), &runs);
    device_ppo::<Ad, DeviceToyCloud<Inner>>(c, "device_ppo_toycloud/cuda".into(), &CloudParams::default(), &runs);
}

#[cfg(not(feature = "cuda"))]
criterion_group!(benches, cpu);
#[cfg(feature = "cuda")]
criterion_group!(benches, cpu, cuda);
criterion_main!(benches);
