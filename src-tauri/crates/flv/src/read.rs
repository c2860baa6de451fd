//! Reading FLV tag bodies, as an ingest receives them: the video and audio tag
//! headers (legacy and Enhanced RTMP), the AVCDecoderConfigurationRecord, the
//! AAC AudioSpecificConfig and `onMetaData`. Every length is checked against
//! the bytes present; nothing here panics or allocates by a declared size.

use bytes::Bytes;

use crate::amf0::{self, Value};

/// Why a tag body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The body ends before a field it must carry.
    #[error("{what}: body of {len} bytes is too short")]
    Short {
        /// Which structure.
        what: &'static str,
        /// Bytes present.
        len: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: invalid value {value}")]
    Invalid {
        /// Which field.
        what: &'static str,
        /// The value.
        value: u32,
    },
    /// Script data that is not AMF0 `onMetaData`.
    #[error("script data is not onMetaData: {0}")]
    NotMetadata(String),
}

/// The video codec a tag announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// Legacy FLV codec id 7.
    Avc,
    /// Another legacy codec id (2 Sorenson, 4 VP6, 12 HEVC by convention…).
    Legacy(u8),
    /// Enhanced RTMP FourCC (`hvc1`, `av01`, `vp09`, `avc1`…).
    FourCc([u8; 4]),
}

impl VideoCodec {
    /// A name for people.
    pub fn name(&self) -> String {
        match self {
            VideoCodec::Avc => "H.264".into(),
            VideoCodec::Legacy(2) => "Sorenson H.263".into(),
            VideoCodec::Legacy(4) | VideoCodec::Legacy(5) => "VP6".into(),
            VideoCodec::Legacy(12) => "HEVC (non-standard id 12)".into(),
            VideoCodec::Legacy(id) => format!("FLV codec {id}"),
            VideoCodec::FourCc(f) => match f {
                b"avc1" => "H.264".into(),
                b"hvc1" => "HEVC".into(),
                b"av01" => "AV1".into(),
                b"vp09" => "VP9".into(),
                _ => format!("'{}'", String::from_utf8_lossy(f)),
            },
        }
    }
}

/// What a video tag carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// AVC sequence header.
    AvcConfig(AvcDecoderConfig),
    /// One AVC access unit in AVCC form.
    AvcNalu {
        /// Composition time offset (pts − dts), ms.
        composition_ms: i32,
        /// Length-prefixed NAL units.
        data: Bytes,
    },
    /// AVC end of sequence.
    EndOfSequence,
    /// Anything else (another codec, an Enhanced RTMP packet type, a command
    /// frame): counted, not decoded.
    Other,
}

/// A parsed video tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    /// Frame type 1 (keyframe).
    pub keyframe: bool,
    /// The codec.
    pub codec: VideoCodec,
    /// What it carries.
    pub packet: VideoPacket,
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `AVCProfileIndication`.
    pub profile: u8,
    /// `profile_compatibility`.
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// NAL unit length field size, bytes (1, 2 or 4).
    pub length_size: u8,
    /// Sequence parameter sets.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
}

/// Parameter sets a record may list of each kind (the field has 5 bits).
const MAX_PARAMETER_SETS: usize = 31;

/// Reads a video tag body.
pub fn parse_video_tag(body: &Bytes) -> Result<VideoTag, ReadError> {
    let first = *body.first().ok_or(ReadError::Short {
        what: "video tag",
        len: 0,
    })?;
    if first & 0x80 != 0 {
        // Enhanced RTMP: IsExVideoHeader, FrameType(3), PacketType(4), FourCC.
        if body.len() < 5 {
            return Err(ReadError::Short {
                what: "enhanced video tag",
                len: body.len(),
            });
        }
        let fourcc = [body[1], body[2], body[3], body[4]];
        return Ok(VideoTag {
            keyframe: (first >> 4) & 7 == 1,
            codec: VideoCodec::FourCc(fourcc),
            packet: VideoPacket::Other,
        });
    }
    let keyframe = first >> 4 == 1;
    let codec_id = first & 0x0F;
    if codec_id != crate::CODEC_AVC {
        return Ok(VideoTag {
            keyframe,
            codec: VideoCodec::Legacy(codec_id),
            packet: VideoPacket::Other,
        });
    }
    if body.len() < 5 {
        return Err(ReadError::Short {
            what: "AVC video tag",
            len: body.len(),
        });
    }
    let ct = u32::from_be_bytes([0, body[2], body[3], body[4]]);
    // Sign-extend the 24-bit composition time.
    let composition_ms = ((ct << 8) as i32) >> 8;
    let packet = match body[1] {
        0 => VideoPacket::AvcConfig(parse_avc_config(&body.slice(5..))?),
        1 => VideoPacket::AvcNalu {
            composition_ms,
            data: body.slice(5..),
        },
        2 => VideoPacket::EndOfSequence,
        t => {
            return Err(ReadError::Invalid {
                what: "AVCPacketType",
                value: t.into(),
            })
        }
    };
    Ok(VideoTag {
        keyframe,
        codec: VideoCodec::Avc,
        packet,
    })
}

/// Reads an AVCDecoderConfigurationRecord.
pub fn parse_avc_config(rec: &Bytes) -> Result<AvcDecoderConfig, ReadError> {
    let short = || ReadError::Short {
        what: "AVCDecoderConfigurationRecord",
        len: rec.len(),
    };
    if rec.len() < 6 {
        return Err(short());
    }
    if rec[0] != 1 {
        return Err(ReadError::Invalid {
            what: "configurationVersion",
            value: rec[0].into(),
        });
    }
    let length_size = (rec[4] & 3) + 1;
    if length_size == 3 {
        return Err(ReadError::Invalid {
            what: "lengthSizeMinusOne",
            value: 2,
        });
    }
    let mut pos = 5;
    let sets = |count: usize, pos: &mut usize| -> Result<Vec<Bytes>, ReadError> {
        let mut out = Vec::with_capacity(count.min(MAX_PARAMETER_SETS));
        for _ in 0..count {
            let len_bytes = rec.get(*pos..*pos + 2).ok_or_else(short)?;
            let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            let start = *pos + 2;
            if start + len > rec.len() {
                return Err(short());
            }
            out.push(rec.slice(start..start + len));
            *pos = start + len;
        }
        Ok(out)
    };
    let n_sps = usize::from(rec[pos] & 0x1F);
    pos += 1;
    let sps = sets(n_sps, &mut pos)?;
    let n_pps = usize::from(*rec.get(pos).ok_or_else(short)?);
    pos += 1;
    let pps = sets(n_pps, &mut pos)?;
    Ok(AvcDecoderConfig {
        profile: rec[1],
        compatibility: rec[2],
        level: rec[3],
        length_size,
        sps,
        pps,
    })
}

/// Iterates the NAL units of an AVCC access unit (`length_size`-byte
/// lengths). Stops at the first length that runs past the end; `Err` says so.
pub fn avcc_nal_units(
    data: &[u8],
    length_size: u8,
) -> impl Iterator<Item = Result<&[u8], ReadError>> {
    let n = usize::from(length_size.clamp(1, 4));
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= data.len() {
            return None;
        }
        let Some(len_bytes) = data.get(pos..pos + n) else {
            failed = true;
            return Some(Err(ReadError::Short {
                what: "NAL unit length",
                len: data.len() - pos,
            }));
        };
        let len = len_bytes
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let start = pos + n;
        match data.get(start..start.saturating_add(len)) {
            Some(nal) => {
                pos = start + len;
                Some(Ok(nal))
            }
            None => {
                failed = true;
                Some(Err(ReadError::Short {
                    what: "NAL unit",
                    len: data.len() - start.min(data.len()),
                }))
            }
        }
    })
}

/// The audio codec a tag announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Sound format 10.
    Aac,
    /// Another sound format (2 MP3, 11 Speex…).
    Legacy(u8),
    /// Enhanced RTMP (sound format 9) FourCC (`Opus`, `fLaC`, `mp4a`…).
    FourCc([u8; 4]),
}

impl AudioCodec {
    /// A name for people.
    pub fn name(&self) -> String {
        match self {
            AudioCodec::Aac => "AAC".into(),
            AudioCodec::Legacy(2) => "MP3".into(),
            AudioCodec::Legacy(11) => "Speex".into(),
            AudioCodec::Legacy(id) => format!("FLV sound format {id}"),
            AudioCodec::FourCc(f) => format!("'{}'", String::from_utf8_lossy(f)),
        }
    }
}

/// The AAC AudioSpecificConfig's leading fields (ISO/IEC 14496-3 1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// Audio object type (2 = LC, 5 = HE-AAC/SBR, 29 = HE-AACv2/PS).
    pub object_type: u8,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Channel configuration (1 mono, 2 stereo…; 0 = in the stream).
    pub channels: u8,
}

impl AacConfig {
    /// A name for people ("AAC-LC").
    pub fn profile_name(&self) -> String {
        match self.object_type {
            1 => "AAC Main".into(),
            2 => "AAC-LC".into(),
            5 => "HE-AAC".into(),
            29 => "HE-AACv2".into(),
            t => format!("AAC object type {t}"),
        }
    }
}

/// What an audio tag carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// AAC sequence header.
    AacConfig(AacConfig),
    /// One raw AAC frame.
    AacRaw(Bytes),
    /// Another codec's frame.
    Other,
}

/// A parsed audio tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    /// The codec.
    pub codec: AudioCodec,
    /// What it carries.
    pub packet: AudioPacket,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Reads an AudioSpecificConfig's object type, sample rate and channels.
pub fn parse_aac_config(asc: &[u8]) -> Result<AacConfig, ReadError> {
    // Bit reader over at most the first 8 bytes (all these fields need).
    let mut bits: u64 = 0;
    for (i, b) in asc.iter().take(8).enumerate() {
        bits |= u64::from(*b) << (56 - 8 * i);
    }
    let avail = 8 * asc.len().min(8);
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<u32, ReadError> {
        if pos + n > avail {
            return Err(ReadError::Short {
                what: "AudioSpecificConfig",
                len: asc.len(),
            });
        }
        let v = ((bits << pos) >> (64 - n)) as u32;
        pos += n;
        Ok(v)
    };
    let mut object_type = take(5)?;
    if object_type == 31 {
        object_type = 32 + take(6)?;
    }
    let index = take(4)?;
    let sample_rate = if index == 15 {
        take(24)?
    } else {
        *AAC_RATES.get(index as usize).ok_or(ReadError::Invalid {
            what: "samplingFrequencyIndex",
            value: index,
        })?
    };
    let channels = take(4)? as u8;
    Ok(AacConfig {
        object_type: object_type.min(255) as u8,
        sample_rate,
        channels,
    })
}

/// Reads an audio tag body.
pub fn parse_audio_tag(body: &Bytes) -> Result<AudioTag, ReadError> {
    let first = *body.first().ok_or(ReadError::Short {
        what: "audio tag",
        len: 0,
    })?;
    let format = first >> 4;
    if format == 9 {
        if body.len() < 5 {
            return Err(ReadError::Short {
                what: "enhanced audio tag",
                len: body.len(),
            });
        }
        return Ok(AudioTag {
            codec: AudioCodec::FourCc([body[1], body[2], body[3], body[4]]),
            packet: AudioPacket::Other,
        });
    }
    if format != crate::SOUND_AAC {
        return Ok(AudioTag {
            codec: AudioCodec::Legacy(format),
            packet: AudioPacket::Other,
        });
    }
    let kind = *body.get(1).ok_or(ReadError::Short {
        what: "AAC audio tag",
        len: body.len(),
    })?;
    let packet = match kind {
        0 => AudioPacket::AacConfig(parse_aac_config(&body[2..])?),
        1 => AudioPacket::AacRaw(body.slice(2..)),
        t => {
            return Err(ReadError::Invalid {
                what: "AACPacketType",
                value: t.into(),
            })
        }
    };
    Ok(AudioTag {
        codec: AudioCodec::Aac,
        packet,
    })
}

/// Reads `[@setDataFrame,] onMetaData, {props}` into its properties.
pub fn parse_metadata(body: &[u8]) -> Result<Vec<(String, Value)>, ReadError> {
    let values = amf0::decode_all(body).map_err(|e| ReadError::NotMetadata(e.to_string()))?;
    let mut it = values.into_iter().peekable();
    if it.peek().and_then(Value::as_str) == Some("@setDataFrame") {
        it.next();
    }
    match it.next() {
        Some(Value::String(s)) if s == "onMetaData" => {}
        other => {
            return Err(ReadError::NotMetadata(format!(
                "starts with {}",
                other.map_or("nothing", |v| v.type_name())
            )))
        }
    }
    match it.next() {
        Some(Value::EcmaArray(p) | Value::Object(p)) => Ok(p),
        other => Err(ReadError::NotMetadata(format!(
            "properties are {}",
            other.map_or("missing", |v| v.type_name())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{aac_raw, aac_sequence_header, avc_nalu, avc_sequence_header, AvcConfig};

    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16, 0xE8];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

    #[test]
    fn avc_sequence_header_round_trips() {
        let cfg = AvcConfig {
            sps: Bytes::from_static(SPS),
            pps: Bytes::from_static(PPS),
        };
        let tag = parse_video_tag(&avc_sequence_header(&cfg)).unwrap();
        assert!(tag.keyframe);
        assert_eq!(tag.codec, VideoCodec::Avc);
        let VideoPacket::AvcConfig(rec) = tag.packet else {
            panic!("not a config")
        };
        assert_eq!(
            (rec.profile, rec.compatibility, rec.level),
            (0x42, 0xC0, 0x1F)
        );
        assert_eq!(rec.length_size, 4);
        assert_eq!(rec.sps, vec![Bytes::from_static(SPS)]);
        assert_eq!(rec.pps, vec![Bytes::from_static(PPS)]);
    }

    #[test]
    fn avc_nalu_round_trips_with_negative_composition_time() {
        let au = [0, 0, 0, 1, 0x65, 1, 2, 3, 0, 0, 1, 0x06, 9];
        let body = avc_nalu(&au, false, -40);
        let tag = parse_video_tag(&body).unwrap();
        assert!(!tag.keyframe);
        let VideoPacket::AvcNalu {
            composition_ms,
            data,
        } = tag.packet
        else {
            panic!("not a NALU")
        };
        assert_eq!(composition_ms, -40);
        let nals: Vec<_> = avcc_nal_units(&data, 4).collect::<Result<_, _>>().unwrap();
        assert_eq!(nals, vec![&[0x65, 1, 2, 3][..], &[0x06, 9][..]]);
    }

    #[test]
    fn a_nal_length_past_the_end_is_an_error_not_a_panic() {
        let data = [0, 0, 0, 9, 0x65, 1];
        let r: Vec<_> = avcc_nal_units(&data, 4).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        assert!(avcc_nal_units(&[0, 0], 4).next().unwrap().is_err());
    }

    #[test]
    fn aac_tags_round_trip() {
        let asc = crate::audio_specific_config_lc(48_000, 2).unwrap();
        let tag = parse_audio_tag(&aac_sequence_header(&asc)).unwrap();
        assert_eq!(
            tag.packet,
            AudioPacket::AacConfig(AacConfig {
                object_type: 2,
                sample_rate: 48_000,
                channels: 2
            })
        );
        let tag = parse_audio_tag(&aac_raw(&[1, 2, 3])).unwrap();
        assert_eq!(
            tag.packet,
            AudioPacket::AacRaw(Bytes::from_static(&[1, 2, 3]))
        );
        let cfg = parse_aac_config(&crate::audio_specific_config_lc(44_100, 1).unwrap()).unwrap();
        assert_eq!((cfg.sample_rate, cfg.channels), (44_100, 1));
    }

    #[test]
    fn metadata_round_trips() {
        let body = crate::metadata_body(&crate::Metadata {
            width: 1280,
            height: 720,
            framerate: 30.0,
            video_kbps: 2500,
            audio_kbps: Some(160),
            audio_sample_rate: 48_000,
            audio_channels: 2,
            encoder: "OnAir".into(),
        });
        let props = parse_metadata(&body).unwrap();
        let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("width"), Some(Value::Number(1280.0)));
        assert_eq!(get("encoder"), Some(Value::from("OnAir")));
        assert!(parse_metadata(b"\x02\x00\x01x").is_err());
    }

    #[test]
    fn truncated_and_hostile_bodies_are_errors() {
        for body in [
            &b""[..],
            &[0x17],
            &[0x17, 0, 0, 0],
            &[
                0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1F, 0xFF, 0xE1, 0xFF, 0xFF, 0x67,
            ],
            &[0x17, 0, 0, 0, 0, 2, 0x42, 0, 0x1F, 0xFF, 0xE1],
            &[0x17, 9, 0, 0, 0],
            &[0x90, b'h', b'v'],
        ] {
            assert!(
                parse_video_tag(&Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
        for body in [
            &b""[..],
            &[0xAF],
            &[0xAF, 0, 0x12],
            &[0xAF, 7],
            &[0xAF, 0, 0x17, 0x80],
        ] {
            assert!(
                parse_audio_tag(&Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn other_codecs_are_named_not_decoded() {
        let t = parse_video_tag(&Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1', 0])).unwrap();
        assert_eq!(t.codec.name(), "HEVC");
        let t = parse_audio_tag(&Bytes::from_static(&[0x2F, 0xFF])).unwrap();
        assert_eq!(t.codec.name(), "MP3");
    }
}
