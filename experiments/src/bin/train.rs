//! Trains a PPO agent and writes a run directory: resolved config, per-update metrics CSV
//! (CleanRL's names), checkpoints. Ends by printing `final_return`, `sps` and
//! `weights_checksum`. The command line is `experiments::cli::train`, over the project's
//! environments.
//!
//! `cargo run --release -p experiments --bin train -- --config experiments/configs/cartpole_ppo.ron --seed 1 --out runs/cp1`
//! `cargo run --release -p experiments --bin train -- --resume runs/cp1`
//! `cargo run --release -p experiments --bin train -- --config experiments/configs/cartpole_ppo.ron --loop device --device cuda`

use std::process::ExitCode;

use experiments::config::EnvConfig;

/// mimalloc: see "Allocator" in the `experiments` crate's documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    experiments::cli::train::main::<EnvConfig>(std::env::args_os())
}
