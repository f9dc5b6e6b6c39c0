//! An algorithm is an objective (its advantages and its loss), not another update: REINFORCE
//! with a learned baseline (`sim_agents::algorithms::Reinforce`, a few lines), handed to the
//! unchanged `Trainer`, learns CartPole; the hand-written kernels, which implement PPO's loss
//! only, refuse it by name.

use sim_agents::algorithms::Reinforce;
use sim_agents::backend::CpuAutodiff;
use sim_agents::ppo::Kernel;
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_envs::{CartPole, CartPoleParams};

type B = CpuAutodiff;

/// On-policy settings: one epoch over the rollout in one batch.
fn config(kernel: Kernel) -> PpoConfig {
    PpoConfig {
        total_timesteps: 16 * 128 * 150,
        num_envs: 16,
        num_steps: 128,
        learning_rate: 2.5e-3,
        num_minibatches: 1,
        update_epochs: 1,
        kernel,
        ..PpoConfig::default()
    }
}

// ANCHOR: trainer
fn trainer(kernel: Kernel) -> Result<Trainer<CartPole, B>, TrainError> {
    Trainer::<CartPole, B>::new(CartPoleParams::default(), config(kernel), 7, None, Default::default())?
        .with_objective(Box::new(Reinforce))
}
// ANCHOR_END: trainer

#[test]
fn reinforce_written_as_an_objective_learns_cartpole_through_the_unchanged_trainer() {
    let mut t = trainer(Kernel::Auto).unwrap();
    let mut returns = Vec::new();
    while t.updates_done() < t.num_updates() {
        let report = t.train_update().unwrap();
        returns.extend(report.metrics.episodic_return);
    }
    let first = returns[..5].iter().sum::<f64>() / 5.0;
    let last = t.final_return().unwrap();
    // A uniformly random CartPole policy lasts about 22 steps; this one reaches 208 (seed 7).
    assert!(first < 40.0 && last > 100.0, "first updates {first:.1}, last 100 episodes {last:.1}");
}

#[test]
fn the_hand_written_kernels_refuse_another_objective_by_name() {
    for kernel in [Kernel::Fused, Kernel::Batched] {
        let Err(e) = trainer(kernel) else { panic!("{kernel:?} took REINFORCE") };
        let message = e.to_string();
        assert!(message.contains("REINFORCE") && message.contains(&format!("{kernel:?}")), "{message}");
    }
    assert!(trainer(Kernel::Burn).is_ok());
}

#[test]
fn an_objective_changes_what_is_learned_and_nothing_else_of_the_run() {
    // The same seed under PPO's objective on burn's kernel: the same first rollout (the
    // objectives differ only after it), different weights after the update.
    let mut ppo =
        Trainer::<CartPole, B>::new(CartPoleParams::default(), config(Kernel::Burn), 7, None, Default::default())
            .unwrap();
    let mut reinforce = trainer(Kernel::Burn).unwrap();
    let (a, b) = (ppo.train_update().unwrap(), reinforce.train_update().unwrap());
    assert_eq!(format!("{:?}", a.episodes), format!("{:?}", b.episodes));
    assert_ne!(ppo.weights_checksum(), reinforce.weights_checksum());
}
