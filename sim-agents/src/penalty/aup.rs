//! Attainable utility preservation (Turner, Hadfield-Menell and Tadepalli, 2020): penalise an
//! action by how much it changes the agent's ability to pursue other goals.
//!
//! Auxiliary goals are `num_aux` random reward functions of the next observation,
//! `R_i(s') = u_i · o(s')` with `u_i` uniform in `[0, 1]^D`, fixed by the seed. One network
//! learns every `Q_i(s, a)` alongside the policy, by Q-learning on each rollout
//! (`y = R_i(s') + γ (1 − terminal) max_a' Q_i(s', a')`). Before that update, each step of the
//! rollout is charged
//!
//! `λ · mean_i |Q_i(s, a) − Q_i(s, noop)| / scale`,
//!
//! where `noop` is the environment's do-nothing action and `scale` is the rollout's mean
//! `|Q_i(s, noop)|` (AUP's normalisation by the attainable utility of inaction, taken over the
//! batch so that states where the Q values are near zero do not explode the penalty).

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::params::{ParamError, check_at_least, check_non_negative, check_positive, check_range};
use sim_core::rng::{StreamKey, domain};

use super::Penalty;
use crate::backend::{PolicyBackend, TrainBackend};
use crate::checkpoint::{pack, unpack};
use crate::error::TrainError;
use crate::policy::Mlp;
use crate::rollout::Rollout;

/// AUP's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AupConfig {
    /// Penalty weight λ.
    pub lambda: f32,
    /// Number of auxiliary reward functions.
    pub num_aux: usize,
    /// Name of the do-nothing action.
    pub noop: String,
    /// Discount of the auxiliary Q functions.
    pub gamma: f32,
    /// Adam learning rate of the auxiliary Q network.
    pub learning_rate: f64,
    /// Passes over each rollout when fitting the Q network.
    pub epochs: usize,
    /// Minibatches per pass.
    pub num_minibatches: usize,
    /// Hidden layer widths of the Q network.
    pub hidden: Vec<usize>,
}

impl Default for AupConfig {
    fn default() -> Self {
        AupConfig {
            lambda: 0.1,
            num_aux: 8,
            noop: "wait".into(),
            gamma: 0.95,
            learning_rate: 1e-3,
            epochs: 2,
            num_minibatches: 4,
            hidden: vec![64],
        }
    }
}

impl AupConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ParamError> {
        check_non_negative("penalty.lambda", self.lambda)?;
        check_at_least("penalty.num_aux", self.num_aux as u64, 1)?;
        check_range("penalty.gamma", self.gamma, 0.0, 1.0, "a discount in [0, 1]")?;
        check_positive("penalty.learning_rate", self.learning_rate)?;
        check_at_least("penalty.epochs", self.epochs as u64, 1)?;
        check_at_least("penalty.num_minibatches", self.num_minibatches as u64, 1)
    }
}

/// The AUP penalty, with its auxiliary Q network on backend `B`.
pub struct AupPenalty<B: AutodiffBackend + PolicyBackend> {
    config: AupConfig,
    noop: u32,
    num_actions: usize,
    obs_dim: usize,
    aux: Vec<f32>,
    q: Mlp<B>,
    optim: OptimizerAdaptor<Adam, Mlp<B>, B>,
    shuffle: ChaCha8Rng,
    device: B::Device,
}

impl<B: TrainBackend> AupPenalty<B> {
    /// AUP for environment `E` under `params`, seeded by `seed`.
    pub fn new<E: Environment>(
        config: &AupConfig,
        params: &E::Params,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let spaces = E::spaces(params);
        let names: Vec<String> = (0..spaces.num_actions).map(|a| E::action_name(params, a)).collect();
        let noop = names.iter().position(|n| *n == config.noop).ok_or_else(|| TrainError::UnknownAction {
            name: config.noop.clone(),
            env: E::NAME,
            known: names.join(", "),
        })? as u32;
        let (num_actions, obs_dim) = (spaces.num_actions as usize, spaces.obs_dim);
        let mut rng = StreamKey::derive(seed, domain::INIT, 1).chacha();
        let aux = (0..config.num_aux * obs_dim).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32).collect();
        let mut sizes = vec![obs_dim];
        sizes.extend(&config.hidden);
        sizes.push(config.num_aux * num_actions);
        let mut next_id = 1_000_000; // apart from the policy's parameter ids
        let q = Mlp::init(&sizes, 1.0, &vec![0.0; config.num_aux * num_actions], &mut rng, &mut next_id, device);
        Ok(AupPenalty {
            config: config.clone(),
            noop,
            num_actions,
            obs_dim,
            aux,
            q,
            optim: AdamConfig::new().with_epsilon(1e-5).init(),
            shuffle: StreamKey::derive(seed, domain::MINIBATCH, 1).chacha(),
            device: device.clone(),
        })
    }

    /// All `Q_i(s, a)` of `[n, D]` observations, `[n, num_aux * num_actions]` (aux-major).
    fn q_values(&self, obs: &[f32]) -> Vec<f32> {
        let n = obs.len() / self.obs_dim;
        let x = Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(obs.to_vec(), [n, self.obs_dim]), &self.device);
        self.q.valid().forward(x).into_data().to_vec::<f32>().expect("f32 Q values")
    }

    /// The auxiliary rewards `R_i(s')` of one observation.
    fn aux_rewards(&self, obs: &[f32], out: &mut [f32]) {
        for (i, r) in out.iter_mut().enumerate() {
            *r = self.aux[i * self.obs_dim..(i + 1) * self.obs_dim].iter().zip(obs).map(|(u, o)| u * o).sum();
        }
    }

    /// Fits the Q network to the rollout's transitions.
    fn fit<E: Environment>(&mut self, r: &Rollout<E>) {
        let (n, k, a) = (r.len(), self.config.num_aux, self.num_actions);
        let next_q = self.q_values(&r.next_obs);
        let mut targets = vec![0.0f32; n * k];
        let mut aux = vec![0.0f32; k];
        for j in 0..n {
            self.aux_rewards(&r.next_obs[j * self.obs_dim..(j + 1) * self.obs_dim], &mut aux);
            let terminal = r.ends[j] && !r.truncated[j];
            for i in 0..k {
                let row = &next_q[j * k * a + i * a..j * k * a + (i + 1) * a];
                let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                targets[j * k + i] = aux[i] + if terminal { 0.0 } else { self.config.gamma * best };
            }
        }
        let mb = (n / self.config.num_minibatches).max(1);
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..self.config.epochs {
            for i in (1..n).rev() {
                let j = (((self.shuffle.next_u64() >> 11) as u128 * (i as u128 + 1)) >> 53) as usize;
                order.swap(i, j);
            }
            for idx in order.chunks(mb) {
                let m = idx.len();
                let obs: Vec<f32> =
                    idx.iter().flat_map(|&j| r.obs[j * self.obs_dim..(j + 1) * self.obs_dim].iter().copied()).collect();
                let cols: Vec<i64> =
                    idx.iter().flat_map(|&j| (0..k).map(move |i| (i * a + r.actions[j] as usize) as i64)).collect();
                let y: Vec<f32> = idx.iter().flat_map(|&j| targets[j * k..(j + 1) * k].iter().copied()).collect();
                let x = Tensor::<B, 2>::from_data(TensorData::new(obs, [m, self.obs_dim]), &self.device);
                let cols = Tensor::<B, 2, Int>::from_data(TensorData::new(cols, [m, k]), &self.device);
                let y = Tensor::<B, 2>::from_data(TensorData::new(y, [m, k]), &self.device);
                let q = self.q.forward(x).gather(1, cols);
                let loss = (q - y).powi_scalar(2).mean();
                let grads = GradientsParams::from_grads(loss.backward(), &self.q);
                self.q = self.optim.step(self.config.learning_rate, self.q.clone(), grads);
            }
        }
    }
}

impl<E: Environment, B: TrainBackend> Penalty<E> for AupPenalty<B> {
    fn describe(&self) -> String {
        format!("AUP λ={} over {} auxiliary rewards", self.config.lambda, self.config.num_aux)
    }

    fn apply(&mut self, r: &mut Rollout<E>, _: usize) {
        let (k, a) = (self.config.num_aux, self.num_actions);
        let q = self.q_values(&r.obs);
        let n = r.len();
        let noop = self.noop as usize;
        let mut scale = 0.0f64;
        let mut change = vec![0.0f32; n];
        for j in 0..n {
            let act = r.actions[j] as usize;
            let mut c = 0.0f32;
            for i in 0..k {
                let base = j * k * a + i * a;
                c += (q[base + act] - q[base + noop]).abs();
                scale += f64::from(q[base + noop].abs());
            }
            change[j] = c / k as f32;
        }
        let scale = (scale / (n * k) as f64).max(1e-3) as f32;
        for (reward, c) in r.rewards.iter_mut().zip(&change) {
            *reward -= self.config.lambda * c / scale;
        }
        self.fit(r);
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let q = Recorder::<B>::record(&recorder, self.q.clone().into_record(), ()).map_err(|e| e.to_string())?;
        let optim = Recorder::<B>::record(&recorder, self.optim.to_record(), ()).map_err(|e| e.to_string())?;
        let shuffle = ron::to_string(&self.shuffle).map_err(|e| e.to_string())?;
        Ok(pack(&[&q, &optim, shuffle.as_bytes()]))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let sections = unpack(std::path::Path::new("penalty"), snapshot).map_err(|e| e.to_string())?;
        let [q, optim, shuffle] = <[Vec<u8>; 3]>::try_from(sections).map_err(|_| "expected 3 sections".to_string())?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let q = Recorder::<B>::load(&recorder, q, &self.device).map_err(|e| e.to_string())?;
        let optim = Recorder::<B>::load(&recorder, optim, &self.device).map_err(|e| e.to_string())?;
        self.q = self.q.clone().load_record(q);
        self.optim = self.optim.clone().load_record(optim);
        self.shuffle =
            ron::from_str(std::str::from_utf8(&shuffle).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        Ok(())
    }
}
