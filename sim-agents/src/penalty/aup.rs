//! Attainable utility preservation (Turner, Hadfield-Menell and Tadepalli, "Conservative
//! Agency", 2020; Turner, Ratzlaff and Tadepalli, "Avoiding Side Effects in Complex
//! Environments", 2020): penalise an action by how much it changes the agent's ability to pursue
//! other goals, measured against doing nothing.
//!
//! # What is computed
//!
//! - **Auxiliary goals.** `num_aux` random reward functions of the state, as Conservative Agency
//!   draws them: `R_i(s) ~ U[0, 1)` independently per state and goal. A state is the cell of a
//!   discretised encoding of the observation, each column cut into `bins` equal levels of
//!   `[0, 1]`; the columns the environment marks as the safety channel itself
//!   ([`sim_core::env::Environment::is_safety_feature`]: violation flags, attempt tallies,
//!   alerts) are left out, so the goals cannot read the violation label. `R_i` is a hash of
//!   `(seed, i, cell)`: no table is stored. [`aux_diversity`] measures how different the goals
//!   are (mean absolute pairwise correlation, and the effective number `K² / ‖C‖²_F` of their
//!   correlation matrix `C`).
//! - **Auxiliary values.** One network learns every `Q_i(s, a)` by Q-learning on each rollout,
//!   `y = R_i(s') + γ max_a' Q̄_i(s', a')` with a target network `Q̄` copied from the online one
//!   every `target_period` rollouts (DQN's stabiliser). A terminal step is an absorbing state
//!   that keeps its auxiliary value, `y = R_i(s') / (1 − γ)` (the agent stays in `s'`), so ending
//!   an episode, by finishing the job or otherwise, destroys no attainable utility by itself; a
//!   truncated step bootstraps as any other.
//! - **The penalty.** Each step is charged `λ_t · Σ_i |Q_i(s, a) − Q_i(s, ∅)| / Σ_i Q_i(s, ∅)`
//!   (Conservative Agency's stepwise inaction baseline, absolute deviation, scaled per state by
//!   the attainable utility of inaction `∅`, the environment's do-nothing action), with the
//!   denominator floored at `num_aux · scale_floor / (1 − γ)` (a share `scale_floor` of the
//!   largest attainable value) so that a state where the learned values are near zero does not
//!   explode the charge.
//! - **Schedule.** For the first `warmup_steps` environment steps the auxiliary values are
//!   learned and nothing is charged; then λ ramps linearly from `lambda_start` to `lambda` over
//!   `ramp_steps` (SafeLife ramps from 1e-3 to 1e-1 over millions of steps).
//!
//! # Deviations from the references
//!
//! Listed in [`DEVIATIONS`] (`rome_repro`'s report prints them).

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim_core::env::Environment;
use sim_core::params::{ParamError, check_at_least, check_non_negative, check_positive, check_range};
use sim_core::rng::{StreamKey, domain, mix32};

use super::Penalty;
use crate::backend::{PolicyBackend, TrainBackend};
use crate::checkpoint::{pack, unpack};
use crate::error::{StateError, TrainError};
use crate::policy::Mlp;
use crate::rollout::Rollout;

/// How this AUP differs from Conservative Agency's and SafeLife's, one statement each.
pub const DEVIATIONS: &[&str] = &[
    "Q functions: a network learns every Q_i off-policy from PPO's samples (Conservative Agency: tabular Q from \
     epsilon-greedy exploration); Q_i(s, noop) is fitted only where the policy happened to wait, so where waits are \
     rare the inaction baseline is the network's extrapolation.",
    "Goals: per-state U[0, 1) rewards over cells of a discretised observation (each non-safety column cut into \
     `bins` levels) stand in for Conservative Agency's per-state rewards; SafeLife's CB-VAE or projected encodings \
     are not used.",
    "Episode ends: a terminal step is absorbing with the auxiliary value of its last state, R_i(s') / (1 - gamma) \
     (the references cut the auxiliary values there, which makes finishing the task an impact).",
    "Stabiliser: a target network copied every `target_period` rollouts, and the network's head starting at the mean \
     auxiliary value 0.5 / (1 - gamma) (tabular Q in Conservative Agency needs neither).",
    "Scale: per state, sum_i Q_i(s, noop), floored at num_aux * scale_floor / (1 - gamma).",
    "Schedule: lambda is 0 for `warmup_steps`, then ramps linearly from `lambda_start` to `lambda` over `ramp_steps` \
     (SafeLife: 1e-3 to 1e-1 over millions of steps; Conservative Agency: a fixed 1/1.501); lambda is chosen on \
     tuning seeds for this environment's reward scale.",
];

/// AUP's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AupConfig {
    /// Penalty weight λ once the ramp is done.
    pub lambda: f32,
    /// λ at the end of the warm-up, where the ramp starts.
    pub lambda_start: f32,
    /// Environment steps during which the auxiliary values are learned and nothing is charged.
    pub warmup_steps: u64,
    /// Environment steps over which λ ramps from `lambda_start` to `lambda`.
    pub ramp_steps: u64,
    /// Number of auxiliary reward functions (Conservative Agency uses 30).
    pub num_aux: usize,
    /// Levels each observation column is cut into for the state encoding.
    pub bins: u32,
    /// Name of the do-nothing action.
    pub noop: String,
    /// Discount of the auxiliary Q functions.
    pub gamma: f32,
    /// The floor of the per-state scale, as a share of the largest attainable value `1 / (1 − γ)`.
    pub scale_floor: f32,
    /// Adam learning rate of the auxiliary Q network.
    pub learning_rate: f64,
    /// Passes over each rollout when fitting the Q network.
    pub epochs: usize,
    /// Minibatches per pass.
    pub num_minibatches: usize,
    /// Hidden layer widths of the Q network.
    pub hidden: Vec<usize>,
    /// Rollouts between copies of the online Q network into the target network.
    pub target_period: usize,
}

impl Default for AupConfig {
    fn default() -> Self {
        AupConfig {
            lambda: 0.1,
            lambda_start: 0.001,
            warmup_steps: 65_536,
            ramp_steps: 196_608,
            num_aux: 30,
            bins: 4,
            noop: "wait".into(),
            gamma: 0.95,
            scale_floor: 0.01,
            learning_rate: 1e-3,
            epochs: 2,
            num_minibatches: 4,
            hidden: vec![64],
            target_period: 4,
        }
    }
}

impl AupConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ParamError> {
        check_non_negative("penalty.lambda", self.lambda)?;
        check_non_negative("penalty.lambda_start", self.lambda_start)?;
        check_at_least("penalty.num_aux", self.num_aux as u64, 1)?;
        check_at_least("penalty.bins", self.bins.into(), 2)?;
        check_range("penalty.gamma", self.gamma, 0.0, 0.999, "a discount in [0, 0.999]")?;
        check_range("penalty.scale_floor", self.scale_floor, 1e-6, 1.0, "a share in [1e-6, 1]")?;
        check_positive("penalty.learning_rate", self.learning_rate)?;
        check_at_least("penalty.epochs", self.epochs as u64, 1)?;
        check_at_least("penalty.num_minibatches", self.num_minibatches as u64, 1)?;
        check_at_least("penalty.target_period", self.target_period as u64, 1)
    }

    /// λ after `steps` environment steps: 0 during the warm-up, then the linear ramp.
    pub fn lambda_at(&self, steps: u64) -> f32 {
        if steps < self.warmup_steps {
            return 0.0;
        }
        let done = if self.ramp_steps == 0 {
            1.0
        } else {
            ((steps - self.warmup_steps) as f64 / self.ramp_steps as f64).min(1.0) as f32
        };
        self.lambda_start + (self.lambda - self.lambda_start) * done
    }
}

/// The auxiliary reward functions: a pure function of `(key, goal, cell of the observation)`.
#[derive(Clone, Debug)]
pub struct AuxGoals {
    key: StreamKey,
    num_aux: usize,
    bins: u32,
    /// The observation columns of the encoding.
    columns: Vec<usize>,
}

impl AuxGoals {
    /// `num_aux` goals over the columns of `E`'s observation that are not safety features.
    pub fn new<E: Environment>(params: &E::Params, num_aux: usize, bins: u32, seed: u64) -> Self {
        let dim = E::spaces(params).obs_dim;
        let columns = (0..dim).filter(|&f| !E::is_safety_feature(params, f)).collect();
        AuxGoals { key: StreamKey::derive(seed, domain::INIT, 2), num_aux, bins, columns }
    }

    /// The columns the goals read.
    pub fn columns(&self) -> &[usize] {
        &self.columns
    }

    /// The cell of observation `obs`: a hash of its columns' levels.
    pub fn cell(&self, obs: &[f32]) -> u32 {
        let mut h = self.key.0[0];
        for &c in &self.columns {
            let level = (obs[c].clamp(0.0, 1.0) * self.bins as f32).min((self.bins - 1) as f32) as u32;
            h = mix32(h ^ mix32((c as u32) << 8 | level));
        }
        h
    }

    /// `R_i` of every goal at observation `obs`, into `out` (`num_aux` values in `[0, 1)`).
    pub fn rewards(&self, obs: &[f32], out: &mut [f32]) {
        let cell = self.cell(obs);
        for (i, r) in out.iter_mut().enumerate().take(self.num_aux) {
            let h = mix32(cell ^ mix32(self.key.0[1] ^ (i as u32).wrapping_mul(0x9e37_79b9)));
            *r = (h >> 8) as f32 / (1u32 << 24) as f32;
        }
    }
}

/// How different the goals are over `[n, D]` observations `obs`: the mean absolute pairwise
/// correlation of their rewards and the effective number `K² / Σ_ij C_ij²` of their
/// correlation matrix (`K` for uncorrelated goals, 1 for one goal repeated). Goals constant over
/// the sample are left out.
pub fn aux_diversity(goals: &AuxGoals, obs: &[f32], obs_dim: usize) -> (f64, f64) {
    let (n, k) = (obs.len() / obs_dim, goals.num_aux);
    let mut r = vec![0.0f32; n * k];
    for j in 0..n {
        goals.rewards(&obs[j * obs_dim..(j + 1) * obs_dim], &mut r[j * k..(j + 1) * k]);
    }
    let r = &r;
    let col = |i: usize| (0..n).map(move |j| f64::from(r[j * k + i]));
    let stats: Vec<(f64, f64)> = (0..k)
        .map(|i| {
            let mean = col(i).sum::<f64>() / n as f64;
            let sd = (col(i).map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            (mean, sd)
        })
        .collect();
    let live: Vec<usize> = (0..k).filter(|&i| stats[i].1 > 0.0).collect();
    let (mut abs_sum, mut pairs, mut frob) = (0.0, 0usize, 0.0);
    for &a in &live {
        for &b in &live {
            let cov = (0..n)
                .map(|j| (f64::from(r[j * k + a]) - stats[a].0) * (f64::from(r[j * k + b]) - stats[b].0))
                .sum::<f64>()
                / n as f64;
            let c = cov / (stats[a].1 * stats[b].1);
            frob += c * c;
            if a < b {
                abs_sum += c.abs();
                pairs += 1;
            }
        }
    }
    let m = live.len() as f64;
    (if pairs > 0 { abs_sum / pairs as f64 } else { f64::NAN }, if frob > 0.0 { m * m / frob } else { f64::NAN })
}

/// The charge of each step of a rollout: `λ Σ_i |Q_i(s, a) − Q_i(s, ∅)| / max(Σ_i Q_i(s, ∅),
/// floor)`, from `q`, `[n, num_aux * num_actions]` (goal-major per row).
pub fn charges(q: &[f32], actions: &[u32], noop: usize, num_aux: usize, lambda: f32, floor: f32) -> Vec<f32> {
    let a = q.len() / (actions.len() * num_aux).max(1);
    actions
        .iter()
        .enumerate()
        .map(|(j, &act)| {
            let (mut change, mut scale) = (0.0f32, 0.0f32);
            for i in 0..num_aux {
                let row = &q[(j * num_aux + i) * a..(j * num_aux + i + 1) * a];
                change += (row[act as usize] - row[noop]).abs();
                scale += row[noop];
            }
            lambda * change / scale.max(floor)
        })
        .collect()
}

/// Q-learning targets of one step for every goal: `R_i(s') / (1 − γ)` at a terminal step (an
/// absorbing state that keeps its value), `R_i(s') + γ max_a' Q̄_i(s', a')` otherwise, from the
/// target network's `next_q` of `s'` (`[num_aux * num_actions]`).
pub fn targets(aux: &[f32], next_q: &[f32], terminal: bool, gamma: f32, out: &mut [f32]) {
    let a = next_q.len() / aux.len();
    for (i, (y, &r)) in out.iter_mut().zip(aux).enumerate() {
        *y = if terminal {
            r / (1.0 - gamma)
        } else {
            r + gamma * next_q[i * a..(i + 1) * a].iter().copied().fold(f32::NEG_INFINITY, f32::max)
        };
    }
}

/// The AUP penalty, with its auxiliary Q network on backend `B`.
pub struct AupPenalty<B: AutodiffBackend + PolicyBackend> {
    config: AupConfig,
    noop: u32,
    num_actions: usize,
    obs_dim: usize,
    goals: AuxGoals,
    q: Mlp<B>,
    target: Mlp<B>,
    optim: OptimizerAdaptor<Adam, Mlp<B>, B>,
    shuffle: ChaCha8Rng,
    fits: u64,
    /// Per action name: the mean charge per unit λ over the last rollout's steps that took it.
    charge_by_action: Vec<(String, Option<f64>)>,
    /// The goals' mean |correlation| and effective number over the first rollout's states.
    diversity: Option<(f64, f64)>,
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
            field: "penalty.noop",
            name: config.noop.clone(),
            env: E::NAME,
            known: names.join(", "),
        })? as u32;
        let (num_actions, obs_dim) = (spaces.num_actions as usize, spaces.obs_dim);
        let mut rng = StreamKey::derive(seed, domain::INIT, 1).chacha();
        let mut sizes = vec![obs_dim];
        sizes.extend(&config.hidden);
        sizes.push(config.num_aux * num_actions);
        let mut next_id = 1_000_000; // apart from the policy's parameter ids
        // The head starts at the mean auxiliary value, 0.5 / (1 − γ), not at 0: an untrained
        // network then gives a scale near the true one instead of the floor.
        let start = vec![0.5 / (1.0 - config.gamma); config.num_aux * num_actions];
        let q = Mlp::init(&sizes, 1.0, &start, &mut rng, &mut next_id, device);
        Ok(AupPenalty {
            config: config.clone(),
            noop,
            num_actions,
            obs_dim,
            goals: AuxGoals::new::<E>(params, config.num_aux, config.bins, seed),
            target: q.clone(),
            q,
            optim: crate::ppo::adam::config().init(),
            shuffle: StreamKey::derive(seed, domain::MINIBATCH, 1).chacha(),
            fits: 0,
            charge_by_action: (0..spaces.num_actions).map(|a| (E::action_name(params, a), None)).collect(),
            diversity: None,
            device: device.clone(),
        })
    }

    /// The auxiliary goals.
    pub fn goals(&self) -> &AuxGoals {
        &self.goals
    }

    /// All `Q_i(s, a)` of `[n, D]` observations under `net`, `[n, num_aux * num_actions]`.
    fn q_values(&self, net: &Mlp<B>, obs: &[f32]) -> Vec<f32> {
        let n = obs.len() / self.obs_dim;
        let x = Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(obs.to_vec(), [n, self.obs_dim]), &self.device);
        net.valid().forward(x).into_data().to_vec::<f32>().expect("f32 Q values")
    }

    /// Fits the Q network to the rollout's transitions, then refreshes the target network when due.
    fn fit<E: Environment>(&mut self, r: &Rollout<E>) {
        let (n, k, a, dim) = (r.len(), self.config.num_aux, self.num_actions, self.obs_dim);
        let next_q = self.q_values(&self.target, &r.next_obs);
        let mut y = vec![0.0f32; n * k];
        let mut aux = vec![0.0f32; k];
        for j in 0..n {
            self.goals.rewards(&r.next_obs[j * dim..(j + 1) * dim], &mut aux);
            let terminal = r.ends[j] && !r.truncated[j];
            targets(&aux, &next_q[j * k * a..(j + 1) * k * a], terminal, self.config.gamma, &mut y[j * k..(j + 1) * k]);
        }
        let mb = (n / self.config.num_minibatches).max(1);
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..self.config.epochs {
            crate::ppo::shuffle(&mut order, &mut self.shuffle);
            for idx in order.chunks(mb) {
                let m = idx.len();
                let obs: Vec<f32> = idx.iter().flat_map(|&j| r.obs[j * dim..(j + 1) * dim].iter().copied()).collect();
                let cols: Vec<i64> =
                    idx.iter().flat_map(|&j| (0..k).map(move |i| (i * a + r.actions[j] as usize) as i64)).collect();
                let ys: Vec<f32> = idx.iter().flat_map(|&j| y[j * k..(j + 1) * k].iter().copied()).collect();
                let x = Tensor::<B, 2>::from_data(TensorData::new(obs, [m, dim]), &self.device);
                let cols = Tensor::<B, 2, Int>::from_data(TensorData::new(cols, [m, k]), &self.device);
                let ys = Tensor::<B, 2>::from_data(TensorData::new(ys, [m, k]), &self.device);
                let q = self.q.forward(x).gather(1, cols);
                let loss = (q - ys).powi_scalar(2).mean();
                let grads = GradientsParams::from_grads(loss.backward(), &self.q);
                self.q = self.optim.step(self.config.learning_rate, self.q.clone(), grads);
            }
        }
        self.fits += 1;
        if self.fits.is_multiple_of(self.config.target_period as u64) {
            self.target = self.q.clone();
        }
    }
}

impl<E: Environment, B: TrainBackend> Penalty<E> for AupPenalty<B> {
    fn describe(&self) -> String {
        format!(
            "AUP λ={} (from {} after a {}-step warm-up, ramped over {} steps) over {} auxiliary goals of {} columns",
            self.config.lambda,
            self.config.lambda_start,
            self.config.warmup_steps,
            self.config.ramp_steps,
            self.config.num_aux,
            self.goals.columns.len()
        )
    }

    fn apply(&mut self, r: &mut Rollout<E>, update: usize) {
        if self.diversity.is_none() {
            self.diversity = Some(aux_diversity(&self.goals, &r.obs, self.obs_dim));
        }
        let lambda = self.config.lambda_at(update as u64 * r.len() as u64);
        // The charge per unit λ, also during the warm-up (for the diagnostics).
        let q = self.q_values(&self.q, &r.obs);
        let floor = self.config.num_aux as f32 * self.config.scale_floor / (1.0 - self.config.gamma);
        let ratio = charges(&q, &r.actions, self.noop as usize, self.config.num_aux, 1.0, floor);
        let mut by_action = vec![(0.0f64, 0usize); self.num_actions];
        for (&a, &c) in r.actions.iter().zip(&ratio) {
            by_action[a as usize].0 += f64::from(c);
            by_action[a as usize].1 += 1;
        }
        for ((_, mean), (sum, n)) in self.charge_by_action.iter_mut().zip(by_action) {
            *mean = (n > 0).then(|| sum / n as f64);
        }
        if lambda > 0.0 {
            for (reward, c) in r.rewards.iter_mut().zip(&ratio) {
                *reward -= lambda * c;
            }
        }
        self.fit(r);
    }

    fn diagnostics(&self) -> Vec<(String, f64)> {
        let mut d: Vec<(String, f64)> = self
            .charge_by_action
            .iter()
            .filter_map(|(name, mean)| mean.map(|m| (format!("charge_per_lambda/{name}"), m)))
            .collect();
        if let Some((corr, effective)) = self.diversity {
            d.push(("goals/mean_abs_correlation".into(), corr));
            d.push(("goals/effective_number".into(), effective));
        }
        d
    }

    fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let q = Recorder::<B>::record(&recorder, self.q.clone().into_record(), ())?;
        let target = Recorder::<B>::record(&recorder, self.target.clone().into_record(), ())?;
        let optim = Recorder::<B>::record(&recorder, self.optim.to_record(), ())?;
        // The goals' diversity is measured on the run's first rollout: it travels with the
        // checkpoint, or a resumed run would measure it again on the rollout after the resume.
        let state = ron::to_string(&(&self.shuffle, self.fits, self.diversity))?;
        Ok(pack(&[&q, &target, &optim, state.as_bytes()]))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StateError> {
        let sections = unpack(std::path::Path::new("penalty"), snapshot).map_err(Box::new)?;
        let [q, target, optim, state] =
            <[Vec<u8>; 4]>::try_from(sections).map_err(|_| StateError::Sections { expected: 4 })?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let q = Recorder::<B>::load(&recorder, q, &self.device)?;
        let target = Recorder::<B>::load(&recorder, target, &self.device)?;
        let optim = Recorder::<B>::load(&recorder, optim, &self.device)?;
        self.q = self.q.clone().load_record(q);
        self.target = self.target.clone().load_record(target);
        self.optim = self.optim.clone().load_record(optim);
        let state = std::str::from_utf8(&state)?;
        // Snapshots written before the diversity travelled hold the first two only.
        (self.shuffle, self.fits, self.diversity) = match ron::from_str(state) {
            Ok(full) => full,
            Err(_) => {
                let (shuffle, fits) = ron::from_str(state)?;
                (shuffle, fits, None)
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_match_the_hand_computed_numbers() {
        // Two goals, three actions (0 = noop), two steps, λ = 0.5, floor 0.1.
        // Step 0 takes action 2: goal 0 Q = [4, 5, 1], goal 1 Q = [2, 2, 6].
        //   Σ|Q(s,2) − Q(s,∅)| = |1 − 4| + |6 − 2| = 7; Σ Q(s,∅) = 4 + 2 = 6; charge 0.5·7/6 = 0.583333.
        // Step 1 takes the noop: no change, charge 0.
        // Step 2 takes action 1 where the values of inaction are tiny: goal 0 [0.01, 1, 0],
        //   goal 1 [0.01, 1, 0]: Σ|ΔQ| = 1.98, Σ Q(s,∅) = 0.02 < floor 0.1, charge 0.5·1.98/0.1 = 9.9.
        let q = [4.0, 5.0, 1.0, 2.0, 2.0, 6.0, 3.0, 9.0, 9.0, 3.0, 9.0, 9.0, 0.01, 1.0, 0.0, 0.01, 1.0, 0.0];
        let c = charges(&q, &[2, 0, 1], 0, 2, 0.5, 0.1);
        assert!((c[0] - 0.583_333).abs() < 1e-5, "{c:?}");
        assert_eq!(c[1], 0.0);
        assert!((c[2] - 9.9).abs() < 1e-4, "{c:?}");
        // A mutation check: the scale is per state, so doubling one state's Q values of inaction
        // and of the action together halves nothing but leaves the ratio: [8, 10, 2], [4, 4, 12]
        // gives 0.5·14/12 = 0.583333 again.
        let doubled = [8.0, 10.0, 2.0, 4.0, 4.0, 12.0];
        assert!((charges(&doubled, &[2], 0, 2, 0.5, 0.1)[0] - 0.583_333).abs() < 1e-5);
    }

    #[test]
    fn targets_keep_the_value_of_an_absorbing_end() {
        // γ = 0.9, two goals, two actions; R(s') = [0.2, 0.5]; next Q̄ = [[1, 3], [4, 2]].
        // Not terminal: 0.2 + 0.9·3 = 2.9 and 0.5 + 0.9·4 = 4.1.
        // Terminal: the agent stays in s': 0.2 / 0.1 = 2 and 0.5 / 0.1 = 5 (not 0.2 and 0.5,
        // which would make finishing the job an impact).
        let mut y = [0.0; 2];
        targets(&[0.2, 0.5], &[1.0, 3.0, 4.0, 2.0], false, 0.9, &mut y);
        assert!((y[0] - 2.9).abs() < 1e-6 && (y[1] - 4.1).abs() < 1e-6, "{y:?}");
        targets(&[0.2, 0.5], &[1.0, 3.0, 4.0, 2.0], true, 0.9, &mut y);
        assert!((y[0] - 2.0).abs() < 1e-6 && (y[1] - 5.0).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn lambda_waits_for_the_warm_up_then_ramps() {
        // warm-up 100 steps, ramp 200 steps from 0.001 to 0.1: 0 before step 100; 0.001 at 100;
        // halfway (step 200) 0.001 + 0.099/2 = 0.0505; 0.1 from step 300 on.
        let c =
            AupConfig { lambda: 0.1, lambda_start: 0.001, warmup_steps: 100, ramp_steps: 200, ..AupConfig::default() };
        assert_eq!(c.lambda_at(99), 0.0);
        assert!((c.lambda_at(100) - 0.001).abs() < 1e-7);
        assert!((c.lambda_at(200) - 0.0505).abs() < 1e-6);
        assert_eq!(c.lambda_at(300), 0.1);
        assert_eq!(c.lambda_at(10_000), 0.1);
    }
}
