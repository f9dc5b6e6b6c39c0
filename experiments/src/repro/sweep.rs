//! Sweeps of a matrix: the same matrix over draws of a scenario space (`--draws`), or over PPO's
//! entropy bonus with and without the honest prior (`--sensitivity`). Each variant runs into its
//! own directory as a whole matrix; the tables across variants are typed rows here, written as
//! CSV once at the end: every variant's verdicts (`draws.csv` / `sensitivity.csv`, tallied in
//! `*_summary.csv`), P1's dose–response with the learner's competence (`dose_response.csv`), and
//! emergence by lift time (`emergence.csv`).

use std::fmt::Write;
use std::path::Path;

use sim_core::env::ActionSet;
use sim_core::io::write_atomic;

use super::config::{Family, ReproConfig};
use super::solutions::Solutions;
use super::tables::Metric;
use super::verdicts::{Emergence, Verdict, tally};
use super::{MatrixOutcome, ReproError, run_matrix};
use crate::device::Device;
use crate::stats::Estimate;

/// The entropy coefficients of the sensitivity sweep (each with and without the honest prior):
/// the dose–response of P1 on the base and its twin.
pub const SENSITIVITY_ENT_COEFS: [f32; 5] = [0.0, 0.003, 0.01, 0.03, 0.05];

/// Which sweep.
#[derive(Clone, Debug, PartialEq)]
pub enum Sweep {
    /// Draws `0..count` of the scenario space `space` as the base.
    Draws {
        /// The space's file.
        space: String,
        /// Draws.
        count: u64,
    },
    /// [`SENSITIVITY_ENT_COEFS`], each with and without the honest prior.
    Sensitivity,
}

impl Sweep {
    /// The variants of `config`, each with its label (its directory's name).
    pub fn variants(&self, config: &ReproConfig) -> Vec<(String, ReproConfig)> {
        match self {
            Sweep::Draws { space, count } => (0..*count)
                .map(|d| {
                    let mut c = config.clone();
                    c.base_scenario = format!("{space}@{d}");
                    (format!("draw{d}"), c)
                })
                .collect(),
            Sweep::Sensitivity => SENSITIVITY_ENT_COEFS
                .iter()
                .flat_map(|&ent| [true, false].map(|prior| (ent, prior)))
                .map(|(ent, prior)| {
                    let mut c = config.clone();
                    c.ppo.ent_coef = ent;
                    if !prior {
                        c.ppo.policy.initial_logits.clear();
                    }
                    (format!("ent{ent}_{}", if prior { "prior" } else { "uniform" }), c)
                })
                .collect(),
        }
    }

    /// The verdict table's file, its tally's file, and what a variant is called in the tally.
    pub fn files(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Sweep::Sensitivity => ("sensitivity.csv", "sensitivity_summary.csv", "setting"),
            Sweep::Draws { .. } => ("draws.csv", "draws_summary.csv", "draw"),
        }
    }
}

/// What identifies a variant in every table: its label, entropy coefficient and prior.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// The variant's label (its directory).
    pub label: String,
    /// Its base scenario.
    pub base_scenario: String,
    /// PPO's entropy coefficient.
    pub ent_coef: f32,
    /// Whether it starts from the honest prior.
    pub honest_prior: bool,
}

/// One phenomenon's verdict in one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictRow {
    /// The variant.
    pub variant: Variant,
    /// `P1` ... `P6`.
    pub phenomenon: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the precondition held, and why.
    pub precondition: String,
    /// The primary contrast's estimate, where one was made.
    pub effect: Option<Estimate>,
}

/// A task-only, twin or honest-masked condition's violation rate and return in one variant,
/// with the exact optimum of the objective it trains on (unrestricted, or honest under the
/// mask; undiscounted).
#[derive(Clone, Debug, PartialEq)]
pub struct DoseRow {
    /// The variant.
    pub variant: Variant,
    /// The condition.
    pub condition: String,
    /// Its family.
    pub family: Family,
    /// Violation rate (IQM over seeds, interval).
    pub violation_rate: Option<Estimate>,
    /// Task return (IQM over seeds, interval).
    pub task_return: Option<Estimate>,
    /// The exact optimum of its objective.
    pub optimum: Option<f64>,
}

impl DoseRow {
    /// The optimum minus the learned return: what the learner left on the table.
    pub fn shortfall(&self) -> Option<f64> {
        self.optimum.zip(self.task_return).map(|(o, r)| o - r.point)
    }
}

/// What an emergence condition's seeds did after the lift, in one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct EmergenceRow {
    /// The variant.
    pub variant: Variant,
    /// The condition.
    pub condition: String,
    /// Its seeds after the lift.
    pub emergence: Emergence,
}

/// The tables of a sweep, one row per variant and phenomenon, condition or emergence condition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepTables {
    /// Every variant's verdicts.
    pub verdicts: Vec<VerdictRow>,
    /// P1's dose–response and the learner's competence.
    pub dose: Vec<DoseRow>,
    /// Emergence by variant and lift time.
    pub emergence: Vec<EmergenceRow>,
}

impl SweepTables {
    /// Adds the rows of variant `label`, the matrix `config` that gave `outcome`.
    pub fn add(&mut self, label: &str, config: &ReproConfig, outcome: &MatrixOutcome) {
        let variant = Variant {
            label: label.into(),
            base_scenario: config.base_scenario.clone(),
            ent_coef: config.ppo.ent_coef,
            honest_prior: !config.ppo.policy.initial_logits.is_empty(),
        };
        let measured = [Family::Baseline, Family::Twin, Family::Honest];
        for c in config.conditions.iter().filter(|c| measured.contains(&c.family)) {
            self.dose.push(DoseRow {
                variant: variant.clone(),
                condition: c.name.clone(),
                family: c.family,
                violation_rate: outcome.aggregate.get(&c.name, Metric::ViolationRate),
                task_return: outcome.aggregate.get(&c.name, Metric::TaskReturn),
                optimum: outcome.exact.at(&c.name).map(|i| match c.actions {
                    ActionSet::Legitimate => i.honest.value,
                    ActionSet::All => i.unrestricted.value,
                }),
            });
        }
        for (name, e) in &outcome.emergence {
            self.emergence.push(EmergenceRow {
                variant: variant.clone(),
                condition: name.clone(),
                emergence: e.clone(),
            });
        }
        for r in &outcome.verdicts {
            self.verdicts.push(VerdictRow {
                variant: variant.clone(),
                phenomenon: r.phenomenon,
                verdict: r.verdict,
                precondition: r.precondition.clone(),
                effect: r.primary.map(|c| c.estimate),
            });
        }
    }

    /// The verdict table's CSV.
    pub fn verdicts_csv(&self) -> String {
        let mut csv = String::from(
            "variant,base_scenario,ent_coef,honest_prior,phenomenon,verdict,precondition,effect,low,high\n",
        );
        for r in &self.verdicts {
            let v = &r.variant;
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},\"{}\",{}",
                v.label,
                v.base_scenario,
                v.ent_coef,
                v.honest_prior,
                r.phenomenon,
                r.verdict.name(),
                r.precondition.replace('"', "\"\""),
                estimate(r.effect)
            );
        }
        csv
    }

    /// The dose–response table's CSV.
    pub fn dose_csv(&self) -> String {
        let mut csv = String::from(
            "variant,ent_coef,honest_prior,condition,family,violation_rate,low,high,task_return,return_low,\
             return_high,optimum,shortfall\n",
        );
        for r in &self.dose {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{}",
                r.variant.label,
                r.variant.ent_coef,
                r.variant.honest_prior,
                r.condition,
                r.family.name(),
                estimate(r.violation_rate),
                estimate(r.task_return),
                num(r.optimum),
                num(r.shortfall())
            );
        }
        csv
    }

    /// The emergence table's CSV.
    pub fn emergence_csv(&self) -> String {
        let mut csv = String::from(
            "variant,ent_coef,honest_prior,condition,lift_at,seeds,emerged,unresolved,median_steps_after,\
             sampled_violation_after,sampled_violation_first_point\n",
        );
        for r in &self.emergence {
            let e = &r.emergence;
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{}",
                r.variant.label,
                r.variant.ent_coef,
                r.variant.honest_prior,
                r.condition,
                e.lift_at,
                e.seeds,
                e.emerged,
                e.unresolved,
                num(e.median_after),
                num(e.sampled_after),
                num(e.first_sampled)
            );
        }
        csv
    }

    /// Writes the tables of `sweep` into `out` (the emergence table only where the matrix has
    /// emergence conditions) and returns the tally's lines, one per phenomenon.
    pub fn write(&self, sweep: &Sweep, out: &Path) -> Result<Vec<String>, ReproError> {
        let (file, summary_file, variant) = sweep.files();
        write_atomic(&out.join(file), self.verdicts_csv().as_bytes())?;
        write_atomic(&out.join("dose_response.csv"), self.dose_csv().as_bytes())?;
        if !self.emergence.is_empty() {
            write_atomic(&out.join("emergence.csv"), self.emergence_csv().as_bytes())?;
        }
        let verdicts: Vec<(&str, Verdict)> = self.verdicts.iter().map(|r| (r.phenomenon, r.verdict)).collect();
        let (summary, lines) = tally(&verdicts, variant);
        write_atomic(&out.join(summary_file), summary.as_bytes())?;
        Ok(lines)
    }
}

/// A number as the tables write it: empty where there is none.
fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// An estimate's point, low and high cells.
fn estimate(e: Option<Estimate>) -> String {
    format!("{},{},{}", num(e.map(|e| e.point)), num(e.map(|e| e.low)), num(e.map(|e| e.high)))
}

/// Runs every variant of `sweep` over `config` into its own directory under `out`, calling
/// `on_matrix` after each, and writes the sweep's tables into `out`. Returns the tables and the
/// tally's lines.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep(
    sweep: &Sweep,
    config: &ReproConfig,
    out: &Path,
    threads: usize,
    device: Device,
    progress: bool,
    solutions: &Solutions,
    mut on_matrix: impl FnMut(&MatrixOutcome),
) -> Result<(SweepTables, Vec<String>), ReproError> {
    let mut tables = SweepTables::default();
    for (label, variant) in sweep.variants(config) {
        let (config, base, scenarios) = variant.resolve(&label)?;
        let outcome = run_matrix(&config, &base, &scenarios, &out.join(&label), threads, device, progress, solutions)?;
        on_matrix(&outcome);
        tables.add(&label, &config, &outcome);
    }
    let lines = tables.write(sweep, out)?;
    Ok((tables, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repro::config::PRESETS;

    fn quick() -> ReproConfig {
        let text = PRESETS.iter().find(|(n, _)| *n == "quick").unwrap().1;
        ReproConfig::parse(text, "quick").unwrap().0
    }

    #[test]
    fn variants_are_the_draws_or_the_entropy_grid_with_and_without_the_prior() {
        let config = quick();
        let draws = Sweep::Draws { space: "space.ron".into(), count: 3 }.variants(&config);
        let labels: Vec<&str> = draws.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["draw0", "draw1", "draw2"]);
        assert_eq!(draws[2].1.base_scenario, "space.ron@2");
        let grid = Sweep::Sensitivity.variants(&config);
        assert_eq!(grid.len(), 2 * SENSITIVITY_ENT_COEFS.len());
        assert_eq!(grid[0].0, "ent0_prior");
        assert_eq!(grid[3].0, "ent0.003_uniform");
        assert!(grid[3].1.ppo.policy.initial_logits.is_empty() && grid[3].1.ppo.ent_coef == 0.003);
        assert_eq!(Sweep::Sensitivity.files().0, "sensitivity.csv");
    }

    #[test]
    fn rows_are_written_with_empty_cells_for_what_was_not_measured() {
        let variant =
            Variant { label: "draw0".into(), base_scenario: "s@0".into(), ent_coef: 0.003, honest_prior: true };
        let tables = SweepTables {
            verdicts: vec![VerdictRow {
                variant: variant.clone(),
                phenomenon: "P1",
                verdict: Verdict::ALL[0],
                precondition: "holds: \"pays\"".into(),
                effect: Some(Estimate { point: 1.0, low: 0.5, high: 1.0 }),
            }],
            dose: vec![DoseRow {
                variant,
                condition: "baseline".into(),
                family: Family::Baseline,
                violation_rate: None,
                task_return: Some(Estimate { point: 1.25, low: 1.0, high: 1.5 }),
                optimum: Some(1.5),
            }],
            emergence: Vec::new(),
        };
        let verdicts = tables.verdicts_csv();
        assert!(
            verdicts.ends_with(&format!(
                "draw0,s@0,0.003,true,P1,{},\"holds: \"\"pays\"\"\",1,0.5,1\n",
                Verdict::ALL[0].name()
            )),
            "{verdicts}"
        );
        assert!(
            tables.dose_csv().ends_with("draw0,0.003,true,baseline,baseline,,,,1.25,1,1.5,1.5,0.25\n"),
            "{}",
            tables.dose_csv()
        );
        assert_eq!(tables.emergence_csv().lines().count(), 1, "the header only");
    }
}
