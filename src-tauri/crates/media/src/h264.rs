//! `H264Encoder`: openh264, constant bitrate, a keyframe every N seconds
//! exactly, scene-change detection and frame skipping off (platforms want
//! constant frame rate and regular keyframes).

use bytes::Bytes;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};

use crate::colour::{Colour, Matrix, Range};
use crate::frame::I420Frame;
use crate::MediaError;

/// Video encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct H264Config {
    /// Output width (even).
    pub width: usize,
    /// Output height (even).
    pub height: usize,
    /// Frames per second.
    pub fps: u32,
    /// Target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Seconds between keyframes.
    pub keyframe_interval_s: u32,
}

impl H264Config {
    /// Frames between keyframes.
    pub fn gop_frames(&self) -> u64 {
        u64::from(self.fps.max(1)) * u64::from(self.keyframe_interval_s.max(1))
    }
}

/// The SPS's colour description (VUI video signal type) for `c`: the
/// matrix with its primaries and transfer (BT.709, or BT.601 as SMPTE
/// 170M), and the range flag.
fn vui(c: Colour) -> VuiConfig {
    let v = match c.matrix {
        Matrix::Bt709 => VuiConfig::bt709(),
        Matrix::Bt601 => VuiConfig::bt601(),
    };
    v.full_range(c.range == Range::Full)
}

/// One encoded access unit.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    /// Annex B bytes of the access unit.
    pub annex_b: Bytes,
    /// IDR frame.
    pub keyframe: bool,
    /// SPS NAL unit (no start code), present on keyframes.
    pub sps: Option<Bytes>,
    /// PPS NAL unit (no start code), present on keyframes.
    pub pps: Option<Bytes>,
}

/// The H.264 encoder.
pub struct H264Encoder {
    encoder: Encoder,
    config: H264Config,
    frames: u64,
    buf: Vec<u8>,
    key_requested: bool,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .finish()
    }
}

impl H264Encoder {
    /// Creates an encoder.
    pub fn new(config: H264Config) -> Result<Self, MediaError> {
        if config.width < 16
            || config.height < 16
            || config.width % 2 == 1
            || config.height % 2 == 1
        {
            return Err(MediaError::BadSize {
                width: config.width,
                height: config.height,
            });
        }
        let gop = u32::try_from(config.gop_frames()).unwrap_or(u32::MAX);
        let enc_config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(config.bitrate_kbps.saturating_mul(1000)))
            .max_frame_rate(FrameRate::from_hz(config.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(UsageType::CameraVideoRealTime)
            .skip_frames(false)
            .scene_change_detect(false)
            .background_detection(false)
            .complexity(Complexity::Low)
            .intra_frame_period(IntraFramePeriod::from_num_frames(gop))
            .vui(vui(Colour::for_height(config.height)))
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), enc_config)
            .map_err(|e| MediaError::Encoder(format!("openh264: {e}")))?;
        Ok(Self {
            encoder,
            config,
            frames: 0,
            key_requested: false,
            buf: Vec::with_capacity(256 * 1024),
        })
    }

    /// The settings.
    pub fn config(&self) -> H264Config {
        self.config
    }

    /// Changes the target bitrate at run time (dynamic bitrate). openh264
    /// takes this only through its raw option API, and refuses a target above
    /// the maximum: going up the maximum is raised first, going down the
    /// target is lowered first.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), MediaError> {
        use openh264_sys2::{
            SBitrateInfo, ENCODER_OPTION, ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE,
            SPATIAL_LAYER_ALL,
        };
        let bps = i32::try_from(u64::from(kbps) * 1000)
            .map_err(|_| MediaError::Encoder(format!("bitrate {kbps} kbps out of range")))?;
        if kbps == 0 {
            return Err(MediaError::Encoder("bitrate must be above 0".into()));
        }
        if self.frames == 0 {
            // openh264-rs initialises the encoder on the first frame.
            return Err(MediaError::Encoder(
                "set_bitrate before the first frame".into(),
            ));
        }
        let up = kbps > self.config.bitrate_kbps;
        let order: [ENCODER_OPTION; 2] = if up {
            [ENCODER_OPTION_MAX_BITRATE, ENCODER_OPTION_BITRATE]
        } else {
            [ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE]
        };
        for option in order {
            let mut info = SBitrateInfo {
                iLayer: SPATIAL_LAYER_ALL,
                iBitrate: bps,
            };
            // SAFETY: the encoder is initialised (it encoded a frame or was
            // created by `new`), and `info` is a valid SBitrateInfo that
            // outlives the call; openh264 only reads it.
            let rc = unsafe {
                self.encoder
                    .raw_api()
                    .set_option(option, (&mut info as *mut SBitrateInfo).cast())
            };
            if rc != 0 {
                return Err(MediaError::Encoder(format!(
                    "openh264 refused bitrate {kbps} kbps (option {option}, code {rc})"
                )));
            }
        }
        self.config.bitrate_kbps = kbps;
        Ok(())
    }

    /// Makes the next frame an IDR (a recording starting mid-stream). The
    /// regular cadence goes on: intervals never get longer.
    pub fn request_keyframe(&mut self) {
        self.key_requested = true;
    }

    /// Encodes one frame. Frame `n` with `n % gop == 0` is always an IDR.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        pts_ms: i64,
    ) -> Result<Option<EncodedVideo>, MediaError> {
        if frame.width != self.config.width || frame.height != self.config.height {
            return Err(MediaError::BadSize {
                width: frame.width,
                height: frame.height,
            });
        }
        let want_key = self.frames.is_multiple_of(self.config.gop_frames()) || self.key_requested;
        self.key_requested = false;
        self.frames += 1;
        if want_key && self.frames > 1 {
            self.encoder.force_intra_frame();
        }
        let cw = frame.width / 2;
        let src = YUVSlices::new(
            (&frame.y, &frame.u, &frame.v),
            (frame.width, frame.height),
            (frame.width, cw, cw),
        );
        let ts = Timestamp::from_millis(pts_ms.max(0) as u64);
        let bs = self
            .encoder
            .encode_at(&src, ts)
            .map_err(|e| MediaError::Encoder(format!("openh264: {e}")))?;
        let keyframe = match bs.frame_type() {
            FrameType::Skip | FrameType::Invalid => return Ok(None),
            FrameType::IDR => true,
            _ => false,
        };
        self.buf.clear();
        let mut sps = None;
        let mut pps = None;
        for l in 0..bs.num_layers() {
            let Some(layer) = bs.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n) else {
                    continue;
                };
                self.buf.extend_from_slice(nal);
                let body = strip_start_code(nal);
                match body.first().map(|b| b & 0x1F) {
                    Some(7) => sps = Some(Bytes::copy_from_slice(body)),
                    Some(8) => pps = Some(Bytes::copy_from_slice(body)),
                    _ => {}
                }
            }
        }
        if want_key && !keyframe {
            tracing::warn!(
                frame = self.frames - 1,
                "openh264 ignored a forced keyframe"
            );
        }
        Ok(Some(EncodedVideo {
            annex_b: Bytes::copy_from_slice(&self.buf),
            keyframe,
            sps,
            pps,
        }))
    }
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}
