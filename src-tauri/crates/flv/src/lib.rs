//! FLV tag bodies for RTMP publishing.
//!
//! An RTMP publisher sends FLV *tag bodies* as RTMP messages (video = type 9,
//! audio = type 8, script data = type 18); the FLV tag header's job (type,
//! size, timestamp) is done by the RTMP chunk header. This crate builds those
//! bodies, byte-exact to the FLV spec (v10.1, annex E):
//!
//! - [`metadata_body`]: `@setDataFrame` / `onMetaData` script data;
//! - [`avc_sequence_header`]: the AVCDecoderConfigurationRecord from SPS/PPS;
//! - [`avc_nalu`]: one access unit, Annex B converted to 4-byte length prefixes,
//!   with the keyframe flag and the composition time;
//! - [`aac_sequence_header`] / [`aac_raw`]: AudioSpecificConfig and raw frames.
//!
//! It also writes whole FLV files ([`file_header`], [`file_tag`]) for local
//! tests. It does not do I/O, timing, or RTMP chunking (see `onair-rtmp`).
//!
//! ```
//! use onair_flv::{avc_nalu, avc_sequence_header, AvcConfig};
//! let au = [0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 1, 0x65, 0xAA];
//! let cfg = AvcConfig::from_annex_b(&au).unwrap();
//! let header = avc_sequence_header(&cfg);
//! let frame = avc_nalu(&au, true, 0);
//! assert_eq!(header[0], 0x17);
//! assert_eq!(&frame[..], &[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0xAA]);
//! ```

pub use onair_amf0 as amf0;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod read;

use amf0::Value;
use bytes::{BufMut, Bytes, BytesMut};

/// FLV tag type of audio data.
pub const TAG_AUDIO: u8 = 8;
/// FLV tag type of video data.
pub const TAG_VIDEO: u8 = 9;
/// FLV tag type of script data.
pub const TAG_SCRIPT: u8 = 18;

/// FLV video codec id of AVC (H.264).
pub const CODEC_AVC: u8 = 7;
/// FLV sound format id of AAC.
pub const SOUND_AAC: u8 = 10;

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// Why an access unit cannot give a decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    /// No sequence parameter set in the access unit.
    #[error("no SPS NAL unit in the access unit")]
    MissingSps,
    /// No picture parameter set in the access unit.
    #[error("no PPS NAL unit in the access unit")]
    MissingPps,
    /// SPS too short to carry profile and level.
    #[error("SPS of {len} bytes is too short")]
    ShortSps {
        /// The SPS length.
        len: usize,
    },
    /// A parameter set longer than the 16-bit length field allows.
    #[error("parameter set of {len} bytes does not fit a 16-bit length")]
    ParameterSetTooLong {
        /// The offending length.
        len: usize,
    },
}

/// The H.264 decoder configuration: one SPS and one PPS (all openh264 emits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Sequence parameter set NAL unit, without start code.
    pub sps: Bytes,
    /// Picture parameter set NAL unit, without start code.
    pub pps: Bytes,
}

impl AvcConfig {
    /// Finds the first SPS and PPS in an Annex B access unit.
    pub fn from_annex_b(au: &[u8]) -> Result<Self, FlvError> {
        let mut sps = None;
        let mut pps = None;
        for nal in annex_b_nal_units(au) {
            match nal.first().map(|h| h & 0x1F) {
                Some(NAL_SPS) if sps.is_none() => sps = Some(Bytes::copy_from_slice(nal)),
                Some(NAL_PPS) if pps.is_none() => pps = Some(Bytes::copy_from_slice(nal)),
                _ => {}
            }
        }
        let sps = sps.ok_or(FlvError::MissingSps)?;
        let pps = pps.ok_or(FlvError::MissingPps)?;
        if sps.len() < 4 {
            return Err(FlvError::ShortSps { len: sps.len() });
        }
        for len in [sps.len(), pps.len()] {
            if len > u16::MAX as usize {
                return Err(FlvError::ParameterSetTooLong { len });
            }
        }
        Ok(Self { sps, pps })
    }

    /// `profile_idc` from the SPS.
    pub fn profile(&self) -> u8 {
        self.sps[1]
    }

    /// `constraint_set` flags byte from the SPS.
    pub fn compatibility(&self) -> u8 {
        self.sps[2]
    }

    /// `level_idc` from the SPS.
    pub fn level(&self) -> u8 {
        self.sps[3]
    }
}

/// Iterates the NAL units of an Annex B byte stream (3- or 4-byte start codes),
/// yielding each unit without its start code. Bytes before the first start
/// code are ignored.
pub fn annex_b_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start_code(data, 0).map(|(_, end)| end);
    std::iter::from_fn(move || {
        let start = pos?;
        match find_start_code(data, start) {
            Some((sc_begin, sc_end)) => {
                pos = Some(sc_end);
                // Trailing zero bytes before a 4-byte start code belong to it.
                Some(&data[start..sc_begin])
            }
            None => {
                pos = None;
                Some(&data[start..])
            }
        }
    })
    .filter(|nal| !nal.is_empty())
}

/// Finds the next start code at or after `from`: returns (first byte of the
/// start code including a leading zero, first byte after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Skip fast: a start code's third byte is 1; if data[i+2] > 1 no start
        // code can begin at i, i+1 or i+2.
        let b2 = data[i + 2];
        if b2 > 1 {
            i += 3;
            continue;
        }
        if b2 == 1 && data[i] == 0 && data[i + 1] == 0 {
            let begin = if i > from && data[i - 1] == 0 {
                i - 1
            } else {
                i
            };
            return Some((begin, i + 3));
        }
        i += 1;
    }
    None
}

/// Converts an Annex B access unit to AVCC (4-byte big-endian length before
/// each NAL unit), dropping SPS, PPS and access unit delimiters, which travel
/// in the sequence header instead.
pub fn annex_b_to_avcc(au: &[u8], out: &mut BytesMut) {
    for nal in annex_b_nal_units(au) {
        let kind = nal[0] & 0x1F;
        if kind == NAL_SPS || kind == NAL_PPS || kind == NAL_AUD {
            continue;
        }
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
}

/// Video tag body of the AVC sequence header (AVCPacketType 0) carrying the
/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1).
pub fn avc_sequence_header(cfg: &AvcConfig) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + cfg.sps.len() + cfg.pps.len());
    out.put_u8(0x10 | CODEC_AVC); // keyframe, AVC
    out.put_u8(0); // AVC sequence header
    out.put_slice(&[0, 0, 0]); // composition time
    out.put_u8(1); // configurationVersion
    out.put_u8(cfg.profile());
    out.put_u8(cfg.compatibility());
    out.put_u8(cfg.level());
    out.put_u8(0xFC | 3); // reserved(6) lengthSizeMinusOne = 3
    out.put_u8(0xE0 | 1); // reserved(3) numOfSequenceParameterSets = 1
    out.put_u16(cfg.sps.len() as u16);
    out.put_slice(&cfg.sps);
    out.put_u8(1); // numOfPictureParameterSets
    out.put_u16(cfg.pps.len() as u16);
    out.put_slice(&cfg.pps);
    out.freeze()
}

/// Video tag body of one access unit (AVCPacketType 1): frame type, codec,
/// composition time offset (pts - dts, ms, signed 24-bit) and the NAL units
/// converted from Annex B to AVCC.
pub fn avc_nalu(annex_b: &[u8], keyframe: bool, composition_time_ms: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(annex_b.len() + 8);
    out.put_u8(if keyframe { 0x10 } else { 0x20 } | CODEC_AVC);
    out.put_u8(1);
    let ct = composition_time_ms.clamp(-0x80_0000, 0x7F_FFFF) as u32;
    out.put_slice(&ct.to_be_bytes()[1..]);
    annex_b_to_avcc(annex_b, &mut out);
    out.freeze()
}

/// Video tag body of the AVC end-of-sequence marker (AVCPacketType 2).
pub fn avc_end_of_sequence() -> Bytes {
    Bytes::from_static(&[0x10 | CODEC_AVC, 2, 0, 0, 0])
}

/// First byte of every AAC audio tag: AAC, 44 kHz flag (always for AAC),
/// 16-bit, stereo.
const AAC_FLAGS: u8 = (SOUND_AAC << 4) | (3 << 2) | (1 << 1) | 1;

/// Audio tag body of the AAC sequence header (AACPacketType 0) carrying the
/// AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) as the encoder gave it.
pub fn aac_sequence_header(audio_specific_config: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + audio_specific_config.len());
    out.put_u8(AAC_FLAGS);
    out.put_u8(0);
    out.put_slice(audio_specific_config);
    out.freeze()
}

/// Builds a 2-byte AudioSpecificConfig for AAC-LC.
///
/// Returns `None` for a sample rate without a frequency index.
pub fn audio_specific_config_lc(sample_rate: u32, channels: u8) -> Option<[u8; 2]> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let index = RATES.iter().position(|&r| r == sample_rate)? as u8;
    let object_type = 2u8; // AAC LC
    Some([
        (object_type << 3) | (index >> 1),
        ((index & 1) << 7) | ((channels & 0x0F) << 3),
    ])
}

/// Audio tag body of one raw AAC frame (AACPacketType 1).
pub fn aac_raw(frame: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + frame.len());
    out.put_u8(AAC_FLAGS);
    out.put_u8(1);
    out.put_slice(frame);
    out.freeze()
}

/// What `onMetaData` announces about the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub framerate: f64,
    /// Video bitrate in kbit/s.
    pub video_kbps: u32,
    /// Audio bitrate in kbit/s, if there is audio.
    pub audio_kbps: Option<u32>,
    /// Audio sample rate in Hz.
    pub audio_sample_rate: u32,
    /// Audio channels.
    pub audio_channels: u8,
    /// Encoder name, as shown by servers.
    pub encoder: String,
}

/// Script data tag body `@setDataFrame("onMetaData", {...})`, the form an RTMP
/// publisher sends so the server stores it as the stream's metadata.
pub fn metadata_body(meta: &Metadata) -> Bytes {
    let mut props: Vec<(String, Value)> = vec![
        ("duration".into(), Value::Number(0.0)),
        ("width".into(), Value::Number(meta.width.into())),
        ("height".into(), Value::Number(meta.height.into())),
        (
            "videodatarate".into(),
            Value::Number(meta.video_kbps.into()),
        ),
        ("framerate".into(), Value::Number(meta.framerate)),
        ("videocodecid".into(), Value::Number(CODEC_AVC.into())),
    ];
    if let Some(kbps) = meta.audio_kbps {
        props.extend([
            ("audiodatarate".into(), Value::Number(kbps.into())),
            (
                "audiosamplerate".into(),
                Value::Number(meta.audio_sample_rate.into()),
            ),
            ("audiosamplesize".into(), Value::Number(16.0)),
            ("stereo".into(), Value::Boolean(meta.audio_channels == 2)),
            ("audiocodecid".into(), Value::Number(SOUND_AAC.into())),
        ]);
    }
    props.push(("encoder".into(), Value::String(meta.encoder.clone())));
    props.push(("filesize".into(), Value::Number(0.0)));
    let mut out = BytesMut::with_capacity(320);
    amf0::encode(&mut out, &Value::from("@setDataFrame"));
    amf0::encode(&mut out, &Value::from("onMetaData"));
    amf0::encode(&mut out, &Value::EcmaArray(props));
    out.freeze()
}

/// The 9-byte FLV file header plus PreviousTagSize0.
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// One FLV file tag: 11-byte header, body, PreviousTagSize.
///
/// The `@setDataFrame` wrapper is an RTMP convention: pass the plain
/// `onMetaData` body for a file.
pub fn file_tag(out: &mut BytesMut, tag_type: u8, timestamp_ms: u32, body: &[u8]) {
    let size = body.len() as u32;
    out.put_u8(tag_type);
    out.put_slice(&size.to_be_bytes()[1..]);
    out.put_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.put_u8((timestamp_ms >> 24) as u8);
    out.put_slice(&[0, 0, 0]); // stream id
    out.put_slice(body);
    out.put_u32(size + 11);
}

/// What a [`Tag`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    /// Video tag body.
    Video,
    /// Audio tag body.
    Audio,
}

/// One FLV tag body with its timing, muxed once and shared by every
/// consumer (each destination, the recording): cloning is a reference
/// count, not a copy.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Audio or video.
    pub kind: TagKind,
    /// Presentation (= decode) time on the media clock, ms.
    pub pts_ms: i64,
    /// Video keyframe (audio: true).
    pub keyframe: bool,
    /// The FLV tag body.
    pub body: Bytes,
    /// When it was captured.
    pub capture: std::time::Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1F, 0x8C, 0x8D, 0x40];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

    fn keyframe_au() -> Vec<u8> {
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(SPS);
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(PPS);
        au.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01]);
        au
    }

    #[test]
    fn annex_b_nal_units_split_on_three_and_four_byte_start_codes() {
        let au = keyframe_au();
        let nals: Vec<&[u8]> = annex_b_nal_units(&au).collect();
        assert_eq!(nals.len(), 3);
        assert_eq!(nals[0], SPS);
        assert_eq!(nals[1], PPS);
        // The emulation-prevention 00 00 03 is not a start code.
        assert_eq!(nals[2], &[0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01]);
    }

    #[test]
    fn avc_sequence_header_is_a_decoder_configuration_record() {
        let cfg = AvcConfig::from_annex_b(&keyframe_au()).unwrap();
        let body = avc_sequence_header(&cfg);
        let mut expected = vec![
            0x17, 0x00, 0, 0, 0, // keyframe|AVC, seq header, cts 0
            0x01, 0x42, 0xC0, 0x1F, // version, profile, compat, level
            0xFF, 0xE1, // 4-byte lengths, one SPS
            0x00, 0x07,
        ];
        expected.extend_from_slice(SPS);
        expected.extend_from_slice(&[0x01, 0x00, 0x04]);
        expected.extend_from_slice(PPS);
        assert_eq!(&body[..], &expected[..]);
    }

    #[test]
    fn avc_nalu_drops_parameter_sets_and_length_prefixes_the_rest() {
        let body = avc_nalu(&keyframe_au(), true, 0);
        assert_eq!(
            &body[..],
            &[0x17, 0x01, 0, 0, 0, 0, 0, 0, 7, 0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01]
        );
    }

    #[test]
    fn avc_nalu_inter_frame_has_frame_type_two_and_signed_composition_time() {
        let body = avc_nalu(&[0, 0, 0, 1, 0x41, 0x9A], false, -2);
        assert_eq!(
            &body[..],
            &[0x27, 0x01, 0xFF, 0xFF, 0xFE, 0, 0, 0, 2, 0x41, 0x9A]
        );
        let body = avc_nalu(&[0, 0, 0, 1, 0x41, 0x9A], false, 66);
        assert_eq!(&body[2..5], &[0, 0, 66]);
    }

    #[test]
    fn missing_parameter_sets_are_errors() {
        assert_eq!(
            AvcConfig::from_annex_b(&[0, 0, 0, 1, 0x65, 1]),
            Err(FlvError::MissingSps)
        );
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(SPS);
        assert_eq!(AvcConfig::from_annex_b(&au), Err(FlvError::MissingPps));
    }

    #[test]
    fn aac_lc_48khz_stereo_audio_specific_config_is_0x1190() {
        assert_eq!(audio_specific_config_lc(48_000, 2), Some([0x11, 0x90]));
        assert_eq!(audio_specific_config_lc(44_100, 2), Some([0x12, 0x10]));
        assert_eq!(audio_specific_config_lc(12_345, 2), None);
    }

    #[test]
    fn aac_tags_start_with_af_and_packet_type() {
        assert_eq!(
            &aac_sequence_header(&[0x11, 0x90])[..],
            &[0xAF, 0x00, 0x11, 0x90]
        );
        assert_eq!(&aac_raw(&[1, 2, 3])[..], &[0xAF, 0x01, 1, 2, 3]);
    }

    #[test]
    fn metadata_is_set_data_frame_on_metadata_ecma_array() {
        let body = metadata_body(&Metadata {
            width: 1280,
            height: 720,
            framerate: 30.0,
            video_kbps: 3000,
            audio_kbps: Some(160),
            audio_sample_rate: 48000,
            audio_channels: 2,
            encoder: "OnAir".into(),
        });
        assert!(body.starts_with(b"\x02\x00\x0D@setDataFrame\x02\x00\x0AonMetaData\x08"));
        let values = amf0::decode_all(&body).unwrap();
        assert_eq!(values.len(), 3);
        let meta = &values[2];
        assert_eq!(meta.get("width"), Some(&Value::Number(1280.0)));
        assert_eq!(meta.get("height"), Some(&Value::Number(720.0)));
        assert_eq!(meta.get("framerate"), Some(&Value::Number(30.0)));
        assert_eq!(meta.get("videocodecid"), Some(&Value::Number(7.0)));
        assert_eq!(meta.get("audiocodecid"), Some(&Value::Number(10.0)));
        assert_eq!(meta.get("audiosamplerate"), Some(&Value::Number(48000.0)));
        assert_eq!(meta.get("stereo"), Some(&Value::Boolean(true)));
    }

    #[test]
    fn file_tag_has_header_body_and_previous_tag_size() {
        let mut out = BytesMut::new();
        file_tag(&mut out, TAG_AUDIO, 0x0112_3456, &[0xAF, 1]);
        assert_eq!(
            &out[..],
            &[8, 0, 0, 2, 0x12, 0x34, 0x56, 0x01, 0, 0, 0, 0xAF, 1, 0, 0, 0, 13]
        );
        assert_eq!(
            file_header(true, true),
            [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
    }
}
