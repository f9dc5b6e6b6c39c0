//! Shared set-up for the criterion benchmarks in `benches/`: a ready batch of environments with
//! pre-drawn random actions, as the Python peers time theirs.

use sim_core::prelude::*;
use sim_core::rng::domain;

/// A batch of `E` with its buffers and 64 pre-drawn sets of uniformly random actions.
pub struct SteppingBench<E: Environment> {
    runner: BatchRunner<E>,
    buffers: StepBuffers,
    safety: SafetyBuffer<E>,
    actions: Vec<Vec<u32>>,
    episodes: Vec<Episode<E>>,
    t: usize,
}

impl<E: Environment> SteppingBench<E> {
    /// `envs` slots of `E` under `params`, warmed up by 100 steps.
    pub fn new(params: E::Params, envs: usize) -> Self {
        let spaces = E::spaces(&params);
        let mut buffers = StepBuffers::new(spaces, envs);
        let runner = BatchRunner::<E>::new(params, envs, 0, &mut buffers).expect("valid parameters");
        let actions = (0..64)
            .map(|t| {
                let draws = Draws::new(StreamKey::derive(0, domain::POLICY, 0), t);
                (0..envs as u32).map(|i| draws.below(i, spaces.num_actions)).collect()
            })
            .collect();
        let mut bench =
            SteppingBench { runner, buffers, safety: safety_buffer::<E>(envs), actions, episodes: Vec::new(), t: 0 };
        for _ in 0..100 {
            bench.step();
        }
        bench
    }

    /// One batched step (finished episodes are drained every 64 steps, as a trainer would).
    pub fn step(&mut self) {
        self.runner.step(&self.actions[self.t % 64], &mut self.buffers, &mut self.safety);
        self.t += 1;
        if self.t.is_multiple_of(64) {
            self.episodes.clear();
            self.runner.drain_episodes(&mut self.episodes);
        }
    }
}

/// `n` actions spread uniformly below `num_actions`, as a tensor on `device`: what the device
/// stepping benchmarks (criterion's `device_stepping`, the `throughput` binary) step with.
pub fn spread_actions<B: burn::tensor::backend::Backend>(
    n: usize,
    num_actions: usize,
    device: &B::Device,
) -> burn::tensor::Tensor<B, 1, burn::tensor::Int> {
    let a: Vec<i32> = (0..n).map(|i| ((i.wrapping_mul(7919) >> 3) % num_actions) as i32).collect();
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(a, [n]), device)
}
