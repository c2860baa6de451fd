//! One encoding's picture from the canvas: crop to the encoding's aspect,
//! scale to its size, and re-express in its colour space.
//!
//! The canvas is what the source captures (the largest size any encoding
//! needs). An encoding narrower than the canvas (vertical 9:16 from a 16:9
//! camera) takes a full-height slice whose horizontal position is the crop
//! position, 0.0 (left edge) to 1.0 (right edge), 0.5 the centre; one wider
//! than the canvas takes a centred full-width band. The three planes are
//! scaled by `fast_image_resize` (SIMD, bilinear) from the same crop, the
//! chroma one at half resolution, so luma and chroma stay aligned.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::colour::{Colour, Transcode};
use crate::frame::I420Frame;
use crate::MediaError;

/// Where in a `src` picture the part shown at `dst`'s aspect lies:
/// `(left, top, width, height)` in source pixels, `x` the horizontal crop
/// position (clamped to 0.0–1.0; NaN is the centre).
pub fn crop_rect(src: (usize, usize), dst: (usize, usize), x: f32) -> (f64, f64, f64, f64) {
    let (sw, sh) = (src.0 as f64, src.1 as f64);
    let (dw, dh) = (dst.0.max(1) as f64, dst.1.max(1) as f64);
    let x = if x.is_nan() {
        0.5
    } else {
        f64::from(x.clamp(0.0, 1.0))
    };
    // Compare aspects without division: dw/dh against sw/sh.
    if dw * sh < sw * dh {
        // Narrower: a full-height slice at the crop position.
        let w = sh * dw / dh;
        ((sw - w) * x, 0.0, w, sh)
    } else if dw * sh > sw * dh {
        // Wider: a centred full-width band.
        let h = sw * dh / dw;
        (0.0, (sh - h) / 2.0, sw, h)
    } else {
        (0.0, 0.0, sw, sh)
    }
}

/// Makes one encoding's pictures from canvas pictures.
pub struct Scaler {
    resizer: Resizer,
    out: I420Frame,
    transcode: Option<Transcode>,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler")
            .field("out", &(self.out.width, self.out.height))
            .field("transcode", &self.transcode.is_some())
            .finish()
    }
}

impl Scaler {
    /// Pictures of `width`×`height` in its colour space
    /// ([`Colour::for_height`]) from a canvas in `canvas_colour`.
    pub fn new(width: usize, height: usize, canvas_colour: Colour) -> Self {
        Self {
            resizer: Resizer::new(),
            out: I420Frame::black(width, height),
            transcode: Transcode::new(canvas_colour, Colour::for_height(height)),
        }
    }

    /// Whether a canvas of `size` in `colour` can be encoded as it is.
    pub fn is_identity(&self, size: (usize, usize)) -> bool {
        self.transcode.is_none() && size == (self.out.width, self.out.height)
    }

    /// The encoding's picture of `canvas`, cropped at `x`.
    pub fn scale(&mut self, canvas: &I420Frame, x: f32) -> Result<&I420Frame, MediaError> {
        let (sw, sh) = (canvas.width, canvas.height);
        let (dw, dh) = (self.out.width, self.out.height);
        let (left, top, w, h) = crop_rect((sw, sh), (dw, dh), x);
        let err = |e: &dyn std::fmt::Display| MediaError::Encoder(format!("scaling: {e}"));
        for (src, dst, div) in [
            (&canvas.y, &mut self.out.y, 1usize),
            (&canvas.u, &mut self.out.u, 2),
            (&canvas.v, &mut self.out.v, 2),
        ] {
            let d = div as f64;
            let from = ImageRef::new((sw / div) as u32, (sh / div) as u32, src, PixelType::U8)
                .map_err(|e| err(&e))?;
            let mut to =
                Image::from_slice_u8((dw / div) as u32, (dh / div) as u32, dst, PixelType::U8)
                    .map_err(|e| err(&e))?;
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .crop(left / d, top / d, w / d, h / d);
            self.resizer
                .resize(&from, &mut to, &options)
                .map_err(|e| err(&e))?;
        }
        if let Some(t) = &self.transcode {
            t.apply(&mut self.out);
        }
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vertical_encoding_takes_a_full_height_slice_at_the_crop_position() {
        let src = (1280, 720);
        let dst = (720, 1280);
        let w = 720.0 * 720.0 / 1280.0; // 405 px
        assert_eq!(
            crop_rect(src, dst, 0.5),
            ((1280.0 - w) / 2.0, 0.0, w, 720.0)
        );
        assert_eq!(crop_rect(src, dst, 0.0), (0.0, 0.0, w, 720.0));
        assert_eq!(crop_rect(src, dst, 1.0), (1280.0 - w, 0.0, w, 720.0));
        // Out of range and NaN: clamped, centred.
        assert_eq!(crop_rect(src, dst, 7.0), crop_rect(src, dst, 1.0));
        assert_eq!(crop_rect(src, dst, f32::NAN), crop_rect(src, dst, 0.5));
    }

    #[test]
    fn a_wider_encoding_takes_a_centred_band_and_the_same_aspect_takes_everything() {
        assert_eq!(
            crop_rect((1280, 960), (1280, 720), 0.0),
            (0.0, 120.0, 1280.0, 720.0)
        );
        assert_eq!(
            crop_rect((1920, 1080), (1280, 720), 0.2),
            (0.0, 0.0, 1920.0, 1080.0)
        );
    }

    fn halves(w: usize, h: usize) -> I420Frame {
        // Left half white, right half black.
        let mut f = I420Frame::black(w, h);
        f.fill_rect(0, 0, w / 2, h, (235, 128, 128));
        f
    }

    #[test]
    fn moving_the_crop_moves_the_picture() {
        let canvas = halves(1280, 720);
        let mut s = Scaler::new(360, 640, Colour::for_height(720));
        let left = s.scale(&canvas, 0.0).unwrap().mean_luma(0, 0, 360, 640);
        let right = s.scale(&canvas, 1.0).unwrap().mean_luma(0, 0, 360, 640);
        let centre = s.scale(&canvas, 0.5).unwrap();
        assert!(left > 230.0, "{left}");
        assert!(right < 20.0, "{right}");
        // The centre slice straddles the edge: white then black.
        assert!(centre.mean_luma(0, 0, 100, 640) > 230.0);
        assert!(centre.mean_luma(260, 0, 100, 640) < 20.0);
    }

    #[test]
    fn a_smaller_encoding_below_hd_is_re_expressed_in_bt601() {
        let mut canvas = I420Frame::black(1280, 720);
        let red709 = Colour::for_height(720).from_rgb(191, 0, 0);
        canvas.fill_rect(0, 0, 1280, 720, red709);
        let mut s = Scaler::new(640, 360, Colour::for_height(720));
        assert!(!s.is_identity((1280, 720)));
        let out = s.scale(&canvas, 0.5).unwrap();
        let red601 = Colour::for_height(360).from_rgb(191, 0, 0);
        let (y, u, v) = (out.y[360 * 320], out.u[180 * 160 / 2], out.v[180 * 160 / 2]);
        for (got, want) in [(y, red601.0), (u, red601.1), (v, red601.2)] {
            assert!(got.abs_diff(want) <= 1, "{:?} vs {:?}", (y, u, v), red601);
        }
    }

    #[test]
    fn the_canvas_size_in_the_same_colours_needs_no_scaling() {
        let s = Scaler::new(1280, 720, Colour::for_height(720));
        assert!(s.is_identity((1280, 720)));
        assert!(!s.is_identity((1920, 1080)));
    }
}
