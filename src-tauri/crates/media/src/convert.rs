//! Camera pictures (MJPEG, YUYV, NV12, I420) to I420 at the output size.
//!
//! The per-pixel work is done by SIMD libraries: `zune-jpeg` decodes MJPEG,
//! `yuvutils-rs` converts RGB and YUYV to I420, `fast_image_resize` scales
//! each plane (centre-cropping the source to the output's aspect ratio, so a
//! 4:3 camera fills a 16:9 stream without distortion). The only loop of our
//! own is NV12's chroma de-interleave, a straight copy the compiler
//! vectorises. Buffers are kept between frames: converting allocates nothing
//! after the first frame.
//!
//! Colour: the output is in the stream's colour space for its size
//! ([`Colour::for_height`]: BT.709 for HD, BT.601 below, limited range).
//! MJPEG (full-range BT.601 inside the JPEG) is decoded to R'G'B' and
//! converted with that matrix; raw formats are taken as the camera's
//! colour ([`Converter::set_source_colour`], BT.601 limited unless the
//! driver says otherwise) and re-expressed after scaling ([`Transcode`]).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::colour::{Colour, Matrix, Transcode};
use crate::frame::I420Frame;

/// Largest camera picture accepted, either side (8K).
pub const MAX_CAMERA_SIDE: u32 = 8192;

/// How a camera lays out its pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PixelFormat {
    /// Motion JPEG: one JPEG per frame.
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// Planar Y, then interleaved UV at half resolution.
    Nv12,
    /// Planar Y, U, V (4:2:0).
    I420,
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mjpeg => "MJPEG",
            Self::Yuyv => "YUYV",
            Self::Nv12 => "NV12",
            Self::I420 => "I420",
        })
    }
}

impl PixelFormat {
    /// Bytes of one uncompressed picture (`None` for MJPEG).
    pub fn frame_bytes(self, width: u32, height: u32) -> Option<usize> {
        let px = width as usize * height as usize;
        match self {
            Self::Mjpeg => None,
            Self::Yuyv => Some(px * 2),
            Self::Nv12 | Self::I420 => Some(px + px / 2),
        }
    }
}

/// Why a camera picture could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A size that is odd, zero or larger than [`MAX_CAMERA_SIDE`].
    #[error("unsupported camera picture size {width}x{height} (even sizes up to 8192)")]
    BadSize {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// An uncompressed picture shorter than its format and size need.
    #[error("{format} picture of {got} bytes; {width}x{height} needs {want}")]
    ShortFrame {
        /// Pixel format.
        format: PixelFormat,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes received.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
    /// A JPEG that does not decode.
    #[error("MJPEG picture does not decode: {0}")]
    Jpeg(String),
    /// A JPEG of another size than the camera announced.
    #[error("MJPEG picture is {got_width}x{got_height}; the camera announced {width}x{height}")]
    SizeMismatch {
        /// Announced width.
        width: u32,
        /// Announced height.
        height: u32,
        /// Decoded width.
        got_width: usize,
        /// Decoded height.
        got_height: usize,
    },
    /// The scaler refused the planes.
    #[error("scaling failed: {0}")]
    Scale(String),
    /// The colour converter refused the planes.
    #[error("colour conversion failed: {0}")]
    Colour(String),
}

fn check_size(width: u32, height: u32) -> Result<(), ConvertError> {
    if width == 0
        || height == 0
        || width % 2 == 1
        || height % 2 == 1
        || width > MAX_CAMERA_SIDE
        || height > MAX_CAMERA_SIDE
    {
        return Err(ConvertError::BadSize { width, height });
    }
    Ok(())
}

/// Converts one camera's pictures to I420 frames of the output size.
pub struct Converter {
    src: (u32, u32),
    format: PixelFormat,
    dst: (u32, u32),
    /// The picture at source size, when it must be scaled afterwards.
    staging: Option<I420Frame>,
    rgb: Vec<u8>,
    resizer: Resizer,
    options: ResizeOptions,
    /// The output's colour space.
    colour: Colour,
    /// Raw camera YUV to the output's colour space (`None`: the same).
    transcode: Option<Transcode>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("src", &self.src)
            .field("format", &self.format)
            .field("dst", &self.dst)
            .finish()
    }
}

impl Converter {
    /// A converter from `format` at `src` size to I420 at `dst` size.
    pub fn new(
        src: (u32, u32),
        format: PixelFormat,
        dst: (u32, u32),
    ) -> Result<Self, ConvertError> {
        check_size(src.0, src.1)?;
        check_size(dst.0, dst.1)?;
        let staging = (src != dst).then(|| I420Frame::black(src.0 as usize, src.1 as usize));
        Ok(Self {
            src,
            format,
            dst,
            staging,
            rgb: Vec::new(),
            resizer: Resizer::new(),
            options: ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .fit_into_destination(Some((0.5, 0.5))),
            colour: Colour::for_height(dst.1 as usize),
            transcode: Transcode::new(Colour::BT601, Colour::for_height(dst.1 as usize)),
        })
    }

    /// The colour space of the camera's raw YUV (YUYV, NV12, I420) when its
    /// driver says; BT.601 limited otherwise. MJPEG carries its own.
    pub fn set_source_colour(&mut self, source: Colour) {
        self.transcode = Transcode::new(source, self.colour);
    }

    /// The output's colour space.
    pub fn colour(&self) -> Colour {
        self.colour
    }

    /// Source size, format and output size.
    pub fn describe(&self) -> ((u32, u32), PixelFormat, (u32, u32)) {
        (self.src, self.format, self.dst)
    }

    /// Converts one picture into `out`, which must be of the output size
    /// (it is resized if not).
    pub fn convert(&mut self, data: &[u8], out: &mut I420Frame) -> Result<(), ConvertError> {
        let (dw, dh) = (self.dst.0 as usize, self.dst.1 as usize);
        if out.width != dw || out.height != dh {
            *out = I420Frame::black(dw, dh);
        }
        match self.staging.take() {
            None => self.decode(data, out)?,
            Some(mut staging) => {
                let r = self
                    .decode(data, &mut staging)
                    .and_then(|()| self.scale(&staging, out));
                self.staging = Some(staging);
                r?
            }
        }
        // After scaling: fewer pixels when scaling down, and the map is
        // affine, so it commutes with the resampling.
        if self.format != PixelFormat::Mjpeg {
            if let Some(t) = &self.transcode {
                t.apply(out);
            }
        }
        Ok(())
    }

    fn decode(&mut self, data: &[u8], out: &mut I420Frame) -> Result<(), ConvertError> {
        let (w, h) = self.src;
        if let Some(want) = self.format.frame_bytes(w, h) {
            if data.len() < want {
                return Err(ConvertError::ShortFrame {
                    format: self.format,
                    width: w,
                    height: h,
                    got: data.len(),
                    want,
                });
            }
        }
        let (wu, hu) = (w as usize, h as usize);
        match self.format {
            PixelFormat::Mjpeg => {
                let options = DecoderOptions::default()
                    .jpeg_set_out_colorspace(ColorSpace::RGB)
                    .set_max_width(MAX_CAMERA_SIDE as usize)
                    .set_max_height(MAX_CAMERA_SIDE as usize);
                let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
                decoder
                    .decode_headers()
                    .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
                let (gw, gh) = decoder
                    .dimensions()
                    .ok_or_else(|| ConvertError::Jpeg("no picture size".into()))?;
                if (gw, gh) != (wu, hu) {
                    return Err(ConvertError::SizeMismatch {
                        width: w,
                        height: h,
                        got_width: gw,
                        got_height: gh,
                    });
                }
                self.rgb.resize(wu * hu * 3, 0);
                decoder
                    .decode_into(&mut self.rgb)
                    .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
                // JPEG is full-range BT.601 (the decoder undid it); the
                // stream is limited range in the output's matrix.
                let matrix = match self.colour.matrix {
                    Matrix::Bt601 => YuvStandardMatrix::Bt601,
                    Matrix::Bt709 => YuvStandardMatrix::Bt709,
                };
                yuvutils_rs::rgb_to_yuv420(
                    &mut planar(out),
                    &self.rgb,
                    w * 3,
                    YuvRange::Limited,
                    matrix,
                    YuvConversionMode::Balanced,
                )
                .map_err(|e| ConvertError::Colour(e.to_string()))
            }
            PixelFormat::Yuyv => {
                // yuvutils-rs 0.8.3's YUYV -> I420 leaves the last pixels of
                // every row unwritten after its SIMD part (it skips `cx`
                // pixel *pairs* where `cx` counts pixels), so this one is a
                // straight de-interleave the compiler vectorises; chroma is
                // the mean of each pair of rows.
                yuyv_to_i420(&data[..wu * hu * 2], wu, hu, out);
                Ok(())
            }
            PixelFormat::Nv12 => {
                let (y, uv) = data[..wu * hu * 3 / 2].split_at(wu * hu);
                out.y.copy_from_slice(y);
                for ((u, v), pair) in out
                    .u
                    .iter_mut()
                    .zip(out.v.iter_mut())
                    .zip(uv.chunks_exact(2))
                {
                    *u = pair[0];
                    *v = pair[1];
                }
                Ok(())
            }
            PixelFormat::I420 => {
                let (y, rest) = data[..wu * hu * 3 / 2].split_at(wu * hu);
                let (u, v) = rest.split_at(wu * hu / 4);
                out.y.copy_from_slice(y);
                out.u.copy_from_slice(u);
                out.v.copy_from_slice(v);
                Ok(())
            }
        }
    }

    /// Scales an I420 frame (any size) into `out` (any size).
    pub fn scale_frame(
        &mut self,
        src: &I420Frame,
        out: &mut I420Frame,
    ) -> Result<(), ConvertError> {
        self.scale(src, out)
    }

    fn scale(&mut self, src: &I420Frame, out: &mut I420Frame) -> Result<(), ConvertError> {
        let (sw, sh) = (src.width as u32, src.height as u32);
        let (dw, dh) = (out.width as u32, out.height as u32);
        for (s, d, (w, h), (ow, oh)) in [
            (&src.y, &mut out.y, (sw, sh), (dw, dh)),
            (&src.u, &mut out.u, (sw / 2, sh / 2), (dw / 2, dh / 2)),
            (&src.v, &mut out.v, (sw / 2, sh / 2), (dw / 2, dh / 2)),
        ] {
            let from = ImageRef::new(w, h, s, PixelType::U8)
                .map_err(|e| ConvertError::Scale(e.to_string()))?;
            let mut to = Image::from_slice_u8(ow, oh, d, PixelType::U8)
                .map_err(|e| ConvertError::Scale(e.to_string()))?;
            self.resizer
                .resize(&from, &mut to, &self.options)
                .map_err(|e| ConvertError::Scale(e.to_string()))?;
        }
        Ok(())
    }
}

fn yuyv_to_i420(data: &[u8], w: usize, h: usize, out: &mut I420Frame) {
    let cw = w / 2;
    for (((rows, y2), u), v) in data
        .chunks_exact(w * 4)
        .zip(out.y.chunks_exact_mut(w * 2))
        .zip(out.u.chunks_exact_mut(cw))
        .zip(out.v.chunks_exact_mut(cw))
        .take(h / 2)
    {
        let (top, bottom) = rows.split_at(w * 2);
        let (y_top, y_bottom) = y2.split_at_mut(w);
        for (((yt, yb), (t, b)), (u, v)) in y_top
            .chunks_exact_mut(2)
            .zip(y_bottom.chunks_exact_mut(2))
            .zip(top.chunks_exact(4).zip(bottom.chunks_exact(4)))
            .zip(u.iter_mut().zip(v.iter_mut()))
        {
            yt[0] = t[0];
            yt[1] = t[2];
            yb[0] = b[0];
            yb[1] = b[2];
            *u = (u16::from(t[1]) + u16::from(b[1])).div_ceil(2) as u8;
            *v = (u16::from(t[3]) + u16::from(b[3])).div_ceil(2) as u8;
        }
    }
}

fn planar(out: &mut I420Frame) -> YuvPlanarImageMut<'_, u8> {
    let (w, h) = (out.width as u32, out.height as u32);
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut out.y),
        y_stride: w,
        u_plane: BufferStoreMut::Borrowed(&mut out.u),
        u_stride: w / 2,
        v_plane: BufferStoreMut::Borrowed(&mut out.v),
        v_stride: w / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_raw_frame_is_an_error_not_a_panic() {
        let mut c = Converter::new((64, 48), PixelFormat::Yuyv, (64, 48)).unwrap();
        let mut out = I420Frame::black(64, 48);
        let e = c.convert(&[0u8; 100], &mut out).unwrap_err();
        assert!(
            matches!(
                e,
                ConvertError::ShortFrame {
                    want: 6144,
                    got: 100,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn garbage_mjpeg_is_an_error_not_a_panic() {
        let mut c = Converter::new((64, 48), PixelFormat::Mjpeg, (32, 24)).unwrap();
        let mut out = I420Frame::black(32, 24);
        for junk in [
            &[][..],
            &[0xff, 0xd8][..],
            &[0xff, 0xd8, 0xff, 0xdb, 0, 200, 1, 2, 3][..],
        ] {
            assert!(c.convert(junk, &mut out).is_err());
        }
    }

    #[test]
    fn odd_and_huge_sizes_are_refused() {
        assert!(Converter::new((641, 480), PixelFormat::Yuyv, (640, 360)).is_err());
        assert!(Converter::new((640, 480), PixelFormat::Yuyv, (0, 360)).is_err());
        assert!(Converter::new((16384, 480), PixelFormat::Yuyv, (640, 360)).is_err());
    }

    #[test]
    fn uniform_yuyv_scales_to_the_same_colour() {
        // 4:3 grey-green source to 16:9 output: centre crop, no bars. 320
        // wide: every pixel up to the row's end is written (see yuyv_to_i420).
        let (w, h) = (320u32, 240u32);
        let mut data = Vec::new();
        for _ in 0..(w * h / 2) {
            data.extend_from_slice(&[120, 90, 120, 60]);
        }
        let mut c = Converter::new((w, h), PixelFormat::Yuyv, (160, 90)).unwrap();
        let mut out = I420Frame::black(160, 90);
        c.convert(&data, &mut out).unwrap();
        assert!(out.y.iter().all(|&v| v == 120));
        assert!(out.u.iter().all(|&v| v == 90));
        assert!(out.v.iter().all(|&v| v == 60));
    }
}
