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
    pub encodings: Vec<VideoEncoding>,
    /// Audio settings (`None`: no audio track).
    pub audio: Option<AudioSettings>,
    /// Stop by itself after this much media time.
    pub duration: Option<Duration>,
}

/// One video encoding of the capture: its encoder's settings and where it
/// crops the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoEncoding {
    /// The encoder's settings (its size is the picture it encodes).
    pub video: H264Config,
    /// Horizontal crop position from its first picture (0.0–1.0, the
    /// centre 0.5), moved later through its [`EncoderStats`].
    pub crop_x: f32,
}

impl From<H264Config> for VideoEncoding {
    /// Cropped at the centre.
    fn from(video: H264Config) -> Self {
        Self { video, crop_x: 0.5 }
    }
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
            encodings: vec![video.into()],
            audio: Some(AudioSettings { bitrate_kbps: 160 }),
            duration: None,
        }
    }

    /// What the source captures: the size of the largest encoding (by area;
    /// the first of equals) at the highest frame rate any encoding needs.
    pub fn canvas(&self) -> (usize, usize, u32) {
        let mut largest: Option<&H264Config> = None;
        for e in self.encodings.iter().map(|e| &e.video) {
            if largest.is_none_or(|l| e.width * e.height > l.width * l.height) {
                largest = Some(e);
            }
        }
        let fps = self.encodings.iter().map(|e| e.video.fps).max();
        let fps = fps.unwrap_or(30);
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
    /// The number of the next picture the capture takes.
    next: u64,
    /// No more pictures: stopped, or the source failed (then why).
    closed: Option<Option<MediaError>>,
}

impl Canvas {
    fn publish(&self, index: u64, capture: Instant, frame: Arc<I420Frame>) {
        if let Ok(mut s) = self.latest.lock() {
            s.frame = Some((index, capture, frame));
            s.next = index + 1;
        }
        self.cv.notify_all();
    }

    /// The capture skipped to `index` (it had fallen behind).
    fn skip_to(&self, index: u64) {
        if let Ok(mut s) = self.latest.lock() {
            s.next = s.next.max(index);
        }
    }

    fn close(&self, failure: Option<MediaError>) {
        if let Ok(mut s) = self.latest.lock() {
            s.closed = Some(failure);
        }
        self.cv.notify_all();
    }

    /// Wakes whoever waits (their stop flag was set).
    fn wake(&self) {
        let _held = self.latest.lock();
        self.cv.notify_all();
    }

    /// The number of the next picture the capture takes.
    fn next_index(&self) -> u64 {
        self.latest.lock().map_or(0, |s| s.next)
    }

    /// Why the capture closed, if it did.
    fn closed(&self) -> Option<Option<MediaError>> {
        self.latest.lock().ok().and_then(|s| s.closed.clone())
    }

    /// Waits for canvas frame `index` or a later one; `Err` once closed
    /// (with the source's error, if it failed) or once `stop` is set.
    fn wait_for(
        &self,
        index: u64,
        stop: &StopSignal,
    ) -> Result<(Instant, Arc<I420Frame>), Option<MediaError>> {
        let mut s = self.latest.lock().map_err(|_| None)?;
        loop {
            // Checked under the lock: `wake` takes it after the flag is set.
            if stop.is_stopped() {
                return Err(None);
            }
            if let Some((i, at, f)) = &s.frame {
                if *i >= index {
                    return Ok((*at, f.clone()));
                }
            }
            if let Some(why) = &s.closed {
                return Err(why.clone());
            }
            s = self.cv.wait(s).map_err(|_| None)?;
        }
    }
}

/// The audio encode attached to a capture: fed by the capture's audio
/// thread with every chunk from its first sample on.
struct AudioEncode {
    encoder: AacEncoder,
    sink: Arc<dyn MediaSink>,
    /// The stream's media clock (its time 0 is the first sample).
    clock: MediaClock,
    /// The capture's sample number of the stream's sample 0.
    first: u64,
    /// Samples (per channel) fed to the encoder so far.
    fed: u64,
    /// Stop after this many samples (the duration).
    end: Option<u64>,
    /// Samples waiting for a whole encoder frame (interleaved stereo).
    carry: Vec<f32>,
}

impl AudioEncode {
    /// Feeds the capture's chunk starting at capture sample `at`; returns
    /// whether the duration is reached.
    fn feed(&mut self, chunk: &[f32], at: u64) -> Result<bool, MediaError> {
        let frames = (chunk.len() / 2) as u64;
        let want = self.first + self.fed;
        if at + frames <= want {
            return Ok(false);
        }
        // A gap (the chunk starts after the sample the stream needs next,
        // as when the first chunk came late): silence keeps the timeline.
        if at > want {
            let gap = (at - want).min(u64::from(SAMPLE_RATE));
            self.push_silence(gap)?;
        }
        let skip = want.saturating_sub(at) as usize;
        let mut take = &chunk[skip * 2..];
        if let Some(end) = self.end {
            let left = end.saturating_sub(self.fed) as usize;
            take = &take[..take.len().min(left * 2)];
        }
        self.push(take)?;
        Ok(self.end.is_some_and(|e| self.fed >= e))
    }

    fn push_silence(&mut self, samples: u64) -> Result<(), MediaError> {
        let zeros = vec![0f32; samples as usize * 2];
        self.push(&zeros)
    }

    fn push(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self.fed += (samples.len() / 2) as u64;
        self.carry.extend_from_slice(samples);
        let whole = self.carry.len() / (AAC_FRAME_SAMPLES * 2) * (AAC_FRAME_SAMPLES * 2);
        if whole > 0 {
            let frames = self.encoder.encode(&self.carry[..whole])?;
            self.carry.drain(..whole);
            self.send(frames);
        }
        Ok(())
    }

    fn send(&self, frames: Vec<crate::EncodedAudio>) {
        let sr = i64::from(SAMPLE_RATE);
        for f in frames {
            if f.first_sample >= self.fed as i64 {
                // Past the end (the flush's silence).
                continue;
            }
            let pts_us = f.first_sample * 1_000_000 / sr;
            let capture = if pts_us >= 0 {
                self.clock.instant_at_us(pts_us as u64)
            } else {
                self.clock.origin()
            };
            self.sink.on_media(MediaMessage::Packet(EncodedPacket {
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

    /// Pushes what the encoder still holds (its delay) through with
    /// silence, sends the frames up to the last sample fed, and ends the
    /// audio.
    fn finish(mut self) {
        let delay_frames = self.encoder.delay_samples().max(0) as usize / AAC_FRAME_SAMPLES;
        let mut tail = std::mem::take(&mut self.carry);
        tail.resize(
            tail.len().div_ceil(AAC_FRAME_SAMPLES * 2) * AAC_FRAME_SAMPLES * 2,
            0.0,
        );
        tail.extend(std::iter::repeat_n(
            0.0,
            (delay_frames + 2) * AAC_FRAME_SAMPLES * 2,
        ));
        match self.encoder.encode(&tail) {
            Ok(frames) => {
                // `fed` still counts only real samples: the silence's
                // frames are not sent.
                self.send(frames);
                self.sink
                    .on_media(MediaMessage::EndOfStream(MediaKind::Audio));
            }
            Err(e) => self
                .sink
                .on_media(MediaMessage::Failed(MediaKind::Audio, e)),
        }
    }
}

/// Where a capture's audio thread hands its chunks: the attached audio
/// encode, if any.
#[derive(Default)]
struct AudioTap {
    encode: Mutex<Option<AudioEncode>>,
    /// Told when the encode leaves (ended, failed or taken).
    left: Condvar,
}

impl AudioTap {
    fn take(&self) -> Option<AudioEncode> {
        let e = self.encode.lock().ok().and_then(|mut e| e.take());
        self.left.notify_all();
        e
    }

    /// Waits until no encode is attached; `false` if one still is after
    /// `within`.
    fn wait_gone(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let Ok(mut e) = self.encode.lock() else {
            return false;
        };
        while e.is_some() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.left.wait_timeout(e, deadline - now) {
                Ok((g, _)) => e = g,
                Err(_) => return false,
            }
        }
        true
    }
}

/// The sources running without any encoder: the video source filling the
/// canvas at its size and frame rate, and the audio source read at its
/// pace (so a preview and the meters run before going live). Encoders
/// attach to it ([`Pipeline::attach`]) and leave; the sources stay open.
pub struct Capture {
    stop: Arc<StopSignal>,
    canvas: Arc<Canvas>,
    audio: Option<Arc<AudioTap>>,
    threads: Vec<JoinHandle<Result<(), MediaError>>>,
    clock: MediaClock,
    size: (usize, usize, u32),
    /// An encoder pipeline is attached.
    attached: Arc<AtomicBool>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("size", &self.size)
            .field("audio", &self.audio.is_some())
            .finish()
    }
}

impl Capture {
    /// Starts the capture thread (the `video` source must deliver
    /// `width`×`height`; picture `n` at `n / fps` on `clock`) and, with an
    /// `audio` source, the audio thread (sample `k` at `k / 48000`).
    pub fn start(
        video: Box<dyn VideoSource>,
        (width, height, fps): (usize, usize, u32),
        audio: Option<Box<dyn AudioSource>>,
        clock: MediaClock,
    ) -> Result<Self, MediaError> {
        let stop = Arc::new(StopSignal::default());
        let canvas = Arc::new(Canvas::default());
        let mut threads = Vec::new();
        {
            let (stop, canvas) = (stop.clone(), canvas.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("onair-capture".into())
                    .spawn(move || {
                        let r = capture_thread(video, (width, height, fps), clock, &stop, &canvas);
                        canvas.close(r.as_ref().err().cloned());
                        r
                    })
                    .map_err(|e| MediaError::Thread(e.to_string()))?,
            );
        }
        let tap = match audio {
            Some(source) => {
                let tap = Arc::new(AudioTap::default());
                let (stop, t) = (stop.clone(), tap.clone());
                threads.push(
                    std::thread::Builder::new()
                        .name("onair-audio".into())
                        .spawn(move || {
                            let r = audio_thread(source, clock, &stop, &t);
                            // An encode still attached ends with the capture.
                            match (&r, t.take()) {
                                (Err(e), Some(enc)) => enc
                                    .sink
                                    .on_media(MediaMessage::Failed(MediaKind::Audio, e.clone())),
                                (Ok(()), Some(enc)) => enc.finish(),
                                (_, None) => {}
                            }
                            r
                        })
                        .map_err(|e| MediaError::Thread(e.to_string()))?,
                );
                Some(tap)
            }
            None => None,
        };
        Ok(Self {
            stop,
            canvas,
            audio: tap,
            threads,
            clock,
            size: (width, height, fps),
            attached: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The canvas: width, height, frame rate.
    pub fn size(&self) -> (usize, usize, u32) {
        self.size
    }

    /// Whether there is an audio source.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The capture's clock (time 0 is when it started).
    pub fn clock(&self) -> MediaClock {
        self.clock
    }

    /// Whether a source has stopped (failed, or the capture was stopped).
    pub fn is_stopped(&self) -> bool {
        self.canvas.closed().is_some() || self.threads.iter().any(JoinHandle::is_finished)
    }

    /// Asks the threads to stop (within one frame).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Stops and waits for the threads; the first error wins.
    pub fn join(mut self) -> Result<(), MediaError> {
        self.stop.stop();
        join_all(std::mem::take(&mut self.threads))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.stop();
        let _ = join_all(std::mem::take(&mut self.threads));
    }
}

fn join_all(threads: Vec<JoinHandle<Result<(), MediaError>>>) -> Result<(), MediaError> {
    let mut result = Ok(());
    for t in threads {
        let r = t
            .join()
            .unwrap_or_else(|_| Err(MediaError::Thread("media thread panicked".into())));
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// The running encode threads of one stream, attached to a [`Capture`].
pub struct Pipeline {
    stop: Arc<StopSignal>,
    threads: Vec<JoinHandle<Result<(), MediaError>>>,
    stats: Vec<Arc<EncoderStats>>,
    clock: MediaClock,
    audio: Option<Arc<AudioTap>>,
    canvas: Arc<Canvas>,
    attached: Arc<AtomicBool>,
    /// The capture [`Pipeline::start`] opened for this stream alone.
    own_capture: Option<Capture>,
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
    /// A capture of its own ([`PipelineConfig::canvas`]; the `video`
    /// source must deliver that size) with the encoders attached; both
    /// stop together.
    pub fn start(
        config: PipelineConfig,
        video: Box<dyn VideoSource>,
        audio: Option<Box<dyn AudioSource>>,
        clock: MediaClock,
        sink: Arc<dyn MediaSink>,
    ) -> Result<Self, MediaError> {
        let audio = audio.filter(|_| config.audio.is_some());
        let capture = Capture::start(video, config.canvas(), audio, clock)?;
        let mut p = Self::attach(&capture, config, sink)?;
        p.own_capture = Some(capture);
        Ok(p)
    }

    /// Creates the encoders (errors surface here) and starts encoding the
    /// running `capture` from its next picture: one thread per video
    /// encoding, and the audio encode (fed by the capture's audio thread).
    /// The stream's timestamps start at 0 with that picture, audio and
    /// video on one timeline. The capture's canvas must be
    /// [`PipelineConfig::canvas`]; one pipeline at a time.
    pub fn attach(
        capture: &Capture,
        config: PipelineConfig,
        sink: Arc<dyn MediaSink>,
    ) -> Result<Self, MediaError> {
        if config.encodings.is_empty() {
            return Err(MediaError::Encoder("no video encoding".into()));
        }
        let (cw, ch, cfps) = config.canvas();
        if (cw, ch, cfps) != capture.size {
            let (w, h, f) = capture.size;
            return Err(MediaError::Encoder(format!(
                "the capture runs {w}x{h}@{f}, the encodings need {cw}x{ch}@{cfps}"
            )));
        }
        if let Some(Some(e)) = capture.canvas.closed() {
            return Err(e);
        }
        let canvas_colour = Colour::for_height(ch);
        // Every encoder first: a size one cannot take fails before any thread.
        let mut encoders = Vec::new();
        for (i, e) in config.encodings.iter().enumerate() {
            let stats = Arc::new(EncoderStats::default());
            stats
                .video_kbps
                .store(e.video.bitrate_kbps, Ordering::Relaxed);
            stats.set_crop(e.crop_x);
            encoders.push((i, H264Encoder::new(e.video)?, stats));
        }
        let aac = match (config.audio, &capture.audio) {
            (Some(settings), Some(_)) => Some((
                settings,
                AacEncoder::new(SAMPLE_RATE, settings.bitrate_kbps)?,
            )),
            _ => None,
        };
        if capture.attached.swap(true, Ordering::SeqCst) {
            return Err(MediaError::Thread(
                "the capture already feeds a stream".into(),
            ));
        }
        // The stream starts with the next picture: its capture time is the
        // stream's time 0, for the audio too.
        let first = capture.canvas.next_index();
        let fps = u64::from(cfps.max(1));
        let offset_us = first * 1_000_000 / fps;
        let clock = MediaClock::new(
            capture.clock.instant_at_us(offset_us),
            capture.clock.origin_unix_ms() + offset_us / 1000,
        );
        let stats: Vec<_> = encoders.iter().map(|(_, _, s)| s.clone()).collect();
        let stop = Arc::new(StopSignal::default());
        let mut threads = Vec::new();
        let video_left = Arc::new(AtomicUsize::new(encoders.len()));
        let spawned = (|| {
            for (index, h264, stats) in encoders {
                let (stop, canvas, sink) = (stop.clone(), capture.canvas.clone(), sink.clone());
                let video_left = video_left.clone();
                let duration = config.duration;
                let scaler = Scaler::new(h264.config().width, h264.config().height, canvas_colour);
                let encoding = EncodingThread {
                    index,
                    encoder: h264,
                    scaler,
                    canvas_fps: cfps,
                    first,
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
            Ok::<_, MediaError>(())
        })();
        if let Err(e) = spawned {
            stop.stop();
            let _ = join_all(threads);
            capture.attached.store(false, Ordering::SeqCst);
            return Err(e);
        }
        let audio = match (aac, &capture.audio) {
            (Some((settings, encoder)), Some(tap)) => {
                sink.on_media(MediaMessage::AudioConfig(AudioConfig {
                    sample_rate: SAMPLE_RATE,
                    channels: 2,
                    bitrate_kbps: settings.bitrate_kbps,
                    asc: encoder.audio_specific_config(),
                }));
                let sr = u64::from(SAMPLE_RATE);
                let encode = AudioEncode {
                    encoder,
                    sink: sink.clone(),
                    clock,
                    first: first * sr / fps,
                    fed: 0,
                    end: config
                        .duration
                        .map(|d| d.as_micros() as u64 * sr / 1_000_000),
                    carry: Vec::with_capacity(AAC_FRAME_SAMPLES * 4),
                };
                if let Ok(mut slot) = tap.encode.lock() {
                    *slot = Some(encode);
                }
                Some(tap.clone())
            }
            _ => None,
        };
        Ok(Self {
            stop,
            threads,
            stats,
            clock,
            audio,
            canvas: capture.canvas.clone(),
            attached: capture.attached.clone(),
            own_capture: None,
        })
    }

    /// The stream's media clock (time 0 is its first picture).
    pub fn clock(&self) -> MediaClock {
        self.clock
    }

    /// Every encoding's counters and controls, in the order configured.
    pub fn encoding_stats(&self) -> &[Arc<EncoderStats>] {
        &self.stats
    }

    /// Asks the encoders to stop: the video ones at once, the audio at
    /// the sample of this instant (the capture's audio thread feeds it up
    /// to there within a chunk, 21 ms). The capture goes on.
    pub fn stop(&self) {
        self.stop.stop();
        self.canvas.wake();
        if let Some(tap) = &self.audio {
            if let Ok(mut slot) = tap.encode.lock() {
                if let Some(enc) = slot.as_mut() {
                    let sr = u64::from(SAMPLE_RATE);
                    let now = self.clock.media_us(Instant::now()) * sr / 1_000_000;
                    enc.end = Some(enc.end.map_or(now, |e| e.min(now)));
                }
            }
        }
    }

    /// Waits for the encoders (after [`Pipeline::stop`], or the duration);
    /// the audio's last frames are sent. The first error wins.
    pub fn join(mut self) -> Result<(), MediaError> {
        let result = join_all(std::mem::take(&mut self.threads));
        if let Some(tap) = &self.audio {
            // The audio thread ends the audio; should it not within a
            // second (its source stuck), it is ended here.
            if !tap.wait_gone(Duration::from_secs(1)) {
                if let Some(enc) = tap.take() {
                    enc.finish();
                }
            }
        }
        if let Some(c) = self.own_capture.take() {
            c.join()?;
        }
        result
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.stop();
        self.canvas.wake();
        if let Some(tap) = &self.audio {
            drop(tap.take());
        }
        self.attached.store(false, Ordering::SeqCst);
    }
}

/// Captures the canvas: frame `n` at capture time `n / fps`, into a
/// picture no encoder holds (a handful at most: one per encoder plus the
/// latest).
fn capture_thread(
    mut source: Box<dyn VideoSource>,
    (width, height, fps): (usize, usize, u32),
    clock: MediaClock,
    stop: &StopSignal,
    canvas: &Canvas,
) -> Result<(), MediaError> {
    let fps = u64::from(fps.max(1));
    let mut pool: Vec<Arc<I420Frame>> = Vec::new();
    let mut n: u64 = 0;
    loop {
        let pts_us = n * 1_000_000 / fps;
        if stop.is_stopped() {
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
            canvas.skip_to(n);
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
    /// The canvas picture the stream starts with.
    first: u64,
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
            let (capture, picture) = match canvas.wait_for(self.first + n * canvas_fps / fps, stop)
            {
                Ok(p) => p,
                Err(None) => return Ok(()),
                Err(Some(e)) => return Err(e),
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

/// Reads the audio source at its pace, chunk by chunk (the meters see
/// every sample), and hands each chunk to the attached encode, if any.
fn audio_thread(
    mut source: Box<dyn AudioSource>,
    clock: MediaClock,
    stop: &StopSignal,
    tap: &AudioTap,
) -> Result<(), MediaError> {
    let sr = u64::from(SAMPLE_RATE);
    let mut buf = vec![0f32; AAC_FRAME_SAMPLES * 2];
    let mut next: u64 = 0;
    loop {
        // The chunk [next, next+1024) has been captured once its last sample is.
        let ready_us = (next + AAC_FRAME_SAMPLES as u64) * 1_000_000 / sr;
        if stop.sleep_until(clock.instant_at_us(ready_us)) {
            return Ok(());
        }
        source.read(&mut buf, next)?;
        let Ok(mut slot) = tap.encode.lock() else {
            return Err(MediaError::Thread("audio tap poisoned".into()));
        };
        if let Some(enc) = slot.as_mut() {
            match enc.feed(&buf, next) {
                Ok(false) => {}
                // The duration reached: the stream's audio ends here.
                Ok(true) => {
                    if let Some(enc) = slot.take() {
                        enc.finish();
                    }
                    tap.left.notify_all();
                }
                Err(e) => {
                    if let Some(enc) = slot.take() {
                        enc.sink.on_media(MediaMessage::Failed(MediaKind::Audio, e));
                    }
                    tap.left.notify_all();
                }
            }
        }
        drop(slot);
        next += AAC_FRAME_SAMPLES as u64;
    }
}
