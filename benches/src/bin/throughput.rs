//! Throughput as CSV on standard output, on the CPU or on a GPU: what `benches/gpu/run.sh` runs
//! there, and what the book's benchmarks page and benches/README.md quote here.
//!
//! - `throughput stepping`: CartPole and ToyCloud stepped on the device as tensor programs
//!   (`sim_envs::{cartpole, toycloud}::device`), env-steps per second per batch size; each step
//!   takes a fixed action tensor already on the device and waits for the device to finish.
//! - `throughput ppo`: PPO trained end to end (rollouts, advantages, epochs) with CleanRL's
//!   settings (64×64 tanh actor and critic, 4 epochs, learning rate 2.5e-4 annealed, entropy
//!   0.01) at each `ENVSxSTEPSxMINIBATCHESxTOTAL` run by `ppo::Trainer`, on the host loop
//!   (environments and the rollout's forward on the host, the update on `--device`) or on the
//!   device loop (environments and the rollout's forward on `--device` too); samples per second
//!   from the trainer's construction to its last update, and the mean return of the last
//!   episodes. With `--population R` (device loop), R runs (seeds `seed..seed + R`) train
//!   together as a `sim_agents::population::Population`: samples of all runs per second, their
//!   mean final return, and the first run's checksum (the checksum of the run alone with `seed`).
//!
//! ```sh
//! cargo run --release -p benches --bin throughput -- ppo --runs 64x64x4x491520,256x128x8x2097152
//! cargo run --release -p benches --bin throughput -- --device cuda stepping   # with --features cuda
//! ```

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap::{Parser, Subcommand, ValueEnum};
use experiments::device::{Device, OnBackend};
use sim_agents::backend::TrainBackend;
use sim_agents::population::{Population, Run as PopulationRun};
use sim_agents::ppo::Kernel;
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_core::device::DeviceEnv;
use sim_core::env::Environment;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

/// mimalloc: see "Allocator" in the `experiments` crate's documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Stepping and PPO throughput as CSV, on the CPU or a GPU")]
struct Args {
    /// `cpu` (burn's flex backend) or `cuda[:N]` (with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Leave out the CSV header (to append to a file that has one).
    #[arg(long)]
    no_header: bool,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Clone)]
enum What {
    /// Device environments stepped as tensor programs: env-steps/s per batch size.
    Stepping {
        /// Batch sizes.
        #[arg(long, value_delimiter = ',', default_values_t = [65536usize, 262144, 1048576, 4194304])]
        sizes: Vec<usize>,
        /// Seconds of stepping per size (after one warm-up step; at least 3 steps).
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// PPO trained end to end: samples/s and the final return per run.
    Ppo {
        /// Environment.
        #[arg(long, value_enum, default_value_t = Env::Cartpole)]
        env: Env,
        /// `host`: environments and rollout forward on the host (`HostSource`), the update on
        /// the device; `device`: environments and rollout forward on the device as well
        /// (`DeviceSource`, the rollout read back once per update).
        #[arg(long = "loop", value_enum, default_value_t = Loop::Host)]
        train_loop: Loop,
        /// Runs as `ENVSxSTEPSxMINIBATCHESxTOTAL`, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [Run::parse("64x64x4x491520"), Run::parse("256x128x8x2097152")])]
        runs: Vec<Run>,
        /// Seed of every run (of a population's first run; the others count up from it).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs trained together as one population (device loop only); 1 trains a run alone.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        population: u64,
        /// The update: `auto` (the hand-written one on the CPU backend, burn's on any other),
        /// `burn`, `fused`, or `batched` (a population's runs as one batched model).
        #[arg(long, value_enum, default_value_t = KernelArg::Auto)]
        kernel: KernelArg,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum KernelArg {
    Auto,
    Burn,
    Fused,
    Batched,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Env {
    Cartpole,
    Toycloud,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Loop {
    Host,
    Device,
}

/// One PPO run's shape.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    envs: usize,
    steps: usize,
    minibatches: usize,
    total: u64,
}

impl Run {
    fn parse(s: &str) -> Run {
        s.parse().expect("a default run parses")
    }
}

impl FromStr for Run {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('x').collect();
        let bad =
            || format!("run `{s}`: expected ENVSxSTEPSxMINIBATCHESxTOTAL of positive integers, e.g. 64x64x4x491520");
        let [e, st, m, t] = parts[..] else { return Err(bad()) };
        let n = |v: &str| v.parse::<u64>().ok().filter(|&x| x > 0).ok_or_else(bad);
        Ok(Run { envs: n(e)? as usize, steps: n(st)? as usize, minibatches: n(m)? as usize, total: n(t)? })
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}x{}", self.envs, self.steps, self.minibatches, self.total)
    }
}

/// Env-steps per second of `step` on `env`, a batch of `n` with `num_actions` actions: one
/// warm-up step, then steps until `seconds` have passed (at least 3), each waited for.
fn rate<B: Backend, E, T>(
    device: &B::Device,
    mut env: E,
    n: usize,
    num_actions: usize,
    seconds: f64,
    step: impl Fn(&mut E, Tensor<B, 1, Int>) -> T,
) -> Result<(usize, f64), String> {
    let a = benches::spread_actions::<B>(n, num_actions, device);
    let sync = || B::sync(device).map_err(|e| format!("the device failed: {e:?}"));
    drop(step(&mut env, a.clone()));
    sync()?;
    let start = Instant::now();
    let mut steps = 0usize;
    while steps < 3 || start.elapsed().as_secs_f64() < seconds {
        drop(step(&mut env, a.clone()));
        sync()?;
        steps += 1;
    }
    Ok((steps, (n * steps) as f64 / start.elapsed().as_secs_f64()))
}

struct Work {
    what: What,
    header: bool,
}

impl OnBackend for Work {
    type Output = Result<(), String>;

    fn run<B: TrainBackend>(self, device: B::Device) -> Self::Output {
        let backend = std::any::type_name::<B::InnerBackend>().split('<').next().unwrap_or("?").rsplit("::").next();
        let backend = backend.unwrap_or("?").to_lowercase();
        match self.what {
            What::Stepping { sizes, seconds } => {
                if self.header {
                    println!("env,backend,envs,steps,env_steps_per_s");
                }
                type Inner<B> = <B as burn::tensor::backend::AutodiffBackend>::InnerBackend;
                let (cartpole, toycloud) = (CartPoleParams::default(), CloudParams::default());
                let cartpole_actions = CartPole::spaces(&cartpole).num_actions as usize;
                let toycloud_actions = ToyCloud::spaces(&toycloud).num_actions as usize;
                for &n in &sizes {
                    let env = DeviceCartPole::<Inner<B>>::new(cartpole.clone(), n, 1, &device);
                    let (steps, r) = rate(&device, env, n, cartpole_actions, seconds, |env, a| env.step(a))?;
                    println!("cartpole,{backend},{n},{steps},{r:.0}");
                }
                for &n in &sizes {
                    let env = DeviceToyCloud::<Inner<B>>::new(toycloud.clone(), n, 1, &device);
                    let (steps, r) = rate(&device, env, n, toycloud_actions, seconds, |env, a| env.step(a))?;
                    println!("toycloud,{backend},{n},{steps},{r:.0}");
                }
                Ok(())
            }
            What::Ppo { env, train_loop, runs, seed, kernel, population } => {
                if self.header {
                    println!(
                        "env,loop,population,backend,kernel,run,samples,seconds,samples_per_s,final_return,weights_checksum"
                    );
                }
                if population > 1 && matches!(train_loop, Loop::Host) {
                    return Err("--population trains on the device loop: add --loop device".into());
                }
                let kernel = match kernel {
                    KernelArg::Auto => Kernel::Auto,
                    KernelArg::Burn => Kernel::Burn,
                    KernelArg::Fused => Kernel::Fused,
                    KernelArg::Batched => Kernel::Batched,
                };
                for run in runs {
                    let config = PpoConfig {
                        num_envs: run.envs,
                        num_steps: run.steps,
                        num_minibatches: run.minibatches,
                        total_timesteps: run.total,
                        kernel,
                        ..PpoConfig::default()
                    };
                    let start = Instant::now();
                    let (cartpole, cloud) = (CartPoleParams::default(), CloudParams::default());
                    let seeds: Vec<u64> = (seed..seed + population).collect();
                    let (samples, ret, checksum) = match (env, train_loop) {
                        (Env::Cartpole, Loop::Device) if population > 1 => {
                            together::<B, DeviceCartPole<B::InnerBackend>>(cartpole, &config, &seeds, &device)
                        }
                        (Env::Toycloud, Loop::Device) if population > 1 => {
                            together::<B, DeviceToyCloud<B::InnerBackend>>(cloud, &config, &seeds, &device)
                        }
                        (Env::Cartpole, Loop::Host) => {
                            whole(Trainer::<CartPole, B>::new(cartpole, config, seed, None, device.clone()))
                        }
                        (Env::Toycloud, Loop::Host) => {
                            whole(Trainer::<ToyCloud, B>::new(cloud, config, seed, None, device.clone()))
                        }
                        (Env::Cartpole, Loop::Device) => whole(Trainer::<CartPole, B>::on_device::<
                            DeviceCartPole<B::InnerBackend>,
                        >(
                            cartpole, config, seed, None, device.clone()
                        )),
                        (Env::Toycloud, Loop::Device) => whole(Trainer::<ToyCloud, B>::on_device::<
                            DeviceToyCloud<B::InnerBackend>,
                        >(
                            cloud, config, seed, None, device.clone()
                        )),
                    }?;
                    let seconds = start.elapsed().as_secs_f64();
                    let ret = ret.map_or("nan".to_string(), |r| format!("{r:.2}"));
                    println!(
                        "{},{},{population},{backend},{},{run},{samples},{seconds:.2},{:.0},{ret},{checksum}",
                        format!("{env:?}").to_lowercase(),
                        format!("{train_loop:?}").to_lowercase(),
                        format!("{kernel:?}").to_lowercase(),
                        samples as f64 / seconds
                    );
                }
                Ok(())
            }
        }
    }
}

/// A whole run of either loop: samples, the mean return of the last episodes, the weights
/// checksum.
fn whole<E: Environment, B: TrainBackend>(
    trainer: Result<Trainer<E, B>, TrainError>,
) -> Result<(u64, Option<f64>, String), String> {
    let mut trainer = trainer.map_err(|e| e.to_string())?;
    while trainer.updates_done() < trainer.num_updates() {
        trainer.train_update().map_err(|e| e.to_string())?;
    }
    Ok((trainer.global_step(), trainer.final_return(), trainer.weights_checksum()))
}

/// A whole population of runs of `config`, one per seed: samples of all runs, their mean final
/// return, the first run's weights checksum.
fn together<B: TrainBackend, D: DeviceEnv<B::InnerBackend> + 'static>(
    params: <D::Native as Environment>::Params,
    config: &PpoConfig,
    seeds: &[u64],
    device: &B::Device,
) -> Result<(u64, Option<f64>, String), String> {
    let runs = seeds.iter().map(|&s| PopulationRun::new(config.clone(), s)).collect();
    let mut pop = Population::<B, D>::new(params, runs, device.clone()).map_err(|e| e.to_string())?;
    while pop.updates_done() < pop.num_updates() {
        pop.train_update().map_err(|e| e.to_string())?;
    }
    let returns: Vec<f64> = pop.runs().iter().filter_map(|t| t.final_return()).collect();
    let ret = (!returns.is_empty()).then(|| returns.iter().sum::<f64>() / returns.len() as f64);
    Ok((pop.runs().iter().map(|t| t.global_step()).sum(), ret, pop.runs()[0].weights_checksum()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = args
        .device
        .check()
        .map_err(|e| e.to_string())
        .and_then(|()| args.device.dispatch(Work { what: args.what, header: !args.no_header }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
