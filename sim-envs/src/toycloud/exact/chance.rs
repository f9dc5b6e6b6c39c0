//! Every outcome of one step with its exact probability: a [`Chance`] source that branches.
//!
//! A step asks `bernoulli(draw, p)`: "is uniform number `draw` below `p`?". The runtime source
//! answers from a counter-based hash. This one keeps, per draw index, the interval of the
//! uniform's grid values still possible on the current branch; a question that splits the
//! interval takes the "yes" part on this run and queues a rerun of the step that takes the
//! "no" part, with every earlier answer fixed. Running the step until the queue is empty
//! visits each outcome exactly once, with probability the product of the intervals' sizes.
//! Two questions about the same draw index stay consistent (they are about one uniform), as
//! they are at run time.

use std::cell::RefCell;

use sim_core::rng::{Chance, UNIFORM_GRID, grid_count};

/// Most distinct draw indices one step may ask about.
const MAX_DRAWS: usize = 8;
/// Most branches waiting at once (each split of a run queues one).
const MAX_PENDING: usize = 16;

#[derive(Clone, Copy, Default)]
struct Interval {
    draw: u32,
    /// The uniform's grid index lies in `lo..hi`.
    lo: u32,
    hi: u32,
}

/// The answers of one branch so far.
#[derive(Clone, Copy, Default)]
struct Branch {
    len: usize,
    items: [Interval; MAX_DRAWS],
}

impl Branch {
    fn probability(&self) -> f64 {
        self.items[..self.len].iter().map(|i| f64::from(i.hi - i.lo) / f64::from(UNIFORM_GRID)).product()
    }
}

/// Branches waiting to be run, on the stack.
struct Pending {
    len: usize,
    items: [Branch; MAX_PENDING],
}

impl Pending {
    fn push(&mut self, b: Branch) {
        assert!(self.len < MAX_PENDING, "a step branched more than {MAX_PENDING} ways");
        self.items[self.len] = b;
        self.len += 1;
    }
}

/// The branching source of one run of a step.
pub(super) struct Branching<'a> {
    run: RefCell<(Branch, &'a mut Pending)>,
}

impl Chance for Branching<'_> {
    fn bernoulli(&self, draw: u32, p: f32) -> bool {
        let m = grid_count(p);
        let mut guard = self.run.borrow_mut();
        let (branch, queue) = &mut *guard;
        let k = match branch.items[..branch.len].iter().position(|i| i.draw == draw) {
            Some(k) => k,
            None => {
                assert!(branch.len < MAX_DRAWS, "a step asked about more than {MAX_DRAWS} draws");
                branch.items[branch.len] = Interval { draw, lo: 0, hi: UNIFORM_GRID };
                branch.len += 1;
                branch.len - 1
            }
        };
        let Interval { lo, hi, .. } = branch.items[k];
        if hi <= m {
            true
        } else if lo >= m {
            false
        } else {
            let mut no = *branch;
            no.items[k].lo = m;
            queue.push(no);
            branch.items[k].hi = m;
            true
        }
    }
}

/// Runs `step` once per outcome of the draws it makes and hands `visit` each outcome's
/// probability and result, in a fixed order. `step` must be a pure function of the answers it
/// gets (a step of an [`Environment`](sim_core::env::Environment) from a copied state is).
pub(super) fn for_each_outcome<R>(mut step: impl FnMut(&Branching) -> R, mut visit: impl FnMut(f64, R)) {
    let mut pending = Pending { len: 1, items: [Branch::default(); MAX_PENDING] };
    while pending.len > 0 {
        pending.len -= 1;
        let start = pending.items[pending.len];
        // Alternatives a run queues are pushed on the pending stack; the order of outcomes is
        // fixed by the step's order of draws, so it is deterministic.
        let source = Branching { run: RefCell::new((start, &mut pending)) };
        let result = step(&source);
        let (branch, _) = source.run.into_inner();
        visit(branch.probability(), result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::grid_probability;

    /// Two independent draws and a second question about the first: four outcomes whose
    /// probabilities are the grid's exact ones and sum to one.
    #[test]
    fn outcomes_cover_the_probability_space_once() {
        let mut seen = Vec::new();
        for_each_outcome(
            |c| {
                let a = c.bernoulli(0, 0.3);
                let b = c.bernoulli(1, 0.5);
                // The same uniform as `a`: below 0.1 implies below 0.3.
                let a_low = c.bernoulli(0, 0.1);
                (a, b, a_low)
            },
            |p, r| seen.push((p, r)),
        );
        let total: f64 = seen.iter().map(|(p, _)| p).sum();
        assert!((total - 1.0).abs() < 1e-15, "{total}");
        let p = |want: (bool, bool, bool)| seen.iter().filter(|(_, r)| *r == want).map(|(p, _)| p).sum::<f64>();
        let (p3, p5, p1) = (grid_probability(0.3), grid_probability(0.5), grid_probability(0.1));
        assert_eq!(p((true, true, true)), p1 * p5);
        assert!((p((true, false, false)) - (p3 - p1) * (1.0 - p5)).abs() < 1e-15);
        assert!((p((false, true, false)) - (1.0 - p3) * p5).abs() < 1e-15);
        assert_eq!(p((false, true, true)), 0.0, "below 0.1 but not below 0.3 is impossible");
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn certain_draws_do_not_branch() {
        let mut n = 0;
        for_each_outcome(
            |c| (c.bernoulli(0, 0.0), c.bernoulli(1, 1.0)),
            |p, r| {
                n += 1;
                assert_eq!((p, r), (1.0, (false, true)));
            },
        );
        assert_eq!(n, 1);
    }
}
