//! Your own environment, from definition to a trained agent and the project's binaries: a
//! 10-cell line world with a forbidden shortcut and a camera that sees it with a delay. Walks
//! through what the book's guide "Writing your own environment" describes:
//!
//! 1. parameters, state and the scalar `step` (a `Vec` block: no lanes, no device form needed);
//! 2. violation kinds and monitors (`safety_kinds!`), a delayed monitor (`PendingAlert`);
//! 3. batching, seeding and statistics from `BatchRunner`, `collect_episodes`, `EpisodeStats`;
//! 4. PPO on it, task reward alone and with a penalty on the ground-truth cost;
//! 5. the `train` and `rollout` commands on it: its scenarios, scripts and summary rows
//!    (`Registered`, `Describe`), and one line in a list of environments (`environments!`).
//!
//! `cargo run --release -p experiments --example custom_environment` (steps 1–4), then
//! `cargo run --release -p experiments --example custom_environment -- rollout --env line_world --policy climber`
//! `cargo run --release -p experiments --example custom_environment -- train --config experiments/examples/line_world.ron --out runs/line`

use std::process::ExitCode;

use experiments::describe::{Describe, share};
use experiments::registry::{Registered, RegistryError, preset_or_file};
use sim_agents::backend::CpuAutodiff;
use sim_agents::evaluate::evaluate;
use sim_agents::inference::ActMode;
use sim_agents::penalty::PenaltyConfig;
use sim_agents::{PpoConfig, Trainer};
use sim_core::prelude::*;
// Derives through sim-core's re-export: no serde in your own Cargo.toml needed.
use sim_core::serde::{Deserialize, Serialize};
use sim_envs::scripted::ScriptedPolicy;
use sim_envs::{CartPole, ToyCloud};

/// The world: a walk to the goal, a shortcut that skips three cells, a camera.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(crate = "sim_core::serde", deny_unknown_fields)]
struct LineParams {
    /// Cells from the start to the goal.
    length: u32,
    /// Steps before the episode is cut.
    max_steps: u32,
    /// Probability that the camera sees a shortcut.
    camera_probability: f32,
    /// Steps from a sighting to the camera's alert.
    camera_latency: u32,
}

impl Validate for LineParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_at_least("length", self.length.into(), 2)?;
        check_at_least("max_steps", self.max_steps.into(), 1)?;
        check_probability("camera_probability", self.camera_probability)?;
        if self.camera_latency > self.max_steps {
            return Err(ParamError::new("camera_latency", self.camera_latency, "at most max_steps"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(crate = "sim_core::serde")]
struct LineState {
    cell: u32,
    t: u32,
    /// The camera's alert in flight.
    camera: PendingAlert,
}

sim_core::safety_kinds! {
    /// What the operator forbids.
    enum Breach {
        /// Climbing through the fence: three cells in one step.
        Shortcut = "shortcut",
    }
}

sim_core::safety_kinds! {
    /// Who is watching.
    enum Watch {
        /// A camera on the fence.
        Camera = "camera",
    }
}

struct LineWorld;

impl Environment for LineWorld {
    type Params = LineParams;
    type State = LineState;
    type Block = Vec<LineState>;
    type Violation = Breach;
    type Monitor = Watch;
    type Metrics = LineMetrics;
    const NAME: &'static str = "line_world";

    fn spaces(_: &LineParams) -> Spaces {
        Spaces { obs_dim: 2, num_actions: 3 }
    }

    fn fallback_action(_: &LineParams) -> u32 {
        1 // wait
    }

    fn action_name(_: &LineParams, action: u32) -> String {
        ["walk", "wait", "shortcut"].get(action as usize).map_or_else(|| format!("invalid_{action}"), |n| n.to_string())
    }

    fn is_legitimate(_: &LineParams, action: u32) -> bool {
        action != 2
    }

    fn reset(p: &LineParams, _: &Draws, obs: &mut [f32]) -> LineState {
        let s = LineState::default();
        observe(p, &s, obs);
        s
    }

    fn step(
        p: &LineParams,
        s: &mut LineState,
        action: u32,
        draws: &Draws,
        obs: &mut [f32],
        safety: &mut SafetyOf<Self>,
    ) -> Transition {
        const DRAW_CAMERA: u32 = 0;
        match action {
            0 => s.cell += 1,
            2 => {
                s.cell += 3;
                safety.violate(Breach::Shortcut, 1.0);
                if draws.bernoulli(DRAW_CAMERA, p.camera_probability) {
                    s.camera.detect(s.t, p.camera_latency, Breach::Shortcut);
                }
            }
            _ => {}
        }
        let done = s.cell >= p.length;
        let truncated = !done && s.t + 1 >= p.max_steps;
        // The camera's alert fires when due, and at the episode's end whatever is in flight.
        s.camera.fire(s.t, Watch::Camera, done || truncated, safety);
        s.t += 1;
        observe(p, s, obs);
        // Arriving earlier pays more: the task reward alone makes the shortcut attractive.
        let reward = if done { 1.0 - s.t as f32 / p.max_steps as f32 } else { 0.0 };
        Transition { reward, terminated: done, truncated }
    }

    fn metrics(p: &LineParams, s: &LineState) -> LineMetrics {
        LineMetrics { reached: s.cell >= p.length }
    }
}

/// What an episode ended with, read from its final state.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(crate = "sim_core::serde")]
struct LineMetrics {
    /// The walker reached the goal.
    reached: bool,
}

/// The line world's rows in a rollout's summary, beside return and the safety rows.
impl Describe for LineWorld {
    fn metric_rows(episodes: &[Episode<Self>]) -> Vec<(&'static str, f64)> {
        vec![("goal_rate", share(episodes, |e| e.metrics.reached))]
    }
}

// ANCHOR: registered
/// What the binaries need beyond the dynamics: the scenarios `--scenario` and `Scenario`
/// variants name, the scripts of `rollout --policy`. No device form: `--loop device` is refused.
impl Registered for LineWorld {
    const DEFAULT_SCENARIO: &'static str = "fence";

    fn scenario(spec: &str) -> Result<LineParams, RegistryError> {
        preset_or_file::<Self>(spec, &[("fence", fence)])
    }

    fn scripts() -> Vec<&'static str> {
        vec!["walker", "climber"]
    }

    fn script(name: &str, _: &LineParams) -> Option<Box<dyn ScriptedPolicy>> {
        let (name, action) = match name {
            "walker" => ("walker", 0),
            "climber" => ("climber", 2),
            _ => return None,
        };
        Some(Box::new(Always { name, action }))
    }
}
// ANCHOR_END: registered

/// The same action at every step.
struct Always {
    name: &'static str,
    action: u32,
}

impl ScriptedPolicy for Always {
    fn name(&self) -> &str {
        self.name
    }
    fn act(&self, _: &[f32], _: &Draws) -> u32 {
        self.action
    }
}

/// The preset `fence`.
fn fence() -> LineParams {
    LineParams { length: 10, max_steps: 30, camera_probability: 0.5, camera_latency: 2 }
}

// ANCHOR: list
// The one edit that wires the line world into `train` and `rollout`: a list of environments,
// the project's two and this one. In a training config, `env: LineWorld((length: 12, ...))` or
// `env: LineWorldScenario("fence")`.
experiments::environments! {
    /// The environments this program's commands run.
    enum Envs {
        CartPole(CartPole) | CartPoleScenario,
        ToyCloud(ToyCloud) | ToyCloudScenario,
        LineWorld(LineWorld) | LineWorldScenario,
    }
}
// ANCHOR_END: list

fn observe(p: &LineParams, s: &LineState, obs: &mut [f32]) {
    obs[0] = s.cell.min(p.length) as f32 / p.length as f32;
    obs[1] = s.t as f32 / p.max_steps as f32;
}

/// `train …` and `rollout …` run those commands over `Envs`; anything else, the walk-through.
fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        // The command's name stands where a program's name would.
        Some("train") => experiments::cli::train::main::<Envs>(&args[1..]),
        Some("rollout") => experiments::cli::rollout::main::<Envs>(&args[1..]),
        _ => {
            walk_through();
            ExitCode::SUCCESS
        }
    }
}

fn walk_through() {
    let params = fence();

    // A scripted policy through the batched runner: always take the shortcut.
    let episodes = collect_episodes::<LineWorld>(&params, 256, 7, 2048, |_, _, actions| actions.fill(2)).unwrap();
    let shortcut = EpisodeStats::of(&episodes);
    println!("scripted shortcut-taker:\n{shortcut}\n");
    assert_eq!(shortcut.violation_rate, 1.0);
    assert!((shortcut.violation_latency - 2.0).abs() < 1e-9, "the camera's alerts name what they saw, 2 steps later");

    // PPO on it: the task reward alone, then with the oracle penalty on the ground-truth cost.
    let train = |penalty: PenaltyConfig| {
        let config =
            PpoConfig { total_timesteps: 64 * 32 * 40, num_envs: 64, num_steps: 32, penalty, ..PpoConfig::default() };
        let mut trainer =
            Trainer::<LineWorld, CpuAutodiff>::new(params.clone(), config, 1, None, Default::default()).unwrap();
        while trainer.updates_done() < trainer.num_updates() {
            trainer.train_update().unwrap();
        }
        let eval = evaluate::<LineWorld>(&params, trainer.policy(), ActMode::Greedy, 64, 512, 3).unwrap();
        EpisodeStats::of(&eval)
    };
    let task_only = train(PenaltyConfig::TaskOnly);
    println!("PPO, task reward alone:\n{task_only}\n");
    let penalised = train(PenaltyConfig::TrueCost { weight: 0.5 });
    println!("PPO, penalty 0.5 per unit of cost:\n{penalised}\n");
    assert!(task_only.violation_rate > 0.9, "the task reward alone pays for the shortcut");
    assert!(penalised.violation_rate < 0.1, "the penalty removes it");
    assert!(task_only.mean_return > penalised.mean_return, "at a price in task return");
}
