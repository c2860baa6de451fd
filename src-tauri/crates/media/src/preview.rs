//! A small copy of the outgoing picture for the app's preview, taken from
//! the video thread a few times a second (scaled down on the way; the
//! encoder is never waited for), unless nobody looks (the window is
//! minimised): then no picture is made at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::colour::Colour;
use crate::convert::Converter;
use crate::frame::I420Frame;
use crate::{FrameTime, SourceError, VideoSource};

/// The latest preview picture: I420, planes one after the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewFrame {
    /// Bumped at every new picture.
    pub seq: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Y, then U, then V.
    pub i420: Vec<u8>,
    /// In BT.709 (the stream is HD), else BT.601; limited range.
    pub bt709: bool,
}

/// Where the preview is read.
#[derive(Debug, Clone, Default)]
pub struct Preview(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    latest: Mutex<PreviewFrame>,
    paused: AtomicBool,
}

impl Preview {
    /// The latest picture if it is newer than `seq`.
    pub fn newer_than(&self, seq: u64) -> Option<PreviewFrame> {
        let p = self.0.latest.lock().ok()?;
        (p.seq > seq).then(|| p.clone())
    }

    /// Stops (`true`) or resumes making pictures: nobody is looking, so the
    /// video thread does not scale any; the next one is made within a
    /// preview period of resuming.
    pub fn pause(&self, paused: bool) {
        self.0.paused.store(paused, Ordering::Relaxed);
    }
}

/// A video source that also feeds a [`Preview`].
pub struct PreviewTap {
    inner: Box<dyn VideoSource>,
    every: u64,
    scaler: Option<Converter>,
    small: I420Frame,
    preview: Preview,
}

impl std::fmt::Debug for PreviewTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewTap")
            .field("every", &self.every)
            .finish()
    }
}

impl PreviewTap {
    /// Taps `inner` at about `preview_fps` (of `fps`), `width` wide.
    pub fn new(
        inner: Box<dyn VideoSource>,
        fps: u32,
        preview_fps: u32,
        width: u32,
    ) -> (Self, Preview) {
        let (w, h) = inner.size();
        let pw = (width.min(w as u32)) & !1;
        let ph = ((u64::from(pw) * h as u64 / w.max(1) as u64) as u32) & !1;
        let scaler = Converter::new(
            (w as u32, h as u32),
            crate::convert::PixelFormat::I420,
            (pw.max(2), ph.max(2)),
        )
        .ok();
        let preview = Preview::default();
        (
            Self {
                inner,
                every: u64::from((fps / preview_fps.max(1)).max(1)),
                scaler,
                small: I420Frame::black(pw.max(2) as usize, ph.max(2) as usize),
                preview: preview.clone(),
            },
            preview,
        )
    }
}

impl VideoSource for PreviewTap {
    fn size(&self) -> (usize, usize) {
        self.inner.size()
    }

    fn next_frame(&mut self, frame: &mut I420Frame, t: FrameTime) -> Result<(), SourceError> {
        self.inner.next_frame(frame, t)?;
        if t.index.is_multiple_of(self.every) && !self.preview.0.paused.load(Ordering::Relaxed) {
            if let Some(s) = self.scaler.as_mut() {
                if s.scale_frame(frame, &mut self.small).is_ok() {
                    if let Ok(mut p) = self.preview.0.latest.lock() {
                        p.seq += 1;
                        p.width = self.small.width as u32;
                        p.height = self.small.height as u32;
                        p.bt709 = Colour::for_height(frame.height) == Colour::BT709;
                        p.i420.clear();
                        p.i420.extend_from_slice(&self.small.y);
                        p.i420.extend_from_slice(&self.small.u);
                        p.i420.extend_from_slice(&self.small.v);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_is_a_small_copy_a_few_times_a_second() {
        let (mut tap, preview) = PreviewTap::new(
            Box::new(crate::TestPattern::new(1280, 720, 30)),
            30,
            15,
            320,
        );
        let mut frame = I420Frame::black(1280, 720);
        let mut seen = 0;
        for index in 0..30 {
            let t = FrameTime {
                index,
                pts_ms: (index * 33) as i64,
                wall_unix_ms: 0,
            };
            tap.next_frame(&mut frame, t).unwrap();
            if let Some(p) = preview.newer_than(seen) {
                assert_eq!((p.width, p.height), (320, 180));
                assert_eq!(p.i420.len(), 320 * 180 * 3 / 2);
                assert!(p.bt709, "the stream is HD: the picture is BT.709");
                seen = p.seq;
            }
        }
        assert_eq!(seen, 15);
    }

    #[test]
    fn a_paused_preview_makes_no_picture_and_resumes_at_its_next_period() {
        let (mut tap, preview) =
            PreviewTap::new(Box::new(crate::TestPattern::new(640, 360, 30)), 30, 15, 320);
        let mut frame = I420Frame::black(640, 360);
        let mut next = |index: u64| {
            let t = FrameTime {
                index,
                pts_ms: (index * 33) as i64,
                wall_unix_ms: 0,
            };
            tap.next_frame(&mut frame, t).unwrap();
        };
        next(0);
        assert_eq!(preview.newer_than(0).map(|p| p.seq), Some(1));
        preview.pause(true);
        for index in 1..30 {
            next(index);
        }
        assert_eq!(preview.newer_than(1), None, "no picture while paused");
        preview.pause(false);
        next(30);
        assert_eq!(preview.newer_than(1).map(|p| p.seq), Some(2));
    }
}
