//! Steps a batch of environments under a fixed policy and prints returns, safety metrics, a
//! checksum of everything produced and the throughput. The command line is
//! `experiments::cli::rollout`, over the project's environments.
//!
//! `cargo run --release -p experiments --bin rollout -- --env toycloud --scenario incident
//! --policy random --seed 7 --envs 4096 --steps 1000`

use std::process::ExitCode;

use experiments::config::EnvConfig;

fn main() -> ExitCode {
    experiments::cli::rollout::main::<EnvConfig>(std::env::args_os())
}
