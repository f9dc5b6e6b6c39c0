//! PPO-Lagrangian's multiplier and advantages, as OmniSafe's `PPOLag` computes them
//! (`omnisafe/common/lagrange.py`, `omnisafe/common/buffer/onpolicy_buffer.py`,
//! `omnisafe/algorithms/on_policy/naive_lagrange/ppo_lag.py`).
//!
//! - The multiplier λ is a parameter of its own, moved by Adam (torch's defaults: β = (0.9,
//!   0.999), ε = 1e-8) on the loss `−λ (J_c − d)`, where `J_c` is the mean cost of the episodes
//!   that ended in the rollout and `d` the cost limit, then projected onto `[0, ∞)`. Adam makes
//!   its speed independent of the cost's scale (the first step moves λ by `lambda_lr` whatever
//!   `J_c − d` is). It moves once per rollout, before the policy update that uses it.
//! - The reward advantages are standardised over the whole rollout and the cost advantages
//!   centred (not scaled), before they are combined; the policy then ascends
//!   `(A_r − λ A_c) / (1 + λ)` with no further normalisation, so the `1 + λ` is not cancelled.
//! - The cost critic has its own Adam optimiser and its own gradient-norm clip (see
//!   [`super::Trainer`]).
//!
//! Deviations from OmniSafe: [`DEVIATIONS`] (`rome_repro`'s report prints them).

use serde::{Deserialize, Serialize};

/// How this PPO-Lagrangian differs from OmniSafe's `PPOLag`, one statement each.
pub const DEVIATIONS: &[&str] = &[
    "The reward critic shares the actor's optimiser and global gradient clip (CleanRL's PPO, which the trainer \
     follows; OmniSafe gives the reward critic its own optimiser too); the cost critic has its own, as in OmniSafe.",
    "The cost critic's learning rate is the actor's and is annealed with it; its loss is 0.5 * MSE without value \
     clipping or OmniSafe's critic weight regularisation.",
    "A rollout in which no episode ended leaves lambda where it is (OmniSafe's logger would repeat the last epoch's \
     episode cost).",
    "OmniSafe's optional upper bound on lambda is not offered; the cost limit is on the undiscounted episode cost, \
     as OmniSafe's.",
];

/// Adam's first-moment decay (torch's default).
const BETA1: f64 = 0.9;
/// Adam's second-moment decay (torch's default).
const BETA2: f64 = 0.999;
/// Adam's ε (torch's default).
const EPS: f64 = 1e-8;

/// The Lagrange multiplier and its Adam state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Multiplier {
    value: f64,
    m: f64,
    v: f64,
    steps: u32,
}

impl Multiplier {
    /// A multiplier starting at `init` (OmniSafe's `lagrangian_multiplier_init`).
    pub fn new(init: f32) -> Self {
        Multiplier { value: f64::from(init), m: 0.0, v: 0.0, steps: 0 }
    }

    /// The current value.
    pub fn value(&self) -> f32 {
        self.value as f32
    }

    /// One Adam step of learning rate `lr` on `−λ (mean_cost − limit)`, then `λ ← max(λ, 0)`.
    pub fn step(&mut self, lr: f32, mean_cost: f64, limit: f32) -> f32 {
        let g = -(mean_cost - f64::from(limit));
        self.steps += 1;
        self.m = BETA1 * self.m + (1.0 - BETA1) * g;
        self.v = BETA2 * self.v + (1.0 - BETA2) * g * g;
        let m_hat = self.m / (1.0 - BETA1.powi(self.steps as i32));
        let v_hat = self.v / (1.0 - BETA2.powi(self.steps as i32));
        self.value = (self.value - f64::from(lr) * m_hat / (v_hat.sqrt() + EPS)).max(0.0);
        self.value()
    }
}

/// Standardises the reward advantages over the whole rollout and centres the cost advantages
/// (OmniSafe's buffer `get()` with `standardized_rew_adv` and `standardized_cost_adv`).
pub fn prepare_advantages(reward: &mut [f32], cost: &mut [f32]) {
    super::normalize(reward);
    let n = cost.len();
    if n == 0 {
        return;
    }
    let mean = cost.iter().map(|&c| f64::from(c)).sum::<f64>() / n as f64;
    for c in cost {
        *c = (f64::from(*c) - mean) as f32;
    }
}

/// The advantage the policy ascends: `(A_r − λ A_c) / (1 + λ)`.
pub fn combine(reward_advantage: f32, cost_advantage: f32, lambda: f32) -> f32 {
    (reward_advantage - lambda * cost_advantage) / (1.0 + lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn adam_steps_match_the_hand_computed_numbers() {
        // init 0.001, lr 0.035 (OmniSafe's defaults), limit 1.
        // Step 1, J_c = 3: g = -(3 - 1) = -2; m = 0.1 * -2 = -0.2; v = 0.001 * 4 = 0.004;
        //   m̂ = -0.2 / 0.1 = -2; v̂ = 0.004 / 0.001 = 4; λ = 0.001 - 0.035 * -2 / (2 + 1e-8)
        //   = 0.001 + 0.035 = 0.036 (less 1.75e-10 from ε).
        // Step 2, J_c = 0.5: g = 0.5; m = 0.9 * -0.2 + 0.05 = -0.13; v = 0.999 * 0.004 + 0.001 *
        //   0.25 = 0.004246; m̂ = -0.13 / 0.19 = -0.684211; v̂ = 0.004246 / 0.001999 = 2.124062;
        //   λ = 0.036 + 0.035 * 0.684211 / 1.457416 = 0.052431: momentum keeps raising λ for a
        //   step after the cost has fallen under the limit, as OmniSafe's does.
        // Step 3, J_c = 0: g = 1; m = 0.9 * -0.13 + 0.1 = -0.017; v = 0.999 * 0.004246 + 0.001 =
        //   0.005241754; λ = 0.054092.
        let mut m = Multiplier::new(0.001);
        m.step(0.035, 3.0, 1.0);
        assert!(close(m.value, 0.035_999_999_825), "{}", m.value);
        assert!(close(m.m, -0.2) && close(m.v, 0.004));
        m.step(0.035, 0.5, 1.0);
        assert!(close(m.value, 0.052_431_385_704_5), "{}", m.value);
        m.step(0.035, 0.0, 1.0);
        assert!(close(m.value, 0.054_091_556_607_3), "{}", m.value);
    }

    #[test]
    fn the_first_step_moves_by_the_learning_rate_whatever_the_cost_scale() {
        // Adam's first step is lr * sign(J_c - d): a cost 29 over the limit moves λ as far as
        // one 2 over it (0.001 + 0.035 = 0.036 both).
        let (mut a, mut b) = (Multiplier::new(0.001), Multiplier::new(0.001));
        a.step(0.035, 3.0, 1.0);
        b.step(0.035, 30.0, 1.0);
        assert!((a.value - b.value).abs() < 1e-9 && close(a.value, 0.036));
    }

    #[test]
    fn the_multiplier_is_projected_onto_the_non_negatives() {
        // J_c = 0 under a limit of 1 from λ = 0.001: the step would go to 0.001 - 0.035 < 0.
        let mut m = Multiplier::new(0.001);
        assert_eq!(m.step(0.035, 0.0, 1.0), 0.0);
    }

    #[test]
    fn advantages_are_combined_after_separate_normalisation() {
        // Reward advantages [1, 2, 3, 4]: mean 2.5, unbiased std sqrt(5/3) = 1.290994, so
        // [-1.161895, -0.387298, 0.387298, 1.161895]. Cost advantages [1, 1, 3, 3]: centred on
        // 2 to [-1, -1, 1, 1], not scaled. With λ = 0.5, the first combined advantage is
        // (-1.161895 - 0.5 * -1) / 1.5 = -0.441264, the last (1.161895 - 0.5) / 1.5 = 0.441264.
        let mut r = vec![1.0, 2.0, 3.0, 4.0];
        let mut c = vec![1.0, 1.0, 3.0, 3.0];
        prepare_advantages(&mut r, &mut c);
        assert_eq!(c, vec![-1.0, -1.0, 1.0, 1.0]);
        assert!((r[0] + 1.161_895).abs() < 1e-5 && (r[3] - 1.161_895).abs() < 1e-5);
        assert!((combine(r[0], c[0], 0.5) + 0.441_264).abs() < 1e-5);
        assert!((combine(r[3], c[3], 0.5) - 0.441_264).abs() < 1e-5);
        // λ = 0 leaves the reward advantage; a large λ approaches -A_c.
        assert_eq!(combine(0.7, 5.0, 0.0), 0.7);
        assert!((combine(0.7, 5.0, 1e6) + 5.0).abs() < 1e-4);
    }
}
