//! Experiments: what composes environments, policies and trainers into runs a researcher reads:
//! the `rollout`, `incentives`, `train` and `rome_repro` binaries, and their checksums, summaries, statistics,
//! plots and reports.

pub mod cli;
pub mod config;
pub mod describe;
pub mod device;
pub mod incentives;
pub mod lock;
pub mod phase;
pub mod repro;
pub mod rollout;
pub mod signal;
pub mod slurm;
pub mod stats;
pub mod train;
