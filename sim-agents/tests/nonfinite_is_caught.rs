//! NaN and infinities stop training with an error naming where they appeared, and the last
//! good checkpoint is left intact.

use serde::{Deserialize, Serialize};
use sim_agents::backend::CpuAutodiff;
use sim_agents::penalty::Penalty;
use sim_agents::rollout::Rollout;
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_core::prelude::*;
use sim_core::safety::NoKind;
use sim_envs::CartPole;

/// Rewards that explode (finite, but near `f32::MAX`) from step `at` on: the squared value
/// error overflows.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Blowup {
    at: u32,
}
impl Validate for Blowup {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
}
struct Diverging;
impl Environment for Diverging {
    type Params = Blowup;
    type State = u32;
    type Block = Vec<u32>;
    type Violation = NoKind;
    type Monitor = NoKind;
    type Metrics = ();
    const NAME: &'static str = "diverging";
    fn spaces(_: &Blowup) -> Spaces {
        Spaces { obs_dim: 2, num_actions: 2 }
    }
    fn fallback_action(_: &Blowup) -> u32 {
        0
    }
    fn reset(_: &Blowup, _: &Draws, obs: &mut [f32]) -> u32 {
        obs.fill(0.1);
        0
    }
    fn step(p: &Blowup, s: &mut u32, _: u32, _: &Draws, obs: &mut [f32], _: &mut SafetyOf<Self>) -> Transition {
        *s += 1;
        obs.fill(0.1);
        let reward = if *s >= p.at { 3e38 } else { 1.0 };
        Transition { reward, terminated: false, truncated: false }
    }
    fn metrics(_: &Blowup, _: &u32) {}
}

fn config() -> PpoConfig {
    PpoConfig { total_timesteps: 512 * 20, ..PpoConfig::default() }
}

#[test]
fn a_loss_that_overflows_names_update_and_term_and_spares_the_checkpoint() {
    // 4 environments x 128 steps per rollout: step 300 falls in the third rollout.
    let mut t =
        Trainer::<Diverging, CpuAutodiff>::new(Blowup { at: 300 }, config(), 1, None, Default::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("nonfinite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.bin");
    t.train_update().unwrap();
    t.save_checkpoint(&path).unwrap();
    let saved = std::fs::read(&path).unwrap();
    let err = (0..5).find_map(|_| t.train_update().err()).expect("exploding rewards stop training");
    match &err {
        TrainError::NonFiniteLoss { update, term, .. } => {
            assert_eq!(*update, 3, "rewards explode during the third rollout: {err}");
            // The advantages overflow to infinity, normalising them gives NaN, and the policy
            // loss is the first term checked.
            assert_eq!(*term, "policy_loss", "{err}");
        }
        other => panic!("expected a non-finite loss, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains("update 3") && message.contains("checkpoint is untouched"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), saved);
    assert!(
        Trainer::<Diverging, CpuAutodiff>::resume(&path, Blowup { at: 300 }, &config(), 1, None, Default::default())
            .is_ok()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

struct NanPenalty;
impl Penalty<CartPole> for NanPenalty {
    fn describe(&self) -> String {
        "nan".into()
    }
    fn apply(&mut self, r: &mut Rollout<CartPole>, update: usize) {
        if update == 1 {
            r.rewards[5 * r.num_envs + 2] = f32::NAN;
        }
    }
}

#[test]
fn a_nan_reward_names_update_step_and_environment() {
    let mut t = Trainer::<CartPole, CpuAutodiff>::new(
        Default::default(),
        config(),
        1,
        Some(Box::new(NanPenalty)),
        Default::default(),
    )
    .unwrap();
    t.train_update().unwrap();
    let err = t.train_update().err().expect("a NaN reward stops training").to_string();
    assert_eq!(err, "non-finite reward (NaN) in the rollout of update 2 at step 5, environment 2");
    assert_eq!(t.updates_done(), 1, "the failed update was not applied");
}

#[test]
fn unknown_action_names_in_the_prior_are_rejected() {
    let mut c = config();
    c.policy.initial_logits.insert("jump".into(), 1.0);
    let err = Trainer::<CartPole, CpuAutodiff>::new(Default::default(), c, 1, None, Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`jump`") && err.contains("push_left, push_right"), "{err}");
}
