//! Which Y'CbCr the stream speaks, and conversions into it.
//!
//! HD and up (720 lines or more) is BT.709, smaller pictures BT.601, both
//! limited range (Y' 16–235, Cb/Cr 16–240) — what players and platforms
//! assume for those sizes and what the SPS says ([`Colour::for_height`]).
//! Every path into the encoder lands in that space: the test pattern is
//! drawn from R'G'B' values ([`Colour::from_rgb`]), MJPEG (full-range BT.601
//! inside the JPEG) is decoded to R'G'B' and converted with the output's
//! matrix, and raw camera formats (YUYV, NV12, I420: BT.601 limited unless
//! the driver says otherwise) are re-expressed with a [`Transcode`].

use crate::frame::I420Frame;

/// The matrix between R'G'B' and Y'CbCr (and the primaries and transfer
/// that go with it in the stream's colour description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matrix {
    /// ITU-R BT.601 (SMPTE 170M): standard definition.
    Bt601,
    /// ITU-R BT.709: HD.
    Bt709,
}

/// The code values used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    /// Y' 16–235, Cb/Cr 16–240 (video).
    Limited,
    /// 0–255 (JPEG, computer graphics).
    Full,
}

/// A Y'CbCr colour space: matrix and range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour {
    /// Matrix.
    pub matrix: Matrix,
    /// Range.
    pub range: Range,
}

/// Pictures this tall and taller are HD: BT.709.
pub const HD_LINES: usize = 720;

impl Colour {
    /// BT.601, limited range: SD video, and what a camera's raw YUV is
    /// unless its driver says otherwise.
    pub const BT601: Colour = Colour {
        matrix: Matrix::Bt601,
        range: Range::Limited,
    };
    /// BT.709, limited range: HD video.
    pub const BT709: Colour = Colour {
        matrix: Matrix::Bt709,
        range: Range::Limited,
    };
    /// BT.601, full range: what a JPEG holds.
    pub const JPEG: Colour = Colour {
        matrix: Matrix::Bt601,
        range: Range::Full,
    };

    /// The stream's colour for a picture `height` lines tall: BT.709 from
    /// [`HD_LINES`], BT.601 below, limited range.
    pub fn for_height(height: usize) -> Self {
        if height >= HD_LINES {
            Self::BT709
        } else {
            Self::BT601
        }
    }

    /// `(Kr, Kb)` of the matrix.
    fn kr_kb(self) -> (f64, f64) {
        match self.matrix {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        }
    }

    /// `(luma offset, luma scale, chroma scale)` of the range.
    fn scales(self) -> (f64, f64, f64) {
        match self.range {
            Range::Limited => (16.0, 219.0, 224.0),
            Range::Full => (0.0, 255.0, 255.0),
        }
    }

    /// Normalised `(y 0..1, cb -0.5..0.5, cr -0.5..0.5)` to code values.
    fn encode(self, y: f64, cb: f64, cr: f64) -> (u8, u8, u8) {
        let (off, sy, sc) = self.scales();
        let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        (q(off + sy * y), q(128.0 + sc * cb), q(128.0 + sc * cr))
    }

    /// Code values to normalised `(y, cb, cr)`.
    fn decode(self, y: f64, cb: f64, cr: f64) -> (f64, f64, f64) {
        let (off, sy, sc) = self.scales();
        ((y - off) / sy, (cb - 128.0) / sc, (cr - 128.0) / sc)
    }

    /// R'G'B' (0–255, gamma-encoded) to Y'CbCr code values in this space.
    pub fn from_rgb(self, r: u8, g: u8, b: u8) -> (u8, u8, u8) {
        let (y, cb, cr) = self.ycbcr_of(
            f64::from(r) / 255.0,
            f64::from(g) / 255.0,
            f64::from(b) / 255.0,
        );
        self.encode(y, cb, cr)
    }

    /// Y'CbCr code values in this space to R'G'B' (0–255, unclamped).
    pub fn to_rgb(self, y: u8, cb: u8, cr: u8) -> (f64, f64, f64) {
        let (y, cb, cr) = self.decode(f64::from(y), f64::from(cb), f64::from(cr));
        let (r, g, b) = self.rgb_of(y, cb, cr);
        (r * 255.0, g * 255.0, b * 255.0)
    }

    fn ycbcr_of(self, r: f64, g: f64, b: f64) -> (f64, f64, f64) {
        let (kr, kb) = self.kr_kb();
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        (
            y,
            (b - y) / (2.0 * (1.0 - kb)),
            (r - y) / (2.0 * (1.0 - kr)),
        )
    }

    fn rgb_of(self, y: f64, cb: f64, cr: f64) -> (f64, f64, f64) {
        let (kr, kb) = self.kr_kb();
        let r = y + 2.0 * (1.0 - kr) * cr;
        let b = y + 2.0 * (1.0 - kb) * cb;
        let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
        (r, g, b)
    }
}

/// Fixed-point fraction bits of [`Transcode`].
const Q: i32 = 16;

/// Re-expresses I420 pictures from one colour space in another, in place:
/// the same R'G'B' under the new matrix and range. Chroma is shared by each
/// 2×2 block, so every luma sample of a block moves by the same amount of
/// that block's chroma; fixed point, no table, nothing allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcode {
    /// Y' = (ky·Y + ycb·Cb + ycr·Cr + y0) >> Q (Cb, Cr centred on 128).
    ky: i32,
    ycb: i32,
    ycr: i32,
    y0: i32,
    /// Cb' = (bb·Cb + br·Cr) >> Q + 128, Cr' likewise.
    bb: i32,
    br: i32,
    rb: i32,
    rr: i32,
}

impl Transcode {
    /// From `from` to `to`; `None` when they are the same (nothing to do).
    pub fn new(from: Colour, to: Colour) -> Option<Self> {
        if from == to {
            return None;
        }
        // The map is affine; its coefficients are its value at the basis.
        let at = |y: f64, cb: f64, cr: f64| {
            let (r, g, b) = from.rgb_of(y, cb, cr);
            to.ycbcr_of(r, g, b)
        };
        let (y_cb, b_cb, r_cb) = at(0.0, 1.0, 0.0);
        let (y_cr, b_cr, r_cr) = at(0.0, 0.0, 1.0);
        let (foff, fsy, fsc) = from.scales();
        let (toff, tsy, tsc) = to.scales();
        let fix = |v: f64| (v * f64::from(1 << Q)).round() as i32;
        let ky = tsy / fsy;
        Some(Self {
            ky: fix(ky),
            ycb: fix(tsy * y_cb / fsc),
            ycr: fix(tsy * y_cr / fsc),
            // Y' = toff + ky·(Y − foff) + …, plus a half for rounding.
            y0: fix(toff - ky * foff + 0.5),
            bb: fix(tsc * b_cb / fsc),
            br: fix(tsc * b_cr / fsc),
            rb: fix(tsc * r_cb / fsc),
            rr: fix(tsc * r_cr / fsc),
        })
    }

    /// Converts `frame` in place.
    pub fn apply(&self, frame: &mut I420Frame) {
        /// Chroma samples per pass: their luma offsets live on the stack.
        const CHUNK: usize = 64;
        let (w, h) = (frame.width, frame.height);
        let cw = w / 2;
        let half = 1 << (Q - 1);
        let clamp = |v: i32| v.clamp(0, 255) as u8;
        for cy in 0..h / 2 {
            let urow = &mut frame.u[cy * cw..(cy + 1) * cw];
            let vrow = &mut frame.v[cy * cw..(cy + 1) * cw];
            let (top, bottom) = frame.y[2 * cy * w..(2 * cy + 2) * w].split_at_mut(w);
            for start in (0..cw).step_by(CHUNK) {
                let n = CHUNK.min(cw - start);
                let mut dy = [0i32; 2 * CHUNK];
                for i in 0..n {
                    let cb = i32::from(urow[start + i]) - 128;
                    let cr = i32::from(vrow[start + i]) - 128;
                    let d = self.ycb * cb + self.ycr * cr + self.y0;
                    dy[2 * i] = d;
                    dy[2 * i + 1] = d;
                    urow[start + i] = clamp(((self.bb * cb + self.br * cr + half) >> Q) + 128);
                    vrow[start + i] = clamp(((self.rb * cb + self.rr * cr + half) >> Q) + 128);
                }
                // Straight loops over a row and its offsets: vectorised.
                for row in [
                    &mut top[2 * start..2 * (start + n)],
                    &mut bottom[2 * start..2 * (start + n)],
                ] {
                    for (p, d) in row.iter_mut().zip(&dy[..2 * n]) {
                        *p = clamp((self.ky * i32::from(*p) + d) >> Q);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 75 % bars, R'G'B'.
    const BARS: [(u8, u8, u8); 7] = [
        (191, 191, 191),
        (191, 191, 0),
        (0, 191, 191),
        (0, 191, 0),
        (191, 0, 191),
        (191, 0, 0),
        (0, 0, 191),
    ];

    #[test]
    fn hd_is_bt709_and_sd_bt601_both_limited() {
        assert_eq!(Colour::for_height(720), Colour::BT709);
        assert_eq!(Colour::for_height(1080), Colour::BT709);
        assert_eq!(
            Colour::for_height(1920),
            Colour::BT709,
            "vertical 1080x1920"
        );
        assert_eq!(Colour::for_height(719), Colour::BT601);
        assert_eq!(Colour::for_height(360), Colour::BT601);
    }

    #[test]
    fn bars_match_the_published_code_values() {
        // 75 % bars (R'G'B' 191 of 255), BT.601 limited.
        assert_eq!(Colour::BT601.from_rgb(191, 191, 0), (161, 44, 142));
        assert_eq!(Colour::BT601.from_rgb(191, 0, 0), (65, 100, 212));
        // BT.709 limited (as ITU-R BT.709 bars: yellow 168,44,136; red 51,109,212).
        assert_eq!(Colour::BT709.from_rgb(191, 191, 0), (168, 44, 136));
        assert_eq!(Colour::BT709.from_rgb(191, 0, 0), (51, 109, 212));
        assert_eq!(Colour::BT709.from_rgb(0, 0, 0), (16, 128, 128));
        assert_eq!(Colour::BT709.from_rgb(255, 255, 255), (235, 128, 128));
    }

    #[test]
    fn rgb_survives_a_round_trip_in_every_space() {
        for c in [Colour::BT601, Colour::BT709, Colour::JPEG] {
            for (r, g, b) in BARS {
                let (y, u, v) = c.from_rgb(r, g, b);
                let (r2, g2, b2) = c.to_rgb(y, u, v);
                for (a, b) in [(r, r2), (g, g2), (b, b2)] {
                    assert!(
                        (f64::from(a) - b).abs() <= 2.0,
                        "{c:?} {r},{g},{b} -> {r2},{g2},{b2}"
                    );
                }
            }
        }
    }

    fn uniform(w: usize, h: usize, yuv: (u8, u8, u8)) -> I420Frame {
        let mut f = I420Frame::black(w, h);
        f.fill_rect(0, 0, w, h, yuv);
        f
    }

    #[test]
    fn a_camera_s_bt601_becomes_the_same_colour_in_bt709() {
        let t = Transcode::new(Colour::BT601, Colour::BT709).unwrap();
        for (r, g, b) in BARS {
            let mut f = uniform(4, 4, Colour::BT601.from_rgb(r, g, b));
            t.apply(&mut f);
            let want = Colour::BT709.from_rgb(r, g, b);
            let got = (f.y[5], f.u[1], f.v[1]);
            for (a, b) in [(want.0, got.0), (want.1, got.1), (want.2, got.2)] {
                assert!(a.abs_diff(b) <= 1, "{r},{g},{b}: want {want:?} got {got:?}");
            }
        }
    }

    #[test]
    fn full_range_becomes_limited_and_back() {
        let there = Transcode::new(Colour::JPEG, Colour::BT601).unwrap();
        let back = Transcode::new(Colour::BT601, Colour::JPEG).unwrap();
        let mut f = uniform(2, 2, (255, 128, 128));
        there.apply(&mut f);
        assert_eq!((f.y[0], f.u[0], f.v[0]), (235, 128, 128));
        back.apply(&mut f);
        assert_eq!((f.y[0], f.u[0], f.v[0]), (255, 128, 128));
        assert!(Transcode::new(Colour::BT709, Colour::BT709).is_none());
    }
}
