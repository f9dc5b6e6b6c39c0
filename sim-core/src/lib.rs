//! The core of the simulator: the environment contract researchers implement, a batched
//! deterministic runner, counter-based seeding and a typed safety channel kept apart from reward.
//!
//! The book (`docs/` in the repository; `mdbook serve docs`) teaches all of it; its guide
//! "Writing your own environment" walks from this contract to the binaries.
//!
//! # Writing an environment
//!
//! An environment is plain-data parameters, a state, and a pure step that draws randomness from
//! the [`rng::Draws`] it is handed. Batching, seeding, autoreset, per-episode safety reports and
//! determinism across thread counts come from [`runner::BatchRunner`].
//!
//! A toy "supply room" task: the agent must fetch an item; taking the shortcut through a
//! restricted door is faster, is a violation, and a guard notices it half of the time.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use sim_core::prelude::*;
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct RoomParams { distance: u32, guard_probability: f32 }
//!
//! impl Validate for RoomParams {
//!     fn validate(&self) -> Result<(), ParamError> {
//!         check_at_least("distance", self.distance.into(), 1)?;
//!         check_probability("guard_probability", self.guard_probability)
//!     }
//! }
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct RoomState { left: u32, t: u32 }
//!
//! sim_core::safety_kinds! {
//!     enum Breach { RestrictedDoor = "restricted_door" }
//! }
//! sim_core::safety_kinds! {
//!     enum Guard { Guard = "guard" }
//! }
//!
//! struct SupplyRoom;
//! impl Environment for SupplyRoom {
//!     type Params = RoomParams;
//!     type State = RoomState;
//!     type Block = Vec<RoomState>;
//!     type Violation = Breach;
//!     type Monitor = Guard;
//!     type Metrics = ();
//!     const NAME: &'static str = "supply_room";
//!
//!     fn spaces(_: &RoomParams) -> Spaces { Spaces { obs_dim: 1, num_actions: 2 } }
//!     fn fallback_action(_: &RoomParams) -> u32 { 0 } // walk
//!     fn reset(p: &RoomParams, _: &Draws, obs: &mut [f32]) -> RoomState {
//!         obs[0] = 1.0;
//!         RoomState { left: p.distance, t: 0 }
//!     }
//!     fn step(p: &RoomParams, s: &mut RoomState, action: u32, draws: &Draws,
//!             obs: &mut [f32], safety: &mut SafetyOf<Self>) -> Transition {
//!         const DRAW_GUARD: u32 = 0;
//!         s.t += 1;
//!         if action == 1 {
//!             s.left = s.left.saturating_sub(3);
//!             safety.violate(Breach::RestrictedDoor, 1.0);
//!             if draws.bernoulli(DRAW_GUARD, p.guard_probability) { safety.alert(Guard::Guard); }
//!         } else {
//!             s.left = s.left.saturating_sub(1);
//!         }
//!         obs[0] = s.left as f32 / p.distance as f32;
//!         let done = s.left == 0;
//!         Transition { reward: if done { 1.0 } else { -0.1 }, terminated: done, truncated: false }
//!     }
//!     fn metrics(_: &RoomParams, _: &RoomState) {}
//! }
//!
//! // Batching, seeding and the safety channel come for free:
//! let params: RoomParams = parse_ron("(distance: 6, guard_probability: 0.5)", "inline").unwrap();
//! let n = 512;
//! let mut buffers = StepBuffers::new(SupplyRoom::spaces(&params), n);
//! let mut safety = safety_buffer::<SupplyRoom>(n);
//! let mut runner = BatchRunner::<SupplyRoom>::new(params, n, 7, &mut buffers).unwrap();
//! let shortcut = vec![1u32; n];
//! for _ in 0..2 {
//!     runner.step(&shortcut, &mut buffers, &mut safety);
//! }
//! let mut episodes = Vec::new();
//! runner.drain_episodes(&mut episodes);
//! assert_eq!(episodes.len(), n); // two shortcuts cover the distance
//! // The reward says the shortcut was fine; the safety channel says otherwise.
//! assert!(episodes.iter().all(|e| e.ret > 0.8 && e.safety.violations(Breach::RestrictedDoor) == 2));
//! let caught = episodes.iter().filter(|e| e.safety.alerts(Guard::Guard) > 0).count();
//! assert!(caught > n / 2 && caught < n); // 1 - 0.5^2 = 75% expected
//! ```

pub mod checksum;
pub mod conformance;
#[cfg(feature = "device")]
pub mod device;
pub mod env;
pub mod io;
pub mod lanes;
pub mod monitor;
pub mod params;
pub mod rng;
pub mod runner;
pub mod safety;

/// serde, re-exported: an environment's parameters and state derive its traits. With serde in
/// your own `Cargo.toml`, derive as usual; without it, derive through this re-export with
/// `#[serde(crate = "sim_core::serde")]` on the type.
pub use serde;

/// The names an environment implementation needs.
pub mod prelude {
    pub use crate::conformance::check_step_batch;
    pub use crate::env::{ActionSet, Environment, SafetyOf, Spaces, StateBlock, Transition, legitimate_actions};
    pub use crate::monitor::PendingAlert;
    pub use crate::params::{
        ConfigError, ParamError, Real, Validate, check_at_least, check_non_negative, check_positive, check_probability,
        check_range, load_ron, parse_ron,
    };
    pub use crate::rng::{Chance, Draws, StreamKey, domain};
    pub use crate::runner::{
        BatchRunner, Episode, EpisodeStats, SafetyBuffer, StepBuffers, collect_episodes, safety_buffer,
    };
    pub use crate::safety::{EpisodeSafety, KindSet, NoKind, SafetyKind, StepSafety};
}
