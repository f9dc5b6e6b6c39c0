//! The safety channel: typed violation events, monitor alerts and per-episode safety reports.
//!
//! As in DeepMind's ai-safety-gridworlds, safety is reported *next to* the reward, never inside
//! it. A batched runner writes these records into buffers of their own ([`crate::runner`]),
//! which nothing a trainer reads contains unless a penalty is handed them explicitly.
//!
//! Each environment names its violation kinds and its monitors as small enums implementing
//! [`SafetyKind`]; a step records which kinds happened (a [`KindSet`]), their ground-truth
//! cost, and which monitors raised an alert at that step.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Most violation kinds (and most monitors) one environment may declare.
pub const MAX_KINDS: usize = 16;

/// A kind of safety event (a violation kind, or a monitor), declared as a fieldless enum,
/// usually with [`crate::safety_kinds!`].
pub trait SafetyKind: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every kind, in index order; at most [`MAX_KINDS`].
    const ALL: &'static [Self];
    /// One `u32` counter per kind: `[u32; ALL.len()]`. Sizing per-episode reports by the
    /// number of kinds keeps them small (an environment without violations pays nothing).
    type Counts: Copy
        + Default
        + PartialEq
        + fmt::Debug
        + AsRef<[u32]>
        + AsMut<[u32]>
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// The position of this kind in [`SafetyKind::ALL`].
    fn index(self) -> usize;
    /// A short snake_case name used in reports and CSV headers.
    fn name(self) -> &'static str;
}

/// Declares a fieldless enum of safety kinds and implements [`SafetyKind`] for it.
///
/// ```
/// sim_core::safety_kinds! {
///     /// Ways of cutting corners.
///     pub enum Shortcut {
///         /// Walking through the restricted door.
///         RestrictedDoor = "restricted_door",
///         /// Skipping the checklist.
///         SkippedChecklist = "skipped_checklist",
///     }
/// }
/// use sim_core::safety::SafetyKind;
/// assert_eq!(Shortcut::ALL.len(), 2);
/// assert_eq!(Shortcut::SkippedChecklist.index(), 1);
/// assert_eq!(Shortcut::RestrictedDoor.name(), "restricted_door");
/// ```
#[macro_export]
macro_rules! safety_kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {}
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {}

        impl $crate::safety::SafetyKind for $name {
            const ALL: &'static [Self] = &[];
            type Counts = [u32; 0];
            fn index(self) -> usize {
                match self {}
            }
            fn name(self) -> &'static str {
                match self {}
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::safety::SafetyKind for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            type Counts = [u32; [$(stringify!($variant)),+].len()];
            #[inline(always)]
            fn index(self) -> usize {
                self as usize
            }
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }
        }
    };
}

/// The empty kind, for environments without violations or monitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoKind {}

impl SafetyKind for NoKind {
    const ALL: &'static [Self] = &[];
    type Counts = [u32; 0];
    fn index(self) -> usize {
        match self {}
    }
    fn name(self) -> &'static str {
        match self {}
    }
}

/// A set of kinds of one type, stored as a bit mask (bit `k.index()`).
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct KindSet<K> {
    bits: u32,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for KindSet<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for KindSet<K> {}
impl<K> PartialEq for KindSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}
impl<K> Eq for KindSet<K> {}
impl<K> Default for KindSet<K> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<K: SafetyKind> fmt::Debug for KindSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(SafetyKind::name)).finish()
    }
}

impl<K> KindSet<K> {
    /// The empty set.
    pub const EMPTY: Self = KindSet { bits: 0, kind: PhantomData };

    /// The raw bit mask (bit `i` is the kind of index `i`).
    #[inline]
    pub fn bits(self) -> u32 {
        self.bits
    }

    /// A set from a raw bit mask; bits beyond the declared kinds are kept as given.
    #[inline]
    pub fn from_bits(bits: u32) -> Self {
        KindSet { bits, kind: PhantomData }
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The number of kinds in the set.
    #[inline]
    pub fn len(self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The union of two sets.
    #[inline]
    pub fn union(self, other: Self) -> Self {
        Self::from_bits(self.bits | other.bits)
    }

    /// Writes the set as flags, `out[i]` for the kind of index `i` (as many as `out` holds),
    /// a table lookup per eight kinds: no branch on the set's contents.
    #[inline]
    pub fn write_flags(self, out: &mut [bool]) {
        for (c, chunk) in out.chunks_mut(8).enumerate() {
            let byte = self.bits.checked_shr(8 * c as u32).unwrap_or(0) & 0xff;
            chunk.copy_from_slice(&BYTE_FLAGS[byte as usize][..chunk.len()]);
        }
    }
}

/// The eight flags of every byte value, for [`KindSet::write_flags`].
const BYTE_FLAGS: [[bool; 8]; 256] = {
    let mut table = [[false; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            table[b][k] = b & (1 << k) != 0;
            k += 1;
        }
        b += 1;
    }
    table
};

impl<K: SafetyKind> KindSet<K> {
    /// A set holding exactly `kind`.
    #[inline]
    pub fn of(kind: K) -> Self {
        Self::from_bits(1 << kind.index())
    }

    /// Adds `kind`.
    #[inline]
    pub fn insert(&mut self, kind: K) {
        self.bits |= 1 << kind.index();
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub fn contains(self, kind: K) -> bool {
        self.bits & (1 << kind.index()) != 0
    }

    /// The kinds in the set, in index order.
    pub fn iter(self) -> impl Iterator<Item = K> {
        K::ALL.iter().copied().filter(move |k| self.contains(*k))
    }
}

/// What one step of one environment reports on the safety channel.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct StepSafety<V, M> {
    /// Violation kinds that happened at this step.
    pub violations: KindSet<V>,
    /// Their ground-truth cost (what an oracle would charge), `>= 0`.
    pub cost: f32,
    /// Monitors that raised an alert at this step.
    pub alerts: KindSet<M>,
    /// Violation kinds whose detection those alerts report (monitors built with
    /// [`crate::monitor::PendingAlert`] name what they detected; others leave this empty).
    pub detected: KindSet<V>,
    /// Steps from each detected violation to its alert, summed over `detected`.
    pub detection_latency: u32,
}

impl<V, M> Clone for StepSafety<V, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V, M> Copy for StepSafety<V, M> {}
impl<V, M> Default for StepSafety<V, M> {
    fn default() -> Self {
        StepSafety {
            violations: KindSet::EMPTY,
            cost: 0.0,
            alerts: KindSet::EMPTY,
            detected: KindSet::EMPTY,
            detection_latency: 0,
        }
    }
}
impl<V: SafetyKind, M: SafetyKind> fmt::Debug for StepSafety<V, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepSafety")
            .field("violations", &self.violations)
            .field("cost", &self.cost)
            .field("alerts", &self.alerts)
            .field("detected", &self.detected)
            .field("detection_latency", &self.detection_latency)
            .finish()
    }
}

impl<V: SafetyKind, M: SafetyKind> StepSafety<V, M> {
    /// The record of violation kinds and alerts given as bits ([`KindSet::bits`]) with the
    /// violations' `cost`, naming no detection (what a device step reports).
    pub fn from_bits(violations: u32, cost: f32, alerts: u32) -> Self {
        StepSafety {
            violations: KindSet::from_bits(violations),
            cost,
            alerts: KindSet::from_bits(alerts),
            ..Default::default()
        }
    }

    /// Records a violation of `kind` with ground-truth `cost`.
    #[inline]
    pub fn violate(&mut self, kind: V, cost: f32) {
        self.violations.insert(kind);
        self.cost += cost;
    }

    /// Records an alert raised by `monitor`.
    #[inline]
    pub fn alert(&mut self, monitor: M) {
        self.alerts.insert(monitor);
    }

    /// Records an alert raised by `monitor` reporting a violation of `kind` that happened
    /// `latency` steps earlier.
    #[inline]
    pub fn alert_detecting(&mut self, monitor: M, kind: V, latency: u32) {
        self.alerts.insert(monitor);
        self.detected.insert(kind);
        self.detection_latency += latency;
    }
}

/// The safety report of one episode, accumulated step by step by the batched runner.
///
/// Steps are counted from 0 within the episode. Latencies are measured from the first
/// violation of the episode to the first alert at or after it. First-seen steps are stored
/// as `step + 1`, with 0 meaning "never", so that the report starts as all zeros.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct EpisodeSafety<V: SafetyKind, M: SafetyKind> {
    /// Total ground-truth violation cost.
    pub cost: f32,
    /// Steps with at least one violation.
    pub violation_steps: u32,
    /// Steps with at least one alert.
    pub alert_steps: u32,
    first_violation: u32,
    violations: V::Counts,
    first_violation_by_kind: V::Counts,
    alerts: M::Counts,
    first_alert_by_monitor: M::Counts,
    detections: V::Counts,
    detection_latency_total: u32,
}

impl<V: SafetyKind, M: SafetyKind> Clone for EpisodeSafety<V, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: SafetyKind, M: SafetyKind> Copy for EpisodeSafety<V, M> {}
impl<V: SafetyKind, M: SafetyKind> PartialEq for EpisodeSafety<V, M> {
    fn eq(&self, o: &Self) -> bool {
        self.cost.to_bits() == o.cost.to_bits()
            && self.violation_steps == o.violation_steps
            && self.alert_steps == o.alert_steps
            && self.first_violation == o.first_violation
            && self.violations == o.violations
            && self.first_violation_by_kind == o.first_violation_by_kind
            && self.alerts == o.alerts
            && self.first_alert_by_monitor == o.first_alert_by_monitor
            && self.detections == o.detections
            && self.detection_latency_total == o.detection_latency_total
    }
}
impl<V: SafetyKind, M: SafetyKind> Default for EpisodeSafety<V, M> {
    fn default() -> Self {
        EpisodeSafety {
            cost: 0.0,
            violation_steps: 0,
            alert_steps: 0,
            first_violation: 0,
            violations: Default::default(),
            first_violation_by_kind: Default::default(),
            alerts: Default::default(),
            first_alert_by_monitor: Default::default(),
            detections: Default::default(),
            detection_latency_total: 0,
        }
    }
}

impl<V: SafetyKind, M: SafetyKind> fmt::Debug for EpisodeSafety<V, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let violations: Vec<_> = V::ALL.iter().map(|k| (k.name(), self.violations(*k))).collect();
        let alerts: Vec<_> = M::ALL.iter().map(|m| (m.name(), self.alerts(*m))).collect();
        f.debug_struct("EpisodeSafety")
            .field("cost", &self.cost)
            .field("violations", &violations)
            .field("alerts", &alerts)
            .field("first_violation", &self.first_violation())
            .field("detection_latency", &self.detection_latency())
            .finish()
    }
}

/// `Some(stored - 1)` for a first-seen step stored as `step + 1`.
fn seen(stored: u32) -> Option<u32> {
    stored.checked_sub(1)
}

/// A first-seen step stored as `step + 1` (0 = never), lowered to `step`. The wrapping
/// arithmetic makes "never" the largest value, and `step = u32::MAX` a no-op (see [`at_if`]).
#[inline(always)]
fn seen_at(stored: u32, step: u32) -> u32 {
    stored.wrapping_sub(1).min(step).wrapping_add(1)
}

/// `step` where `on`, else `u32::MAX`, which [`seen_at`] ignores.
#[inline(always)]
fn at_if(on: bool, step: u32) -> u32 {
    step | u32::from(!on).wrapping_neg()
}

/// Counts the kinds in `bits` at `step`: the lowest without a branch (an empty set leaves the
/// last kind as it is), any further ones in a loop that is rarely entered.
#[inline(always)]
fn count_kinds(counts: &mut [u32], first: &mut [u32], bits: u32, step: u32) {
    let Some(last) = counts.len().checked_sub(1) else { return };
    let k = (bits.trailing_zeros() as usize).min(last);
    counts[k] += u32::from(bits != 0);
    first[k] = seen_at(first[k], at_if(bits != 0, step));
    let mut rest = bits & bits.wrapping_sub(1);
    while rest != 0 {
        let k = rest.trailing_zeros() as usize;
        counts[k] += 1;
        first[k] = seen_at(first[k], step);
        rest &= rest - 1;
    }
}

impl<V: SafetyKind, M: SafetyKind> EpisodeSafety<V, M> {
    /// Adds step `step` (counted within the episode) to the report.
    ///
    /// Without a branch for the usual step, with at most one violation kind and one monitor:
    /// the runner records every step with an event, and which kind a step has is unpredictable.
    #[inline]
    pub fn record(&mut self, step: u32, s: &StepSafety<V, M>) {
        let (violations, alerts) = (s.violations.bits(), s.alerts.bits());
        let violated = violations != 0;
        // The cost, or +0.0 (which leaves any total but -0.0 as it is), chosen by a mask: an
        // `if` here measured 0.05 more mispredictions per ToyCloud step (cachegrind).
        self.cost += f32::from_bits(s.cost.to_bits() & u32::from(violated).wrapping_neg());
        self.violation_steps += u32::from(violated);
        self.first_violation = seen_at(self.first_violation, at_if(violated, step));
        count_kinds(self.violations.as_mut(), self.first_violation_by_kind.as_mut(), violations, step);
        self.alert_steps += u32::from(alerts != 0);
        count_kinds(self.alerts.as_mut(), self.first_alert_by_monitor.as_mut(), alerts, step);
        let detected = s.detected.bits();
        if detected != 0 {
            for k in (0..V::ALL.len()).filter(|k| detected & (1 << k) != 0) {
                self.detections.as_mut()[k] += 1;
            }
            self.detection_latency_total += s.detection_latency;
        }
    }

    /// Violations of `kind` that a monitor detected and reported by name
    /// ([`crate::monitor::PendingAlert`]).
    pub fn detections(&self, kind: V) -> u32 {
        self.detections.as_ref()[kind.index()]
    }

    /// Mean steps from a detected violation to the alert reporting it, over the violations
    /// monitors reported by name (`None` if none).
    pub fn mean_violation_latency(&self) -> Option<f64> {
        let n: u32 = self.detections.as_ref().iter().sum();
        (n > 0).then(|| f64::from(self.detection_latency_total) / f64::from(n))
    }

    /// Whether any violation happened.
    pub fn any_violation(&self) -> bool {
        self.violation_steps > 0
    }

    /// Steps at which `kind` happened.
    pub fn violations(&self, kind: V) -> u32 {
        self.violations.as_ref()[kind.index()]
    }

    /// Alerts raised by `monitor`.
    pub fn alerts(&self, monitor: M) -> u32 {
        self.alerts.as_ref()[monitor.index()]
    }

    /// Alerts raised by all monitors together.
    pub fn total_alerts(&self) -> u32 {
        self.alerts.as_ref().iter().sum()
    }

    /// Step of the first violation of any kind.
    pub fn first_violation(&self) -> Option<u32> {
        seen(self.first_violation)
    }

    /// Step of the first violation of `kind`.
    pub fn first_violation_of(&self, kind: V) -> Option<u32> {
        seen(self.first_violation_by_kind.as_ref()[kind.index()])
    }

    /// Step of the first alert raised by `monitor`.
    pub fn first_alert_of(&self, monitor: M) -> Option<u32> {
        seen(self.first_alert_by_monitor.as_ref()[monitor.index()])
    }

    /// Step of the first alert of any monitor.
    pub fn first_alert(&self) -> Option<u32> {
        self.first_alert_by_monitor.as_ref().iter().filter_map(|&s| seen(s)).min()
    }

    /// Steps from the first violation to the first alert (of any monitor) at or after it.
    ///
    /// `None` when nothing was violated, or no alert followed the first violation. Alerts
    /// raised before any violation (false positives) do not count as detection.
    pub fn detection_latency(&self) -> Option<u32> {
        M::ALL.iter().filter_map(|m| self.latency_of(*m)).min()
    }

    /// Steps from the first violation to `monitor`'s first alert, if that alert came at or
    /// after the violation.
    pub fn latency_of(&self, monitor: M) -> Option<u32> {
        self.first_alert_of(monitor)?.checked_sub(self.first_violation()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::safety_kinds! {
        enum Kind {
            Spill = "spill",
            Shortcut = "shortcut",
        }
    }
    crate::safety_kinds! {
        enum Watch {
            Camera = "camera",
            Auditor = "auditor",
        }
    }

    #[test]
    fn kind_sets_hold_what_was_inserted() {
        let mut s = KindSet::<Kind>::EMPTY;
        assert!(s.is_empty());
        s.insert(Kind::Shortcut);
        assert!(s.contains(Kind::Shortcut) && !s.contains(Kind::Spill));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Kind::Shortcut]);
        assert_eq!(format!("{s:?}"), "{\"shortcut\"}");
        assert_eq!(s.union(KindSet::of(Kind::Spill)).len(), 2);
    }

    #[test]
    fn flags_are_the_set_bit_by_bit() {
        // Every bit of a full word, and widths that end inside and beyond a byte of the table.
        for bits in [0u32, 1, 0b1010_0101, 0x8000_0001, u32::MAX, 0x0123_4567] {
            for width in [0, 1, 7, 8, 9, 17, 32] {
                let mut out = vec![true; width];
                KindSet::<Kind>::from_bits(bits).write_flags(&mut out);
                let want: Vec<bool> = (0..width).map(|i| bits & (1 << i) != 0).collect();
                assert_eq!(out, want, "bits {bits:#x}, width {width}");
            }
        }
    }

    #[test]
    fn episode_report_counts_costs_and_latencies() {
        let mut ep = EpisodeSafety::<Kind, Watch>::default();
        assert_eq!(ep.detection_latency(), None);
        // A false-positive alert before any violation is not a detection.
        let mut s0 = StepSafety::default();
        s0.alert(Watch::Auditor);
        ep.record(0, &s0);
        let mut s2 = StepSafety::default();
        s2.violate(Kind::Spill, 1.5);
        s2.violate(Kind::Shortcut, 0.5);
        ep.record(2, &s2);
        let mut s5 = StepSafety::default();
        s5.alert(Watch::Camera);
        s5.violate(Kind::Spill, 1.0);
        ep.record(5, &s5);
        assert_eq!(ep.cost, 3.0);
        assert_eq!(ep.violation_steps, 2);
        assert_eq!(ep.violations(Kind::Spill), 2);
        assert_eq!(ep.violations(Kind::Shortcut), 1);
        assert_eq!(ep.first_violation(), Some(2));
        assert_eq!(ep.first_violation_of(Kind::Spill), Some(2));
        assert_eq!(ep.first_alert(), Some(0));
        assert_eq!(ep.latency_of(Watch::Camera), Some(3));
        assert_eq!(ep.latency_of(Watch::Auditor), None);
        assert_eq!(ep.detection_latency(), Some(3));
        assert_eq!(ep.total_alerts(), 2);
    }

    #[test]
    fn empty_steps_change_nothing_and_earlier_steps_lower_first_seen() {
        let mut ep = EpisodeSafety::<Kind, Watch>::default();
        let mut late = StepSafety::default();
        late.violate(Kind::Shortcut, 2.0);
        late.alert(Watch::Auditor);
        ep.record(7, &late);
        let before = ep;
        // The last kind and monitor are where an empty step's branch-free update lands.
        ep.record(1, &StepSafety::default());
        ep.record(8, &StepSafety::default());
        ep.record(u32::MAX - 1, &StepSafety::default());
        assert_eq!(ep, before);
        let mut early = StepSafety::default();
        early.violate(Kind::Shortcut, 0.5);
        early.violate(Kind::Spill, 0.25);
        ep.record(3, &early);
        assert_eq!((ep.cost, ep.violation_steps), (2.75, 2));
        assert_eq!(ep.first_violation_of(Kind::Shortcut), Some(3));
        assert_eq!(ep.first_violation_of(Kind::Spill), Some(3));
        assert_eq!(ep.first_violation(), Some(3));
        assert_eq!((ep.alerts(Watch::Auditor), ep.alerts(Watch::Camera)), (1, 0));
        assert_eq!(ep.first_alert(), Some(7));
    }
}
