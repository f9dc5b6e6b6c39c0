//! Experiments: what composes environments, policies and trainers into runs a researcher reads:
//! the `rollout`, `train` and `rome_repro` binaries, and their checksums, summaries, statistics,
//! plots and reports.

pub mod config;
pub mod describe;
pub mod device;
pub mod repro;
pub mod rollout;
pub mod stats;
pub mod train;
