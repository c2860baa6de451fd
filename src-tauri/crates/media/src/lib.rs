//! Media: sources, the media clock, and the encoders on their own threads.
//!
//! A [`Capture`] runs the sources with no encoder: one capture thread (the
//! video source at the largest size and highest frame rate any encoding
//! needs: the canvas) and one audio thread reading the source at its pace,
//! both paced by one [`MediaClock`] — so a preview and meters run before
//! going live. A [`Pipeline`] attaches to it: one thread per video encoding
//! (crop and scale with [`scale::Scaler`], then an [`H264Encoder`]) and an
//! [`AacEncoder`] fed by the audio thread, shared by every encoding; its
//! media time 0 is the first picture it takes, frame `n` of an encoding at
//! `n / fps`, audio sample `k` at `k / 48000`. It leaves, the sources stay. An encoding that cannot keep up skips its own frames; the
//! capture and the other encodings do not wait for it. Every [`EncodedPacket`] carries its pts on that clock and the
//! instant it was captured, so latency can be measured downstream. Encoded
//! output goes to a [`MediaSink`], which must not block (the encoder never
//! waits for the network).
//!
//! This crate knows nothing of FLV, RTMP or sockets.
//!
//! ```no_run
//! use std::sync::Arc;
//! use onair_media::*;
//! struct Print;
//! impl MediaSink for Print {
//!     fn on_media(&self, m: MediaMessage) { println!("{m:?}"); }
//! }
//! let cfg = PipelineConfig::default();
//! let (w, h, fps) = cfg.canvas();
//! let video = Box::new(TestPattern::new(w, h, fps));
//! let audio: Box<dyn AudioSource> = Box::new(Tone::new(48_000));
//! let p = Pipeline::start(cfg, video, Some(audio), MediaClock::start_now(), Arc::new(Print)).unwrap();
//! p.stop();
//! p.join().unwrap();
//! ```

mod aac;
pub mod align;
pub mod camera;
mod camera_nokhwa;
mod clock;
pub mod colour;
pub mod convert;
pub mod filters;
mod frame;
mod h264;
pub mod meter;
pub mod mic;
pub mod mix;
pub mod pattern;
mod pipeline;
pub mod preview;
pub mod scale;
mod tone;

use std::time::Instant;

use bytes::Bytes;

pub use aac::{AacEncoder, EncodedAudio, AAC_FRAME_SAMPLES};
pub use camera::{CameraMode, CameraSource, CameraStats};
pub use camera_nokhwa::{list_cameras, CameraInfo, NokhwaOpener};
pub use clock::MediaClock;
pub use colour::Colour;
pub use convert::PixelFormat;
pub use frame::I420Frame;
pub use h264::{EncodedVideo, H264Config, H264Encoder};
pub use pattern::TestPattern;
pub use pipeline::{AudioSettings, Capture, EncoderStats, Pipeline, PipelineConfig, VideoEncoding};
pub use tone::{pink_noise, Tone};

/// Errors of sources, encoders and the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// A picture size the encoder cannot take.
    #[error("unsupported picture size {width}x{height} (even sizes from 16x16 up)")]
    BadSize {
        /// Width.
        width: usize,
        /// Height.
        height: usize,
    },
    /// The encoder library failed.
    #[error("encoder error: {0}")]
    Encoder(String),
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A media thread panicked or could not start.
    #[error("media thread failed: {0}")]
    Thread(String),
}

/// Errors of a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The device went away.
    #[error("source lost: {0}")]
    Lost(String),
    /// No such device.
    #[error("{0}")]
    NotFound(String),
    /// The device is there but cannot be used as asked.
    #[error("{0}")]
    Unsupported(String),
}

/// When a video frame is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTime {
    /// Frame number since media time 0.
    pub index: u64,
    /// Presentation time on the media clock, ms.
    pub pts_ms: i64,
    /// Wall-clock time of capture, ms since the Unix epoch.
    pub wall_unix_ms: u64,
}

/// Produces raw I420 frames (camera, test pattern).
pub trait VideoSource: Send {
    /// Picture size.
    fn size(&self) -> (usize, usize);
    /// Fills `frame` with the picture for time `t`.
    fn next_frame(&mut self, frame: &mut I420Frame, t: FrameTime) -> Result<(), SourceError>;
}

/// Produces interleaved stereo f32 samples (microphone, tone).
pub trait AudioSource: Send {
    /// Sample rate in Hz.
    fn sample_rate(&self) -> u32;
    /// Fills `out` (interleaved stereo) with samples from `first_sample` on.
    fn read(&mut self, out: &mut [f32], first_sample: u64) -> Result<(), SourceError>;
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// H.264 video.
    Video,
    /// AAC audio.
    Audio,
}

/// One encoded access unit.
#[derive(Debug, Clone)]
pub struct EncodedPacket {
    /// Audio or video.
    pub kind: MediaKind,
    /// Which video encoding (index in [`PipelineConfig::encodings`]); 0
    /// for audio, which every encoding shares.
    pub encoding: usize,
    /// Presentation time, ms on the media clock.
    pub pts_ms: i64,
    /// Decode time, ms on the media clock.
    pub dts_ms: i64,
    /// Keyframe (always true for audio).
    pub keyframe: bool,
    /// Annex B access unit (video) or raw AAC frame (audio).
    pub data: Bytes,
    /// When its first sample or its picture was captured.
    pub capture: Instant,
}

/// Video decoder configuration, sent before the first video packet.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// Which video encoding (index in [`PipelineConfig::encodings`]).
    pub encoding: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Frame rate.
    pub fps: u32,
    /// Bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// SPS (no start code).
    pub sps: Bytes,
    /// PPS (no start code).
    pub pps: Bytes,
}

/// Audio decoder configuration, sent before the first audio packet.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u8,
    /// Bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// AudioSpecificConfig.
    pub asc: Bytes,
}

/// What the pipeline gives its sink.
#[derive(Debug, Clone)]
pub enum MediaMessage {
    /// New or first video configuration.
    VideoConfig(VideoConfig),
    /// New or first audio configuration.
    AudioConfig(AudioConfig),
    /// An encoded packet.
    Packet(EncodedPacket),
    /// A thread finished (duration reached or stopped).
    EndOfStream(MediaKind),
    /// A thread failed.
    Failed(MediaKind, MediaError),
}

/// Receives encoded media. Called from the encoder threads: must not block.
pub trait MediaSink: Send + Sync {
    /// One message.
    fn on_media(&self, message: MediaMessage);
}
