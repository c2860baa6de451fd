//! The one media clock: monotonic, started at Go Live, stamping every frame
//! and sample.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Media time 0 as a monotonic instant and as wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct MediaClock {
    origin: Instant,
    origin_unix_ms: u64,
}

impl MediaClock {
    /// A clock whose media time 0 is `origin` (wall clock `origin_unix_ms`).
    pub fn new(origin: Instant, origin_unix_ms: u64) -> Self {
        Self {
            origin,
            origin_unix_ms,
        }
    }

    /// A clock starting now: the only place the wall clock is read, and the
    /// origin every media timestamp counts from. (The capture threads read
    /// the monotonic clock for the capture instant of each frame and sample,
    /// the pacing of their loops and device timeouts; `media_us` turns such
    /// an instant into media time.)
    pub fn start_now() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self::new(Instant::now(), unix)
    }

    /// The monotonic instant of media time 0.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Wall-clock milliseconds since the Unix epoch at media time 0.
    pub fn origin_unix_ms(&self) -> u64 {
        self.origin_unix_ms
    }

    /// The instant of media time `us` microseconds.
    pub fn instant_at_us(&self, us: u64) -> Instant {
        self.origin + Duration::from_micros(us)
    }

    /// Media time of `t` in microseconds (0 before the origin).
    pub fn media_us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_micros() as u64
    }

    /// Media time of `t` in µs, negative before the origin.
    pub fn media_us_signed(&self, t: Instant) -> i64 {
        if t >= self.origin {
            (t - self.origin).as_micros() as i64
        } else {
            -((self.origin - t).as_micros() as i64)
        }
    }
}
