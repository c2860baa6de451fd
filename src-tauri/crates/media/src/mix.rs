//! The audio mix: each source (the microphone, desktop audio, the test
//! tone) through its own filter chain, fader and mute, summed into the one
//! stream every destination gets; meters before and after each source's
//! filters and on the mix (what is encoded), a clip indicator, a master
//! mute. Everything is adjustable live through [`MixControl`] from any
//! thread; the audio thread picks changes up at its next 1024 frames.
//!
//! Every chain delays by the same constant [`Chain::latency_frames`]; the
//! mix asks its sources for the audio of `first_sample + latency`, so what
//! comes out for media time `t` is what was captured at `t` (the audio
//! timestamps stay true; the price is waiting that much longer for the
//! device).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::filters::{db_to_amp, Chain, ChainSettings};
use crate::meter::{AudioLevel, Meter};
use crate::{AudioSource, SourceError};

/// What a source is, for meters and per-second lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A microphone (or any input device).
    Mic,
    /// What the computer plays (the default output's monitor / loopback).
    Desktop,
    /// The test tone.
    Tone,
}

impl SourceKind {
    /// `mic`, `desktop` or `tone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mic => "mic",
            Self::Desktop => "desktop",
            Self::Tone => "tone",
        }
    }
}

/// The fader's range, dB.
pub const FADER_MIN_DB: f32 = -60.0;
/// The fader's top, dB.
pub const FADER_MAX_DB: f32 = 10.0;

/// One source's live controls and meters.
#[derive(Debug)]
pub struct SourceControl {
    kind: SourceKind,
    settings: Mutex<ChainSettings>,
    version: AtomicU64,
    fader_bits: AtomicU32,
    muted: AtomicBool,
    gate_open: AtomicBool,
    /// Level as captured, before the filters.
    pub pre: AudioLevel,
    /// Level after the filters (before the fader and mute).
    pub post: AudioLevel,
}

impl SourceControl {
    fn new(kind: SourceKind, settings: ChainSettings) -> Self {
        Self {
            kind,
            settings: Mutex::new(settings),
            version: AtomicU64::new(0),
            fader_bits: AtomicU32::new(0f32.to_bits()),
            muted: AtomicBool::new(false),
            gate_open: AtomicBool::new(true),
            pre: AudioLevel::default(),
            post: AudioLevel::default(),
        }
    }

    /// What this source is.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// The filters, from the next 1024 frames.
    pub fn set_filters(&self, settings: ChainSettings) {
        if let Ok(mut s) = self.settings.lock() {
            *s = settings;
            self.version.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The filters set.
    pub fn filters(&self) -> ChainSettings {
        self.settings.lock().map(|s| *s).unwrap_or_default()
    }

    /// The fader, dB (clamped to [`FADER_MIN_DB`]..=[`FADER_MAX_DB`]).
    pub fn set_fader_db(&self, db: f32) {
        let db = if db.is_finite() {
            db.clamp(FADER_MIN_DB, FADER_MAX_DB)
        } else {
            0.0
        };
        self.fader_bits.store(db.to_bits(), Ordering::Relaxed);
    }

    /// The fader, dB.
    pub fn fader_db(&self) -> f32 {
        f32::from_bits(self.fader_bits.load(Ordering::Relaxed))
    }

    /// Mutes (the stream carries silence from the next 1024 frames).
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether muted.
    pub fn muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Whether the noise gate is open (true without a gate).
    pub fn gate_open(&self) -> bool {
        self.gate_open.load(Ordering::Relaxed)
    }
}

/// The mix's live controls: the sources', the master mute, the mix meter.
#[derive(Debug)]
pub struct MixControl {
    sources: Vec<Arc<SourceControl>>,
    muted: AtomicBool,
    /// The mix as encoded.
    pub level: AudioLevel,
    clips: AtomicU64,
    /// Frames since the mix last went over the clip level.
    since_clip: AtomicU64,
}

/// How long the clip indicator stays lit after a clip, frames (2 s).
pub const CLIP_HOLD_FRAMES: u64 = 96_000;

impl MixControl {
    /// The sources, in mix order.
    pub fn sources(&self) -> &[Arc<SourceControl>] {
        &self.sources
    }

    /// The source of that kind.
    pub fn source(&self, kind: SourceKind) -> Option<&Arc<SourceControl>> {
        self.sources.iter().find(|s| s.kind == kind)
    }

    /// Mutes the whole mix (silence from the next 1024 frames).
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the whole mix is muted.
    pub fn muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Windows of 1024 frames in which the mix went over the clip level
    /// (the microphone limiter's ceiling, else −1 dBFS).
    pub fn clips(&self) -> u64 {
        self.clips.load(Ordering::Relaxed)
    }

    /// Whether the mix went over the clip level in the last two seconds.
    pub fn clipping(&self) -> bool {
        self.since_clip.load(Ordering::Relaxed) < CLIP_HOLD_FRAMES
    }

    /// The level over which the mix counts as clipping, linear (worked out
    /// when the filters change, not for every 1024 frames).
    fn clip_level(&self) -> f32 {
        let ceiling = self
            .sources
            .iter()
            .filter_map(|s| s.filters().limiter)
            .map(|l| l.ceiling_dbfs)
            .fold(f32::NEG_INFINITY, f32::max);
        db_to_amp(if ceiling.is_finite() { ceiling } else { -1.0 })
    }
}

/// One source with its chain and buffers.
struct Input {
    source: Box<dyn AudioSource>,
    control: Arc<SourceControl>,
    chain: Chain,
    version: u64,
    buf: Vec<f32>,
    pre: Meter,
    post: Meter,
}

/// The mix, as one [`AudioSource`] for the encoder.
pub struct Mix {
    inputs: Vec<Input>,
    control: Arc<MixControl>,
    clip_level: f32,
    meter: Meter,
    latency: u64,
}

impl std::fmt::Debug for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mix")
            .field("sources", &self.control.sources.len())
            .field("latency", &self.latency)
            .finish()
    }
}

impl Mix {
    /// Mixes `sources` (48 kHz stereo each), each with its kind and its
    /// filters to start with.
    pub fn new(sources: Vec<(SourceKind, Box<dyn AudioSource>, ChainSettings)>) -> Self {
        let rate = crate::pipeline::SAMPLE_RATE;
        let inputs: Vec<Input> = sources
            .into_iter()
            .map(|(kind, source, settings)| Input {
                source,
                control: Arc::new(SourceControl::new(kind, settings)),
                chain: Chain::new(settings, rate),
                version: 0,
                buf: Vec::new(),
                pre: Meter::default(),
                post: Meter::default(),
            })
            .collect();
        let latency = Chain::new(ChainSettings::default(), rate).latency_frames() as u64;
        let control = Arc::new(MixControl {
            sources: inputs.iter().map(|i| i.control.clone()).collect(),
            muted: AtomicBool::new(false),
            level: AudioLevel::default(),
            clips: AtomicU64::new(0),
            since_clip: AtomicU64::new(CLIP_HOLD_FRAMES),
        });
        Self {
            inputs,
            clip_level: control.clip_level(),
            control,
            meter: Meter::default(),
            latency,
        }
    }

    /// The live controls and meters.
    pub fn control(&self) -> Arc<MixControl> {
        self.control.clone()
    }

    /// The delay the filters add (and the mix reads ahead), frames.
    pub fn latency_frames(&self) -> u64 {
        self.latency
    }
}

impl AudioSource for Mix {
    fn sample_rate(&self) -> u32 {
        crate::pipeline::SAMPLE_RATE
    }

    fn read(&mut self, out: &mut [f32], first_sample: u64) -> Result<(), SourceError> {
        out.fill(0.0);
        for input in &mut self.inputs {
            input.buf.resize(out.len(), 0.0);
            input
                .source
                .read(&mut input.buf, first_sample + self.latency)?;
            input.pre.feed(&input.buf, &input.control.pre);
            let version = input.control.version.load(Ordering::SeqCst);
            if version != input.version {
                input.version = version;
                input.chain.set(input.control.filters());
                self.clip_level = self.control.clip_level();
            }
            input.chain.process(&mut input.buf);
            input
                .control
                .gate_open
                .store(input.chain.gate_open(), Ordering::Relaxed);
            input.post.feed(&input.buf, &input.control.post);
            if input.control.muted() {
                continue;
            }
            let gain = db_to_amp(input.control.fader_db());
            for (o, s) in out.iter_mut().zip(&input.buf) {
                *o += s * gain;
            }
        }
        if self.control.muted() {
            out.fill(0.0);
        }
        let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let frames = (out.len() / 2) as u64;
        if peak > self.clip_level {
            self.control.clips.fetch_add(1, Ordering::Relaxed);
            self.control.since_clip.store(0, Ordering::Relaxed);
        } else {
            let _ =
                self.control
                    .since_clip
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                        Some(s.saturating_add(frames))
                    });
        }
        // What goes out never passes full scale (the encoder would wrap).
        for v in out.iter_mut() {
            *v = v.clamp(-1.0, 1.0);
        }
        self.meter.feed(out, &self.control.level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady stereo sine at `amp`, `freq` Hz, true to its sample index.
    struct Sine {
        freq: f32,
        amp: f32,
    }

    impl AudioSource for Sine {
        fn sample_rate(&self) -> u32 {
            48_000
        }
        fn read(&mut self, out: &mut [f32], first: u64) -> Result<(), SourceError> {
            for (i, f) in out.chunks_exact_mut(2).enumerate() {
                let t = (first + i as u64) as f32 / 48_000.0;
                let v = self.amp * (2.0 * std::f32::consts::PI * self.freq * t).sin();
                f[0] = v;
                f[1] = v;
            }
            Ok(())
        }
    }

    fn sine(freq: f32, amp: f32) -> Box<dyn AudioSource> {
        Box::new(Sine { freq, amp })
    }

    fn read(mix: &mut Mix, n: u64) -> Vec<f32> {
        let mut all = Vec::new();
        let mut buf = vec![0.0f32; 2048];
        for k in 0..n {
            mix.read(&mut buf, k * 1024).unwrap();
            all.extend_from_slice(&buf);
        }
        all
    }

    #[test]
    fn the_mix_is_the_sum_of_its_sources_on_true_timestamps() {
        let mut mix = Mix::new(vec![
            (
                SourceKind::Mic,
                sine(1000.0, 0.25),
                ChainSettings::default(),
            ),
            (
                SourceKind::Desktop,
                sine(440.0, 0.25),
                ChainSettings::default(),
            ),
        ]);
        let y = read(&mut mix, 10);
        // The chains' delay is read ahead: sample k of the mix is sample k
        // of each source (after the first 25 ms, the delay line's silence).
        let start = mix.latency_frames() as usize;
        assert!(y[..2 * start].iter().all(|v| *v == 0.0));
        for (k, f) in y.chunks_exact(2).enumerate().skip(start) {
            let t = k as f32 / 48_000.0;
            let want = 0.25 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                + 0.25 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
            assert!((f[0] - want).abs() < 1e-3, "frame {k}: {} vs {want}", f[0]);
        }
    }

    #[test]
    fn faders_and_mutes_act_from_the_next_read_and_the_meters_show_them() {
        let mut mix = Mix::new(vec![
            (SourceKind::Mic, sine(1000.0, 0.5), ChainSettings::default()),
            (
                SourceKind::Desktop,
                sine(440.0, 0.5),
                ChainSettings::default(),
            ),
        ]);
        let c = mix.control();
        let mic = c.source(SourceKind::Mic).unwrap().clone();
        let desktop = c.source(SourceKind::Desktop).unwrap().clone();
        desktop.set_muted(true);
        mic.set_fader_db(-6.0);
        let y = read(&mut mix, 5);
        let peak = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5 * db_to_amp(-6.0)).abs() < 2e-3, "{peak}");
        // The muted source is still metered (before the mute).
        assert!((desktop.pre.peak_dbfs() + 6.02).abs() < 0.1);
        assert!((c.level.peak_dbfs() + 12.04).abs() < 0.1);
        // Master mute: digital silence from the very next read.
        c.set_muted(true);
        let y = read(&mut mix, 1);
        assert!(y.iter().all(|v| *v == 0.0));
        assert_eq!(c.level.peak_dbfs(), f32::NEG_INFINITY);
    }

    #[test]
    fn filters_change_live_and_the_meters_read_before_and_after_them() {
        let mut mix = Mix::new(vec![(
            SourceKind::Mic,
            sine(1000.0, 0.1),
            ChainSettings::default(),
        )]);
        let mic = mix.control().sources()[0].clone();
        read(&mut mix, 3);
        assert!((mic.post.peak_dbfs() + 20.0).abs() < 0.1);
        mic.set_filters(ChainSettings {
            gain_db: 6.0,
            ..ChainSettings::default()
        });
        read(&mut mix, 3);
        assert!((mic.pre.peak_dbfs() + 20.0).abs() < 0.1);
        assert!(
            (mic.post.peak_dbfs() + 14.0).abs() < 0.1,
            "{}",
            mic.post.peak_dbfs()
        );
    }

    #[test]
    fn a_mix_over_the_ceiling_lights_the_clip_indicator_and_never_passes_full_scale() {
        let mut mix = Mix::new(vec![
            (SourceKind::Mic, sine(1000.0, 0.8), ChainSettings::default()),
            (
                SourceKind::Desktop,
                sine(440.0, 0.8),
                ChainSettings::default(),
            ),
        ]);
        let c = mix.control();
        assert!(!c.clipping());
        let y = read(&mut mix, 5);
        assert!(c.clipping());
        assert!(c.clips() > 0);
        assert!(y.iter().all(|v| v.abs() <= 1.0));
        // Brought down, it goes out after two seconds.
        c.sources()[1].set_muted(true);
        read(&mut mix, 100);
        assert!(!c.clipping());
    }
}
