//! Outputs: the glue between the encoders and the network.
//!
//! - [`Destination`]: a parsed `rtmp://host[:port]/app/<key>` (key redacted
//!   in every print).
//! - `Output` (internal): one destination, a `onair_rtmp::ClientSession`
//!   driven over tokio TCP with `TCP_NODELAY`, its media-time-bounded
//!   [`SendQueue`], reconnect with backoff, and [`OutputStats`].
//! - [`OutputManager`]: a [`MediaSink`] that muxes each encoded packet into an
//!   FLV tag body once and hands the same `Bytes` to every Output of its
//!   encoding (no payload copies; audio goes to every Output); Outputs start
//!   and stop on their own.
//! - [`dynamic`]: the dynamic bitrate controller (pure, ticked with stats).
//!
//! It knows no profiles, files, recordings or UI: `onair-engine` glues it
//! to the sources, the recorder and the stream check.
//!
//! ```no_run
//! # async fn demo() {
//! use onair_output::{Destination, OutputManager};
//! let manager = OutputManager::new(tokio::runtime::Handle::current(), 700);
//! let id = manager.add(Destination::parse("rtmp://127.0.0.1/live/key").unwrap());
//! // Hand it the encoder's messages (it is an onair_media::MediaSink)...
//! println!("{:?}", manager.stats_of(id).map(|s| s.state));
//! manager.stop_all().await;
//! # }
//! ```

mod dest;
pub mod dynamic;
mod output;
mod queue;
mod stats;
mod tls;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_flv::{AvcConfig, Metadata};
use onair_media::{AudioConfig, MediaError, MediaKind, MediaMessage, MediaSink, VideoConfig};
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
/// Another consumer of every muxed tag (the recorder): called from the
/// media threads with the tag's video encoding (`None`: audio, which every
/// encoding shares); must not block.
pub type TagTap = Arc<dyn Fn(&Tag, Option<usize>) + Send + Sync>;

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
        /// The video encoding it sends.
        encoding: usize,
        /// Media time of RTMP timestamp 0 on this connection.
        ts_base_ms: i64,
    },
    /// Dynamic bitrate changed a video encoder's bitrate.
    VideoBitrate {
        /// Which encoding (index in the pipeline's encodings).
        encoding: usize,
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
    encoding: usize,
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
    /// Per video encoding (by index): what a connection starts with.
    headers: Mutex<Vec<Arc<Mutex<Headers>>>>,
    /// The shared audio encode's configuration.
    audio: Mutex<Option<AudioConfig>>,
    events: broadcast::Sender<OutputEvent>,
    runtime: tokio::runtime::Handle,
    drop_threshold_ms: u32,
    ended: Mutex<HashSet<MediaKind>>,
    media_failed: Mutex<Option<MediaError>>,
    ended_notify: Notify,
    tap: RwLock<Tap>,
}

/// The tag tap slot (a closure has no `Debug`).
#[derive(Default)]
struct Tap(Option<TagTap>);

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tap(set)"
        } else {
            "Tap(none)"
        })
    }
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
            headers: Mutex::new(Vec::new()),
            audio: Mutex::new(None),
            events: broadcast::channel(256).0,
            runtime,
            drop_threshold_ms,
            ended: Mutex::new(HashSet::new()),
            media_failed: Mutex::new(None),
            ended_notify: Notify::new(),
            tap: RwLock::new(Tap::default()),
        }
    }

    /// Every muxed tag also goes to `tap` (one at a time; `None` removes it).
    pub fn set_tap(&self, tap: Option<TagTap>) {
        *self.tap.write().unwrap_or_else(|e| e.into_inner()) = Tap(tap);
    }

    /// The headers of video encoding `encoding` (made on first use, with
    /// the audio configuration if known). Lock order: `headers`, then
    /// `audio` (as in the audio configuration's update), so a new
    /// encoding's headers never miss an audio configuration announced
    /// meanwhile.
    fn headers_of(&self, encoding: usize) -> Arc<Mutex<Headers>> {
        let mut all = self.headers.lock().unwrap_or_else(|e| e.into_inner());
        while all.len() <= encoding {
            let mut h = Headers::default();
            if let Some(a) = self.audio.lock().ok().and_then(|a| a.clone()) {
                h.audio_seq = Some(onair_flv::aac_sequence_header(&a.asc));
                h.audio = Some(a);
            }
            all.push(Arc::new(Mutex::new(h)));
        }
        all[encoding].clone()
    }

    /// The encoders' configurations as last announced (video encoding
    /// `encoding`, the shared audio).
    pub fn stream_configs(&self, encoding: usize) -> (Option<VideoConfig>, Option<AudioConfig>) {
        let video = self
            .headers_of(encoding)
            .lock()
            .ok()
            .and_then(|h| h.video.clone());
        (video, self.audio.lock().ok().and_then(|a| a.clone()))
    }

    /// Sends an event to every subscriber (the engine's bitrate changes).
    pub fn emit(&self, event: OutputEvent) {
        let _ = self.events.send(event);
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

    /// Starts an Output to `dest` with the first video encoding; returns
    /// its id.
    pub fn add(&self, dest: Destination) -> OutputId {
        self.add_on(dest, 0)
    }

    /// Starts an Output to `dest` that sends video encoding `encoding` (and
    /// the audio); returns its id.
    pub fn add_on(&self, dest: Destination, encoding: usize) -> OutputId {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let give_up = Duration::from_millis(
            self.rejected_give_up_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let shared = Arc::new(OutputShared::new(
            id,
            dest,
            encoding,
            self.drop_threshold_ms,
            give_up,
        ));
        let task = self.runtime.spawn(output::run(
            shared.clone(),
            self.headers_of(encoding),
            self.events.clone(),
        ));
        self.prune();
        let mut outs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outs.push(Running {
            encoding,
            shared,
            task,
        });
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
        snap.encoding = o.encoding as u32;
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

    /// Hands `tag` to the tap and to every Output of its video encoding
    /// (`None`: audio, to every Output).
    fn fan_out(&self, tag: Tag, encoding: Option<usize>) {
        if let Some(tap) = self
            .tap
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .as_ref()
        {
            tap(&tag, encoding);
        }
        let mut finished = false;
        {
            let outs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
            for r in outs.iter() {
                if encoding.is_some_and(|e| e != r.encoding) {
                    continue;
                }
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
                if let Ok(mut h) = self.headers_of(v.encoding).lock() {
                    h.video_seq = Some(body);
                    h.video = Some(v);
                    h.rebuild_metadata();
                }
            }
            MediaMessage::AudioConfig(a) => {
                // Under the headers lock (see `headers_of`): every encoding's
                // headers, existing or made meanwhile, get it.
                let all = self.headers.lock().unwrap_or_else(|e| e.into_inner());
                if let Ok(mut audio) = self.audio.lock() {
                    *audio = Some(a.clone());
                }
                for headers in all.iter() {
                    if let Ok(mut h) = headers.lock() {
                        h.audio_seq = Some(onair_flv::aac_sequence_header(&a.asc));
                        h.audio = Some(a.clone());
                        h.rebuild_metadata();
                    }
                }
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
                let encoding = (p.kind == MediaKind::Video).then_some(p.encoding);
                self.fan_out(
                    Tag {
                        kind,
                        pts_ms: p.dts_ms,
                        keyframe: p.keyframe,
                        body,
                        capture: p.capture,
                    },
                    encoding,
                );
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
