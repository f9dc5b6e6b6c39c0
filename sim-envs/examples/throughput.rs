//! Prints env-steps per second of batched stepping: `cargo run --release -p sim-envs --example
//! throughput -- <cartpole|toycloud> <num_envs> <steps>`. Actions are drawn up front, as the
//! Python peers do.

use sim_core::prelude::*;
use sim_envs::{CartPole, ToyCloud};
use std::time::Instant;

fn run<E: Environment>(params: E::Params, n: usize, steps: usize) {
    let spaces = E::spaces(&params);
    let mut buf = StepBuffers::new(spaces, n);
    let mut safety = safety_buffer::<E>(n);
    let mut runner = BatchRunner::<E>::new(params, n, 0, &mut buf).expect("valid parameters");
    let actions: Vec<Vec<u32>> = (0..64)
        .map(|t| (0..n).map(|i| Draws::new(StreamKey([t, 1]), i as u32).below(0, spaces.num_actions)).collect())
        .collect();
    let mut episodes = Vec::new();
    for t in 0..steps.min(100) {
        runner.step(&actions[t % 64], &mut buf, &mut safety);
    }
    let start = Instant::now();
    for t in 0..steps {
        runner.step(&actions[t % 64], &mut buf, &mut safety);
        if t % 64 == 0 {
            episodes.clear();
            runner.drain_episodes(&mut episodes);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} envs={n} threads={} {:.1} M env-steps/s",
        E::NAME,
        rayon::current_num_threads(),
        (n * steps) as f64 / secs / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let env = args.get(1).map(String::as_str).unwrap_or("cartpole");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let steps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    // Stepping from inside the pool makes this thread a worker: no job injection per step.
    let pool = rayon::ThreadPoolBuilder::new().build().expect("thread pool");
    pool.install(|| match env {
        "cartpole" => run::<CartPole>(Default::default(), n, steps),
        "toycloud" => run::<ToyCloud>(Default::default(), n, steps),
        other => eprintln!("unknown environment {other}"),
    })
}
