//! Steps a batch of environments under a fixed policy and prints returns, safety metrics, a
//! checksum of everything produced and the throughput.
//!
//! `cargo run --release -p experiments --bin rollout -- --env toycloud --scenario incident
//! --policy random --seed 7 --envs 4096 --steps 1000`

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use experiments::describe::Describe;
use experiments::error::CliError;
use experiments::rollout::{random_policy, rollout, summary};
use sim_core::env::Environment;
use sim_core::params::load_ron;
use sim_envs::scripted::ScriptedPolicy;
use sim_envs::toycloud::scripts::{CloudScript, Strategy};
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Env {
    /// ToyCloud: the incident's mechanism.
    Toycloud,
    /// CartPole-v1.
    Cartpole,
}

/// Batched rollout of a random or scripted policy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Environment.
    #[arg(long, value_enum, default_value = "toycloud")]
    env: Env,
    /// Scenario: a preset name (toycloud: incident, open, hardened, ...; cartpole: default) or
    /// the path of a RON parameter file.
    #[arg(long, default_value = "default")]
    scenario: String,
    /// Policy: `random`, or a scripted strategy (toycloud: honest_work, honest_quota,
    /// honest_ask, greedy_miner, tunnel_then_mine, prober_exploiter, acquirer).
    #[arg(long, default_value = "random")]
    policy: String,
    /// Seed of every stream of the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of environments stepped together.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    envs: u32,
    /// Steps of the batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), CliError> {
    match args.env {
        Env::Toycloud => {
            let name = if args.scenario == "default" { "incident" } else { &args.scenario };
            let params = CloudParams::scenario(name)?;
            let script;
            let random = random_policy::<ToyCloud>(&params);
            let policy: &dyn ScriptedPolicy = match args.policy.as_str() {
                "random" => &random,
                other => {
                    let strategy = Strategy::from_name(other).ok_or_else(|| unknown_policy(other, true))?;
                    script = CloudScript::new(strategy, &params);
                    &script
                }
            };
            report::<ToyCloud>(args, name, &params, policy)
        }
        Env::Cartpole => {
            let params = match args.scenario.as_str() {
                "default" | "cartpole-v1" => CartPoleParams::default(),
                path if std::path::Path::new(path).is_file() => load_ron(std::path::Path::new(path))?,
                other => {
                    return Err(
                        format!("unknown scenario `{other}` for cartpole: use `default` or a RON file path").into()
                    );
                }
            };
            if args.policy != "random" {
                return Err(unknown_policy(&args.policy, false).into());
            }
            report::<CartPole>(args, &args.scenario, &params, &random_policy::<CartPole>(&params))
        }
    }
}

fn unknown_policy(name: &str, toycloud: bool) -> String {
    let mut known = vec!["random"];
    if toycloud {
        known.extend(Strategy::ALL.iter().map(|s| s.name()));
    }
    format!("unknown policy `{name}`; known: {}", known.join(", "))
}

fn report<E: Environment + Describe>(
    args: &Args,
    scenario: &str,
    params: &E::Params,
    policy: &dyn ScriptedPolicy,
) -> Result<(), CliError> {
    // Run inside a rayon pool so that this thread steps as a worker (no job injection per step).
    let pool = rayon::ThreadPoolBuilder::new().build()?;
    let report = pool.install(|| rollout::<E>(params, policy, args.envs as usize, args.steps, args.seed, true))?;
    println!(
        "env: {}  scenario: {scenario}  policy: {}  seed: {}  envs: {}  steps: {}  threads: {}",
        E::NAME,
        policy.name(),
        args.seed,
        args.envs,
        args.steps,
        pool.current_num_threads()
    );
    for line in summary(&report) {
        println!("{line}");
    }
    println!("checksum: {}", report.checksum.hex());
    println!("env-steps/s: {:.0}", report.env_steps as f64 / report.seconds);
    Ok(())
}
