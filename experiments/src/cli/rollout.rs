//! The `rollout` command: steps a batch of environments under a fixed policy and prints returns,
//! safety metrics, a checksum of everything produced and the throughput.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, FromArgMatches, Parser};
use sim_envs::scripted::ScriptedPolicy;

use super::fail;
use crate::error::CliError;
use crate::registry::{Registered, Registry, WithEnv, scenario_name};
use crate::rollout::{random_policy, rollout, summary};

/// Batched rollout of a random or scripted policy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Environment.
    #[arg(long, default_value = "toycloud")]
    env: String,
    /// Scenario: a preset name (toycloud: incident, open, hardened, ...; cartpole: default) or
    /// the path of a RON parameter file; `default` is the environment's default.
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

/// Parses `args` (the program's name first), runs the rollout, prints its report and returns
/// the exit status: `rollout` over the environments of the list `R` (`--env` takes their names).
pub fn main<R: Registry>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let command = Args::command().mut_arg("env", |a| a.value_parser(PossibleValuesParser::new(R::names())));
    let args = match command.try_get_matches_from(args).and_then(|m| Args::from_arg_matches(&m)) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    match run::<R>(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn run<R: Registry>(args: &Args) -> Result<(), CliError> {
    R::named(&args.env, &args.scenario)?.visit(Report(args))?
}

/// The rollout of `args` on the environment they name, reported on stdout.
struct Report<'a>(&'a Args);

impl WithEnv for Report<'_> {
    type Output = Result<(), CliError>;
    fn run<E: Registered>(self, params: E::Params) -> Self::Output {
        let args = self.0;
        let scenario = scenario_name::<E>(&args.scenario);
        let random = random_policy::<E>(&params);
        let script;
        let policy: &dyn ScriptedPolicy = match args.policy.as_str() {
            "random" => &random,
            name => {
                script = E::script(name, &params).ok_or_else(|| {
                    let known = ["random"].into_iter().chain(E::scripts()).collect::<Vec<_>>().join(", ");
                    format!("unknown policy `{name}`; known: {known}")
                })?;
                script.as_ref()
            }
        };
        // Run inside a rayon pool so that this thread steps as a worker (no job injection per step).
        let pool = rayon::ThreadPoolBuilder::new().build()?;
        let report = pool.install(|| rollout::<E>(&params, policy, args.envs as usize, args.steps, args.seed, true))?;
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
}
