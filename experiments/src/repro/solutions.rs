//! The exact solutions a matrix needs, solved once and handed along: each base's no-pay twin
//! (and the base's solver built to find it), and the verdicts' [`Exact`]. A [`Solutions`] is
//! owned by whoever runs matrices: [`super::run_matrix`] and [`super::aggregate_matrix`] take
//! one, so a sweep over variants of one base (entropy, prior) shares it and solves that base
//! once, and nothing is cached behind the caller's back.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sim_envs::CloudParams;
use sim_envs::toycloud::exact::{SolveError, Solver};

use super::config::{Condition, EvalConfig, Family, ReproConfig};
use super::twin::{self, Twin, TwinError};
use super::verdicts::Exact;

/// What identifies a matrix's [`Exact`]: its base, scenarios, conditions, seeds, evaluation,
/// discount, entropy coefficient (where the soft optima are solved) and training steps.
type ExactKey = (CloudParams, Vec<CloudParams>, Vec<Condition>, Vec<u64>, EvalConfig, [u32; 2], u64);

/// A base and a discount's bits, and its twin.
type TwinEntry = ((CloudParams, u64), Result<Twin, TwinError>);

/// Solved twins and verdict references, kept for the matrices of one caller.
#[derive(Default)]
pub struct Solutions {
    /// Each `(base, γ)`'s twin.
    twins: Mutex<Vec<TwinEntry>>,
    /// The last base's solver, from its twin's derivation, until the verdicts take it.
    solver: Mutex<Option<(CloudParams, Arc<Solver>)>>,
    /// The last matrix's verdict references.
    exact: Mutex<Option<(ExactKey, Exact)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Solutions {
    /// The twin of `base` for a trainer discounting by `gamma`.
    pub fn twin(&self, base: &CloudParams, gamma: f64) -> Result<Twin, TwinError> {
        let key = (base.clone(), gamma.to_bits());
        if let Some((_, t)) = lock(&self.twins).iter().find(|(k, _)| *k == key) {
            return t.clone();
        }
        let (twin, solver) = twin::derive(base, gamma);
        if let Some(solver) = solver {
            *lock(&self.solver) = Some((base.clone(), solver));
        }
        lock(&self.twins).push((key, twin.clone()));
        twin
    }

    /// `scenarios` (a matrix's, as read) with each `Twin` condition's scenario, the base,
    /// replaced by the base's twin for the matrix's trainer (the base itself where the solver
    /// confirms none: P1 then says why). A twin has no payoff, so it is its own twin: resolving
    /// twice changes nothing.
    pub fn resolve(&self, config: &ReproConfig, scenarios: &[CloudParams]) -> Vec<CloudParams> {
        let gamma = f64::from(config.ppo.gamma);
        config
            .conditions
            .iter()
            .zip(scenarios)
            .map(|(c, p)| match c.family {
                Family::Twin => self.twin(p, gamma).map_or_else(|_| p.clone(), |t| t.params),
                _ => p.clone(),
            })
            .collect()
    }

    /// The solver of `params`: the one kept from its twin's derivation (no longer kept after
    /// this), or a new one.
    pub(super) fn take_solver(&self, params: &CloudParams) -> Result<Arc<Solver>, SolveError> {
        let mut kept = lock(&self.solver);
        if kept.as_ref().is_some_and(|(p, _)| p == params) {
            return Ok(kept.take().expect("checked").1);
        }
        drop(kept);
        Solver::new(params).map(Arc::new)
    }

    /// The verdicts' exact references for `config` on `base` and its resolved `scenarios`
    /// (solved by `Exact::solve`: the base, its oracle weights, the patched scenarios and the
    /// pseudo-agents); the last matrix's are reused where nothing they depend on changed.
    pub fn exact(&self, config: &ReproConfig, base: &CloudParams, scenarios: &[CloudParams]) -> Exact {
        let key = (
            base.clone(),
            scenarios.to_vec(),
            config.conditions.clone(),
            config.seeds.clone(),
            config.eval.clone(),
            // The entropy coefficient matters only to the soft optima, solved with a twin.
            [config.ppo.gamma.to_bits(), if Exact::soft_wanted(config) { config.ppo.ent_coef.to_bits() } else { 0 }],
            config.ppo.total_timesteps,
        );
        if let Some((k, exact)) = lock(&self.exact).as_ref()
            && *k == key
        {
            return exact.clone();
        }
        let exact = Exact::solve(config, base, scenarios, self);
        *lock(&self.exact) = Some((key, exact.clone()));
        exact
    }
}
