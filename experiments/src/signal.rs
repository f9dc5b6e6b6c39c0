//! Stopping cleanly on SIGTERM, what Slurm (and most schedulers) send before killing a job at
//! its time limit or on preemption.
//!
//! A binary calls [`install`] once; from then on SIGTERM only raises a flag that long loops
//! read with [`terminated`] between units of work: `train` writes its metrics and a checkpoint
//! after the update in progress and exits, and `--resume` continues exactly; `rome_repro` and
//! `phase_diagram` checkpoint every run in progress the same way, start no other, and the same
//! command run again continues them exactly. Without
//! [`install`] (a library user, a test) SIGTERM keeps its default meaning.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// SIGTERM's handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot handle SIGTERM: {0}")]
pub struct SignalError(#[from] std::io::Error);

/// Turns SIGTERM into the flag [`terminated`] reads.
pub fn install() -> Result<(), SignalError> {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(flag))?;
    Ok(())
}

/// Whether SIGTERM arrived since [`install`] (always false without it).
pub fn terminated() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}
