//! Experiments: what composes environments, policies and trainers into runs a researcher reads:
//! the `rollout`, `incentives`, `train` and `rome_repro` binaries, and their checksums, summaries, statistics,
//! plots and reports.
//!
//! The book (`docs/` in the repository) describes the experiment, its statistics and its
//! results (`docs/src/method/rome_repro.md`, `docs/src/results/`).
//!
//! # Allocator
//!
//! The binaries that train (`train`, `rome_repro`, `phase_diagram`, and the benches'
//! `throughput`) allocate through mimalloc. burn allocates every tensor of a PPO update afresh,
//! and glibc's malloc hands large freed blocks (a 4096 × 64 activation is 1 MiB) back to the
//! kernel only to fault them in and zero them again at the next operation: in a profile of PPO
//! on CartPole, page faults, zeroing and unmapping took about 15% of the time. mimalloc keeps
//! them. Side by side (`throughput ppo`, 2 cores), CartPole at 64×64 and 256×128 trained at
//! 1.4–1.9× the samples/s, with bit-identical weights: where memory comes from changes no
//! number. The solver's binary (`incentives`) and `rollout` keep the system allocator: the
//! exact solver builds its tables about 1.35× slower under mimalloc (pressure: 7.4–9.4 s against
//! 6.0–6.8 s, alternated).

mod checkout;
pub mod cli;
pub mod config;
pub mod describe;
pub mod device;
pub mod error;
pub mod incentives;
pub mod lock;
pub mod phase;
pub mod pretrain;
pub mod publish;
pub mod registry;
pub mod repro;
pub mod rollout;
pub mod signal;
pub mod slurm;
pub mod stats;
pub mod train;

// `environments!` names this crate by path in serde's attributes, here as in a user's crate.
extern crate self as experiments;

/// What [`environments!`] expands to needs, whichever crate invokes it.
#[doc(hidden)]
pub mod reexport {
    pub use serde;
    pub use sim_core;
}
