//! The RTMP handshake, both sides (the "simple" handshake of the RTMP spec,
//! section 5.2, which every server in use accepts for publishing).
//!
//! ```text
//! client: C0 (version 3) + C1 (time, zero, 1528 random bytes)
//! server: S0 + S1 + S2
//! client: C2 (echo of S1)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// RTMP protocol version byte.
pub const RTMP_VERSION: u8 = 3;
/// Size of C1/C2/S1/S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// Why the handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// S0 carried a version other than 3.
    #[error("server answered the handshake with version {0}, expected 3 (is this an RTMP server? an rtmps:// server spoken to as rtmp://?)")]
    BadVersion(u8),
    /// The server closed the connection inside the handshake.
    #[error(
        "server closed the connection during the handshake after {received} of {expected} bytes"
    )]
    Truncated {
        /// Bytes of S0+S1+S2 received.
        received: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Client handshake state.
#[derive(Debug)]
pub struct ClientHandshake {
    received: BytesMut,
    done: bool,
}

/// What feeding the handshake bytes produced.
#[derive(Debug)]
pub enum HandshakeProgress {
    /// More bytes are needed.
    NeedMore,
    /// Done: send `c2`; `rest` are bytes after S2 (already chunk stream).
    Done {
        /// C2 to send.
        c2: Bytes,
        /// Bytes received after S2.
        rest: Bytes,
    },
}

impl ClientHandshake {
    /// Starts a handshake; returns it and C0+C1 to send. `epoch_ms` goes into
    /// C1's time field; `seed` fills the random part (it need not be secret).
    pub fn start(epoch_ms: u32, seed: u64) -> (Self, Bytes) {
        let mut out = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_u32(epoch_ms);
        out.put_u32(0);
        let mut x = seed | 1;
        while out.len() < 1 + HANDSHAKE_SIZE {
            // xorshift64*: cheap filler; the spec only asks that it be
            // distinguishable.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            out.put_u8((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
        }
        (
            Self {
                received: BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE),
                done: false,
            },
            out.freeze(),
        )
    }

    /// Bytes still expected from the server.
    pub fn expected_remaining(&self) -> usize {
        (1 + 2 * HANDSHAKE_SIZE).saturating_sub(self.received.len())
    }

    /// Bytes received so far.
    pub fn received(&self) -> usize {
        self.received.len()
    }

    /// Feeds bytes from the server.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<HandshakeProgress, HandshakeError> {
        if self.done {
            return Ok(HandshakeProgress::NeedMore);
        }
        let want = self.expected_remaining();
        let (mine, rest) = input.split_at(want.min(input.len()));
        self.received.extend_from_slice(mine);
        if let Some(&v) = self.received.first() {
            if v != RTMP_VERSION {
                return Err(HandshakeError::BadVersion(v));
            }
        }
        if self.expected_remaining() > 0 {
            return Ok(HandshakeProgress::NeedMore);
        }
        self.done = true;
        // C2 echoes S1 (time, time2 = when we read it, random). Servers in
        // use do not check time2; we echo S1 as is.
        let s1 = &self.received[1..1 + HANDSHAKE_SIZE];
        Ok(HandshakeProgress::Done {
            c2: Bytes::copy_from_slice(s1),
            rest: Bytes::copy_from_slice(rest),
        })
    }
}

/// Server handshake state: reads C0+C1, answers S0+S1+S2, then reads C2.
#[derive(Debug)]
pub struct ServerHandshake {
    received: BytesMut,
    answered: bool,
    epoch_ms: u32,
    seed: u64,
}

/// What feeding the server handshake bytes produced.
#[derive(Debug)]
pub enum ServerHandshakeProgress {
    /// More bytes are needed; send `reply` first if there is one (S0+S1+S2,
    /// once C1 is in).
    NeedMore {
        /// Bytes to send now.
        reply: Option<Bytes>,
    },
    /// C2 received: the chunk stream starts with `rest`.
    Done {
        /// S0+S1+S2 if C0+C1+C2 all came in one piece.
        reply: Option<Bytes>,
        /// Bytes received after C2.
        rest: Bytes,
    },
}

impl ServerHandshake {
    /// A server handshake; `epoch_ms` and `seed` fill S1.
    pub fn new(epoch_ms: u32, seed: u64) -> Self {
        Self {
            received: BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE),
            answered: false,
            epoch_ms,
            seed,
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> usize {
        self.received.len()
    }

    /// Feeds bytes from the client.
    pub fn handle_input(
        &mut self,
        input: &[u8],
    ) -> Result<ServerHandshakeProgress, HandshakeError> {
        let total = 1 + 2 * HANDSHAKE_SIZE;
        let want = total.saturating_sub(self.received.len());
        let (mine, rest) = input.split_at(want.min(input.len()));
        self.received.extend_from_slice(mine);
        if let Some(&v) = self.received.first() {
            if v != RTMP_VERSION {
                return Err(HandshakeError::BadVersion(v));
            }
        }
        let mut reply = None;
        if !self.answered && self.received.len() > HANDSHAKE_SIZE {
            self.answered = true;
            // S0 + S1 (our time, zero, random) + S2 (echo of C1).
            let (_, s0s1) = ClientHandshake::start(self.epoch_ms, self.seed);
            let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
            out.extend_from_slice(&s0s1);
            out.extend_from_slice(&self.received[1..1 + HANDSHAKE_SIZE]);
            reply = Some(out.freeze());
        }
        if self.received.len() < total {
            return Ok(ServerHandshakeProgress::NeedMore { reply });
        }
        Ok(ServerHandshakeProgress::Done {
            reply,
            rest: Bytes::copy_from_slice(rest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_c1_is_version_time_zero_random() {
        let (_, c0c1) = ClientHandshake::start(0x01020304, 7);
        assert_eq!(c0c1.len(), 1537);
        assert_eq!(&c0c1[..9], &[3, 1, 2, 3, 4, 0, 0, 0, 0]);
        assert!(c0c1[9..].iter().any(|&b| b != 0));
    }

    #[test]
    fn completes_after_s0_s1_s2_and_echoes_s1_keeping_the_rest() {
        let (mut h, _) = ClientHandshake::start(0, 1);
        let mut server = vec![3u8];
        server.extend((0..HANDSHAKE_SIZE).map(|i| i as u8));
        server.extend(std::iter::repeat_n(9u8, HANDSHAKE_SIZE));
        server.extend_from_slice(b"tail");
        let (a, b) = server.split_at(1000);
        assert!(matches!(
            h.handle_input(a).unwrap(),
            HandshakeProgress::NeedMore
        ));
        match h.handle_input(b).unwrap() {
            HandshakeProgress::Done { c2, rest } => {
                assert_eq!(&c2[..], &server[1..1 + HANDSHAKE_SIZE]);
                assert_eq!(&rest[..], b"tail");
            }
            HandshakeProgress::NeedMore => panic!("not done"),
        }
    }

    #[test]
    fn wrong_version_is_rejected_at_the_first_byte() {
        let (mut h, _) = ClientHandshake::start(0, 1);
        assert_eq!(
            h.handle_input(&[0x16, 3, 1]).unwrap_err(),
            HandshakeError::BadVersion(0x16)
        );
    }
}
