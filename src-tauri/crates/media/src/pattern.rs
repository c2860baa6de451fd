//! `TestPattern`: a moving picture with a frame counter and clocks drawn in.
//!
//! The background (colour bars over a luma ramp) is drawn once; each frame
//! copies it and draws a box sweeping across, a progress bar through the
//! current second, a flash square in the first frame of every second (the
//! video half of the A/V sync mark; `Tone` beeps at the same instant), and
//! text: the frame number, the media time and the wall-clock time (UTC) of
//! capture. So motion, dropped frames, A/V sync and end-to-end latency can be
//! seen by a person, and checked by a tool.
//!
//! The luma ramp carries moving fine grain, like a camera sensor's noise: a
//! flat synthetic picture would let the encoder idle far below the set
//! bitrate, and the stream would not load the network like a real one.

use crate::colour::Colour;
use crate::frame::I420Frame;
use crate::{FrameTime, SourceError, VideoSource};

/// 5x7 glyphs, one byte per row, high 5 bits used (bit 4 = leftmost).
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        _ => [0; 7],
    }
}

/// Draws `text` with its top-left corner at (x, y), each glyph pixel a
/// `scale`x`scale` square, on a black plate.
pub fn draw_text(frame: &mut I420Frame, x: usize, y: usize, scale: usize, text: &str) {
    let n = text.chars().count();
    frame.fill_rect(
        x.saturating_sub(scale),
        y.saturating_sub(scale),
        n * 6 * scale + scale,
        9 * scale,
        (16, 128, 128),
    );
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        let gx = x + i * 6 * scale;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    frame.fill_rect(
                        gx + col * scale,
                        y + row * scale,
                        scale,
                        scale,
                        (235, 128, 128),
                    );
                }
            }
        }
    }
}

/// Formats milliseconds as `HH:MM:SS.mmm`.
pub fn hms(ms: u64) -> String {
    let (h, m, s, milli) = (
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{milli:03}")
}

/// The synthetic camera.
#[derive(Debug)]
pub struct TestPattern {
    background: I420Frame,
    fps: u32,
    /// Offset of the first grain pixel in the luma plane.
    grain_start: usize,
    /// Grain values 0..=7, longer than the grain region by `GRAIN_SLACK`.
    grain: Vec<u8>,
}

const GRAIN_SLACK: usize = 4096;

/// Colour bars (75 %), R'G'B': drawn in the stream's colour space
/// ([`Colour::for_height`]), so they measure true on every player that
/// honours the signalled colour description.
pub const BARS_RGB: [(u8, u8, u8); 7] = [
    (191, 191, 191), // white
    (191, 191, 0),   // yellow
    (0, 191, 191),   // cyan
    (0, 191, 0),     // green
    (191, 0, 191),   // magenta
    (191, 0, 0),     // red
    (0, 0, 191),     // blue
];

impl TestPattern {
    /// A pattern of the given size and frame rate.
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        let mut bg = I420Frame::black(width, height);
        let (w, h) = (bg.width, bg.height);
        let bar_h = h * 2 / 3;
        let colour = Colour::for_height(h);
        for (i, &(r, g, b)) in BARS_RGB.iter().enumerate() {
            let x0 = w * i / BARS_RGB.len();
            let x1 = w * (i + 1) / BARS_RGB.len();
            bg.fill_rect(x0, 0, x1 - x0, bar_h, colour.from_rgb(r, g, b));
        }
        // Luma ramp below the bars.
        for row in bar_h..h {
            for col in 0..w {
                bg.y[row * w + col] = (16 + col * 219 / w.max(1)) as u8;
            }
        }
        let grain_start = bar_h * w;
        let mut x: u32 = 0x9E37_79B9;
        let grain = (0..(h - bar_h) * w + GRAIN_SLACK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 29) as u8
            })
            .collect();
        Self {
            background: bg,
            fps: fps.max(1),
            grain_start,
            grain,
        }
    }
}

impl VideoSource for TestPattern {
    fn size(&self) -> (usize, usize) {
        (self.background.width, self.background.height)
    }

    fn next_frame(&mut self, frame: &mut I420Frame, t: FrameTime) -> Result<(), SourceError> {
        if frame.width != self.background.width || frame.height != self.background.height {
            *frame = self.background.clone();
        } else {
            frame.copy_from(&self.background);
        }
        // Grain: a different window of the table every frame (cheap: one
        // vectorised add over a third of the luma plane).
        let off = (t.index.wrapping_mul(2_654_435_761) % GRAIN_SLACK as u64) as usize;
        for (y, g) in frame.y[self.grain_start..]
            .iter_mut()
            .zip(&self.grain[off..])
        {
            *y = y.wrapping_add(*g);
        }
        let (w, h) = (frame.width, frame.height);
        let unit = (h / 90).max(1); // 8 px at 720p
        let ms = t.pts_ms.max(0) as u64;

        // A box sweeping left to right every 4 seconds.
        let box_size = unit * 12;
        let span = w.saturating_sub(box_size).max(1) as u64;
        let bx = ((ms % 4000) * span / 4000) as usize;
        frame.fill_rect(
            bx,
            h * 2 / 3 - box_size / 2,
            box_size,
            box_size,
            (235, 128, 128),
        );

        // Progress through the current second.
        let py = h - unit * 3;
        frame.fill_rect(0, py, w, unit * 3, (16, 128, 128));
        frame.fill_rect(
            0,
            py,
            (ms % 1000) as usize * w / 1000,
            unit * 3,
            (145, 54, 34),
        );

        // The flash: first frame of each second, top-right corner.
        let frame_ms = 1000 / u64::from(self.fps);
        if ms % 1000 < frame_ms.max(1) {
            frame.fill_rect(w - unit * 16, 0, unit * 16, unit * 16, (235, 128, 128));
        }

        let scale = (unit / 2).max(1) * 2;
        draw_text(
            frame,
            unit * 4,
            unit * 4,
            scale,
            &format!("ONAIR #{:06}", t.index),
        );
        draw_text(
            frame,
            unit * 4,
            unit * 4 + scale * 10,
            scale,
            &format!("TIME {}", hms(ms)),
        );
        draw_text(
            frame,
            unit * 4,
            unit * 4 + scale * 20,
            scale,
            &format!("UTC {}", hms(t.wall_unix_ms % 86_400_000)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: u64, pts_ms: i64) -> FrameTime {
        FrameTime {
            index,
            pts_ms,
            wall_unix_ms: 1_700_000_000_000 + pts_ms as u64,
        }
    }

    #[test]
    fn consecutive_frames_differ_so_motion_is_visible() {
        let mut p = TestPattern::new(320, 180, 30);
        let mut a = I420Frame::black(320, 180);
        let mut b = I420Frame::black(320, 180);
        p.next_frame(&mut a, at(1, 33)).unwrap();
        p.next_frame(&mut b, at(2, 66)).unwrap();
        assert_ne!(a.y, b.y);
    }

    #[test]
    fn flash_square_is_lit_only_in_the_first_frame_of_each_second() {
        let mut p = TestPattern::new(1280, 720, 30);
        let mut f = I420Frame::black(1280, 720);
        let corner = |f: &I420Frame| f.mean_luma(1280 - 100, 10, 80, 80);
        p.next_frame(&mut f, at(30, 1000)).unwrap();
        assert!(corner(&f) > 200.0);
        p.next_frame(&mut f, at(31, 1033)).unwrap();
        assert!(corner(&f) < 100.0);
    }

    #[test]
    fn hms_formats_hours_minutes_seconds_millis() {
        assert_eq!(hms(3_723_045), "01:02:03.045");
    }
}
