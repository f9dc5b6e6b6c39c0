//! Every penalty against hand-computed numbers on hand-made ToyCloud rollouts.

use sim_agents::backend::CpuAutodiff;
use sim_agents::penalty::{AupConfig, AupPenalty, PenaltyConfig, aux_diversity};
use sim_agents::rollout::Rollout;
use sim_core::env::{Environment, SafetyOf};
use sim_core::rng::StreamKey;
use sim_core::runner::{BatchRunner, StepBuffers, safety_buffer};
use sim_envs::toycloud::{CloudParams, Monitor, ToyCloud, Violation, obs};

type B = CpuAutodiff;

/// A rollout of 1 step × 3 environments whose safety records are: no violation; mining with
/// cost 0.4 and a firewall alert; a tunnel with cost 1.5, a firewall and a telemetry alert.
/// Task rewards 1, 0.5, 0.
fn hand_made() -> Rollout<ToyCloud> {
    let dim = ToyCloud::spaces(&CloudParams::default()).obs_dim;
    let mut r = Rollout::<ToyCloud>::new(1, 3, dim);
    r.rewards = vec![1.0, 0.5, 0.0];
    r.task_rewards = r.rewards.clone();
    let mut s1 = SafetyOf::<ToyCloud>::default();
    s1.violate(Violation::Mining, 0.4);
    s1.alert(Monitor::Firewall);
    let mut s2 = SafetyOf::<ToyCloud>::default();
    s2.violate(Violation::Tunnel, 1.5);
    s2.alert(Monitor::Firewall);
    s2.alert(Monitor::ProcessTelemetry);
    r.safety = vec![SafetyOf::<ToyCloud>::default(), s1, s2];
    r
}

fn apply(config: PenaltyConfig, r: &mut Rollout<ToyCloud>) {
    let mut p = config.build::<ToyCloud, B>(&CloudParams::default(), 1, &Default::default()).unwrap();
    p.apply(r, 0);
}

#[test]
fn the_oracle_penalty_charges_weight_times_true_cost() {
    // weight 2: 1 − 2·0 = 1; 0.5 − 2·0.4 = −0.3; 0 − 2·1.5 = −3. Costs untouched.
    let mut r = hand_made();
    apply(PenaltyConfig::TrueCost { weight: 2.0 }, &mut r);
    let want = [1.0, -0.3, -3.0];
    assert!(r.rewards.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{:?}", r.rewards);
    assert_eq!(r.costs, vec![0.0; 3]);
}

#[test]
fn the_detected_penalty_charges_weight_per_alert() {
    // weight 0.25 per alert: 1 − 0 = 1; 0.5 − 0.25 = 0.25; 0 − 2·0.25 = −0.5 (the cost does not
    // matter, only what the monitors saw).
    let mut r = hand_made();
    apply(PenaltyConfig::Detected { weight: 0.25 }, &mut r);
    assert_eq!(r.rewards, vec![1.0, 0.25, -0.5]);
}

#[test]
fn the_cost_signal_moves_the_cost_and_leaves_the_reward() {
    let mut r = hand_made();
    apply(PenaltyConfig::CostSignal, &mut r);
    assert_eq!(r.rewards, vec![1.0, 0.5, 0.0]);
    assert_eq!(r.costs, vec![0.0, 0.4, 1.5]);
    let mut r = hand_made();
    apply(PenaltyConfig::TaskOnly, &mut r);
    assert_eq!((r.rewards.clone(), r.costs.clone()), (vec![1.0, 0.5, 0.0], vec![0.0; 3]));
}

/// Observations of `steps` steps of `n` ToyCloud slots under uniformly random actions.
fn random_observations(n: usize, steps: usize) -> Vec<f32> {
    let params = CloudParams::default();
    let spaces = ToyCloud::spaces(&params);
    let mut buffers = StepBuffers::new(spaces, n);
    let mut runner = BatchRunner::<ToyCloud>::new(params, n, 7, &mut buffers).unwrap();
    let mut safety = safety_buffer::<ToyCloud>(n);
    let mut rng = StreamKey([3, 4]).chacha();
    let mut all = Vec::new();
    for _ in 0..steps {
        all.extend_from_slice(&buffers.obs);
        let actions: Vec<u32> = (0..n).map(|_| rand_core::Rng::next_u32(&mut rng) % spaces.num_actions).collect();
        runner.step(&actions, &mut buffers, &mut safety);
    }
    all
}

#[test]
fn auxiliary_goals_ignore_the_safety_columns_and_are_diverse() {
    let params = CloudParams::default();
    let p = AupPenalty::<B>::new::<ToyCloud>(&AupConfig::default(), &params, 1, &Default::default()).unwrap();
    let goals = p.goals();
    assert_eq!(goals.columns().len(), 10, "{:?}", goals.columns());
    // Flipping every safety column leaves the cell; a resource column moves it.
    let o = random_observations(1, 1);
    let mut flipped = o.clone();
    for f in [obs::MINER, obs::TUNNEL, obs::HOST_EXPLOITED, obs::ALERT_SEEN, obs::PROBES, obs::TUNNEL_TRIED] {
        flipped[f] = 1.0 - flipped[f];
    }
    assert_eq!(goals.cell(&o), goals.cell(&flipped));
    let mut richer = o.clone();
    richer[obs::COINS] = 0.9;
    assert_ne!(goals.cell(&o), goals.cell(&richer));

    // Over the states random play visits, independent per-cell goals are as uncorrelated as the
    // number of distinct cells allows: with m equally visited cells two independent goals
    // correlate by about sqrt(2 / (π m)) in absolute value. Measured (64 slots x 200 steps):
    // mean |correlation| 0.135, effective number 16.9 of 30, over 688 cells whose visit
    // distribution has an effective number of 30.7, where independent goals would give 0.144
    // (the old linear goals: 0.93 and about 1).
    let sample = random_observations(64, 200);
    let mut visits = std::collections::HashMap::<u32, f64>::new();
    for o in sample.chunks(obs::DIM) {
        *visits.entry(goals.cell(o)).or_default() += 1.0;
    }
    let total: f64 = visits.values().sum();
    let cells = 1.0 / visits.values().map(|v| (v / total).powi(2)).sum::<f64>();
    let (corr, effective) = aux_diversity(goals, &sample, obs::DIM);
    eprintln!(
        "auxiliary goals: mean |correlation| {corr:.3}, effective number {effective:.1} of 30, over {} cells (effective number of cells {cells:.1})",
        visits.len()
    );
    let independent = (2.0 / (std::f64::consts::PI * cells)).sqrt();
    assert!(corr < 1.5 * independent, "mean |correlation| {corr} against {independent} for independent goals");
    assert!(effective > 10.0, "effective number {effective}");
}

#[test]
fn an_unknown_noop_action_is_named_with_its_field() {
    let config = AupConfig { noop: "nap".into(), ..AupConfig::default() };
    let err = AupPenalty::<B>::new::<ToyCloud>(&config, &CloudParams::default(), 1, &Default::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.starts_with("penalty.noop names `nap`, which is not an action of"), "{err}");
    assert!(err.contains("wait"), "{err}");
}
