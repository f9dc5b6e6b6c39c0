//! Delayed monitors: a monitor that sees a violation raises its alert some steps later, and the
//! alert names the violation it detected, so that detection latency is measured per violation.
//!
//! An environment keeps one [`PendingAlert`] per monitor in its state. When a violation happens
//! and the monitor detects it (a draw of the environment's, with the monitor's probability),
//! [`PendingAlert::detect`] schedules the alert; at the end of every step [`PendingAlert::fire`]
//! raises it when due, on the step's [`StepSafety`] with [`StepSafety::alert_detecting`]. One
//! alert is in flight per monitor: a detection while one is pending is covered by it, as a
//! real alerting pipeline deduplicates. At the end of an episode `fire` can flush what is still
//! in flight, so a violation in the last steps is caught too (or, without flushing, counted as
//! never detected: which one models the monitor is the environment's choice).
//!
//! ```
//! use sim_core::monitor::PendingAlert;
//! use sim_core::safety::{EpisodeSafety, StepSafety};
//! sim_core::safety_kinds! { enum Breach { Door = "door" } }
//! sim_core::safety_kinds! { enum Camera { Camera = "camera" } }
//!
//! let mut camera = PendingAlert::default();
//! let mut report = EpisodeSafety::<Breach, Camera>::default();
//! for step in 0..6 {
//!     let mut safety = StepSafety::default();
//!     if step == 1 {
//!         safety.violate(Breach::Door, 1.0);
//!         camera.detect(step, 3, Breach::Door); // detected; the alert comes 3 steps later
//!     }
//!     camera.fire(step, Camera::Camera, false, &mut safety);
//!     report.record(step, &safety);
//! }
//! assert_eq!(report.first_alert_of(Camera::Camera), Some(4));
//! assert_eq!((report.detections(Breach::Door), report.mean_violation_latency()), (1, Some(3.0)));
//! ```

use serde::{Deserialize, Serialize};

use crate::safety::{SafetyKind, StepSafety};

/// One monitor's alert in flight: due at the end of step `due - 1` (0: none), reporting a
/// violation of kind `kind` seen at step `seen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingAlert {
    due: u32,
    seen: u32,
    kind: u8,
}

impl PendingAlert {
    /// Whether an alert is in flight.
    pub fn is_pending(&self) -> bool {
        self.due != 0
    }

    /// The monitor detected a violation of `kind` at step `now`: its alert fires at the end of
    /// step `now + latency`, unless an alert is already in flight (which then covers it).
    /// Returns whether this detection scheduled the alert.
    #[inline]
    pub fn detect<V: SafetyKind>(&mut self, now: u32, latency: u32, kind: V) -> bool {
        let fresh = self.due == 0;
        if fresh {
            self.due = now.saturating_add(latency).saturating_add(1);
            self.seen = now;
            self.kind = kind.index() as u8;
        }
        fresh
    }

    /// At the end of step `now`: raises the alert on `safety` as `monitor`'s if it is due (or
    /// if `flush`, at the end of an episode, whatever is in flight), naming the violation it
    /// detected and its latency. Returns whether it fired.
    #[inline]
    pub fn fire<V: SafetyKind, M: SafetyKind>(
        &mut self,
        now: u32,
        monitor: M,
        flush: bool,
        safety: &mut StepSafety<V, M>,
    ) -> bool {
        let due = self.due != 0 && (flush || self.due <= now + 1);
        if due {
            let kind = V::ALL[usize::from(self.kind)];
            // A flushed alert reports the latency it was scheduled with.
            safety.alert_detecting(monitor, kind, (self.due - 1).max(now) - self.seen);
            *self = PendingAlert::default();
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::EpisodeSafety;

    crate::safety_kinds! { enum Kind { A = "a", B = "b" } }
    crate::safety_kinds! { enum Mon { Cam = "cam" } }

    /// Plays detections at the given steps (latency 2) for `steps` steps, flushing at the end or
    /// not; returns the episode's report.
    fn play(detections: &[(u32, Kind)], steps: u32, flush: bool) -> EpisodeSafety<Kind, Mon> {
        let (mut cam, mut report) = (PendingAlert::default(), EpisodeSafety::default());
        for step in 0..steps {
            let mut s = StepSafety::default();
            for &(_, kind) in detections.iter().filter(|d| d.0 == step) {
                s.violate(kind, 1.0);
                cam.detect(step, 2, kind);
            }
            cam.fire(step, Mon::Cam, flush && step + 1 == steps, &mut s);
            report.record(step, &s);
        }
        report
    }

    #[test]
    fn an_alert_in_flight_covers_later_detections_and_names_the_first() {
        let r = play(&[(1, Kind::B), (2, Kind::A)], 8, false);
        assert_eq!(r.alerts(Mon::Cam), 1);
        assert_eq!((r.detections(Kind::B), r.detections(Kind::A)), (1, 0));
        assert_eq!(r.mean_violation_latency(), Some(2.0));
        // After it fired (end of step 3), a new detection schedules a new alert.
        let r = play(&[(1, Kind::B), (4, Kind::A)], 8, false);
        assert_eq!((r.alerts(Mon::Cam), r.detections(Kind::A)), (2, 1));
    }

    #[test]
    fn a_violation_in_the_last_steps_is_caught_only_when_flushed() {
        // Detected at step 5 of 6: the alert would come at the end of step 7.
        assert_eq!(play(&[(5, Kind::A)], 6, false).alerts(Mon::Cam), 0);
        let flushed = play(&[(5, Kind::A)], 6, true);
        assert_eq!((flushed.alerts(Mon::Cam), flushed.first_alert_of(Mon::Cam)), (1, Some(5)));
        assert_eq!(flushed.mean_violation_latency(), Some(2.0), "the latency it was scheduled with");
    }

    #[test]
    fn empty_kind_lists_declare_uninhabited_kinds() {
        crate::safety_kinds! {
            /// No monitors.
            enum Nothing {}
        }
        assert!(Nothing::ALL.is_empty());
        let r = EpisodeSafety::<Kind, Nothing>::default();
        assert_eq!(r.total_alerts(), 0);
    }
}
