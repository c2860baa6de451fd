//! The RTMP chunk stream: splitting messages into chunks and reassembling them.
//!
//! The writer never copies a payload: it emits header bytes and
//! [`Bytes::slice`]s of the message body into an [`OutBuf`]. The reader keeps
//! at most one partial message per chunk stream, bounds the number of chunk
//! streams it tracks, and never allocates by a size a peer declared beyond
//! the per-type message caps.

use std::collections::{HashMap, VecDeque};

use bytes::{Buf, Bytes, BytesMut};

/// Default chunk size of both directions until a Set Chunk Size says otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the protocol allows (31 bits).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Lowest chunk stream id a message may use (0 and 1 encode longer ids).
pub const MIN_CSID: u32 = 2;
/// Highest chunk stream id (3-byte basic header).
pub const MAX_CSID: u32 = 65599;
/// Chunk streams the reader tracks at once; idle ones are evicted past this.
pub const MAX_TRACKED_CHUNK_STREAMS: usize = 64;

/// Largest audio/video/aggregate message a [`ChunkReader::for_media`] accepts.
pub const MAX_INCOMING_MEDIA: u32 = 8 * 1024 * 1024;

const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
const VIDEO_TYPE: u8 = 9;

/// Header fields of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Chunk stream id (2..=65599).
    pub csid: u32,
    /// Absolute timestamp in ms (32-bit, wraps).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
}

/// One reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its header.
    pub header: MessageHeader,
    /// Its body.
    pub payload: Bytes,
}

/// Why incoming chunk bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk header of format 1-3 on a chunk stream that never had a format 0 header.
    #[error("chunk stream {csid}: format {fmt} header with no previous header")]
    NoPreviousHeader {
        /// The chunk stream.
        csid: u32,
        /// The chunk format.
        fmt: u8,
    },
    /// A message longer than the cap for its type.
    #[error(
        "chunk stream {csid}: message type {type_id} of {length} bytes exceeds the {cap}-byte cap"
    )]
    MessageTooLarge {
        /// The chunk stream.
        csid: u32,
        /// The message type.
        type_id: u8,
        /// Declared length.
        length: u32,
        /// The cap for that type.
        cap: u32,
    },
    /// A new message header arrived while a message on the same chunk stream was incomplete.
    #[error("chunk stream {csid}: new message header (format {fmt}) while a {got} of {want} byte message is pending")]
    InterruptedMessage {
        /// The chunk stream.
        csid: u32,
        /// The chunk format that interrupted.
        fmt: u8,
        /// Bytes received of the pending message.
        got: usize,
        /// Its declared length.
        want: u32,
    },
    /// Too many chunk streams with partial messages at once.
    #[error("more than {MAX_TRACKED_CHUNK_STREAMS} chunk streams with partial messages")]
    TooManyChunkStreams,
    /// Set Chunk Size out of range (0, or the top bit set).
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
}

/// Largest message the client accepts of a type. Servers send a publisher
/// control messages and commands, all small; media has no business arriving.
pub fn max_incoming_length(type_id: u8) -> u32 {
    match type_id {
        1 | 2 | 3 | 5 => 4,
        6 => 5,
        4 => 64,
        15..=20 => 64 * 1024,
        _ => 1024 * 1024,
    }
}

// ---------------------------------------------------------------- output

/// Outgoing bytes: small headers coalesced, payload slices passed through.
#[derive(Debug, Default)]
pub struct OutBuf {
    small: BytesMut,
    queue: VecDeque<Bytes>,
    queued: usize,
}

/// Payload slices at least this long are queued as their own `Bytes`
/// instead of being copied next to their header.
const ZERO_COPY_MIN: usize = 512;

impl OutBuf {
    /// Appends bytes that are copied (headers, small bodies).
    pub fn put_small(&mut self, b: &[u8]) {
        self.small.extend_from_slice(b);
        self.queued += b.len();
    }

    /// Appends a payload slice, copying it only if it is small.
    pub fn put_bytes(&mut self, b: Bytes) {
        if b.len() < ZERO_COPY_MIN {
            self.put_small(&b);
            return;
        }
        self.flush_small();
        self.queued += b.len();
        self.queue.push_back(b);
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            self.queue.push_back(self.small.split().freeze());
        }
    }

    /// Takes the next piece to send.
    pub fn pop(&mut self) -> Option<Bytes> {
        if self.queue.is_empty() {
            self.flush_small();
        }
        let b = self.queue.pop_front()?;
        self.queued -= b.len();
        Some(b)
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct WriterState {
    timestamp: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Splits messages into chunks.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: u32,
    last: HashMap<u32, WriterState>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn put_basic_header(out: &mut [u8; 18], n: &mut usize, fmt: u8, csid: u32) {
    match csid {
        2..=63 => {
            out[*n] = (fmt << 6) | csid as u8;
            *n += 1;
        }
        64..=319 => {
            out[*n] = fmt << 6;
            out[*n + 1] = (csid - 64) as u8;
            *n += 2;
        }
        _ => {
            let v = csid - 64;
            out[*n] = (fmt << 6) | 1;
            out[*n + 1] = (v & 0xFF) as u8;
            out[*n + 2] = (v >> 8) as u8;
            *n += 3;
        }
    }
}

fn put_u24(out: &mut [u8; 18], n: &mut usize, v: u32) {
    out[*n..*n + 3].copy_from_slice(&v.to_be_bytes()[1..]);
    *n += 3;
}

impl ChunkWriter {
    /// A writer at the default chunk size (128).
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            last: HashMap::new(),
        }
    }

    /// The current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the chunk size. Send a Set Chunk Size message (at the old size)
    /// before calling this.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Writes one message as chunks. Each new message gets a format 0, 1 or 2
    /// header (format 3 only for continuation chunks: servers disagree on
    /// what a format 3 header means for a new message after a format 0 one).
    ///
    /// # Panics
    /// If `header.csid` is outside 2..=65599 or the payload exceeds 16 MiB:
    /// both are programming errors, never peer input.
    pub fn write(&mut self, header: MessageHeader, payload: Bytes, out: &mut OutBuf) {
        assert!((MIN_CSID..=MAX_CSID).contains(&header.csid), "bad csid");
        assert!(payload.len() < 1 << 24, "message too long for RTMP");
        let length = payload.len() as u32;
        let prev = self.last.get(&header.csid).copied();
        let (fmt, ts_field) = match prev {
            Some(p) if p.stream_id == header.stream_id && header.timestamp >= p.timestamp => {
                let delta = header.timestamp - p.timestamp;
                if p.length == length && p.type_id == header.type_id {
                    (2u8, delta)
                } else {
                    (1u8, delta)
                }
            }
            _ => (0u8, header.timestamp),
        };
        self.last.insert(
            header.csid,
            WriterState {
                timestamp: header.timestamp,
                length,
                type_id: header.type_id,
                stream_id: header.stream_id,
            },
        );
        let extended = ts_field >= EXTENDED_TIMESTAMP;
        let mut h = [0u8; 18];
        let mut n = 0;
        put_basic_header(&mut h, &mut n, fmt, header.csid);
        put_u24(&mut h, &mut n, ts_field.min(EXTENDED_TIMESTAMP));
        if fmt <= 1 {
            put_u24(&mut h, &mut n, length);
            h[n] = header.type_id;
            n += 1;
        }
        if fmt == 0 {
            h[n..n + 4].copy_from_slice(&header.stream_id.to_le_bytes());
            n += 4;
        }
        if extended {
            h[n..n + 4].copy_from_slice(&ts_field.to_be_bytes());
            n += 4;
        }
        out.put_small(&h[..n]);

        let chunk = self.chunk_size as usize;
        let mut offset = 0;
        loop {
            let end = (offset + chunk).min(payload.len());
            out.put_bytes(payload.slice(offset..end));
            offset = end;
            if offset >= payload.len() {
                break;
            }
            let mut c = [0u8; 18];
            let mut m = 0;
            put_basic_header(&mut c, &mut m, 3, header.csid);
            if extended {
                c[m..m + 4].copy_from_slice(&ts_field.to_be_bytes());
                m += 4;
            }
            out.put_small(&c[..m]);
        }
    }
}

// ---------------------------------------------------------------- input

/// The header fields remembered per chunk stream (what formats 1-3 inherit).
#[derive(Debug, Clone, Copy, Default)]
struct HeaderState {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

#[derive(Debug, Default)]
struct ReaderState {
    header: HeaderState,
    /// The message being reassembled, if any. Chunks are appended to it in
    /// place: reassembly is linear in the message size whatever the chunk
    /// size.
    partial: Option<BytesMut>,
}

/// Reassembles messages from chunk bytes.
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: u32,
    media_cap: u32,
    streams: HashMap<u32, ReaderState>,
    buf: BytesMut,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.pos..self.pos + N)?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Some(a)
    }
    fn u24(&mut self) -> Option<u32> {
        let a = self.take::<3>()?;
        Some(u32::from_be_bytes([0, a[0], a[1], a[2]]))
    }
    fn u32_be(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take::<4>()?))
    }
}

impl ChunkReader {
    /// A reader at the default chunk size (128).
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            media_cap: max_incoming_length(VIDEO_TYPE),
            streams: HashMap::new(),
            buf: BytesMut::new(),
        }
    }

    /// A reader for a server receiving media: audio, video and aggregate
    /// messages may be up to [`MAX_INCOMING_MEDIA`] bytes (a keyframe of a
    /// high-bitrate stream passes 1 MiB), everything else keeps its cap.
    pub fn for_media() -> Self {
        Self {
            media_cap: MAX_INCOMING_MEDIA,
            ..Self::new()
        }
    }

    /// Applies a peer's Set Chunk Size.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// The incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Chunk streams whose headers are remembered (bounded by
    /// [`MAX_TRACKED_CHUNK_STREAMS`]).
    pub fn tracked_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes held waiting for the rest of a chunk.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds bytes from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Parses the next complete message, if the buffered bytes hold one.
    ///
    /// Call repeatedly until it returns `Ok(None)`. A Set Chunk Size message
    /// must be applied (with [`set_chunk_size`](Self::set_chunk_size)) before
    /// the next call.
    pub fn next_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            match self.next_chunk()? {
                ChunkStep::NeedMore => return Ok(None),
                ChunkStep::Message(m) => return Ok(Some(m)),
                ChunkStep::Partial => continue,
            }
        }
    }

    fn next_chunk(&mut self) -> Result<ChunkStep, ChunkError> {
        let mut c = Cursor {
            b: &self.buf,
            pos: 0,
        };
        let Some([b0]) = c.take::<1>() else {
            return Ok(ChunkStep::NeedMore);
        };
        let fmt = b0 >> 6;
        let csid = match b0 & 0x3F {
            0 => match c.take::<1>() {
                Some([b]) => 64 + u32::from(b),
                None => return Ok(ChunkStep::NeedMore),
            },
            1 => match c.take::<2>() {
                Some([lo, hi]) => 64 + u32::from(lo) + (u32::from(hi) << 8),
                None => return Ok(ChunkStep::NeedMore),
            },
            n => u32::from(n),
        };

        let prev = self.streams.get(&csid);
        // Format 1 on a chunk stream never seen: some servers (pyrtmp's
        // connect reply) compress against another stream's header. As
        // FFmpeg and librtmp do, the missing state is zero (message stream
        // 0, timestamp base 0): format 1 carries length and type itself.
        // Formats 2 and 3 would have to invent a length: still an error.
        if fmt > 1 && prev.is_none() {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        // Only the small header is copied; the partial body stays in place.
        let mut st = prev.map(|p| p.header).unwrap_or_default();
        let pending = prev.and_then(|p| p.partial.as_ref()).map(BytesMut::len);
        if fmt < 3 {
            if let Some(got) = pending {
                return Err(ChunkError::InterruptedMessage {
                    csid,
                    fmt,
                    got,
                    want: st.length,
                });
            }
        }

        let need_more = || Ok(ChunkStep::NeedMore);
        let new_message = pending.is_none();
        match fmt {
            0 => {
                let Some(ts) = c.u24() else {
                    return need_more();
                };
                let Some(len) = c.u24() else {
                    return need_more();
                };
                let Some([ty]) = c.take::<1>() else {
                    return need_more();
                };
                let Some(sid) = c.take::<4>() else {
                    return need_more();
                };
                st.extended = ts == EXTENDED_TIMESTAMP;
                let ts = if st.extended {
                    match c.u32_be() {
                        Some(t) => t,
                        None => return need_more(),
                    }
                } else {
                    ts
                };
                st.timestamp = ts;
                st.delta = 0;
                st.length = len;
                st.type_id = ty;
                st.stream_id = u32::from_le_bytes(sid);
            }
            1 | 2 => {
                let Some(delta) = c.u24() else {
                    return need_more();
                };
                if fmt == 1 {
                    let Some(len) = c.u24() else {
                        return need_more();
                    };
                    let Some([ty]) = c.take::<1>() else {
                        return need_more();
                    };
                    st.length = len;
                    st.type_id = ty;
                }
                st.extended = delta == EXTENDED_TIMESTAMP;
                let delta = if st.extended {
                    match c.u32_be() {
                        Some(t) => t,
                        None => return need_more(),
                    }
                } else {
                    delta
                };
                st.delta = delta;
                st.timestamp = st.timestamp.wrapping_add(delta);
            }
            _ => {
                // Format 3: a continuation, or a new message repeating the
                // previous header (and delta).
                if st.extended {
                    // The extended timestamp is repeated on format 3 chunks.
                    if c.u32_be().is_none() {
                        return need_more();
                    }
                }
                if new_message {
                    st.timestamp = st.timestamp.wrapping_add(st.delta);
                }
            }
        }

        let cap = match st.type_id {
            8 | 9 | 22 => self.media_cap,
            t => max_incoming_length(t),
        };
        if st.length > cap {
            return Err(ChunkError::MessageTooLarge {
                csid,
                type_id: st.type_id,
                length: st.length,
                cap,
            });
        }
        let have = pending.unwrap_or(0);
        let remaining = st.length as usize - have;
        let take = remaining.min(self.chunk_size as usize);
        if self.buf.len() < c.pos + take {
            return need_more();
        }

        // The whole chunk is here: commit.
        let header_len = c.pos;
        self.buf.advance(header_len);
        let header = MessageHeader {
            csid,
            timestamp: st.timestamp,
            type_id: st.type_id,
            stream_id: st.stream_id,
        };
        if new_message && take == st.length as usize {
            let body = self.buf.split_to(take);
            self.store(csid, st, None)?;
            return Ok(ChunkStep::Message(Message {
                header,
                payload: body.freeze(),
            }));
        }
        if new_message {
            // Bounded by the per-type cap checked above; grows with what
            // actually arrives, not with what the header claims.
            let mut partial = BytesMut::with_capacity((st.length as usize).min(64 * 1024));
            partial.extend_from_slice(&self.buf[..take]);
            self.buf.advance(take);
            self.store(csid, st, Some(partial))?;
            return Ok(ChunkStep::Partial);
        }
        // A continuation: append in place (the entry exists: it is pending).
        let Some(entry) = self.streams.get_mut(&csid) else {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        };
        entry.header = st;
        let Some(partial) = entry.partial.as_mut() else {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        };
        partial.extend_from_slice(&self.buf[..take]);
        self.buf.advance(take);
        if partial.len() == st.length as usize {
            let payload = entry
                .partial
                .take()
                .map(BytesMut::freeze)
                .unwrap_or_default();
            return Ok(ChunkStep::Message(Message { header, payload }));
        }
        Ok(ChunkStep::Partial)
    }

    fn store(
        &mut self,
        csid: u32,
        header: HeaderState,
        partial: Option<BytesMut>,
    ) -> Result<(), ChunkError> {
        if let Some(entry) = self.streams.get_mut(&csid) {
            entry.header = header;
            entry.partial = partial;
            return Ok(());
        }
        if self.streams.len() >= MAX_TRACKED_CHUNK_STREAMS {
            // Evict a chunk stream with no message in flight.
            let idle = self
                .streams
                .iter()
                .find(|(_, s)| s.partial.is_none())
                .map(|(k, _)| *k);
            match idle {
                Some(k) => {
                    self.streams.remove(&k);
                }
                None => return Err(ChunkError::TooManyChunkStreams),
            }
        }
        self.streams.insert(csid, ReaderState { header, partial });
        Ok(())
    }
}

enum ChunkStep {
    NeedMore,
    Partial,
    Message(Message),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(out: &mut OutBuf) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(b) = out.pop() {
            v.extend_from_slice(&b);
        }
        v
    }

    fn header(csid: u32, timestamp: u32, type_id: u8) -> MessageHeader {
        MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id: 1,
        }
    }

    #[test]
    fn first_message_gets_a_format_0_header() {
        let mut w = ChunkWriter::new();
        let mut out = OutBuf::default();
        w.write(header(4, 0x10, 8), Bytes::from_static(&[0xAF, 1]), &mut out);
        assert_eq!(
            drain(&mut out),
            vec![0x04, 0, 0, 0x10, 0, 0, 2, 8, 1, 0, 0, 0, 0xAF, 1]
        );
    }

    #[test]
    fn following_messages_use_delta_headers() {
        let mut w = ChunkWriter::new();
        let mut out = OutBuf::default();
        w.write(header(4, 100, 8), Bytes::from_static(&[1, 2]), &mut out);
        drain(&mut out);
        w.write(header(4, 121, 8), Bytes::from_static(&[3, 4]), &mut out);
        assert_eq!(drain(&mut out), vec![0x84, 0, 0, 21, 3, 4]);
        w.write(header(4, 142, 8), Bytes::from_static(&[5, 6, 7]), &mut out);
        assert_eq!(drain(&mut out), vec![0x44, 0, 0, 21, 0, 0, 3, 8, 5, 6, 7]);
    }

    #[test]
    fn long_messages_are_split_with_format_3_continuations() {
        let mut w = ChunkWriter::new();
        let mut out = OutBuf::default();
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        w.write(header(6, 0, 9), Bytes::from(payload.clone()), &mut out);
        let wire = drain(&mut out);
        assert_eq!(wire.len(), 12 + 300 + 2);
        assert_eq!(wire[12 + 128], 0xC6);
        assert_eq!(wire[12 + 128 + 1 + 128], 0xC6);
    }

    #[test]
    fn extended_timestamp_is_repeated_on_continuations() {
        let mut w = ChunkWriter::new();
        let mut out = OutBuf::default();
        w.write(
            header(6, 0x0100_0000, 9),
            Bytes::from(vec![7u8; 200]),
            &mut out,
        );
        let wire = drain(&mut out);
        assert_eq!(&wire[1..4], &[0xFF, 0xFF, 0xFF]);
        assert_eq!(&wire[12..16], &[1, 0, 0, 0]);
        assert_eq!(wire[16 + 128], 0xC6);
        assert_eq!(&wire[16 + 129..16 + 133], &[1, 0, 0, 0]);
        let mut r = ChunkReader::new();
        r.push(&wire);
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(m.header.timestamp, 0x0100_0000);
        assert_eq!(m.payload.len(), 200);
    }

    #[test]
    fn two_and_three_byte_chunk_stream_ids_round_trip() {
        for csid in [2, 63, 64, 319, 320, 65599] {
            let mut w = ChunkWriter::new();
            let mut out = OutBuf::default();
            w.write(header(csid, 5, 20), Bytes::from_static(b"abc"), &mut out);
            let mut r = ChunkReader::new();
            r.push(&drain(&mut out));
            let m = r.next_message().unwrap().unwrap();
            assert_eq!(m.header.csid, csid);
            assert_eq!(&m.payload[..], b"abc");
        }
    }

    #[test]
    fn writer_and_reader_round_trip_interleaved_streams_byte_by_byte() {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(100).unwrap();
        let mut out = OutBuf::default();
        let mut sent = Vec::new();
        for i in 0..20u32 {
            let csid = if i % 2 == 0 { 4 } else { 6 };
            let len = (i as usize * 37) % 400 + 1;
            let payload = Bytes::from(vec![i as u8; len]);
            let h = header(csid, i * 33, if csid == 4 { 8 } else { 9 });
            w.write(h, payload.clone(), &mut out);
            sent.push(Message { header: h, payload });
        }
        let wire = drain(&mut out);
        let mut r = ChunkReader::new();
        r.set_chunk_size(100).unwrap();
        let mut got = Vec::new();
        for b in wire {
            r.push(&[b]);
            while let Some(m) = r.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, sent);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn format_3_new_message_repeats_previous_delta() {
        // fmt 0 ts=10 len=1, fmt 2 delta=5, fmt 3 (new message, delta 5 again)
        let wire = [
            0x03, 0, 0, 10, 0, 0, 1, 20, 0, 0, 0, 0, b'a', 0x83, 0, 0, 5, b'b', 0xC3, b'c',
        ];
        let mut r = ChunkReader::new();
        r.push(&wire);
        let ts: Vec<u32> = std::iter::from_fn(|| r.next_message().unwrap())
            .map(|m| m.header.timestamp)
            .collect();
        assert_eq!(ts, vec![10, 15, 20]);
    }

    #[test]
    fn format_2_or_3_without_previous_on_that_chunk_stream_is_an_error() {
        let mut r = ChunkReader::new();
        r.push(&[0x83, 0, 0, 0, b'x']);
        assert_eq!(
            r.next_message(),
            Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 2 })
        );
        let mut r = ChunkReader::new();
        r.push(&[0xC3, b'x']);
        assert_eq!(
            r.next_message(),
            Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 3 })
        );
    }

    #[test]
    fn format_1_on_an_unseen_chunk_stream_reads_with_stream_0_and_base_0() {
        // pyrtmp answers connect this way: a format 1 header (delta 7,
        // length 1, type 20) on chunk stream 3, which it never used before.
        let mut r = ChunkReader::new();
        r.push(&[0x43, 0, 0, 7, 0, 0, 1, 20, b'x']);
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(
            m.header,
            MessageHeader {
                csid: 3,
                timestamp: 7,
                type_id: 20,
                stream_id: 0
            }
        );
        assert_eq!(&m.payload[..], b"x");
        // The caps still hold for such a header.
        let mut r = ChunkReader::new();
        r.push(&[0x44, 0, 0, 0, 0x10, 0, 0, 20]);
        assert!(matches!(
            r.next_message(),
            Err(ChunkError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn a_megabyte_at_chunk_size_one_reassembles_in_linear_time() {
        // 1 MiB of video at chunk size 1: a million continuation chunks.
        // Copying the partial message per chunk would move ~500 GB.
        let len = 1 << 20;
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut w = ChunkWriter::new();
        w.set_chunk_size(1).unwrap();
        let mut out = OutBuf::default();
        w.write(header(6, 0, 9), Bytes::from(payload.clone()), &mut out);
        let wire = drain(&mut out);
        let mut r = ChunkReader::for_media();
        r.set_chunk_size(1).unwrap();
        r.push(&wire);
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(m.payload.len(), len);
        assert_eq!(&m.payload[..], &payload[..]);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn oversized_command_is_rejected_before_buffering_it() {
        let mut r = ChunkReader::new();
        r.push(&[0x03, 0, 0, 0, 0x10, 0, 0, 20, 0, 0, 0, 0]);
        assert!(matches!(
            r.next_message(),
            Err(ChunkError::MessageTooLarge {
                length: 0x10_0000,
                ..
            })
        ));
    }

    #[test]
    fn chunk_size_zero_or_top_bit_is_rejected() {
        let mut r = ChunkReader::new();
        assert!(r.set_chunk_size(0).is_err());
        assert!(r.set_chunk_size(0x8000_0000).is_err());
        assert!(r.set_chunk_size(MAX_CHUNK_SIZE).is_ok());
    }
}
