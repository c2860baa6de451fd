//! `AacEncoder`: fdk-aac, AAC-LC, constant bitrate, raw frames (no ADTS).

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::MediaError;

/// Samples per channel in one AAC-LC frame.
pub const AAC_FRAME_SAMPLES: usize = 1024;

/// One encoded AAC frame.
#[derive(Debug, Clone)]
pub struct EncodedAudio {
    /// Raw AAC frame.
    pub data: Bytes,
    /// First sample it decodes to, on the input's sample count (negative
    /// for the encoder's priming frames).
    pub first_sample: i64,
}

/// The AAC encoder: interleaved stereo f32 in, raw AAC-LC frames out.
pub struct AacEncoder {
    encoder: Encoder,
    sample_rate: u32,
    asc: Bytes,
    delay: i64,
    frames_out: i64,
    pcm: Vec<i16>,
    out: Vec<u8>,
}

impl std::fmt::Debug for AacEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacEncoder")
            .field("sample_rate", &self.sample_rate)
            .field("delay", &self.delay)
            .finish()
    }
}

impl AacEncoder {
    /// A stereo AAC-LC encoder.
    pub fn new(sample_rate: u32, bitrate_kbps: u32) -> Result<Self, MediaError> {
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_kbps.saturating_mul(1000)),
            sample_rate,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| MediaError::Encoder(format!("fdk-aac: {e}")))?;
        let info = encoder
            .info()
            .map_err(|e| MediaError::Encoder(format!("fdk-aac: {e}")))?;
        let asc_len = (info.confSize as usize).min(info.confBuf.len());
        let asc = Bytes::copy_from_slice(&info.confBuf[..asc_len]);
        Ok(Self {
            encoder,
            sample_rate,
            asc,
            delay: i64::from(info.nDelay),
            frames_out: 0,
            pcm: Vec::with_capacity(AAC_FRAME_SAMPLES * 2),
            out: vec![0; (info.maxOutBufBytes as usize).max(8192)],
        })
    }

    /// The AudioSpecificConfig for the sequence header.
    pub fn audio_specific_config(&self) -> Bytes {
        self.asc.clone()
    }

    /// Encoder delay in samples per channel.
    pub fn delay_samples(&self) -> i64 {
        self.delay
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Encodes interleaved stereo samples (any count); returns the frames completed.
    pub fn encode(&mut self, interleaved: &[f32]) -> Result<Vec<EncodedAudio>, MediaError> {
        self.pcm.clear();
        self.pcm.extend(
            interleaved
                .iter()
                .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16),
        );
        let mut frames = Vec::new();
        let mut input: &[i16] = &self.pcm;
        let mut guard = 0;
        loop {
            let info = self
                .encoder
                .encode(input, &mut self.out)
                .map_err(|e| MediaError::Encoder(format!("fdk-aac: {e}")))?;
            if info.output_size > 0 {
                let first_sample = self.frames_out * AAC_FRAME_SAMPLES as i64 - self.delay;
                self.frames_out += 1;
                frames.push(EncodedAudio {
                    data: Bytes::copy_from_slice(&self.out[..info.output_size]),
                    first_sample,
                });
            }
            input = &input[info.input_consumed.min(input.len())..];
            guard += 1;
            if (input.is_empty() && info.output_size == 0) || guard > 64 {
                break;
            }
        }
        Ok(frames)
    }
}
