//! A run trained in a population (`sim_agents::population`) is the run trained alone on the
//! device loop, bit for bit on the CPU backend: the same update metrics, episodes and weights
//! checksum, whatever else trains beside it (other seeds, penalties, hyperparameters, a mask,
//! PPO-Lagrangian, any update kernel, the batched one included) and wherever it sits in the
//! population. Its checkpoints are a run alone's: a population continues from them, and a run
//! alone from a population's.

use sim_agents::backend::{Cpu, CpuAutodiff};
use sim_agents::penalty::{AupConfig, Penalty, PenaltyConfig};
use sim_agents::population::{Population, Run};
use sim_agents::ppo::{Kernel, LagrangianConfig};
use sim_agents::rollout::Rollout;
use sim_agents::{PpoConfig, TrainError, Trainer, UpdateMetrics, UpdateReport};
use sim_core::device::DeviceEnv;
use sim_core::prelude::*;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

type Env<D> = <D as DeviceEnv<Cpu>>::Native;

/// One update's metrics (its timings left out), and its episodes, as comparable text.
fn record<E: Environment>(report: UpdateReport<E>) -> (UpdateMetrics, String) {
    (report.metrics, format!("{:?}", report.episodes))
}

/// Every update's record and the final weights checksum of `run` trained alone.
fn alone<D: DeviceEnv<Cpu> + 'static>(
    params: &<Env<D> as Environment>::Params,
    config: &PpoConfig,
    seed: u64,
) -> (Vec<(UpdateMetrics, String)>, String) {
    let mut t =
        Trainer::<Env<D>, CpuAutodiff>::on_device::<D>(params.clone(), config.clone(), seed, None, Default::default())
            .expect("a run alone");
    let mut rows = Vec::new();
    while t.updates_done() < t.num_updates() {
        rows.push(record(t.train_update().unwrap()));
    }
    (rows, t.weights_checksum())
}

/// Trains `runs` as one population and checks each against the same run alone.
fn population_matches_alone<D: DeviceEnv<Cpu> + 'static>(
    params: <Env<D> as Environment>::Params,
    runs: &[(PpoConfig, u64)],
) {
    let members = runs.iter().map(|(c, s)| Run::new(c.clone(), *s)).collect();
    let mut pop = Population::<CpuAutodiff, D>::new(params.clone(), members, Default::default()).unwrap();
    let mut rows: Vec<Vec<(UpdateMetrics, String)>> = vec![Vec::new(); runs.len()];
    while pop.updates_done() < pop.num_updates() {
        for (r, report) in pop.train_update().unwrap().into_iter().enumerate() {
            rows[r].push(record(report));
        }
    }
    for (r, (config, seed)) in runs.iter().enumerate() {
        let (want_rows, want_sum) = alone::<D>(&params, config, *seed);
        for (u, (got, want)) in rows[r].iter().zip(&want_rows).enumerate() {
            assert_eq!(got.0, want.0, "run {r} (seed {seed}), update {}: metrics", u + 1);
            assert_eq!(got.1, want.1, "run {r} (seed {seed}), update {}: episodes", u + 1);
        }
        assert_eq!(rows[r].len(), want_rows.len());
        assert_eq!(pop.runs()[r].weights_checksum(), want_sum, "run {r} (seed {seed}): weights");
    }
}

fn small(total_updates: u64) -> PpoConfig {
    PpoConfig { total_timesteps: 16 * 32 * total_updates, num_envs: 16, num_steps: 32, ..PpoConfig::default() }
}

/// CartPole (truncation bootstrapped on the device with each run's own discount): four seeds,
/// one with another learning rate, discount and entropy bonus, one on burn's update kernel.
#[test]
fn cartpole_runs_in_a_population_equal_the_runs_alone() {
    let params = CartPoleParams { max_steps: 40, ..CartPoleParams::default() };
    let base = small(4);
    let other = PpoConfig { learning_rate: 1e-3, gamma: 0.95, ent_coef: 0.02, ..base.clone() };
    let burn = PpoConfig { kernel: Kernel::Burn, ..base.clone() };
    population_matches_alone::<DeviceCartPole<Cpu>>(params, &[(base.clone(), 1), (other, 2), (burn, 3), (base, 4)]);
}

/// ToyCloud with a different penalty in every run (and a mask lifted mid-run), then with
/// PPO-Lagrangian beside a cost-critic run with another limit: the penalties read their own run's
/// typed safety records.
#[test]
fn toycloud_runs_with_different_penalties_in_a_population_equal_the_runs_alone() {
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let base = small(3);
    let aup = AupConfig { lambda: 0.5, warmup_steps: 0, ramp_steps: 1, num_aux: 4, ..AupConfig::default() };
    population_matches_alone::<DeviceToyCloud<Cpu>>(
        params.clone(),
        &[
            (base.clone(), 5),
            (PpoConfig { penalty: PenaltyConfig::TrueCost { weight: 0.5 }, ..base.clone() }, 5),
            (PpoConfig { penalty: PenaltyConfig::Detected { weight: 0.5 }, ..base.clone() }, 6),
            (PpoConfig { penalty: PenaltyConfig::Aup(aup), ..base.clone() }, 7),
            (PpoConfig { actions: ActionSet::Legitimate, lift_mask_at: Some(512), ..base.clone() }, 8),
        ],
    );
    let lagrangian = |limit| PpoConfig {
        penalty: PenaltyConfig::CostSignal,
        lagrangian: Some(LagrangianConfig { cost_limit: limit, lambda_init: 0.2, lambda_lr: 0.05 }),
        ..base.clone()
    };
    population_matches_alone::<DeviceToyCloud<Cpu>>(params, &[(lagrangian(0.1), 9), (lagrangian(0.5), 10)]);
}

/// The batched update (`Kernel::Batched`: the runs' weights stacked `[R, in, out]`, one
/// forward, backward and Adam step for all) leaves a run's arithmetic its own: a run in a
/// batched population equals the same run alone on that kernel (a population of one), bit for
/// bit, beside other seeds, learning rates, discounts, entropy bonuses, clipping coefficients,
/// gradient-norm limits, penalties, a mask lifted mid-run, and PPO-Lagrangian at two limits.
#[test]
fn batched_update_runs_in_a_population_equal_the_runs_alone() {
    let batched = |c: PpoConfig| PpoConfig { kernel: Kernel::Batched, ..c };
    let base = batched(small(3));
    let other = PpoConfig {
        learning_rate: 1e-3,
        gamma: 0.95,
        ent_coef: 0.02,
        clip_coef: 0.3,
        max_grad_norm: 0.05,
        anneal_lr: false,
        ..base.clone()
    };
    let cartpole = CartPoleParams { max_steps: 40, ..CartPoleParams::default() };
    population_matches_alone::<DeviceCartPole<Cpu>>(cartpole, &[(base.clone(), 1), (other, 2), (base.clone(), 3)]);
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    population_matches_alone::<DeviceToyCloud<Cpu>>(
        params.clone(),
        &[
            (PpoConfig { penalty: PenaltyConfig::TrueCost { weight: 0.5 }, vf_coef: 0.25, ..base.clone() }, 5),
            (PpoConfig { actions: ActionSet::Legitimate, lift_mask_at: Some(512), ..base.clone() }, 8),
            (base.clone(), 6),
        ],
    );
    let lagrangian = |limit| PpoConfig {
        penalty: PenaltyConfig::CostSignal,
        lagrangian: Some(LagrangianConfig { cost_limit: limit, lambda_init: 0.2, lambda_lr: 0.05 }),
        ..base.clone()
    };
    population_matches_alone::<DeviceToyCloud<Cpu>>(params, &[(lagrangian(0.1), 9), (lagrangian(0.5), 10)]);
}

/// Every weight of a trainer's model, in module order.
fn weights<E: Environment>(t: &Trainer<E, CpuAutodiff>) -> Vec<f32> {
    let (actor, critic, cost) = t.model().to_dense();
    let mlps = [Some(actor), Some(critic), cost].into_iter().flatten();
    mlps.flat_map(|m| m.layers.into_iter().flat_map(|d| d.weight.into_iter().chain(d.bias))).collect()
}

/// The batched update computes burn's update (loss, gradients, per-run global-norm clipping,
/// Adam), with its own operations: after three updates of CartPole on the host loop, with and
/// without value clipping and with PPO-Lagrangian's cost critic, the weights agree with burn's
/// per-run update's within `TOLERANCE` of how far they moved (on flex they differed by 5e-7 to
/// 9e-7 of it: the bias gradients are summed by a matrix product), and a 2% change of the
/// learning rate is caught.
#[test]
fn the_batched_update_agrees_with_burns_within_a_stated_tolerance() {
    /// Largest difference of the weights, relative to how far burn's update moved them (L2).
    const TOLERANCE: f64 = 1e-3;
    let run = |config: &PpoConfig| {
        let mut t = Trainer::<CartPole, CpuAutodiff>::new(
            CartPoleParams::default(),
            config.clone(),
            3,
            None,
            Default::default(),
        )
        .unwrap();
        let start = weights(&t);
        for _ in 0..3 {
            t.train_update().unwrap();
        }
        (start, weights(&t))
    };
    let distance = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>().sqrt()
    };
    let base = PpoConfig { max_grad_norm: 0.1, ..small(3) };
    let configs = [
        base.clone(),
        PpoConfig { clip_vloss: false, ..base.clone() },
        PpoConfig {
            penalty: PenaltyConfig::CostSignal,
            lagrangian: Some(LagrangianConfig { cost_limit: 0.1, lambda_init: 0.2, lambda_lr: 0.05 }),
            ..base.clone()
        },
    ];
    for config in configs {
        let (start, burn) = run(&PpoConfig { kernel: Kernel::Burn, ..config.clone() });
        let (_, batched) = run(&PpoConfig { kernel: Kernel::Batched, ..config.clone() });
        let moved = distance(&start, &burn);
        let relative = distance(&burn, &batched) / moved;
        eprintln!("batched against burn: weights moved {moved:.4}, differ by {relative:e} of that");
        assert!(moved > 0.0 && relative <= TOLERANCE, "batched against burn: {relative}");
        let (_, other) = run(&PpoConfig { kernel: Kernel::Burn, learning_rate: config.learning_rate * 1.02, ..config });
        let relative = distance(&burn, &other) / moved;
        assert!(relative > 10.0 * TOLERANCE, "a 2% learning-rate change is visible: {relative}");
    }
}

/// Checkpoints: a population stopped after two updates and continued from its runs' files ends
/// as the uninterrupted population; a run alone continues from its population file and ends as
/// the run alone; and a population continues from files written by runs alone. On the default
/// kernel and on the batched update, whose state is burn's optimiser records.
#[test]
fn population_checkpoints_are_run_checkpoints() {
    checkpoints_are_run_checkpoints(Kernel::Auto);
    checkpoints_are_run_checkpoints(Kernel::Batched);
}

fn checkpoints_are_run_checkpoints(kernel: Kernel) {
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let base = PpoConfig { kernel, ..small(4) };
    let configs = [(base.clone(), 11), (PpoConfig { penalty: PenaltyConfig::TrueCost { weight: 0.3 }, ..base }, 12)];
    let runs = || configs.iter().map(|(c, s)| Run::new(c.clone(), *s)).collect::<Vec<_>>();
    let new = || Population::<CpuAutodiff, DeviceToyCloud<Cpu>>::new(params.clone(), runs(), Default::default());
    let dir = std::env::temp_dir().join(format!("population-checkpoints-{kernel:?}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<_> = (0..2).map(|r| dir.join(format!("run{r}.ckpt"))).collect();
    let finish = |mut pop: Population<CpuAutodiff, DeviceToyCloud<Cpu>>| {
        while pop.updates_done() < pop.num_updates() {
            pop.train_update().unwrap();
        }
        pop.runs().iter().map(|t| t.weights_checksum()).collect::<Vec<_>>()
    };

    let straight = finish(new().unwrap());
    let mut pop = new().unwrap();
    pop.train_update().unwrap();
    pop.train_update().unwrap();
    pop.save_checkpoints(&paths).unwrap();
    assert_eq!(finish(new().unwrap().continue_from(&paths).unwrap()), straight, "population resumed");

    let alone = |r: usize| {
        let (config, seed) = &configs[r];
        Trainer::<ToyCloud, CpuAutodiff>::on_device::<DeviceToyCloud<Cpu>>(
            params.clone(),
            config.clone(),
            *seed,
            None,
            Default::default(),
        )
        .unwrap()
    };
    let mut run = alone(1).continue_from(&paths[1]).unwrap();
    while run.updates_done() < run.num_updates() {
        run.train_update().unwrap();
    }
    assert_eq!(run.weights_checksum(), straight[1], "a run alone from its population's checkpoint");

    // Checkpoints of the runs alone after `updates(r)` updates each.
    let write_alone = |updates: &dyn Fn(usize) -> usize| {
        for (r, path) in paths.iter().enumerate() {
            let mut t = alone(r);
            for _ in 0..updates(r) {
                t.train_update().unwrap();
            }
            t.save_checkpoint(path).unwrap();
        }
    };
    write_alone(&|r| r + 1);
    let err = new().unwrap().continue_from(&paths).err().expect("runs written at different updates");
    assert!(err.to_string().contains("another update"), "{err}");
    write_alone(&|_| 2);
    assert_eq!(finish(new().unwrap().continue_from(&paths).unwrap()), straight, "population from runs alone");

    // A run's own checkpoint call says where its checkpoint comes from.
    let pop = new().unwrap();
    let err = pop.runs()[0].save_checkpoint(&dir.join("x.ckpt")).expect_err("a population's run");
    assert!(err.to_string().contains("Population::save_checkpoints"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs that disagree on the rollout's shape are refused, naming the run and the field; so is
/// an empty population.
#[test]
fn runs_of_different_shapes_are_refused_by_name() {
    let params = CloudParams::scenario("incident_kill_process").unwrap();
    let make = |runs: Vec<Run<ToyCloud>>| {
        Population::<CpuAutodiff, DeviceToyCloud<Cpu>>::new(params.clone(), runs, Default::default()).err()
    };
    let base = small(2);
    let cases = [
        (PpoConfig { num_envs: 8, ..base.clone() }, "runs[1].num_envs"),
        (PpoConfig { num_steps: 16, total_timesteps: 16 * 16 * 2, ..base.clone() }, "runs[1].num_steps"),
        (PpoConfig { total_timesteps: 16 * 32 * 3, ..base.clone() }, "runs[1].total_timesteps"),
        (
            PpoConfig {
                policy: sim_agents::policy::PolicyConfig { hidden: vec![32], ..Default::default() },
                ..base.clone()
            },
            "runs[1].policy.hidden",
        ),
        (
            PpoConfig {
                penalty: PenaltyConfig::CostSignal,
                lagrangian: Some(LagrangianConfig { cost_limit: 0.1, lambda_init: 0.0, lambda_lr: 0.1 }),
                ..base.clone()
            },
            "runs[1].lagrangian",
        ),
    ];
    for (other, field) in cases {
        let err = make(vec![Run::new(base.clone(), 1), Run::new(other, 2)]).expect(field);
        assert!(matches!(err, TrainError::Params(_)) && err.to_string().contains(field), "{field}: {err}");
    }
    let err = make(Vec::new()).expect("an empty population");
    assert!(err.to_string().contains("runs"), "{err}");

    // The batched update steps every run's minibatches together: its runs share the kernel,
    // epochs, minibatches and value clipping, and none stops early on the KL.
    let batched = PpoConfig { kernel: Kernel::Batched, ..base.clone() };
    let cases = [
        (base.clone(), "runs[1].kernel"),
        (PpoConfig { update_epochs: 2, ..batched.clone() }, "runs[1].update_epochs"),
        (PpoConfig { num_minibatches: 8, ..batched.clone() }, "runs[1].num_minibatches"),
        (PpoConfig { clip_vloss: false, ..batched.clone() }, "runs[1].clip_vloss"),
        (PpoConfig { target_kl: Some(0.02), ..batched.clone() }, "target_kl"),
    ];
    for (other, field) in cases {
        let err = make(vec![Run::new(batched.clone(), 1), Run::new(other, 2)]).expect(field);
        assert!(matches!(err, TrainError::Params(_)) && err.to_string().contains(field), "{field}: {err}");
    }
}

/// A NaN reward at update 2, step 1, environment 3.
struct NanPenalty;
impl Penalty<CartPole> for NanPenalty {
    fn describe(&self) -> String {
        "nan".into()
    }
    fn apply(&mut self, r: &mut Rollout<CartPole>, update: usize) {
        if update == 1 {
            r.rewards[r.num_envs + 3] = f32::NAN;
        }
    }
}

/// A run that fails stops its population with an error naming that run's seed, and what went
/// wrong as it says it alone.
#[test]
fn a_failing_run_is_named_by_its_seed() {
    for kernel in [Kernel::Auto, Kernel::Batched] {
        let config = PpoConfig { kernel, ..small(3) };
        let runs = vec![
            Run::new(config.clone(), 21),
            Run { config: config.clone(), seed: 22, penalty: Some(Box::new(NanPenalty)) },
            Run::new(config, 23),
        ];
        let mut pop =
            Population::<CpuAutodiff, DeviceCartPole<Cpu>>::new(CartPoleParams::default(), runs, Default::default())
                .unwrap();
        pop.train_update().unwrap();
        let err = pop.train_update().err().expect("a NaN reward stops the population");
        assert!(matches!(err, TrainError::InRun { seed: 22, .. }), "{kernel:?}: {err}");
        assert_eq!(
            err.to_string(),
            "the run with seed 22: non-finite reward (NaN) in the rollout of update 2 at step 1, environment 3"
        );
    }
}
