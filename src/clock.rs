//! The loop's clock: the machine's monotonic clock, or a virtual one for
//! deterministic tests.
//!
//! The loop never reads the clock directly; it caches "now" in whole
//! milliseconds at the points libuv does (`uv__update_time`), and Node's layer
//! refreshes that cache where Node does. A virtual clock only moves when the
//! loop jumps it to the next timer or when busy work is simulated, so a
//! timer-heavy test runs instantly and identically every time.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) enum Clock {
    Real { base: Instant },
    Virtual { now: Duration },
}

impl Clock {
    pub(crate) fn real() -> Clock {
        Clock::Real {
            base: Instant::now(),
        }
    }

    pub(crate) fn virtual_() -> Clock {
        Clock::Virtual {
            now: Duration::ZERO,
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Time since the loop was created, at full resolution.
    #[inline]
    pub(crate) fn elapsed(&self) -> Duration {
        match self {
            Clock::Real { base } => base.elapsed(),
            Clock::Virtual { now } => *now,
        }
    }

    /// Time since the loop was created, truncated to milliseconds (what
    /// libuv's `uv_now` holds).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.elapsed().as_millis() as u64
    }

    /// Moves a virtual clock forward; a real clock cannot be moved.
    pub(crate) fn advance(&mut self, by: Duration) {
        if let Clock::Virtual { now } = self {
            *now += by;
        }
    }

    /// Spends `d` of busy time: spins on a real clock, jumps a virtual one.
    pub(crate) fn busy(&mut self, d: Duration) {
        match self {
            Clock::Real { .. } => {
                let end = Instant::now() + d;
                while Instant::now() < end {
                    std::hint::spin_loop();
                }
            }
            Clock::Virtual { now } => *now += d,
        }
    }
}
