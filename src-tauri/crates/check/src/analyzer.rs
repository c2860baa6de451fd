//! The stream check: what an ingest sees of a stream, measured from the FLV
//! tag bodies it received, and whether each platform preset would take it.
//!
//! [`Analyzer`] is sans-IO (tag bodies and their timestamps in, a [`CheckReport`] out)
//! and keeps O(1) state however long the stream runs. [`crate::ingest`]
//! feeds it from a real RTMP ingest on loopback.

use bytes::Bytes;
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, ByteReader};
use onair_flv::read::{self, AudioCodec, AudioPacket, AvcDecoderConfig, VideoCodec, VideoPacket};
use serde::{Deserialize, Serialize};

use onair_profiles::services::{self, Problem, Severity, StreamShape};

/// A gap this many times the nominal spacing counts as a timestamp gap.
const GAP_FACTOR: f64 = 2.0;
/// Audio/video timestamp skew past which the report flags the stream.
pub const MAX_SKEW_MS: f64 = 250.0;
/// Keep `problems` short: repeated faults are counted, listed once.
const MAX_PROBLEMS: usize = 16;

/// Minimum and largest of something, and its mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Spread {
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
}

/// The video track as received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VideoReport {
    /// "H.264", "HEVC"…
    pub codec: String,
    /// "High", "Main", "Constrained Baseline"…
    pub profile: String,
    /// "3.1"…
    pub level: String,
    /// Picture size from the SPS (cropping applied).
    pub width: u32,
    /// Picture size from the SPS.
    pub height: u32,
    /// Frames per second measured from the timestamps.
    pub fps: f64,
    /// Frame rate `onMetaData` announced (0 if none).
    pub fps_declared: f64,
    /// Seconds between keyframes (0 until two have arrived).
    pub keyframe_interval_s: Spread,
    /// kbit/s over the stream, and the busiest second.
    pub kbps: Spread,
    /// Frames received.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub frames: u64,
    /// Keyframes received.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub keyframes: u64,
    /// Frames flagged key that carry no IDR picture.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub keyframes_without_idr: u64,
    /// B-frames in use (composition offsets seen).
    pub b_frames: bool,
    /// The colour description the SPS carries.
    pub colour: ColourReport,
}

/// What the SPS says of the picture's colours (its VUI video signal type).
/// Players take unsignalled HD as BT.709 and SD as BT.601.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ColourReport {
    /// Primaries, transfer and matrix are signalled.
    pub signalled: bool,
    /// "BT.709", "BT.601", "BT.2020", … or "unspecified".
    pub matrix: String,
    /// The primaries, named likewise.
    pub primaries: String,
    /// The transfer characteristics, named likewise.
    pub transfer: String,
    /// "limited", "full", or "unspecified" (no video signal type: players
    /// take limited).
    pub range: String,
}

impl ColourReport {
    fn of(vui: Option<&h264_reader::nal::sps::VuiParameters>) -> Self {
        let signal = vui.and_then(|v| v.video_signal_type.as_ref());
        let desc = signal.and_then(|s| s.colour_description.as_ref());
        let unspecified = || "unspecified".to_owned();
        Self {
            signalled: desc.is_some_and(|d| {
                d.colour_primaries != 2
                    && d.transfer_characteristics != 2
                    && d.matrix_coefficients != 2
            }),
            matrix: desc.map_or_else(unspecified, |d| matrix_name(d.matrix_coefficients)),
            primaries: desc.map_or_else(unspecified, |d| primaries_name(d.colour_primaries)),
            transfer: desc.map_or_else(unspecified, |d| transfer_name(d.transfer_characteristics)),
            range: signal.map_or_else(unspecified, |s| {
                if s.video_full_range_flag {
                    "full"
                } else {
                    "limited"
                }
                .to_owned()
            }),
        }
    }
}

/// H.264 Table E-5 `matrix_coefficients`.
fn matrix_name(v: u8) -> String {
    match v {
        0 => "identity (RGB)".into(),
        1 => "BT.709".into(),
        2 => "unspecified".into(),
        4 => "FCC".into(),
        5 | 6 => "BT.601".into(),
        7 => "SMPTE 240M".into(),
        8 => "YCgCo".into(),
        9 | 10 => "BT.2020".into(),
        v => format!("matrix {v}"),
    }
}

/// H.264 Table E-3 `colour_primaries`.
fn primaries_name(v: u8) -> String {
    match v {
        1 => "BT.709".into(),
        2 => "unspecified".into(),
        4 => "BT.470M".into(),
        5 => "BT.601 625".into(),
        6 => "BT.601 525".into(),
        7 => "SMPTE 240M".into(),
        9 => "BT.2020".into(),
        v => format!("primaries {v}"),
    }
}

/// H.264 Table E-4 `transfer_characteristics`.
fn transfer_name(v: u8) -> String {
    match v {
        1 | 6 | 14 | 15 => "BT.709".into(),
        2 => "unspecified".into(),
        13 => "sRGB".into(),
        16 => "PQ".into(),
        18 => "HLG".into(),
        v => format!("transfer {v}"),
    }
}

/// The audio track as received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AudioReport {
    /// "AAC"…
    pub codec: String,
    /// "AAC-LC"…
    pub profile: String,
    /// Hz.
    pub sample_rate: u32,
    /// 1 mono, 2 stereo.
    pub channels: u8,
    /// kbit/s over the stream, and the busiest second.
    pub kbps: Spread,
    /// Frames received.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub frames: u64,
}

/// Audio against video timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Alignment {
    /// First audio timestamp − first video timestamp, ms.
    pub start_offset_ms: f64,
    /// Audio − video timestamp as the tags arrive, over the last seconds, ms
    /// (what a player's buffer sees; a growing value is drift).
    pub skew_ms: f64,
    /// The largest |skew| seen, ms.
    pub max_skew_ms: f64,
}

/// Holes and steps back in the timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Gaps {
    /// Video gaps longer than twice the frame spacing.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub video: u64,
    /// Audio gaps longer than twice the frame duration.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub audio: u64,
    /// Longest gap, ms.
    pub largest_ms: f64,
    /// Timestamps that went backwards within a track.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub backwards: u64,
}

/// Would this destination take the stream?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Verdict {
    /// The destination's name (a saved profile) or the platform's.
    pub name: String,
    /// Platform preset id.
    pub platform: String,
    /// No error-level problem.
    pub pass: bool,
    /// What the preset objects to.
    pub problems: Vec<Problem>,
}

/// Where the check is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// Nothing received yet.
    #[default]
    Waiting,
    /// A publisher is sending.
    Receiving,
    /// The publisher stopped.
    Ended,
}

/// Everything the stream check knows, for people and for files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CheckReport {
    /// Where it is.
    pub state: CheckState,
    /// Publish sessions seen (a reconnect makes a new one; figures are of
    /// the latest).
    pub sessions: u32,
    /// Media seconds received (video timestamps span).
    pub duration_s: f64,
    /// Video track, once its sequence header arrived.
    pub video: Option<VideoReport>,
    /// Audio track, once its sequence header arrived.
    pub audio: Option<AudioReport>,
    /// Audio against video.
    pub alignment: Alignment,
    /// Timestamp gaps.
    pub gaps: Gaps,
    /// kbit/s of everything, average and busiest second.
    pub total_kbps: Spread,
    /// `encoder` from `onMetaData`.
    pub encoder: String,
    /// What is wrong with the stream itself (not preset-specific).
    pub problems: Vec<String>,
    /// One per destination checked.
    pub verdicts: Vec<Verdict>,
}

impl CheckReport {
    /// The shape of the stream as measured, for [`services::check`].
    pub fn shape(&self) -> Option<StreamShape> {
        let v = self.video.as_ref()?;
        Some(StreamShape {
            width: v.width,
            height: v.height,
            fps: v.fps.round() as u32,
            video_kbps: v.kbps.avg.round() as u32,
            audio_kbps: self.audio.as_ref().map_or(0, |a| a.kbps.avg.round() as u32),
            // 2.02 s between keyframes is a 2 s interval with timestamp jitter.
            keyframe_interval_s: (v.keyframe_interval_s.max - 0.05).ceil().max(0.0) as u32,
        })
    }

    /// Fills `verdicts`: one per destination judged against.
    pub fn judge(&mut self, destinations: &[JudgeTarget]) {
        let shape = self.shape();
        self.verdicts = destinations
            .iter()
            .map(|t| {
                let mut problems = match shape {
                    Some(s) => services::check(&t.platform, &t.server_url, &s),
                    None => vec![Problem {
                        severity: Severity::Error,
                        field: "video".into(),
                        message: "No video received yet.".into(),
                    }],
                };
                if let Some(v) = &self.video {
                    if v.codec != "H.264" {
                        problems.push(Problem {
                            severity: Severity::Error,
                            field: "video_codec".into(),
                            message: format!("RTMP ingest takes H.264; the stream is {}.", v.codec),
                        });
                    }
                }
                if let Some(a) = &self.audio {
                    if a.codec != "AAC" {
                        problems.push(Problem {
                            severity: Severity::Error,
                            field: "audio_codec".into(),
                            message: format!("RTMP ingest takes AAC; the stream is {}.", a.codec),
                        });
                    }
                }
                Verdict {
                    name: t.name.clone(),
                    platform: t.platform.clone(),
                    pass: !problems.iter().any(|p| p.severity == Severity::Error),
                    problems,
                }
            })
            .collect();
    }
}

/// Bytes per media second: the running total and the busiest whole second.
#[derive(Debug, Default, Clone, Copy)]
struct Rate {
    bytes: u64,
    second: Option<i64>,
    in_second: u64,
    peak: u64,
}

impl Rate {
    fn add(&mut self, ts_ms: i64, len: usize) {
        self.bytes += len as u64;
        let s = ts_ms.div_euclid(1000);
        match self.second {
            Some(cur) if cur == s => self.in_second += len as u64,
            Some(cur) if s > cur => {
                self.peak = self.peak.max(self.in_second);
                self.second = Some(s);
                self.in_second = len as u64;
            }
            // Out of order: count it in the total only.
            Some(_) => {}
            None => {
                self.second = Some(s);
                self.in_second = len as u64;
            }
        }
    }

    fn spread(&self, duration_s: f64) -> Spread {
        if duration_s <= 0.0 {
            return Spread::default();
        }
        let avg = self.bytes as f64 * 8.0 / 1000.0 / duration_s;
        // Until a second has completed the busiest is the average.
        let peak = if self.peak > 0 {
            self.peak as f64 * 8.0 / 1000.0
        } else {
            avg
        };
        Spread {
            avg: round1(avg),
            max: round1(peak.max(avg)),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Track {
    first: Option<i64>,
    last: Option<i64>,
    frames: u64,
    rate: Rate,
}

impl Track {
    /// Records a frame; returns the step from the previous one.
    fn add(&mut self, ts: i64, len: usize) -> Option<i64> {
        self.frames += 1;
        self.rate.add(ts, len);
        self.first.get_or_insert(ts);
        let step = self.last.map(|l| ts - l);
        self.last = Some(ts.max(self.last.unwrap_or(ts)));
        step
    }

    fn span_ms(&self) -> i64 {
        match (self.first, self.last) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }
}

/// Unwraps 32-bit RTMP timestamps into a monotonic-ish i64.
#[derive(Debug, Default, Clone, Copy)]
struct Unwrap {
    base: i64,
    last: Option<u32>,
}

impl Unwrap {
    fn next(&mut self, ts: u32) -> i64 {
        if let Some(l) = self.last {
            // A jump back of more than half the range is a wrap.
            if ts < l && l - ts > 1 << 31 {
                self.base += 1 << 32;
            }
        }
        self.last = Some(ts);
        self.base + i64::from(ts)
    }
}

/// The sans-IO stream analyser.
#[derive(Debug, Default)]
pub struct Analyzer {
    state: CheckState,
    sessions: u32,
    unwrap: Unwrap,
    video_cfg: Option<VideoReport>,
    length_size: u8,
    audio_cfg: Option<AudioReport>,
    video: Track,
    audio: Track,
    total: Rate,
    last_key: Option<i64>,
    key_intervals: (f64, f64, u64),
    keyframes: u64,
    no_idr: u64,
    b_frames: bool,
    fps_declared: f64,
    encoder: String,
    /// Skew: exponential mean over about 2 s of arrivals, and the largest.
    skew: Option<f64>,
    max_skew: f64,
    gaps: Gaps,
    problems: Vec<String>,
    faults: u64,
}

impl Analyzer {
    /// Nothing received yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new publisher began: figures start over (the count stays).
    pub fn on_publish(&mut self) {
        let sessions = self.sessions + 1;
        *self = Self {
            sessions,
            state: CheckState::Receiving,
            ..Self::default()
        };
    }

    /// Where the check is.
    pub fn state(&self) -> CheckState {
        self.state
    }

    /// The publisher stopped.
    pub fn on_end(&mut self) {
        if self.state == CheckState::Receiving {
            self.state = CheckState::Ended;
        }
    }

    fn problem(&mut self, text: String) {
        self.faults += 1;
        if self.problems.len() < MAX_PROBLEMS && !self.problems.contains(&text) {
            self.problems.push(text);
        }
    }

    /// A data message (`onMetaData`).
    pub fn on_data(&mut self, body: &[u8]) {
        let Ok(props) = read::parse_metadata(body) else {
            return;
        };
        for (k, v) in props {
            match (k.as_str(), v) {
                ("framerate", onair_flv::amf0::Value::Number(n)) if n.is_finite() => {
                    self.fps_declared = n
                }
                ("encoder", onair_flv::amf0::Value::String(s)) => {
                    self.encoder = s.chars().take(64).collect()
                }
                _ => {}
            }
        }
    }

    /// A video message at RTMP timestamp `ts`.
    pub fn on_video(&mut self, ts: u32, body: &Bytes) {
        let tag = match read::parse_video_tag(body) {
            Ok(t) => t,
            Err(e) => return self.problem(format!("unreadable video tag: {e}")),
        };
        let ts = self.unwrap.next(ts);
        match tag.packet {
            VideoPacket::AvcConfig(cfg) => {
                self.length_size = cfg.length_size;
                match describe_avc(&cfg) {
                    Ok(v) => self.video_cfg = Some(v),
                    Err(e) => self.problem(format!("unreadable H.264 SPS: {e}")),
                }
            }
            VideoPacket::AvcNalu {
                composition_ms,
                data,
            } => {
                if self.video_cfg.is_none() {
                    self.problem("video frames before the AVC sequence header".into());
                }
                if composition_ms != 0 {
                    self.b_frames = true;
                }
                self.on_video_frame(ts, tag.keyframe, body.len());
                if tag.keyframe && !self.has_idr(&data) {
                    self.no_idr += 1;
                    self.problem("a frame flagged as keyframe carries no IDR picture".into());
                }
            }
            VideoPacket::EndOfSequence => {}
            VideoPacket::Other => {
                if self.video_cfg.is_none() {
                    self.video_cfg = Some(VideoReport {
                        codec: tag.codec.name(),
                        ..VideoReport::default()
                    });
                }
                if tag.codec != VideoCodec::Avc {
                    self.on_video_frame(ts, tag.keyframe, body.len());
                }
            }
        }
    }

    fn has_idr(&self, data: &[u8]) -> bool {
        read::avcc_nal_units(data, self.length_size.max(1))
            .map_while(Result::ok)
            .any(|nal| nal.first().map(|h| h & 0x1F) == Some(5))
    }

    fn on_video_frame(&mut self, ts: i64, keyframe: bool, len: usize) {
        if let Some(step) = self.video.add(ts, len) {
            self.step(step, self.nominal_frame_ms(), true);
        }
        self.total.add(ts, len);
        if keyframe {
            self.keyframes += 1;
            if let Some(prev) = self.last_key {
                let d = (ts - prev) as f64 / 1000.0;
                let (sum, max, n) = &mut self.key_intervals;
                *sum += d;
                *max = max.max(d);
                *n += 1;
            }
            self.last_key = Some(ts);
        }
        self.skew_sample();
    }

    fn nominal_frame_ms(&self) -> f64 {
        let fps = if self.fps_declared > 0.0 {
            self.fps_declared
        } else {
            measured_fps(&self.video)
        };
        if fps > 0.0 {
            1000.0 / fps
        } else {
            1000.0 / 30.0
        }
    }

    fn step(&mut self, step: i64, nominal_ms: f64, video: bool) {
        if step < 0 {
            self.gaps.backwards += 1;
            self.problem(format!(
                "{} timestamps went backwards",
                if video { "video" } else { "audio" }
            ));
        } else if step as f64 > GAP_FACTOR * nominal_ms {
            if video {
                self.gaps.video += 1;
            } else {
                self.gaps.audio += 1;
            }
            self.gaps.largest_ms = self.gaps.largest_ms.max(step as f64);
        }
    }

    /// An audio message at RTMP timestamp `ts`.
    pub fn on_audio(&mut self, ts: u32, body: &Bytes) {
        let tag = match read::parse_audio_tag(body) {
            Ok(t) => t,
            Err(e) => return self.problem(format!("unreadable audio tag: {e}")),
        };
        let ts = self.unwrap.next(ts);
        match tag.packet {
            AudioPacket::AacConfig(c) => {
                self.audio_cfg = Some(AudioReport {
                    codec: AudioCodec::Aac.name(),
                    profile: c.profile_name(),
                    sample_rate: c.sample_rate,
                    channels: c.channels,
                    ..AudioReport::default()
                });
            }
            AudioPacket::AacRaw(_) | AudioPacket::Other => {
                if self.audio_cfg.is_none() {
                    if tag.codec == AudioCodec::Aac {
                        self.problem("audio frames before the AAC sequence header".into());
                    }
                    self.audio_cfg = Some(AudioReport {
                        codec: tag.codec.name(),
                        ..AudioReport::default()
                    });
                }
                let frame_ms = match &self.audio_cfg {
                    Some(a) if a.sample_rate > 0 && a.codec == "AAC" => {
                        1_024_000.0 / f64::from(a.sample_rate)
                    }
                    _ => 1_024_000.0 / 48_000.0,
                };
                if let Some(step) = self.audio.add(ts, body.len()) {
                    self.step(step, frame_ms, false);
                }
                self.total.add(ts, body.len());
                self.skew_sample();
            }
        }
    }

    fn skew_sample(&mut self) {
        let (Some(a), Some(v)) = (self.audio.last, self.video.last) else {
            return;
        };
        let d = (a - v) as f64;
        // ~2 s of arrivals at ~80 tags/s.
        let s = match self.skew {
            Some(s) => s + (d - s) / 160.0,
            None => d,
        };
        self.skew = Some(s);
        // The largest of the smoothed value: single arrivals swing by a frame.
        if self.video.frames > 30 {
            self.max_skew = self.max_skew.max(s.abs());
        }
    }

    /// The report as of now.
    pub fn report(&self) -> CheckReport {
        let duration_s = self.video.span_ms().max(self.audio.span_ms()) as f64 / 1000.0
            + self.nominal_frame_ms() / 1000.0 * f64::from(u8::from(self.video.frames > 0));
        let video = self.video_cfg.clone().map(|mut v| {
            v.fps = round2(measured_fps(&self.video));
            v.fps_declared = self.fps_declared;
            let (sum, max, n) = self.key_intervals;
            v.keyframe_interval_s = if n > 0 {
                Spread {
                    avg: round2(sum / n as f64),
                    max: round2(max),
                }
            } else {
                Spread::default()
            };
            v.kbps = self.video.rate.spread(duration_s);
            v.frames = self.video.frames;
            v.keyframes = self.keyframes;
            v.keyframes_without_idr = self.no_idr;
            v.b_frames = self.b_frames;
            v
        });
        let audio = self.audio_cfg.clone().map(|mut a| {
            a.kbps = self.audio.rate.spread(duration_s);
            a.frames = self.audio.frames;
            a
        });
        let start_offset_ms = match (self.audio.first, self.video.first) {
            (Some(a), Some(v)) => (a - v) as f64,
            _ => 0.0,
        };
        let mut problems = self.problems.clone();
        if self.video.frames > 0 && self.keyframes == 0 {
            problems.push("no keyframe received: viewers cannot start watching".into());
        }
        if let Some(v) = video
            .as_ref()
            .filter(|v| v.height >= 720 && !v.colour.signalled)
        {
            problems.push(format!(
                "{}x{} without a colour description: players and platforms guess BT.709, colours may be off",
                v.width, v.height
            ));
        }
        if self.max_skew > MAX_SKEW_MS {
            problems.push(format!(
                "audio and video timestamps drift apart by up to {:.0} ms",
                self.max_skew
            ));
        }
        if self.gaps.video + self.gaps.audio > 0 {
            problems.push(format!(
                "{} timestamp gaps (longest {:.0} ms)",
                self.gaps.video + self.gaps.audio,
                self.gaps.largest_ms
            ));
        }
        CheckReport {
            state: self.state,
            sessions: self.sessions,
            duration_s: round2(duration_s),
            video,
            audio,
            alignment: Alignment {
                start_offset_ms,
                skew_ms: round1(self.skew.unwrap_or(0.0)),
                max_skew_ms: round1(self.max_skew),
            },
            gaps: self.gaps,
            total_kbps: self.total.spread(duration_s),
            encoder: self.encoder.clone(),
            problems,
            verdicts: Vec::new(),
        }
    }
}

/// A destination the stream is judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeTarget {
    /// Shown in the verdict (the profile's or the platform's name).
    pub name: String,
    /// Platform id (`twitch`, `youtube`, …, `custom`).
    pub platform: String,
    /// Its ingest server URL (some presets differ by server).
    pub server_url: String,
    /// The name of the encoding it gets (empty: `main`): judged against
    /// what the check receives of that encoding.
    pub encoding: String,
}

impl JudgeTarget {
    /// A target from its parts, getting the `main` encoding.
    pub fn new(
        name: impl Into<String>,
        platform: impl Into<String>,
        server_url: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            platform: platform.into(),
            server_url: server_url.into(),
            encoding: String::new(),
        }
    }
}

/// What to judge the stream against: each saved destination, or, with none
/// saved, every platform preset at its first server (so a new user sees
/// where the stream would be accepted).
pub fn judge_targets(profiles: &[onair_profiles::store::Profile]) -> Vec<JudgeTarget> {
    if !profiles.is_empty() {
        return profiles
            .iter()
            .map(|p| JudgeTarget {
                encoding: p.encoding.clone(),
                ..JudgeTarget::new(&p.name, &p.platform, &p.server_url)
            })
            .collect();
    }
    services::platforms()
        .iter()
        .filter_map(|p| {
            let server = p.servers.first()?;
            Some(JudgeTarget::new(&p.name, &p.id, &server.url))
        })
        .collect()
}

impl CheckReport {
    /// The report for people, one fact per line.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let state = match self.state {
            CheckState::Waiting => "waiting for the stream",
            CheckState::Receiving => "receiving",
            CheckState::Ended => "ended",
        };
        let _ = writeln!(
            t,
            "Stream check: {state}, {:.1} s received",
            self.duration_s
        );
        match &self.video {
            Some(v) => {
                let _ = writeln!(
                    t,
                    "  video  {} {} level {}, {}x{}, {:.2} fps{}, keyframe every {:.2} s (max {:.2}), {:.0} kbps (peak {:.0})",
                    v.codec,
                    v.profile,
                    v.level,
                    v.width,
                    v.height,
                    v.fps,
                    if v.fps_declared > 0.0 { format!(" (announced {})", v.fps_declared) } else { String::new() },
                    v.keyframe_interval_s.avg,
                    v.keyframe_interval_s.max,
                    v.kbps.avg,
                    v.kbps.max
                );
                let c = &v.colour;
                let _ = writeln!(
                    t,
                    "  colour {} (primaries {}, transfer {}), {} range{}",
                    c.matrix,
                    c.primaries,
                    c.transfer,
                    c.range,
                    if c.signalled { "" } else { ", not signalled" }
                );
            }
            None => {
                let _ = writeln!(t, "  video  none received");
            }
        }
        match &self.audio {
            Some(a) => {
                let _ = writeln!(
                    t,
                    "  audio  {} {}, {} Hz, {} channel(s), {:.0} kbps (peak {:.0})",
                    a.codec, a.profile, a.sample_rate, a.channels, a.kbps.avg, a.kbps.max
                );
            }
            None => {
                let _ = writeln!(t, "  audio  none received");
            }
        }
        let _ = writeln!(
            t,
            "  sync   audio starts {:+.0} ms from video, skew {:+.1} ms (largest {:.1} ms)",
            self.alignment.start_offset_ms, self.alignment.skew_ms, self.alignment.max_skew_ms
        );
        let _ = writeln!(
            t,
            "  gaps   {} video, {} audio (longest {:.0} ms), {} backwards",
            self.gaps.video, self.gaps.audio, self.gaps.largest_ms, self.gaps.backwards
        );
        let _ = writeln!(
            t,
            "  total  {:.0} kbps (peak {:.0})",
            self.total_kbps.avg, self.total_kbps.max
        );
        for p in &self.problems {
            let _ = writeln!(t, "  problem: {p}");
        }
        for v in &self.verdicts {
            let _ = writeln!(
                t,
                "  {} {} ({})",
                if v.pass { "PASS" } else { "FAIL" },
                v.name,
                v.platform
            );
            for p in &v.problems {
                let _ = writeln!(t, "       {:?}: {}", p.severity, p.message);
            }
        }
        t
    }
}

fn measured_fps(t: &Track) -> f64 {
    let span = t.span_ms();
    if t.frames < 2 || span <= 0 {
        return 0.0;
    }
    (t.frames - 1) as f64 * 1000.0 / span as f64
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Codec, profile, level and picture size from the decoder configuration.
fn describe_avc(cfg: &AvcDecoderConfig) -> Result<VideoReport, String> {
    let nal = cfg.sps.first().ok_or("no SPS in the sequence header")?;
    let sps =
        SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(&nal[..])))
            .map_err(|e| format!("{e:?}"))?;
    let (width, height) = sps.pixel_dimensions().map_err(|e| format!("{e:?}"))?;
    let profile_idc = u8::from(sps.profile_idc);
    let constraint: u8 = cfg.compatibility;
    Ok(VideoReport {
        codec: "H.264".into(),
        profile: profile_name(profile_idc, constraint),
        level: level_name(sps.level_idc, profile_idc, constraint),
        width,
        height,
        colour: ColourReport::of(sps.vui_parameters.as_ref()),
        ..VideoReport::default()
    })
}

/// H.264 profile name from `profile_idc` and the constraint flags.
pub fn profile_name(profile_idc: u8, constraints: u8) -> String {
    let set1 = constraints & 0x40 != 0;
    match profile_idc {
        66 if set1 => "Constrained Baseline".into(),
        66 => "Baseline".into(),
        77 => "Main".into(),
        88 => "Extended".into(),
        100 => "High".into(),
        110 => "High 10".into(),
        122 => "High 4:2:2".into(),
        244 => "High 4:4:4 Predictive".into(),
        p => format!("profile {p}"),
    }
}

/// H.264 level name ("3.1"; level_idc 11 with constraint_set3 in Baseline
/// is "1b").
pub fn level_name(level_idc: u8, profile_idc: u8, constraints: u8) -> String {
    if level_idc == 9
        || (level_idc == 11 && matches!(profile_idc, 66 | 77) && constraints & 0x10 != 0)
    {
        return "1b".into();
    }
    format!("{}.{}", level_idc / 10, level_idc % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_stream(a: &mut Analyzer, seconds: u32, fps: u32, gop: u32) {
        a.on_publish();
        a.on_data(&onair_flv::metadata_body(&onair_flv::Metadata {
            width: 64,
            height: 48,
            framerate: f64::from(fps),
            video_kbps: 100,
            audio_kbps: Some(64),
            audio_sample_rate: 48_000,
            audio_channels: 2,
            encoder: "test".into(),
        }));
        // Baseline 64x48 SPS (x264-made) and a PPS.
        let sps = Bytes::from_static(&[
            0x67, 0x42, 0xC0, 0x0A, 0xD9, 0x04, 0x7B, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
            0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x22, 0x64, 0x80,
        ]);
        let pps = Bytes::from_static(&[0x68, 0xCB, 0x83, 0xCB, 0x20]);
        a.on_video(
            0,
            &onair_flv::avc_sequence_header(&onair_flv::AvcConfig { sps, pps }),
        );
        let asc = onair_flv::audio_specific_config_lc(48_000, 2).unwrap();
        a.on_audio(0, &onair_flv::aac_sequence_header(&asc));
        let frames = seconds * fps;
        let mut next_audio = 0.0f64;
        for i in 0..frames {
            let ts = (f64::from(i) * 1000.0 / f64::from(fps)).round() as u32;
            let key = i % gop == 0;
            let au: &[u8] = if key {
                &[0, 0, 0, 1, 0x65, 1, 2, 3]
            } else {
                &[0, 0, 0, 1, 0x41, 1]
            };
            // 1000 bytes of payload per frame: 8 kbit * fps.
            let mut data = au.to_vec();
            data.resize(1000 - 5, 0xAA);
            a.on_video(ts, &onair_flv::avc_nalu(&data, key, 0));
            while next_audio <= f64::from(ts) {
                a.on_audio(next_audio.round() as u32, &onair_flv::aac_raw(&[0u8; 198]));
                next_audio += 1024.0 * 1000.0 / 48_000.0;
            }
        }
    }

    #[test]
    fn a_clean_stream_is_measured_from_its_tags() {
        let mut a = Analyzer::new();
        feed_stream(&mut a, 10, 30, 60);
        let r = a.report();
        let v = r.video.as_ref().unwrap();
        assert_eq!(
            (v.codec.as_str(), v.profile.as_str(), v.level.as_str()),
            ("H.264", "Constrained Baseline", "1.0")
        );
        assert_eq!((v.width, v.height), (64, 48));
        assert!((v.fps - 30.0).abs() < 0.05, "{}", v.fps);
        assert_eq!(v.keyframe_interval_s, Spread { avg: 2.0, max: 2.0 });
        assert!((v.kbps.avg - 240.0).abs() < 3.0, "{:?}", v.kbps);
        assert_eq!(v.keyframes, 5);
        assert_eq!(v.keyframes_without_idr, 0);
        let au = r.audio.as_ref().unwrap();
        assert_eq!(
            (au.profile.as_str(), au.sample_rate, au.channels),
            ("AAC-LC", 48_000, 2)
        );
        assert!((au.kbps.avg - 75.0).abs() < 2.0, "{:?}", au.kbps);
        assert_eq!(r.gaps, Gaps::default());
        assert!(r.alignment.max_skew_ms < 40.0, "{:?}", r.alignment);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.encoder, "test");
        assert_eq!(r.shape().unwrap().keyframe_interval_s, 2);
    }

    #[test]
    fn verdicts_follow_each_preset() {
        let mut a = Analyzer::new();
        feed_stream(&mut a, 7, 30, 90); // keyframe every 3 s
        let mut r = a.report();
        r.judge(&[
            JudgeTarget::new("My Twitch", "twitch", "rtmp://live.twitch.tv/app"),
            JudgeTarget::new("YT", "youtube", "rtmps://a.rtmps.youtube.com/live2"),
        ]);
        assert!(!r.verdicts[0].pass, "Twitch needs 2 s keyframes");
        assert!(r.verdicts[0]
            .problems
            .iter()
            .any(|p| p.field == "keyframe_interval_s"));
        assert!(r.verdicts[1].pass, "{:?}", r.verdicts[1].problems);
    }

    #[test]
    fn gaps_steps_back_and_false_keyframes_are_reported() {
        let mut a = Analyzer::new();
        feed_stream(&mut a, 2, 30, 30);
        // 500 ms hole, then a step back, then a "keyframe" without an IDR.
        a.on_video(2500, &onair_flv::avc_nalu(&[0, 0, 0, 1, 0x41, 1], false, 0));
        a.on_video(2400, &onair_flv::avc_nalu(&[0, 0, 0, 1, 0x41, 1], false, 0));
        a.on_video(2600, &onair_flv::avc_nalu(&[0, 0, 0, 1, 0x41, 1], true, 0));
        let r = a.report();
        assert_eq!(r.gaps.video, 2, "{:?}", r.gaps);
        assert_eq!(r.gaps.backwards, 1);
        assert!(r.gaps.largest_ms >= 500.0);
        assert_eq!(r.video.unwrap().keyframes_without_idr, 1);
        assert!(r.problems.iter().any(|p| p.contains("backwards")));
    }

    #[test]
    fn garbage_tags_are_problems_not_panics_and_problems_stay_bounded() {
        let mut a = Analyzer::new();
        a.on_publish();
        for i in 0..10_000u32 {
            let junk = Bytes::from(
                (0..(i % 40))
                    .map(|j| (i * 31 + j) as u8)
                    .collect::<Vec<_>>(),
            );
            a.on_video(i, &junk);
            a.on_audio(i, &junk);
            a.on_data(&junk);
        }
        let r = a.report();
        assert!(r.problems.len() <= MAX_PROBLEMS + 3);
    }

    #[test]
    fn timestamps_wrapping_at_2_pow_32_stay_monotonic() {
        let mut u = Unwrap::default();
        assert_eq!(u.next(u32::MAX - 10), i64::from(u32::MAX) - 10);
        assert_eq!(u.next(20), (1i64 << 32) + 20);
    }

    /// The SPS our encoder writes for a `w`x`h` picture.
    fn our_sps(w: usize, h: usize) -> AvcDecoderConfig {
        let mut enc = onair_media::H264Encoder::new(onair_media::H264Config {
            width: w,
            height: h,
            fps: 30,
            bitrate_kbps: 1000,
            keyframe_interval_s: 1,
        })
        .unwrap();
        let v = enc
            .encode(&onair_media::I420Frame::black(w, h), 0)
            .unwrap()
            .expect("a keyframe");
        let body = onair_flv::avc_sequence_header(&onair_flv::AvcConfig {
            sps: v.sps.unwrap(),
            pps: v.pps.unwrap(),
        });
        match read::parse_video_tag(&body).unwrap().packet {
            VideoPacket::AvcConfig(c) => c,
            _ => panic!("not a sequence header"),
        }
    }

    #[test]
    fn our_stream_signals_bt709_for_hd_and_bt601_below() {
        let hd = describe_avc(&our_sps(1280, 720)).unwrap().colour;
        assert_eq!(
            hd,
            ColourReport {
                signalled: true,
                matrix: "BT.709".into(),
                primaries: "BT.709".into(),
                transfer: "BT.709".into(),
                range: "limited".into(),
            }
        );
        let sd = describe_avc(&our_sps(640, 360)).unwrap().colour;
        assert!(sd.signalled);
        assert_eq!(
            (sd.matrix.as_str(), sd.primaries.as_str()),
            ("BT.601", "BT.601 525")
        );
        assert_eq!(sd.range, "limited");
    }

    #[test]
    fn unsignalled_colour_is_reported_and_warned_about_only_for_hd() {
        // The x264 SPS of the test stream has no VUI.
        let mut a = Analyzer::new();
        feed_stream(&mut a, 2, 30, 30);
        let r = a.report();
        let c = &r.video.as_ref().unwrap().colour;
        assert!(!c.signalled);
        assert_eq!(
            (c.matrix.as_str(), c.range.as_str()),
            ("unspecified", "unspecified")
        );
        assert!(r.to_text().contains("not signalled"));
        assert!(
            !r.problems.iter().any(|p| p.contains("colour")),
            "64x48 is SD"
        );
        let mut hd = r.clone();
        if let Some(v) = hd.video.as_mut() {
            v.height = 720;
        }
        let mut a = Analyzer::new();
        a.video_cfg = hd.video.clone();
        a.video.frames = 1;
        assert!(a
            .report()
            .problems
            .iter()
            .any(|p| p.contains("without a colour description")));
    }

    #[test]
    fn profile_and_level_names() {
        assert_eq!(profile_name(100, 0), "High");
        assert_eq!(profile_name(66, 0x40), "Constrained Baseline");
        assert_eq!(level_name(31, 100, 0), "3.1");
        assert_eq!(level_name(11, 66, 0x10), "1b");
    }
}
