//! The algorithms beside PPO (`sim_agents::algorithms`) against numbers computed by hand: GRPO's
//! and RLOO's group advantages, the k3 KL estimator, PPO-KL's shaped rewards, the group loss's
//! KL term over the scored steps only, golden trajectories' cross-entropy term; and the episodic
//! rollouts they train on: slots of a group restart from one state and then part, every slot
//! scores one episode per rollout.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use sim_agents::algorithms::{
    Algorithm, Baseline, GroupObjective, PpoKl, STD_EPS, WithDemonstrations, group_advantages, k3, outcome_returns,
};
use sim_agents::backend::CpuAutodiff;
use sim_agents::inference::exp_sum;
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::ppo::{Minibatch, Objective, Ppo, Trajectories};
use sim_agents::pretrain::Demonstrations;
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_core::runner::{BatchRunner, StepBuffers, safety_buffer};
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

type B = CpuAutodiff;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn grpo_standardises_each_return_within_its_group_by_hand() {
    // Group 1: returns 1, 2, 3, 6: mean 3, deviations -2, -1, 0, 3, unbiased variance
    // (4 + 1 + 0 + 9) / 3 = 14/3, std 2.1602469; group 2: all equal, advantage 0.
    let adv = group_advantages(&[1.0, 2.0, 3.0, 6.0, 5.0, 5.0, 5.0, 5.0], 4, Baseline::Standardised);
    let std = 2.160_246_899_469_286_5 + STD_EPS;
    let want = [-2.0 / std, -1.0 / std, 0.0, 3.0 / std, 0.0, 0.0, 0.0, 0.0];
    for (a, w) in adv.iter().zip(want) {
        assert!(close(*a, w, 1e-12), "{adv:?} vs {want:?}");
    }
    assert!(close(adv[0], -0.925_777_7, 1e-6), "{}", adv[0]);
}

#[test]
fn rloo_subtracts_the_mean_of_the_other_episodes_of_the_group_by_hand() {
    // 1 - (2 + 3 + 6)/3, 2 - (1 + 3 + 6)/3, 3 - (1 + 2 + 6)/3, 6 - (1 + 2 + 3)/3; a pair:
    // 4 - 0 and 0 - 4.
    let adv = group_advantages(&[1.0, 2.0, 3.0, 6.0], 4, Baseline::LeaveOneOut);
    let want = [1.0 - 11.0 / 3.0, 2.0 - 10.0 / 3.0, 0.0, 4.0];
    assert!(adv.iter().zip(want).all(|(a, w)| close(*a, w, 1e-12)), "{adv:?}");
    assert_eq!(group_advantages(&[4.0, 0.0], 2, Baseline::LeaveOneOut), vec![4.0, -4.0]);
}

#[test]
fn k3_is_unbiased_for_the_kl_and_matches_its_value_by_hand() {
    // One action: π(a) = 1/4, π_ref(a) = 1/2: log r = ln 2, k3 = 2 - ln 2 - 1.
    assert!(close(k3(0.5f64.ln(), 0.25f64.ln()), 1.0 - 2f64.ln(), 1e-15));
    assert_eq!(k3(0.3f64.ln(), 0.3f64.ln()), 0.0);
    // Its expectation under π = (1/4, 3/4) is KL(π ‖ π_ref) with π_ref = (1/2, 1/2):
    // 1/4 ln(1/2) + 3/4 ln(3/2) = 0.1308120.
    let (pi, reference) = ([0.25f64, 0.75], [0.5f64, 0.5]);
    let expected: f64 = (0..2).map(|a| pi[a] * k3(reference[a].ln(), pi[a].ln())).sum();
    let kl: f64 = (0..2).map(|a| pi[a] * (pi[a] / reference[a]).ln()).sum();
    assert!(close(expected, kl, 1e-15) && close(kl, 0.130_812_035, 1e-9), "{expected} vs {kl}");
}

#[test]
fn ppo_kl_subtracts_beta_times_the_log_ratio_from_each_reward_by_hand() {
    let (lp, rlp) = ([0.5f32.ln(), 0.25f32.ln()], [0.25f32.ln(), 0.25f32.ln()]);
    let (shaped, kl) = PpoKl::<B>::shape(0.1, &[1.0, 0.0], &lp, &rlp);
    assert!(close(f64::from(shaped[0]), 1.0 - 0.1 * 2f64.ln(), 1e-6) && shaped[1] == 0.0, "{shaped:?}");
    assert!(close(f64::from(kl), 2f64.ln() / 2.0, 1e-6), "{kl}");
}

#[test]
fn an_outcome_is_the_sum_of_a_slots_scored_rewards() {
    // T = 3, N = 2: slot 0 scores all three steps, slot 1 only its first two.
    let rewards = [1.0, 10.0, 2.0, 20.0, 4.0, 40.0];
    let live = [true, true, true, true, true, false];
    let zeros = [0.0f32; 6];
    let t = Trajectories {
        rewards: &rewards,
        values: &zeros,
        ends: &[false; 6],
        last_values: &[0.0; 2],
        live: &live,
        obs: &[],
        actions: &[0; 6],
        logprobs: &zeros,
        num_envs: 2,
        update: 0,
    };
    assert_eq!(outcome_returns(&t), vec![7.0, 30.0]);
}

/// The group loss's KL term is the mean k3 over the scored rows only, each computed from the
/// policy's and the reference's log-probabilities of the action taken.
#[test]
fn the_group_losss_kl_term_is_the_mean_k3_over_scored_rows() {
    let spaces = CartPole::spaces(&CartPoleParams::default());
    let init = |seed, logits: [f32; 2]| {
        let key = StreamKey::derive(seed, domain::INIT, 0);
        ActorCritic::<B>::init(spaces, &PolicyConfig::default(), &logits, false, key, &Default::default())
    };
    let (model, reference) = (init(1, [0.5, -0.5]), init(2, [-0.3, 0.3]));
    let objective = GroupObjective::new("GRPO", Baseline::Standardised, 2, 0.5, &reference);
    let obs: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
    let (actions, live) = ([0i64, 1, 1, 0], [1.0f32, 1.0, 0.0, 1.0]);
    let dev = Default::default();
    let o = Tensor::<B, 2>::from_data(TensorData::new(obs.clone(), [4, 4]), &dev);
    let lp = |m: &ActorCritic<B>| -> Vec<f32> {
        let p = log_softmax(m.forward(o.clone()).logits, 1).into_data().to_vec::<f32>().unwrap();
        (0..4).map(|r| p[r * 2 + actions[r] as usize]).collect()
    };
    let (pol, refr) = (lp(&model), lp(&reference));
    let want: f64 = [0, 1, 3].iter().map(|&r| k3(f64::from(refr[r]), f64::from(pol[r]))).sum::<f64>() / 3.0;
    let t1 = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [4]), &dev);
    let minibatch = Minibatch {
        obs: o.clone(),
        actions: Tensor::<B, 1, Int>::from_data(TensorData::new(actions.to_vec(), [4]), &dev),
        old_logprobs: t1(pol.clone()),
        advantages: t1(vec![0.0; 4]),
        returns: t1(vec![0.0; 4]),
        old_values: t1(vec![0.0; 4]),
        cost_returns: None,
        live: Some(t1(live.to_vec())),
    };
    let (loss, _) = objective.loss(&model, minibatch, &PpoConfig { ent_coef: 0.0, ..PpoConfig::default() }, None);
    let got = objective.reference_kl().unwrap();
    assert!(want > 1e-4 && close(f64::from(got), want, 1e-6), "k3 {got} vs {want}");
    // Zero advantages and no entropy bonus: the loss is β times the KL term.
    let loss = f64::from(loss.into_data().to_vec::<f32>().unwrap()[0]);
    assert!(close(loss, 0.5 * want, 1e-6), "loss {loss}");
}

#[test]
fn a_restart_starts_a_groups_slots_in_one_state_and_their_own_draws_then_part_them() {
    let params = CloudParams::scenario("incident").unwrap();
    let (n, g) = (64, 8);
    let dim = ToyCloud::spaces(&params).obs_dim;
    let mut buffers = StepBuffers::new(ToyCloud::spaces(&params), n);
    let mut runner = BatchRunner::<ToyCloud>::new(params, n, 5, &mut buffers).unwrap();
    let mut safety = safety_buffer::<ToyCloud>(n);
    // Some steps first, so that the restart happens mid-run.
    for _ in 0..7 {
        runner.step(&vec![0; n], &mut buffers, &mut safety);
    }
    runner.restart(&StreamKey::grouped(&StreamKey::envs(5, n), g), &mut buffers);
    let row = |b: &StepBuffers, i: usize| b.obs[i * dim..(i + 1) * dim].to_vec();
    let states = |r: &BatchRunner<ToyCloud>| (0..n).map(|i| format!("{:?}", r.state(i))).collect::<Vec<_>>();
    let start = states(&runner);
    for i in 0..n {
        assert_eq!(start[i], start[i / g * g], "slot {i} does not start as its group's first");
        assert_eq!(row(&buffers, i), row(&buffers, i / g * g));
    }
    let distinct: std::collections::BTreeSet<&String> = start.iter().collect();
    assert_eq!(distinct.len(), n / g, "each group starts somewhere of its own");
    // The same actions for everyone: a group's slots still part, by their own step draws.
    let mut parted = vec![false; n];
    for _ in 0..40 {
        runner.step(&vec![1; n], &mut buffers, &mut safety);
        let now = states(&runner);
        for i in 0..n {
            parted[i] |= now[i] != now[i / g * g];
        }
    }
    let apart = parted.iter().filter(|&&p| p).count();
    assert!(apart >= n / 2, "only {apart} of {n} slots parted from their group's first");
}

fn grpo(config: PpoConfig, seed: u64) -> Result<Trainer<CartPole, B>, TrainError> {
    Trainer::<CartPole, B>::new(CartPoleParams::default(), config, seed, None, Default::default())
}

#[test]
fn an_episodic_rollout_reports_one_episode_per_slot_with_the_kl_to_its_reference() {
    let config = PpoConfig {
        algorithm: Algorithm::Grpo { group_size: 4, beta: 0.1 },
        total_timesteps: 16 * 500 * 2,
        num_envs: 16,
        num_steps: 500,
        ..PpoConfig::default()
    };
    let mut t = grpo(config, 3).unwrap();
    for _ in 0..2 {
        let report = t.train_update().unwrap();
        assert_eq!(report.episodes.len(), 16, "one reported episode per slot");
        let mut slots: Vec<u32> = report.episodes.iter().map(|e| e.slot).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..16).collect::<Vec<_>>());
        assert!(report.metrics.ref_kl.is_some_and(f32::is_finite), "{:?}", report.metrics);
    }
}

#[test]
fn group_settings_that_cannot_work_are_refused_by_name() {
    let base = PpoConfig { num_envs: 12, num_steps: 500, total_timesteps: 6000, ..PpoConfig::default() };
    let bad = [
        (Algorithm::Grpo { group_size: 8, beta: 0.0 }, "algorithm.group_size"),
        (Algorithm::Rloo { group_size: 1, beta: 0.0 }, "algorithm.group_size"),
        (Algorithm::Grpo { group_size: 4, beta: -1.0 }, "algorithm.beta"),
        (Algorithm::PpoKl { beta: f32::NAN }, "algorithm.beta"),
    ];
    for (algorithm, field) in bad {
        let Err(e) = grpo(PpoConfig { algorithm: algorithm.clone(), ..base.clone() }, 1) else {
            panic!("{algorithm:?} was accepted")
        };
        assert!(e.to_string().contains(field), "{algorithm:?}: {e}");
    }
    let fused = PpoConfig { kernel: sim_agents::ppo::Kernel::Fused, ..base.clone() };
    let Err(e) = grpo(PpoConfig { algorithm: Algorithm::Rloo { group_size: 4, beta: 0.0 }, ..fused.clone() }, 1) else {
        panic!("RLOO on the fused kernel was accepted")
    };
    assert!(e.to_string().contains("RLOO") && e.to_string().contains("Fused"), "{e}");
    // PPO-KL's loss is PPO's: the hand-written kernel runs it.
    assert!(grpo(PpoConfig { algorithm: Algorithm::PpoKl { beta: 0.1 }, ..fused }, 1).is_ok());
}

/// Same config and seed, same weights and metrics, on 1, 2 or 5 threads, for every algorithm
/// and with golden trajectories in RL (ToyCloud, whose steps draw; 300 slots, so that the runner splits its chunks over threads).
#[test]
fn every_algorithm_gives_the_same_numbers_on_any_thread_count() {
    let params = CloudParams::scenario("incident").unwrap();
    let dim = ToyCloud::spaces(&params).obs_dim;
    let golden = {
        let mut d = Demonstrations::new(dim);
        let obs: Vec<f32> = (0..40 * dim).map(|i| (i as f32 * 0.13).sin().abs()).collect();
        d.push_episode(&obs, &[0; 40], &[0.5; 40], 0.99);
        d
    };
    for (algorithm, demos) in [
        (Algorithm::Grpo { group_size: 4, beta: 0.1 }, None),
        (Algorithm::Rloo { group_size: 6, beta: 0.05 }, None),
        (Algorithm::Reinforce, None),
        (Algorithm::PpoKl { beta: 0.05 }, None),
        (Algorithm::Rloo { group_size: 6, beta: 0.0 }, Some(golden)),
    ] {
        let config = PpoConfig {
            algorithm: algorithm.clone(),
            total_timesteps: 300 * 48 * 2,
            num_envs: 300,
            num_steps: 48,
            ..PpoConfig::default()
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut t =
                    Trainer::<ToyCloud, B>::new(params.clone(), config.clone(), 9, None, Default::default()).unwrap();
                if let Some(d) = &demos {
                    t = t.with_demonstrations(d.clone(), 0.5).unwrap();
                }
                let metrics: Vec<_> = (0..2).map(|_| t.train_update().unwrap().metrics).collect();
                (t.weights_checksum(), format!("{metrics:?}"))
            })
        };
        let one = run(1);
        assert_eq!(one, run(2), "{algorithm:?}");
        assert_eq!(one, run(5), "{algorithm:?}");
    }
}

/// Demonstrations of CartPole that always push left (action 0), from observations spread over
/// the state space.
fn push_left(rows: usize) -> Demonstrations {
    let mut d = Demonstrations::new(4);
    let obs: Vec<f32> = (0..rows * 4).map(|i| (i as f32 * 0.61).sin() * 0.1).collect();
    d.push_episode(&obs, &vec![0; rows], &vec![1.0; rows], 0.99);
    d
}

/// Golden trajectories in RL: the loss is the objective's plus weight times the cross-entropy
/// on the demonstration rows paired with the minibatch, by hand; the rows cycle in a fixed order
/// set by the update and the minibatch's place in it.
#[test]
fn the_golden_term_adds_weight_times_the_cross_entropy_on_its_paired_rows_by_hand() {
    let spaces = CartPole::spaces(&CartPoleParams::default());
    let key = StreamKey::derive(4, domain::INIT, 0);
    let model = ActorCritic::<B>::init(spaces, &PolicyConfig::default(), &[0.3, -0.2], false, key, &Default::default());
    let demos = push_left(5);
    let golden = WithDemonstrations::<B>::new(Box::new(Ppo), demos.clone(), 0.7);
    // 2 minibatches x 4 epochs per update, 3 rows each: update 1's second minibatch starts at row
    // (1 * 8 + 1) * 3 = 27, which is 2 of 5.
    assert_eq!(golden.rows(1, 8, 1, 3).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(golden.rows(0, 8, 1, 4).collect::<Vec<_>>(), [4, 0, 1, 2]);
    let dev = Default::default();
    let obs: Vec<f32> = (0..12).map(|i| (i as f32 * 0.23).cos()).collect();
    let o = Tensor::<B, 2>::from_data(TensorData::new(obs, [3, 4]), &dev);
    let t1 = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [3]), &dev);
    let minibatch = || Minibatch {
        obs: o.clone(),
        actions: Tensor::<B, 1, Int>::from_data(TensorData::new(vec![0i64, 1, 0], [3]), &dev),
        old_logprobs: t1(vec![-0.7; 3]),
        advantages: t1(vec![0.5, -1.0, 0.25]),
        returns: t1(vec![1.0; 3]),
        old_values: t1(vec![0.0; 3]),
        cost_returns: None,
        live: None,
    };
    let c = PpoConfig { num_minibatches: 2, update_epochs: 4, ..PpoConfig::default() };
    let scalar = |t: Tensor<B, 1>| f64::from(t.into_data().to_vec::<f32>().unwrap()[0]);
    let plain = scalar(Ppo.loss(&model, minibatch(), &c, None).0);
    // The first minibatch of update 0 takes demonstration rows 0, 1, 2.
    let got = scalar(golden.loss(&model, minibatch(), &c, None).0);
    let d = Tensor::<B, 2>::from_data(TensorData::new(demos.obs[..12].to_vec(), [3, 4]), &dev);
    let p = log_softmax(model.logits(d), 1).into_data().to_vec::<f32>().unwrap();
    let ce = -(0..3).map(|r| f64::from(p[r * 2])).sum::<f64>() / 3.0;
    assert!(close(got, plain + 0.7 * ce, 1e-5), "{got} vs {plain} + 0.7 x {ce}");
    assert!(close(f64::from(golden.last_cross_entropy().unwrap()), ce, 1e-5));
}

/// A strong golden term pulls a policy to the demonstrated action; a trainer refuses
/// demonstrations of another width or a negative weight, naming them.
#[test]
fn golden_trajectories_pull_the_policy_to_the_demonstrations() {
    let config = PpoConfig {
        total_timesteps: 8 * 128 * 6,
        num_envs: 8,
        num_steps: 128,
        learning_rate: 0.01,
        anneal_lr: false,
        ..PpoConfig::default()
    };
    let left = |t: &Trainer<CartPole, B>| {
        let logits = t.policy().logits(&[0.01, -0.02, 0.03, 0.0]);
        let (max, sum) = exp_sum(&logits);
        (logits[0] - max).exp() / sum
    };
    let mut t = grpo(config.clone(), 5).unwrap().with_demonstrations(push_left(64), 5.0).unwrap();
    let before = left(&t);
    for _ in 0..6 {
        t.train_update().unwrap();
    }
    assert!(left(&t) > 0.9 && left(&t) > before, "P(left) {before} -> {}", left(&t));
    // The same training without the term does not get there.
    let mut plain = grpo(config.clone(), 5).unwrap();
    for _ in 0..6 {
        plain.train_update().unwrap();
    }
    assert!(left(&plain) < 0.8, "P(left) without demonstrations {}", left(&plain));
    let Err(e) = grpo(config.clone(), 5).unwrap().with_demonstrations(Demonstrations::new(3), 1.0) else {
        panic!("empty demonstrations were accepted")
    };
    assert!(e.to_string().contains("0 demonstration rows of observations 3 wide"), "{e}");
    let Err(e) = grpo(config, 5).unwrap().with_demonstrations(push_left(4), -1.0) else {
        panic!("a negative weight was accepted")
    };
    assert!(e.to_string().contains("a demonstration weight of -1"), "{e}");
}
