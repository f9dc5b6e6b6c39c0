//! Where training runs: `--device cpu` (the default, burn's flex backend) or `--device cuda[:N]`
//! (burn's CUDA backend, with the `cuda` feature). A device that this build or this machine
//! cannot give is an error before any work starts, never a silent fall back to the CPU.
//!
//! On CUDA the PPO update (forward, backward, Adam) runs on the GPU. The environments and the
//! rollout's policy forward run on the host (`sim_agents::source::HostSource`) unless a run asks
//! for the device loop (`sim_agents::source::DeviceSource`: `train --loop device`,
//! `rome_repro --loop device`).

use std::fmt;
use std::str::FromStr;

use sim_agents::backend::{CpuAutodiff, TrainBackend};
use sim_agents::{PpoConfig, TrainError, Trainer};
use sim_core::params::ParamError;

use crate::registry::{DeviceTrainer, Registered};

/// A training device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU backend (deterministic across thread counts).
    #[default]
    Cpu,
    /// The CUDA GPU of this index.
    Cuda(usize),
}

/// Why a device cannot be named or trained on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// `--device` names no device.
    #[error("unknown device `{0}` (expected cpu, cuda or cuda:N)")]
    Unknown(String),
    /// A CUDA device, in a binary built without CUDA.
    #[error(
        "--device cuda needs a build with the `cuda` feature (cargo build --release -p experiments --features cuda); \
         this binary was built without it"
    )]
    NoCudaFeature,
    /// The probe computed a wrong sum.
    #[error("CUDA device {index} computed 1 + 2 = {sum}")]
    Wrong {
        /// The device.
        index: usize,
        /// What it computed.
        sum: f32,
    },
    /// The CUDA runtime panicked on the probe (no driver, no GPU, index out of range).
    #[error("no usable CUDA device {index}: {why}")]
    Unusable {
        /// The device.
        index: usize,
        /// The runtime's messages.
        why: String,
    },
}

impl FromStr for Device {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.into())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Where a trainer's rollouts are collected (the update runs on the [`Device`] either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum Loop {
    /// The native environments and the policy's forward pass on the host
    /// (`sim_agents::source::HostSource`).
    #[default]
    Host,
    /// Device environments and the policy's forward pass on the device
    /// (`sim_agents::source::DeviceSource`), the rollout read back once per update.
    Device,
}

impl Loop {
    /// Whether this is the host loop (the default, left out of files).
    pub fn is_host(&self) -> bool {
        *self == Loop::Host
    }
}

impl Loop {
    /// A new trainer on this loop: [`Trainer::new`] on the host, on the device over `E`'s device
    /// form ([`Registered::device_loop`]); an environment without one is refused by name.
    pub fn trainer<E: Registered, B: TrainBackend>(
        self,
        params: E::Params,
        config: PpoConfig,
        seed: u64,
        device: B::Device,
    ) -> Result<Trainer<E, B>, TrainError> {
        match self {
            Loop::Host => Trainer::new(params, config, seed, None, device),
            Loop::Device => Self::device_form::<E, B>()?(params, config, seed, device),
        }
    }

    /// `E`'s device form for `B`, or the error refusing `--loop device` for it.
    pub fn device_form<E: Registered, B: TrainBackend>() -> Result<DeviceTrainer<E, B>, TrainError> {
        E::device_loop::<B>().ok_or_else(|| {
            TrainError::Params(ParamError::new(
                "loop",
                "device",
                format!("host: {} has no device form (Registered::device_loop)", E::NAME),
            ))
        })
    }
}

impl fmt::Display for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_host() { "host" } else { "device" })
    }
}

/// Work generic over the training backend, which [`Device::dispatch`] runs on the backend of
/// a device chosen at run time.
pub trait OnBackend {
    /// What the work returns.
    type Output;
    /// Runs the work on backend `B`'s `device`.
    fn run<B: TrainBackend>(self, device: B::Device) -> Self::Output;
}

impl Device {
    /// Checks that this build and this machine can train on the device, and says why not.
    pub fn check(self) -> Result<(), DeviceError> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(index) => cuda_check(index),
        }
    }

    /// Runs `work` on this device's backend. Call [`Device::check`] first: without the `cuda`
    /// feature a CUDA device is refused there, and reaching here with one is a bug.
    pub fn dispatch<W: OnBackend>(self, work: W) -> W::Output {
        match self {
            Device::Cpu => work.run::<CpuAutodiff>(Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(index) => work
                .run::<burn::backend::Autodiff<sim_agents::backend::Cuda>>(burn::backend::cuda::CudaDevice { index }),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("Device::check refuses CUDA without the `cuda` feature"),
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_check(_: usize) -> Result<(), DeviceError> {
    Err(DeviceError::NoCudaFeature)
}

/// Runs a tiny computation on the device, turning the CUDA runtime's panics (no driver, no GPU,
/// index out of range) into an error. The runtime initialises on its own thread, so the panic
/// messages of every thread are collected while the probe runs.
#[cfg(feature = "cuda")]
fn cuda_check(index: usize) -> Result<(), DeviceError> {
    use std::sync::{Arc, Mutex};

    use burn::tensor::Tensor;
    use sim_agents::backend::Cuda;
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook = std::panic::take_hook();
    let sink = Arc::clone(&messages);
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        if let Ok(mut m) = sink.lock() {
            m.push(text);
        }
    }));
    let probe = std::panic::catch_unwind(|| {
        let device = burn::backend::cuda::CudaDevice { index };
        let x = Tensor::<Cuda, 1>::from_floats([1.0, 2.0], &device);
        x.sum().into_scalar()
    });
    std::panic::set_hook(hook);
    match probe {
        Ok(s) if (s - 3.0).abs() < 1e-6 => Ok(()),
        Ok(sum) => Err(DeviceError::Wrong { index, sum }),
        Err(_) => {
            let why = messages.lock().map(|m| m.join("; ")).unwrap_or_default();
            Err(DeviceError::Unusable { index, why })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        assert!("gpu".parse::<Device>().unwrap_err().to_string().contains("`gpu`"));
        assert!("cuda:x".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        assert_eq!(Device::Cpu.check(), Ok(()));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_an_error() {
        assert!(Device::Cuda(0).check().unwrap_err().to_string().contains("`cuda` feature"));
    }
}
