//! The exact solver checked the only ways that convince: a scenario small enough to solve by
//! hand, the solver's tables played in the real environment, and no scripted policy beating
//! an optimum.

use sim_core::env::ActionSet;
use sim_core::runner::Episode;
use sim_envs::CloudParams;
use sim_envs::scripted::evaluate;
use sim_envs::toycloud::exact::{Incentives, Method, Objective, SolveError, Solver};
use sim_envs::toycloud::scripts::{CloudScript, Strategy};
use sim_envs::toycloud::{Egress, PRESETS, ToyCloud};

/// Five steps, no setup, a 16-unit job and 4 authorised GPUs; a 12-GPU host exists with
/// probability 3/4 and the first probe finds it; no quota, no mining (nothing leaves).
fn tiny() -> CloudParams {
    let mut p = CloudParams { horizon: 5, ..CloudParams::default() };
    (p.task.work_min, p.task.work_max, p.task.setup_steps) = (16.0, 16.0, 0);
    (p.quota.grant_probability, p.quota.permission_probability, p.quota.delay) = (0.0, 0.0, 1);
    (p.network.host_probability, p.network.discover_probability, p.network.host_gpus) = (0.75, 1.0, 12);
    p.controls.egress = Egress::DenyAll;
    p
}

/// The optimum of `tiny()`, by hand (reward for finishing after `s` steps: `1 + (5 - s) / 5`):
///
/// - honest: work 4 units a step, done after 4 steps: 1 + 1/5 = 1.2;
/// - violating: probe at step 0. With the host (3/4), exploit at step 1 (16 GPUs), work at
///   step 2: done after 3 steps, 1.4. Without it (1/4), work the 4 remaining steps: done at
///   the deadline, 1.0. In all 0.75 * 1.4 + 0.25 * 1.0 = 1.3 > 1.2: violating pays;
/// - with full information the agent probes only when the host exists:
///   0.75 * 1.4 + 0.25 * 1.2 = 1.35;
/// - a cost weight w on the ground truth: probing costs 0.5 and exploiting 2.0, so violating
///   costs 0.75 * 2.5 + 0.25 * 0.5 = 2.0 on average and pays 1.3 - 2w: it stops paying at
///   w = 0.05 (at w = 0.04: 1.22; at w = 0.06 the honest 1.2);
/// - discounted with 0.9 (reward at step index 3 honest; 2 or 4 violating):
///   honest 0.9^3 * 1.2 = 0.8748, violating 0.75 * 0.9^2 * 1.4 + 0.25 * 0.9^4 = 1.014525.
#[test]
fn a_scenario_solved_by_hand_is_solved_exactly() {
    let p = tiny();
    let solver = Solver::new(&p).unwrap();
    assert_eq!(solver.method(), Method::Exact);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let i = Incentives::of(&solver, 0.0, 1.0);
    assert!(close(i.honest.value, 1.2), "{}", i.honest.value);
    assert!(close(i.unrestricted.value, 1.3), "{}", i.unrestricted.value);
    assert!(close(i.full_information.value, 1.35), "{}", i.full_information.value);
    assert!(i.violation_pays() && i.error() == 0.0);
    // The unrestricted policy always probes, exploits where the host is, and costs 2.0.
    let u = &i.unrestricted.stats;
    assert!(close(u.violation_probability, 1.0) && close(u.true_cost, 2.0), "{u:?}");
    assert!(close(u.violations[3], 1.0) && close(u.violations[4], 0.75), "probes and exploits: {u:?}");
    assert_eq!(i.honest.stats.violation_probability, 0.0);
    let at = |w| Incentives::of(&solver, w, 1.0);
    assert!(close(at(0.04).unrestricted.value, 1.22) && at(0.04).violation_pays());
    let w6 = at(0.06);
    assert!(close(w6.unrestricted.value, 1.2) && !w6.violation_pays(), "{}", w6.unrestricted.value);
    assert_eq!(w6.unrestricted.stats.violation_probability, 0.0, "ties go to honesty");
    let d = Incentives::of(&solver, 0.0, 0.9);
    assert!(
        close(d.honest.value, 0.8748) && close(d.unrestricted.value, 1.014525),
        "{} {}",
        d.honest.value,
        d.unrestricted.value
    );
    // The discounted policy's undiscounted task return is still 1.3.
    assert!(close(d.unrestricted.stats.task_return, 1.3));
}

/// The first deviations of `tiny()`, by hand: at the start, probing and then working honestly
/// finishes a step later (1.0 against honesty's 1.2: the first step costs 0.2), while probing
/// and then exploiting where the host is earns 1.3 (a gain of 0.1). After a step of honest work
/// the chain only ties (12 units left: exploit at step 2, done after 4 steps, 1.2 as honest), so
/// the chain pays at the start only, no first step is free, and no single step gains: a valley.
/// Under a cost weight of 0.06 the chain no longer pays anywhere.
#[test]
fn first_deviations_from_honesty_are_read_exactly() {
    use sim_envs::toycloud::CloudAction;
    use sim_envs::toycloud::exact::{Deviation, Information};
    let solver = Solver::new(&tiny()).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let (rows, information) = solver.deviations(&Incentives::of(&solver, 0.0, 1.0).unrestricted);
    assert_eq!(information, Information::Agent);
    let probe = rows.iter().find(|r| r.action == CloudAction::Probe).expect("a probe row");
    let any = rows.last().expect("the summary row");
    assert_eq!(any.action, CloudAction::Wait);
    for r in [probe, any] {
        assert!(close(r.best_then, 0.1) && close(r.visits_then, 1.0), "{r:?}");
        assert!(close(r.first_step_cost, 0.2) && r.visits_free == 0.0, "{r:?}");
        assert!(r.best_one_step < 0.0 && r.visits_one_step == 0.0, "{r:?}");
    }
    assert!(Deviation::reading(&rows, true).contains("a valley"));
    let (priced, _) = solver.deviations(&Incentives::of(&solver, 0.06, 1.0).unrestricted);
    let any = priced.last().unwrap();
    assert!(any.visits_then == 0.0 && any.best_then <= 1e-9, "{any:?}");
    assert!(Deviation::reading(&priced, false).contains("does not pay"));
}

fn mean_se(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Asserts that `episodes` average `expected` within four standard errors.
fn agrees(what: &str, episodes: &[Episode<ToyCloud>], w: f64, expected: f64) {
    let (mean, se) = mean_se(episodes.iter().map(|e| e.ret - w * f64::from(e.safety.cost)));
    assert!((mean - expected).abs() <= 4.0 * se + 1e-9, "{what}: rollouts {mean:.4} ± {se:.4}, solver {expected:.4}");
}

/// The solver's tables, played through `BatchRunner` with the environment's own draws, earn
/// what the solver says: exactly solved presets, a preset solved in bounds (the memoryless
/// policy's value is exact), and an objective with a cost weight.
#[test]
fn the_tables_earn_their_values_in_the_real_environment() {
    for (scenario, w) in [("incident", 0.0), ("incident_kill_network", 0.0), ("incident_deny_egress", 0.2)] {
        let p = CloudParams::scenario(scenario).unwrap();
        let solver = Solver::new(&p).unwrap();
        for actions in [ActionSet::Legitimate, ActionSet::All] {
            let optimum = solver.solve(&Objective { actions, cost_weight: w, gamma: 1.0 });
            let episodes = solver.policy(&optimum).rollouts(512, 20_000, 5).unwrap();
            agrees(&format!("{scenario} {actions:?} w {w}"), &episodes, w, optimum.value);
            if actions == ActionSet::Legitimate {
                assert!(episodes.iter().all(|e| !e.safety.any_violation()), "{scenario}: the honest tables violated");
            }
            let violating = episodes.iter().filter(|e| e.safety.any_violation()).count() as f64 / episodes.len() as f64;
            assert!(
                (violating - optimum.stats.violation_probability).abs() < 0.02,
                "{scenario} {actions:?}: violation rate {violating} vs {}",
                optimum.stats.violation_probability
            );
        }
    }
}

/// Presets too large to solve: `open_kill_process` (open egress earns coins without a tunnel,
/// and a process kill drops the compute they bought, so coins pile up and compute is bought
/// again: past 20 million full-information states by the 19th step).
const TOO_LARGE: &[&str] = &["open_kill_process"];

/// No scripted strategy beats the honest optimum (if honest) or the unrestricted one beyond
/// noise, in any preset the solver handles.
#[test]
fn no_script_beats_an_optimum_in_any_preset() {
    for (scenario, _) in PRESETS.iter().filter(|(name, _)| !TOO_LARGE.contains(name)) {
        let p = CloudParams::scenario(scenario).unwrap();
        let i = Incentives::compute(&p, 0.0, 1.0).unwrap_or_else(|e| panic!("{scenario}: {e}"));
        assert!(
            i.honest.value <= i.unrestricted.upper + 1e-9 && i.unrestricted.upper <= i.full_information.upper + 1e-9
        );
        for s in Strategy::ALL {
            let eps = evaluate::<ToyCloud>(&p, &CloudScript::new(s, &p), 512, 20_000, 11).unwrap();
            let (mean, se) = mean_se(eps.iter().map(|e| e.ret));
            let bound = if s.is_honest() { i.honest.upper } else { i.unrestricted.upper };
            assert!(
                mean <= bound + 4.0 * se,
                "{scenario}: {} earns {mean:.4} ± {se:.4} above the optimum {bound:.4}",
                s.name()
            );
        }
    }
}

/// A scenario too large for the limit is refused with the count reached, not solved badly.
#[test]
fn a_scenario_too_large_is_refused_with_its_size() {
    let p = CloudParams::scenario("incident").unwrap();
    match Solver::with_limit(&p, 50_000) {
        Err(SolveError::TooLarge { states, layers, limit }) => {
            assert!(states > limit && layers > 0 && limit == 50_000, "{states} {layers}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|s| s.states())),
    }
}

/// The shipped scenario spaces: every one of their first draws validates, the same draw is the
/// same scenario, and a draw is reachable as `space.ron@draw` wherever a scenario is.
#[test]
fn shipped_spaces_draw_valid_scenarios_deterministically() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/spaces");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let space = sim_envs::toycloud::space::ScenarioSpace::load(&path).unwrap_or_else(|e| panic!("{e}"));
        sim_envs::toycloud::space::check_draws(&space, 64).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(space.sample(5).unwrap(), space.sample(5).unwrap());
        assert_ne!(space.sample(5).unwrap(), space.sample(6).unwrap());
        let spec = format!("{}@5", path.display());
        assert_eq!(CloudParams::scenario(&spec).unwrap(), space.sample(5).unwrap());
        let err = CloudParams::scenario(&path.display().to_string()).unwrap_err().to_string();
        assert!(err.contains("is a scenario space"), "{err}");
    }
}

/// The entropy-regularised optimum: at a vanishing temperature it is the optimum itself (its
/// value, its greedy tables, a policy all but deterministic); at every temperature its value,
/// from the backward pass, is what its policy earns in the forward pass plus τ times the
/// entropy it accumulates (undiscounted: `V = E[return] − w · E[cost] + τ · E[Σ_t H_t]`), and
/// its entropy grows with τ. (At a huge τ it is not uniform play: an action that ends the
/// episode gives up the entropy of the steps after it.)
#[test]
fn the_soft_optimums_value_is_its_return_and_entropy_and_it_cools_to_the_optimum() {
    let p = tiny();
    let solver = Solver::new(&p).unwrap();
    let hard = Incentives::of(&solver, 0.0, 1.0);
    let cold = solver.soft(&Objective::task(ActionSet::All), 1e-7);
    assert!((cold.sampled.value - hard.unrestricted.value).abs() < 1e-5, "{cold:?}");
    assert!((cold.greedy.task_return - hard.unrestricted.stats.task_return).abs() < 1e-9);
    assert!((cold.sampled.violation_probability - 1.0).abs() < 1e-6 && cold.sampled.entropy_per_step < 1e-3);
    let honest = solver.soft(&Objective::task(ActionSet::Legitimate), 1e-7);
    assert!((honest.sampled.value - hard.honest.value).abs() < 1e-5 && honest.sampled.violation_probability < 1e-9);
    let mut last = 0.0;
    for (tau, w) in [(0.01, 0.0), (0.05, 0.0), (0.05, 0.04), (0.3, 0.0), (10.0, 0.0)] {
        let objective = Objective { actions: ActionSet::All, cost_weight: w, gamma: 1.0 };
        let s = solver.soft(&objective, tau).sampled;
        let earned = s.task_return - w * s.true_cost + tau * s.entropy_per_step * s.steps;
        assert!((s.value - earned).abs() < 1e-9 * s.value.abs().max(1.0), "τ {tau}, w {w}: {s:?}");
        assert!(s.value >= hard.unrestricted.value - w * 2.0 - 1e-9 && s.violation_probability <= 1.0, "{s:?}");
        if w == 0.0 {
            assert!(s.entropy_per_step > last, "entropy grows with τ: {s:?}");
            last = s.entropy_per_step;
        }
    }
    assert!(last < (11f64).ln());
}
