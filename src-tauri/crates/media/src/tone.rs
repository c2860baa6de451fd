//! `Tone`: a 440 Hz sine with a short, louder 1 kHz beep at the start of every
//! media second, the audio half of the A/V sync mark (`TestPattern` flashes
//! in the same instant).

use crate::{AudioSource, SourceError};

/// Beep length in samples at 48 kHz (60 ms).
pub const BEEP_SAMPLES: u64 = 2880;

/// The synthetic microphone, 48 kHz stereo.
#[derive(Debug, Clone)]
pub struct Tone {
    sample_rate: u32,
}

impl Tone {
    /// A tone at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> Self {
        Self { sample_rate }
    }

    /// The sample value at absolute sample index `n`.
    pub fn sample(&self, n: u64) -> f32 {
        let sr = u64::from(self.sample_rate);
        let in_second = n % sr;
        let t = n as f64 / sr as f64;
        if in_second < BEEP_SAMPLES * sr / 48_000 {
            (0.5 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as f32
        } else {
            (0.1 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32
        }
    }
}

impl AudioSource for Tone {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, out: &mut [f32], first_sample: u64) -> Result<(), SourceError> {
        for (i, pair) in out.chunks_exact_mut(2).enumerate() {
            let s = self.sample(first_sample + i as u64);
            pair[0] = s;
            pair[1] = s;
        }
        Ok(())
    }
}

/// `n` samples of pink noise (Paul Kellet's filter over xorshift white
/// noise from `seed`, not zero), RMS about 0.5: a steady noise like a fan's,
/// for trying the noise filters.
pub fn pink_noise(seed: u32, n: usize) -> Vec<f32> {
    let mut s = seed.max(1);
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let w = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
            b0 = 0.99765 * b0 + w * 0.099_046;
            b1 = 0.963 * b1 + w * 0.296_516_4;
            b2 = 0.57 * b2 + w * 1.052_691_3;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(xs: &[f32]) -> f32 {
        (xs.iter().map(|x| x * x).sum::<f32>() / xs.len() as f32).sqrt()
    }

    #[test]
    fn beep_is_loud_at_each_second_and_quiet_between() {
        let mut t = Tone::new(48_000);
        let mut buf = vec![0f32; 2 * 1024];
        t.read(&mut buf, 48_000).unwrap();
        let beep = rms(&buf);
        t.read(&mut buf, 48_000 + 10_000).unwrap();
        let tone = rms(&buf);
        assert!(
            beep > 0.3 && tone < 0.1 && tone > 0.05,
            "beep {beep} tone {tone}"
        );
    }
}
