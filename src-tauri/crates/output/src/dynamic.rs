//! Dynamic bitrate (opt-in per encoder, like OBS's): when a destination
//! stays congested, lower the shared encoder's bitrate towards the
//! throughput that destination achieves; once every destination is clear for
//! a while, climb back step by step to the configured bitrate.
//!
//! Pure logic, ticked once a second with the Outputs' stats; the Engine
//! applies what it returns.

use crate::stats::{OutputState, OutputStats};

/// Congestion at or above which a destination counts as congested.
pub const CONGESTED: f64 = 0.5;
/// Congestion below which a destination counts as clear.
pub const CLEAR: f64 = 0.1;
/// Ticks (seconds) of congestion before lowering.
pub const LOWER_AFTER: u32 = 2;
/// Ticks (seconds) all clear before each step up.
pub const RAISE_AFTER: u32 = 5;

/// The controller's state.
#[derive(Debug, Clone)]
pub struct BitrateController {
    configured: u32,
    current: u32,
    min: u32,
    audio_kbps: u32,
    /// Congested or not, the last few ticks (newest last).
    history: std::collections::VecDeque<bool>,
    clear_ticks: u32,
    /// Dropped-frame counts seen last tick, per Output (by identity: two
    /// keys on one server print the same URL).
    dropped: std::collections::HashMap<u64, u64>,
}

/// Ticks of history looked at.
const WINDOW: usize = 3;

impl BitrateController {
    /// A controller for an encoder configured at `configured_kbps`, with
    /// `audio_kbps` of audio sharing the link.
    pub fn new(configured_kbps: u32, audio_kbps: u32) -> Self {
        Self {
            configured: configured_kbps,
            current: configured_kbps,
            min: (configured_kbps / 10).max(200).min(configured_kbps),
            audio_kbps,
            history: std::collections::VecDeque::new(),
            clear_ticks: 0,
            dropped: std::collections::HashMap::new(),
        }
    }

    /// The bitrate asked of the encoder now.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// One second passed; returns a new video bitrate when it should change.
    ///
    /// A destination is congested in a tick when its queue is past half the
    /// drop threshold or it dropped frames since the last tick; the bitrate
    /// goes down after `LOWER_AFTER` congested ticks of the last three.
    pub fn tick(&mut self, outputs: &[OutputStats]) -> Option<u32> {
        let mut worst: Option<(&OutputStats, bool)> = None;
        for s in outputs.iter().filter(|s| s.state == OutputState::Live) {
            let before = self.dropped.insert(s.id, s.dropped_frames);
            let dropping = before.is_some_and(|b| s.dropped_frames > b);
            let congested = dropping || s.congestion >= CONGESTED;
            let worse = match worst {
                None => true,
                Some((w, wc)) => {
                    (congested && !wc) || (congested == wc && s.congestion > w.congestion)
                }
            };
            if worse {
                worst = Some((s, congested));
            }
        }
        let Some((worst, congested)) = worst else {
            self.history.clear();
            self.clear_ticks = 0;
            return None;
        };
        self.history.push_back(congested);
        if self.history.len() > WINDOW {
            self.history.pop_front();
        }
        let congested_ticks = self.history.iter().filter(|c| **c).count() as u32;
        if congested_ticks >= LOWER_AFTER {
            self.clear_ticks = 0;
            // What the link carried (10 s window: the 1 s one swings with
            // keyframes), less audio and about 15 % headroom.
            let achieved = worst.bitrate_10s_kbps.max(0.0) as u32;
            let fits = (achieved.saturating_sub(self.audio_kbps) as f64 * 0.85) as u32;
            let target = fits.clamp(self.min, self.configured);
            // Only step down for real: while the backlog drains after a cut,
            // congestion stays high though the bitrate already fits.
            if f64::from(target) < f64::from(self.current) * 0.95 {
                self.current = target;
                self.history.clear();
                return Some(target);
            }
            None
        } else if !congested && worst.congestion < CLEAR {
            self.clear_ticks += 1;
            if self.clear_ticks < RAISE_AFTER || self.current >= self.configured {
                return None;
            }
            self.clear_ticks = 0;
            let step = (self.configured / 10).max(100);
            self.current = (self.current + step).min(self.configured);
            Some(self.current)
        } else {
            self.clear_ticks = 0;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(congestion: f64, bitrate_kbps: f64) -> OutputStats {
        OutputStats {
            bitrate_kbps: bitrate_kbps * 1.3,
            bitrate_10s_kbps: bitrate_kbps,
            congestion,
            was_live: true,
            ..OutputStats::idle(1, "d", OutputState::Live)
        }
    }

    #[test]
    fn sustained_congestion_lowers_towards_the_achieved_throughput() {
        let mut c = BitrateController::new(3000, 160);
        let mut fast = stats(0.0, 3100.0);
        fast.id = 2;
        let slow = [fast, stats(0.9, 1000.0)];
        assert_eq!(c.tick(&slow), None, "one congested second is not enough");
        assert_eq!(c.tick(&slow), Some(714));
        // Still congested while the queue drains, but the bitrate fits: no change.
        assert_eq!(c.tick(&slow), None);
        assert_eq!(c.tick(&slow), None);
    }

    #[test]
    fn clear_links_climb_back_step_by_step_to_the_configured_bitrate() {
        let mut c = BitrateController::new(3000, 160);
        c.tick(&[stats(1.0, 500.0)]);
        assert_eq!(c.tick(&[stats(1.0, 500.0)]), Some(300));
        let clear = [stats(0.0, 400.0)];
        let mut steps = Vec::new();
        for _ in 0..200 {
            if let Some(k) = c.tick(&clear) {
                steps.push(k);
            }
        }
        assert_eq!(steps.first(), Some(&600));
        assert_eq!(steps.last(), Some(&3000));
        assert!(steps.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn dropping_frames_counts_as_congestion_even_when_the_queue_looks_empty() {
        let mut c = BitrateController::new(3000, 160);
        let mut s = stats(0.0, 1000.0);
        assert_eq!(c.tick(&[s.clone()]), None);
        s.dropped_frames = 20;
        assert_eq!(c.tick(&[s.clone()]), None);
        s.dropped_frames = 45;
        assert_eq!(c.tick(&[s.clone()]), Some(714));
    }

    #[test]
    fn destinations_are_told_apart_by_identity_not_by_their_printed_url() {
        // Two keys on one server: both print rtmp://host/app/***. Only one
        // drops frames; the other's steady count must not mask it.
        let mut c = BitrateController::new(3000, 160);
        let mut a = stats(0.0, 1000.0);
        let mut b = stats(0.0, 3000.0);
        b.id = 2;
        b.dropped_frames = 100;
        assert_eq!(c.tick(&[a.clone(), b.clone()]), None);
        a.dropped_frames = 30;
        assert_eq!(c.tick(&[a.clone(), b.clone()]), None);
        a.dropped_frames = 60;
        assert_eq!(c.tick(&[a, b]), Some(714));
    }

    #[test]
    fn never_below_the_floor_and_idle_without_live_outputs() {
        let mut c = BitrateController::new(3000, 160);
        c.tick(&[stats(1.0, 0.0)]);
        assert_eq!(c.tick(&[stats(1.0, 0.0)]), Some(300));
        let mut down = stats(1.0, 0.0);
        down.state = OutputState::Reconnecting;
        assert_eq!(c.tick(&[down.clone()]), None);
        assert_eq!(c.tick(&[down]), None);
    }
}
