//! The reachable information states of a scenario, layer by layer (a layer per step taken),
//! and backward induction over them.
//!
//! An information state is a belief: a distribution over the canonical states the agent
//! cannot tell apart given what it has observed and done. From a belief and an action, every
//! support state's every outcome is enumerated (through the scalar step itself, see
//! [`super::chance`]); the outcomes are grouped by what the agent will observe, and each group,
//! normalised, is the next belief. With full information every state is its own group.

use rayon::prelude::*;
use sim_core::env::ActionSet;
use sim_core::safety::StepSafety;

use super::chance::for_each_outcome;
use std::hash::{Hash, Hasher};

use super::state::{Canon, FxHasher, FxMap, Packed, initial_states, obs_key, work_classes};
use super::{Information, Objective, SolveError};
use crate::toycloud::{CloudAction, CloudParams, CloudState, OBS_DIM, ToyCloud};

/// Actions of ToyCloud.
pub(super) const ACTIONS: usize = CloudAction::ALL.len();

/// Two probabilities of a belief closer than this are the same belief (the solver's only
/// approximation in the exact mode: values move by less than `2^-40` per merge).
const QUANTUM: f64 = (1u64 << 40) as f64;

/// Values closer than this are ties; ties go to legitimate actions, then to lower indices.
pub(super) const TIE: f64 = 1e-12;

/// What the agent (or, with full information, the solver) tells apart.
type Key = [u32; OBS_DIM];

/// One action from one information state: its expected reward and cost, the violation kinds it
/// commits (the same in every support state: they depend on what the agent observes), and its
/// successors `edges[start..start + len]` as `(probability, next information state)`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Move {
    pub reward: f64,
    pub cost: f64,
    pub kinds: u32,
    pub start: u32,
    pub len: u32,
}

/// The information states after `t` steps.
#[derive(Default)]
pub(super) struct Layer {
    /// Support of information state `i`: `support[offsets[i]..offsets[i + 1]]`, sorted.
    pub support: Vec<(Packed, f64)>,
    pub offsets: Vec<u32>,
    /// [`ACTIONS`] moves per information state.
    pub moves: Vec<Move>,
    pub edges: Vec<(f64, u32)>,
}

impl Layer {
    pub(super) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub(super) fn belief(&self, i: usize) -> &[(Packed, f64)] {
        &self.support[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub(super) fn moves(&self, i: usize) -> &[Move] {
        &self.moves[i * ACTIONS..(i + 1) * ACTIONS]
    }

    pub(super) fn successors(&self, m: &Move) -> &[(f64, u32)] {
        &self.edges[m.start as usize..(m.start + m.len) as usize]
    }
}

/// Interns beliefs of one layer. Beliefs of one state are keyed by it; mixed ones by a hash
/// of their support and quantised probabilities, compared in full on a hit (so a lookup
/// allocates nothing).
#[derive(Default)]
struct Interner {
    singles: FxMap<Packed, u32>,
    mixed: FxMap<u64, Vec<u32>>,
}

fn quantised(p: f64) -> u64 {
    (p * QUANTUM).round() as u64
}

impl Interner {
    /// The id of `belief` (sorted, normalised) in `layer`, adding it if new.
    fn intern(&mut self, layer: &mut Layer, belief: &[(Packed, f64)]) -> u32 {
        let next = layer.len() as u32;
        if let [(s, _)] = belief {
            let id = *self.singles.entry(*s).or_insert(next);
            if id == next {
                layer.push(belief);
            }
            return id;
        }
        let mut h = FxHasher::default();
        for &(s, p) in belief {
            s.hash(&mut h);
            h.write_u64(quantised(p));
        }
        let ids = self.mixed.entry(h.finish()).or_default();
        let same = |id: u32| {
            let other = layer.belief(id as usize);
            other.len() == belief.len()
                && other.iter().zip(belief).all(|(a, b)| a.0 == b.0 && quantised(a.1) == quantised(b.1))
        };
        if let Some(&id) = ids.iter().find(|&&id| same(id)) {
            return id;
        }
        ids.push(next);
        layer.push(belief);
        next
    }
}

impl Layer {
    fn push(&mut self, belief: &[(Packed, f64)]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.support.extend_from_slice(belief);
        self.offsets.push(self.support.len() as u32);
    }
}

/// Every action's expansion from one belief, before the successors are interned: per action,
/// its reward, cost and kinds, and its outcomes as `(group, state, probability)`, where a group
/// is what the agent will see (an index into `keys`).
#[derive(Default)]
struct Expansion {
    moves: [(f64, f64, u32); ACTIONS],
    /// `(action, group, state, probability)`, sorted by action, group and state.
    outcomes: Vec<(u8, u16, Packed, f64)>,
    keys: Vec<Key>,
}

/// Where an episode starts: a job-size class and the information state of layer 0.
#[derive(Clone, Copy, Debug)]
pub(super) struct Start {
    pub class: usize,
    pub prob: f64,
    pub id: u32,
}

/// A job-size class: jobs in `lo..=hi` (as drawn) behave as `work` units of work.
#[derive(Clone, Copy, Debug)]
pub struct WorkClass {
    /// Work on the solver's grid.
    pub work: f32,
    /// Probability of the class.
    pub prob: f64,
    /// Smallest job size drawn in the class.
    pub lo: f32,
    /// Largest job size drawn in the class.
    pub hi: f32,
}

/// The information-state graph of a scenario.
pub struct Model {
    pub(super) params: CloudParams,
    pub(super) canon: Canon,
    pub(super) info: Information,
    /// The actions whose successors were enumerated.
    enumerated: Vec<bool>,
    pub(super) layers: Vec<Layer>,
    pub(super) starts: Vec<Start>,
    pub(super) classes: Vec<WorkClass>,
}

impl Model {
    /// Enumerates the information states reachable with `actions` (the others' moves are kept,
    /// but lead nowhere: a solve must not allow more actions than were enumerated).
    pub(super) fn build(
        params: &CloudParams,
        info: Information,
        canon: Canon,
        actions: ActionSet,
        limit: usize,
    ) -> Result<Model, SolveError> {
        let classes: Vec<WorkClass> = work_classes(params, &canon)
            .into_iter()
            .map(|(work, prob, lo, hi)| WorkClass { work, prob, lo, hi })
            .collect();
        let enumerated = actions.mask::<ToyCloud>(params);
        let mut model =
            Model { params: params.clone(), canon, info, enumerated, layers: Vec::new(), starts: Vec::new(), classes };
        // Layer 0: the initial states grouped as the agent sees them.
        // (what the agent sees, job-size class, states)
        type Group = (Key, usize, Vec<(Packed, f64)>);
        let mut groups: Vec<Group> = Vec::new();
        for (class, _, prob, s) in initial_states(params, &model.canon) {
            let c = model.canon.canonical(params, &s);
            let key = model.group_key(&c);
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.2.push((Packed::of(&c), prob)),
                None => groups.push((key, class, vec![(Packed::of(&c), prob)])),
            }
        }
        let mut layer = Layer::default();
        let mut interner = Interner::default();
        for (_, class, mut belief) in groups {
            belief.sort_unstable_by_key(|x| x.0);
            let prob = normalise(&mut belief);
            let id = interner.intern(&mut layer, &belief);
            model.starts.push(Start { class, prob, id });
        }
        let mut states = 0;
        while layer.len() > 0 {
            states += layer.len();
            if states > limit {
                return Err(SolveError::TooLarge { states, layers: model.layers.len(), limit });
            }
            if std::env::var_os("EXACT_TRACE").is_some() {
                let mixed = (0..layer.len()).filter(|&i| layer.belief(i).len() > 1).count();
                let widest = (0..layer.len()).map(|i| layer.belief(i).len()).max().unwrap_or(0);
                eprintln!("layer {}: {} states ({mixed} mixed, widest {widest})", model.layers.len(), layer.len());
            }
            let (next, done) = model.expand_layer(&mut layer);
            model.layers.push(done);
            layer = next;
        }
        Ok(model)
    }

    /// Expands every information state of `layer` by every action; returns the next layer and
    /// `layer` with its moves.
    fn expand_layer(&self, layer: &mut Layer) -> (Layer, Layer) {
        const BATCH: usize = 4096;
        let mut next = Layer::default();
        let mut interner = Interner::default();
        let n = layer.len();
        layer.moves.reserve(n * ACTIONS);
        let mut belief = Vec::new();
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let expanded: Vec<Expansion> = (start..end).into_par_iter().map(|i| self.expand(layer.belief(i))).collect();
            for e in expanded {
                let mut rest = &e.outcomes[..];
                for (a, &(reward, cost, kinds)) in e.moves.iter().enumerate() {
                    let start = layer.edges.len() as u32;
                    let here = rest.iter().take_while(|o| usize::from(o.0) == a).count();
                    let (mine, later) = rest.split_at(here);
                    rest = later;
                    for group in mine.chunk_by(|x, y| x.1 == y.1) {
                        belief.clear();
                        belief.extend(group.iter().map(|o| (o.2, o.3)));
                        let prob = normalise(&mut belief);
                        let id = interner.intern(&mut next, &belief);
                        layer.edges.push((prob, id));
                    }
                    let len = layer.edges.len() as u32 - start;
                    layer.moves.push(Move { reward, cost, kinds, start, len });
                }
            }
        }
        (next, std::mem::take(layer))
    }

    /// Every outcome of every action from every state of `belief`, grouped by what will be seen.
    fn expand(&self, belief: &[(Packed, f64)]) -> Expansion {
        let p = &self.params;
        let mut e = Expansion::default();
        for a in (0..ACTIONS).filter(|&a| self.enumerated[a]) {
            let mut moved = (0.0, 0.0, 0u32);
            for &(packed, b) in belief {
                let s = packed.state();
                for_each_outcome(
                    |chance| {
                        let mut next = s;
                        let mut safety = StepSafety::default();
                        let tr = ToyCloud::transition(p, &mut next, a as u32, chance, &mut safety);
                        (next, tr, safety)
                    },
                    |q, (next, tr, safety): (CloudState, _, StepSafety<_, _>)| {
                        let m = b * q;
                        if m == 0.0 {
                            return;
                        }
                        moved.0 += m * f64::from(tr.reward);
                        moved.1 += m * f64::from(safety.cost);
                        moved.2 |= safety.violations.bits();
                        if !tr.terminated {
                            let c = self.canon.canonical(p, &next);
                            let key = self.group_key(&c);
                            let group = match e.keys.iter().position(|k| *k == key) {
                                Some(g) => g,
                                None => {
                                    e.keys.push(key);
                                    e.keys.len() - 1
                                }
                            };
                            e.outcomes.push((a as u8, group as u16, Packed::of(&c), m));
                        }
                    },
                );
            }
            e.moves[a] = moved;
        }
        e.outcomes.sort_unstable_by_key(|x| (x.0, x.1, x.2));
        e
    }

    /// What tells canonical states apart: the observation (the agent's information) or the
    /// state itself (full information).
    pub(super) fn group_key(&self, c: &crate::toycloud::CloudState) -> Key {
        match self.info {
            Information::Agent => obs_key(&self.params, c),
            Information::Full => {
                let mut k = [0u32; OBS_DIM];
                k[..6].copy_from_slice(&Packed::of(c).words());
                k
            }
        }
    }

    /// Information states after each number of steps taken.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(Layer::len).collect()
    }

    /// Information states over all layers.
    pub fn states(&self) -> usize {
        self.layers.iter().map(Layer::len).sum()
    }

    /// Backward induction for `objective`: the best action of every information state (ties to
    /// legitimate actions, then lower indices) and the optimal expected objective.
    pub fn solve(&self, objective: &Objective) -> Solution {
        let order = self.order(objective);
        let (w, gamma) = (objective.cost_weight, objective.gamma);
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); self.layers.len()];
        let mut actions: Vec<Vec<u8>> = vec![Vec::new(); self.layers.len()];
        for t in (0..self.layers.len()).rev() {
            let layer = &self.layers[t];
            let later: &[f64] = values.get(t + 1).map_or(&[], Vec::as_slice);
            let best: Vec<(f64, u8)> = (0..layer.len())
                .into_par_iter()
                .map(|i| {
                    let moves = layer.moves(i);
                    let mut best = (f64::NEG_INFINITY, 0u8);
                    for &a in &order {
                        let m = &moves[a];
                        let future: f64 = layer.successors(m).iter().map(|&(p, j)| p * later[j as usize]).sum();
                        let q = m.reward - w * m.cost + gamma * future;
                        if q > best.0 + TIE {
                            best = (q, a as u8);
                        }
                    }
                    best
                })
                .collect();
            values[t] = best.iter().map(|b| b.0).collect();
            actions[t] = best.iter().map(|b| b.1).collect();
        }
        let value = self.starts.iter().map(|s| s.prob * values[0][s.id as usize]).sum();
        Solution { objective: *objective, value, values, actions }
    }

    /// The actions `objective` allows, legitimate ones first (the order ties are broken in).
    /// The entropy-regularised (soft) optimum of `objective` at temperature `tau`: the policy
    /// maximising `E[Σ_t γ^t (task reward_t − w · cost_t + τ · H(π(·|s_t)))]` over the allowed
    /// actions, `π(a|s) ∝ exp(Q(s, a) / τ)` with `V(s) = τ · log Σ_a exp(Q(s, a) / τ)`, solved
    /// by the same backward induction. Returns what that stochastic policy does, and the tables
    /// of its greedy policy (the most probable action in each state: what a max-entropy learner
    /// evaluated greedily converges to), to evaluate as any other.
    pub fn soft(&self, objective: &Objective, tau: f64) -> (SoftStats, Solution) {
        assert!(tau > 0.0, "a temperature above zero");
        let order = self.order(objective);
        let (w, gamma) = (objective.cost_weight, objective.gamma);
        let q = |t: usize, i: usize, later: &[f64]| -> Vec<(usize, f64)> {
            let layer = &self.layers[t];
            let moves = layer.moves(i);
            order
                .iter()
                .map(|&a| {
                    let m = &moves[a];
                    let future: f64 = layer.successors(m).iter().map(|&(p, j)| p * later[j as usize]).sum();
                    (a, m.reward - w * m.cost + gamma * future)
                })
                .collect()
        };
        // `(τ log Σ exp(q / τ), the first best action)`, stable.
        let soft_max = |qs: &[(usize, f64)]| -> (f64, u8) {
            let mut best = (f64::NEG_INFINITY, 0u8);
            for &(a, v) in qs {
                if v > best.0 + TIE {
                    best = (v, a as u8);
                }
            }
            let sum: f64 = qs.iter().map(|&(_, v)| ((v - best.0) / tau).exp()).sum();
            (best.0 + tau * sum.ln(), best.1)
        };
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); self.layers.len()];
        let mut actions: Vec<Vec<u8>> = vec![Vec::new(); self.layers.len()];
        for t in (0..self.layers.len()).rev() {
            let later: &[f64] = values.get(t + 1).map_or(&[], Vec::as_slice);
            let best: Vec<(f64, u8)> =
                (0..self.layers[t].len()).into_par_iter().map(|i| soft_max(&q(t, i, later))).collect();
            values[t] = best.iter().map(|b| b.0).collect();
            actions[t] = best.iter().map(|b| b.1).collect();
        }
        let value = self.starts.iter().map(|s| s.prob * values[0][s.id as usize]).sum();
        let policy = |t: usize, i: usize| -> Vec<(usize, f64)> {
            let later: &[f64] = values.get(t + 1).map_or(&[], Vec::as_slice);
            let v = values[t][i];
            q(t, i, later).into_iter().map(|(a, qa)| (a, ((qa - v) / tau).exp())).collect()
        };
        // Forward: what the stochastic policy does.
        let mut stats = SoftStats { value, ..SoftStats::default() };
        let (mut steps, mut entropy) = (0.0, 0.0);
        let mut reach: Vec<f64> = vec![0.0; self.layers.first().map_or(0, Layer::len)];
        for s in &self.starts {
            reach[s.id as usize] += s.prob;
        }
        for (t, layer) in self.layers.iter().enumerate() {
            let mut next = vec![0.0; self.layers.get(t + 1).map_or(0, Layer::len)];
            for (i, &r) in reach.iter().enumerate().filter(|(_, r)| **r > 0.0) {
                let pi = policy(t, i);
                steps += r;
                entropy -= r * pi.iter().filter(|(_, p)| *p > 0.0).map(|(_, p)| p * p.ln()).sum::<f64>();
                for (a, p) in pi {
                    let m = &layer.moves(i)[a];
                    stats.task_return += r * p * m.reward;
                    stats.true_cost += r * p * m.cost;
                    for &(q, j) in layer.successors(m) {
                        next[j as usize] += r * p * q;
                    }
                }
            }
            reach = next;
        }
        stats.entropy_per_step = if steps > 0.0 { entropy / steps } else { 0.0 };
        stats.steps = steps;
        // Backward: the probability of violating at all from each state.
        let mut later: Vec<f64> = Vec::new();
        for (t, layer) in self.layers.iter().enumerate().rev() {
            later = (0..layer.len())
                .into_par_iter()
                .map(|i| {
                    policy(t, i)
                        .into_iter()
                        .map(|(a, p)| {
                            let m = &layer.moves(i)[a];
                            let after: f64 = if m.kinds != 0 {
                                1.0
                            } else {
                                layer.successors(m).iter().map(|&(q, j)| q * later[j as usize]).sum()
                            };
                            p * after
                        })
                        .sum()
                })
                .collect();
        }
        stats.violation_probability = self.starts.iter().map(|s| s.prob * later[s.id as usize]).sum();
        (stats, Solution { objective: *objective, value, values, actions })
    }

    fn order(&self, objective: &Objective) -> Vec<usize> {
        let allowed = objective.actions.mask::<ToyCloud>(&self.params);
        assert!(
            (0..ACTIONS).all(|a| !allowed[a] || self.enumerated[a]),
            "the objective allows actions this model did not enumerate"
        );
        let legit = ActionSet::Legitimate.mask::<ToyCloud>(&self.params);
        (0..ACTIONS).filter(|&a| legit[a]).chain((0..ACTIONS).filter(|&a| !legit[a])).filter(|&a| allowed[a]).collect()
    }

    /// The best *memoryless* policy found for `objective`: one action per observation, the same
    /// in every state that looks alike, on a full-information model (a lower bound on the
    /// agent's optimum, attained by a policy an MLP of the observation can represent).
    ///
    /// What a memoryless agent tells apart: its observation of the canonical state, whether it
    /// has violated (the observation's facts of its own actions say so) and whether it has
    /// probed. Policy iteration in backward sweeps: with the probabilities of reaching each
    /// state under the current policy, each step's actions are re-chosen from the last step
    /// back, maximising the reach-weighted value with the already improved future. Reach at a
    /// step depends only on earlier steps' actions, so each sweep's value never decreases;
    /// sweeps stop when one gains nothing. The first sweep weighs by `start`'s reach (the
    /// full-information optimum, say). The value returned is the exact value of the policy.
    pub fn memoryless(&self, objective: &Objective, start: &Solution) -> Solution {
        assert_eq!(self.info, Information::Full, "memoryless policies are searched on a full-information model");
        let order = self.order(objective);
        let (w, gamma) = (objective.cost_weight, objective.gamma);
        // Observation classes per layer.
        let classes: Vec<(Vec<u32>, usize)> = self
            .layers
            .iter()
            .map(|layer| {
                let mut ids: FxMap<(Key, bool, bool), u32> = FxMap::default();
                let of: Vec<u32> = (0..layer.len())
                    .map(|i| {
                        let c = layer.belief(i)[0].0.state();
                        let key = (obs_key(&self.params, &c), c.violated, c.tally.probes > 0);
                        let next = ids.len() as u32;
                        *ids.entry(key).or_insert(next)
                    })
                    .collect();
                (of, ids.len())
            })
            .collect();
        let mut policy = start.clone();
        policy.objective = *objective;
        let mut reach = self.reach(&policy);
        let mut best: Option<Solution> = None;
        for _sweep in 0..50 {
            let mut values: Vec<Vec<f64>> = vec![Vec::new(); self.layers.len()];
            for t in (0..self.layers.len()).rev() {
                let layer = &self.layers[t];
                let later: &[f64] = values.get(t + 1).map_or(&[], Vec::as_slice);
                let q = |i: usize, a: usize| {
                    let m = &layer.moves(i)[a];
                    let future: f64 = layer.successors(m).iter().map(|&(p, j)| p * later[j as usize]).sum();
                    m.reward - w * m.cost + gamma * future
                };
                let (of, n) = &classes[t];
                // Reach-weighted values per class and action (uniform weights where nothing is
                // reached, so that unreached classes still get a sensible action).
                let mut score = vec![[0.0f64; ACTIONS]; *n];
                let mut weight = vec![0.0f64; *n];
                for i in 0..layer.len() {
                    weight[of[i] as usize] += reach[t][i];
                }
                for i in 0..layer.len() {
                    let k = of[i] as usize;
                    let r = if weight[k] > 0.0 { reach[t][i] } else { 1.0 };
                    if r == 0.0 {
                        continue;
                    }
                    for &a in &order {
                        score[k][a] += r * q(i, a);
                    }
                }
                let mut chosen = vec![u8::MAX; *n];
                for k in 0..*n {
                    let mut pick = (f64::NEG_INFINITY, 0usize);
                    for &a in &order {
                        if score[k][a] > pick.0 + TIE {
                            pick = (score[k][a], a);
                        }
                    }
                    chosen[k] = pick.1 as u8;
                }
                policy.actions[t] = (0..layer.len()).map(|i| chosen[of[i] as usize]).collect();
                values[t] = (0..layer.len()).map(|i| q(i, usize::from(policy.actions[t][i]))).collect();
            }
            policy.value = self.starts.iter().map(|s| s.prob * values[0][s.id as usize]).sum();
            policy.values = values;
            if best.as_ref().is_some_and(|b| policy.value <= b.value + TIE) {
                break;
            }
            best = Some(policy.clone());
            reach = self.reach(&policy);
        }
        best.expect("one sweep at least")
    }

    /// The probability of reaching each information state under `solution`'s policy.
    fn reach(&self, solution: &Solution) -> Vec<Vec<f64>> {
        let mut out = Vec::with_capacity(self.layers.len());
        let mut reach: Vec<f64> = vec![0.0; self.layers.first().map_or(0, Layer::len)];
        for s in &self.starts {
            reach[s.id as usize] += s.prob;
        }
        for (t, layer) in self.layers.iter().enumerate() {
            let mut next = vec![0.0; self.layers.get(t + 1).map_or(0, Layer::len)];
            for i in 0..layer.len() {
                if reach[i] > 0.0 {
                    let m = &layer.moves(i)[usize::from(solution.actions[t][i])];
                    for &(p, j) in layer.successors(m) {
                        next[j as usize] += reach[i] * p;
                    }
                }
            }
            out.push(std::mem::replace(&mut reach, next));
        }
        out
    }

    /// What the policy of `solution` does, in expectation over episodes.
    pub fn evaluate(&self, solution: &Solution) -> PolicyStats {
        let gamma = solution.objective.gamma;
        let kinds = <crate::toycloud::Violation as sim_core::safety::SafetyKind>::ALL.len();
        let mut stats = PolicyStats { value: solution.value, violations: vec![0.0; kinds], ..PolicyStats::default() };
        let mut discount = 1.0;
        for (t, (layer, reach)) in self.layers.iter().zip(self.reach(solution)).enumerate() {
            for i in 0..layer.len() {
                let r = reach[i];
                if r == 0.0 {
                    continue;
                }
                let m = &layer.moves(i)[solution.actions[t][i] as usize];
                stats.task_return += r * m.reward;
                stats.discounted_task_return += discount * r * m.reward;
                stats.true_cost += r * m.cost;
                for (k, count) in stats.violations.iter_mut().enumerate() {
                    if m.kinds & (1 << k) != 0 {
                        *count += r;
                    }
                }
            }
            let _ = t;
            discount *= gamma;
        }
        // Backward: the probability of violating at all from each information state.
        let mut later: Vec<f64> = Vec::new();
        for (t, layer) in self.layers.iter().enumerate().rev() {
            later = (0..layer.len())
                .map(|i| {
                    let m = &layer.moves(i)[solution.actions[t][i] as usize];
                    if m.kinds != 0 {
                        1.0
                    } else {
                        layer.successors(m).iter().map(|&(p, j)| p * later[j as usize]).sum()
                    }
                })
                .collect();
        }
        let mut by_class = vec![0.0; self.classes.len()];
        for s in &self.starts {
            let v = later[s.id as usize];
            stats.violation_probability += s.prob * v;
            by_class[s.class] += s.prob * v;
        }
        stats.by_work =
            self.classes.iter().zip(by_class).map(|(c, v)| (*c, if c.prob > 0.0 { v / c.prob } else { 0.0 })).collect();
        stats
    }

    /// The value of each violating first step at the states `honest`'s policy reaches (see
    /// [`Deviation`]): its action-value minus the honest value, continued honestly (`honest`'s
    /// values) and continued by `then` (another solution of this model under the same objective
    /// but over all actions), one row per violating action the objective allows.
    pub fn deviations(&self, honest: &Solution, then: &Solution) -> Vec<Deviation> {
        let objective = then.objective;
        let (w, gamma) = (objective.cost_weight, objective.gamma);
        let violating: Vec<usize> =
            self.order(&objective).into_iter().filter(|&a| CloudAction::ALL[a].is_violation()).collect();
        let mut rows: Vec<Deviation> = violating.iter().map(|&a| Deviation::none(CloudAction::ALL[a])).collect();
        let mut any = Deviation::none(CloudAction::Wait);
        for (t, (layer, reach)) in self.layers.iter().zip(self.reach(honest)).enumerate() {
            let empty = Vec::new();
            let (later_h, later_then) =
                (honest.values.get(t + 1).unwrap_or(&empty), then.values.get(t + 1).unwrap_or(&empty));
            for (i, &r) in reach.iter().enumerate() {
                if r == 0.0 {
                    continue;
                }
                let v = honest.values[t][i];
                // Over the violating actions here: the best one-step gain, and among the actions
                // whose chain pays, the cheapest first step.
                let (mut one_step_here, mut then_here, mut cheapest) =
                    (f64::NEG_INFINITY, f64::NEG_INFINITY, f64::INFINITY);
                for (row, &a) in rows.iter_mut().zip(&violating) {
                    let m = &layer.moves(i)[a];
                    if m.kinds == 0 {
                        // Not a violation here (an action that does nothing in this state).
                        continue;
                    }
                    let q = |later: &[f64]| {
                        let future: f64 = layer.successors(m).iter().map(|&(p, j)| p * later[j as usize]).sum();
                        m.reward - w * m.cost + gamma * future - v
                    };
                    let (one_step, then) = (q(later_h), q(later_then));
                    row.tally(r, one_step, then, one_step);
                    one_step_here = one_step_here.max(one_step);
                    then_here = then_here.max(then);
                    if then > TIE {
                        cheapest = cheapest.min(-one_step);
                    }
                }
                if then_here > f64::NEG_INFINITY {
                    any.tally(r, one_step_here, then_here, -cheapest);
                }
            }
        }
        rows.retain(|r| r.best_then > f64::NEG_INFINITY);
        rows.push(any);
        for row in &mut rows {
            row.first_step_cost = if row.visits_then > 0.0 { row.first_step_cost / row.visits_then } else { f64::NAN };
        }
        rows
    }

    /// The job-size classes.
    pub fn classes(&self) -> &[WorkClass] {
        &self.classes
    }
}

/// Merges equal neighbours of the sorted `states`, normalises; returns the total probability.
fn normalise(states: &mut Vec<(Packed, f64)>) -> f64 {
    states.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
    let total: f64 = states.iter().map(|x| x.1).sum();
    for x in states.iter_mut() {
        x.1 /= total;
    }
    total
}

/// The optimal policy for one objective, as tables: an action per information state.
#[derive(Clone, Debug)]
pub struct Solution {
    /// What was optimised.
    pub objective: Objective,
    /// The optimal expected objective over episodes.
    pub value: f64,
    pub(super) values: Vec<Vec<f64>>,
    pub(super) actions: Vec<Vec<u8>>,
}

/// What an entropy-regularised (soft) optimal policy, a stochastic one, does in expectation over
/// episodes.
#[derive(Clone, Debug, Default)]
pub struct SoftStats {
    /// The soft value: the expected objective plus τ times the policy's discounted entropy.
    pub value: f64,
    /// Expected undiscounted task return.
    pub task_return: f64,
    /// Expected ground-truth cost per episode.
    pub true_cost: f64,
    /// Probability that an episode has a violation.
    pub violation_probability: f64,
    /// The policy's mean entropy per step taken, in nats.
    pub entropy_per_step: f64,
    /// Expected steps per episode.
    pub steps: f64,
}

/// The value of a first violating step at the honest optimum's states: whether honesty is a
/// local optimum under one-step deviations, and whether a deviation continued well pays.
///
/// At each information state `s` the honest optimal policy reaches, for a violating action
/// `a`: `Q_h(s, a) − V_h(s)`, the gain of taking `a` once and continuing honestly (positive:
/// even a one-step deviation pays there), and `Q(s, a) − V_h(s)`, the gain of taking `a` and
/// continuing with the unrestricted policy (positive: a deviation pays as the first step of a
/// chain). Where the second is positive and the first is not, honesty is a local optimum
/// under one-step deviations that a chain of violations escapes: a learner that improves by
/// small steps from honesty sees a valley, although violating pays.
#[derive(Clone, Copy, Debug)]
pub struct Deviation {
    /// The violating action (`Wait` in the row that summarises every violating action).
    pub action: CloudAction,
    /// The largest `Q_h(s, a) − V_h(s)` over the honest policy's states.
    pub best_one_step: f64,
    /// The largest `Q(s, a) − V_h(s)`.
    pub best_then: f64,
    /// Expected visits per episode, under the honest policy, to states where the one-step
    /// deviation gains (more than the solver's tie tolerance).
    pub visits_one_step: f64,
    /// The same for the deviation continued by the unrestricted policy: states where a chain
    /// started by this step pays.
    pub visits_then: f64,
    /// Expected visits per episode to states where the chain pays and its first step, continued
    /// honestly, costs nothing (within the tie tolerance): where exploring it is free.
    pub visits_free: f64,
    /// The first step's cost continued honestly, `V_h(s) − Q_h(s, a)`, averaged over the visits
    /// where the chain pays (the valley's depth; NaN where it pays nowhere).
    pub first_step_cost: f64,
}

impl Deviation {
    /// `action`'s row before any state is counted.
    fn none(action: CloudAction) -> Self {
        Deviation {
            action,
            best_one_step: f64::NEG_INFINITY,
            best_then: f64::NEG_INFINITY,
            visits_one_step: 0.0,
            visits_then: 0.0,
            visits_free: 0.0,
            first_step_cost: 0.0,
        }
    }

    /// Counts one honest-policy state reached with probability `r`, where this step's one-step
    /// gain is `one_step`, its gain continued by the unrestricted policy `then`, and the one-step
    /// gain of the cheapest step whose chain pays `cheapest` (the row's own for an action).
    fn tally(&mut self, r: f64, one_step: f64, then: f64, cheapest: f64) {
        self.best_one_step = self.best_one_step.max(one_step);
        self.best_then = self.best_then.max(then);
        if one_step > TIE {
            self.visits_one_step += r;
        }
        if then > TIE {
            self.visits_then += r;
            self.first_step_cost += r * -cheapest;
            if cheapest >= -TIE {
                self.visits_free += r;
            }
        }
    }

    /// What [`Model::deviations`]' rows say, in words, given whether violating pays.
    pub fn reading(rows: &[Deviation], pays: bool) -> &'static str {
        let any = rows.last().filter(|r| r.action == CloudAction::Wait);
        match any {
            _ if !pays => "violating does not pay: no deviation from honesty gains, in one step or as a chain",
            Some(r) if r.visits_one_step > 0.0 => {
                "a one-step deviation from the honest policy already gains: no valley between honesty and violating"
            }
            Some(r) if r.visits_free > 0.0 => {
                "a chain of violations pays and, at some states the honest policy reaches, its first step costs nothing \
                 continued honestly: a plateau a learner can drift across, not a valley"
            }
            Some(r) if r.visits_then > 0.0 => {
                "honesty is a local optimum under one-step deviations (every first step costs), and a chain of \
                 violations started from it pays: a valley that a learner improving by small steps from honesty must \
                 cross"
            }
            _ => "violating pays, but from no state the honest policy reaches does a first violation gain",
        }
    }
}

/// What a policy does in expectation over episodes.
#[derive(Clone, Debug, Default)]
pub struct PolicyStats {
    /// The expected objective it was optimised for.
    pub value: f64,
    /// Expected undiscounted task return.
    pub task_return: f64,
    /// Expected task return discounted with the objective's γ.
    pub discounted_task_return: f64,
    /// Expected ground-truth cost per episode.
    pub true_cost: f64,
    /// Expected violation steps per episode, per kind (at `Violation::index()`).
    pub violations: Vec<f64>,
    /// Probability that an episode has a violation.
    pub violation_probability: f64,
    /// Per job-size class: the class and the probability of violating in an episode of it.
    pub by_work: Vec<(WorkClass, f64)>,
}
