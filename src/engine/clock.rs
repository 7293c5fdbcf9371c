use jiff::Timestamp;

/// A node's pseudo-clock: advanced by the event times of the records it processes, never by
/// the wall clock, so that a replay of the same input sees the same times (seed 003).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PseudoClock {
    now: Option<Timestamp>,
}

impl PseudoClock {
    /// The latest event time seen, if any.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// Advance to `event_time` if it is later than the clock; earlier events never move it back.
    pub fn observe(&mut self, event_time: Timestamp) {
        if self.now.is_none_or(|n| event_time > n) {
            self.now = Some(event_time);
        }
    }

    /// Seconds since the Unix epoch (0 before the first event).
    pub fn seconds(&self) -> i64 {
        self.now.map_or(0, |t| t.as_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_only_moves_forward_with_event_time() {
        let mut c = PseudoClock::default();
        assert_eq!(c.now(), None);
        let t1: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let t0: Timestamp = "2025-12-31T10:00:00Z".parse().unwrap();
        c.observe(t1);
        c.observe(t0);
        assert_eq!(c.now(), Some(t1));
        assert_eq!(c.seconds(), t1.as_second());
    }
}
