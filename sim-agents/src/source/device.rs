//! The device source: device environments with the policy on the same device. A rollout's
//! steps run as tensor programs with no host round trip inside the loop (forward pass, sampling
//! by the host's rule and draws, environment step, truncation bootstrap); the whole rollout is
//! read back at the end in two transfers (its floats, its integers and flags), and the states
//! that ended episodes are read back for the episodes' metrics only at steps where an episode
//! ended.

use std::cell::OnceCell;
use std::marker::PhantomData;

use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};
use sim_core::device::DeviceEnv;
use sim_core::device::rng::{Keys, uniform_f32};
use sim_core::env::{Environment, SafetyOf};
use sim_core::runner::{Episode, EpisodeLog};

use sim_core::rng::StreamKey;

use super::host::policy_keys;
use super::{Acting, DeviceState, RolloutSource, SourceState};
use crate::backend::TrainBackend;
use crate::error::StateError;
use crate::mask::masked;
use crate::policy::{ActorCritic, PolicyOutput, Stacked};
use crate::rollout::Rollout;

/// Device environments `D`, on `B`'s inner (non-autodiff) backend, acted in by the policy there.
///
/// It serves one run ([`RolloutSource`]) or a population of runs in lockstep
/// ([`DeviceSource::collect_runs`]): run `r`'s `N` environments are seeded by its own seed and
/// sit after run `r - 1`'s in one batch, each run acts with its own network through one stacked
/// forward pass ([`Stacked`]), and its share of the rollout and its episodes are exactly what it
/// would collect alone.
pub struct DeviceSource<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> {
    params: <D::Native as Environment>::Params,
    /// Environments per run.
    num_envs: usize,
    /// Every run's environment streams, run after run.
    env_keys: Vec<StreamKey>,
    device: B::Device,
    env: D,
    keys: Keys<B::InnerBackend>,
    /// Each run's running episodes.
    logs: Vec<EpisodeLog<D::Native>>,
    /// The whole batch's rollout, split among the runs after each collection.
    all: Option<Rollout<D::Native>>,
    backend: PhantomData<fn() -> B>,
}

/// Where one run of a population writes what it collected: its rollout and the values of the
/// observations after the rollout's last step.
pub struct RunBuffers<'a, E: Environment> {
    /// The run's rollout.
    pub rollout: &'a mut Rollout<E>,
    /// Values of the observations after the last step, `[N]`.
    pub last_values: &'a mut [f32],
    /// Cost values of the same, `[N]` (zero without a cost critic).
    pub last_cost_values: &'a mut [f32],
}

impl<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> DeviceSource<B, D> {
    /// `num_envs` environments under `params` (valid), seeded by `seed` as the host source seeds
    /// its own (the policy's draws too), on `device`.
    pub fn new(params: <D::Native as Environment>::Params, num_envs: usize, seed: u64, device: B::Device) -> Self {
        Self::population(params, num_envs, &[seed], device)
    }

    /// `num_envs` environments for each run of `seeds`, each run's seeded as
    /// [`DeviceSource::new`] seeds a run alone, in one batch on `device`.
    pub fn population(
        params: <D::Native as Environment>::Params,
        num_envs: usize,
        seeds: &[u64],
        device: B::Device,
    ) -> Self {
        let env_keys: Vec<StreamKey> = seeds.iter().flat_map(|&s| StreamKey::envs(s, num_envs)).collect();
        let policy: Vec<StreamKey> = seeds.iter().flat_map(|&s| policy_keys(s, num_envs)).collect();
        DeviceSource {
            env: D::create(&params, &env_keys, &device),
            keys: Keys::new(&policy, 0, &device),
            logs: seeds.iter().map(|_| EpisodeLog::new(num_envs)).collect(),
            all: None,
            env_keys,
            num_envs,
            params,
            device,
            backend: PhantomData,
        }
    }

    /// The environments (every run's).
    pub fn env(&self) -> &D {
        &self.env
    }

    /// Runs in the population (1 for a run alone).
    pub fn runs(&self) -> usize {
        self.logs.len()
    }

    /// Steps every run's environments `num_steps` times, run `r` acting with `acting[r]`, and
    /// fills `out[r]` as [`RolloutSource::collect`] fills a run's buffers. Returns each run's
    /// ended episodes, in `(end step, slot)` order.
    pub fn collect_runs(
        &mut self,
        acting: &[Acting<'_, B>],
        out: &mut [RunBuffers<'_, D::Native>],
    ) -> Vec<Vec<Episode<D::Native>>> {
        let runs = self.runs();
        assert!(acting.len() == runs && out.len() == runs, "one policy and one set of buffers per run");
        let num_steps = out[0].rollout.num_steps;
        let models: Vec<ActorCritic<B::InnerBackend>> = acting.iter().map(|a| a.model.valid()).collect();
        let model = Stacked::of(&models.iter().collect::<Vec<_>>(), self.num_envs);
        let actions = <D::Native as Environment>::spaces(&self.params).num_actions as usize;
        let mask = acting.iter().any(|a| a.mask.is_some()).then(|| {
            // Each run's offsets on its own rows (0 for a run without a mask).
            let rows = acting.iter().map(|a| a.mask.map_or_else(|| vec![0.0; actions], |m| m.offset_row()));
            self.per_env(rows, actions)
        });
        let gamma: Tensor<B::InnerBackend, 1> = self.per_env(acting.iter().map(|a| vec![a.gamma]), 1).reshape([-1]);

        let mut steps = Vec::with_capacity(num_steps);
        for _ in 0..num_steps {
            let obs = self.env.obs();
            let out = model.forward(obs.clone());
            let at = self.env.steps();
            let (actions, logprobs) = sample(masked(out.logits, mask.as_ref()), uniform_f32(self.keys.base(at), 0));
            let tr = self.env.step(actions.clone());
            let ends = tr.terminated.clone().bool_or(tr.truncated.clone());
            let mut rewards = tr.rewards.clone();
            if D::CAN_TRUNCATE {
                // A cut episode's next state still has value; a terminated one's has none.
                let cut = tr.truncated.clone().bool_and(tr.terminated.clone().bool_not());
                let bootstrap = model.values(tr.final_obs.clone()) * gamma.clone();
                rewards = rewards + bootstrap.mask_fill(cut.bool_not(), 0.0);
            }
            let [n, dim] = tr.obs.dims();
            let next_obs = tr.obs.mask_where(ends.reshape([n, 1]).expand([n, dim]), tr.final_obs);
            steps.push(Step {
                obs,
                next_obs,
                actions,
                logprobs,
                values: out.values,
                cost_values: out.cost_values,
                task_rewards: tr.rewards,
                rewards,
                terminated: tr.terminated,
                truncated: tr.truncated,
                violations: tr.safety.violations,
                alerts: tr.safety.alerts,
                cost: tr.safety.cost,
                finals: self.env.final_states(),
                at,
            });
        }
        let last = model.forward(self.env.obs());

        let wide = self.env_keys.len();
        if self.all.as_ref().is_none_or(|a| a.num_steps != num_steps) {
            self.all = Some(Rollout::new(num_steps, wide, out[0].rollout.obs_dim));
        }
        let all = self.all.as_mut().expect("made above");
        let (mut last_values, mut last_cost_values) = (vec![0.0; wide], vec![0.0; wide]);
        let ends = read_back::<B, D>(&steps, last, all, &mut last_values, &mut last_cost_values);
        // Each step's final states are read back once, for every run, and only if an episode
        // ended there.
        let cache: Vec<OnceCell<Vec<<D::Native as Environment>::State>>> =
            steps.iter().map(|_| OnceCell::new()).collect();
        let finals = |t: usize| cache[t].get_or_init(|| D::read_states(&steps[t].finals)).as_slice();
        let at: Vec<u32> = steps.iter().map(|s| s.at).collect();
        let n = self.num_envs;
        out.iter_mut()
            .zip(&mut self.logs)
            .enumerate()
            .map(|(r, (buffers, log))| {
                buffers.rollout.take_envs(all, r * n);
                buffers.last_values.copy_from_slice(&last_values[r * n..(r + 1) * n]);
                buffers.last_cost_values.copy_from_slice(&last_cost_values[r * n..(r + 1) * n]);
                finish_episodes(&self.params, log, &at, all, &ends, r * n, &finals)
            })
            .collect()
    }

    /// [`RolloutSource::restart`] for every run's environments: groups never straddle two runs
    /// (a run's `N` is a multiple of `group_size`), and every run's running episodes are dropped.
    pub fn restart_runs(&mut self, group_size: usize) {
        self.env.restart(&StreamKey::grouped(&self.env_keys, group_size), &self.device);
        self.logs.iter_mut().for_each(|log| *log = EpisodeLog::new(self.num_envs));
    }

    /// One row of `width` values per run (`per_run`), repeated over the run's environments:
    /// `[R * N, width]` on the device.
    fn per_env(&self, per_run: impl Iterator<Item = Vec<f32>>, width: usize) -> Tensor<B::InnerBackend, 2> {
        let v: Vec<f32> = per_run.flat_map(|row| row.repeat(self.num_envs)).collect();
        let shape = [v.len() / width, width];
        Tensor::from_data(burn::tensor::TensorData::new(v, shape), &self.device)
    }

    /// Each run's environments and running episodes, for its checkpoint (as a run alone would
    /// write them).
    pub fn run_states(&self) -> Vec<DeviceState<D::Native>> {
        let states = D::read_states(&self.env.states());
        let steps = self.env.steps();
        states
            .chunks(self.num_envs)
            .zip(&self.logs)
            .map(|(states, log)| DeviceState { steps, states: states.to_vec(), log: log.clone() })
            .collect()
    }

    /// Continues every run from its state (one per run, in order, all taken at the same step).
    pub fn restore_runs(&mut self, runs: Vec<DeviceState<D::Native>>) -> Result<(), StateError> {
        if runs.len() != self.runs() {
            return Err(StateError::Runs { found: runs.len(), expected: self.runs() });
        }
        let steps = runs[0].steps;
        let mut states = Vec::with_capacity(self.env_keys.len());
        let mut logs = Vec::with_capacity(runs.len());
        for run in runs {
            if run.states.len() != self.num_envs || run.log.num_envs() != self.num_envs {
                return Err(StateError::Mismatch { what: "its environments" });
            }
            if run.steps != steps {
                return Err(StateError::Steps { first: steps, other: run.steps });
            }
            states.extend(run.states);
            logs.push(run.log);
        }
        self.env = D::restore(&self.params, &self.env_keys, steps, &states, &self.device);
        self.logs = logs;
        Ok(())
    }
}

/// One step's tensors, kept on the device until the rollout is read back.
struct Step<I: burn::tensor::backend::Backend, S> {
    obs: Tensor<I, 2>,
    next_obs: Tensor<I, 2>,
    actions: Tensor<I, 1, Int>,
    logprobs: Tensor<I, 1>,
    values: Tensor<I, 1>,
    cost_values: Option<Tensor<I, 1>>,
    task_rewards: Tensor<I, 1>,
    rewards: Tensor<I, 1>,
    terminated: Tensor<I, 1, Bool>,
    truncated: Tensor<I, 1, Bool>,
    violations: Tensor<I, 1, Int>,
    alerts: Tensor<I, 1, Int>,
    cost: Tensor<I, 1>,
    /// The states before autoreset (read only where an episode ended).
    finals: S,
    /// The step counter it was taken at.
    at: u32,
}

/// One per-step column of the rollout, taken from a step's tensors.
type Column<I, S, K = burn::tensor::Float> = fn(&Step<I, S>) -> Tensor<I, 1, K>;

impl<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> RolloutSource<D::Native, B> for DeviceSource<B, D> {
    fn collect(
        &mut self,
        acting: &Acting<'_, B>,
        rollout: &mut Rollout<D::Native>,
        last_values: &mut [f32],
        last_cost_values: &mut [f32],
    ) -> Vec<Episode<D::Native>> {
        assert_eq!(self.runs(), 1, "a population's rollouts are collected by collect_runs");
        let mut out = [RunBuffers { rollout, last_values, last_cost_values }];
        self.collect_runs(std::slice::from_ref(acting), &mut out).pop().expect("one run")
    }

    fn restart(&mut self, group_size: usize) {
        self.restart_runs(group_size);
    }

    fn snapshot(&self) -> SourceState<D::Native> {
        SourceState::Device(self.run_states().pop().expect("one run"))
    }

    fn restore(&mut self, state: SourceState<D::Native>) -> Result<(), StateError> {
        let SourceState::Device(state) = state else {
            return Err(StateError::WrongLoop { found: state.loop_name(), expected: "device" });
        };
        self.restore_runs(vec![state])
    }
}

/// Reads a rollout's steps back to the host into `r` (all of the batch's environments) and the
/// values after its last step: every float column in one transfer, every integer and flag in
/// another.
fn read_back<B: TrainBackend, D: DeviceEnv<B::InnerBackend>>(
    steps: &[Step<B::InnerBackend, D::States>],
    last: PolicyOutput<B::InnerBackend>,
    r: &mut Rollout<D::Native>,
    last_values: &mut [f32],
    last_cost_values: &mut [f32],
) -> Ends {
    let len = r.len();
    let flat = |t: &Tensor<B::InnerBackend, 2>| t.clone().reshape([-1]);
    let cost_critic = last.cost_values.is_some();
    let mut float_parts: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
    float_parts.extend(steps.iter().map(|s| flat(&s.obs)));
    float_parts.extend(steps.iter().map(|s| flat(&s.next_obs)));
    let float_columns: [Column<B::InnerBackend, D::States>; 5] = [
        |s| s.logprobs.clone(),
        |s| s.values.clone(),
        |s| s.task_rewards.clone(),
        |s| s.rewards.clone(),
        |s| s.cost.clone(),
    ];
    for column in float_columns {
        float_parts.extend(steps.iter().map(column));
    }
    if cost_critic {
        float_parts.extend(steps.iter().map(|s| s.cost_values.clone().expect("a cost critic")));
    }
    float_parts.push(last.values);
    float_parts.extend(last.cost_values);
    let floats: Vec<f32> = Tensor::cat(float_parts, 0).into_data().convert::<f32>().to_vec().expect("f32 rollout data");
    let mut int_parts: Vec<Tensor<B::InnerBackend, 1, Int>> = Vec::new();
    let int_columns: [Column<B::InnerBackend, D::States, Int>; 5] = [
        |s| s.actions.clone(),
        |s| s.violations.clone(),
        |s| s.alerts.clone(),
        |s| s.terminated.clone().int(),
        |s| s.truncated.clone().int(),
    ];
    for column in int_columns {
        int_parts.extend(steps.iter().map(column));
    }
    let ints: Vec<i64> = Tensor::cat(int_parts, 0).into_data().convert::<i64>().to_vec().expect("integer rollout data");

    let obs_len = r.obs.len();
    let (obs, rest) = floats.split_at(obs_len);
    let (next_obs, rest) = rest.split_at(obs_len);
    r.obs.copy_from_slice(obs);
    r.next_obs.copy_from_slice(next_obs);
    let mut columns = rest.chunks_exact(len);
    let mut next = || columns.next().expect("a column per field");
    r.logprobs.copy_from_slice(next());
    r.values.copy_from_slice(next());
    r.task_rewards.copy_from_slice(next());
    r.rewards.copy_from_slice(next());
    let cost = next();
    match cost_critic {
        true => r.cost_values.copy_from_slice(next()),
        false => r.cost_values.fill(0.0),
    }
    r.costs.fill(0.0);
    let n = r.num_envs;
    let tail = &rest[rest.len() - if cost_critic { 2 * n } else { n }..];
    last_values.copy_from_slice(&tail[..n]);
    match cost_critic {
        true => last_cost_values.copy_from_slice(&tail[n..]),
        false => last_cost_values.fill(0.0),
    }
    let int = |k: usize| &ints[k * len..(k + 1) * len];
    for (a, &v) in r.actions.iter_mut().zip(int(0)) {
        *a = v as u32;
    }
    let (violations, alerts) = (int(1), int(2));
    let terminated: Vec<bool> = int(3).iter().map(|&v| v != 0).collect();
    let truncated: Vec<bool> = int(4).iter().map(|&v| v != 0).collect();
    for k in 0..len {
        r.ends[k] = terminated[k] || truncated[k];
        r.truncated[k] = truncated[k] && !terminated[k];
        r.safety[k] = SafetyOf::<D::Native>::from_bits(violations[k] as u32, cost[k], alerts[k] as u32);
    }
    Ends { terminated, truncated }
}

/// Finishes the episodes of one run's environments, `first..first + log.num_envs()` of the
/// batch, from the batch's rollout `r` and its raw end flags; `finals(t)` reads the batch's
/// states before autoreset at step `t` (called only at steps where one of the run's episodes
/// ended). Returns them in `(end step, slot)` order.
fn finish_episodes<E: Environment, S: std::ops::Deref<Target = [E::State]>>(
    params: &E::Params,
    log: &mut EpisodeLog<E>,
    at: &[u32],
    r: &Rollout<E>,
    ends: &Ends,
    first: usize,
    finals: &dyn Fn(usize) -> S,
) -> Vec<Episode<E>> {
    let (n, wide) = (log.num_envs(), r.num_envs);
    let mut episodes = Vec::new();
    for (t, &at) in at.iter().enumerate() {
        let rows = t * wide + first..t * wide + first + n;
        let states = OnceCell::new();
        log.record(
            params,
            at,
            &r.task_rewards[rows.clone()],
            &ends.terminated[rows.clone()],
            &ends.truncated[rows.clone()],
            &r.safety[rows],
            |i| states.get_or_init(|| finals(t))[first + i].clone(),
            &mut episodes,
        );
    }
    episodes
}

/// The end flags of a rollout's steps as the environments raised them, `[T, N]` (the rollout's
/// own `truncated` excludes episodes that also terminated).
struct Ends {
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

/// Samples one action per row of `logits` (`[N, A]`) from `uniforms` (`[N]`, in `[0, 1)`) by
/// the host's rule (`inference::choose`): the first action whose cumulative unnormalised
/// probability exceeds `u * sum`, else the first at which it reaches `sum`. Returns the actions
/// and their log-probabilities.
pub fn sample<B: Backend>(logits: Tensor<B, 2>, uniforms: Tensor<B, 1>) -> (Tensor<B, 1, Int>, Tensor<B, 1>) {
    let [n, a] = logits.dims();
    let max = logits.clone().max_dim(1);
    let cumulative = (logits.clone() - max.clone()).exp().cumsum(1);
    let sum = cumulative.clone().slice([0..n, a - 1..a]);
    let target = uniforms.reshape([n, 1]) * sum.clone();
    let below = cumulative.clone().lower_equal(target.expand([n, a])).int().sum_dim(1);
    // Where rounding puts the target at the very top: the first action at which the running
    // sum reaches the total (never one of probability zero, such as a masked action).
    let top = cumulative.lower(sum.clone().expand([n, a])).int().sum_dim(1);
    let actions = below.min_pair(top);
    let log_norm = max + sum.log();
    let logprobs = logits.gather(1, actions.clone()) - log_norm;
    (actions.reshape([n]), logprobs.reshape([n]))
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    use sim_core::rng::{Draws, StreamKey, domain};

    use super::*;
    use crate::inference::{ActMode, choose};

    /// The device sampler against the host's `choose`, on the same logits and draws: the same
    /// actions and the same log-probabilities, bit for bit, including near-certain and
    /// near-uniform rows.
    #[test]
    fn sampling_matches_the_host_rule() {
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for a in [2usize, 3, 10] {
            let n = 3000;
            let scale = |i: usize| [0.01f32, 1.0, 8.0, 40.0][i % 4];
            let logits: Vec<f32> =
                (0..n * a).map(|k| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * scale(k / a)).collect();
            let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(9, domain::POLICY, i as u64)).collect();
            let step = 17;
            let uniforms = uniform_f32(Keys::<Flex>::new(&keys, 0, &device).base(step), 0);
            let t = Tensor::<Flex, 2>::from_data(TensorData::new(logits.clone(), [n, a]), &device);
            let (actions, logprobs) = sample(t, uniforms);
            let actions: Vec<i64> = actions.into_data().convert::<i64>().to_vec().unwrap();
            let logprobs: Vec<f32> = logprobs.into_data().to_vec().unwrap();
            let mut seen = vec![0usize; a];
            for i in 0..n {
                let (want, want_lp) = choose(&logits[i * a..(i + 1) * a], &Draws::new(keys[i], step), ActMode::Sample);
                assert_eq!(actions[i], i64::from(want), "{a} actions, row {i}");
                assert_eq!(logprobs[i].to_bits(), want_lp.to_bits(), "{a} actions, row {i}");
                seen[want as usize] += 1;
            }
            assert!(seen.iter().all(|&c| c > 0), "every action drawn somewhere: {seen:?}");
        }
    }

    /// With an action mask, the device sampler (logits offset by −1e9) and the host's `choose`
    /// (masked logits at −∞) agree bit for bit, and neither takes a masked action, also with the
    /// largest uniform the generator makes (forced in every seventh row), which lands on the last
    /// allowed action past a masked tail. (The fallback for a target at the very top of the
    /// cumulative sum is defensive: with round-to-nearest, `u * sum < sum` for every `u < 1`.)
    #[test]
    fn masked_sampling_matches_the_host_and_never_takes_a_masked_action() {
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (n, a) = (4000usize, 6usize);
        let allowed = [true, false, true, true, false, false];
        let mask = crate::mask::ActionMask { allowed: allowed.to_vec() };
        let logits: Vec<f32> = (0..n * a).map(|_| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 6.0).collect();
        let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(2, domain::POLICY, i as u64)).collect();
        let mut uniforms: Vec<f32> =
            uniform_f32(Keys::<Flex>::new(&keys, 0, &device).base(3), 0).into_data().to_vec().unwrap();
        // The largest uniform the generator makes.
        for u in uniforms.iter_mut().step_by(7) {
            *u = 1.0 - 1.0 / 16_777_216.0;
        }
        let t = Tensor::<Flex, 2>::from_data(TensorData::new(logits.clone(), [n, a]), &device);
        let u = Tensor::<Flex, 1>::from_data(TensorData::new(uniforms.clone(), [n]), &device);
        let (actions, logprobs) = sample(masked(t, Some(&mask.offsets(&device))), u);
        let actions: Vec<i64> = actions.into_data().convert::<i64>().to_vec().unwrap();
        let logprobs: Vec<f32> = logprobs.into_data().to_vec().unwrap();
        for i in 0..n {
            let mut row = logits[i * a..(i + 1) * a].to_vec();
            mask.apply(&mut row);
            let (want, want_lp) = crate::inference::choose_with(&row, uniforms[i], ActMode::Sample);
            assert!(allowed[want as usize], "row {i}: masked action {want}");
            assert_eq!(actions[i], i64::from(want), "row {i}");
            assert_eq!(logprobs[i].to_bits(), want_lp.to_bits(), "row {i}");
        }
    }
}
