//! The microphone's dynamics chain: gain, noise gate, compressor and a
//! look-ahead limiter, in that order, each switchable; sans-IO (samples in,
//! samples out, no clock), for interleaved stereo `f32` at any rate.
//!
//! Groundwork for the audio-filters issue: nothing in the pipeline runs it
//! yet. Noise suppression (RNNoise) will sit between the gain and the gate.
//!
//! - **Gate**: a peak envelope (instant attack, 20 ms fall) opens the gate
//!   above `open_dbfs` and closes it below `close_dbfs` (hysteresis) once
//!   `hold_ms` passed; the gain glides to 1 in `attack_ms` and to 0 in
//!   `release_ms` (no clicks).
//! - **Compressor**: a smoothed peak level (attack/release) above
//!   `threshold_dbfs` is reduced by `ratio`, then `makeup_db` is added.
//! - **Limiter**: the output is delayed by the look-ahead; the gain at each
//!   sample is the smallest any sample within the look-ahead window needs to
//!   stay at or under the ceiling, so a peak is met by a gain already low —
//!   never over the ceiling — and the gain recovers in `release_ms`.

use std::collections::VecDeque;

/// dBFS to a linear amplitude.
pub fn db_to_amp(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// A linear amplitude to dBFS (−∞ for 0).
pub fn amp_to_db(a: f32) -> f32 {
    20.0 * a.max(1e-12).log10()
}

/// Per-sample smoothing coefficient reaching ~63 % in `ms`.
fn coeff(ms: f32, rate: f32) -> f32 {
    if ms <= 0.0 {
        0.0
    } else {
        (-1.0 / (ms * 0.001 * rate)).exp()
    }
}

/// Noise gate settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Opens above this level, dBFS.
    pub open_dbfs: f32,
    /// Closes below this level (after the hold), dBFS; at or under `open_dbfs`.
    pub close_dbfs: f32,
    /// Time to open fully, ms.
    pub attack_ms: f32,
    /// Time it stays open after the level fell under `close_dbfs`, ms.
    pub hold_ms: f32,
    /// Time to close fully, ms.
    pub release_ms: f32,
}

/// Compressor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compressor {
    /// Level above which it compresses, dBFS.
    pub threshold_dbfs: f32,
    /// Input dB over the threshold per output dB (≥ 1).
    pub ratio: f32,
    /// Attack, ms.
    pub attack_ms: f32,
    /// Release, ms.
    pub release_ms: f32,
    /// Gain added after, dB.
    pub makeup_db: f32,
}

/// Limiter settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limiter {
    /// Highest sample value out, dBFS.
    pub ceiling_dbfs: f32,
    /// How far it looks ahead (the delay it adds), ms.
    pub lookahead_ms: f32,
    /// Time to recover, ms.
    pub release_ms: f32,
}

/// The whole chain; `None` switches a stage off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainSettings {
    /// Gain first, dB (−20 to +20).
    pub gain_db: f32,
    /// Noise gate.
    pub gate: Option<Gate>,
    /// Compressor.
    pub compressor: Option<Compressor>,
    /// Limiter.
    pub limiter: Option<Limiter>,
}

impl Default for ChainSettings {
    /// Everything off: the samples pass unchanged.
    fn default() -> Self {
        Self {
            gain_db: 0.0,
            gate: None,
            compressor: None,
            limiter: None,
        }
    }
}

impl ChainSettings {
    /// "Voice: clean and levelled": a gentle gate, 3:1 compression of the
    /// loud parts, a limiter at −1 dBFS with 5 ms look-ahead.
    pub fn voice() -> Self {
        Self {
            gain_db: 0.0,
            gate: Some(Gate {
                open_dbfs: -45.0,
                close_dbfs: -50.0,
                attack_ms: 5.0,
                hold_ms: 150.0,
                release_ms: 150.0,
            }),
            compressor: Some(Compressor {
                threshold_dbfs: -20.0,
                ratio: 3.0,
                attack_ms: 5.0,
                release_ms: 120.0,
                makeup_db: 4.0,
            }),
            limiter: Some(Limiter {
                ceiling_dbfs: -1.0,
                lookahead_ms: 5.0,
                release_ms: 80.0,
            }),
        }
    }
}

/// The running chain of one stereo stream.
#[derive(Debug, Clone)]
pub struct Chain {
    settings: ChainSettings,
    rate: f32,
    // Gate.
    gate_env: f32,
    gate_gain: f32,
    gate_open: bool,
    gate_hold_left: u32,
    // Compressor.
    comp_env: f32,
    // Limiter: the delayed frames, and the gain each input frame needs with
    // a monotonic queue of (frame number, gain) for the window minimum.
    delay: VecDeque<(f32, f32)>,
    needs: VecDeque<(u64, f32)>,
    frame: u64,
    lim_gain: f32,
}

impl Chain {
    /// A chain at `rate` frames per second.
    pub fn new(settings: ChainSettings, rate: u32) -> Self {
        Self {
            settings,
            rate: rate.max(1) as f32,
            gate_env: 0.0,
            gate_gain: 0.0,
            gate_open: false,
            gate_hold_left: 0,
            comp_env: 0.0,
            delay: VecDeque::new(),
            needs: VecDeque::new(),
            frame: 0,
            lim_gain: 1.0,
        }
    }

    /// New settings, from the next sample (the limiter's delay follows its
    /// look-ahead).
    pub fn set(&mut self, settings: ChainSettings) {
        self.settings = settings;
    }

    /// The delay the chain adds, frames (the limiter's look-ahead).
    pub fn latency_frames(&self) -> usize {
        self.settings.limiter.map_or(0, |l| {
            (l.lookahead_ms.max(0.0) * 0.001 * self.rate) as usize
        })
    }

    /// Whether the gate is open (true when there is no gate).
    pub fn gate_open(&self) -> bool {
        self.settings.gate.is_none() || self.gate_open
    }

    /// Filters interleaved stereo samples in place.
    pub fn process(&mut self, buf: &mut [f32]) {
        let gain = db_to_amp(self.settings.gain_db.clamp(-20.0, 20.0));
        for frame in buf.chunks_exact_mut(2) {
            let (mut l, mut r) = (frame[0] * gain, frame[1] * gain);
            if let Some(g) = self.settings.gate {
                let k = self.gate(&g, l.abs().max(r.abs()));
                l *= k;
                r *= k;
            }
            if let Some(c) = self.settings.compressor {
                let k = self.compress(&c, l.abs().max(r.abs()));
                l *= k;
                r *= k;
            }
            if let Some(lim) = self.settings.limiter {
                (l, r) = self.limit(&lim, l, r);
            } else if !self.delay.is_empty() {
                // The limiter was switched off: drain its delay line first.
                self.delay.push_back((l, r));
                (l, r) = self.delay.pop_front().unwrap_or((l, r));
            }
            frame[0] = l;
            frame[1] = r;
        }
    }

    fn gate(&mut self, g: &Gate, peak: f32) -> f32 {
        let fall = coeff(20.0, self.rate);
        self.gate_env = if peak > self.gate_env {
            peak
        } else {
            peak + fall * (self.gate_env - peak)
        };
        let level = amp_to_db(self.gate_env);
        if level >= g.open_dbfs {
            self.gate_open = true;
            self.gate_hold_left = (g.hold_ms.max(0.0) * 0.001 * self.rate) as u32;
        } else if level < g.close_dbfs.min(g.open_dbfs) {
            if self.gate_hold_left > 0 {
                self.gate_hold_left -= 1;
            } else {
                self.gate_open = false;
            }
        }
        let (target, ms) = if self.gate_open {
            (1.0, g.attack_ms)
        } else {
            (0.0, g.release_ms)
        };
        let a = coeff(ms, self.rate);
        self.gate_gain = target + a * (self.gate_gain - target);
        self.gate_gain
    }

    fn compress(&mut self, c: &Compressor, peak: f32) -> f32 {
        let a = if peak > self.comp_env {
            coeff(c.attack_ms, self.rate)
        } else {
            coeff(c.release_ms, self.rate)
        };
        self.comp_env = peak + a * (self.comp_env - peak);
        let over = amp_to_db(self.comp_env) - c.threshold_dbfs;
        let reduce = if over > 0.0 {
            over * (1.0 - 1.0 / c.ratio.max(1.0))
        } else {
            0.0
        };
        db_to_amp(c.makeup_db - reduce)
    }

    fn limit(&mut self, lim: &Limiter, l: f32, r: f32) -> (f32, f32) {
        let ceiling = db_to_amp(lim.ceiling_dbfs.min(0.0));
        let lookahead = self.latency_frames() as u64;
        let peak = l.abs().max(r.abs());
        let need = if peak > ceiling { ceiling / peak } else { 1.0 };
        // The window minimum over the frames from now to `lookahead` ahead
        // of the output: a monotonic queue (gains rising from front).
        while self.needs.back().is_some_and(|&(_, g)| g >= need) {
            self.needs.pop_back();
        }
        self.needs.push_back((self.frame, need));
        let out_frame = self.frame.saturating_sub(lookahead);
        // Frames older than the one about to go out no longer matter.
        while self.needs.front().is_some_and(|&(f, _)| f < out_frame) {
            self.needs.pop_front();
        }
        self.frame += 1;
        self.delay.push_back((l, r));
        let window_min = self.needs.front().map_or(1.0, |&(_, g)| g);
        // Down at once to what the window needs (it is met before the peak
        // leaves the delay line); back up at the release rate.
        let rel = coeff(lim.release_ms, self.rate);
        let up = window_min + rel * (self.lim_gain - window_min);
        self.lim_gain = window_min.min(up);
        if (self.delay.len() as u64) <= lookahead {
            // Filling the delay line: silence out.
            return (0.0, 0.0);
        }
        while (self.delay.len() as u64) > lookahead + 1 {
            self.delay.pop_front();
        }
        let (dl, dr) = self.delay.pop_front().unwrap_or((0.0, 0.0));
        (dl * self.lim_gain, dr * self.lim_gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    /// `seconds` of a stereo sine at `freq` Hz and peak `amp`.
    fn sine(freq: f32, amp: f32, seconds: f32) -> Vec<f32> {
        let n = (seconds * RATE as f32) as usize;
        (0..n)
            .flat_map(|i| {
                let v = amp * (2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin();
                [v, v]
            })
            .collect()
    }

    fn peak(x: &[f32]) -> f32 {
        x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    fn run(settings: ChainSettings, mut x: Vec<f32>) -> Vec<f32> {
        let mut c = Chain::new(settings, RATE);
        for chunk in x.chunks_mut(2048) {
            c.process(chunk);
        }
        x
    }

    #[test]
    fn with_every_stage_off_the_samples_pass_unchanged() {
        let x = sine(440.0, 0.5, 0.1);
        assert_eq!(run(ChainSettings::default(), x.clone()), x);
    }

    #[test]
    fn gain_scales_by_its_decibels() {
        let y = run(
            ChainSettings {
                gain_db: 6.0,
                ..ChainSettings::default()
            },
            sine(440.0, 0.25, 0.1),
        );
        assert!(
            (peak(&y) - 0.25 * db_to_amp(6.0)).abs() < 1e-3,
            "{}",
            peak(&y)
        );
    }

    fn gate_only() -> ChainSettings {
        ChainSettings {
            gate: ChainSettings::voice().gate,
            ..ChainSettings::default()
        }
    }

    #[test]
    fn the_gate_silences_what_is_under_its_threshold_and_passes_speech() {
        // Noise at -60 dBFS: closed, silence (after the first few ms).
        let y = run(gate_only(), sine(300.0, db_to_amp(-60.0), 1.0));
        assert!(peak(&y[9600..]) < 1e-6, "{}", peak(&y[9600..]));
        // A voice at -20 dBFS: open, unchanged after the attack.
        let y = run(gate_only(), sine(300.0, db_to_amp(-20.0), 1.0));
        let tail = &y[48_000..];
        assert!(
            (amp_to_db(peak(tail)) + 20.0).abs() < 0.1,
            "{}",
            amp_to_db(peak(tail))
        );
        let mut c = Chain::new(gate_only(), RATE);
        let mut x = sine(300.0, db_to_amp(-20.0), 0.1);
        c.process(&mut x);
        assert!(c.gate_open());
    }

    #[test]
    fn the_gate_holds_then_closes_smoothly() {
        let mut x = sine(300.0, db_to_amp(-20.0), 0.5);
        x.extend(vec![0.0; 2 * RATE as usize]);
        let mut c = Chain::new(gate_only(), RATE);
        let mut gains_open = Vec::new();
        for chunk in x.chunks_mut(960) {
            c.process(chunk);
            gains_open.push(c.gate_open());
        }
        // Open through the tone and the 150 ms hold, closed at the end.
        let per_chunk_ms = 10;
        assert!(gains_open[..(500 + 100) / per_chunk_ms].iter().all(|o| *o));
        assert!(!gains_open.last().unwrap());
    }

    #[test]
    fn the_compressor_reduces_what_is_over_its_threshold_by_its_ratio() {
        let settings = ChainSettings {
            compressor: Some(Compressor {
                threshold_dbfs: -20.0,
                ratio: 4.0,
                attack_ms: 5.0,
                release_ms: 100.0,
                makeup_db: 0.0,
            }),
            ..ChainSettings::default()
        };
        // -4 dBFS peak: 16 dB over, 4:1 → 4 dB over → about -16 dBFS.
        let y = run(settings, sine(1000.0, db_to_amp(-4.0), 1.0));
        let out = amp_to_db(peak(&y[24_000..]));
        assert!((out + 16.0).abs() < 1.0, "{out} dBFS");
        // Under the threshold: untouched.
        let y = run(settings, sine(1000.0, db_to_amp(-30.0), 0.5));
        assert!((amp_to_db(peak(&y[24_000..])) + 30.0).abs() < 0.1);
    }

    fn limiter_only() -> ChainSettings {
        ChainSettings {
            limiter: ChainSettings::voice().limiter,
            ..ChainSettings::default()
        }
    }

    #[test]
    fn the_limiter_holds_a_hot_input_at_its_ceiling_and_never_over() {
        // +6 dBFS: twice full scale.
        let y = run(limiter_only(), sine(997.0, 2.0, 1.0));
        let ceiling = db_to_amp(-1.0);
        assert!(peak(&y) <= ceiling + 1e-6, "{}", peak(&y));
        // And it is not just silence: within 0.5 dB of the ceiling.
        assert!(
            amp_to_db(peak(&y[48_000..])) > -1.5,
            "{}",
            amp_to_db(peak(&y))
        );
        // Sudden peaks from silence are met too (the look-ahead).
        let mut x = vec![0.0f32; 9600];
        x.extend(sine(200.0, 4.0, 0.05));
        x.extend(vec![0.0; 9600]);
        let y = run(limiter_only(), x);
        assert!(peak(&y) <= ceiling + 1e-6, "{}", peak(&y));
    }

    #[test]
    fn the_limiter_leaves_a_quiet_input_as_it_was_only_delayed() {
        let x = sine(440.0, 0.5, 0.2);
        let y = run(limiter_only(), x.clone());
        let d = Chain::new(limiter_only(), RATE).latency_frames() * 2;
        assert_eq!(d, 480, "5 ms at 48 kHz, stereo");
        for (a, b) in x.iter().zip(&y[d..]) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!(y[..d].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn the_voice_preset_keeps_speech_levelled_and_under_the_ceiling() {
        let mut x = sine(220.0, db_to_amp(-30.0), 0.5);
        x.extend(sine(220.0, db_to_amp(3.0), 0.5));
        let y = run(ChainSettings::voice(), x);
        let quiet = amp_to_db(peak(&y[30_000..48_000]));
        let loud = amp_to_db(peak(&y[72_000..]));
        assert!(peak(&y) <= db_to_amp(-1.0) + 1e-6);
        // 33 dB apart in, much closer out.
        assert!(loud - quiet < 20.0, "quiet {quiet}, loud {loud}");
    }
}
