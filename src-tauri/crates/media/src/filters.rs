//! A source's filter chain: gain, noise suppression (RNNoise), noise gate,
//! compressor and a look-ahead limiter, in that order, each switchable
//! live; sans-IO (samples in, samples out, no clock), for interleaved
//! stereo `f32` at 48 kHz.
//!
//! The chain delays its output by a **constant** [`Chain::latency_frames`]
//! whatever is switched on (a stage that is off delays by as much as it
//! would when on), so switching a filter live never shifts the audio
//! against the picture; the mix reads its sources that much ahead to keep
//! the timestamps true.
//!
//! - **Noise suppression**: RNNoise (`nnnoiseless`) on 10 ms frames, its
//!   own delay one frame, plus one frame of framing: 20 ms. A mono source
//!   (both channels equal) is denoised once.
//! - **Gate**: a peak envelope (instant attack, 20 ms fall) opens the gate
//!   above `open_dbfs` and closes it below `close_dbfs` (hysteresis) once
//!   `hold_ms` passed; the gain glides linearly to 1 in `attack_ms` and to
//!   0 (digital silence) in `release_ms` (no clicks).
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

/// Limiter settings (its look-ahead is [`LOOKAHEAD_MS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limiter {
    /// Highest sample value out, dBFS.
    pub ceiling_dbfs: f32,
    /// Time to recover, ms.
    pub release_ms: f32,
}

/// How far the limiter looks ahead, ms (a delay the chain always has).
pub const LOOKAHEAD_MS: f32 = 5.0;

/// RNNoise's frame, frames (10 ms at 48 kHz).
pub const DENOISE_FRAME: usize = nnnoiseless::DenoiseState::FRAME_SIZE;

/// The whole chain; `None` switches a stage off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainSettings {
    /// Gain first, dB (−20 to +20).
    pub gain_db: f32,
    /// Noise suppression (RNNoise).
    pub denoise: bool,
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
            denoise: false,
            gate: None,
            compressor: None,
            limiter: None,
        }
    }
}

impl ChainSettings {
    /// "Voice: clean and levelled": noise suppression, a gentle gate, 3:1
    /// compression of the loud parts, a limiter at −1 dBFS.
    pub fn voice() -> Self {
        Self {
            gain_db: 0.0,
            denoise: true,
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
                release_ms: 80.0,
            }),
        }
    }
}

/// RNNoise on a stereo stream, in 10 ms frames, with a constant delay of
/// two frames (framing + RNNoise's own), on or off.
struct Denoise {
    states: [Box<nnnoiseless::DenoiseState<'static>>; 2],
    /// Whether the states have seen audio since they were made (a stage
    /// switched on again starts fresh rather than from stale history).
    used: bool,
    /// Input not yet a whole frame, interleaved.
    pending: Vec<f32>,
    /// Output ready, interleaved; starts with one frame of silence (framing).
    ready: VecDeque<f32>,
    /// The previous input frame, interleaved: what goes out while off
    /// (RNNoise's own delay is one frame).
    previous: Vec<f32>,
    planes: [Vec<f32>; 2],
    outs: [Vec<f32>; 2],
}

impl std::fmt::Debug for Denoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoise").finish_non_exhaustive()
    }
}

impl Clone for Denoise {
    /// A fresh stage with the same delay line (RNNoise's state is not
    /// cloneable; the copy starts its suppression afresh).
    fn clone(&self) -> Self {
        let mut d = Self::new();
        d.pending.clone_from(&self.pending);
        d.ready.clone_from(&self.ready);
        d.previous.clone_from(&self.previous);
        d
    }
}

impl Denoise {
    /// Its delay, frames.
    const LATENCY: usize = 2 * DENOISE_FRAME;

    fn new() -> Self {
        Self {
            states: [
                nnnoiseless::DenoiseState::new(),
                nnnoiseless::DenoiseState::new(),
            ],
            used: false,
            pending: Vec::with_capacity(2 * DENOISE_FRAME),
            ready: std::iter::repeat_n(0.0, 2 * DENOISE_FRAME).collect(),
            previous: vec![0.0; 2 * DENOISE_FRAME],
            planes: [vec![0.0; DENOISE_FRAME], vec![0.0; DENOISE_FRAME]],
            outs: [vec![0.0; DENOISE_FRAME], vec![0.0; DENOISE_FRAME]],
        }
    }

    /// Runs one whole frame (`self.pending`) into `self.ready`.
    fn frame(&mut self, on: bool) {
        if !on {
            self.ready.extend(self.previous.iter().copied());
            std::mem::swap(&mut self.previous, &mut self.pending);
            self.pending.clear();
            if self.used {
                self.states = [
                    nnnoiseless::DenoiseState::new(),
                    nnnoiseless::DenoiseState::new(),
                ];
                self.used = false;
            }
            return;
        }
        // RNNoise works on 16-bit-scaled samples.
        const SCALE: f32 = 32_768.0;
        let mono = self.pending.chunks_exact(2).all(|f| f[0] == f[1]);
        for (i, f) in self.pending.chunks_exact(2).enumerate() {
            self.planes[0][i] = f[0] * SCALE;
            self.planes[1][i] = f[1] * SCALE;
        }
        let [s0, s1] = &mut self.states;
        let [o0, o1] = &mut self.outs;
        s0.process_frame(o0, &self.planes[0]);
        if mono {
            o1.copy_from_slice(o0);
        } else {
            s1.process_frame(o1, &self.planes[1]);
        }
        self.used = true;
        for i in 0..DENOISE_FRAME {
            self.ready.push_back(self.outs[0][i] / SCALE);
            self.ready.push_back(self.outs[1][i] / SCALE);
        }
        std::mem::swap(&mut self.previous, &mut self.pending);
        self.pending.clear();
    }

    /// Interleaved stereo in place, delayed by [`Self::LATENCY`].
    fn process(&mut self, buf: &mut [f32], on: bool) {
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let room = 2 * DENOISE_FRAME - self.pending.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.pending.extend_from_slice(now);
            rest = later;
            if self.pending.len() == 2 * DENOISE_FRAME {
                self.frame(on);
            }
        }
        for v in buf.iter_mut() {
            *v = self.ready.pop_front().unwrap_or(0.0);
        }
    }
}

/// The running chain of one stereo stream.
#[derive(Debug, Clone)]
pub struct Chain {
    settings: ChainSettings,
    rate: f32,
    denoise: Denoise,
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
            denoise: Denoise::new(),
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

    /// New settings, from the next sample (the delay stays as it was).
    pub fn set(&mut self, settings: ChainSettings) {
        self.settings = settings;
    }

    /// The settings running.
    pub fn settings(&self) -> &ChainSettings {
        &self.settings
    }

    /// The delay the chain adds, frames, whatever is switched on: noise
    /// suppression's two frames and the limiter's look-ahead.
    pub fn latency_frames(&self) -> usize {
        Denoise::LATENCY + self.lookahead_frames()
    }

    fn lookahead_frames(&self) -> usize {
        (LOOKAHEAD_MS * 0.001 * self.rate) as usize
    }

    /// Whether the gate is open (true when there is no gate).
    pub fn gate_open(&self) -> bool {
        self.settings.gate.is_none() || self.gate_open
    }

    /// Filters interleaved stereo samples in place.
    pub fn process(&mut self, buf: &mut [f32]) {
        let gain = db_to_amp(self.settings.gain_db.clamp(-20.0, 20.0));
        if gain != 1.0 {
            buf.iter_mut().for_each(|v| *v *= gain);
        }
        self.denoise.process(buf, self.settings.denoise);
        for frame in buf.chunks_exact_mut(2) {
            let (mut l, mut r) = (frame[0], frame[1]);
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
            let off = Limiter {
                ceiling_dbfs: f32::INFINITY,
                release_ms: 0.0,
            };
            let lim = self.settings.limiter.unwrap_or(off);
            (l, r) = self.limit(&lim, l, r);
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
        // Linear glides: fully open in `attack_ms`, fully closed (digital
        // silence) in `release_ms`.
        let step = |ms: f32| 1.0 / (ms.max(0.0) * 0.001 * self.rate).max(1.0);
        self.gate_gain = if self.gate_open {
            (self.gate_gain + step(g.attack_ms)).min(1.0)
        } else {
            (self.gate_gain - step(g.release_ms)).max(0.0)
        };
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
        // Off (an infinite ceiling): the delay only, gain 1.
        let ceiling = if lim.ceiling_dbfs.is_finite() {
            db_to_amp(lim.ceiling_dbfs.min(0.0))
        } else {
            f32::INFINITY
        };
        let lookahead = self.lookahead_frames() as u64;
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

    /// `y` is `x` delayed by the chain's latency, within `tol`.
    fn assert_delayed(x: &[f32], y: &[f32], tol: f32) {
        let d = latency() * 2;
        assert!(y[..d].iter().all(|v| *v == 0.0));
        for (i, (a, b)) in x.iter().zip(&y[d..]).enumerate() {
            assert!((a - b).abs() <= tol, "sample {i}: {a} vs {b}");
        }
    }

    fn latency() -> usize {
        Chain::new(ChainSettings::default(), RATE).latency_frames()
    }

    #[test]
    fn the_chain_delays_by_25_ms_whatever_is_switched_on() {
        assert_eq!(latency(), 1200, "20 ms denoise + 5 ms look-ahead at 48 kHz");
        assert_eq!(
            Chain::new(ChainSettings::voice(), RATE).latency_frames(),
            latency()
        );
    }

    #[test]
    fn with_every_stage_off_the_samples_pass_unchanged_only_delayed() {
        let x = sine(440.0, 0.5, 0.2);
        assert_delayed(&x, &run(ChainSettings::default(), x.clone()), 0.0);
        // In odd chunk sizes too.
        let mut y = x.clone();
        let mut c = Chain::new(ChainSettings::default(), RATE);
        for chunk in y.chunks_mut(2 * 333) {
            c.process(chunk);
        }
        assert_delayed(&x, &y, 0.0);
    }

    #[test]
    fn switching_a_stage_live_keeps_the_delay() {
        // A click at a known place, with noise suppression switched on and
        // off around it: it comes out exactly `latency` later.
        let mut x = vec![0.0f32; 2 * 48_000];
        x[2 * 30_000] = 0.5;
        x[2 * 30_000 + 1] = 0.5;
        let mut c = Chain::new(ChainSettings::default(), RATE);
        let mut y = x.clone();
        for (i, chunk) in y.chunks_mut(2048).enumerate() {
            c.set(ChainSettings {
                denoise: i % 3 == 1,
                ..ChainSettings::default()
            });
            c.process(chunk);
        }
        let at = y.iter().position(|v| *v != 0.0).map(|i| i / 2);
        assert_eq!(at, Some(30_000 + latency()));
    }

    /// Pseudo-random pink noise (a fan's, roughly) around `amp`, stereo.
    fn noise(amp: f32, seconds: f32) -> Vec<f32> {
        crate::pink_noise(0x1234_5678, (seconds * RATE as f32) as usize)
            .into_iter()
            .flat_map(|v| [amp * 0.3 * v; 2])
            .collect()
    }

    fn rms_db(x: &[f32]) -> f32 {
        let e = x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32;
        10.0 * e.max(1e-20).log10()
    }

    #[test]
    fn noise_suppression_takes_steady_noise_down() {
        let settings = ChainSettings {
            denoise: true,
            ..ChainSettings::default()
        };
        let x = noise(db_to_amp(-30.0), 2.0);
        let y = run(settings, x.clone());
        let (before, after) = (rms_db(&x[96_000..]), rms_db(&y[96_000..]));
        assert!(before - after > 15.0, "{before} dB -> {after} dB");
        // Off, the same noise passes.
        let y = run(ChainSettings::default(), x.clone());
        assert!((rms_db(&y[96_000..]) - before).abs() < 0.5);
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
        c.process(&mut vec![0.0; 2 * 48_000]);
        assert!(!c.gate_open());
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
        // Open through the tone and the 150 ms hold (after the 20 ms of
        // noise suppression's delay), closed at the end.
        let per_chunk_ms = 10;
        assert!(gains_open[3..(500 + 100) / per_chunk_ms].iter().all(|o| *o));
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
        assert_delayed(&x, &run(limiter_only(), x.clone()), 1e-6);
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
