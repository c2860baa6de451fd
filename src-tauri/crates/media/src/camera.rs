//! The camera as a [`VideoSource`]: format choice, conversion on a capture
//! thread, constant frame rate on the media clock, and a slate while the
//! device is gone.
//!
//! A [`CameraOpener`] opens a [`CameraDevice`] (nokhwa's V4L2 /
//! AVFoundation / Media Foundation camera in the app, [`RecordedCamera`] in
//! tests and benchmarks). The capture thread reads raw pictures as fast as
//! the device gives them, converts each to I420 at the output size and queues
//! it with its capture time on the media clock. The video thread asks for a
//! picture at every output tick and gets the newest one captured by then:
//! a camera faster than the output has frames dropped, a slower one has
//! frames repeated, so the stream is always constant frame rate.
//!
//! When the device fails, the stream goes on with a "CAMERA LOST" slate and
//! the capture thread reopens the device every second; when it is back,
//! pictures resume. Nothing here stops the stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::convert::{Converter, PixelFormat};
use crate::frame::I420Frame;
use crate::pattern::{draw_text, hms};
use crate::{FrameTime, MediaClock, SourceError, VideoSource};

/// One way a camera can deliver pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CameraMode {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Pixel format.
    pub format: PixelFormat,
}

impl std::fmt::Display for CameraMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}@{} {}",
            self.width, self.height, self.fps, self.format
        )
    }
}

/// Output at or above this many pixels prefers MJPEG: raw 4:2:2 at 720p30
/// needs 442 Mbit/s, more than USB 2 carries, so cameras offer it only at
/// low frame rates, and decoding a JPEG costs less than that bandwidth.
const MJPEG_PREFERRED_FROM_PIXELS: u64 = 1280 * 720;

/// Picks the camera mode closest to the output size and frame rate.
///
/// In order: a mode that reaches the frame rate; one that covers the output
/// size without upscaling (the smallest such), else the largest; the frame
/// rate nearest the wanted one; then the pixel format: MJPEG from 720p up,
/// raw (NV12, then YUYV) below. Odd or oversized modes are never chosen.
pub fn choose_mode(modes: &[CameraMode], width: u32, height: u32, fps: u32) -> Option<CameraMode> {
    let big = u64::from(width) * u64::from(height) >= MJPEG_PREFERRED_FROM_PIXELS;
    let format_rank = |f: PixelFormat| -> u8 {
        match (big, f) {
            (true, PixelFormat::Mjpeg) => 0,
            (true, PixelFormat::Nv12) | (false, PixelFormat::Nv12) => 1,
            (true, PixelFormat::I420) | (false, PixelFormat::I420) => 2,
            (true, PixelFormat::Yuyv) | (false, PixelFormat::Yuyv) => 3,
            (false, PixelFormat::Mjpeg) => 4,
        }
    };
    modes
        .iter()
        .filter(|m| {
            m.width > 0
                && m.height > 0
                && m.width % 2 == 0
                && m.height % 2 == 0
                && m.width <= crate::convert::MAX_CAMERA_SIDE
                && m.height <= crate::convert::MAX_CAMERA_SIDE
                && m.fps > 0
        })
        .min_by_key(|m| {
            let area = u64::from(m.width) * u64::from(m.height);
            let covers = m.width >= width && m.height >= height;
            (
                m.fps < fps,
                !covers,
                if covers { area } else { u64::MAX - area },
                m.fps.abs_diff(fps),
                format_rank(m.format),
            )
        })
        .copied()
}

/// One raw picture from a camera.
#[derive(Debug)]
pub struct RawFrame<'a> {
    /// The bytes, laid out as the device's [`CameraMode::format`].
    pub data: &'a [u8],
    /// When it was captured.
    pub captured: Instant,
}

/// An open camera.
pub trait CameraDevice: Send {
    /// The mode it delivers.
    fn mode(&self) -> CameraMode;
    /// Blocks until the next picture. An error means the device is gone.
    fn read(&mut self) -> Result<RawFrame<'_>, SourceError>;
}

/// Opens (and, after a loss, reopens) one camera.
pub trait CameraOpener: Send + 'static {
    /// A name for logs and the slate.
    fn name(&self) -> String;
    /// Opens the device in the mode closest to the output.
    fn open(
        &mut self,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Box<dyn CameraDevice>, SourceError>;
}

/// Counters of a camera source.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Pictures read from the device.
    pub captured: AtomicU64,
    /// Pictures not shown because a newer one came before the tick.
    pub dropped: AtomicU64,
    /// Output ticks that repeated the previous picture.
    pub repeated: AtomicU64,
    /// Pictures that failed to convert (skipped).
    pub bad: AtomicU64,
    /// Times the device was lost.
    pub losses: AtomicU64,
    /// Whether the device is currently lost.
    pub lost: AtomicBool,
}

/// A converted picture waiting for its tick.
struct Queued {
    captured_us: u64,
    frame: I420Frame,
}

/// The capture thread's hand-over to the video thread.
#[derive(Default)]
struct Slot {
    queue: VecDeque<Queued>,
    spare: Vec<I420Frame>,
    lost: Option<(u64, String)>,
    last_captured_us: Option<u64>,
}

/// Pictures waiting at most; a fourth one replaces the oldest.
const QUEUE_CAP: usize = 3;
/// Spare buffers kept for reuse.
const SPARE_CAP: usize = 4;
/// The slate shows once the device has been lost or silent this long.
const SLATE_AFTER_US: u64 = 500_000;
/// A device that delivers nothing for this long is shown as stalled.
const STALLED_AFTER_US: u64 = 2_000_000;
/// Pause between reopen attempts.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

impl Slot {
    fn take_spare(&mut self, w: usize, h: usize) -> I420Frame {
        match self.spare.pop() {
            Some(f) if f.width == w && f.height == h => f,
            _ => I420Frame::black(w, h),
        }
    }

    fn recycle(&mut self, f: I420Frame) {
        if self.spare.len() < SPARE_CAP {
            self.spare.push(f);
        }
    }

    /// Queues a picture; returns how many older ones were pushed out.
    fn push(&mut self, captured_us: u64, frame: I420Frame) -> u64 {
        let mut dropped = 0;
        while self.queue.len() >= QUEUE_CAP {
            if let Some(old) = self.queue.pop_front() {
                self.recycle(old.frame);
                dropped += 1;
            }
        }
        self.queue.push_back(Queued { captured_us, frame });
        self.last_captured_us = Some(captured_us);
        dropped
    }

    /// The newest picture captured by `tick_us` (+ half a frame interval),
    /// and how many older ones it replaces.
    fn pick(&mut self, until_us: u64) -> (Option<I420Frame>, u64) {
        let mut chosen: Option<I420Frame> = None;
        let mut dropped = 0;
        while self
            .queue
            .front()
            .is_some_and(|q| q.captured_us <= until_us)
        {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            if let Some(old) = chosen.replace(q.frame) {
                self.recycle(old);
                dropped += 1;
            }
        }
        (chosen, dropped)
    }
}

struct Shared {
    slot: Mutex<Slot>,
    stop: AtomicBool,
    stats: Arc<CameraStats>,
}

/// A camera as a constant-frame-rate [`VideoSource`].
pub struct CameraSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    size: (usize, usize),
    fps: u32,
    name: String,
    mode: CameraMode,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("size", &self.size)
            .field("fps", &self.fps)
            .finish()
    }
}

impl CameraSource {
    /// Opens the camera (a missing or unusable device is an error here,
    /// before going live) and starts the capture thread.
    pub fn start(
        mut opener: Box<dyn CameraOpener>,
        width: usize,
        height: usize,
        fps: u32,
        clock: MediaClock,
    ) -> Result<Self, SourceError> {
        let (w, h) = (width as u32, height as u32);
        let device = opener.open(w, h, fps)?;
        let mode = device.mode();
        let converter = Converter::new((mode.width, mode.height), mode.format, (w, h))
            .map_err(|e| SourceError::Unsupported(e.to_string()))?;
        let name = opener.name();
        tracing::info!(camera = %name, %mode, output = %format!("{w}x{h}@{fps}"), "camera opened");
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            stop: AtomicBool::new(false),
            stats: Arc::new(CameraStats::default()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("onair-camera".into())
                .spawn(move || {
                    capture_thread(opener, device, converter, (w, h, fps), clock, &shared)
                })
                .map_err(|e| SourceError::Unsupported(format!("camera thread: {e}")))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
            size: (width & !1, height & !1),
            fps: fps.max(1),
            name,
            mode,
        })
    }

    /// The device's mode.
    pub fn mode(&self) -> CameraMode {
        self.mode
    }

    /// The counters.
    pub fn stats(&self) -> Arc<CameraStats> {
        self.shared.stats.clone()
    }

    fn draw_slate(&self, frame: &mut I420Frame, title: &str, since_us: u64, now_us: u64) {
        let (w, h) = (frame.width, frame.height);
        // Dark slate blue, in the stream's colour space.
        let slate = crate::colour::Colour::for_height(h).from_rgb(15, 30, 52);
        frame.fill_rect(0, 0, w, h, slate);
        let scale = (h / 90).max(1);
        let text_w = |s: &str| s.chars().count() * 6 * scale;
        draw_text(
            frame,
            w.saturating_sub(text_w(title)) / 2,
            h / 2 - 12 * scale,
            scale,
            title,
        );
        let line = format!(
            "RECONNECTING - {}",
            hms((now_us.saturating_sub(since_us)) / 1000)
        );
        let small = (scale / 2).max(1);
        let lw = line.chars().count() * 6 * small;
        draw_text(
            frame,
            w.saturating_sub(lw) / 2,
            h / 2 + 2 * scale,
            small,
            &line,
        );
    }
}

impl VideoSource for CameraSource {
    fn size(&self) -> (usize, usize) {
        self.size
    }

    fn next_frame(&mut self, frame: &mut I420Frame, t: FrameTime) -> Result<(), SourceError> {
        let tick_us = t.index * 1_000_000 / u64::from(self.fps);
        let half = 500_000 / u64::from(self.fps);
        let stats = &self.shared.stats;
        let (picked, dropped, lost, last) = {
            let Ok(mut slot) = self.shared.slot.lock() else {
                return Err(SourceError::Lost("camera thread failed".into()));
            };
            let (picked, dropped) = slot.pick(tick_us + half);
            let picked = picked.map(|mut p| {
                std::mem::swap(&mut p, frame);
                slot.recycle(p);
            });
            (picked, dropped, slot.lost.clone(), slot.last_captured_us)
        };
        stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        if picked.is_some() {
            return Ok(());
        }
        if let Some((since, _)) = lost {
            if tick_us.saturating_sub(since) >= SLATE_AFTER_US {
                self.draw_slate(frame, "CAMERA LOST", since, tick_us);
            }
            return Ok(());
        }
        match last {
            None if tick_us >= SLATE_AFTER_US => {
                self.draw_slate(frame, "WAITING FOR CAMERA", 0, tick_us);
            }
            Some(l) if tick_us.saturating_sub(l) >= STALLED_AFTER_US => {
                self.draw_slate(frame, "CAMERA SENDS NO PICTURES", l, tick_us);
            }
            _ => {
                stats.repeated.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The capture thread may be blocked in the driver until the next
        // picture; it exits then. Do not wait for a wedged device.
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn sleep_unless_stopped(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shared.stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
    shared.stop.load(Ordering::SeqCst)
}

fn capture_thread(
    mut opener: Box<dyn CameraOpener>,
    device: Box<dyn CameraDevice>,
    mut converter: Converter,
    (w, h, fps): (u32, u32, u32),
    clock: MediaClock,
    shared: &Shared,
) {
    let stats = &shared.stats;
    let mut device = Some(device);
    let mut warned_bad = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(dev) = device.as_mut() else {
            if sleep_unless_stopped(shared, REOPEN_EVERY) {
                return;
            }
            match opener.open(w, h, fps) {
                Ok(d) => {
                    let mode = d.mode();
                    match Converter::new((mode.width, mode.height), mode.format, (w, h)) {
                        Ok(c) => {
                            tracing::info!(%mode, "camera is back");
                            converter = c;
                            device = Some(d);
                            stats.lost.store(false, Ordering::Relaxed);
                            if let Ok(mut s) = shared.slot.lock() {
                                s.lost = None;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "camera came back in a mode we cannot use")
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "camera still gone"),
            }
            continue;
        };
        match dev.read() {
            Ok(raw) => {
                stats.captured.fetch_add(1, Ordering::Relaxed);
                let captured_us = clock.media_us(raw.captured);
                let mut buf = match shared.slot.lock() {
                    Ok(mut s) => s.take_spare(w as usize, h as usize),
                    Err(_) => return,
                };
                match converter.convert(raw.data, &mut buf) {
                    Ok(()) => {
                        if let Ok(mut s) = shared.slot.lock() {
                            let d = s.push(captured_us, buf);
                            stats.dropped.fetch_add(d, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        stats.bad.fetch_add(1, Ordering::Relaxed);
                        if !warned_bad {
                            tracing::warn!(error = %e, "camera picture skipped");
                            warned_bad = true;
                        }
                        if let Ok(mut s) = shared.slot.lock() {
                            s.recycle(buf);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "camera lost; showing the slate and retrying every second");
                stats.losses.fetch_add(1, Ordering::Relaxed);
                stats.lost.store(true, Ordering::Relaxed);
                if let Ok(mut s) = shared.slot.lock() {
                    s.lost = Some((clock.media_us(Instant::now()), e.to_string()));
                    while let Some(q) = s.queue.pop_front() {
                        s.recycle(q.frame);
                    }
                }
                device = None;
            }
        }
    }
}

/// A camera that plays back recorded pictures (tests, benchmarks): the
/// same conversion, pacing and loss handling as a real one.
#[derive(Debug, Clone)]
pub struct RecordedCamera {
    mode: CameraMode,
    frames: Arc<Vec<Vec<u8>>>,
    next: usize,
    /// Pictures to deliver before failing (`None`: never fails).
    fail_after: Option<u64>,
    delivered: u64,
    next_due: Option<Instant>,
}

impl RecordedCamera {
    /// Plays `frames` in a loop at `mode.fps`, paced by the real clock.
    pub fn new(mode: CameraMode, frames: Vec<Vec<u8>>) -> Self {
        Self {
            mode,
            frames: Arc::new(frames),
            next: 0,
            fail_after: None,
            delivered: 0,
            next_due: None,
        }
    }

    /// Fails (as an unplugged camera does) after `n` pictures.
    pub fn fail_after(mut self, n: u64) -> Self {
        self.fail_after = Some(n);
        self
    }
}

impl CameraDevice for RecordedCamera {
    fn mode(&self) -> CameraMode {
        self.mode
    }

    fn read(&mut self) -> Result<RawFrame<'_>, SourceError> {
        if self.fail_after.is_some_and(|n| self.delivered >= n) || self.frames.is_empty() {
            return Err(SourceError::Lost("recorded camera unplugged".into()));
        }
        let interval = Duration::from_micros(1_000_000 / u64::from(self.mode.fps.max(1)));
        let due = *self.next_due.get_or_insert_with(Instant::now);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.next_due = Some(due + interval);
        let i = self.next % self.frames.len();
        self.next += 1;
        self.delivered += 1;
        Ok(RawFrame {
            data: &self.frames[i],
            captured: Instant::now(),
        })
    }
}

/// Opens recorded cameras from a script: each entry is what one `open` call
/// returns (a camera, or "not there").
#[derive(Debug)]
pub struct ScriptedOpener {
    script: VecDeque<Option<RecordedCamera>>,
    /// What the last entry keeps returning once the script is used up.
    last: Option<RecordedCamera>,
}

impl ScriptedOpener {
    /// A script of `open` results; the last one repeats.
    pub fn new(script: Vec<Option<RecordedCamera>>) -> Self {
        let last = script.last().cloned().flatten();
        Self {
            script: script.into(),
            last,
        }
    }
}

impl CameraOpener for ScriptedOpener {
    fn name(&self) -> String {
        "recorded camera".into()
    }

    fn open(&mut self, _: u32, _: u32, _: u32) -> Result<Box<dyn CameraDevice>, SourceError> {
        let next = match self.script.pop_front() {
            Some(entry) => entry,
            None => self.last.clone(),
        };
        match next {
            Some(cam) => Ok(Box::new(cam)),
            None => Err(SourceError::NotFound("no camera found".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, format: PixelFormat) -> CameraMode {
        CameraMode {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn choose_mode_prefers_mjpeg_at_hd_and_raw_below() {
        let modes = [
            m(1920, 1080, 30, PixelFormat::Mjpeg),
            m(1920, 1080, 5, PixelFormat::Yuyv),
            m(1280, 720, 30, PixelFormat::Mjpeg),
            m(1280, 720, 10, PixelFormat::Yuyv),
            m(640, 480, 30, PixelFormat::Yuyv),
            m(640, 480, 30, PixelFormat::Mjpeg),
        ];
        assert_eq!(choose_mode(&modes, 1280, 720, 30), Some(modes[2]));
        assert_eq!(choose_mode(&modes, 1920, 1080, 30), Some(modes[0]));
        assert_eq!(choose_mode(&modes, 640, 360, 30), Some(modes[4]));
    }

    #[test]
    fn choose_mode_keeps_the_frame_rate_before_the_size() {
        // 1080p only at 15 fps: 720p30 upscaled beats a stuttering 1080p.
        let modes = [
            m(1920, 1080, 15, PixelFormat::Mjpeg),
            m(1280, 720, 30, PixelFormat::Mjpeg),
        ];
        assert_eq!(choose_mode(&modes, 1920, 1080, 30), Some(modes[1]));
        // Nothing reaches 60: the fastest that covers the size.
        let modes = [
            m(1280, 720, 30, PixelFormat::Mjpeg),
            m(640, 480, 30, PixelFormat::Mjpeg),
        ];
        assert_eq!(choose_mode(&modes, 1280, 720, 60), Some(modes[0]));
    }

    #[test]
    fn choose_mode_takes_the_largest_when_nothing_covers_the_output() {
        let modes = [
            m(640, 480, 30, PixelFormat::Yuyv),
            m(320, 240, 30, PixelFormat::Yuyv),
        ];
        assert_eq!(choose_mode(&modes, 1920, 1080, 30), Some(modes[0]));
    }

    #[test]
    fn choose_mode_skips_odd_zero_and_huge_modes() {
        let modes = [
            m(641, 480, 30, PixelFormat::Yuyv),
            m(0, 0, 30, PixelFormat::Yuyv),
            m(16384, 8192, 30, PixelFormat::Mjpeg),
            m(1280, 720, 0, PixelFormat::Mjpeg),
        ];
        assert_eq!(choose_mode(&modes, 1280, 720, 30), None);
    }

    fn tagged(w: usize, h: usize, luma: u8) -> I420Frame {
        let mut f = I420Frame::black(w, h);
        f.y.fill(luma);
        f
    }

    #[test]
    fn slot_gives_the_newest_picture_captured_by_the_tick() {
        let mut s = Slot::default();
        s.push(0, tagged(4, 4, 1));
        s.push(10_000, tagged(4, 4, 2));
        s.push(40_000, tagged(4, 4, 3));
        let (f, dropped) = s.pick(33_333 + 16_666 - 20_000);
        assert_eq!(f.map(|f| f.y[0]), Some(2));
        assert_eq!(dropped, 1);
        // Nothing new by the next tick: repeat (None).
        assert!(s.pick(35_000).0.is_none());
        assert_eq!(s.pick(50_000).0.map(|f| f.y[0]), Some(3));
    }

    #[test]
    fn slot_is_bounded_when_nobody_picks() {
        let mut s = Slot::default();
        let mut dropped = 0;
        for i in 0..100 {
            dropped += s.push(i, tagged(4, 4, i as u8));
        }
        assert_eq!(s.queue.len(), QUEUE_CAP);
        assert_eq!(dropped, 100 - QUEUE_CAP as u64);
        assert!(s.spare.len() <= SPARE_CAP);
    }
}
