//! The live session both front ends run.
//!
//! A [`Capture`] opens the sources by name ([`VideoInput`]: the test
//! pattern or `camera:N`; [`AudioInput`]: the tone, `mic[:NAME]` or none)
//! with the preview and the meters; the app keeps one open while its
//! Studio is shown. [`Engine::start_on`] attaches the encoder threads to it
//! (one per named [`Encoding`], one shared audio encode) and starts an
//! [`OutputManager`] with the destinations, the [`Recorder`]
//! (recording-only works with no destination) and the dynamic bitrate
//! controller; destinations start and stop on their own while the others
//! stay live (`manager().add` / `stop_one`). [`Engine::start`] opens a
//! capture of its own first (the headless command).
//!
//! It glues; it does not speak RTMP (`onair-rtmp`, `onair-output`), write
//! MP4 (`onair-record`), judge streams (`onair-check`) or keep profiles
//! (`onair-profiles`). The app and the `onair` command are thin front ends
//! over it.
//!
//! ```no_run
//! # async fn demo() {
//! use onair_engine::{Engine, EngineConfig};
//! use onair_output::Destination;
//! let dest = Destination::parse("rtmp://127.0.0.1/live/key").unwrap();
//! let engine = Engine::start(EngineConfig::default(), vec![(dest, 0)]).unwrap();
//! for s in engine.manager().stats() { println!("{} {:?}", s.dest, s.state); }
//! engine.stop().await;
//! # }
//! ```

mod capture;
mod recorder;
mod session;
mod source;
mod studio;

use std::sync::Arc;
use std::time::Duration;

use onair_media::filters::{ChainSettings, Compressor, Gate, Limiter};
use onair_media::meter::AudioLevel;
use onair_media::mic::MicStats;
use onair_media::mix::{MixControl, SourceKind};
use onair_media::preview::Preview;
use onair_media::{
    AudioSettings, CameraStats, EncoderStats, MediaClock, MediaError, Pipeline, PipelineConfig,
};
use onair_output::{
    dynamic, Destination, OutputEvent, OutputId, OutputManager, DEFAULT_DROP_THRESHOLD_MS,
};
use onair_profiles::audio::{AudioFilters, AudioMix};
use onair_record::{RecordError, RecordingSummary};

pub use capture::{Capture, CaptureSpec};
pub use onair_profiles::encoding;
pub use onair_profiles::encoding::Encoding;
use recorder::EngineSink;
pub use recorder::Recorder;
pub use session::{
    DestinationUpdate, EncoderUpdate, Finished, GoLive, Level, LiveUpdate, MeterUpdate,
    NamedDestination, Outcome, Session, SessionError, SourceMeter, CHECK_ID,
};
pub use source::{AudioInput, SourceNameError, VideoInput};
pub use studio::{CaptureFeed, Feeds, Studio};

/// Preview pictures per second.
pub const PREVIEW_FPS: u32 = 15;
/// Preview width (height follows the aspect ratio).
pub const PREVIEW_WIDTH: u32 = 384;

/// Everything a stream needs besides its destinations.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The video encodings, each by name, made from one capture; the first
    /// is the default one. Never empty.
    pub encodings: Vec<Encoding>,
    /// The audio encode every destination shares (`None`: no audio track).
    pub audio_settings: Option<AudioSettings>,
    /// Stop by itself after this much media time.
    pub duration: Option<Duration>,
    /// Video source.
    pub video: VideoInput,
    /// Audio source.
    pub audio: AudioInput,
    /// Desktop audio, mixed in: `None` off, `Some(None)` the default
    /// output, `Some(Some(id))` that source.
    pub desktop: Option<Option<String>>,
    /// Faders, mutes and filters of the sources (values out of range are
    /// brought into it).
    pub mix: AudioMix,
    /// Drop threshold of the send queues.
    pub drop_threshold_ms: u32,
    /// Lower the video bitrate while a destination stays congested, and
    /// climb back once clear.
    pub dynamic_bitrate: bool,
    /// Keep small copies of the outgoing picture for a preview (the app);
    /// headless runs leave it off and pay nothing for it.
    pub preview: bool,
    /// Record from the first picture to this new file...
    pub record: Option<std::path::PathBuf>,
    /// ...this encoding of the stream (index in `encodings`).
    pub record_encoding: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            encodings: vec![Encoding::main(1280, 720, 30, 3000, 2)],
            audio_settings: Some(AudioSettings { bitrate_kbps: 160 }),
            duration: None,
            video: VideoInput::TestPattern,
            audio: AudioInput::Tone,
            desktop: None,
            mix: AudioMix::default(),
            drop_threshold_ms: DEFAULT_DROP_THRESHOLD_MS,
            dynamic_bitrate: false,
            preview: false,
            record: None,
            record_encoding: 0,
        }
    }
}

impl EngineConfig {
    /// The app's saved settings (`main` and the other encodings), with the
    /// preview on. A source name that
    /// does not parse (a settings file from a newer version) falls back to
    /// the test pattern or the tone.
    pub fn from_settings(s: &onair_profiles::store::Settings) -> Self {
        Self {
            encodings: onair_profiles::edit::encodings(s),
            audio_settings: Some(AudioSettings {
                bitrate_kbps: s.audio_kbps,
            }),
            duration: None,
            video: s.video_source.parse().unwrap_or_default(),
            audio: s.audio_source.parse().unwrap_or_default(),
            desktop: s.audio_mix.desktop_device(),
            mix: s.audio_mix.clone(),
            drop_threshold_ms: s.drop_threshold_ms,
            dynamic_bitrate: s.dynamic_bitrate,
            preview: true,
            record: None,
            record_encoding: onair_profiles::edit::record_encoding_index(s).unwrap_or(0),
        }
    }
}

/// The filter chain of a source's filters as saved.
pub fn chain_of(f: &AudioFilters) -> ChainSettings {
    let f = f.clamped();
    ChainSettings {
        gain_db: f.gain_db,
        denoise: f.denoise,
        gate: f.gate.then_some(Gate {
            open_dbfs: f.gate_open_dbfs,
            close_dbfs: f.gate_close_dbfs,
            attack_ms: f.gate_attack_ms,
            hold_ms: f.gate_hold_ms,
            release_ms: f.gate_release_ms,
        }),
        compressor: f.compressor.then_some(Compressor {
            threshold_dbfs: f.compressor_threshold_dbfs,
            ratio: f.compressor_ratio,
            attack_ms: f.compressor_attack_ms,
            release_ms: f.compressor_release_ms,
            makeup_db: f.compressor_makeup_db,
        }),
        limiter: f.limiter.then_some(Limiter {
            ceiling_dbfs: f.limiter_ceiling_dbfs,
            release_ms: f.limiter_release_ms,
        }),
    }
}

/// Puts the creator's mix on a running one: each source's filters, fader
/// and mute, and the master mute (from the next 1024 frames).
pub fn apply_mix(mix: &MixControl, settings: &AudioMix) {
    let settings = settings.clone().clamped();
    for s in mix.sources() {
        let saved = match s.kind() {
            SourceKind::Desktop => &settings.desktop,
            SourceKind::Mic | SourceKind::Tone => &settings.mic,
        };
        s.set_filters(chain_of(&saved.filters));
        s.set_fader_db(saved.volume_db);
        s.set_muted(saved.muted);
    }
    mix.set_muted(settings.muted);
}

/// The video encoder's settings for an encoding, and its crop.
pub fn video_encoding_of(e: &Encoding) -> onair_media::VideoEncoding {
    onair_media::VideoEncoding {
        video: onair_media::H264Config {
            width: e.width as usize,
            height: e.height as usize,
            fps: e.fps,
            bitrate_kbps: e.video_kbps,
            keyframe_interval_s: e.keyframe_interval_s,
        },
        crop_x: e.crop_x,
    }
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A source or an encoder.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The recording file.
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl From<onair_media::SourceError> for EngineError {
    fn from(e: onair_media::SourceError) -> Self {
        EngineError::Media(MediaError::Source(e))
    }
}

/// What [`Engine::stop_with_recording`] leaves.
#[derive(Debug, Default)]
pub struct Stopped {
    /// The recording's summary, if one was running.
    pub recording: Option<RecordingSummary>,
    /// Capture-to-socket latencies (µs) of the video tags each Output
    /// running at the end wrote.
    pub socket_latencies_us: Vec<Vec<u32>>,
}

/// A running stream: encoders attached to a capture, and the Outputs.
#[derive(Debug)]
pub struct Engine {
    pipeline: Option<Pipeline>,
    capture: Option<Arc<Capture>>,
    encodings: Vec<Encoding>,
    encoder_stats: Vec<Arc<EncoderStats>>,
    manager: Arc<OutputManager>,
    recorder: Arc<Recorder>,
    output_ids: Vec<OutputId>,
    media_kinds: usize,
    controller: Option<tokio::task::JoinHandle<()>>,
}

impl Engine {
    /// Opens the sources (a capture of its own, stopped with the engine),
    /// then starts encoding and every destination, each with the encoding
    /// of that index in `config.encodings`. Must be called inside a tokio
    /// runtime.
    pub fn start(
        config: EngineConfig,
        dests: Vec<(Destination, usize)>,
    ) -> Result<Self, EngineError> {
        let capture = Arc::new(Capture::open(&config)?);
        Self::start_on(capture, config, dests)
    }

    /// Starts encoding the running `capture` (opened for this `config`:
    /// see [`Capture::serves`]) from its next picture — media time 0 — and
    /// every destination. The capture goes on after the engine stops.
    pub fn start_on(
        capture: Arc<Capture>,
        mut config: EngineConfig,
        dests: Vec<(Destination, usize)>,
    ) -> Result<Self, EngineError> {
        if config.encodings.is_empty() {
            config.encodings = EngineConfig::default().encodings;
        }
        let has_audio = capture.media().has_audio() && config.audio_settings.is_some();
        let pipeline_config = PipelineConfig {
            // Each cropped where it is from the first picture (set after
            // the encoders start, the first ones could be at the centre).
            encodings: config.encodings.iter().map(video_encoding_of).collect(),
            audio: config.audio_settings.filter(|_| has_audio),
            duration: config.duration,
        };
        capture.set_mix(&config.mix);
        let manager = Arc::new(OutputManager::new(
            tokio::runtime::Handle::current(),
            config.drop_threshold_ms,
        ));
        let output_ids = dests
            .into_iter()
            .map(|(d, encoding)| manager.add_on(d, encoding.min(config.encodings.len() - 1)))
            .collect();
        let media_kinds = 1 + usize::from(has_audio);
        let recorder = Arc::new(Recorder::new(manager.clone(), has_audio));
        let tap = recorder.clone();
        manager.set_tap(Some(Arc::new(
            move |t: &onair_output::Tag, encoding: Option<usize>| tap.push(t, encoding),
        )));
        if let Some(path) = &config.record {
            // Created now: a bad folder fails before anything goes live.
            recorder.start(path, config.record_encoding.min(config.encodings.len() - 1))?;
        }
        let audio_kbps = pipeline_config.audio.map_or(0, |a| a.bitrate_kbps);
        let sink = Arc::new(EngineSink {
            manager: manager.clone(),
            recorder: recorder.clone(),
        });
        let pipeline = Pipeline::attach(capture.media(), pipeline_config, sink)?;
        let encoder_stats = pipeline.encoding_stats().to_vec();
        recorder.set_encoders(encoder_stats.clone());
        // Dynamic bitrate per encoding, from the destinations that use it:
        // one task, one look at the Outputs a second.
        let controller = config.dynamic_bitrate.then(|| {
            let manager = manager.clone();
            let mut controllers: Vec<_> = config
                .encodings
                .iter()
                .zip(encoder_stats.iter().cloned())
                .map(|(e, stats)| {
                    let ctl = dynamic::BitrateController::new(e.video_kbps, audio_kbps);
                    (e.name.clone(), stats, ctl)
                })
                .collect();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let all = manager.stats();
                    for (index, (name, stats, ctl)) in controllers.iter_mut().enumerate() {
                        let mine: Vec<_> = all
                            .iter()
                            .filter(|s| s.encoding as usize == index)
                            .cloned()
                            .collect();
                        if let Some(kbps) = ctl.tick(&mine) {
                            tracing::info!(kbps, encoding = %name, "dynamic bitrate");
                            stats
                                .video_kbps
                                .store(kbps, std::sync::atomic::Ordering::Relaxed);
                            manager.emit(OutputEvent::VideoBitrate {
                                encoding: index,
                                kbps,
                            });
                        }
                    }
                }
            })
        });
        Ok(Self {
            pipeline: Some(pipeline),
            capture: Some(capture),
            encodings: config.encodings,
            encoder_stats,
            manager,
            recorder,
            output_ids,
            media_kinds,
            controller,
        })
    }

    /// The sources it encodes.
    pub fn capture(&self) -> Option<&Arc<Capture>> {
        self.capture.as_ref()
    }

    /// The Outputs.
    pub fn manager(&self) -> &Arc<OutputManager> {
        &self.manager
    }

    /// The recording of this encode (start, stop, status).
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The ids of the Outputs started with the engine, in the order of the
    /// destinations given to [`Engine::start`].
    pub fn output_ids(&self) -> &[OutputId] {
        &self.output_ids
    }

    /// The media clock (media time 0 = Go Live).
    pub fn clock(&self) -> Option<MediaClock> {
        self.pipeline.as_ref().map(Pipeline::clock)
    }

    /// Camera counters, when streaming a camera.
    pub fn camera_stats(&self) -> Option<&Arc<CameraStats>> {
        self.capture.as_ref()?.camera_stats()
    }

    /// Microphone meter and health, when streaming a microphone.
    pub fn mic_stats(&self) -> Option<&Arc<MicStats>> {
        self.capture.as_ref()?.mic_stats()
    }

    /// Desktop audio's health, when it is mixed in.
    pub fn desktop_stats(&self) -> Option<&Arc<MicStats>> {
        self.capture.as_ref()?.desktop_stats()
    }

    /// The mix's meter (what is encoded), when there is an audio track.
    pub fn audio_level(&self) -> Option<&AudioLevel> {
        self.mix().map(|m| &m.level)
    }

    /// The audio mix's live controls and meters (faders, mutes, filters),
    /// when there is an audio track.
    pub fn mix(&self) -> Option<&Arc<MixControl>> {
        self.capture.as_ref()?.mix()
    }

    /// Small copies of the canvas, a few times a second (none unless
    /// [`EngineConfig::preview`]).
    pub fn preview(&self) -> Preview {
        self.capture
            .as_ref()
            .map(|c| c.preview().clone())
            .unwrap_or_default()
    }

    /// The encodings, in the order configured (their index is what
    /// destinations and recordings name).
    pub fn encodings(&self) -> &[Encoding] {
        &self.encodings
    }

    /// The index of the encoding called `name`.
    pub fn encoding_index(&self, name: &str) -> Option<usize> {
        self.encodings.iter().position(|e| e.name == name)
    }

    /// Each encoding's counters and controls (bitrate, keyframe, crop).
    pub fn encoder_stats(&self) -> &[Arc<EncoderStats>] {
        &self.encoder_stats
    }

    /// Moves encoding `index`'s crop (0.0 left to 1.0 right), from the next
    /// picture; `false` when there is no such encoding.
    pub fn set_crop(&self, index: usize, x: f32) -> bool {
        match self.encoder_stats.get(index) {
            Some(s) => {
                s.set_crop(x);
                true
            }
            None => false,
        }
    }

    /// Waits until the media threads end by themselves (`duration`).
    pub async fn media_ended(&self) {
        self.manager.media_ended(self.media_kinds).await;
    }

    /// Stops encoding, finishes any recording, then stops every Output
    /// cleanly; bounded (about 2 s plus the recording's last write).
    pub async fn stop(self) {
        let _ = self.stop_with_recording().await;
    }

    /// Stops like [`Engine::stop`] and returns the recording's summary, if
    /// one was running, and the Outputs' capture-to-socket latencies.
    pub async fn stop_with_recording(mut self) -> Stopped {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        if let Some(p) = self.pipeline.take() {
            p.stop();
            let _ = tokio::task::spawn_blocking(move || p.join()).await;
        }
        // A capture of its own closes its devices now (off the async
        // workers: its threads are joined).
        if let Some(c) = self.capture.take().and_then(|c| Arc::try_unwrap(c).ok()) {
            let _ = tokio::task::spawn_blocking(move || drop(c)).await;
        }
        let recording = self.recorder.stop().await;
        self.manager.set_tap(None);
        // Read before the Outputs leave the fan-out (their figures stay,
        // their latency samples do not).
        let socket_latencies_us = self.manager.socket_latencies_us();
        self.manager.stop_all().await;
        Stopped {
            recording,
            socket_latencies_us,
        }
    }
}
