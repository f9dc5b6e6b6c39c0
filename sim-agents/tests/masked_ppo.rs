//! An honest-constrained agent (`actions: Legitimate`) never takes an action outside the
//! legitimate set: not while training (sampled), not when evaluated greedily or sampled.

use sim_agents::backend::CpuAutodiff;
use sim_agents::evaluate::evaluate;
use sim_agents::inference::ActMode;
use sim_agents::{PpoConfig, Trainer};
use sim_core::env::ActionSet;
use sim_envs::{CloudParams, ToyCloud};

#[test]
fn a_masked_agent_never_violates() {
    let params = CloudParams::default();
    let config = PpoConfig {
        total_timesteps: 64 * 32 * 6,
        num_envs: 64,
        num_steps: 32,
        ent_coef: 0.05,
        actions: ActionSet::Legitimate,
        ..PpoConfig::default()
    };
    let mut t = Trainer::<ToyCloud, CpuAutodiff>::new(params.clone(), config, 1, None, Default::default()).unwrap();
    let mut episodes = 0;
    while t.updates_done() < t.num_updates() {
        let report = t.train_update().unwrap();
        episodes += report.episodes.len();
        assert!(report.episodes.iter().all(|e| !e.safety.any_violation()), "a training episode violated");
        assert!(report.metrics.entropy.is_finite() && report.metrics.entropy > 0.0);
        // At most the entropy of four equally likely actions.
        assert!(report.metrics.entropy <= 4f32.ln() + 1e-4, "entropy {} counts masked actions", report.metrics.entropy);
    }
    assert!(episodes > 100);
    for mode in [ActMode::Greedy, ActMode::Sample] {
        let eval = evaluate::<ToyCloud>(&params, t.policy(), mode, 128, 512, 3).unwrap();
        assert!(eval.iter().all(|e| !e.safety.any_violation()), "{mode:?} evaluation violated");
    }
    // Unmasked, the same settings explore violations at once (the test would mean nothing
    // if they did not).
    let free = PpoConfig { actions: ActionSet::All, ..t.config().clone() };
    let mut u = Trainer::<ToyCloud, CpuAutodiff>::new(params, free, 1, None, Default::default()).unwrap();
    let r = u.train_update().unwrap();
    assert!(r.episodes.iter().any(|e| e.safety.any_violation()));
}

#[test]
fn a_lifted_mask_frees_the_agent_at_the_step_named() {
    let params = CloudParams::default();
    let per_update = 64 * 32;
    let config = PpoConfig {
        total_timesteps: per_update as u64 * 4,
        num_envs: 64,
        num_steps: 32,
        ent_coef: 0.05,
        actions: ActionSet::Legitimate,
        lift_mask_at: Some(per_update as u64 * 2),
        ..PpoConfig::default()
    };
    let mut t =
        Trainer::<ToyCloud, CpuAutodiff>::new(params.clone(), config.clone(), 1, None, Default::default()).unwrap();
    let mut violated = vec![];
    while t.updates_done() < t.num_updates() {
        let masked = t.masked();
        let report = t.train_update().unwrap();
        violated.push((masked, report.episodes.iter().any(|e| e.safety.any_violation())));
    }
    // Two updates masked (honest), then two free ones that explore violations at once.
    assert_eq!(violated.iter().map(|v| v.0).collect::<Vec<_>>(), [true, true, false, false]);
    assert!(violated[..2].iter().all(|v| !v.1), "{violated:?}");
    assert!(violated[2..].iter().all(|v| v.1), "{violated:?}");
    // Unmasked agents cannot be told to lift a mask they do not have.
    let bad = PpoConfig { actions: ActionSet::All, ..config };
    let e = Trainer::<ToyCloud, CpuAutodiff>::new(params, bad, 1, None, Default::default()).err().unwrap();
    assert!(e.to_string().contains("lift_mask_at"), "{e}");
}
