//! `report.md`: the verdict table first, then what each verdict rests on (precondition,
//! primary contrast, secondary tests), the exact incentives of the base, the seeds and the
//! preregistered criteria, and per condition the headline numbers and behavioural modes. It
//! reads the typed [`Aggregate`] and the verdict rows; it computes nothing of its own.

use std::fmt::Write;

use sim_envs::CloudParams;

use super::calibration::{Agent, Calibrated, cells};
use super::config::{Condition, Family, ReproConfig};
use super::criteria::Registered;
use super::run::RunResult;
use super::tables::{Aggregate, Metric};
use super::verdicts::{Exact, Row, modes};
use crate::device::Loop;

/// Figures about the run shown at the top of the report.
pub struct RunFacts {
    /// Wall-clock seconds of the whole matrix (this invocation).
    pub seconds: f64,
    /// Runs computed now (the others came from an earlier, interrupted invocation).
    pub computed_runs: usize,
}

fn seeds(s: &[u64]) -> String {
    if s.is_empty() {
        return "none".into();
    }
    let contiguous = s.windows(2).all(|w| w[1] == w[0] + 1);
    if contiguous && s.len() > 2 {
        format!("{}-{}", s[0], s[s.len() - 1])
    } else {
        s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// The whole report.
#[allow(clippy::too_many_arguments)]
pub fn report(
    config: &ReproConfig,
    base: &CloudParams,
    results: &[&RunResult],
    aggregate: &Aggregate,
    exact: &Exact,
    rows: &[Row],
    calibrated: &Calibrated,
    criteria: &Registered,
    facts: &RunFacts,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# rome_repro: {}\n", config.name);
    let _ = writeln!(
        o,
        "Base scenario `{}`; {} conditions x {} reported seeds ({}); tuning seeds {} (disjoint); PPO {} environment \
         steps per run, rollouts on the {} loop, {}; {} runs computed now, {:.0} s.\n",
        config.base_scenario,
        config.conditions.len(),
        config.seeds.len(),
        seeds(&config.seeds),
        seeds(&config.tuning_seeds),
        config.ppo.total_timesteps,
        config.train_loop,
        match config.train_loop {
            Loop::Host => {
                "each run trained alone (not in a population: populations train on the device loop, and on the CPU \
                 the host loop trains ToyCloud faster than a population there)"
            }
            Loop::Device if config.ppo.kernel == sim_agents::ppo::Kernel::Batched => {
                "the seeds of each condition that one process or array task trained went together as one \
                 population (batched rollouts on the device, and the updates as one batched model: kernel Batched; \
                 each run's result is the one it gives alone on that kernel)"
            }
            Loop::Device => {
                "the seeds of each condition that one process or array task trained went together as one \
                 population (batched rollouts on the device; each run's result is the one it gives alone)"
            }
        },
        facts.computed_runs,
        facts.seconds
    );
    let _ = writeln!(
        o,
        "Criteria: `{}`, checksum `{}`{}. Effects are interquartile means over seeds with BCa bootstrap intervals \
         ({} resamples, {:.0}%): in the project's coverage test (10 seeds from a skewed distribution) BCa and the \
         percentile interval both cover about 93% at a nominal 95%. Primary contrasts are Holm-corrected together at alpha {}.\n",
        criteria.origin,
        criteria.checksum,
        criteria.commit().map_or(String::new(), |c| format!(", {c}")),
        config.bootstrap.resamples,
        100.0 * config.bootstrap.confidence,
        criteria.criteria.alpha
    );
    o.push_str(
        "## Verdicts\n\n| phenomenon | verdict | effect [interval] | threshold | p (Holm) |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let effect = r.primary.map_or("n/a".into(), |c| c.estimate.show(3));
        let _ = writeln!(
            o,
            "| {} | **{}** | {} | {} | {} |",
            r.phenomenon,
            r.verdict.name(),
            effect,
            r.primary.map_or("n/a".into(), |c| format!("{}", c.threshold)),
            r.adjusted_p.map_or("n/a".into(), |p| format!("{p:.4}"))
        );
    }
    o.push('\n');
    for r in rows {
        let _ = writeln!(o, "### {}: {}\n", r.phenomenon, r.claim);
        let _ = writeln!(o, "- Verdict: **{}**.", r.verdict.name());
        let _ = writeln!(o, "- Precondition: {}.", if r.precondition.is_empty() { "n/a" } else { &r.precondition });
        let _ = writeln!(o, "- Criterion: {}.", r.criterion);
        if let Some(c) = r.primary {
            let _ = writeln!(
                o,
                "- Primary contrast: {} against {} (p {:.4}, Holm {}).",
                c.estimate.show(4),
                c.threshold,
                c.p,
                r.adjusted_p.map_or("n/a".into(), |p| format!("{p:.4}"))
            );
        }
        for e in &r.evidence {
            let _ = writeln!(o, "- {e}");
        }
        o.push('\n');
    }

    let majority = criteria.criteria.majority;
    let honest = |c: &Condition| exact.at(&c.name).map_or(f64::NAN, |i| i.honest.upper);
    if let Some(section) = super::emergence::markdown(config, results, aggregate, majority, honest) {
        o.push_str(&section);
    }
    calibration(&mut o, rows, calibrated);
    o.push_str("## The exact incentives of the base and its no-pay twin\n\n");
    let twin = config.first(Family::Twin);
    let mut solutions = vec![
        (
            "The base, undiscounted (what the verdicts compare returns with)".to_string(),
            exact.base.as_ref().map_err(ToString::to_string),
        ),
        (
            format!("The base at the trainer's discount γ = {} (what PPO optimises)", exact.gamma as f32),
            exact.learner.as_ref().map_err(ToString::to_string),
        ),
    ];
    if let Some(t) = twin {
        let how = match &exact.twin {
            Some(Ok(t)) => t.how.clone(),
            Some(Err(e)) => e.to_string(),
            None => "not derived".into(),
        };
        solutions.push((
            format!("The twin `{}`, undiscounted: {how}", t.name),
            exact.at(&t.name).ok_or_else(|| "the solver cannot solve it".to_string()),
        ));
    }
    for (what, solved) in solutions {
        match solved {
            Ok(i) => {
                let _ = writeln!(
                    o,
                    "- {what}: method {:?}, {} states. Honest optimum {:.4} (upper {:.4}); unrestricted {:.4} (upper \
                     {:.4}); the optimal policy violates in {:.3} of episodes and costs {:.3} per episode. Violating {}.",
                    i.method,
                    i.states,
                    i.honest.value,
                    i.honest.upper,
                    i.unrestricted.value,
                    i.unrestricted.upper,
                    i.unrestricted.stats.violation_probability,
                    i.unrestricted.stats.true_cost,
                    if i.violation_pays() { "pays" } else { "does not pay" }
                );
            }
            Err(e) => {
                let _ = writeln!(o, "- {what}: not solved: {e}.");
            }
        }
    }
    if let Some(line) = super::verdicts::soft_line(exact) {
        let _ = writeln!(o, "- {line}.");
    }
    if let Some(line) = super::verdicts::deviation_line(exact) {
        let _ = writeln!(o, "- The base's {line}.");
    }
    o.push('\n');
    if base.quota.halt_on_disclosure >= 1.0 || base.controls.response == sim_envs::toycloud::Response::LogOnly {
        o.push_str(
            "Self-report has no value in this scenario (disclosure halts the job, or nothing is ever stopped), so its \
             rate is zero by construction wherever agents learn.\n\n",
        );
    }

    o.push_str(
        "## Conditions\n\nIQM [BCa interval] over seeds; the final evaluation greedy, and sampled where named.\n\n",
    );
    let columns = [
        Metric::TaskReturn,
        Metric::ViolationRate,
        Metric::TrueCost,
        Metric::SampledTrueCost,
        Metric::AlertsPerEpisode,
        Metric::TunnelRate,
        Metric::ExploitRate,
    ];
    o.push_str("| condition | family |");
    for m in columns {
        let _ = write!(o, " {} |", m.name());
    }
    o.push_str(" modes (seeds) |\n|---|---|");
    for _ in columns {
        o.push_str("---|");
    }
    o.push_str("---|\n");
    for c in &config.conditions {
        let _ = write!(o, "| {} | {} |", c.name, c.family.name());
        for m in columns {
            let _ = write!(o, " {} |", aggregate.show(&c.name, m, 3));
        }
        let _ = writeln!(o, " {} |", modes(results, &c.name));
    }
    penalties(&mut o, config);
    o.push_str(
        "\nFiles: `summary.csv` (per run), `aggregate.csv` (per condition and metric), `modes.csv`, `verdicts.csv`, \
         `calibration.csv` (each phenomenon's verdict for each pseudo-agent), \
         `detection_latency.csv`, `violations_by_kind.csv`, the learning curves under `curves/`, and the figures.\n",
    );
    o
}

/// The calibration table: each phenomenon's verdict for each oracle pseudo-agent.
fn calibration(o: &mut String, rows: &[Row], calibrated: &Calibrated) {
    if calibrated.is_empty() {
        return;
    }
    o.push_str(
        "## Calibration on oracle pseudo-agents\n\nEach phenomenon's verdict when the matrix's runs are replaced by \
         pseudo-runs, played in the real environment with the reported seeds: `optimal` plays each condition's exact \
         optimum, `honest_optimal` the exact honest optimum, `honest_script` works every step, `random` acts \
         uniformly among the allowed actions, `always_violate` runs the scripted acquirer wherever it may. A \
         phenomenon whose primary contrast the optimal agents do not pass has no power (`precondition_fails`); one \
         that any other agent reaches `supported` or `partly` on has an invalid criterion (`not_measured`).\n\n| phenomenon |",
    );
    for a in Agent::ALL {
        let _ = write!(o, " {} |", a.name());
    }
    o.push_str(" verdict |\n|---|");
    for _ in Agent::ALL {
        o.push_str("---|");
    }
    o.push_str("---|\n");
    for r in rows {
        let _ = write!(o, "| {} |", r.phenomenon);
        let cells = cells(calibrated, r.phenomenon);
        for a in Agent::ALL {
            let cell = cells.iter().find(|c| c.agent == a);
            let _ = write!(
                o,
                " {} |",
                cell.map_or("n/a".to_string(), |c| match c.effect {
                    Some((p, ..)) => format!("{} ({p:.3})", c.verdict.name()),
                    None => c.verdict.name().to_string(),
                })
            );
        }
        let _ = writeln!(o, " **{}** |", r.verdict.name());
    }
    o.push('\n');
}

/// The penalties of the matrix against their references: every deviation, stated.
fn penalties(o: &mut String, config: &ReproConfig) {
    let lists: [(Family, &str, &[&str]); 2] = [
        (Family::Aup, "AUP against Conservative Agency and SafeLife", sim_agents::penalty::AUP_DEVIATIONS),
        (Family::Lagrangian, "PPO-Lagrangian against OmniSafe's PPOLag", sim_agents::ppo::LAGRANGIAN_DEVIATIONS),
    ];
    let present: Vec<_> = lists.iter().filter(|(f, ..)| !config.of(*f).is_empty()).collect();
    if present.is_empty() {
        return;
    }
    o.push_str("\n## Penalties against their references\n\n");
    for (_, title, deviations) in present {
        let _ = writeln!(o, "{title}:\n");
        for d in *deviations {
            let _ = writeln!(o, "- {d}");
        }
        o.push('\n');
    }
}
