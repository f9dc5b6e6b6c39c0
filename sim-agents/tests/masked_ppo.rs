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
