//! The live session both front ends run.
//!
//! [`Engine::start`] opens the sources by name ([`VideoInput`]: the test
//! pattern or `camera:N`; [`AudioInput`]: the tone, `mic[:NAME]` or none),
//! starts the encoder threads, an [`OutputManager`] with the destinations,
//! the [`Recorder`] (recording-only works with no destination), the dynamic
//! bitrate controller and the preview; destinations start and stop on their
//! own while the others stay live (`manager().add` / `stop_one`).
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
//! let engine = Engine::start(EngineConfig::default(), vec![dest]).unwrap();
//! for s in engine.manager().stats() { println!("{} {:?}", s.dest, s.state); }
//! engine.stop().await;
//! # }
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onair_media::meter::{AudioLevel, Metered};
use onair_media::mic::{MicSource, MicStats};
use onair_media::preview::{Preview, PreviewTap};
use onair_media::{
    AudioSource, CameraSource, CameraStats, MediaClock, MediaError, MediaMessage, MediaSink,
    NokhwaOpener, Pipeline, PipelineConfig, PipelineStats, TestPattern, Tone, VideoSource,
};
use onair_output::{
    dynamic, Destination, OutputEvent, OutputId, OutputManager, Tag, DEFAULT_DROP_THRESHOLD_MS,
};
use onair_record::{
    AudioParams, RecordError, Recording, RecordingStatus, RecordingSummary, VideoParams,
};

/// Preview pictures per second.
pub const PREVIEW_FPS: u32 = 15;
/// Preview width (height follows the aspect ratio).
pub const PREVIEW_WIDTH: u32 = 384;

/// The recording of the running encode: the same tag bodies the
/// destinations get (no second encoder, no payload copy), one file at a
/// time, started and stopped on its own.
#[derive(Debug)]
pub struct Recorder {
    slot: Mutex<Option<Recording>>,
    manager: Arc<OutputManager>,
    expect_audio: bool,
    /// The running encoder's controls (to ask it for a keyframe).
    encoder: Mutex<Option<Arc<PipelineStats>>>,
}

impl Recorder {
    fn new(manager: Arc<OutputManager>, expect_audio: bool) -> Self {
        Self {
            slot: Mutex::new(None),
            manager,
            expect_audio,
            encoder: Mutex::new(None),
        }
    }

    fn set_encoder(&self, stats: Arc<PipelineStats>) {
        *self.encoder.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }

    /// Starts recording to `path` (a new file, created now): mid-stream
    /// from the next picture (the encoder is asked for a keyframe), else
    /// from the first.
    pub fn start(&self, path: &Path) -> Result<(), RecordError> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(RecordError::AlreadyRecording);
        }
        let rec = Recording::create(path)?;
        if let Some((v, a)) = self.params() {
            rec.set_params(v, a);
            // Mid-stream: start with the next frame, not the next scheduled
            // keyframe (up to an interval of pictures lost otherwise).
            if let Some(e) = self.encoder.lock().ok().and_then(|e| e.clone()) {
                e.keyframe_wanted
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        *slot = Some(rec);
        Ok(())
    }

    /// Finishes the recording; `None` when none was running.
    pub async fn stop(&self) -> Option<RecordingSummary> {
        let rec = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        tokio::task::spawn_blocking(move || rec.stop()).await.ok()
    }

    /// The running recording's figures.
    pub fn status(&self) -> Option<RecordingStatus> {
        self.slot
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(Recording::status))
    }

    fn push(&self, tag: &Tag) {
        if let Ok(r) = self.slot.lock() {
            if let Some(r) = r.as_ref() {
                r.push(tag.clone());
            }
        }
    }

    fn params(&self) -> Option<(VideoParams, Option<AudioParams>)> {
        let (v, a) = self.manager.stream_configs();
        let v = v?;
        Some((
            VideoParams {
                width: v.width as u32,
                height: v.height as u32,
                fps: v.fps,
                sps: v.sps,
                pps: v.pps,
                bitrate: v.bitrate_kbps * 1000,
            },
            a.map(|a| AudioParams {
                sample_rate: a.sample_rate,
                channels: a.channels,
                asc: a.asc,
                bitrate: a.bitrate_kbps * 1000,
            }),
        ))
    }

    /// The encoders announced their configuration: a recording waiting for
    /// it gets it (the writer keeps the first; with audio both arrive
    /// before the first packet).
    fn configs_changed(&self) {
        if let Ok(r) = self.slot.lock() {
            if let (Some(rec), Some((v, a))) = (r.as_ref(), self.params()) {
                if a.is_some() || !self.expect_audio {
                    rec.set_params(v, a);
                }
            }
        }
    }
}

/// The encoders' sink: the Outputs, then the recorder hears of new
/// configurations.
struct EngineSink {
    manager: Arc<OutputManager>,
    recorder: Arc<Recorder>,
}

impl MediaSink for EngineSink {
    fn on_media(&self, message: MediaMessage) {
        let config = matches!(
            message,
            MediaMessage::VideoConfig(_) | MediaMessage::AudioConfig(_)
        );
        self.manager.on_media(message);
        if config {
            self.recorder.configs_changed();
        }
    }
}

/// Which video source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoInput {
    /// The moving test pattern.
    #[default]
    TestPattern,
    /// Camera number `index` (see [`onair_media::list_cameras`]).
    Camera {
        /// Index.
        index: u32,
    },
}

/// Which audio source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AudioInput {
    /// 440 Hz with a beep every second.
    #[default]
    Tone,
    /// A microphone: `None` is the system's default input, else a device id
    /// or part of its name (see [`onair_media::mic::list_microphones`]).
    Mic {
        /// Device.
        name: Option<String>,
    },
    /// No audio track.
    None,
}

/// A source name that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceNameError {
    /// Not a video source name.
    #[error("unknown video source '{0}' (test | camera[:N])")]
    Video(String),
    /// `camera:` followed by something that is not a number.
    #[error("bad camera number in '{0}' (camera:N)")]
    CameraNumber(String),
    /// Not an audio source name.
    #[error("unknown audio source '{0}' (tone | mic[:NAME] | none)")]
    Audio(String),
    /// `mic:` with nothing after it.
    #[error("empty microphone name in 'mic:' (mic[:NAME])")]
    EmptyMic,
}

impl std::str::FromStr for VideoInput {
    type Err = SourceNameError;

    /// `test` | `camera` (the first) | `camera:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(VideoInput::TestPattern),
            "camera" => Ok(VideoInput::Camera { index: 0 }),
            _ => match s.strip_prefix("camera:") {
                Some(n) => n
                    .parse()
                    .map(|index| VideoInput::Camera { index })
                    .map_err(|_| SourceNameError::CameraNumber(s.to_owned())),
                None => Err(SourceNameError::Video(s.to_owned())),
            },
        }
    }
}

impl std::str::FromStr for AudioInput {
    type Err = SourceNameError;

    /// `tone` | `none` | `mic` (the system's input) | `mic:NAME` (a device
    /// id or part of its name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tone" => Ok(AudioInput::Tone),
            "none" => Ok(AudioInput::None),
            "mic" => Ok(AudioInput::Mic { name: None }),
            _ => match s.strip_prefix("mic:") {
                Some("") => Err(SourceNameError::EmptyMic),
                Some(n) => Ok(AudioInput::Mic {
                    name: Some(n.to_owned()),
                }),
                None => Err(SourceNameError::Audio(s.to_owned())),
            },
        }
    }
}

/// Everything a stream needs besides its destinations.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Encoder settings and duration.
    pub pipeline: PipelineConfig,
    /// Video source.
    pub video: VideoInput,
    /// Audio source.
    pub audio: AudioInput,
    /// Drop threshold of the send queues.
    pub drop_threshold_ms: u32,
    /// Lower the video bitrate while a destination stays congested, and
    /// climb back once clear.
    pub dynamic_bitrate: bool,
    /// Keep small copies of the outgoing picture for a preview (the app);
    /// headless runs leave it off and pay nothing for it.
    pub preview: bool,
    /// Record from the first picture to this new file.
    pub record: Option<std::path::PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            pipeline: PipelineConfig::default(),
            video: VideoInput::TestPattern,
            audio: AudioInput::Tone,
            drop_threshold_ms: DEFAULT_DROP_THRESHOLD_MS,
            dynamic_bitrate: false,
            preview: false,
            record: None,
        }
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

/// A running stream: capture + encode threads and the Outputs.
#[derive(Debug)]
pub struct Engine {
    pipeline: Option<Pipeline>,
    manager: Arc<OutputManager>,
    recorder: Arc<Recorder>,
    output_ids: Vec<OutputId>,
    media_kinds: usize,
    controller: Option<tokio::task::JoinHandle<()>>,
    camera_stats: Option<Arc<CameraStats>>,
    mic_stats: Option<Arc<MicStats>>,
    audio_level: Option<Arc<AudioLevel>>,
    preview: Preview,
}

impl Engine {
    /// Starts encoding and every destination. Must be called inside a tokio
    /// runtime.
    pub fn start(mut config: EngineConfig, dests: Vec<Destination>) -> Result<Self, EngineError> {
        // Sources first: a missing device is an error before anything goes live.
        let clock = MediaClock::start_now();
        let v = config.pipeline.video;
        let mut camera_stats = None;
        let video: Box<dyn VideoSource> = match config.video {
            VideoInput::TestPattern => Box::new(TestPattern::new(v.width, v.height, v.fps)),
            VideoInput::Camera { index } => {
                let opener = NokhwaOpener::new(index)?;
                let cam = CameraSource::start(Box::new(opener), v.width, v.height, v.fps, clock)?;
                camera_stats = Some(cam.stats());
                Box::new(cam)
            }
        };
        let (video, preview): (Box<dyn VideoSource>, _) = if config.preview {
            let (tap, preview) = PreviewTap::new(video, v.fps, PREVIEW_FPS, PREVIEW_WIDTH);
            (Box::new(tap), preview)
        } else {
            (video, Preview::default())
        };
        let mut mic_stats = None;
        let audio: Option<Box<dyn AudioSource>> = match &config.audio {
            AudioInput::Tone => Some(Box::new(Tone::new(48_000))),
            AudioInput::Mic { name } => {
                let mic = MicSource::open(name.as_deref(), clock)?;
                mic_stats = Some(mic.stats());
                Some(Box::new(mic))
            }
            AudioInput::None => {
                config.pipeline.audio = None;
                None
            }
        };
        let manager = Arc::new(OutputManager::new(
            tokio::runtime::Handle::current(),
            config.drop_threshold_ms,
        ));
        let output_ids = dests.into_iter().map(|d| manager.add(d)).collect();
        let (audio, audio_level): (Option<Box<dyn AudioSource>>, _) = match audio {
            Some(a) => {
                let m = Metered::new(a);
                let level = m.level();
                (Some(Box::new(m)), Some(level))
            }
            None => (None, None),
        };
        let media_kinds = 1 + usize::from(audio.is_some());
        let recorder = Arc::new(Recorder::new(manager.clone(), audio.is_some()));
        let tap = recorder.clone();
        manager.set_tap(Some(Arc::new(move |t: &onair_output::Tag| tap.push(t))));
        if let Some(path) = &config.record {
            // Created now: a bad folder fails before anything goes live.
            recorder.start(path)?;
        }
        let video_kbps = config.pipeline.video.bitrate_kbps;
        let audio_kbps = config.pipeline.audio.map_or(0, |a| a.bitrate_kbps);
        let sink = Arc::new(EngineSink {
            manager: manager.clone(),
            recorder: recorder.clone(),
        });
        let pipeline = Pipeline::start(config.pipeline, video, audio, clock, sink)?;
        recorder.set_encoder(pipeline.stats());
        let controller = config.dynamic_bitrate.then(|| {
            let (manager, stats) = (manager.clone(), pipeline.stats());
            tokio::spawn(async move {
                let mut ctl = dynamic::BitrateController::new(video_kbps, audio_kbps);
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Some(kbps) = ctl.tick(&manager.stats()) {
                        tracing::info!(kbps, "dynamic bitrate");
                        stats
                            .video_kbps
                            .store(kbps, std::sync::atomic::Ordering::Relaxed);
                        manager.emit(OutputEvent::VideoBitrate { kbps });
                    }
                }
            })
        });
        Ok(Self {
            pipeline: Some(pipeline),
            manager,
            recorder,
            output_ids,
            media_kinds,
            controller,
            camera_stats,
            mic_stats,
            audio_level,
            preview,
        })
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
        self.camera_stats.as_ref()
    }

    /// Microphone meter and health, when streaming a microphone.
    pub fn mic_stats(&self) -> Option<&Arc<MicStats>> {
        self.mic_stats.as_ref()
    }

    /// The audio meter (any source), when there is an audio track.
    pub fn audio_level(&self) -> Option<&Arc<AudioLevel>> {
        self.audio_level.as_ref()
    }

    /// Small copies of the outgoing picture, a few times a second (none
    /// unless [`EngineConfig::preview`]).
    pub fn preview(&self) -> &Preview {
        &self.preview
    }

    /// Encoder counters.
    pub fn pipeline_stats(&self) -> Option<Arc<PipelineStats>> {
        self.pipeline.as_ref().map(Pipeline::stats)
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
    /// one was running.
    pub async fn stop_with_recording(mut self) -> Option<RecordingSummary> {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        if let Some(p) = self.pipeline.take() {
            p.stop();
            let _ = tokio::task::spawn_blocking(move || p.join()).await;
        }
        let summary = self.recorder.stop().await;
        self.manager.set_tap(None);
        self.manager.stop_all().await;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_parse_or_say_what_is_wrong() {
        assert_eq!("test".parse(), Ok(VideoInput::TestPattern));
        assert_eq!("camera".parse(), Ok(VideoInput::Camera { index: 0 }));
        assert_eq!("camera:2".parse(), Ok(VideoInput::Camera { index: 2 }));
        assert_eq!(
            "camera:x".parse::<VideoInput>(),
            Err(SourceNameError::CameraNumber("camera:x".into()))
        );
        assert!(matches!(
            "screen".parse::<VideoInput>(),
            Err(SourceNameError::Video(_))
        ));
        assert_eq!("tone".parse(), Ok(AudioInput::Tone));
        assert_eq!("none".parse(), Ok(AudioInput::None));
        assert_eq!("mic".parse(), Ok(AudioInput::Mic { name: None }));
        assert_eq!(
            "mic:alsa:default".parse(),
            Ok(AudioInput::Mic {
                name: Some("alsa:default".into())
            })
        );
        assert_eq!("mic:".parse::<AudioInput>(), Err(SourceNameError::EmptyMic));
        assert!(matches!(
            "noise".parse::<AudioInput>(),
            Err(SourceNameError::Audio(_))
        ));
    }
}
