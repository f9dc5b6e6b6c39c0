//! Populations: many PPO runs trained in lockstep on one device, so that a matrix of seeds and
//! conditions fills a GPU instead of launching one small run's kernels at a time.
//!
//! The runs of a [`Population`] share one batch of device environments and one stacked forward
//! pass ([`crate::policy::Stacked`]: each layer's weights as `[R, in, out]`); run `r`'s
//! environments and action draws are seeded by its own seed, exactly as a run alone on the device
//! loop seeds them. After the rollout each run is an ordinary [`Trainer`] with its own penalty,
//! hyperparameters, PPO-Lagrangian multiplier, minibatch permutations and update kernel.
//!
//! What a population must not do is change a run: run `r` of a population gives the same
//! rollouts, episodes and weights as the same run trained alone with [`Trainer::on_device`], bit
//! for bit on the CPU backend (`tests/population.rs`), and its checkpoint is the file a run
//! alone writes, so either can continue the other's.
//!
//! The rollout is always batched (environment steps, forward passes, sampling, read-back). The
//! updates run one run after another on each run's own kernel, unless the runs choose
//! [`crate::ppo::Kernel::Batched`]: then the R runs' networks are one batched model (weights
//! `[R, in, out]`) and every minibatch step is one forward pass, one backward pass and one Adam
//! step for all of them, with each run's hyperparameters as data. On the CPU backend a run of a
//! batched population is still the same run alone on that kernel, bit for bit.
//!
//! The runs must agree on what shapes the shared rollout: environments per run, steps per
//! rollout, updates in all, network widths and whether there is a cost critic; on the batched
//! kernel also epochs, minibatches and value clipping.

use std::path::Path;
use std::time::Instant;

use sim_core::device::DeviceEnv;
use sim_core::env::Environment;
use sim_core::params::{ParamError, Validate};

use crate::backend::TrainBackend;
use crate::error::{TrainError, in_state};
use crate::penalty::Penalty;
use crate::policy::ActorCritic;
use crate::ppo::{Kernel, PpoConfig, Trainer, UpdateReport};
use crate::pretrain::Demonstrations;
use crate::source::{DeviceSource, SourceState};

/// One run of a population: its configuration, seed and penalty (`None`: `config.penalty`).
pub struct Run<E: Environment> {
    /// Hyperparameters.
    pub config: PpoConfig,
    /// The seed (environments, action draws, initial weights, minibatches).
    pub seed: u64,
    /// A penalty outside [`crate::penalty::PenaltyConfig`], if any.
    pub penalty: Option<Box<dyn Penalty<E>>>,
}

impl<E: Environment> Run<E> {
    /// A run of `config` seeded by `seed`, with the penalty `config` names.
    pub fn new(config: PpoConfig, seed: u64) -> Self {
        Run { config, seed, penalty: None }
    }
}

/// PPO runs trained together on device environments `D` (backend `B`).
pub struct Population<B: TrainBackend, D: DeviceEnv<B::InnerBackend>> {
    source: DeviceSource<B, D>,
    runs: Vec<Trainer<D::Native, B>>,
}

impl<B: TrainBackend, D: DeviceEnv<B::InnerBackend> + 'static> Population<B, D> {
    /// The runs `runs` on environments under `env_params`, on `device`. Refuses an empty
    /// population and runs that disagree on the rollout's shape (naming the run and field).
    pub fn new(
        env_params: <D::Native as Environment>::Params,
        runs: Vec<Run<D::Native>>,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        env_params.validate()?;
        let Some(first) = runs.first().map(|r| r.config.clone()) else {
            return Err(ParamError { field: "runs".into(), value: "0".into(), expected: "at least 1".into() }.into());
        };
        for (i, run) in runs.iter().enumerate() {
            run.config.validate()?;
            let c = &run.config;
            let shaped = |field: &str, value: String, want: String, why: &str| ParamError {
                field: format!("runs[{i}].{field}"),
                value,
                expected: format!("{want}, as in runs[0] ({why})"),
            };
            let differs = |field: &str, value: String, want: String| {
                shaped(field, value, want, "a population's runs share their rollout's shape")
            };
            if c.num_envs != first.num_envs {
                return Err(differs("num_envs", c.num_envs.to_string(), first.num_envs.to_string()).into());
            }
            if c.num_steps != first.num_steps {
                return Err(differs("num_steps", c.num_steps.to_string(), first.num_steps.to_string()).into());
            }
            if c.num_updates() != first.num_updates() {
                let (v, w) = (c.total_timesteps, first.total_timesteps);
                return Err(differs("total_timesteps", v.to_string(), format!("{w} (as many updates)")).into());
            }
            if c.policy.hidden != first.policy.hidden {
                return Err(differs(
                    "policy.hidden",
                    format!("{:?}", c.policy.hidden),
                    format!("{:?}", first.policy.hidden),
                )
                .into());
            }
            if c.lagrangian.is_some() != first.lagrangian.is_some() {
                let has = |l: bool| if l { "a Lagrangian constraint" } else { "no Lagrangian constraint" };
                return Err(differs(
                    "lagrangian",
                    has(c.lagrangian.is_some()).into(),
                    has(first.lagrangian.is_some()).into(),
                )
                .into());
            }
            if c.algorithm.group_size() != first.algorithm.group_size() {
                let groups =
                    |g: Option<usize>| g.map_or_else(|| "running on".to_string(), |g| format!("groups of {g}"));
                return Err(differs(
                    "algorithm",
                    groups(c.algorithm.group_size()),
                    groups(first.algorithm.group_size()),
                )
                .into());
            }
            // The batched update steps every run's minibatches together (early stopping on the
            // KL is refused by the configuration's own validation).
            let batched = |field: &str, value: String, want: String| {
                shaped(field, value, want, "the batched update steps every run's minibatches together")
            };
            if (c.kernel == Kernel::Batched) != (first.kernel == Kernel::Batched) {
                return Err(batched("kernel", format!("{:?}", c.kernel), format!("{:?}", first.kernel)).into());
            }
            if first.kernel == Kernel::Batched {
                if c.update_epochs != first.update_epochs {
                    let (v, w) = (c.update_epochs, first.update_epochs);
                    return Err(batched("update_epochs", v.to_string(), w.to_string()).into());
                }
                if c.num_minibatches != first.num_minibatches {
                    let (v, w) = (c.num_minibatches, first.num_minibatches);
                    return Err(batched("num_minibatches", v.to_string(), w.to_string()).into());
                }
                if c.clip_vloss != first.clip_vloss {
                    let (v, w) = (c.clip_vloss, first.clip_vloss);
                    return Err(batched("clip_vloss", v.to_string(), w.to_string()).into());
                }
            }
        }
        let seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
        let source = DeviceSource::<B, D>::population(env_params.clone(), first.num_envs, &seeds, device.clone());
        let runs = runs
            .into_iter()
            .map(|r| Trainer::with_source(None, env_params.clone(), r.config, r.seed, r.penalty, device.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Population { source, runs })
    }

    /// The runs, in the order given (for their policies, metrics and checksums).
    pub fn runs(&self) -> &[Trainer<D::Native, B>] {
        &self.runs
    }

    /// Updates done so far (the same for every run).
    pub fn updates_done(&self) -> usize {
        self.runs[0].updates_done()
    }

    /// Updates in the whole run (the same for every run).
    pub fn num_updates(&self) -> usize {
        self.runs[0].num_updates()
    }

    /// This population, not yet trained, each run `r` starting from `models[r]`
    /// ([`Trainer::with_initial_policy`]).
    pub fn with_initial_policies(self, models: &[ActorCritic<B>]) -> Result<Self, TrainError> {
        self.each_run("initial policies", models.iter(), |run, model| run.with_initial_policy(model))
    }

    /// The population with a behaviour-cloning term of `weight` on each run's demonstrations
    /// (`demos[r]` for run `r`; [`Trainer::with_demonstrations`]).
    pub fn with_demonstrations(self, demos: Vec<Demonstrations>, weight: f32) -> Result<Self, TrainError> {
        self.each_run("demonstration sets", demos.into_iter(), |run, d| run.with_demonstrations(d, weight))
    }

    /// Each run `r` replaced by `change(run, items[r])`, one item per run (`what` names them in
    /// the error when their count differs); a run's error names its seed.
    fn each_run<T>(
        mut self,
        what: &str,
        items: impl ExactSizeIterator<Item = T>,
        change: impl Fn(Trainer<D::Native, B>, T) -> Result<Trainer<D::Native, B>, TrainError>,
    ) -> Result<Self, TrainError> {
        if items.len() != self.runs.len() {
            return Err(TrainError::Unsupported {
                trainer: "a population",
                what: format!("{} {what} for {} runs", items.len(), self.runs.len()),
            });
        }
        self.runs = std::mem::take(&mut self.runs)
            .into_iter()
            .zip(items)
            .map(|(run, item)| {
                let seed = run.seed();
                change(run, item).map_err(|e| TrainError::InRun { seed, source: Box::new(e) })
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Collects one rollout for every run in one batch, then runs each run's PPO update on its
    /// share (all of them as one batched model on [`Kernel::Batched`]). Returns each run's
    /// report, in order; each run's `rollout_seconds` is its share of the batch's collection
    /// time. A run's failure is [`TrainError::InRun`], naming its seed.
    pub fn train_update(&mut self) -> Result<Vec<UpdateReport<D::Native>>, TrainError> {
        let start = Instant::now();
        if let Some(group_size) = self.runs[0].config().algorithm.group_size() {
            self.source.restart_runs(group_size);
        }
        let (acting, mut buffers): (Vec<_>, Vec<_>) = self.runs.iter_mut().map(|t| t.acting_and_buffers()).unzip();
        let episodes = self.source.collect_runs(&acting, &mut buffers);
        drop((acting, buffers));
        let share = start.elapsed().as_secs_f64() / self.runs.len() as f64;
        Trainer::learn_population(&mut self.runs, share, episodes)
    }

    /// Writes each run's checkpoint to `paths[r]` (one per run), atomically: the file a run alone
    /// on the device loop writes.
    pub fn save_checkpoints(&self, paths: &[impl AsRef<Path>]) -> Result<(), TrainError> {
        self.check_paths(paths)?;
        for ((run, path), state) in self.runs.iter().zip(paths).zip(self.source.run_states()) {
            run.write_checkpoint(path.as_ref(), SourceState::Device(state))?;
        }
        Ok(())
    }

    /// This new population continuing exactly where the checkpoints at `paths` (one per run, in
    /// order, written at the same update by this population or by the runs alone) left off.
    pub fn continue_from(self, paths: &[impl AsRef<Path>]) -> Result<Self, TrainError> {
        self.check_paths(paths)?;
        let Population { mut source, runs: fresh } = self;
        let mut states = Vec::with_capacity(paths.len());
        let mut runs = Vec::with_capacity(paths.len());
        for (run, path) in fresh.into_iter().zip(paths) {
            let path = path.as_ref();
            let err = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
            let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
            let (run, state) = run.read_checkpoint(path, &bytes)?;
            let SourceState::Device(state) = state else {
                return Err(err(format!("holds a {} loop's environments, not the device loop's", state.loop_name())));
            };
            if runs.first().is_some_and(|r: &Trainer<D::Native, B>| r.updates_done() != run.updates_done()) {
                return Err(err("was written at another update than the population's other runs".into()));
            }
            states.push(state);
            runs.push(run);
        }
        let first = paths[0].as_ref().to_path_buf();
        source.restore_runs(states).map_err(in_state(&first, ""))?;
        Ok(Population { source, runs })
    }

    fn check_paths(&self, paths: &[impl AsRef<Path>]) -> Result<(), TrainError> {
        if paths.len() == self.runs.len() {
            return Ok(());
        }
        let expected = format!("one checkpoint path per run ({})", self.runs.len());
        Err(ParamError { field: "checkpoint paths".into(), value: paths.len().to_string(), expected }.into())
    }
}
