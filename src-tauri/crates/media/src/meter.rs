//! The audio meter: peak and RMS in dBFS over short windows (one 1024-frame
//! read of 48 kHz audio: ~47 updates a second), with a peak hold, for any
//! audio source, readable from any thread.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::{AudioSource, SourceError};

/// The latest peak and RMS.
#[derive(Debug)]
pub struct AudioLevel {
    peak_bits: AtomicU32,
    rms_bits: AtomicU32,
    hold_bits: AtomicU32,
}

impl Default for AudioLevel {
    fn default() -> Self {
        let silent = f32::NEG_INFINITY.to_bits();
        Self {
            peak_bits: AtomicU32::new(silent),
            rms_bits: AtomicU32::new(silent),
            hold_bits: AtomicU32::new(silent),
        }
    }
}

impl AudioLevel {
    /// Peak of the last window, dBFS (−inf for silence).
    pub fn peak_dbfs(&self) -> f32 {
        f32::from_bits(self.peak_bits.load(Ordering::Relaxed))
    }

    /// RMS of the last window, dBFS (−inf for silence).
    pub fn rms_dbfs(&self) -> f32 {
        f32::from_bits(self.rms_bits.load(Ordering::Relaxed))
    }

    /// The highest peak of the last [`Meter::HOLD_FRAMES`], dBFS.
    pub fn hold_dbfs(&self) -> f32 {
        f32::from_bits(self.hold_bits.load(Ordering::Relaxed))
    }

    /// Silence (a source that is gone).
    pub fn clear(&self) {
        let silent = f32::NEG_INFINITY.to_bits();
        self.peak_bits.store(silent, Ordering::Relaxed);
        self.rms_bits.store(silent, Ordering::Relaxed);
        self.hold_bits.store(silent, Ordering::Relaxed);
    }
}

fn dbfs(x: f32) -> f32 {
    if x > 0.0 {
        20.0 * x.log10()
    } else {
        f32::NEG_INFINITY
    }
}

/// Accumulates samples and publishes a window's peak and RMS.
#[derive(Debug, Default)]
pub struct Meter {
    peak: f32,
    sum_sq: f64,
    n: usize,
    hold: f32,
    /// Samples the hold has been held.
    held: usize,
}

impl Meter {
    /// Samples per window: 1024 frames of 48 kHz stereo (21 ms).
    pub const WINDOW: usize = 1024 * 2;
    /// How long a peak is held, frames (1.5 s at 48 kHz).
    pub const HOLD_FRAMES: usize = 72_000;

    /// Adds samples; publishes into `level` at the end of each window.
    pub fn feed(&mut self, samples: &[f32], level: &AudioLevel) {
        for &s in samples {
            self.peak = self.peak.max(s.abs());
            self.sum_sq += f64::from(s) * f64::from(s);
        }
        self.n += samples.len();
        if self.n >= Self::WINDOW {
            let rms = (self.sum_sq / self.n as f64).sqrt() as f32;
            self.held += self.n;
            if self.peak >= self.hold || self.held > Self::HOLD_FRAMES * 2 {
                self.hold = self.peak;
                self.held = 0;
            }
            level
                .peak_bits
                .store(dbfs(self.peak).to_bits(), Ordering::Relaxed);
            level.rms_bits.store(dbfs(rms).to_bits(), Ordering::Relaxed);
            level
                .hold_bits
                .store(dbfs(self.hold).to_bits(), Ordering::Relaxed);
            self.peak = 0.0;
            self.sum_sq = 0.0;
            self.n = 0;
        }
    }
}

/// Any audio source with a meter on it.
pub struct Metered {
    inner: Box<dyn AudioSource>,
    meter: Meter,
    level: Arc<AudioLevel>,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("level", &self.level)
            .finish()
    }
}

impl Metered {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn AudioSource>) -> Self {
        Self {
            inner,
            meter: Meter::default(),
            level: Arc::new(AudioLevel::default()),
        }
    }

    /// The level, to read from anywhere.
    pub fn level(&self) -> Arc<AudioLevel> {
        self.level.clone()
    }
}

impl AudioSource for Metered {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    fn read(&mut self, out: &mut [f32], first_sample: u64) -> Result<(), SourceError> {
        self.inner.read(out, first_sample)?;
        self.meter.feed(out, &self.level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_reads_a_sine_in_dbfs() {
        let level = AudioLevel::default();
        let mut m = Meter::default();
        let sine: Vec<f32> = (0..9600)
            .flat_map(|i| {
                let v = 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin();
                [v, v]
            })
            .collect();
        m.feed(&sine, &level);
        assert!(
            (level.peak_dbfs() + 6.02).abs() < 0.1,
            "{}",
            level.peak_dbfs()
        );
        assert!(
            (level.rms_dbfs() + 9.03).abs() < 0.1,
            "{}",
            level.rms_dbfs()
        );
        m.feed(&vec![0.0; 9600 * 2], &level);
        assert_eq!(level.peak_dbfs(), f32::NEG_INFINITY);
    }

    #[test]
    fn metered_tone_shows_its_level() {
        let mut src = Metered::new(Box::new(crate::Tone::new(48_000)));
        let level = src.level();
        let mut buf = vec![0f32; 2048];
        for i in 0..5 {
            src.read(&mut buf, i * 1024).unwrap();
        }
        // The first 100 ms hold the 60 ms beep at 0.5 (-6 dBFS peak): held.
        assert!(
            (level.hold_dbfs() + 6.02).abs() < 0.1,
            "{}",
            level.hold_dbfs()
        );
        for i in 5..20 {
            src.read(&mut buf, i * 1024).unwrap();
        }
        // Then the 440 Hz bed at 0.1: -20 dBFS peak, -23 dBFS RMS.
        assert!(
            (level.peak_dbfs() + 20.0).abs() < 0.1,
            "{}",
            level.peak_dbfs()
        );
        assert!(
            (level.rms_dbfs() + 23.0).abs() < 0.1,
            "{}",
            level.rms_dbfs()
        );
        // The beep is still held.
        assert!((level.hold_dbfs() + 6.02).abs() < 0.1);
    }

    #[test]
    fn a_peak_is_held_for_a_second_and_a_half_then_falls() {
        let level = AudioLevel::default();
        let mut m = Meter::default();
        m.feed(&[0.5; Meter::WINDOW], &level);
        let quiet = [0.1; Meter::WINDOW];
        let windows = Meter::HOLD_FRAMES * 2 / Meter::WINDOW;
        for _ in 0..windows - 1 {
            m.feed(&quiet, &level);
        }
        assert!((level.hold_dbfs() + 6.02).abs() < 0.1);
        assert!((level.peak_dbfs() + 20.0).abs() < 0.1);
        m.feed(&quiet, &level);
        m.feed(&quiet, &level);
        assert!(
            (level.hold_dbfs() + 20.0).abs() < 0.1,
            "{}",
            level.hold_dbfs()
        );
    }
}
