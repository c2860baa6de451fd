//! The audio meter: peak and RMS in dBFS over ~100 ms windows, for any
//! audio source, readable from any thread.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::{AudioSource, SourceError};

/// The latest peak and RMS.
#[derive(Debug)]
pub struct AudioLevel {
    peak_bits: AtomicU32,
    rms_bits: AtomicU32,
}

impl Default for AudioLevel {
    fn default() -> Self {
        Self {
            peak_bits: AtomicU32::new(f32::NEG_INFINITY.to_bits()),
            rms_bits: AtomicU32::new(f32::NEG_INFINITY.to_bits()),
        }
    }
}

impl AudioLevel {
    /// Peak of the last ~100 ms, dBFS (−inf for silence).
    pub fn peak_dbfs(&self) -> f32 {
        f32::from_bits(self.peak_bits.load(Ordering::Relaxed))
    }

    /// RMS of the last ~100 ms, dBFS (−inf for silence).
    pub fn rms_dbfs(&self) -> f32 {
        f32::from_bits(self.rms_bits.load(Ordering::Relaxed))
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
}

impl Meter {
    /// Samples per window: 100 ms of 48 kHz stereo.
    pub const WINDOW: usize = 4800 * 2;

    /// Adds samples; publishes into `level` at the end of each window.
    pub fn feed(&mut self, samples: &[f32], level: &AudioLevel) {
        for &s in samples {
            self.peak = self.peak.max(s.abs());
            self.sum_sq += f64::from(s) * f64::from(s);
        }
        self.n += samples.len();
        if self.n >= Self::WINDOW {
            let rms = (self.sum_sq / self.n as f64).sqrt() as f32;
            level
                .peak_bits
                .store(dbfs(self.peak).to_bits(), Ordering::Relaxed);
            level.rms_bits.store(dbfs(rms).to_bits(), Ordering::Relaxed);
            *self = Self::default();
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
        // The first 100 ms hold the 60 ms beep at 0.5 (-6 dBFS peak).
        assert!(
            (level.peak_dbfs() + 6.02).abs() < 0.1,
            "{}",
            level.peak_dbfs()
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
    }
}
