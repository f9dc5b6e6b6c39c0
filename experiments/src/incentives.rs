//! The `incentives` binary's engine: a scenario's exact (or bounded) honest and unrestricted
//! optima, what the optimal policies do, and, on request, the tables played in the real
//! environment as a check.

use sim_core::env::ActionSet;
use sim_core::runner::Episode;
use sim_core::safety::SafetyKind;
use sim_envs::CloudParams;
use sim_envs::toycloud::exact::{
    Deviation, Incentives, Information, Method, Objective, Optimum, SoftOptimum, SolveError, Solver,
};
use sim_envs::toycloud::{CloudAction, ToyCloud, Violation};

/// What to compute.
#[derive(Clone, Debug)]
pub struct Request {
    /// Weight of the ground-truth cost in the objective.
    pub cost_weight: f64,
    /// Discount per step.
    pub gamma: f64,
    /// Episodes to play each optimal policy for in the environment (0: none).
    pub rollouts: usize,
    /// Seed of those episodes.
    pub seed: u64,
    /// Also the entropy-regularised optimum at this temperature (PPO's own objective, its
    /// entropy bonus in reward units).
    pub temperature: Option<f64>,
}

/// A finished computation: the incentives, the rollouts' results and the time taken.
pub struct Outcome {
    /// The optima.
    pub incentives: Incentives,
    /// `(mean, standard error)` of the objective over the rollouts of the honest and the
    /// unrestricted policy.
    pub rollouts: Option<[(f64, f64); 2]>,
    /// Seconds to enumerate and solve.
    pub seconds: f64,
    /// The entropy-regularised optima over honest and over all policies, when asked for.
    pub soft: Option<[SoftOptimum; 2]>,
    /// The value of each violating first step at the honest optimum's states, and over what
    /// information it was computed.
    pub deviations: (Vec<Deviation>, Information),
}

/// Solves `params` as `request` asks.
pub fn compute(params: &CloudParams, request: &Request) -> Result<Outcome, SolveError> {
    let start = std::time::Instant::now();
    let solver = Solver::new(params)?;
    let incentives = Incentives::of(&solver, request.cost_weight, request.gamma);
    let soft = request.temperature.map(|tau| {
        let objective = |actions| Objective { actions, cost_weight: request.cost_weight, gamma: request.gamma };
        [ActionSet::Legitimate, ActionSet::All].map(|a| solver.soft(&objective(a), tau))
    });
    let deviations = solver.deviations(&incentives.unrestricted);
    let seconds = start.elapsed().as_secs_f64();
    let rollouts = (request.rollouts > 0).then(|| {
        [&incentives.honest, &incentives.unrestricted].map(|optimum| {
            let episodes =
                solver.policy(optimum).rollouts(1024, request.rollouts, request.seed).expect("valid scenario");
            mean_se(&episodes, request.cost_weight)
        })
    });
    Ok(Outcome { incentives, rollouts, seconds, soft, deviations })
}

/// Mean and standard error of `return - w * cost` over `episodes`.
fn mean_se(episodes: &[Episode<ToyCloud>], w: f64) -> (f64, f64) {
    let values: Vec<f64> = episodes.iter().map(|e| e.ret - w * f64::from(e.safety.cost)).collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// The report, one `key: value` per line.
pub fn lines(outcome: &Outcome, request: &Request) -> Vec<String> {
    let i = &outcome.incentives;
    let mut out = vec![
        format!("honest_optimum: {:.6}", i.honest.value),
        format!("unrestricted_optimum: {:.6}", i.unrestricted.value),
    ];
    if i.method == Method::Bounds {
        out.push(format!("honest_upper: {:.6}", i.honest.upper));
        out.push(format!("unrestricted_upper: {:.6}", i.unrestricted.upper));
    }
    out.extend([
        format!("violation_pays: {}", i.violation_pays()),
        format!("method: {}", i.method.name()),
        format!("states: {}", i.states),
        format!("error: {:.6}", i.error()),
        format!("full_information: {:.6}", i.full_information.upper),
        format!("objective: task return - {} * true cost, discount {}", request.cost_weight, request.gamma),
    ]);
    for (name, o) in [("honest", &i.honest), ("unrestricted", &i.unrestricted)] {
        out.push(format!("{name}_task_return: {:.6}", o.stats.task_return));
        out.push(format!("{name}_true_cost: {:.6}", o.stats.true_cost));
    }
    if let Some([(hm, hs), (um, us)]) = outcome.rollouts {
        out.push(format!("honest_rollout: {hm:.6} ± {hs:.6}"));
        out.push(format!("unrestricted_rollout: {um:.6} ± {us:.6}"));
        // With a discount, the rollouts' undiscounted objective compares with this.
        let undiscounted = |o: &Optimum| o.stats.task_return - request.cost_weight * o.stats.true_cost;
        out.push(format!("honest_expected_undiscounted: {:.6}", undiscounted(&i.honest)));
        out.push(format!("unrestricted_expected_undiscounted: {:.6}", undiscounted(&i.unrestricted)));
    }
    let u = &i.unrestricted.stats;
    out.push(format!("unrestricted_violation_probability: {:.6}", u.violation_probability));
    for k in Violation::ALL {
        out.push(format!("unrestricted_violations/{}: {:.6}", k.name(), u.violations[k.index()]));
    }
    out.push(format!("unrestricted_violates_by_job_size: {}", by_job_size(i)));
    if let Some(soft) = &outcome.soft {
        for (name, o) in [("honest", &soft[0]), ("unrestricted", &soft[1])] {
            let info = match o.information {
                Information::Agent => "agent",
                Information::Full => "full",
            };
            out.extend([
                format!("soft_{name}_value: {:.6} (temperature {}, {info} information)", o.sampled.value, o.tau),
                format!("soft_{name}_task_return: {:.6}", o.sampled.task_return),
                format!("soft_{name}_violation_probability: {:.6}", o.sampled.violation_probability),
                format!("soft_{name}_entropy_per_step: {:.6}", o.sampled.entropy_per_step),
                format!("soft_{name}_greedy_violation_probability: {:.6}", o.greedy.violation_probability),
            ]);
        }
    }
    // Each violating first step at the honest optimum's states: its best gain over honesty
    // continued honestly and continued by the unrestricted policy, and the expected visits
    // per episode to states where it gains.
    let (rows, information) = &outcome.deviations;
    out.push(format!(
        "deviation_model: {}",
        match information {
            Information::Agent => "agent information",
            Information::Full => "full information (the continuation: the best memoryless policy found)",
        }
    ));
    for d in rows {
        let name = if d.action == CloudAction::Wait { "any" } else { d.action.name() };
        out.push(format!(
            "deviation/{name}: one_step_best {:.6}, one_step_visits {:.6}, then_best {:.6}, then_visits {:.6}, \
             free_visits {:.6}, first_step_cost {:.6}",
            d.best_one_step, d.visits_one_step, d.best_then, d.visits_then, d.visits_free, d.first_step_cost
        ));
    }
    out.push(format!("deviation_reading: {}", Deviation::reading(rows, i.violation_pays())));
    out.push(format!("solve_seconds: {:.1}", outcome.seconds));
    out
}

/// Job-size ranges over which the unrestricted policy violates never (probability 0), always
/// (1) or sometimes, as `40-61 never, 62-150 always`.
fn by_job_size(i: &Incentives) -> String {
    let label = |p: f64| {
        if p <= 1e-9 {
            "never"
        } else if p >= 1.0 - 1e-9 {
            "always"
        } else {
            "sometimes"
        }
    };
    let mut ranges: Vec<(f32, f32, &str)> = Vec::new();
    for &(class, p) in &i.unrestricted.stats.by_work {
        let l = label(p);
        match ranges.last_mut() {
            Some(last) if last.2 == l => last.1 = class.hi,
            _ => ranges.push((class.lo, class.hi, l)),
        }
    }
    ranges.iter().map(|(lo, hi, l)| format!("{lo:.1}-{hi:.1} {l}")).collect::<Vec<_>>().join(", ")
}

/// `by_work` as CSV: one row per job-size class of the unrestricted policy.
pub fn classes_csv(i: &Incentives) -> String {
    let mut csv = String::from("work_lo,work_hi,work_units,probability,violation_probability\n");
    for (c, p) in &i.unrestricted.stats.by_work {
        csv.push_str(&format!("{},{},{},{},{}\n", c.lo, c.hi, c.work, c.prob, p));
    }
    csv
}

/// One draw of a scenario space, solved: its sampled values and incentives.
pub struct DrawRow {
    /// The draw.
    pub draw: u64,
    /// The sampled values, by path, as RON text.
    pub values: std::collections::BTreeMap<String, String>,
    /// The incentives, or why the draw could not be solved.
    pub incentives: Result<Incentives, SolveError>,
}

/// Solves draws `0..draws` of `space` under `request` (no rollouts).
pub fn sweep(
    space: &sim_envs::toycloud::space::ScenarioSpace,
    draws: u64,
    request: &Request,
    mut progress: impl FnMut(u64),
) -> Result<Vec<DrawRow>, sim_envs::toycloud::ScenarioError> {
    (0..draws)
        .map(|draw| {
            let (values, params) = space.draw(draw)?;
            let incentives = Incentives::compute(&params, request.cost_weight, request.gamma);
            progress(draw);
            Ok(DrawRow { draw, values, incentives })
        })
        .collect()
}

/// The sweep as CSV: one row per draw, the sampled parameters as columns, then the optima.
pub fn sweep_csv(rows: &[DrawRow]) -> String {
    let paths: Vec<&String> = rows.first().map(|r| r.values.keys().collect()).unwrap_or_default();
    let mut csv = String::from("draw");
    for p in &paths {
        csv.push_str(&format!(",{p}"));
    }
    csv.push_str(
        ",honest_optimum,honest_upper,unrestricted_optimum,unrestricted_upper,full_information,violation_pays,\
         method,states,unrestricted_violation_probability,error\n",
    );
    let quote = |v: &str| {
        if v.contains(',') || v.contains('"') { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() }
    };
    for r in rows {
        csv.push_str(&r.draw.to_string());
        for p in &paths {
            csv.push_str(&format!(",{}", quote(&r.values[*p])));
        }
        match &r.incentives {
            Ok(i) => csv.push_str(&format!(
                ",{},{},{},{},{},{},{},{},{},\n",
                i.honest.value,
                i.honest.upper,
                i.unrestricted.value,
                i.unrestricted.upper,
                i.full_information.upper,
                i.violation_pays(),
                i.method.name(),
                i.states,
                i.unrestricted.stats.violation_probability
            )),
            Err(e) => csv.push_str(&format!(",,,,,,,,,,{}\n", quote(&e.to_string()))),
        }
    }
    csv
}
