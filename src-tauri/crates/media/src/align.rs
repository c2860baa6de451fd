//! Keeps a device's audio on the media clock: sans-IO, time passed in.
//!
//! A microphone has its own clock. 48 000 of its samples take a little more
//! or less than a second of ours (±100 ppm is common; cheap USB devices are
//! worse), so an audio track stamped by sample count alone drifts from the
//! video by a few ms a minute — a visible lip-sync error after an hour.
//!
//! The [`Aligner`] compares, at every output chunk, the capture time of the
//! input sample about to be used (from the device's own timestamps,
//! filtered) with the media time that chunk will be stamped with. The
//! difference steers the resampler's ratio through a PI controller, so the
//! error stays near zero and the drift is absorbed by an inaudible rate
//! change (within ±1 %). A large error (start-up, a stall, the device
//! coming back) is corrected at once by inserting silence or skipping
//! input. The capture-time estimate is a moving average of the device's
//! timestamps that ignores stray ones but follows a real jump.

/// Errors above this are corrected at once rather than steered away.
pub const HARD_CORRECTION_US: i64 = 15_000;
/// Largest rate change the controller uses.
pub const MAX_RATIO_DEVIATION: f64 = 0.01;
/// Proportional gain, per second of error.
const KP: f64 = 0.5;
/// Integral gain, per second² of error.
const KI: f64 = 0.05;
/// Weight of each device timestamp in the capture-time estimate (a device
/// calls back ~100 times a second: a time constant of about half a second,
/// which smooths scheduling jitter and still follows any drift).
const EMA_ALPHA: f64 = 0.02;
/// Timestamps this far off the estimate are outliers...
const OUTLIER_US: f64 = 30_000.0;
/// ...unless this many come in a row: then the stream has jumped (start-up
/// pre-roll, an overrun in the driver) and the estimate follows at once.
const REANCHOR_AFTER: u32 = 8;

/// What to do before producing the next output chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Correction {
    /// Resample with this ratio relative to nominal (output/input).
    Steer(f64),
    /// The input is ahead of the media clock: emit silence for this chunk
    /// without consuming input.
    Silence,
    /// The input is too old: skip this many input frames, then steer.
    Skip(u64),
}

/// The drift controller of one device stream.
#[derive(Debug, Clone)]
pub struct Aligner {
    rate_in: f64,
    /// Estimated "stream start", µs on the media clock: capture time of
    /// input frame `i` = start + i / rate.
    start_us: Option<f64>,
    outliers: u32,
    integral: f64,
    last_label_us: Option<i64>,
    last_error_us: i64,
}

impl Aligner {
    /// A controller for a device delivering `rate_in` frames per second.
    pub fn new(rate_in: u32) -> Self {
        Self {
            rate_in: f64::from(rate_in.max(1)),
            start_us: None,
            outliers: 0,
            integral: 0.0,
            last_label_us: None,
            last_error_us: 0,
        }
    }

    /// The device said: input frame `index` was captured at `at_us`
    /// (media clock, may be negative).
    pub fn observe(&mut self, index: u64, at_us: i64) {
        let start = at_us as f64 - index as f64 * 1e6 / self.rate_in;
        match self.start_us {
            None => self.start_us = Some(start),
            Some(est) if (start - est).abs() > OUTLIER_US => {
                self.outliers += 1;
                if self.outliers >= REANCHOR_AFTER {
                    self.start_us = Some(start);
                    self.outliers = 0;
                }
            }
            Some(est) => {
                self.outliers = 0;
                self.start_us = Some(est + EMA_ALPHA * (start - est));
            }
        }
    }

    /// Capture time of input frame `index`, if the device has said anything.
    pub fn capture_us(&self, index: f64) -> Option<i64> {
        self.start_us
            .map(|s| (s + index * 1e6 / self.rate_in) as i64)
    }

    /// The last error seen: capture time − media time of the chunk, µs.
    /// Positive: the audio would play early against the video.
    pub fn error_us(&self) -> i64 {
        self.last_error_us
    }

    /// Decides how to produce the chunk stamped `label_us`, whose first
    /// sample comes from input frame `position` (fractional: where the
    /// resampler's output starts). Call once per chunk.
    pub fn correct(&mut self, label_us: i64, position: f64) -> Correction {
        let Some(capture) = self.capture_us(position) else {
            // Nothing from the device yet.
            return Correction::Silence;
        };
        let error = capture - label_us;
        self.last_error_us = error;
        let dt = self
            .last_label_us
            .map_or(0.0, |l| (label_us - l).max(0) as f64 / 1e6);
        self.last_label_us = Some(label_us);
        if error > HARD_CORRECTION_US {
            self.integral = 0.0;
            return Correction::Silence;
        }
        if error < -HARD_CORRECTION_US {
            self.integral = 0.0;
            let frames = (-error) as f64 * self.rate_in / 1e6;
            return Correction::Skip(frames as u64);
        }
        let e = error as f64 / 1e6;
        self.integral =
            (self.integral + e * dt).clamp(-MAX_RATIO_DEVIATION / KI, MAX_RATIO_DEVIATION / KI);
        let rel = 1.0 + KP * e + KI * self.integral;
        Correction::Steer(rel.clamp(1.0 - MAX_RATIO_DEVIATION, 1.0 + MAX_RATIO_DEVIATION))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device whose clock runs `ppm` fast, delivering `block` frames per
    /// callback with up to `jitter_us` of scheduling delay, read by a
    /// resampler modelled as consuming `1024 / (ratio · nominal)` input
    /// frames per 1024-frame output chunk. Returns the largest true |error|
    /// (µs) after `settle_s`, and the final one.
    fn simulate(ppm: f64, seconds: f64, settle_s: f64, jitter_us: i64) -> (i64, i64) {
        let rate_in = 48_000u32;
        let dev_rate = 48_000.0 * (1.0 + ppm / 1e6);
        let mut a = Aligner::new(rate_in);
        let block = 480u64;
        let chunk = 1024u64;
        let mut delivered = 0u64;
        let mut consumed = 0.0f64;
        let mut ratio = 1.0f64;
        let mut worst = 0i64;
        let mut last = 0i64;
        let mut n = 0u64;
        let mut rng = 0x1234_5678u64;
        // Device starts 30 ms after the media clock.
        let dev_start_us = 30_000.0;
        loop {
            let label_us = (n * chunk * 1_000_000 / 48_000) as i64;
            if label_us as f64 > seconds * 1e6 {
                break;
            }
            // Read time: the chunk's end + 60 ms of allowance.
            let now_us = label_us as f64 + 21_333.0 + 60_000.0;
            // Everything the device captured by now (minus one block in flight).
            while dev_start_us + (delivered + block) as f64 * 1e6 / dev_rate <= now_us {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let late = if jitter_us > 0 {
                    (rng % jitter_us as u64) as i64
                } else {
                    0
                };
                let first_at = dev_start_us + delivered as f64 * 1e6 / dev_rate;
                a.observe(delivered, first_at as i64 + late);
                delivered += block;
            }
            match a.correct(label_us, consumed) {
                Correction::Silence => {}
                Correction::Skip(k) => {
                    consumed += k as f64;
                    consumed += chunk as f64;
                }
                Correction::Steer(r) => {
                    ratio = r;
                    consumed += chunk as f64 / ratio;
                }
            }
            n += 1;
            // True error: when the next chunk's first input sample was really
            // captured, against the media time it will be stamped with.
            let next_label = (n * chunk * 1_000_000 / 48_000) as f64;
            let true_error = (dev_start_us + consumed * 1e6 / dev_rate - next_label) as i64;
            last = true_error;
            if next_label > settle_s * 1e6 {
                worst = worst.max(true_error.abs());
            }
        }
        assert!((ratio - 1.0).abs() <= MAX_RATIO_DEVIATION);
        (worst, last)
    }

    #[test]
    fn fast_device_stays_within_20ms_for_four_hours() {
        let (worst, _) = simulate(300.0, 4.0 * 3600.0, 60.0, 4_000);
        eprintln!("worst {worst} µs");
        assert!(worst < 20_000, "worst {worst} µs");
    }

    #[test]
    fn slow_device_stays_within_20ms_for_four_hours() {
        let (worst, _) = simulate(-300.0, 4.0 * 3600.0, 60.0, 4_000);
        eprintln!("worst {worst} µs");
        assert!(worst < 20_000, "worst {worst} µs");
    }

    #[test]
    fn steady_error_settles_near_zero() {
        let (_, last) = simulate(200.0, 600.0, 60.0, 0);
        assert!(last.abs() < 2_000, "last {last} µs");
    }

    #[test]
    fn device_starting_late_is_padded_with_silence() {
        let mut a = Aligner::new(48_000);
        assert_eq!(a.correct(0, 0.0), Correction::Silence, "nothing heard yet");
        a.observe(0, 100_000);
        assert_eq!(a.correct(0, 0.0), Correction::Silence);
    }

    #[test]
    fn stray_timestamps_are_ignored_and_a_real_jump_is_followed() {
        let mut a = Aligner::new(48_000);
        for i in 0..100u64 {
            a.observe(i * 480, (i * 10_000) as i64);
        }
        assert_eq!(a.capture_us(0.0), Some(0));
        // One late callback changes nothing much.
        a.observe(100 * 480, 1_000_000 + 200_000);
        assert_eq!(a.capture_us(0.0), Some(0));
        // A stream that really jumped 100 ms: followed after a few callbacks.
        for i in 101..120u64 {
            a.observe(i * 480, (i * 10_000 + 100_000) as i64);
        }
        assert!((a.capture_us(0.0).unwrap() - 100_000).abs() < 1_000);
    }

    #[test]
    fn old_input_is_skipped() {
        let mut a = Aligner::new(48_000);
        a.observe(0, 0);
        // Label 500 ms in, input still at frame 0 (captured at 0).
        assert_eq!(a.correct(500_000, 0.0), Correction::Skip(24_000));
    }
}
