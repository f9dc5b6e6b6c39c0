//! CartPole stepped on the device as a tensor program (`sim_agents::device`), in env-steps per
//! second, at growing batch sizes: burn's CPU backend by default, burn's CUDA backend with the
//! `cuda` feature (where the sizes go up to 2^22). Each iteration steps the whole batch with a
//! fixed action tensor already on the device and waits for the device to finish.
//!
//! `cargo bench -p benches --bench device_stepping`
//! `cargo bench -p benches --features cuda --bench device_stepping` (on a GPU machine)

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_agents::device::cartpole::DeviceCartPole;
use sim_envs::CartPoleParams;

fn device_stepping<B: Backend>(c: &mut Criterion, name: &str, sizes: &[usize]) {
    let device = B::Device::default();
    let mut group = c.benchmark_group(format!("device_cartpole/{name}"));
    for &n in sizes {
        let mut env = DeviceCartPole::<B>::new(CartPoleParams::default(), n, 1, &device);
        let actions: Vec<i32> = (0..n).map(|i| ((i * 7919) >> 3 & 1) as i32).collect();
        let actions = Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [n]), &device);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                let out = env.step(actions.clone());
                B::sync(&device).expect("the device finishes");
                out
            })
        });
    }
    group.finish();
}

fn cpu(c: &mut Criterion) {
    device_stepping::<sim_agents::backend::Cpu>(c, "flex", &[4096, 65536]);
}

#[cfg(feature = "cuda")]
fn cuda(c: &mut Criterion) {
    device_stepping::<sim_agents::backend::Cuda>(c, "cuda", &[1 << 16, 1 << 18, 1 << 20, 1 << 22]);
}

#[cfg(not(feature = "cuda"))]
criterion_group!(benches, cpu);
#[cfg(feature = "cuda")]
criterion_group!(benches, cpu, cuda);
criterion_main!(benches);
