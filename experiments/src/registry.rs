//! Where an environment is wired into the binaries: one list.
//!
//! An environment the binaries can run implements [`Registered`] (its scenarios, its scripted
//! policies, its device form if it has one) beside [`Describe`] (its episode summary), and is
//! named once in an [`environments!`](crate::environments) list. The list is the `env` field of a training
//! configuration ([`crate::config::TrainConfig`]), the `--env` values of `rollout`, and the
//! dispatch of both: `train` and `rollout` are library functions generic over the list
//! ([`crate::cli::train`], [`crate::cli::rollout`]), and the binaries call them with
//! [`EnvConfig`], the project's list. `rome_repro` and `incentives` are ToyCloud's own
//! experiments (its solver, twins and verdicts) and name ToyCloud directly; their trainers go
//! through the same [`Registered`] impl ([`crate::device::Loop::trainer`]).
//!
//! Your own environment reaches `train` and `rollout` with one edit, a line in a list of your own
//! that your binary hands to them; `examples/custom_environment.rs` does it for a line world:
//!
//! ```ignore
//! experiments::environments! {
//!     /// The project's environments and the line world.
//!     pub enum Envs {
//!         CartPole(sim_envs::CartPole) | CartPoleScenario,
//!         ToyCloud(sim_envs::ToyCloud) | ToyCloudScenario,
//!         LineWorld(LineWorld) | LineWorldScenario,
//!     }
//! }
//! ```

use std::fmt::Debug;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sim_agents::backend::TrainBackend;
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_core::env::Environment;
use sim_core::params::{ConfigError, Validate, load_ron};
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::scripted::ScriptedPolicy;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::toycloud::scripts::{CloudScript, Strategy};
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

use crate::describe::Describe;

/// A constructor of an environment's trainers on the device loop: `Trainer::on_device` over its
/// device form.
pub type DeviceTrainer<E, B> = fn(
    <E as Environment>::Params,
    PpoConfig,
    u64,
    <B as burn::tensor::backend::BackendTypes>::Device,
) -> Result<Trainer<E, B>, TrainError>;

/// What the binaries need of an environment beyond its dynamics.
pub trait Registered: Describe {
    /// The scenario `--scenario default` names.
    const DEFAULT_SCENARIO: &'static str;

    /// The parameters of a preset by name, or of a RON file by path ([`preset_or_file`] does
    /// both for a list of presets).
    fn scenario(spec: &str) -> Result<Self::Params, RegistryError>;

    /// The scripted policies `rollout --policy` offers besides `random` (none by default).
    fn scripts() -> Vec<&'static str> {
        Vec::new()
    }

    /// The scripted policy `name` under `params`, `None` where there is no such script.
    fn script(name: &str, params: &Self::Params) -> Option<Box<dyn ScriptedPolicy>> {
        let _ = (name, params);
        None
    }

    /// How to train on the device loop, or `None` (the default) where the environment has no
    /// device form: `--loop device` is then refused before anything is written.
    fn device_loop<B: TrainBackend>() -> Option<DeviceTrainer<Self, B>> {
        None
    }
}

/// Why an environment or its scenario could not be named.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No environment of the list has this name.
    #[error("unknown environment `{name}`; known: {known}")]
    UnknownEnv {
        /// What was asked for.
        name: String,
        /// The list's names, comma-separated.
        known: String,
    },
    /// Neither a preset nor an existing file.
    #[error("unknown scenario `{name}` for {env}: not a preset ({presets}) and no such file")]
    UnknownScenario {
        /// The environment.
        env: &'static str,
        /// What was asked for.
        name: String,
        /// Its presets, comma-separated.
        presets: String,
    },
    /// The file did not parse or validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// ToyCloud's scenario (presets, files and draws of scenario spaces) could not be resolved.
    #[error(transparent)]
    Cloud(#[from] sim_envs::toycloud::ScenarioError),
}

/// A named preset: its name and the function making its parameters.
pub type Preset<P> = (&'static str, fn() -> P);

/// The preset of `presets` named `spec`, or the RON file at path `spec`.
pub fn preset_or_file<E: Environment>(spec: &str, presets: &[Preset<E::Params>]) -> Result<E::Params, RegistryError> {
    if let Some((_, make)) = presets.iter().find(|(name, _)| *name == spec) {
        return Ok(make());
    }
    if Path::new(spec).is_file() {
        return Ok(load_ron(Path::new(spec))?);
    }
    let presets = presets.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    Err(RegistryError::UnknownScenario { env: E::NAME, name: spec.into(), presets })
}

/// The scenario `spec` names for `E`: itself, or for `default` [`Registered::DEFAULT_SCENARIO`].
pub fn scenario_name<E: Registered>(spec: &str) -> &str {
    if spec == "default" { E::DEFAULT_SCENARIO } else { spec }
}

/// `E`'s scenario `spec` ([`scenario_name`]).
pub fn scenario<E: Registered>(spec: &str) -> Result<E::Params, RegistryError> {
    E::scenario(scenario_name::<E>(spec))
}

/// Work generic over the environment, which [`Registry::visit`] runs on the environment a
/// configuration names.
pub trait WithEnv {
    /// What the work returns.
    type Output;
    /// Runs the work on environment `E` with `params`.
    fn run<E: Registered>(self, params: E::Params) -> Self::Output;
}

/// A list of environments, as [`environments!`](crate::environments) makes it: an enum with, per environment, a
/// variant holding its parameters and one naming its scenario.
pub trait Registry: Clone + Debug + Serialize + DeserializeOwned + Validate + Send + Sync + 'static {
    /// The environments' names ([`Environment::NAME`]), in list order.
    fn names() -> &'static [&'static str];
    /// Environment `env` under scenario `spec` (a preset, `default`, or a RON file path).
    fn named(env: &str, spec: &str) -> Result<Self, RegistryError>;
    /// The environment's name.
    fn name(&self) -> &'static str;
    /// The same environment with a named scenario resolved to its parameters.
    fn resolve(&self) -> Result<Self, RegistryError>;
    /// Runs `work` on this environment with its parameters (a named scenario resolved first).
    fn visit<W: WithEnv>(&self, work: W) -> Result<W::Output, RegistryError>;
}

/// Declares a list of environments: an enum implementing [`Registry`] (and serde, and
/// [`Validate`]), each line `Variant(EnvironmentType) | ScenarioVariant`. In RON, a variant holds
/// the environment's parameters (`CartPole(())`, `ToyCloud((horizon: 40))`) and its scenario
/// variant names a preset or a file (`ToyCloudScenario("pressure")`). The invoking crate must
/// know this crate as `experiments` (serde's derive is pointed at `experiments::reexport`).
#[macro_export]
macro_rules! environments {
    (
        $(#[$meta:meta])*
        $vis:vis enum $list:ident {
            $( $variant:ident($env:ty) | $scenario:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, $crate::reexport::serde::Serialize, $crate::reexport::serde::Deserialize)]
        #[serde(crate = "experiments::reexport::serde", deny_unknown_fields)]
        $vis enum $list {
            $(
                #[doc = concat!("`", stringify!($env), "` with these parameters.")]
                $variant(<$env as $crate::reexport::sim_core::env::Environment>::Params),
                #[doc = concat!("`", stringify!($env), "` under a preset or a RON file, resolved when the run starts.")]
                $scenario(String),
            )+
        }

        impl $crate::registry::Registry for $list {
            fn names() -> &'static [&'static str] {
                &[$(<$env as $crate::reexport::sim_core::env::Environment>::NAME),+]
            }

            fn named(env: &str, spec: &str) -> Result<Self, $crate::registry::RegistryError> {
                $(
                    if env == <$env as $crate::reexport::sim_core::env::Environment>::NAME {
                        return $crate::registry::scenario::<$env>(spec).map($list::$variant);
                    }
                )+
                Err($crate::registry::RegistryError::UnknownEnv {
                    name: env.into(),
                    known: <Self as $crate::registry::Registry>::names().join(", "),
                })
            }

            fn name(&self) -> &'static str {
                match self {
                    $( $list::$variant(_) | $list::$scenario(_) => {
                        <$env as $crate::reexport::sim_core::env::Environment>::NAME
                    } )+
                }
            }

            fn resolve(&self) -> Result<Self, $crate::registry::RegistryError> {
                match self {
                    $(
                        $list::$variant(p) => Ok($list::$variant(p.clone())),
                        $list::$scenario(s) => $crate::registry::scenario::<$env>(s).map($list::$variant),
                    )+
                }
            }

            fn visit<W: $crate::registry::WithEnv>(&self, work: W) -> Result<W::Output, $crate::registry::RegistryError> {
                match self {
                    $(
                        $list::$variant(p) => Ok(work.run::<$env>(p.clone())),
                        $list::$scenario(s) => Ok(work.run::<$env>($crate::registry::scenario::<$env>(s)?)),
                    )+
                }
            }
        }

        impl $crate::reexport::sim_core::params::Validate for $list {
            fn validate(&self) -> Result<(), $crate::reexport::sim_core::params::ParamError> {
                match self {
                    $(
                        $list::$variant(p) => $crate::reexport::sim_core::params::Validate::validate(p),
                        $list::$scenario(_) => Ok(()),
                    )+
                }
            }
        }
    };
}

environments! {
    /// The environments of the project's binaries.
    pub enum EnvConfig {
        CartPole(CartPole) | CartPoleScenario,
        ToyCloud(ToyCloud) | ToyCloudScenario,
    }
}

impl Registered for CartPole {
    const DEFAULT_SCENARIO: &'static str = "default";

    fn scenario(spec: &str) -> Result<CartPoleParams, RegistryError> {
        preset_or_file::<Self>(spec, &[("default", CartPoleParams::default), ("cartpole-v1", CartPoleParams::default)])
    }

    fn device_loop<B: TrainBackend>() -> Option<DeviceTrainer<Self, B>> {
        Some(|params, config, seed, device| {
            Trainer::on_device::<DeviceCartPole<B::InnerBackend>>(params, config, seed, None, device)
        })
    }
}

impl Registered for ToyCloud {
    const DEFAULT_SCENARIO: &'static str = "incident";

    fn scenario(spec: &str) -> Result<CloudParams, RegistryError> {
        Ok(CloudParams::scenario(spec)?)
    }

    fn scripts() -> Vec<&'static str> {
        Strategy::ALL.iter().map(|s| s.name()).collect()
    }

    fn script(name: &str, params: &CloudParams) -> Option<Box<dyn ScriptedPolicy>> {
        Strategy::from_name(name).map(|s| Box::new(CloudScript::new(s, params)) as Box<dyn ScriptedPolicy>)
    }

    fn device_loop<B: TrainBackend>() -> Option<DeviceTrainer<Self, B>> {
        Some(|params, config, seed, device| {
            Trainer::on_device::<DeviceToyCloud<B::InnerBackend>>(params, config, seed, None, device)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_resolves_and_refuses_by_name() {
        assert_eq!(EnvConfig::names(), ["cartpole", "toycloud"]);
        let cloud = EnvConfig::named("toycloud", "default").unwrap();
        assert!(matches!(&cloud, EnvConfig::ToyCloud(p) if *p == CloudParams::default()));
        assert_eq!(cloud.name(), "toycloud");
        let named = EnvConfig::ToyCloudScenario("pressure".into());
        assert!(
            matches!(named.resolve().unwrap(), EnvConfig::ToyCloud(p) if p == CloudParams::scenario("pressure").unwrap())
        );
        let err = EnvConfig::named("gridworld", "default").unwrap_err().to_string();
        assert_eq!(err, "unknown environment `gridworld`; known: cartpole, toycloud");
        let err = EnvConfig::named("cartpole", "windy").unwrap_err().to_string();
        assert!(err.contains("`windy` for cartpole") && err.contains("default, cartpole-v1"), "{err}");
        let err = EnvConfig::CartPoleScenario("windy".into()).resolve().unwrap_err().to_string();
        assert!(err.contains("`windy` for cartpole"), "{err}");
    }

    #[test]
    fn scripts_are_offered_by_name() {
        let params = CloudParams::default();
        for name in ToyCloud::scripts() {
            assert_eq!(ToyCloud::script(name, &params).unwrap().name(), name);
        }
        assert!(ToyCloud::script("teleport", &params).is_none());
        assert!(CartPole::scripts().is_empty() && CartPole::script("anything", &CartPoleParams::default()).is_none());
    }
}
