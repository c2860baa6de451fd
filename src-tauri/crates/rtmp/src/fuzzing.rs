//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*`) and
//! the ordinary tests that replay the committed corpus. Each takes arbitrary
//! bytes and must never panic; the round trips also check their invariant.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::chunk::{ChunkReader, ChunkWriter, MessageHeader, OutBuf};
use crate::handshake::{ClientHandshake, HANDSHAKE_SIZE};
use crate::{ClientConfig, ClientSession, StreamKey};

/// The chunk reader fed arbitrary bytes, in pieces.
pub fn chunk_reader(data: &[u8]) {
    let mut r = ChunkReader::new();
    for piece in data.chunks(97) {
        r.push(piece);
        loop {
            match r.next_message() {
                Ok(Some(m)) => {
                    if m.header.type_id == crate::message::SET_CHUNK_SIZE && m.payload.len() == 4 {
                        let size = u32::from_be_bytes([
                            m.payload[0],
                            m.payload[1],
                            m.payload[2],
                            m.payload[3],
                        ]);
                        if r.set_chunk_size(size).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// The AMF0 decoder on arbitrary bytes; what decodes must re-encode and
/// decode to the same values.
pub fn amf0(data: &[u8]) {
    if let Ok(values) = crate::amf0::decode_all(data) {
        let again = crate::amf0::encode_all(&values);
        let back = crate::amf0::decode_all(&again).expect("re-encoded AMF0 decodes");
        // NaN != NaN: compare encodings instead of values.
        assert_eq!(crate::amf0::encode_all(&back), again);
    }
}

/// The client handshake fed arbitrary server bytes.
pub fn handshake(data: &[u8]) {
    let (mut h, _) = ClientHandshake::start(0, 1);
    for piece in data.chunks(HANDSHAKE_SIZE / 3) {
        if h.handle_input(piece).is_err() {
            return;
        }
    }
}

/// A whole client session fed arbitrary server bytes after a valid S0/S1/S2.
pub fn session(data: &[u8]) {
    let now = Instant::now();
    let cfg = ClientConfig::new("rtmp://h/live", "live", StreamKey::new("fuzzkey"));
    let mut s = ClientSession::new(cfg, now);
    let mut server = vec![3u8];
    server.extend(std::iter::repeat_n(7u8, 2 * HANDSHAKE_SIZE));
    if s.handle_input(now, &server).is_err() {
        return;
    }
    let mut t = now;
    for piece in data.chunks(61) {
        t += Duration::from_millis(5);
        if s.handle_input(t, piece).is_err() {
            return;
        }
        let mut out = 0usize;
        while let Some(o) = s.poll_output() {
            if let crate::SessionOutput::Transmit(b) = o {
                out += b.len();
            }
        }
        // Bounded reaction to any input piece.
        assert!(out < 64 * 1024, "{out} bytes out for a 61-byte input");
        if s.is_live() {
            let _ = s.publish_video(1, Bytes::from_static(&[0x17, 1, 0, 0, 0]));
        }
    }
}

/// Messages written then read back: the same messages come out.
pub fn chunk_roundtrip(data: &[u8]) {
    let Some((&size_byte, rest)) = data.split_first() else {
        return;
    };
    let chunk_size = 1 + u32::from(size_byte) * 37;
    let mut w = ChunkWriter::new();
    w.set_chunk_size(chunk_size).expect("valid size");
    let mut r = ChunkReader::new();
    r.set_chunk_size(chunk_size).expect("valid size");
    let mut out = OutBuf::default();
    let mut sent = Vec::new();
    let mut ts = [0u32; 4];
    for (i, body) in rest.chunks(29).enumerate() {
        let lane = body.first().map_or(0, |b| usize::from(*b % 4));
        ts[lane] = ts[lane].wrapping_add(u32::from(body.len() as u8) * 1_000_003);
        let header = MessageHeader {
            csid: 3 + lane as u32 * 100,
            timestamp: ts[lane],
            type_id: if i % 2 == 0 { 8 } else { 9 },
            stream_id: 1,
        };
        let body = Bytes::copy_from_slice(body);
        w.write(header, body.clone(), &mut out);
        sent.push((header, body));
    }
    while let Some(b) = out.pop() {
        r.push(&b);
    }
    let mut got = Vec::new();
    while let Some(m) = r.next_message().expect("own output parses") {
        got.push((m.header, m.payload));
    }
    assert_eq!(got, sent);
}

/// The ingest side fed a valid C0/C1/C2 and then arbitrary client bytes:
/// never a panic, and a bounded answer to every piece.
pub fn server(data: &[u8]) {
    let now = Instant::now();
    let mut s = crate::ServerSession::new(crate::ServerConfig::default(), now);
    let mut client = vec![3u8];
    client.extend(std::iter::repeat_n(5u8, 2 * HANDSHAKE_SIZE));
    if s.handle_input(now, &client).is_err() {
        return;
    }
    while s.poll_output().is_some() {}
    for piece in data.chunks(61) {
        if s.handle_input(now, piece).is_err() {
            return;
        }
        let mut out = 0usize;
        while let Some(o) = s.poll_output() {
            if let crate::ServerOutput::Transmit(b) = o {
                out += b.len();
            }
        }
        assert!(out < 64 * 1024, "{out} bytes out for a 61-byte input");
    }
}
