//! The actor-critic policy: separate actor and critic MLPs (64×64 tanh by default) with
//! CleanRL's orthogonal initialisation, an optional cost critic for PPO-Lagrangian, and an
//! optional prior on the initial action distribution.
//!
//! Initialisation runs on the host from a ChaCha stream, so the same seed gives the same
//! weights on every backend; parameter ids are fixed too, so optimiser records and
//! checkpoints line up across runs.

use std::collections::BTreeMap;

use burn::module::{Module, Param, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use sim_core::checksum::Checksum;
use sim_core::env::Spaces;
use sim_core::rng::StreamKey;

use crate::backend::{PolicyBackend, tanh};
use crate::inference::{Dense, DenseMlp, InferencePolicy};

/// The network's shape and initialisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Widths of the hidden layers of the actor and of each critic.
    pub hidden: Vec<usize>,
    /// Initial logit of named actions (the actor's output bias; other actions start at 0).
    /// With the 0.01-gain policy head the initial policy is almost exactly
    /// `softmax(bias)` in every state: a prior over actions, such as an instruction-following
    /// agent's habit of working on its task.
    pub initial_logits: BTreeMap<String, f32>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { hidden: vec![64, 64], initial_logits: BTreeMap::new() }
    }
}

/// A multilayer perceptron: tanh after every layer but the last.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
}

/// The MLP's forward on burn, once for every form its layers take (a network's `Linear`s, a
/// population's stacked weights, the batched update's): each layer's affine map `affine`, tanh
/// after every layer but the last. The host's forward (`inference::DenseMlp`, which the
/// hand-written update's `fused::forward` shares the layers of) loops over buffers instead.
pub(crate) fn mlp_forward<B: PolicyBackend, const D: usize, L>(
    layers: impl ExactSizeIterator<Item = L>,
    x: Tensor<B, D>,
    affine: impl Fn(Tensor<B, D>, L) -> Tensor<B, D>,
) -> Tensor<B, D> {
    let last = layers.len() - 1;
    layers.enumerate().fold(x, |h, (i, layer)| {
        let z = affine(h, layer);
        if i < last { tanh(z) } else { z }
    })
}

impl<B: PolicyBackend> Mlp<B> {
    /// `[batch, in] -> [batch, out]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        mlp_forward(self.layers.iter(), x, |h, layer| layer.forward(h))
    }
}

impl<B: Backend> Mlp<B> {
    /// A network of layer widths `sizes` (input first): orthogonal weights with gain √2,
    /// `head_gain` on the last layer, zero biases except the last layer's (`head_bias`).
    /// Parameter ids are taken from `next_id` upwards.
    pub fn init(
        sizes: &[usize],
        head_gain: f64,
        head_bias: &[f32],
        rng: &mut impl Rng,
        next_id: &mut u64,
        device: &B::Device,
    ) -> Self {
        let n = sizes.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let (inputs, outputs) = (sizes[i], sizes[i + 1]);
                let gain = if i + 1 == n { head_gain } else { std::f64::consts::SQRT_2 };
                let weight = orthogonal(rng, inputs, outputs, gain);
                let bias = if i + 1 == n { head_bias.to_vec() } else { vec![0.0; outputs] };
                let mut layer = LinearConfig::new(inputs, outputs).init::<B>(device);
                let w = Tensor::<B, 2>::from_data(TensorData::new(weight, [inputs, outputs]), device);
                let b = Tensor::<B, 1>::from_data(TensorData::new(bias, [outputs]), device);
                layer.weight = Param::initialized(ParamId::from(*next_id), w.require_grad());
                layer.bias = Some(Param::initialized(ParamId::from(*next_id + 1), b.require_grad()));
                *next_id += 2;
                layer
            })
            .collect();
        Mlp { layers }
    }

    /// This network with the weights of `dense` (same shapes), keeping the parameter ids.
    fn with_dense(&self, dense: &DenseMlp) -> Self {
        assert_eq!(dense.layers.len(), self.layers.len(), "layer count");
        let device = self.layers[0].weight.device();
        self.with_values(dense.layers.iter().map(|d| {
            let w = Tensor::<B, 2>::from_data(TensorData::new(d.weight.clone(), [d.inputs, d.outputs]), &device);
            (w, Tensor::<B, 1>::from_data(TensorData::new(d.bias.clone(), [d.outputs]), &device))
        }))
    }

    /// This network with each layer's weight and bias replaced by `values` (same shapes, in
    /// layer order), keeping the parameter ids.
    fn with_values(&self, values: impl IntoIterator<Item = (Tensor<B, 2>, Tensor<B, 1>)>) -> Self {
        let layers: Vec<Linear<B>> = self
            .layers
            .iter()
            .zip(values)
            .map(|(l, (w, b))| {
                assert_eq!(l.weight.dims(), w.dims(), "layer shape");
                let mut layer = l.clone();
                layer.weight = Param::initialized(l.weight.id, w.require_grad());
                let bias_id = l.bias.as_ref().expect("layers have biases").id;
                layer.bias = Some(Param::initialized(bias_id, b.require_grad()));
                layer
            })
            .collect();
        assert_eq!(layers.len(), self.layers.len(), "layer count");
        Mlp { layers }
    }

    fn to_dense(&self) -> DenseMlp {
        DenseMlp {
            layers: self
                .layers
                .iter()
                .map(|l| {
                    let [inputs, outputs] = l.weight.dims();
                    let weight = l.weight.val().into_data().to_vec::<f32>().expect("f32 weights");
                    let bias =
                        l.bias.as_ref().expect("layers have biases").val().into_data().to_vec::<f32>().expect("f32");
                    Dense { inputs, outputs, weight, bias }
                })
                .collect(),
        }
    }
}

/// One layer's parameters ([`ActorCritic::layers`]).
pub(crate) struct LayerParams<'a, B: Backend> {
    pub weight: &'a Param<Tensor<B, 2>>,
    pub bias: &'a Param<Tensor<B, 1>>,
    /// Whether the layer is the cost critic's.
    pub cost: bool,
}

/// The actor-critic network.
#[derive(Module, Debug)]
pub struct ActorCritic<B: Backend> {
    actor: Mlp<B>,
    critic: Mlp<B>,
    cost_critic: Option<Mlp<B>>,
}

/// Outputs of a forward pass.
pub struct PolicyOutput<B: Backend> {
    /// Action logits, `[batch, num_actions]`.
    pub logits: Tensor<B, 2>,
    /// State values, `[batch]`.
    pub values: Tensor<B, 1>,
    /// Cost values, `[batch]`, when the network has a cost critic.
    pub cost_values: Option<Tensor<B, 1>>,
}

impl<B: PolicyBackend> ActorCritic<B> {
    /// A freshly initialised network for `spaces` (orthogonal weights: gain √2 for hidden
    /// layers, 0.01 for the policy head, 1 for value heads; zero biases, except the policy
    /// head's, which holds `initial_logits`).
    pub fn init(
        spaces: Spaces,
        config: &PolicyConfig,
        initial_logits: &[f32],
        cost_critic: bool,
        key: StreamKey,
        device: &B::Device,
    ) -> Self {
        assert_eq!(initial_logits.len(), spaces.num_actions as usize);
        let mut rng = key.chacha();
        let mut next_id = 0u64;
        let mut mlp = |outputs: usize, head_gain: f64, head_bias: &[f32]| {
            let mut sizes = vec![spaces.obs_dim];
            sizes.extend(&config.hidden);
            sizes.push(outputs);
            Mlp::init(&sizes, head_gain, head_bias, &mut rng, &mut next_id, device)
        };
        let actor = mlp(spaces.num_actions as usize, 0.01, initial_logits);
        let critic = mlp(1, 1.0, &[0.0]);
        let cost_critic = cost_critic.then(|| mlp(1, 1.0, &[0.0]));
        ActorCritic { actor, critic, cost_critic }
    }

    /// `[batch, obs_dim]` observations to logits, values and cost values.
    pub fn forward(&self, obs: Tensor<B, 2>) -> PolicyOutput<B> {
        let [batch, _] = obs.dims();
        let logits = self.actor.forward(obs.clone());
        let values = self.values(obs.clone());
        let cost_values = self.cost_critic.as_ref().map(|c| c.forward(obs).reshape([batch]));
        PolicyOutput { logits, values, cost_values }
    }

    /// Action logits of `[batch, obs_dim]` observations: the actor alone. A loss without a
    /// critic term uses this, not [`ActorCritic::forward`]: under autodiff, a critic's output
    /// that no loss consumes would leave its graph behind at every step.
    pub fn logits(&self, obs: Tensor<B, 2>) -> Tensor<B, 2> {
        self.actor.forward(obs)
    }

    /// State values of `[batch, obs_dim]` observations, `[batch]`: the critic alone.
    pub fn values(&self, obs: Tensor<B, 2>) -> Tensor<B, 1> {
        let [batch, _] = obs.dims();
        self.critic.forward(obs).reshape([batch])
    }
}

impl<B: Backend> ActorCritic<B> {
    /// Whether the network has a cost critic.
    pub fn has_cost_critic(&self) -> bool {
        self.cost_critic.is_some()
    }

    /// The cost critic, if the network has one.
    pub fn cost_critic(&self) -> Option<&Mlp<B>> {
        self.cost_critic.as_ref()
    }

    /// Copies of the actor's, the critic's and the cost critic's weights on the host.
    pub fn to_dense(&self) -> (DenseMlp, DenseMlp, Option<DenseMlp>) {
        (self.actor.to_dense(), self.critic.to_dense(), self.cost_critic.as_ref().map(Mlp::to_dense))
    }

    /// This network with the weights of [`ActorCritic::to_dense`]'s form (same shapes),
    /// keeping every parameter id (so optimiser records and checkpoints still line up).
    pub fn with_dense(&self, actor: &DenseMlp, critic: &DenseMlp, cost_critic: Option<&DenseMlp>) -> Self {
        ActorCritic {
            actor: self.actor.with_dense(actor),
            critic: self.critic.with_dense(critic),
            cost_critic: match (&self.cost_critic, cost_critic) {
                (Some(m), Some(d)) => Some(m.with_dense(d)),
                (None, None) => None,
                _ => panic!("with_dense: the cost critic must match the network's"),
            },
        }
    }

    /// Every layer's weight and bias, in module order (the actor's, the critic's, then the cost
    /// critic's layers).
    pub(crate) fn layers(&self) -> Vec<LayerParams<'_, B>> {
        let mlps =
            [(&self.actor, false), (&self.critic, false)].into_iter().chain(self.cost_critic.iter().map(|m| (m, true)));
        mlps.flat_map(|(m, cost)| {
            m.layers.iter().map(move |l| LayerParams {
                weight: &l.weight,
                bias: l.bias.as_ref().expect("layers have biases"),
                cost,
            })
        })
        .collect()
    }

    /// This network with every layer's weight and bias replaced by `values`, in the order of
    /// [`ActorCritic::layers`] (same shapes), keeping every parameter id.
    pub(crate) fn with_layers(&self, values: Vec<(Tensor<B, 2>, Tensor<B, 1>)>) -> Self {
        let count = |m: &Mlp<B>| m.layers.len();
        let total = count(&self.actor) + count(&self.critic) + self.cost_critic.as_ref().map_or(0, count);
        assert_eq!(values.len(), total, "one weight and bias per layer");
        let mut values = values.into_iter();
        let mut next = |m: &Mlp<B>| m.with_values(values.by_ref().take(count(m)).collect::<Vec<_>>());
        ActorCritic {
            actor: next(&self.actor),
            critic: next(&self.critic),
            cost_critic: self.cost_critic.as_ref().map(&mut next),
        }
    }

    /// A copy of the weights for the host inference path.
    pub fn to_inference(&self) -> InferencePolicy {
        InferencePolicy::new(
            self.actor.to_dense(),
            self.critic.to_dense(),
            self.cost_critic.as_ref().map(Mlp::to_dense),
        )
    }

    /// A checksum of every weight, in module order (16 hex digits).
    pub fn weights_checksum(&self) -> String {
        let mut sum = Checksum::default();
        for mlp in [Some(&self.actor), Some(&self.critic), self.cost_critic.as_ref()].into_iter().flatten() {
            for d in &mlp.to_dense().layers {
                sum.add_f32(&d.weight);
                sum.add_f32(&d.bias);
            }
        }
        sum.hex()
    }
}

/// The acting networks of several runs, each layer's weights stacked along a leading run axis
/// (`[R, in, out]`; biases repeated over each run's rows, `[R * N, out]`, so that adding them is
/// a plain elementwise add): one batched forward pass acts for a whole population of `N` rows
/// per run. Run `r`'s rows are computed exactly as its own network computes them (one matrix
/// product per run, the same bias add and tanh), so a run acts the same in a population as alone.
pub struct Stacked<B: Backend> {
    runs: usize,
    rows: usize,
    actor: Vec<(Tensor<B, 3>, Tensor<B, 2>)>,
    critic: Vec<(Tensor<B, 3>, Tensor<B, 2>)>,
    cost_critic: Option<Vec<(Tensor<B, 3>, Tensor<B, 2>)>>,
}

impl<B: PolicyBackend> Stacked<B> {
    /// The networks of `models` (one per run, all of one shape, with or without a cost critic
    /// alike), stacked on their device, for batches of `rows` rows per run.
    pub fn of(models: &[&ActorCritic<B>], rows: usize) -> Self {
        assert!(!models.is_empty(), "a population has at least one run");
        let runs = models.len();
        let stack = |mlps: Vec<&Mlp<B>>| -> Vec<(Tensor<B, 3>, Tensor<B, 2>)> {
            (0..mlps[0].layers.len())
                .map(|i| {
                    let weights = mlps.iter().map(|m| m.layers[i].weight.val()).collect();
                    let biases: Vec<Tensor<B, 2>> = mlps
                        .iter()
                        .map(|m| m.layers[i].bias.as_ref().expect("layers have biases").val().unsqueeze_dim::<2>(0))
                        .collect();
                    let out = biases[0].dims()[1];
                    let repeated = Tensor::cat(biases, 0).unsqueeze_dim::<3>(1).expand([runs, rows, out]);
                    (Tensor::stack::<3>(weights, 0), repeated.reshape([runs * rows, out]))
                })
                .collect()
        };
        let cost: Vec<&Mlp<B>> = models.iter().filter_map(|m| m.cost_critic.as_ref()).collect();
        assert!(cost.is_empty() || cost.len() == models.len(), "every run has a cost critic, or none");
        Stacked {
            runs,
            rows,
            actor: stack(models.iter().map(|m| &m.actor).collect()),
            critic: stack(models.iter().map(|m| &m.critic).collect()),
            cost_critic: (!cost.is_empty()).then(|| stack(cost)),
        }
    }

    /// `[R * N, in]` rows (run `r`'s `N` rows after run `r - 1`'s) through each run's layers:
    /// `[R * N, out]`.
    fn mlp(&self, layers: &[(Tensor<B, 3>, Tensor<B, 2>)], x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (runs, n) = (self.runs, self.rows);
        assert_eq!(x.dims()[0], runs * n, "{n} rows per run");
        mlp_forward(layers.iter(), x, |h, (w, b)| {
            let [_, inputs] = h.dims();
            let z = h.reshape([runs, n, inputs]).matmul(w.clone());
            z.reshape([runs * n, b.dims()[1]]) + b.clone()
        })
    }

    /// [`ActorCritic::forward`] of every run on its own rows of `obs` (`[R * N, obs_dim]`).
    pub fn forward(&self, obs: Tensor<B, 2>) -> PolicyOutput<B> {
        let [rows, _] = obs.dims();
        PolicyOutput {
            logits: self.mlp(&self.actor, obs.clone()),
            values: self.values(obs.clone()),
            cost_values: self.cost_critic.as_ref().map(|c| self.mlp(c, obs).reshape([rows])),
        }
    }

    /// [`ActorCritic::values`] of every run on its own rows of `obs`, `[R * N]`.
    pub fn values(&self, obs: Tensor<B, 2>) -> Tensor<B, 1> {
        let [rows, _] = obs.dims();
        self.mlp(&self.critic, obs).reshape([rows])
    }
}

/// A `[inputs, outputs]` row-major matrix whose `[outputs, inputs]` transpose is (semi-)
/// orthogonal with gain `gain`, as `torch.nn.init.orthogonal_` makes it: QR of a standard
/// normal matrix, with the signs of R's diagonal folded into Q.
pub fn orthogonal(rng: &mut impl Rng, inputs: usize, outputs: usize, gain: f64) -> Vec<f32> {
    // Torch's weight is [rows = outputs, cols = inputs]; it orthogonalises the taller of the
    // matrix and its transpose.
    let (rows, cols) = (outputs, inputs);
    let (m, n) = if rows < cols { (cols, rows) } else { (rows, cols) }; // m >= n
    let mut a: Vec<f64> = (0..m * n).map(|_| standard_normal(rng)).collect(); // [m, n] row-major
    // Modified Gram-Schmidt on the columns of `a`: Q is [m, n], R's diagonal in `diag`.
    for j in 0..n {
        for k in 0..j {
            let dot: f64 = (0..m).map(|i| a[i * n + j] * a[i * n + k]).sum();
            for i in 0..m {
                a[i * n + j] -= dot * a[i * n + k];
            }
        }
        let norm = (0..m).map(|i| a[i * n + j] * a[i * n + j]).sum::<f64>().sqrt();
        // Dividing by the norm makes R's diagonal positive: the sign correction of torch.
        for i in 0..m {
            a[i * n + j] /= norm;
        }
    }
    // q is [m, n]; torch's tensor is q ([rows, cols]) or q^T when rows < cols.
    let torch_at = |r: usize, c: usize| if rows < cols { a[c * n + r] } else { a[r * n + c] };
    let mut w = vec![0.0f32; inputs * outputs];
    for o in 0..outputs {
        for i in 0..inputs {
            w[i * outputs + o] = (gain * torch_at(o, i)) as f32;
        }
    }
    w
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64); // (0, 1]
    let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use sim_core::rng::domain;

    fn gram(w: &[f32], inputs: usize, outputs: usize) -> Vec<f64> {
        // W^T W for the [outputs, inputs] torch matrix: rows of length `inputs`.
        let mut g = vec![0.0; outputs * outputs];
        for a in 0..outputs {
            for b in 0..outputs {
                g[a * outputs + b] =
                    (0..inputs).map(|i| f64::from(w[i * outputs + a]) * f64::from(w[i * outputs + b])).sum();
            }
        }
        g
    }

    #[test]
    fn orthogonal_rows_or_columns_are_orthonormal_times_gain() {
        let mut rng = StreamKey::derive(1, domain::INIT, 0).chacha();
        // Square and tall (outputs >= inputs): columns of the torch matrix are orthonormal.
        for (inputs, outputs) in [(64, 64), (4, 64)] {
            let w = orthogonal(&mut rng, inputs, outputs, 2.0);
            for a in 0..inputs {
                for b in 0..inputs {
                    let dot: f64 =
                        (0..outputs).map(|o| f64::from(w[a * outputs + o]) * f64::from(w[b * outputs + o])).sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "({inputs}, {outputs}) [{a},{b}] = {dot}");
                }
            }
        }
        // Wide (outputs < inputs): rows are orthonormal.
        let w = orthogonal(&mut rng, 64, 2, 0.01);
        let g = gram(&w, 64, 2);
        assert!((g[0] - 1e-4).abs() < 1e-8 && (g[3] - 1e-4).abs() < 1e-8 && g[1].abs() < 1e-8);
    }

    #[test]
    fn init_is_deterministic_and_the_prior_is_the_initial_policy() {
        let spaces = Spaces { obs_dim: 16, num_actions: 3 };
        let config = PolicyConfig::default();
        let key = StreamKey::derive(5, domain::INIT, 0);
        let device = Default::default();
        let a = ActorCritic::<Cpu>::init(spaces, &config, &[2.0, 0.0, 0.0], false, key, &device);
        let b = ActorCritic::<Cpu>::init(spaces, &config, &[2.0, 0.0, 0.0], false, key, &device);
        assert_eq!(a.weights_checksum(), b.weights_checksum());
        let c = ActorCritic::<Cpu>::init(
            spaces,
            &config,
            &[2.0, 0.0, 0.0],
            false,
            StreamKey::derive(6, domain::INIT, 0),
            &device,
        );
        assert_ne!(a.weights_checksum(), c.weights_checksum());
        // With a 0.01-gain head, the initial action distribution is softmax(prior) in any state.
        let obs = Tensor::<Cpu, 2>::from_data(
            TensorData::new((0..32).map(|i| i as f32 * 0.1).collect::<Vec<_>>(), [2, 16]),
            &device,
        );
        let logits = a.forward(obs).logits.into_data().to_vec::<f32>().unwrap();
        for row in logits.chunks(3) {
            assert!((row[0] - 2.0).abs() < 0.2 && row[1].abs() < 0.2 && row[2].abs() < 0.2, "{row:?}");
        }
    }
}
