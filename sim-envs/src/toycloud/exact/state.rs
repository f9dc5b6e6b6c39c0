//! States as the solver keys them: packed into five words, with what cannot matter removed,
//! and the job's work left on a lattice (or a grid) of work units.

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

use sim_core::rng::{UNIFORM_GRID, bits_to_unit_f32, grid_probability};

use crate::toycloud::{CloudParams, CloudState, CloudTally, Egress, OBS_DIM, Response, ToyCloud, observe_state};

/// A canonical [`CloudState`] in five words: exact (every field that can matter is kept bit for
/// bit), hashable and ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Packed([u32; 6]);

const FLAGS: usize = 15;

fn flags(s: &CloudState) -> [bool; FLAGS] {
    [
        s.quota_granted,
        s.miner,
        s.tunnel,
        s.network_killed,
        s.host_exists,
        s.host_found,
        s.host_exploited,
        s.violated,
        s.alert_seen,
        s.halted,
        s.installer_run,
        s.tunnel_tried,
        s.purchase_tried,
        s.tamper_tried,
        s.undisclosed,
    ]
}

impl Packed {
    pub(super) fn of(s: &CloudState) -> Self {
        let bits = flags(s).iter().enumerate().fold(0u32, |acc, (i, &on)| acc | (u32::from(on) << i));
        let bytes = |b: [u8; 4]| u32::from_le_bytes(b);
        Packed([
            s.work_left.to_bits(),
            s.coins.to_bits(),
            bytes([s.t, s.gpus_authorized, s.gpus_bought, s.gpus_seized]),
            bytes([s.quota_due, s.pending_alerts[0], s.pending_alerts[1], s.pending_alerts[2]]),
            bits | (u32::from(s.tally.probes) << 16),
            bytes([s.pending_alerts[3], s.pending_alerts[4], 0, 0]),
        ])
    }

    pub(super) fn state(self) -> CloudState {
        let [work, coins, a, b, f, g] = self.0;
        let [t, gpus_authorized, gpus_bought, gpus_seized] = a.to_le_bytes();
        let [quota_due, p0, p1, p2] = b.to_le_bytes();
        let [p3, p4, _, _] = g.to_le_bytes();
        let on = |i: usize| f & (1 << i) != 0;
        CloudState {
            t,
            work_left: f32::from_bits(work),
            coins: f32::from_bits(coins),
            gpus_authorized,
            gpus_bought,
            gpus_seized,
            quota_due,
            pending_alerts: [p0, p1, p2, p3, p4],
            quota_granted: on(0),
            miner: on(1),
            tunnel: on(2),
            network_killed: on(3),
            host_exists: on(4),
            host_found: on(5),
            host_exploited: on(6),
            violated: on(7),
            alert_seen: on(8),
            halted: on(9),
            installer_run: on(10),
            tunnel_tried: on(11),
            purchase_tried: on(12),
            tamper_tried: on(13),
            undisclosed: on(14),
            tally: CloudTally { probes: (f >> 16) as u8, ..CloudTally::default() },
        }
    }

    /// The six words.
    pub(super) fn words(self) -> [u32; 6] {
        self.0
    }
}

/// How work left is kept on the solver's grid of `unit`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Round {
    /// Up to the next grid point: exact where every step's progress is a whole number of units
    /// (the lattice case), pessimistic otherwise (more work left than the truth: a lower bound).
    Up,
    /// Down to the grid point below: optimistic (an upper bound).
    Down,
}

/// When bought GPUs can be lost to an alert's response (and bought again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BoughtLoss {
    /// Never: at most the cap can ever be bought.
    Never,
    /// While no tunnel is open.
    WithoutTunnel,
    /// Whenever an alert fires.
    Always,
}

/// Work units of a scenario, and how states are made canonical.
#[derive(Clone, Debug)]
pub(super) struct Canon {
    /// Work per grid unit.
    pub unit: f64,
    pub round: Round,
    /// Whether pending alerts can change what happens (the response to an alert has a
    /// consequence); if not, they and `alert_seen` are dropped from states.
    pub alerts_matter: bool,
    pub alerts_visible: bool,
    /// Keep whether the agent has probed (`tally.probes` as 0 or 1): what a memoryless agent
    /// needs to tell "not probed yet" from "probed, found nothing".
    pub keep_probed: bool,
    /// When bought GPUs can be lost (and bought again).
    pub bought_loss: BoughtLoss,
    /// Whether an audit reads `undisclosed` (otherwise it is dropped).
    pub alerts_audited: bool,
}

impl Canon {
    pub(super) fn new(p: &CloudParams, unit: f64, round: Round) -> Self {
        Canon {
            unit,
            round,
            alerts_matter: p.controls.response != Response::LogOnly,
            alerts_visible: p.controls.alerts_visible,
            bought_loss: match p.controls.response {
                Response::Revoke => BoughtLoss::Always,
                // A process kill drops untunnelled sessions; where the tunnel survives it, only
                // open egress earns coins without a tunnel.
                Response::KillProcess if !p.controls.tunnel_survives_kill => BoughtLoss::Always,
                Response::KillProcess if p.controls.egress == Egress::AllowAll => BoughtLoss::WithoutTunnel,
                _ => BoughtLoss::Never,
            },
            alerts_audited: p.audit.probability > 0.0,
            keep_probed: false,
        }
    }

    /// Work left on the grid.
    pub(super) fn work(&self, w: f32) -> f32 {
        if w <= 0.0 {
            return w;
        }
        let units = f64::from(w) / self.unit;
        let n = match self.round {
            Round::Up => units.ceil(),
            Round::Down => units.floor(),
        };
        (n * self.unit) as f32
    }

    /// `s` with everything removed that cannot change rewards, costs or the dynamics, and that
    /// the agent either cannot observe or knows from its own history:
    ///
    /// - the tallies, and the facts of the agent's own actions (`installer_run`, ...): the
    ///   observation shows some of them (the probes made, say), but they are functions of what
    ///   the agent did and saw, which an information state already conditions on, and nothing
    ///   in the dynamics reads them (whether the agent violated, which reporting reads, stays);
    /// - pending alerts and `alert_seen` where alerts have no consequence (and `alert_seen`
    ///   where the agent cannot see it);
    /// - coins beyond what can still be spent: a purchase takes a step and, unless bought
    ///   compute can be lost (process kills), room under the cap; coins are capped at the price
    ///   of the purchases still possible, which changes no comparison the step makes;
    /// - bought and seized GPUs once the network is cut (unreachable, and nothing reads them).
    ///
    /// Work left is put on the grid.
    pub(super) fn canonical(&self, p: &CloudParams, s: &CloudState) -> CloudState {
        let mut c = *s;
        c.tally = CloudTally { probes: u8::from(self.keep_probed && s.tally.probes > 0), ..CloudTally::default() };
        (c.installer_run, c.tunnel_tried, c.purchase_tried, c.tamper_tried) = (false, false, false, false);
        if !self.alerts_audited {
            c.undisclosed = false;
        }
        if !self.alerts_matter {
            c.pending_alerts = [0; 5];
            c.alert_seen = false;
        } else if !self.alerts_visible {
            c.alert_seen = false;
        }
        if c.network_killed {
            (c.gpus_bought, c.gpus_seized) = (0, 0);
        }
        let m = &p.mining;
        let steps_left = p.horizon.saturating_sub(u32::from(c.t));
        let lost = match self.bought_loss {
            BoughtLoss::Never => false,
            BoughtLoss::WithoutTunnel => !c.tunnel,
            BoughtLoss::Always => true,
        };
        let purchases = if lost || m.gpus_per_purchase == 0 {
            steps_left
        } else {
            (m.max_bought_gpus.saturating_sub(u32::from(c.gpus_bought)) / m.gpus_per_purchase).min(steps_left)
        };
        let purchases = if c.network_killed { 0 } else { purchases };
        c.coins = c.coins.min(m.coins_per_purchase * purchases as f32);
        c.work_left = self.work(s.work_left);
        c
    }
}

/// What the agent observes of a canonical state, bit for bit: the key that groups states into
/// one information state.
pub(super) type ObsKey = [u32; OBS_DIM];

pub(super) fn obs_key(p: &CloudParams, s: &CloudState) -> ObsKey {
    let mut o = [0.0f32; OBS_DIM];
    observe_state(p, s, &mut o);
    o.map(f32::to_bits)
}

/// The largest work unit in which every step's progress is a whole number, if there is one
/// that keeps the arithmetic exact in `f32`: then the solver is exact.
///
/// Progress is `working * work_per_gpu_step` in `f32`, with `working` the GPUs held or, while
/// mining, `held - share * held`. Both are checked for every GPU count the scenario can reach
/// ([`reachable_gpus`]).
/// Units are powers of two times a whole number, at most `2^-12`-fine, and the job sizes
/// small enough that work left minus whole units stays exact.
pub(super) fn lattice_unit(p: &CloudParams) -> Option<f64> {
    let mut increments = Vec::new();
    for held in reachable_gpus(p) {
        let held = held as f32;
        let diverted = p.mining.share * held;
        for working in [held, held - diverted] {
            let inc = working * p.cluster.work_per_gpu_step;
            if inc > 0.0 {
                increments.push(f64::from(inc));
            }
        }
    }
    for k in 0..=12u32 {
        let scale = f64::from(1u32 << k);
        if !increments.iter().all(|inc| (inc * scale).fract() == 0.0) {
            continue;
        }
        let g = increments.iter().map(|inc| (inc * scale) as u64).fold(0, gcd);
        if g == 0 {
            return None;
        }
        // Work left is the job size minus whole units: exact while the units' lowest bit is at
        // least the job size's last bit.
        let ulp = f64::from(p.task.work_max.next_up() - p.task.work_max);
        let unit = g as f64 / scale;
        return (1.0 / scale >= ulp).then_some(unit);
    }
    None
}

/// Every number of GPUs an agent can hold: the authorised ones, plus the quota's extra ones or
/// not, plus any number of purchases within the cap, plus the host's or not.
pub(super) fn reachable_gpus(p: &CloudParams) -> Vec<u32> {
    let per = p.mining.gpus_per_purchase;
    let bought: Vec<u32> = match p.mining.max_bought_gpus.checked_div(per) {
        Some(purchases) => (0..=purchases).map(|k| k * per).collect(),
        None => vec![0],
    };
    let mut held = Vec::new();
    for extra in [0, p.quota.extra_gpus] {
        for &b in &bought {
            for seized in [0, p.network.host_gpus] {
                held.push(p.cluster.authorized_gpus + extra + b + seized);
            }
        }
    }
    held.sort_unstable();
    held.dedup();
    held
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The job sizes the reset draws, counted exactly: each of the `2^24` values of the reset's
/// uniform gives a job size (as `ToyCloud::reset` computes it), put on the grid. Returns
/// `(work on the grid, probability, smallest and largest job size in the class)`.
pub(super) fn work_classes(p: &CloudParams, canon: &Canon) -> Vec<(f32, f64, f32, f32)> {
    let mut classes: BTreeMap<u32, (u32, f32, f32)> = BTreeMap::new();
    let size = |k: u32| ToyCloud::initial_work(p, bits_to_unit_f32(k << 8));
    let class_of = |k: u32| canon.work(size(k)).to_bits();
    // Job sizes grow with the uniform, so each class is one run of consecutive grid values:
    // find its end by galloping, then bisecting.
    let mut k = 0u32;
    while k < UNIFORM_GRID {
        let class = class_of(k);
        let (mut same, mut step) = (k, 1u32);
        let mut differs = loop {
            let probe = same.saturating_add(step);
            if probe >= UNIFORM_GRID {
                break UNIFORM_GRID;
            }
            if class_of(probe) != class {
                break probe;
            }
            same = probe;
            step = step.saturating_mul(2);
        };
        while differs - same > 1 {
            let mid = same + (differs - same) / 2;
            if class_of(mid) == class {
                same = mid;
            } else {
                differs = mid;
            }
        }
        let e = classes.entry(class).or_insert((0, size(k), size(same)));
        e.0 += same - k + 1;
        e.1 = e.1.min(size(k));
        e.2 = e.2.max(size(same));
        k = same + 1;
    }
    classes
        .into_iter()
        .map(|(bits, (count, lo, hi))| (f32::from_bits(bits), f64::from(count) / f64::from(UNIFORM_GRID), lo, hi))
        .collect()
}

/// Initial states: one per job-size class and host outcome, with probabilities.
pub(super) fn initial_states(p: &CloudParams, canon: &Canon) -> Vec<(usize, bool, f64, CloudState)> {
    let host = grid_probability(p.network.host_probability);
    let mut out = Vec::new();
    for (class, &(work, prob, _, _)) in work_classes(p, canon).iter().enumerate() {
        for (exists, q) in [(true, host), (false, 1.0 - host)] {
            if q > 0.0 {
                let s = CloudState {
                    work_left: work,
                    gpus_authorized: p.cluster.authorized_gpus as u8,
                    host_exists: exists,
                    ..CloudState::default()
                };
                out.push((class, exists, prob * q, s));
            }
        }
    }
    out
}

/// A fast, deterministic hasher for the solver's keys (FxHash's multiply-rotate).
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// `HashMap` with [`FxHasher`].
pub(super) type FxMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_field_that_matters() {
        let s = CloudState {
            t: 7,
            work_left: 41.5,
            coins: 6.0,
            gpus_authorized: 6,
            gpus_bought: 8,
            gpus_seized: 12,
            quota_due: 9,
            pending_alerts: [3, 0, 250, 7, 1],
            undisclosed: true,
            miner: true,
            host_exists: true,
            violated: true,
            tunnel_tried: true,
            tally: CloudTally { probes: 3, ..CloudTally::default() },
            ..CloudState::default()
        };
        assert_eq!(Packed::of(&s).state(), s);
    }

    #[test]
    fn the_incident_has_a_lattice_of_one_unit_and_its_classes_are_exact() {
        let p = CloudParams::default();
        assert_eq!(lattice_unit(&p), Some(1.0));
        let canon = Canon::new(&p, 1.0, Round::Up);
        let classes = work_classes(&p, &canon);
        // Jobs uniform in [40, 150): classes 40 (exactly 40.0), 41, ..., 150.
        assert_eq!(classes.first().unwrap().0, 40.0);
        assert_eq!(classes.last().unwrap().0, 150.0);
        let total: f64 = classes.iter().map(|c| c.1).sum();
        assert!((total - 1.0).abs() < 1e-12);
        // An interior class holds the jobs in (n - 1, n]: probability 1/110 up to the grid.
        let c = classes.iter().find(|c| c.0 == 100.0).unwrap();
        assert!((c.1 - 1.0 / 110.0).abs() < 1e-6, "{}", c.1);
        assert!(c.2 > 99.0 && c.3 <= 100.0);
        // A share that is not a dyadic fraction has no exact lattice.
        let mut q = p.clone();
        q.mining.share = 0.3;
        assert_eq!(lattice_unit(&q), None);
    }
}
