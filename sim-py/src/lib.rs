//! `rome_sim._native`: ToyCloud and CartPole for Python, over `sim_gym`.
//!
//! Two classes carry the stepping; the Gymnasium classes around them are Python
//! (`python/rome_sim`):
//!
//! - `VectorCore`: `num_envs` slots of the batched runner, stepped with the GIL released,
//!   returning NumPy arrays written once from the runner's buffers (observations, rewards,
//!   flags, the safety channel) and, at episode ends, the safety reports as arrays;
//! - `SlotCore`: one slot stepped alone, drawing what slot `i` of a runner with the same seed
//!   draws, so that `gymnasium.vector.SyncVectorEnv` over slots `0..n` equals the native vector
//!   environment.
//!
//! Every input from Python is checked: an unknown scenario field, an out-of-range action or an
//! array of the wrong shape raises an exception naming it; nothing panics across the boundary.

mod scenario;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use scenario::Kind;
use sim_core::checksum::Checksum;
use sim_core::env::Environment;
use sim_core::rng::{Draws, StreamKey, domain};
use sim_core::runner::Episode;
use sim_core::safety::{EpisodeSafety, KindSet, MAX_KINDS, SafetyKind};
use sim_envs::scripted::{RandomPolicy, ScriptedPolicy};
use sim_envs::{CartPole, ToyCloud};
use sim_gym::{Autoreset, Part, SlotEnv, VecEnv};

/// What the Python side needs to know of an environment: its spaces, its kinds' names and
/// its parameters as a dict.
fn describe<'py, E: Environment>(py: Python<'py>, params: &E::Params) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let spaces = E::spaces(params);
    d.set_item("name", E::NAME)?;
    d.set_item("obs_dim", spaces.obs_dim)?;
    d.set_item("num_actions", spaces.num_actions)?;
    d.set_item("actions", (0..spaces.num_actions).map(|a| E::action_name(params, a)).collect::<Vec<_>>())?;
    d.set_item("violations", E::Violation::ALL.iter().map(|k| k.name()).collect::<Vec<_>>())?;
    d.set_item("monitors", E::Monitor::ALL.iter().map(|k| k.name()).collect::<Vec<_>>())?;
    d.set_item("params", pythonize::pythonize(py, params)?)?;
    Ok(d)
}

/// The flags of a kind set as `width` booleans.
fn flags<K>(set: KindSet<K>, width: usize) -> Vec<bool> {
    let mut out = vec![false; width];
    set.write_flags(&mut out);
    out
}

/// A count as the reports' `int32` (counts are bounded by episode lengths; saturating).
fn i32_of(x: u32) -> i32 {
    i32::try_from(x).unwrap_or(i32::MAX)
}

/// An episode's safety report as the Python side shows it, one entry per field.
struct Report {
    ret: f64,
    length: i32,
    cost: f32,
    violation_steps: i32,
    first_violation: i32,
    first_alert: i32,
    /// Counts per violation kind, per monitor and detections per kind (the first
    /// `ALL.len()` entries are used).
    violations: [i32; MAX_KINDS],
    alerts: [i32; MAX_KINDS],
    detections: [i32; MAX_KINDS],
}

impl Report {
    fn of<E: Environment>(e: &Episode<E>) -> Self {
        let s: &EpisodeSafety<E::Violation, E::Monitor> = &e.safety;
        let at = |x: Option<u32>| x.map_or(-1, i32_of);
        Report {
            ret: e.ret,
            length: i32_of(e.length),
            cost: s.cost,
            violation_steps: i32_of(s.violation_steps),
            first_violation: at(s.first_violation()),
            first_alert: at(s.first_alert()),
            violations: std::array::from_fn(|k| E::Violation::ALL.get(k).map_or(0, |&v| i32_of(s.violations(v)))),
            alerts: std::array::from_fn(|m| E::Monitor::ALL.get(m).map_or(0, |&v| i32_of(s.alerts(v)))),
            detections: std::array::from_fn(|k| E::Violation::ALL.get(k).map_or(0, |&v| i32_of(s.detections(v)))),
        }
    }
}

/// The reports of the episodes that ended at a step, one array per field over all `n` slots
/// (zero where none ended), the layout of Gymnasium's vector infos.
struct Reports {
    ret: Vec<f64>,
    length: Vec<i32>,
    cost: Vec<f32>,
    violation_steps: Vec<i32>,
    first_violation: Vec<i32>,
    first_alert: Vec<i32>,
    violations: Vec<i32>,
    alerts: Vec<i32>,
    detections: Vec<i32>,
}

impl Reports {
    fn new<E: Environment>(n: usize) -> Self {
        let (nk, nm) = (E::Violation::ALL.len(), E::Monitor::ALL.len());
        Reports {
            ret: vec![0.0; n],
            length: vec![0; n],
            cost: vec![0.0; n],
            violation_steps: vec![0; n],
            first_violation: vec![0; n],
            first_alert: vec![0; n],
            violations: vec![0; n * nk],
            alerts: vec![0; n * nm],
            detections: vec![0; n * nk],
        }
    }

    fn add<E: Environment>(&mut self, e: &Episode<E>) {
        let (nk, nm) = (E::Violation::ALL.len(), E::Monitor::ALL.len());
        let (i, r) = (e.slot as usize, Report::of(e));
        (self.ret[i], self.length[i], self.cost[i]) = (r.ret, r.length, r.cost);
        (self.violation_steps[i], self.first_violation[i], self.first_alert[i]) =
            (r.violation_steps, r.first_violation, r.first_alert);
        self.violations[i * nk..(i + 1) * nk].copy_from_slice(&r.violations[..nk]);
        self.alerts[i * nm..(i + 1) * nm].copy_from_slice(&r.alerts[..nm]);
        self.detections[i * nk..(i + 1) * nk].copy_from_slice(&r.detections[..nk]);
    }

    /// The fields as arrays, each masked by `mask`.
    fn into_dict<'py, E: Environment>(self, py: Python<'py>, mask: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let (n, nk, nm) = (self.ret.len(), E::Violation::ALL.len(), E::Monitor::ALL.len());
        let d = PyDict::new(py);
        set_masked(&d, "return", PyArray1::from_vec(py, self.ret).into_any(), mask.clone())?;
        set_masked(&d, "length", PyArray1::from_vec(py, self.length).into_any(), mask.clone())?;
        set_masked(&d, "cost", PyArray1::from_vec(py, self.cost).into_any(), mask.clone())?;
        set_masked(&d, "violation_steps", PyArray1::from_vec(py, self.violation_steps).into_any(), mask.clone())?;
        set_masked(&d, "first_violation", PyArray1::from_vec(py, self.first_violation).into_any(), mask.clone())?;
        set_masked(&d, "first_alert", PyArray1::from_vec(py, self.first_alert).into_any(), mask.clone())?;
        set_masked(&d, "violations", matrix(py, self.violations, n, nk)?.into_any(), mask.clone())?;
        set_masked(&d, "alerts", matrix(py, self.alerts, n, nm)?.into_any(), mask.clone())?;
        set_masked(&d, "detections", matrix(py, self.detections, n, nk)?.into_any(), mask.clone())?;
        Ok(d)
    }
}

/// Actions from any one-dimensional integer array of length `n`, each in `0..num_actions`.
fn actions_from(actions: &Bound<'_, PyAny>, n: usize, num_actions: u32) -> PyResult<Vec<u32>> {
    macro_rules! try_dtype {
        ($($t:ty),*) => {$(
            if let Some(a) = actions.cast::<PyArray1<$t>>().ok().and_then(|a| a.try_readonly().ok()) {
                if a.len() != n {
                    return Err(PyValueError::new_err(format!("expected {n} actions, one per environment, got {}", a.len())));
                }
                let a = a.as_array();
                let mut out = Vec::with_capacity(n);
                for (slot, &x) in a.iter().enumerate() {
                    #[allow(irrefutable_let_patterns, clippy::unnecessary_fallible_conversions)]
                    let ok = u32::try_from(x).ok().filter(|&v| v < num_actions);
                    match ok {
                        Some(v) => out.push(v),
                        None => return Err(PyValueError::new_err(format!(
                            "action {x} of environment {slot} is out of range (the action space is 0..{num_actions})"
                        ))),
                    }
                }
                return Ok(out);
            }
        )*};
    }
    try_dtype!(i64, i32, u32, u8, u64, i16, u16, i8);
    if let Ok(arr) = actions.cast::<numpy::PyUntypedArray>() {
        return Err(PyTypeError::new_err(format!(
            "actions must be a one-dimensional integer array, got dtype {} with shape {:?}",
            arr.dtype(),
            arr.shape()
        )));
    }
    Err(PyTypeError::new_err(format!("actions must be a NumPy integer array, not {}", actions.get_type().name()?)))
}

/// The vector environment over one kind of environment, behind an object-safe interface.
trait VectorDyn: Send + Sync {
    fn reset(&mut self, seed: u64);
    fn step<'py>(&mut self, actions: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>>;
    fn obs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
    fn reset_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>>;
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>>;
    fn num_envs(&self) -> usize;
    fn threads(&self) -> usize;
}

/// A `[rows, cols]` array owning `values` (no copy).
fn matrix<'py, T: numpy::Element>(
    py: Python<'py>,
    values: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let a = numpy::ndarray::Array2::from_shape_vec((rows, cols), values)
        .map_err(|e| PyValueError::new_err(format!("array of {rows}x{cols}: {e}")))?;
    Ok(PyArray2::from_owned_array(py, a))
}

/// A read-only array: masks are shared by the keys they mask.
fn frozen<'py>(array: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(array.py());
    kwargs.set_item("write", false)?;
    array.call_method("setflags", (), Some(&kwargs))?;
    Ok(array)
}

/// A boolean array of `n` values `value`.
fn filled<'py>(py: Python<'py>, n: usize, value: bool) -> Bound<'py, PyAny> {
    PyArray1::from_vec(py, vec![value; n]).into_any()
}

/// Sets `key` and its mask `_key` in `dict` (Gymnasium's vector-info convention).
fn set_masked<'py>(
    dict: &Bound<'py, PyDict>,
    key: &str,
    value: Bound<'py, PyAny>,
    mask: Bound<'py, PyAny>,
) -> PyResult<()> {
    dict.set_item(key, value)?;
    dict.set_item(format!("_{key}"), mask)
}

/// A step's safety channel: `cost`, `violations [n, kinds]`, `alerts [n, monitors]`.
struct Channel {
    cost: Vec<f32>,
    violations: Vec<bool>,
    alerts: Vec<bool>,
}

impl Channel {
    fn zeros<E: Environment>(n: usize) -> Self {
        Channel {
            cost: vec![0.0; n],
            violations: vec![false; n * E::Violation::ALL.len()],
            alerts: vec![false; n * E::Monitor::ALL.len()],
        }
    }

    fn with_capacity<E: Environment>(n: usize) -> Self {
        Channel {
            cost: Vec::with_capacity(n),
            violations: Vec::with_capacity(n * E::Violation::ALL.len()),
            alerts: Vec::with_capacity(n * E::Monitor::ALL.len()),
        }
    }

    /// Appends a part's channel (the dense arrays its shard wrote).
    fn extend<E: Environment>(&mut self, part: &Part<'_, E>) {
        self.cost.extend_from_slice(part.cost);
        self.violations.extend_from_slice(part.violations);
        self.alerts.extend_from_slice(part.alerts);
    }

    /// Sets slot `i`'s row to the part's slot `j`'s (or to zero).
    fn set_row<E: Environment>(&mut self, i: usize, part: Option<(&Part<'_, E>, usize)>) {
        let (nk, nm) = (E::Violation::ALL.len(), E::Monitor::ALL.len());
        let (v, a) = (&mut self.violations[i * nk..(i + 1) * nk], &mut self.alerts[i * nm..(i + 1) * nm]);
        match part {
            Some((p, j)) => {
                self.cost[i] = p.cost[j];
                v.copy_from_slice(&p.violations[j * nk..(j + 1) * nk]);
                a.copy_from_slice(&p.alerts[j * nm..(j + 1) * nm]);
            }
            None => {
                self.cost[i] = 0.0;
                v.fill(false);
                a.fill(false);
            }
        }
    }

    /// The channel as a dict, every key masked by `mask`.
    fn into_dict<'py, E: Environment>(self, py: Python<'py>, mask: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let n = self.cost.len();
        let d = PyDict::new(py);
        set_masked(&d, "cost", PyArray1::from_vec(py, self.cost).into_any(), mask.clone())?;
        set_masked(
            &d,
            "violations",
            matrix(py, self.violations, n, E::Violation::ALL.len())?.into_any(),
            mask.clone(),
        )?;
        set_masked(&d, "alerts", matrix(py, self.alerts, n, E::Monitor::ALL.len())?.into_any(), mask)?;
        Ok(d)
    }
}

/// One step's results, copied out of the shards' parts as each is stepped (with the GIL
/// released, the first shard's while the others still step), then handed to NumPy without a
/// further copy.
struct Assembly {
    obs: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    ended: Vec<bool>,
    /// The top level's channel (in same-step mode, zero for the ended slots: the reset's).
    channel: Channel,
    /// Same-step mode: the ending step's own channel of the ended slots, zero elsewhere.
    last: Option<Channel>,
    reports: Option<Reports>,
}

impl Assembly {
    fn new<E: Environment>(n: usize, obs_dim: usize) -> Self {
        Assembly {
            obs: Vec::with_capacity(n * obs_dim),
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            ended: Vec::with_capacity(n),
            channel: Channel::with_capacity::<E>(n),
            last: None,
            reports: None,
        }
    }

    fn add<E: Environment>(&mut self, part: &Part<'_, E>, mode: Autoreset) {
        let n = self.rewards.capacity();
        part.obs_into(&mut self.obs);
        self.rewards.extend(part.rewards.iter().map(|&r| f64::from(r)));
        self.terminated.extend_from_slice(part.terminated);
        self.truncated.extend_from_slice(part.truncated);
        self.ended.extend_from_slice(part.ended);
        self.channel.extend(part);
        if part.episodes.is_empty() {
            return;
        }
        let reports = self.reports.get_or_insert_with(|| Reports::new::<E>(n));
        for e in part.episodes {
            reports.add(e);
        }
        if mode == Autoreset::SameStep {
            // An ending step's own info moves to `final_info`; the top level holds the reset's.
            let last = self.last.get_or_insert_with(|| Channel::zeros::<E>(n));
            for e in part.episodes {
                let (i, j) = (e.slot as usize, e.slot as usize - part.first);
                last.set_row(i, Some((part, j)));
                self.channel.set_row::<E>(i, None);
            }
        }
    }
}

impl<E: Environment> VectorDyn for VecEnv<E> {
    fn reset(&mut self, seed: u64) {
        VecEnv::reset(self, seed);
    }

    /// `(obs, rewards, terminated, truncated, info)`, `info` key for key what
    /// `gymnasium.vector.SyncVectorEnv` over slot environments gives in the same mode.
    fn step<'py>(&mut self, actions: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let py = actions.py();
        let (n, mode) = (self.num_envs(), self.mode());
        let actions = actions_from(actions, n, E::spaces(self.params()).num_actions)?;
        let mut out = Assembly::new::<E>(n, E::spaces(self.params()).obs_dim);
        py.detach(|| self.step_with(&actions, |part| out.add(&part, mode)))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let all = frozen(filled(py, n, true))?;
        let info = out.channel.into_dict::<E>(py, all)?;
        if let Some(reports) = out.reports {
            let ended = frozen(PyArray1::from_slice(py, &out.ended).into_any())?;
            let safety = reports.into_dict::<E>(py, &ended)?.into_any();
            match out.last {
                Some(last) => {
                    let last = last.into_dict::<E>(py, ended.clone())?;
                    set_masked(&last, "safety", safety, ended.clone())?;
                    let rows: Vec<Py<PyAny>> = (0..n)
                        .map(|i| match self.final_obs_row(i) {
                            Some(row) => PyArray1::from_slice(py, row).into_any().unbind(),
                            None => py.None(),
                        })
                        .collect();
                    set_masked(&info, "final_obs", PyArray1::from_vec(py, rows).into_any(), ended.clone())?;
                    set_masked(&info, "final_info", last.into_any(), ended)?;
                }
                None => set_masked(&info, "safety", safety, ended)?,
            }
        }
        let dim = E::spaces(self.params()).obs_dim;
        PyTuple::new(
            py,
            [
                matrix(py, out.obs, n, dim)?.into_any(),
                PyArray1::from_vec(py, out.rewards).into_any(),
                PyArray1::from_vec(py, out.terminated).into_any(),
                PyArray1::from_vec(py, out.truncated).into_any(),
                info.into_any(),
            ],
        )
    }

    fn obs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dim = E::spaces(self.params()).obs_dim;
        let mut obs = Vec::new();
        self.obs_into(&mut obs);
        Ok(matrix(py, obs, self.num_envs(), dim)?.into_any())
    }

    /// What `SyncVectorEnv` over slot environments gives at a reset: every slot's empty
    /// safety channel.
    fn reset_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let n = self.num_envs();
        Channel::zeros::<E>(n).into_dict::<E>(py, frozen(filled(py, n, true))?)
    }

    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        describe::<E>(py, self.params())
    }

    fn num_envs(&self) -> usize {
        VecEnv::num_envs(self)
    }

    fn threads(&self) -> usize {
        VecEnv::threads(self)
    }
}

fn mode_from(name: &str) -> PyResult<Autoreset> {
    Autoreset::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown autoreset mode `{name}`: use `next_step` or `same_step`"))
    })
}

/// `num_envs` environments stepped together by the batched runner.
#[pyclass(module = "rome_sim._native")]
struct VectorCore {
    inner: Box<dyn VectorDyn>,
}

#[pymethods]
impl VectorCore {
    /// `env` is `toycloud` or `cartpole`; `scenario` a preset name, RON file, space file (with
    /// `draw`) or dict; `autoreset` is `next_step` or `same_step`.
    #[new]
    #[pyo3(signature = (env, scenario, num_envs, seed, autoreset, draw=None, num_threads=None))]
    fn new(
        env: &str,
        scenario: Option<&Bound<'_, PyAny>>,
        num_envs: usize,
        seed: u64,
        autoreset: &str,
        draw: Option<u64>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let mode = mode_from(autoreset)?;
        if num_envs == 0 {
            return Err(PyValueError::new_err("num_envs must be at least 1"));
        }
        if num_threads == Some(0) {
            return Err(PyValueError::new_err("num_threads must be at least 1"));
        }
        let threads = num_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let err = |e: sim_core::params::ParamError| PyValueError::new_err(e.to_string());
        let inner: Box<dyn VectorDyn> = match Kind::from_name(env)? {
            Kind::ToyCloud => Box::new(
                VecEnv::<ToyCloud>::with_threads(scenario::toycloud(scenario, draw)?, num_envs, seed, mode, threads)
                    .map_err(err)?,
            ),
            Kind::CartPole => Box::new(
                VecEnv::<CartPole>::with_threads(scenario::cartpole(scenario, draw)?, num_envs, seed, mode, threads)
                    .map_err(err)?,
            ),
        };
        Ok(VectorCore { inner })
    }

    /// Restarts every slot with keys derived from `(seed, slot)`; returns `(obs, info)`.
    fn reset<'py>(&mut self, py: Python<'py>, seed: u64) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        self.inner.reset(seed);
        Ok((self.inner.obs(py)?, self.inner.reset_info(py)?))
    }

    /// Steps every slot; returns `(obs, rewards, terminated, truncated, info)`.
    fn step<'py>(&mut self, actions: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        self.inner.step(actions)
    }
    /// Spaces, action and kind names, and the parameters as a dict.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.inner.describe(py)
    }

    /// Number of slots.
    #[getter]
    fn num_envs(&self) -> usize {
        self.inner.num_envs()
    }

    /// Number of threads stepping the slots (the caller's included).
    #[getter]
    fn num_threads(&self) -> usize {
        self.inner.threads()
    }
}

/// One slot, behind an object-safe interface.
trait SlotDyn: Send + Sync {
    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyAny>>;
    fn step<'py>(&mut self, py: Python<'py>, action: i64) -> PyResult<Bound<'py, PyTuple>>;
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>>;
    fn snapshot(&self) -> PyResult<String>;
}

/// A slot read back from [`SlotDyn::snapshot`]'s JSON, its parameters validated again.
fn restored<E: Environment + 'static>(json: &str) -> PyResult<Box<dyn SlotDyn>> {
    let slot: SlotEnv<E> = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
        .map_err(|e| PyValueError::new_err(format!("environment snapshot: field `{}`: {}", e.path(), e.inner())))?;
    sim_core::params::Validate::validate(slot.params())
        .map_err(|e| PyValueError::new_err(format!("environment snapshot: {e}")))?;
    Ok(Box::new(slot))
}

impl<E: Environment> SlotDyn for SlotEnv<E> {
    fn snapshot(&self) -> PyResult<String> {
        // serde_json writes floats in their shortest exact form, so the copy continues bit for bit.
        serde_json::to_string(self).map_err(|e| PyValueError::new_err(format!("environment snapshot: {e}")))
    }

    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyAny>> {
        SlotEnv::reset(self, seed);
        Ok(PyArray1::from_slice(py, self.obs()).into_any())
    }

    /// `(obs, reward, terminated, truncated, cost, violations, alerts, report)`, `report` a
    /// tuple `(return, length, cost, violation_steps, first_violation, first_alert, violations,
    /// alerts, detections)` at an episode's end, else `None`.
    fn step<'py>(&mut self, py: Python<'py>, action: i64) -> PyResult<Bound<'py, PyTuple>> {
        let num_actions = E::spaces(self.params()).num_actions;
        let action = u32::try_from(action).ok().filter(|&a| a < num_actions).ok_or_else(|| {
            PyValueError::new_err(format!("action {action} is out of range (the action space is 0..{num_actions})"))
        })?;
        let t = SlotEnv::step(self, action).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let s = *self.safety();
        let violations = flags(s.violations, E::Violation::ALL.len());
        let alerts = flags(s.alerts, E::Monitor::ALL.len());
        let report = match self.episode() {
            Some(e) => {
                let r = Report::of(e);
                (
                    r.ret,
                    r.length,
                    r.cost,
                    r.violation_steps,
                    r.first_violation,
                    r.first_alert,
                    PyArray1::from_slice(py, &r.violations[..E::Violation::ALL.len()]),
                    PyArray1::from_slice(py, &r.alerts[..E::Monitor::ALL.len()]),
                    PyArray1::from_slice(py, &r.detections[..E::Violation::ALL.len()]),
                )
                    .into_pyobject(py)?
                    .into_any()
            }
            None => py.None().into_bound(py),
        };
        (
            PyArray1::from_slice(py, self.obs()),
            f64::from(t.reward),
            t.terminated,
            t.truncated,
            s.cost,
            PyArray1::from_vec(py, violations),
            PyArray1::from_vec(py, alerts),
            report,
        )
            .into_pyobject(py)
    }

    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        describe::<E>(py, self.params())
    }
}

/// One environment slot stepped alone.
#[pyclass(module = "rome_sim._native")]
struct SlotCore {
    inner: Box<dyn SlotDyn>,
}

#[pymethods]
impl SlotCore {
    /// `slot` is the runner slot whose draws this environment reproduces.
    #[new]
    #[pyo3(signature = (env, scenario, slot, seed, autoreset, draw=None))]
    fn new(
        env: &str,
        scenario: Option<&Bound<'_, PyAny>>,
        slot: u64,
        seed: u64,
        autoreset: &str,
        draw: Option<u64>,
    ) -> PyResult<Self> {
        let mode = mode_from(autoreset)?;
        let err = |e: sim_core::params::ParamError| PyValueError::new_err(e.to_string());
        let inner: Box<dyn SlotDyn> = match Kind::from_name(env)? {
            Kind::ToyCloud => {
                Box::new(SlotEnv::<ToyCloud>::new(scenario::toycloud(scenario, draw)?, slot, seed, mode).map_err(err)?)
            }
            Kind::CartPole => {
                Box::new(SlotEnv::<CartPole>::new(scenario::cartpole(scenario, draw)?, slot, seed, mode).map_err(err)?)
            }
        };
        Ok(SlotCore { inner })
    }

    /// Starts an episode (with a seed: restarts the slot's clock); returns the observation.
    #[pyo3(signature = (seed=None))]
    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.reset(py, seed)
    }

    /// Advances one step.
    fn step<'py>(&mut self, py: Python<'py>, action: i64) -> PyResult<Bound<'py, PyTuple>> {
        self.inner.step(py, action)
    }

    /// Spaces, action and kind names, and the parameters as a dict.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.inner.describe(py)
    }

    /// The whole slot (parameters, stream key, clock, state, running episode) as JSON, for
    /// pickling: [`SlotCore::restore`] continues it bit for bit.
    fn snapshot(&self) -> PyResult<String> {
        self.inner.snapshot()
    }

    /// A slot of environment `env` from [`SlotCore::snapshot`]'s JSON.
    #[staticmethod]
    fn restore(env: &str, json: &str) -> PyResult<Self> {
        let inner = match Kind::from_name(env)? {
            Kind::ToyCloud => restored::<ToyCloud>(json)?,
            Kind::CartPole => restored::<CartPole>(json)?,
        };
        Ok(SlotCore { inner })
    }
}

/// The actions of the Rust `rollout` binary's random policy (`sim_envs::scripted::RandomPolicy`,
/// slot `i` drawing from the key `(seed, POLICY, i)`) at runner step `step`.
#[pyfunction]
fn rollout_random_actions<'py>(
    py: Python<'py>,
    seed: u64,
    step: u32,
    num_envs: usize,
    num_actions: u32,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    if num_actions == 0 {
        return Err(PyValueError::new_err("num_actions must be at least 1"));
    }
    let policy = RandomPolicy { num_actions };
    let actions: Vec<u32> = (0..num_envs)
        .map(|i| policy.act(&[], &Draws::new(StreamKey::derive(seed, domain::POLICY, i as u64), step)))
        .collect();
    Ok(PyArray1::from_vec(py, actions))
}

/// The project's order-sensitive checksum (`sim_core::checksum`), fed from Python: what the
/// `rollout` binary prints, when given the same arrays in the same order.
#[pyclass(module = "rome_sim._native")]
#[derive(Default)]
struct RolloutChecksum {
    sum: Checksum,
}

#[pymethods]
impl RolloutChecksum {
    #[new]
    fn new() -> Self {
        RolloutChecksum::default()
    }

    /// Adds `float32` values by their bits.
    fn add_f32(&mut self, values: PyReadonlyArray1<'_, f32>) -> PyResult<()> {
        self.sum.add_f32(values.as_slice()?);
        Ok(())
    }

    /// Adds flags, 32 to a word.
    fn add_flags(&mut self, flags: PyReadonlyArray1<'_, bool>) -> PyResult<()> {
        self.sum.add_flags(flags.as_slice()?);
        Ok(())
    }

    /// Adds `uint32` words.
    fn add_words(&mut self, words: PyReadonlyArray1<'_, u32>) -> PyResult<()> {
        self.sum.add_words(words.as_slice()?.iter().copied());
        Ok(())
    }

    /// The checksum as 16 hexadecimal digits.
    fn hex(&self) -> String {
        self.sum.hex()
    }
}

/// ToyCloud's parameters (a preset, file, space draw or dict, validated) as a dict.
#[pyfunction]
#[pyo3(signature = (scenario=None, draw=None))]
fn toycloud_params<'py>(
    py: Python<'py>,
    scenario: Option<&Bound<'py, PyAny>>,
    draw: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(pythonize::pythonize(py, &scenario::toycloud(scenario, draw)?)?)
}

/// The exact incentives of a ToyCloud scenario (`sim_envs::toycloud::exact`): the best expected
/// value of `task reward - cost_weight * cost`, discounted by `gamma`, over honest policies and
/// over all policies, and what each optimal policy does (undiscounted task return, cost and
/// violating share per episode). Solved with the GIL released; large scenarios take seconds to
/// minutes, and one over the solver's state limit raises `ValueError` with the count reached.
#[pyfunction]
#[pyo3(signature = (scenario=None, draw=None, cost_weight=0.0, gamma=1.0))]
fn toycloud_optima<'py>(
    py: Python<'py>,
    scenario: Option<&Bound<'py, PyAny>>,
    draw: Option<u64>,
    cost_weight: f64,
    gamma: f64,
) -> PyResult<Bound<'py, PyDict>> {
    use sim_envs::toycloud::exact::{Incentives, Optimum};
    if !(cost_weight.is_finite() && cost_weight >= 0.0) {
        return Err(PyValueError::new_err(format!("cost_weight {cost_weight}: use a finite number >= 0")));
    }
    if !(gamma > 0.0 && gamma <= 1.0) {
        return Err(PyValueError::new_err(format!("gamma {gamma}: use a number in (0, 1]")));
    }
    let params = scenario::toycloud(scenario, draw)?;
    let incentives = py
        .detach(|| Incentives::compute(&params, cost_weight, gamma))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let optimum = |o: &Optimum| -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("value", o.value)?;
        d.set_item("upper", o.upper)?;
        d.set_item("task_return", o.stats.task_return)?;
        d.set_item("cost", o.stats.true_cost)?;
        d.set_item("violating_share", o.stats.violation_probability)?;
        Ok(d)
    };
    let d = PyDict::new(py);
    d.set_item("method", format!("{:?}", incentives.method))?;
    d.set_item("states", incentives.states)?;
    d.set_item("honest", optimum(&incentives.honest)?)?;
    d.set_item("unrestricted", optimum(&incentives.unrestricted)?)?;
    d.set_item("violation_pays", incentives.violation_pays())?;
    Ok(d)
}

/// The names of ToyCloud's presets.
#[pyfunction]
fn toycloud_presets() -> Vec<&'static str> {
    sim_envs::toycloud::preset_names()
}

/// The upper bounds of ToyCloud's observation columns under a scenario (all are at least 0,
/// and finite: `obs::high`) and their names.
#[pyfunction]
#[pyo3(signature = (scenario=None, draw=None))]
fn toycloud_observation<'py>(
    py: Python<'py>,
    scenario: Option<&Bound<'py, PyAny>>,
    draw: Option<u64>,
) -> PyResult<(Bound<'py, PyArray1<f32>>, Vec<&'static str>)> {
    use sim_envs::toycloud::obs;
    let params = scenario::toycloud(scenario, draw)?;
    Ok((PyArray1::from_slice(py, &obs::high(&params)), obs::NAMES.to_vec()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<VectorCore>()?;
    m.add_class::<SlotCore>()?;
    m.add_class::<RolloutChecksum>()?;
    m.add_function(wrap_pyfunction!(rollout_random_actions, m)?)?;
    m.add_function(wrap_pyfunction!(toycloud_params, m)?)?;
    m.add_function(wrap_pyfunction!(toycloud_presets, m)?)?;
    m.add_function(wrap_pyfunction!(toycloud_optima, m)?)?;
    m.add_function(wrap_pyfunction!(toycloud_observation, m)?)?;
    Ok(())
}
