//! The capture + encode threads: one capture (the canvas), one thread per
//! video encoding, one audio thread.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aac::{AacEncoder, AAC_FRAME_SAMPLES};
use crate::colour::Colour;
use crate::frame::I420Frame;
use crate::h264::{H264Config, H264Encoder};
use crate::scale::Scaler;
use crate::{
    AudioConfig, AudioSource, EncodedPacket, FrameTime, MediaClock, MediaError, MediaKind,
    MediaMessage, MediaSink, VideoConfig, VideoSource,
};

/// Audio encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSettings {
    /// Bitrate in kbit/s.
    pub bitrate_kbps: u32,
}

/// What to encode: one or more video encodings of one capture, and one
/// audio encode every destination shares.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The video encodings; the first is the default one. Each is made from
    /// the capture (the canvas, see [`PipelineConfig::canvas`]) on its own
    /// thread; packets and configurations carry its index here.
    pub encodings: Vec<H264Config>,
    /// Audio settings (`None`: no audio track).
    pub audio: Option<AudioSettings>,
    /// Stop by itself after this much media time.
    pub duration: Option<Duration>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self::single(H264Config {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 3000,
            keyframe_interval_s: 2,
        })
    }
}

impl PipelineConfig {
    /// One video encoding, 160 kbit/s audio, no end.
    pub fn single(video: H264Config) -> Self {
        Self {
            encodings: vec![video],
            audio: Some(AudioSettings { bitrate_kbps: 160 }),
            duration: None,
        }
    }

    /// What the source captures: the size of the largest encoding (by area;
    /// the first of equals) at the highest frame rate any encoding needs.
    pub fn canvas(&self) -> (usize, usize, u32) {
        let mut largest: Option<&H264Config> = None;
        for e in &self.encodings {
            if largest.is_none_or(|l| e.width * e.height > l.width * l.height) {
                largest = Some(e);
            }
        }
        let fps = self.encodings.iter().map(|e| e.fps).max().unwrap_or(30);
        largest.map_or((1280, 720, fps), |l| (l.width, l.height, fps))
    }
}

/// One encoding's counters and controls.
#[derive(Debug, Default)]
pub struct EncoderStats {
    /// Video frames encoded.
    pub frames_encoded: AtomicU64,
    /// Video frames skipped because this encoding fell behind real time.
    pub frames_dropped_lag: AtomicU64,
    /// Microseconds spent encoding video (for the overload warning).
    pub encode_us: AtomicU64,
    /// Microseconds spent cropping, scaling and converting the canvas to
    /// this encoding's pictures.
    pub scale_us: AtomicU64,
    /// Video bitrate asked of the encoder, kbit/s (dynamic bitrate writes it;
    /// the video thread applies it before the next frame).
    pub video_kbps: AtomicU32,
    /// Set to make the next video frame a keyframe (a recording starting
    /// mid-stream); the video thread clears it.
    pub keyframe_wanted: AtomicBool,
    /// Horizontal crop position, 0.0–1.0 (f32 bits; 0 bits = 0.0, so the
    /// pipeline sets 0.5 at the start).
    crop_x: AtomicU32,
}

impl EncoderStats {
    /// The horizontal crop position, 0.0 (left) to 1.0 (right).
    pub fn crop(&self) -> f32 {
        f32::from_bits(self.crop_x.load(Ordering::Relaxed))
    }

    /// Moves the crop (applied from the next picture); clamped, NaN is the
    /// centre.
    pub fn set_crop(&self, x: f32) {
        let x = if x.is_nan() { 0.5 } else { x.clamp(0.0, 1.0) };
        self.crop_x.store(x.to_bits(), Ordering::Relaxed);
    }
}

/// Sample rate of everything after the source.
pub const SAMPLE_RATE: u32 = 48_000;

/// A stop flag threads can sleep on.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
    flag: AtomicBool,
}

impl StopSignal {
    fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Ok(mut s) = self.stopped.lock() {
            *s = true;
        }
        self.cv.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline` or a stop; returns true if stopped.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let Ok(mut stopped) = self.stopped.lock() else {
            return true;
        };
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.cv.wait_timeout(stopped, deadline - now) {
                Ok((s, _)) => stopped = s,
                Err(_) => return true,
            }
        }
    }
}

/// The latest canvas picture, handed from the capture thread to the
/// encoding threads. The capture never waits for an encoder: it replaces
/// the picture and wakes whoever waits.
#[derive(Debug, Default)]
struct Canvas {
    latest: Mutex<CanvasState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct CanvasState {
    /// Canvas frame number, its capture instant, and the picture.
    frame: Option<(u64, Instant, Arc<I420Frame>)>,
    /// No more pictures (stopped, the duration reached, or the source failed).
    closed: bool,
}

impl Canvas {
    fn publish(&self, index: u64, capture: Instant, frame: Arc<I420Frame>) {
        if let Ok(mut s) = self.latest.lock() {
            s.frame = Some((index, capture, frame));
        }
        self.cv.notify_all();
    }

    fn close(&self) {
        if let Ok(mut s) = self.latest.lock() {
            s.closed = true;
        }
        self.cv.notify_all();
    }

    /// Waits for canvas frame `index` or a later one; `None` once closed.
    fn wait_for(&self, index: u64) -> Option<(Instant, Arc<I420Frame>)> {
        let mut s = self.latest.lock().ok()?;
        loop {
            if let Some((i, at, f)) = &s.frame {
                if *i >= index {
                    return Some((*at, f.clone()));
                }
            }
            if s.closed {
                return None;
            }
            s = self.cv.wait(s).ok()?;
        }
    }
}

/// The running capture + encode threads.
pub struct Pipeline {
    stop: Arc<StopSignal>,
    threads: Vec<JoinHandle<Result<(), MediaError>>>,
    stats: Vec<Arc<EncoderStats>>,
    clock: MediaClock,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("clock", &self.clock)
            .field("encodings", &self.stats.len())
            .finish()
    }
}

impl Pipeline {
    /// Creates the encoders (errors surface here) and starts the threads:
    /// the capture at [`PipelineConfig::canvas`] (the `video` source must
    /// deliver that size), one thread per video encoding, one for audio.
    pub fn start(
        config: PipelineConfig,
        video: Box<dyn VideoSource>,
        audio: Option<Box<dyn AudioSource>>,
        clock: MediaClock,
        sink: Arc<dyn MediaSink>,
    ) -> Result<Self, MediaError> {
        if config.encodings.is_empty() {
            return Err(MediaError::Encoder("no video encoding".into()));
        }
        let (cw, ch, cfps) = config.canvas();
        let canvas_colour = Colour::for_height(ch);
        let stop = Arc::new(StopSignal::default());
        let canvas = Arc::new(Canvas::default());
        // Every encoder first: a size one cannot take fails before any thread.
        let mut encoders = Vec::new();
        for (i, cfg) in config.encodings.iter().enumerate() {
            let stats = Arc::new(EncoderStats::default());
            stats.video_kbps.store(cfg.bitrate_kbps, Ordering::Relaxed);
            stats.set_crop(0.5);
            encoders.push((i, H264Encoder::new(*cfg)?, stats));
        }
        let stats: Vec<_> = encoders.iter().map(|(_, _, s)| s.clone()).collect();
        let mut threads = Vec::new();
        {
            let (stop, canvas, sink) = (stop.clone(), canvas.clone(), sink.clone());
            let duration = config.duration;
            threads.push(
                std::thread::Builder::new()
                    .name("onair-capture".into())
                    .spawn(move || {
                        let r =
                            capture_thread(video, (cw, ch, cfps), clock, duration, &stop, &canvas);
                        canvas.close();
                        if let Err(e) = &r {
                            sink.on_media(MediaMessage::Failed(MediaKind::Video, e.clone()));
                        }
                        r
                    })
                    .map_err(|e| MediaError::Thread(e.to_string()))?,
            );
        }
        let video_left = Arc::new(AtomicUsize::new(encoders.len()));
        for (index, h264, stats) in encoders {
            let (stop, canvas, sink) = (stop.clone(), canvas.clone(), sink.clone());
            let video_left = video_left.clone();
            let duration = config.duration;
            let scaler = Scaler::new(h264.config().width, h264.config().height, canvas_colour);
            let encoding = EncodingThread {
                index,
                encoder: h264,
                scaler,
                canvas_fps: cfps,
                stats,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("onair-video-{index}"))
                    .spawn(move || {
                        let r = encoding.run(&canvas, clock, duration, &stop, &*sink);
                        match &r {
                            // The last encoding to end ends the video.
                            Ok(()) => {
                                if video_left.fetch_sub(1, Ordering::SeqCst) == 1 {
                                    sink.on_media(MediaMessage::EndOfStream(MediaKind::Video));
                                }
                            }
                            Err(e) => {
                                sink.on_media(MediaMessage::Failed(MediaKind::Video, e.clone()))
                            }
                        }
                        r
                    })
                    .map_err(|e| MediaError::Thread(e.to_string()))?,
            );
        }
        if let (Some(settings), Some(source)) = (config.audio, audio) {
            let aac = AacEncoder::new(SAMPLE_RATE, settings.bitrate_kbps)?;
            let (stop, sink) = (stop.clone(), sink.clone());
            let duration = config.duration;
            threads.push(
                std::thread::Builder::new()
                    .name("onair-audio".into())
                    .spawn(move || {
                        let r = audio_thread(aac, settings, source, clock, duration, &stop, &*sink);
                        finish(&*sink, MediaKind::Audio, &r);
                        r
                    })
                    .map_err(|e| MediaError::Thread(e.to_string()))?,
            );
        }
        Ok(Self {
            stop,
            threads,
            stats,
            clock,
        })
    }

    /// The media clock.
    pub fn clock(&self) -> MediaClock {
        self.clock
    }

    /// Every encoding's counters and controls, in the order configured.
    pub fn encoding_stats(&self) -> &[Arc<EncoderStats>] {
        &self.stats
    }

    /// Asks the threads to stop (they finish within one frame).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Whether every thread has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Waits for the threads; the first error wins.
    pub fn join(mut self) -> Result<(), MediaError> {
        let mut result = Ok(());
        for t in std::mem::take(&mut self.threads) {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(MediaError::Thread("media thread panicked".into())));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

fn finish(sink: &dyn MediaSink, kind: MediaKind, r: &Result<(), MediaError>) {
    match r {
        Ok(()) => sink.on_media(MediaMessage::EndOfStream(kind)),
        Err(e) => sink.on_media(MediaMessage::Failed(kind, e.clone())),
    }
}

/// Captures the canvas: frame `n` at media time `n / fps`, into a picture
/// no encoder holds (a handful at most: one per encoder plus the latest).
fn capture_thread(
    mut source: Box<dyn VideoSource>,
    (width, height, fps): (usize, usize, u32),
    clock: MediaClock,
    duration: Option<Duration>,
    stop: &StopSignal,
    canvas: &Canvas,
) -> Result<(), MediaError> {
    let fps = u64::from(fps.max(1));
    let end_us = duration.map(|d| d.as_micros() as u64);
    let mut pool: Vec<Arc<I420Frame>> = Vec::new();
    let mut n: u64 = 0;
    loop {
        let pts_us = n * 1_000_000 / fps;
        if end_us.is_some_and(|e| pts_us >= e) || stop.is_stopped() {
            return Ok(());
        }
        let capture = clock.instant_at_us(pts_us);
        if stop.sleep_until(capture) {
            return Ok(());
        }
        // Fallen more than two frames behind: catch up (the encoders each
        // decide what they skip).
        if Instant::now().saturating_duration_since(capture)
            > Duration::from_micros(2_000_000 / fps)
        {
            n += 1;
            continue;
        }
        let slot = match pool.iter().position(|f| Arc::strong_count(f) == 1) {
            Some(i) => i,
            None => {
                pool.push(Arc::new(I420Frame::black(width, height)));
                pool.len() - 1
            }
        };
        let frame = Arc::get_mut(&mut pool[slot])
            .ok_or_else(|| MediaError::Thread("canvas picture still held".into()))?;
        let t = FrameTime {
            index: n,
            pts_ms: (pts_us / 1000) as i64,
            wall_unix_ms: clock.origin_unix_ms() + pts_us / 1000,
        };
        source.next_frame(frame, t)?;
        canvas.publish(n, capture, pool[slot].clone());
        n += 1;
    }
}

/// One video encoding: its pictures from the canvas, its encoder, its own
/// skip counter and keyframe requests.
struct EncodingThread {
    index: usize,
    encoder: H264Encoder,
    scaler: Scaler,
    canvas_fps: u32,
    stats: Arc<EncoderStats>,
}

impl EncodingThread {
    fn run(
        mut self,
        canvas: &Canvas,
        clock: MediaClock,
        duration: Option<Duration>,
        stop: &StopSignal,
        sink: &dyn MediaSink,
    ) -> Result<(), MediaError> {
        let cfg = self.encoder.config();
        let stats = &*self.stats;
        let fps = u64::from(cfg.fps.max(1));
        let canvas_fps = u64::from(self.canvas_fps.max(1));
        let gop = cfg.gop_frames();
        let mut sent_config: Option<VideoConfig> = None;
        let end_us = duration.map(|d| d.as_micros() as u64);
        let mut n: u64 = 0;
        loop {
            let pts_us = n * 1_000_000 / fps;
            if end_us.is_some_and(|e| pts_us >= e) || stop.is_stopped() {
                return Ok(());
            }
            // The newest canvas picture captured at or before this frame's time.
            let Some((capture, picture)) = canvas.wait_for(n * canvas_fps / fps) else {
                return Ok(());
            };
            // Fallen more than two frames behind real time: skip to catch
            // up, but never a keyframe slot.
            let due = clock.instant_at_us(pts_us);
            let late = Instant::now().saturating_duration_since(due);
            if late > Duration::from_micros(2_000_000 / fps) && !n.is_multiple_of(gop) {
                stats.frames_dropped_lag.fetch_add(1, Ordering::Relaxed);
                n += 1;
                continue;
            }
            let pts_ms = (pts_us / 1000) as i64;
            let want_kbps = stats.video_kbps.load(Ordering::Relaxed);
            if n > 0 && want_kbps != self.encoder.config().bitrate_kbps {
                if let Err(e) = self.encoder.set_bitrate(want_kbps) {
                    tracing::warn!(error = %e, encoding = self.index, "bitrate change refused");
                    stats
                        .video_kbps
                        .store(self.encoder.config().bitrate_kbps, Ordering::Relaxed);
                }
            }
            if stats.keyframe_wanted.swap(false, Ordering::Relaxed) {
                self.encoder.request_keyframe();
            }
            let started = Instant::now();
            let frame: &I420Frame = if self.scaler.is_identity((picture.width, picture.height)) {
                &picture
            } else {
                let f = self.scaler.scale(&picture, stats.crop())?;
                stats
                    .scale_us
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                f
            };
            let started = Instant::now();
            let encoded = self.encoder.encode(frame, pts_ms)?;
            stats
                .encode_us
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            drop(picture);
            n += 1;
            let Some(v) = encoded else { continue };
            stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
            if let (Some(sps), Some(pps)) = (&v.sps, &v.pps) {
                let vc = VideoConfig {
                    encoding: self.index,
                    width: cfg.width,
                    height: cfg.height,
                    fps: cfg.fps,
                    bitrate_kbps: cfg.bitrate_kbps,
                    sps: sps.clone(),
                    pps: pps.clone(),
                };
                if sent_config.as_ref() != Some(&vc) {
                    sink.on_media(MediaMessage::VideoConfig(vc.clone()));
                    sent_config = Some(vc);
                }
            }
            if sent_config.is_none() {
                // Nothing can decode a frame before the first SPS/PPS.
                continue;
            }
            sink.on_media(MediaMessage::Packet(EncodedPacket {
                kind: MediaKind::Video,
                encoding: self.index,
                pts_ms,
                dts_ms: pts_ms,
                keyframe: v.keyframe,
                data: v.annex_b,
                capture,
            }));
        }
    }
}

fn audio_thread(
    mut encoder: AacEncoder,
    settings: AudioSettings,
    mut source: Box<dyn AudioSource>,
    clock: MediaClock,
    duration: Option<Duration>,
    stop: &StopSignal,
    sink: &dyn MediaSink,
) -> Result<(), MediaError> {
    let sr = u64::from(SAMPLE_RATE);
    sink.on_media(MediaMessage::AudioConfig(AudioConfig {
        sample_rate: SAMPLE_RATE,
        channels: 2,
        bitrate_kbps: settings.bitrate_kbps,
        asc: encoder.audio_specific_config(),
    }));
    let mut end_sample = duration.map(|d| d.as_micros() as u64 * sr / 1_000_000);
    let mut buf = vec![0f32; AAC_FRAME_SAMPLES * 2];
    let mut next: u64 = 0;
    // After a stop: chunks still to push through the encoder so the audio
    // reaches the stop instant (its delay holds the last ~2 frames).
    let mut draining: Option<u32> = None;
    loop {
        if draining.is_none() && stop.is_stopped() {
            let now_sample = clock.media_us(std::time::Instant::now()) * sr / 1_000_000;
            end_sample = Some(end_sample.map_or(now_sample, |e| e.min(now_sample)));
            let delay_frames = encoder.delay_samples().max(0) as u64 / AAC_FRAME_SAMPLES as u64;
            draining = Some(delay_frames as u32 + 2);
        }
        match &mut draining {
            Some(0) => return Ok(()),
            Some(n) => {
                *n -= 1;
                // Captured input up to the stop, then silence to flush.
                if end_sample.is_some_and(|e| next < e) {
                    source.read(&mut buf, next)?;
                } else {
                    buf.fill(0.0);
                }
            }
            None => {
                // The chunk [next, next+1024) has been captured once its last sample is.
                let ready_us = (next + AAC_FRAME_SAMPLES as u64) * 1_000_000 / sr;
                if stop.sleep_until(clock.instant_at_us(ready_us)) {
                    continue;
                }
                source.read(&mut buf, next)?;
            }
        }
        next += AAC_FRAME_SAMPLES as u64;
        for f in encoder.encode(&buf)? {
            if end_sample.is_some_and(|e| f.first_sample >= e as i64) {
                return Ok(());
            }
            let pts_us = f.first_sample * 1_000_000 / sr as i64;
            let capture = if pts_us >= 0 {
                clock.instant_at_us(pts_us as u64)
            } else {
                clock.origin()
            };
            sink.on_media(MediaMessage::Packet(EncodedPacket {
                kind: MediaKind::Audio,
                encoding: 0,
                pts_ms: pts_us.div_euclid(1000),
                dts_ms: pts_us.div_euclid(1000),
                keyframe: true,
                data: f.data,
                capture,
            }));
        }
    }
}
