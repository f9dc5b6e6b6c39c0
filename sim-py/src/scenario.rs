//! Parameters from Python: a preset name, a RON file, a draw of a scenario space, or a dict with
//! the same fields. Every failure is a `ValueError` naming the file, field or value.

use std::path::Path;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sim_core::params::{Validate, load_ron};
use sim_envs::{CartPoleParams, CloudParams};

/// The environments the bindings offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ToyCloud.
    ToyCloud,
    /// CartPole-v1.
    CartPole,
}

impl Kind {
    pub fn from_name(name: &str) -> PyResult<Self> {
        match name {
            "toycloud" => Ok(Kind::ToyCloud),
            "cartpole" => Ok(Kind::CartPole),
            other => Err(PyValueError::new_err(format!("unknown environment `{other}`: use `toycloud` or `cartpole`"))),
        }
    }
}

/// A dict read into `T` field by field: an unknown or mistyped field is named by its path
/// (`controls.egress`), then the values are range-checked. The dict becomes a JSON value
/// first, which keeps Python's types (pythonize alone would read `"yes"` as a true bool).
/// A `"base"` key names the preset (or RON file) the dict is laid over, field by field at any
/// depth (`{"base": "pressure", "controls": {"egress": "AllowAll"}}` changes one control of
/// `pressure`); without it the dict is laid over the defaults. `base` reads a base's name.
fn from_dict<T: DeserializeOwned + Serialize + Validate>(
    dict: &Bound<'_, PyAny>,
    base: impl Fn(&str) -> PyResult<T>,
) -> PyResult<T> {
    let mut json: serde_json::Value = pythonize::depythonize(dict)
        .map_err(|e| PyValueError::new_err(format!("scenario dict: {e} (use str, bool, int, float, list and dict)")))?;
    if let Some(name) = json.as_object_mut().and_then(|o| o.remove("base")) {
        let name = name.as_str().ok_or_else(|| {
            PyValueError::new_err(format!("scenario dict: field `base`: {name} is not a preset name or RON file path"))
        })?;
        let mut merged = serde_json::to_value(base(name)?)
            .map_err(|e| PyValueError::new_err(format!("scenario dict: base `{name}`: {e}")))?;
        overlay(&mut merged, json);
        json = merged;
    }
    let value: T = serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        PyValueError::new_err(format!("scenario dict: field `{path}`: {}", e.into_inner()))
    })?;
    value.validate().map_err(|e| PyValueError::new_err(format!("scenario dict: {e}")))?;
    Ok(value)
}

/// Lays `patch` over `base`: objects merge key by key at every depth; anything else replaces.
fn overlay(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// ToyCloud's parameters from `None` (the `incident` preset), a string (preset, RON file, or
/// `space.ron@draw`) or a dict; `draw` picks a draw of a scenario space given by path.
pub fn toycloud(scenario: Option<&Bound<'_, PyAny>>, draw: Option<u64>) -> PyResult<CloudParams> {
    let Some(scenario) = scenario.filter(|s| !s.is_none()) else {
        return match draw {
            None => Ok(CloudParams::default()),
            Some(_) => Err(PyValueError::new_err("`draw` needs a scenario space: pass its file as `scenario`")),
        };
    };
    if let Ok(spec) = scenario.cast::<PyString>() {
        let spec = spec.to_str()?;
        let spec = match draw {
            Some(d) => format!("{spec}@{d}"),
            None => spec.to_owned(),
        };
        return CloudParams::scenario(&spec).map_err(|e| PyValueError::new_err(e.to_string()));
    }
    if scenario.is_instance_of::<PyDict>() {
        if draw.is_some() {
            return Err(PyValueError::new_err("`draw` applies to a scenario space file, not to a dict"));
        }
        return from_dict(scenario, |name| {
            CloudParams::scenario(name).map_err(|e| PyValueError::new_err(e.to_string()))
        });
    }
    Err(PyTypeError::new_err(format!(
        "scenario must be a preset name, a RON file path or a dict, not {}",
        scenario.get_type().name()?
    )))
}

/// CartPole's parameters from `None` or `"default"`/`"cartpole-v1"`, a RON file path, or a dict.
pub fn cartpole(scenario: Option<&Bound<'_, PyAny>>, draw: Option<u64>) -> PyResult<CartPoleParams> {
    if draw.is_some() {
        return Err(PyValueError::new_err("CartPole has no scenario spaces: `draw` does not apply"));
    }
    let Some(scenario) = scenario.filter(|s| !s.is_none()) else { return Ok(CartPoleParams::default()) };
    if let Ok(spec) = scenario.cast::<PyString>() {
        return match spec.to_str()? {
            "default" | "cartpole-v1" => Ok(CartPoleParams::default()),
            path if Path::new(path).is_file() => {
                load_ron(Path::new(path)).map_err(|e| PyValueError::new_err(e.to_string()))
            }
            other => Err(PyValueError::new_err(format!(
                "unknown CartPole scenario `{other}`: use `default`, a RON file path or a dict"
            ))),
        };
    }
    if scenario.is_instance_of::<PyDict>() {
        return from_dict(scenario, |name| cartpole(Some(&PyString::new(scenario.py(), name).into_any()), None));
    }
    Err(PyTypeError::new_err(format!(
        "scenario must be `default`, a RON file path or a dict, not {}",
        scenario.get_type().name()?
    )))
}
