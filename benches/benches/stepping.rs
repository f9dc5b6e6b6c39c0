//! Batched stepping throughput in env-steps per second, uniformly random actions.
//!
//! `cargo bench -p benches --bench stepping`; `RAYON_NUM_THREADS=1` for the per-core figure.

use benches::SteppingBench;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_core::env::Environment;
use sim_envs::{CartPole, CloudParams, ToyCloud};

fn stepping<E: Environment>(c: &mut Criterion, params: E::Params, sizes: &[usize]) {
    let pool = rayon::ThreadPoolBuilder::new().build().expect("thread pool");
    let mut group = c.benchmark_group(format!("{}/{}threads", E::NAME, pool.current_num_threads()));
    for &envs in sizes {
        group.throughput(Throughput::Elements(envs as u64));
        let mut bench = SteppingBench::<E>::new(params.clone(), envs);
        // Step from inside the pool, as the binaries do: the calling thread is a worker.
        group.bench_function(format!("{envs}"), |b| pool.install(|| b.iter(|| bench.step())));
    }
    group.finish();
}

fn cartpole(c: &mut Criterion) {
    stepping::<CartPole>(c, Default::default(), &[1, 64, 1024, 4096]);
}

fn toycloud(c: &mut Criterion) {
    stepping::<ToyCloud>(c, CloudParams::default(), &[1, 64, 1024, 4096, 65536]);
}

criterion_group!(benches, cartpole, toycloud);
criterion_main!(benches);
