//! The capture + encode threads.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aac::{AacEncoder, AAC_FRAME_SAMPLES};
use crate::frame::I420Frame;
use crate::h264::{H264Config, H264Encoder};
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

/// What to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Video settings.
    pub video: H264Config,
    /// Audio settings (`None`: no audio track).
    pub audio: Option<AudioSettings>,
    /// Stop by itself after this much media time.
    pub duration: Option<Duration>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            video: H264Config {
                width: 1280,
                height: 720,
                fps: 30,
                bitrate_kbps: 3000,
                keyframe_interval_s: 2,
            },
            audio: Some(AudioSettings { bitrate_kbps: 160 }),
            duration: None,
        }
    }
}

/// Counters the pipeline keeps.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Video frames encoded.
    pub frames_encoded: AtomicU64,
    /// Video frames skipped because encoding fell behind real time.
    pub frames_dropped_lag: AtomicU64,
    /// Microseconds spent encoding video (for the overload warning).
    pub encode_us: AtomicU64,
    /// Video bitrate asked of the encoder, kbit/s (dynamic bitrate writes it;
    /// the video thread applies it before the next frame).
    pub video_kbps: AtomicU32,
    /// Set to make the next video frame a keyframe (a recording starting
    /// mid-stream); the video thread clears it.
    pub keyframe_wanted: AtomicBool,
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

/// The running capture + encode threads.
pub struct Pipeline {
    stop: Arc<StopSignal>,
    threads: Vec<JoinHandle<Result<(), MediaError>>>,
    stats: Arc<PipelineStats>,
    clock: MediaClock,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("clock", &self.clock)
            .finish()
    }
}

impl Pipeline {
    /// Creates the encoders (errors surface here) and starts the threads.
    pub fn start(
        config: PipelineConfig,
        video: Box<dyn VideoSource>,
        audio: Option<Box<dyn AudioSource>>,
        clock: MediaClock,
        sink: Arc<dyn MediaSink>,
    ) -> Result<Self, MediaError> {
        let stop = Arc::new(StopSignal::default());
        let stats = Arc::new(PipelineStats::default());
        stats
            .video_kbps
            .store(config.video.bitrate_kbps, Ordering::Relaxed);
        let h264 = H264Encoder::new(config.video)?;
        let mut threads = Vec::new();
        {
            let (stop, stats, sink) = (stop.clone(), stats.clone(), sink.clone());
            let duration = config.duration;
            threads.push(
                std::thread::Builder::new()
                    .name("onair-video".into())
                    .spawn(move || {
                        let r = video_thread(h264, video, clock, duration, &stop, &stats, &*sink);
                        finish(&*sink, MediaKind::Video, &r);
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

    /// The counters.
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// Asks the video encoder for a new bitrate (applied before the next frame).
    pub fn set_video_bitrate(&self, kbps: u32) {
        self.stats.video_kbps.store(kbps, Ordering::Relaxed);
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

fn video_thread(
    mut encoder: H264Encoder,
    mut source: Box<dyn VideoSource>,
    clock: MediaClock,
    duration: Option<Duration>,
    stop: &StopSignal,
    stats: &PipelineStats,
    sink: &dyn MediaSink,
) -> Result<(), MediaError> {
    let cfg = encoder.config();
    let fps = u64::from(cfg.fps.max(1));
    let gop = cfg.gop_frames();
    let mut frame = I420Frame::black(cfg.width, cfg.height);
    let mut sent_config: Option<VideoConfig> = None;
    let end_us = duration.map(|d| d.as_micros() as u64);
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
        // Fallen more than two frames behind real time: skip to catch up,
        // but never skip a keyframe.
        let late = Instant::now().saturating_duration_since(capture);
        if late > Duration::from_micros(2_000_000 / fps) && !n.is_multiple_of(gop) {
            stats.frames_dropped_lag.fetch_add(1, Ordering::Relaxed);
            n += 1;
            continue;
        }
        let pts_ms = (pts_us / 1000) as i64;
        let t = FrameTime {
            index: n,
            pts_ms,
            wall_unix_ms: clock.origin_unix_ms() + pts_us / 1000,
        };
        source.next_frame(&mut frame, t)?;
        let want_kbps = stats.video_kbps.load(Ordering::Relaxed);
        if n > 0 && want_kbps != encoder.config().bitrate_kbps {
            if let Err(e) = encoder.set_bitrate(want_kbps) {
                tracing::warn!(error = %e, "bitrate change refused");
                stats
                    .video_kbps
                    .store(encoder.config().bitrate_kbps, Ordering::Relaxed);
            }
        }
        if stats.keyframe_wanted.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let started = Instant::now();
        let encoded = encoder.encode(&frame, pts_ms)?;
        stats
            .encode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        n += 1;
        let Some(v) = encoded else { continue };
        stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
        if let (Some(sps), Some(pps)) = (&v.sps, &v.pps) {
            let vc = VideoConfig {
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
            pts_ms,
            dts_ms: pts_ms,
            keyframe: v.keyframe,
            data: v.annex_b,
            capture,
        }));
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
                pts_ms: pts_us.div_euclid(1000),
                dts_ms: pts_us.div_euclid(1000),
                keyframe: true,
                data: f.data,
                capture,
            }));
        }
    }
}
