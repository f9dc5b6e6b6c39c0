//! Golden trajectories in RL: a behaviour-cloning term on clean demonstrations added to any
//! objective's loss, `loss + weight * CE(π(·|s_demo), a_demo)` (the form of InstructGPT's
//! "PPO-ptx", which mixes its pretraining loss into every update; ROME's paper trains on golden
//! trajectories in RL as well as in fine-tuning). Each RL minibatch is paired with a
//! demonstration minibatch of as many rows, taken in a fixed order that depends only on the
//! update and the minibatch's place in it, so a run is the same for any thread count and after
//! a resume. [`crate::Trainer::with_demonstrations`] wraps a run's objective in it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use crate::backend::TrainBackend;
use crate::policy::ActorCritic;
use crate::ppo::{EpochStats, Minibatch, Objective, PpoConfig, Trajectories, policy_terms};
use crate::pretrain::Demonstrations;

/// An objective with a behaviour-cloning term on demonstrations.
pub struct WithDemonstrations<B: TrainBackend> {
    inner: Box<dyn Objective<B>>,
    demos: Demonstrations,
    weight: f32,
    /// The update whose minibatches are being taken (set by [`Objective::advantages`]).
    update: AtomicUsize,
    /// Minibatches taken in this update so far.
    taken: AtomicUsize,
    /// The last minibatch's cross-entropy on the demonstrations, off the graph, read back only
    /// when asked for (reading it every minibatch would wait for the device each time).
    last_ce: Mutex<Option<Tensor<B::InnerBackend, 1>>>,
}

impl<B: TrainBackend> WithDemonstrations<B> {
    /// `inner` with `weight` times the cross-entropy on `demos` added to its loss. `demos` must
    /// not be empty.
    pub fn new(inner: Box<dyn Objective<B>>, demos: Demonstrations, weight: f32) -> Self {
        assert!(!demos.is_empty(), "demonstrations to clone");
        WithDemonstrations {
            inner,
            demos,
            weight,
            update: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            last_ce: Mutex::new(None),
        }
    }

    /// The demonstration rows paired with minibatch `k` (of `per_update`) of update `update`:
    /// `rows` consecutive rows, cycling through the demonstrations.
    pub fn rows(&self, update: usize, per_update: usize, k: usize, rows: usize) -> impl Iterator<Item = usize> {
        let n = self.demos.len();
        let start = ((update * per_update + k) * rows) % n;
        (start..start + rows).map(move |i| i % n)
    }

    /// The last minibatch's cross-entropy on the demonstrations (`None` before the first).
    pub fn last_cross_entropy(&self) -> Option<f32> {
        let last = self.last_ce.lock().expect("not poisoned").clone()?;
        Some(last.into_scalar().elem())
    }
}

impl<B: TrainBackend> Objective<B> for WithDemonstrations<B> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn advantages(&self, t: Trajectories<'_>, c: &PpoConfig, advantages: &mut [f32], returns: &mut [f32]) {
        self.update.store(t.update, Ordering::Relaxed);
        self.taken.store(0, Ordering::Relaxed);
        self.inner.advantages(t, c, advantages, returns);
    }

    fn loss(
        &self,
        model: &ActorCritic<B>,
        m: Minibatch<B>,
        c: &PpoConfig,
        mask: Option<&Tensor<B, 2>>,
    ) -> (Tensor<B, 1>, EpochStats) {
        let [n] = m.old_logprobs.dims();
        let device = m.old_logprobs.device();
        let k = self.taken.fetch_add(1, Ordering::Relaxed);
        let per_update = c.num_minibatches * c.update_epochs;
        let dim = self.demos.obs_dim;
        let (mut obs, mut actions) = (Vec::with_capacity(n * dim), Vec::with_capacity(n));
        for i in self.rows(self.update.load(Ordering::Relaxed), per_update, k, n) {
            obs.extend_from_slice(&self.demos.obs[i * dim..(i + 1) * dim]);
            actions.push(self.demos.actions[i] as i64);
        }
        let obs = Tensor::<B, 2>::from_data(TensorData::new(obs, [n, dim]), &device);
        let actions = Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [n]), &device);
        let (logprobs, _) = policy_terms(model.logits(obs), actions, mask);
        let ce = -logprobs.mean();
        let (loss, stats) = self.inner.loss(model, m, c, mask);
        *self.last_ce.lock().expect("not poisoned") = Some(ce.clone().inner());
        (loss + ce * self.weight, stats)
    }

    fn reference_kl(&self) -> Option<f32> {
        self.inner.reference_kl()
    }
}
