//! Outputs: the glue between the encoders and the network.
//!
//! - [`Destination`]: a parsed `rtmp://host[:port]/app/<key>` (key redacted
//!   in every print).
//! - `Output` (internal): one destination, a `onair_rtmp::ClientSession`
//!   driven over tokio TCP with `TCP_NODELAY`, its media-time-bounded
//!   [`SendQueue`], reconnect with backoff, and [`OutputStats`].
//! - [`OutputManager`]: a [`MediaSink`] that muxes each encoded packet into an
//!   FLV tag body once and hands the same `Bytes` to every Output (no payload
//!   copies); Outputs start and stop on their own.
//! - [`Engine`]: the media pipeline plus the manager: what the CLI and the app
//!   both run.
//!
//! ```no_run
//! # async fn demo() {
//! use onair_output::{Destination, Engine, EngineConfig};
//! let dest = Destination::parse("rtmp://127.0.0.1/live/key").unwrap();
//! let engine = Engine::start(EngineConfig::default(), vec![dest]).unwrap();
//! for s in engine.manager().stats() { println!("{} {:?}", s.dest, s.state); }
//! engine.stop().await;
//! # }
//! ```

pub mod check;
mod dest;
pub mod dynamic;
pub mod ingest;
mod output;
mod queue;
pub mod record;
pub mod secrets;
pub mod services;
mod stats;
pub mod store;
mod tls;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_flv::{AvcConfig, Metadata};
use onair_media::meter::{AudioLevel, Metered};
use onair_media::mic::{MicSource, MicStats};
use onair_media::preview::{Preview, PreviewTap};
use onair_media::{
    AudioConfig, AudioSource, CameraSource, CameraStats, MediaClock, MediaError, MediaKind,
    MediaMessage, MediaSink, NokhwaOpener, Pipeline, PipelineConfig, PipelineStats, TestPattern,
    Tone, VideoConfig, VideoSource,
};
use tokio::sync::{broadcast, Notify};

pub use dest::{DestError, Destination, Scheme};
pub use output::{
    backoff, connect_staggered, interleave_families, OutputError, OutputShared, CONNECT_STAGGER,
    DEFAULT_REJECTED_GIVE_UP,
};
pub use queue::{SendQueue, Tag, TagKind, MAX_QUEUED_BYTES};
pub use stats::{ErrorClass, LatencySource, OutputState, OutputStats};

/// Default queued media time past which non-key video is dropped (as OBS).
pub const DEFAULT_DROP_THRESHOLD_MS: u32 = 700;
/// Preview pictures per second.
pub const PREVIEW_FPS: u32 = 15;
/// Preview width (height follows the aspect ratio).
pub const PREVIEW_WIDTH: u32 = 384;

/// The sequence headers and metadata every (re)connect starts with.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// `@setDataFrame` body.
    pub metadata: Option<Bytes>,
    /// AVC sequence header tag body.
    pub video_seq: Option<Bytes>,
    /// AAC sequence header tag body.
    pub audio_seq: Option<Bytes>,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
}

impl Headers {
    fn rebuild_metadata(&mut self) {
        let Some(v) = &self.video else { return };
        self.metadata = Some(onair_flv::metadata_body(&Metadata {
            width: v.width as u32,
            height: v.height as u32,
            framerate: f64::from(v.fps),
            video_kbps: v.bitrate_kbps,
            audio_kbps: self.audio.as_ref().map(|a| a.bitrate_kbps),
            audio_sample_rate: self.audio.as_ref().map_or(48_000, |a| a.sample_rate),
            audio_channels: self.audio.as_ref().map_or(2, |a| a.channels),
            encoder: concat!("OnAir ", env!("CARGO_PKG_VERSION")).into(),
        }));
    }
}

/// Something the front end may want to print or show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputEvent {
    /// A connection went live: RTMP timestamp 0 = media time `ts_base_ms`.
    Connected {
        /// Redacted URL.
        dest: String,
        /// Media time of RTMP timestamp 0 on this connection.
        ts_base_ms: i64,
    },
    /// Dynamic bitrate changed the video encoder's bitrate.
    VideoBitrate {
        /// The new bitrate, kbit/s.
        kbps: u32,
    },
    /// A destination failed for good.
    Failed {
        /// Redacted URL.
        dest: String,
    },
    /// The server asked the destination to reconnect (Enhanced RTMP) and it
    /// moved to the new connection at a keyframe, without a gap.
    Moved {
        /// Redacted URL.
        dest: String,
    },
}

/// The identity of an Output in its manager.
pub type OutputId = u64;

/// A running Output in the fan-out.
#[derive(Debug)]
struct Running {
    shared: Arc<OutputShared>,
    task: tokio::task::JoinHandle<()>,
}

/// Outputs that ended (stopped by the user, or failed for good) keep their
/// last figures for the cards and the CLI's summary, up to this many.
const MAX_ENDED: usize = 64;

/// Fans one encode out to N Outputs.
#[derive(Debug)]
pub struct OutputManager {
    /// Only running Outputs: the fan-out pushes to these.
    outputs: RwLock<Vec<Running>>,
    /// Last figures of Outputs that ended, oldest first (bounded).
    ended_outputs: Mutex<VecDeque<OutputStats>>,
    next_id: std::sync::atomic::AtomicU64,
    rejected_give_up_ms: std::sync::atomic::AtomicU64,
    headers: Arc<Mutex<Headers>>,
    events: broadcast::Sender<OutputEvent>,
    runtime: tokio::runtime::Handle,
    drop_threshold_ms: u32,
    ended: Mutex<HashSet<MediaKind>>,
    media_failed: Mutex<Option<MediaError>>,
    ended_notify: Notify,
    recording: Mutex<Option<record::Recording>>,
    expect_audio: std::sync::atomic::AtomicBool,
    /// The running encoder's controls (to ask it for a keyframe).
    encoder: Mutex<Option<Arc<PipelineStats>>>,
}

impl OutputManager {
    /// A manager spawning Output tasks on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle, drop_threshold_ms: u32) -> Self {
        Self {
            outputs: RwLock::new(Vec::new()),
            ended_outputs: Mutex::new(VecDeque::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            rejected_give_up_ms: std::sync::atomic::AtomicU64::new(
                output::DEFAULT_REJECTED_GIVE_UP.as_millis() as u64,
            ),
            headers: Arc::new(Mutex::new(Headers::default())),
            events: broadcast::channel(256).0,
            runtime,
            drop_threshold_ms,
            ended: Mutex::new(HashSet::new()),
            media_failed: Mutex::new(None),
            ended_notify: Notify::new(),
            recording: Mutex::new(None),
            expect_audio: std::sync::atomic::AtomicBool::new(true),
            encoder: Mutex::new(None),
        }
    }

    /// Starts recording the encoded stream to `path` (a new file, created
    /// now): mid-stream from the next picture (the encoder is asked for a
    /// keyframe), else from the first. No second encode.
    pub fn start_recording(&self, path: &std::path::Path) -> Result<(), record::RecordError> {
        let mut slot = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(record::RecordError::AlreadyRecording);
        }
        let rec = record::Recording::create(path)?;
        if let Some((v, a)) = self.record_params() {
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

    fn record_params(&self) -> Option<(record::VideoParams, Option<record::AudioParams>)> {
        let h = self.headers.lock().unwrap_or_else(|e| e.into_inner());
        let v = h.video.clone()?;
        Some((
            record::VideoParams {
                width: v.width as u32,
                height: v.height as u32,
                fps: v.fps,
                sps: v.sps,
                pps: v.pps,
                bitrate: v.bitrate_kbps * 1000,
            },
            h.audio.clone().map(|a| record::AudioParams {
                sample_rate: a.sample_rate,
                channels: a.channels,
                asc: a.asc,
                bitrate: a.bitrate_kbps * 1000,
            }),
        ))
    }

    /// Finishes the recording; `None` when none was running.
    pub async fn stop_recording(&self) -> Option<record::RecordingSummary> {
        let rec = self
            .recording
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        tokio::task::spawn_blocking(move || rec.stop()).await.ok()
    }

    /// The running recording's figures.
    pub fn recording_status(&self) -> Option<record::RecordingStatus> {
        self.recording
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(record::Recording::status))
    }

    /// Subscribes to connect/failure events.
    pub fn subscribe(&self) -> broadcast::Receiver<OutputEvent> {
        self.events.subscribe()
    }

    /// How long a destination that has been live may go on being refused
    /// (the server holding the previous connection) before it is Failed;
    /// for Outputs added from now on. Default 5 minutes.
    pub fn set_rejected_give_up(&self, d: Duration) {
        self.rejected_give_up_ms.store(
            d.as_millis().min(u128::from(u64::MAX)) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Starts an Output to `dest`; returns its id.
    pub fn add(&self, dest: Destination) -> OutputId {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let give_up = Duration::from_millis(
            self.rejected_give_up_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let shared = Arc::new(OutputShared::new(id, dest, self.drop_threshold_ms, give_up));
        let task = self.runtime.spawn(output::run(
            shared.clone(),
            self.headers.clone(),
            self.events.clone(),
        ));
        self.prune();
        let mut outs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outs.push(Running { shared, task });
        id
    }

    /// Stops one Output (cleanly, bounded), leaving the others live. It
    /// leaves the fan-out; its last figures stay until [`forget`](Self::forget).
    pub async fn stop_one(&self, id: OutputId) {
        let running = {
            let mut outs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
            let Some(pos) = outs.iter().position(|r| r.shared.id == id) else {
                return;
            };
            outs.remove(pos)
        };
        running.shared.request_stop();
        let _ = tokio::time::timeout(Duration::from_secs(2), running.task).await;
        self.keep_ended(&running.shared);
    }

    /// Drops the last figures of an Output that ended.
    pub fn forget(&self, id: OutputId) {
        if let Ok(mut e) = self.ended_outputs.lock() {
            e.retain(|s| s.id != id);
        }
    }

    /// Outputs in the fan-out (running, connecting or retrying).
    pub fn running(&self) -> usize {
        self.outputs.read().map(|o| o.len()).unwrap_or(0)
    }

    /// Stops every Output, in parallel, within about 2 s.
    pub async fn stop_all(&self) {
        let all: Vec<Running> = {
            let mut outs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
            outs.drain(..).collect()
        };
        for r in &all {
            r.shared.request_stop();
        }
        let shared: Vec<_> = all.iter().map(|r| r.shared.clone()).collect();
        let wait = async {
            for r in all {
                let _ = r.task.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        for s in &shared {
            self.keep_ended(s);
        }
    }

    fn snapshot(o: &OutputShared, now: Instant) -> OutputStats {
        let (dropped, queue_ms, threshold) = o
            .queue
            .lock()
            .map(|q| (q.dropped_frames(), q.queued_ms(), q.threshold_ms()))
            .unwrap_or((0, 0, 0));
        let mut s = o.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.queue_ms = queue_ms;
        let mut snap = s.snapshot(&o.dest.redacted(), dropped, threshold, now);
        snap.id = o.id;
        snap
    }

    fn keep_ended(&self, o: &OutputShared) {
        let snap = Self::snapshot(o, Instant::now());
        if let Ok(mut e) = self.ended_outputs.lock() {
            e.retain(|s| s.id != snap.id);
            if e.len() >= MAX_ENDED {
                e.pop_front();
            }
            e.push_back(snap);
        }
    }

    /// Moves Outputs whose task ended (failed for good) out of the fan-out.
    fn prune(&self) {
        let finished: Vec<Running> = {
            let mut outs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
            if !outs.iter().any(|r| r.shared.is_finished()) {
                return;
            }
            let (done, keep): (Vec<_>, Vec<_>) =
                outs.drain(..).partition(|r| r.shared.is_finished());
            *outs = keep;
            done
        };
        for r in finished {
            self.keep_ended(&r.shared);
        }
    }

    /// Indicators of every Output, running and ended, in the order they
    /// were added (by id).
    pub fn stats(&self) -> Vec<OutputStats> {
        self.prune();
        let now = Instant::now();
        let mut all: Vec<OutputStats> = self
            .ended_outputs
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default();
        let outs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        all.extend(outs.iter().map(|r| Self::snapshot(&r.shared, now)));
        all.sort_by_key(|s| s.id);
        all
    }

    /// Indicators of one Output, running or ended.
    pub fn stats_of(&self, id: OutputId) -> Option<OutputStats> {
        self.stats().into_iter().find(|s| s.id == id)
    }

    /// Capture-to-socket latencies (µs) of the video tags each running
    /// Output wrote.
    pub fn socket_latencies_us(&self) -> Vec<Vec<u32>> {
        let outs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outs.iter()
            .map(|r| {
                r.shared
                    .stats
                    .lock()
                    .map(|s| s.socket_latency_us.iter().copied().collect())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Whether every Output has failed for good.
    pub fn all_failed(&self) -> bool {
        let stats = self.stats();
        !stats.is_empty() && stats.iter().all(|s| s.state == OutputState::Failed)
    }

    /// Waits until the media threads have ended (duration reached or failed).
    pub async fn media_ended(&self, kinds: usize) {
        loop {
            let notified = self.ended_notify.notified();
            if self.ended.lock().map(|e| e.len() >= kinds).unwrap_or(true) {
                return;
            }
            notified.await;
        }
    }

    /// The media error that ended the stream, if any.
    pub fn media_error(&self) -> Option<MediaError> {
        self.media_failed.lock().ok().and_then(|e| e.clone())
    }

    fn give_record_params(&self) {
        if let Ok(r) = self.recording.lock() {
            if let (Some(rec), Some((v, a))) = (r.as_ref(), self.record_params()) {
                // The writer keeps the first it gets; with audio both configs
                // arrive before the first packet.
                if a.is_some() || !self.expects_audio() {
                    rec.set_params(v, a);
                }
            }
        }
    }

    fn expects_audio(&self) -> bool {
        self.expect_audio.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fan_out(&self, tag: Tag) {
        if let Ok(r) = self.recording.lock() {
            if let Some(r) = r.as_ref() {
                r.push(tag.clone());
            }
        }
        let mut finished = false;
        {
            let outs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
            for r in outs.iter() {
                if r.shared.is_finished() {
                    finished = true;
                } else {
                    r.shared.push(tag.clone());
                }
            }
        }
        if finished {
            self.prune();
        }
    }
}

impl MediaSink for OutputManager {
    fn on_media(&self, message: MediaMessage) {
        match message {
            MediaMessage::VideoConfig(v) => {
                let body = onair_flv::avc_sequence_header(&AvcConfig {
                    sps: v.sps.clone(),
                    pps: v.pps.clone(),
                });
                if let Ok(mut h) = self.headers.lock() {
                    h.video_seq = Some(body);
                    h.video = Some(v);
                    h.rebuild_metadata();
                }
                self.give_record_params();
            }
            MediaMessage::AudioConfig(a) => {
                if let Ok(mut h) = self.headers.lock() {
                    h.audio_seq = Some(onair_flv::aac_sequence_header(&a.asc));
                    h.audio = Some(a);
                    h.rebuild_metadata();
                }
                self.give_record_params();
            }
            MediaMessage::Packet(p) => {
                // Muxed once here; every Output shares these bytes.
                let (kind, body) = match p.kind {
                    MediaKind::Video => (
                        TagKind::Video,
                        onair_flv::avc_nalu(&p.data, p.keyframe, (p.pts_ms - p.dts_ms) as i32),
                    ),
                    MediaKind::Audio => (TagKind::Audio, onair_flv::aac_raw(&p.data)),
                };
                self.fan_out(Tag {
                    kind,
                    pts_ms: p.dts_ms,
                    keyframe: p.keyframe,
                    body,
                    capture: p.capture,
                });
            }
            MediaMessage::EndOfStream(kind) => {
                if let Ok(mut e) = self.ended.lock() {
                    e.insert(kind);
                }
                self.ended_notify.notify_waiters();
            }
            MediaMessage::Failed(kind, err) => {
                tracing::error!(?kind, error = %err, "media thread failed");
                if let Ok(mut f) = self.media_failed.lock() {
                    f.get_or_insert(err);
                }
                if let Ok(mut e) = self.ended.lock() {
                    e.insert(kind);
                }
                self.ended_notify.notify_waiters();
            }
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
    Record(#[from] record::RecordError),
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
        manager
            .expect_audio
            .store(audio.is_some(), std::sync::atomic::Ordering::Relaxed);
        if let Some(path) = &config.record {
            // Created now: a bad folder fails before anything goes live.
            manager.start_recording(path)?;
        }
        let video_kbps = config.pipeline.video.bitrate_kbps;
        let audio_kbps = config.pipeline.audio.map_or(0, |a| a.bitrate_kbps);
        let pipeline = Pipeline::start(config.pipeline, video, audio, clock, manager.clone())?;
        if let Ok(mut e) = manager.encoder.lock() {
            *e = Some(pipeline.stats());
        }
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
                        let _ = manager.events.send(OutputEvent::VideoBitrate { kbps });
                    }
                }
            })
        });
        Ok(Self {
            pipeline: Some(pipeline),
            manager,
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
    pub async fn stop_with_recording(mut self) -> Option<record::RecordingSummary> {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        if let Some(p) = self.pipeline.take() {
            p.stop();
            let _ = tokio::task::spawn_blocking(move || p.join()).await;
        }
        let summary = self.manager.stop_recording().await;
        self.manager.stop_all().await;
        summary
    }
}
