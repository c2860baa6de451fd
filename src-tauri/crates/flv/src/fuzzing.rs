//! Fuzz entry points of the FLV tag body readers (cargo-fuzz and the corpus
//! replay test; compiled only with the `fuzzing` feature).

use bytes::Bytes;

use crate::read;

/// The FLV tag body readers (what an ingest gets from any publisher).
pub fn flv_tags(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if let Ok(t) = read::parse_video_tag(&body) {
        if let read::VideoPacket::AvcNalu { data, .. } = t.packet {
            for n in [1, 2, 4] {
                for nal in read::avcc_nal_units(&data, n) {
                    if nal.is_err() {
                        break;
                    }
                }
            }
        }
    }
    let _ = read::parse_audio_tag(&body);
    let _ = read::parse_metadata(data);
    let _ = read::parse_aac_config(data);
}
