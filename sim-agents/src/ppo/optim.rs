//! The optimiser every update kernel steps with, defined once: Adam's hyperparameters and its
//! bias correction ([`adam`]), and global gradient-norm clipping's rule ([`clip_scale`]). burn's
//! optimiser is built from [`adam::config`]; the hand-written kernels (`fused`, `batched`) take
//! the same constants and the same correction, so the kernels cannot drift apart.

/// Adam (CleanRL's settings: β = (0.9, 0.999), ε = 1e-5), taken as burn's `Adam` takes it:
/// moments first, then the bias-corrected step with ε scaled by the second correction.
pub mod adam {
    /// The first moment's decay rate.
    pub const BETA_1: f32 = 0.9;
    /// The second moment's decay rate.
    pub const BETA_2: f32 = 0.999;
    /// The denominator's ε.
    pub const EPSILON: f32 = 1e-5;

    /// burn's Adam with these hyperparameters.
    pub fn config() -> burn::optim::AdamConfig {
        burn::optim::AdamConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON)
    }

    /// The bias correction of Adam's step number `time` (1-based): a parameter moves by
    /// `lr * (m * factor) / (sqrt(v) + epsilon)`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Correction {
        /// `sqrt(1 - β₂^t) / (1 - β₁^t)`, the first moment's factor.
        pub factor: f32,
        /// `ε sqrt(1 - β₂^t)`, the denominator's ε as burn scales it.
        pub epsilon: f32,
    }

    /// [`Correction`] at step `time`.
    pub fn correction(time: i32) -> Correction {
        let second = (1.0 - BETA_2.powi(time)).sqrt();
        Correction { factor: second / (1.0 - BETA_1.powi(time)), epsilon: EPSILON * second }
    }

    /// One Adam step of one parameter `w` with gradient `g` and moments `m`, `v`.
    #[inline(always)]
    pub fn step(w: &mut f32, g: f32, m: &mut f32, v: &mut f32, lr: f32, c: Correction) {
        *m = *m * BETA_1 + g * (1.0 - BETA_1);
        *v = *v * BETA_2 + g * g * (1.0 - BETA_2);
        *w -= (*m * c.factor / (v.sqrt() + c.epsilon)) * lr;
    }
}

/// torch's `clip_grad_norm_` rule: gradients whose global L2 norm is `norm` are scaled by
/// `max_norm / (norm + 1e-6)` when that is below 1 (`Some(factor)`), and left as they are
/// otherwise (`None`). Every kernel clips with it, each over its own norm (the cost critic's
/// gradients apart from the others, as its own optimiser has them).
pub fn clip_scale(norm: f32, max_norm: f32) -> Option<f32> {
    let coef = max_norm / (norm + 1e-6);
    (coef < 1.0).then_some(coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_adam_step_moves_by_the_learning_rate_against_the_gradient() {
        // After one step m = 0.1 g and v = 0.001 g², so the corrected step is lr g / (|g| + ε'):
        // the sign of the gradient, times the learning rate, up to ε.
        for g in [-3.0f32, -0.25, 0.5, 7.0] {
            let (mut w, mut m, mut v) = (1.0f32, 0.0, 0.0);
            adam::step(&mut w, g, &mut m, &mut v, 0.01, adam::correction(1));
            assert!((w - (1.0 - 0.01 * g.signum())).abs() < 1e-6, "{g}: {w}");
        }
    }

    #[test]
    fn clipping_scales_only_norms_above_the_limit() {
        assert_eq!(clip_scale(0.25, 0.5), None);
        assert_eq!(clip_scale(0.5, 0.5), Some(0.5 / (0.5 + 1e-6)));
        let f = clip_scale(2.0, 0.5).expect("clipped");
        assert!((f * 2.0 - 0.5).abs() < 1e-6);
        assert_eq!(clip_scale(f32::NAN, 0.5), None);
    }
}
