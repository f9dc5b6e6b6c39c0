//! Pretraining: demonstrations recorded in exactly the stated shares, the exact solver's optima
//! recorded as they play, a policy cloned from a deterministic demonstrator agreeing with it on
//! held-out states, the prior measured against
//! the data, bad configs refused by name, and a trainer started from the cloned policy.

use experiments::pretrain::{Demonstrator, PretrainConfig, Share, counts, demonstrations, pretrain, record};
use sim_agents::algorithms::Algorithm;
use sim_agents::backend::CpuAutodiff;
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_agents::pretrain::{CloneConfig, Demonstrations, agreement, clone_policy};
use sim_agents::{PpoConfig, Trainer};
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_envs::toycloud::Violation;
use sim_envs::toycloud::exact::{Incentives, Solver};
use sim_envs::toycloud::scripts::Strategy;
use sim_envs::{CloudParams, ToyCloud};

fn config(mixture: &[(&str, f64)], episodes: usize) -> PretrainConfig {
    PretrainConfig {
        scenario: "incident".into(),
        mixture: mixture.iter().map(|&(s, share)| Share { strategy: s.into(), share }).collect(),
        episodes,
        gamma: 0.99,
        policy: PolicyConfig::default(),
        clone: CloneConfig { epochs: 8, ..CloneConfig::default() },
        prior_episodes: 1024,
    }
}

#[test]
fn a_policy_cloned_from_a_deterministic_demonstrator_agrees_with_it_on_held_out_states() {
    let params = CloudParams::scenario("incident").unwrap();
    let dim = ToyCloud::spaces(&params).obs_dim;
    // The acquisition chain's script: the most varied deterministic demonstrator.
    let (mut train, mut held_out) = (Demonstrations::new(dim), Demonstrations::new(dim));
    let chain = Demonstrator::Script(Strategy::TunnelThenMine);
    record(&params, chain, None, 600, 1, 0.99, &mut train).unwrap();
    record(&params, chain, None, 300, 2, 0.99, &mut held_out).unwrap();
    let spaces = ToyCloud::spaces(&params);
    let key = StreamKey::derive(3, domain::INIT, 0);
    let zeros = vec![0.0; spaces.num_actions as usize];
    let model =
        ActorCritic::<CpuAutodiff>::init(spaces, &PolicyConfig::default(), &zeros, false, key, &Default::default());
    let (model, epochs) = clone_policy(model, &train, &CloneConfig::default(), 3, &Default::default()).unwrap();
    let held = agreement(&model, &held_out);
    assert!(held >= 0.99, "agreement on held-out states {held}; fit {:?}", epochs.last());
    assert!(epochs.last().unwrap().cross_entropy < epochs[0].cross_entropy);
}

#[test]
fn the_data_has_exactly_the_stated_shares_and_the_prior_is_measured_against_it() {
    let p = pretrain(&config(&[("honest_work", 0.9), ("tunnel_then_mine", 0.1)], 203), 5).unwrap();
    let episodes: Vec<usize> = p.dataset.parts.iter().map(|part| part.episodes).collect();
    assert_eq!(episodes, vec![183, 20], "largest-remainder rounding of 182.7 and 20.3");
    assert_eq!(p.dataset.rows, p.demos.len());
    assert_eq!(p.dataset.parts[0].chain, 0.0);
    assert_eq!(p.dataset.parts[1].chain, 1.0);
    let data_chain = 20.0 / 203.0;
    assert!((p.prior.data_chain - data_chain).abs() < 1e-12, "{}", p.prior.data_chain);
    // The cloned policy runs the chain in some sampled episodes, as its data does, and not in
    // most of them.
    assert!(p.prior.chain > 0.0 && p.prior.chain < 0.5, "prior {:?}", p.prior);
    // An honest-only mixture: no chain in the data, and (almost) none sampled.
    let honest = pretrain(&config(&[("honest_work", 0.5), ("honest_quota", 0.5)], 200), 5).unwrap();
    assert_eq!(honest.prior.data_chain, 0.0);
    assert!(honest.prior.chain < 0.01, "{:?}", honest.prior);
}

#[test]
fn bad_mixtures_are_refused_naming_what_is_wrong() {
    for (mixture, needle) in [
        (vec![("honest_work", 0.5), ("nobody", 0.5)], "unknown strategy `nobody`"),
        (vec![("honest_work", 0.5), ("honest_quota", 0.4)], "sum to 0.9"),
        (vec![("honest_work", 1.5)], "share of `honest_work` is 1.5"),
    ] {
        let e = config(&mixture, 10).counts().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn a_trainer_starts_from_the_cloned_policy_and_anchors_its_kl_there() {
    let p = pretrain(&config(&[("honest_work", 0.95), ("tunnel_then_mine", 0.05)], 200), 7).unwrap();
    let params = CloudParams::scenario("incident").unwrap();
    let ppo = PpoConfig {
        algorithm: Algorithm::Grpo { group_size: 4, beta: 0.1 },
        num_envs: 16,
        num_steps: 64,
        total_timesteps: 16 * 64 * 2,
        ..PpoConfig::default()
    };
    let t = Trainer::<ToyCloud, CpuAutodiff>::new(params.clone(), ppo.clone(), 1, None, Default::default()).unwrap();
    let mut t = t.with_initial_policy(&p.model).unwrap();
    assert_eq!(t.weights_checksum(), p.model.weights_checksum());
    let first = t.train_update().unwrap().metrics;
    // The first minibatch sees the reference itself: its KL is 0 up to rounding.
    assert!(first.ref_kl.unwrap() < 1e-3, "{first:?}");
    // A network of another shape is refused, naming both shapes.
    let wide = PpoConfig { policy: PolicyConfig { hidden: vec![32], ..PolicyConfig::default() }, ..ppo };
    let t = Trainer::<ToyCloud, CpuAutodiff>::new(params, wide, 1, None, Default::default()).unwrap();
    let Err(e) = t.with_initial_policy(&p.model) else { panic!("a 64x64 policy was taken by a 32-wide run") };
    assert!(e.to_string().contains("(64, 64)") && e.to_string().contains("32"), "{e}");
}

/// A rome_repro condition with `pretrain:` starts from the cloned policy: one cloned from the
/// chain's script runs the chain in its first (pre-training) evaluation, greedily, while the
/// same condition without it does not; both then train through the unchanged matrix runner.
#[test]
fn a_matrix_condition_starts_from_its_pretrained_policy() {
    let text = r#"(
        name: "pretrain_test",
        base_scenario: "smoke",
        seeds: [101],
        tuning_seeds: [1],
        ppo: (total_timesteps: 1024, num_envs: 16, num_steps: 32, num_minibatches: 2,
              policy: (hidden: [64, 64], initial_logits: {"work": 1.0})),
        eval: (every: 1, curve_episodes: 64, final_episodes: 64, envs: 64, greedy: true),
        bootstrap: (resamples: 100, confidence: 0.95),
        conditions: [
            (name: "fresh", family: Baseline),
            (name: "cloned", family: Algorithm, algorithm: Grpo(group_size: 4, beta: 0.1),
             pretrain: Some((mixture: [(strategy: "tunnel_then_mine", share: 1.0)], episodes: 200))),
        ],
    )"#;
    let (config, _, scenarios) = experiments::repro::config::ReproConfig::parse(text, "test").unwrap();
    let dir = std::env::temp_dir().join(format!("pretrain_matrix_{}", std::process::id()));
    let first_eval = |i: usize| {
        let run_dir = dir.join(&config.conditions[i].name);
        std::fs::create_dir_all(&run_dir).unwrap();
        let result = experiments::repro::run::run::<CpuAutodiff>(
            &config,
            &config.conditions[i],
            &scenarios[i],
            101,
            &run_dir,
            Default::default(),
            |_| {},
        )
        .unwrap()
        .unwrap();
        result.curve[0].eval_violation_rate
    };
    let (fresh, cloned) = (first_eval(0), first_eval(1));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(fresh < 0.05 && cloned > 0.95, "first evaluation's violation rate: fresh {fresh}, cloned {cloned}");
    // A bad mixture is refused when the matrix is read, naming the condition.
    let bad = text.replace("share: 1.0", "share: 0.5");
    let e = experiments::repro::config::ReproConfig::parse(&bad, "test").unwrap_err().to_string();
    assert!(e.contains("cloned") && e.contains("sum to 0.5"), "{e}");
}

/// The same on the device loop, as a population (CPU backend): each seed's run starts from its
/// own pretrained policy.
#[test]
fn a_population_starts_each_run_from_its_pretrained_policy() {
    let text = r#"(
        name: "pretrain_population_test",
        base_scenario: "smoke",
        seeds: [101, 102],
        tuning_seeds: [1],
        ppo: (total_timesteps: 1024, num_envs: 16, num_steps: 32, num_minibatches: 2),
        eval: (every: 1, curve_episodes: 64, final_episodes: 64, envs: 64, greedy: true),
        bootstrap: (resamples: 100, confidence: 0.95),
        conditions: [
            (name: "cloned", family: Algorithm, algorithm: PpoKl(beta: 0.1),
             pretrain: Some((mixture: [(strategy: "tunnel_then_mine", share: 1.0)], episodes: 200))),
        ],
        train_loop: Device,
    )"#;
    let (config, _, scenarios) = experiments::repro::config::ReproConfig::parse(text, "test").unwrap();
    let dir = std::env::temp_dir().join(format!("pretrain_population_{}", std::process::id()));
    let dirs: Vec<_> = [101u64, 102].iter().map(|s| dir.join(s.to_string())).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let results = experiments::repro::run::run_population::<CpuAutodiff>(
        &config,
        &config.conditions[0],
        &scenarios[0],
        &[101, 102],
        &dirs,
        Default::default(),
        |_, _| {},
    )
    .unwrap()
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for r in &results {
        assert!(r.curve[0].eval_violation_rate > 0.95, "{:?}", r.curve[0]);
    }
}

/// The solver's demonstrators record the episodes its tables play: on `pressure`, where the
/// chain pays, the unrestricted optimum's part violates exactly as often as the same policy's
/// own rollouts (same seed, same slots), and the honest optimum's part never does; their
/// returns to go at an episode's start are the episodes' returns (γ = 1), whose mean is near the
/// exact optimum's value.
#[test]
fn the_solvers_optima_are_recorded_as_their_tables_play_them() {
    let params = CloudParams::scenario("pressure").unwrap();
    let mixture = |name: &str| vec![Share { strategy: name.into(), share: 1.0 }];
    let solver = Solver::new(&params).unwrap();
    let exact = Incentives::of(&solver, 0.0, 1.0);
    for (name, optimum) in [("solver_honest", &exact.honest), ("solver_unrestricted", &exact.unrestricted)] {
        let counts = counts(&mixture(name), 512).unwrap();
        let (demos, dataset) = demonstrations("pressure", &params, &counts, 1.0, 7).unwrap();
        let part = &dataset.parts[0];
        assert_eq!((part.strategy.as_str(), part.episodes, part.rows), (name, 512, demos.len()));
        let own = solver.policy(optimum).rollouts(256, 512, part.seed).unwrap();
        let share = |k: Violation| own.iter().filter(|e| e.safety.violations(k) > 0).count() as f64 / 512.0;
        let theirs: Vec<f64> = Violation::ALL.iter().map(|&k| share(k)).collect();
        assert_eq!(part.violating, theirs, "{name}");
        let violates = part.violating.iter().any(|&v| v > 0.0);
        assert_eq!(violates, name == "solver_unrestricted", "{name}: {:?}", part.violating);
        let returns: f64 = own.iter().map(|e| e.ret).sum::<f64>() / 512.0;
        assert!((returns - optimum.value).abs() < 0.05, "{name}: {returns} against the exact {}", optimum.value);
    }
    // An unknown demonstrator is refused with the names a mixture may use.
    let e = counts(&mixture("solver"), 10).unwrap_err().to_string();
    assert!(e.contains("unknown strategy `solver`") && e.contains("solver_honest"), "{e}");
}
