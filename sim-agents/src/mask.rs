//! Restricting a policy to some actions (an honest-constrained agent): masked actions get zero
//! probability in sampling, in the greedy choice, in log-probabilities and in the entropy.
//!
//! The mask is not part of the network: it shifts the logits of masked actions to −∞ on the
//! host and to −1e9 in tensors, where the loss's entropy would otherwise compute `0 · ∞`. In
//! `f32` both make a masked action's probability exactly zero, so host log-probabilities and
//! the loss's agree with each other and with a softmax over the allowed actions alone.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use sim_core::env::{ActionSet, Environment};

/// The logit offset of a masked action in tensors.
const MASKED: f32 = -1e9;

/// Which actions a policy may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionMask {
    pub(crate) allowed: Vec<bool>,
}

impl ActionMask {
    /// The mask of `set` for environment `E` under `params`; `None` when every action is allowed.
    pub fn of<E: Environment>(set: ActionSet, params: &E::Params) -> Option<Self> {
        let allowed = set.mask::<E>(params);
        assert!(allowed.iter().any(|&a| a), "{}: the action set {set:?} allows no action", E::NAME);
        allowed.iter().any(|&a| !a).then_some(ActionMask { allowed })
    }

    /// One flag per action: whether it may be taken.
    pub fn allowed(&self) -> &[bool] {
        &self.allowed
    }

    /// Sets the logits of masked actions to −∞ (`logits` is one row, or rows of `allowed.len()`).
    pub fn apply(&self, logits: &mut [f32]) {
        for row in logits.chunks_mut(self.allowed.len()) {
            for (l, &ok) in row.iter_mut().zip(&self.allowed) {
                if !ok {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }

    /// The offsets to add to `[batch, actions]` logits: `[1, actions]`, 0 or −1e9.
    pub fn offsets<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(self.offset_row(), [1, self.allowed.len()]), device)
    }

    /// The offsets of one row of logits, on the host: 0 or −1e9 per action.
    pub fn offset_row(&self) -> Vec<f32> {
        self.allowed.iter().map(|&ok| if ok { 0.0 } else { MASKED }).collect()
    }
}

/// `logits` with `mask`'s offsets added (unchanged without a mask).
pub fn masked<B: Backend>(logits: Tensor<B, 2>, mask: Option<&Tensor<B, 2>>) -> Tensor<B, 2> {
    match mask {
        Some(offsets) => logits + offsets.clone(),
        None => logits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::{ActMode, choose_with};

    /// Masked actions are never sampled or chosen greedily; the allowed ones are sampled in
    /// proportion to their softmax over the allowed actions alone, with matching log-probabilities.
    #[test]
    fn masked_actions_get_zero_probability_and_the_rest_renormalise() {
        let mask = ActionMask { allowed: vec![false, true, true, false] };
        let mut logits = [3.0f32, 0.5, -0.5, 2.0];
        mask.apply(&mut logits);
        let z = 0.5f32.exp() + (-0.5f32).exp();
        let mut counts = [0u32; 4];
        let n = 40_000;
        for k in 0..n {
            let u = (k as f32 + 0.5) / n as f32;
            let (a, lp) = choose_with(&logits, u, ActMode::Sample);
            counts[a as usize] += 1;
            assert!((lp - (logits[a as usize] - z.ln())).abs() < 1e-6);
        }
        assert_eq!((counts[0], counts[3]), (0, 0));
        let p1 = f64::from(counts[1]) / f64::from(n);
        assert!((p1 - f64::from(0.5f32.exp() / z)).abs() < 1e-3, "{p1}");
        // Greedy: the best allowed action, though a masked one has the highest raw logit.
        assert_eq!(choose_with(&logits, 0.0, ActMode::Greedy).0, 1);
        // The tensor offsets give the same log-probabilities: exp(-1e9) is exactly 0 in f32.
        let device = Default::default();
        let raw =
            Tensor::<burn::backend::Flex, 2>::from_data(TensorData::new(vec![3.0f32, 0.5, -0.5, 2.0], [1, 4]), &device);
        let lp: Vec<f32> = burn::tensor::activation::log_softmax(masked(raw, Some(&mask.offsets(&device))), 1)
            .into_data()
            .to_vec()
            .unwrap();
        assert!((lp[1] - (0.5 - z.ln())).abs() < 1e-6 && (lp[2] - (-0.5 - z.ln())).abs() < 1e-6, "{lp:?}");
        let p: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((p - 1.0).abs() < 1e-6 && lp[0].exp() == 0.0 && lp[3].exp() == 0.0);
    }

    #[test]
    fn a_mask_exists_only_where_some_action_is_excluded() {
        let cartpole = sim_envs::CartPoleParams::default();
        assert!(ActionMask::of::<sim_envs::CartPole>(ActionSet::Legitimate, &cartpole).is_none());
        let cloud = sim_envs::CloudParams::default();
        assert!(ActionMask::of::<sim_envs::ToyCloud>(ActionSet::All, &cloud).is_none());
        let honest = ActionMask::of::<sim_envs::ToyCloud>(ActionSet::Legitimate, &cloud).unwrap();
        assert_eq!(honest.allowed(), [true, true, true, true, false, false, false, false, false, false, false]);
    }
}
