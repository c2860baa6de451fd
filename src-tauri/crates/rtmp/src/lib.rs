//! Sans-IO RTMP publishing.
//!
//! [`ClientSession`] is the whole client side of RTMP as a state machine: the
//! handshake, the chunk stream in both directions, AMF0 commands (`connect`,
//! `releaseStream`, `FCPublish`, `createStream`, `publish`, `FCUnpublish`,
//! `deleteStream`), Window Acknowledgement Size and Acknowledgements both ways,
//! Set Chunk Size both ways, Set Peer Bandwidth, and User Control (Ping
//! Request is answered). It takes bytes and time in and gives bytes, events
//! and deadlines out. It never touches a socket and never reads the clock,
//! so every behaviour is tested in memory against a scripted server.
//!
//! [`ServerSession`] is the other end, for an ingest inside the app (the
//! stream check): handshake, `connect` / `createStream` / `publish` answers,
//! acknowledgements, and every media message handed up as an event.
//!
//! It does not build FLV tag bodies (see `onair-flv`), queue or drop media,
//! reconnect, or do TLS: RTMPS is this same session over a TLS stream, and
//! the rest is the job of `onair-output`.
//!
//! ```no_run
//! use std::time::Instant;
//! use onair_rtmp::{ClientConfig, ClientSession, SessionEvent, SessionOutput, StreamKey};
//! # fn socket_read() -> Vec<u8> { vec![] }
//! # fn socket_write(_: &[u8]) {}
//! let config = ClientConfig::new("rtmp://127.0.0.1/live", "live", StreamKey::new("key"));
//! let mut s = ClientSession::new(config, Instant::now());
//! loop {
//!     while let Some(out) = s.poll_output() {
//!         match out {
//!             SessionOutput::Transmit(bytes) => socket_write(&bytes),
//!             SessionOutput::Event(SessionEvent::Publishing { .. }) => {
//!                 // send metadata, sequence headers, then media
//!             }
//!             SessionOutput::Event(_) => {}
//!             SessionOutput::Timeout(_at) => { /* wake up then, call handle_timeout */ }
//!         }
//!     }
//!     s.handle_input(Instant::now(), &socket_read()).unwrap();
//! }
//! ```

pub mod chunk;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod message;
pub mod server;
mod session;

pub use chunk::ChunkError;
pub use handshake::HandshakeError;
pub use onair_amf0 as amf0;
pub use server::{MediaType, ServerConfig, ServerError, ServerEvent, ServerOutput, ServerSession};
pub use session::{
    ClientConfig, ClientSession, SessionEvent, SessionOutput, StreamKey, CAPS_EX_RECONNECT,
    MAX_PONGS_PER_INPUT, RECONNECT_REQUEST,
};

/// The deadline of the step a session waits on, handed out once through
/// `poll_output` (both the client and the server session use it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<std::time::Instant>,
    reported: Option<std::time::Instant>,
}

impl Deadline {
    pub(crate) fn new(at: std::time::Instant) -> Self {
        Self {
            at: Some(at),
            reported: None,
        }
    }

    /// Waits until `at` now (`None`: nothing to wait for).
    pub(crate) fn set(&mut self, at: Option<std::time::Instant>) {
        self.at = at;
    }

    /// The current deadline.
    pub(crate) fn get(&self) -> Option<std::time::Instant> {
        self.at
    }

    /// The deadline, the first time it is asked for since it was set.
    pub(crate) fn poll(&mut self) -> Option<std::time::Instant> {
        match self.at {
            Some(d) if self.reported != Some(d) => {
                self.reported = Some(d);
                Some(d)
            }
            _ => None,
        }
    }
}

/// Bytes a client writes in the handshake (C0, C1, C2). Acknowledgement
/// sequence numbers and [`ClientSession::bytes_sent`] count the bytes after it.
pub const CLIENT_HANDSHAKE_BYTES: u64 = 1 + 2 * handshake::HANDSHAKE_SIZE as u64;

/// Which step of setting up a publish was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// C0/C1 .. S2.
    Handshake,
    /// Waiting for the `connect` answer.
    Connect,
    /// Waiting for the `createStream` answer.
    CreateStream,
    /// Waiting for `NetStream.Publish.Start`, or publishing.
    Publish,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Handshake => "handshake",
            Stage::Connect => "connect",
            Stage::CreateStream => "createStream",
            Stage::Publish => "publish",
        })
    }
}

/// Everything that can end a session.
///
/// Server codes and descriptions are carried as the server sent them: the
/// session matches protocol values raw, so a key that happens to be part of
/// a protocol word (`a`, `Start`) cannot break the match. They may contain
/// the stream key: redact with [`StreamKey::redact`] wherever the text is
/// shown (a log line, a stats field, the UI).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream was malformed.
    #[error("malformed chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A protocol control message had the wrong size.
    #[error("{what} message of {len} bytes is malformed")]
    BadControlMessage {
        /// Which message.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A command could not be understood.
    #[error("malformed command from server: {0}")]
    BadCommand(String),
    /// The server refused to publish with the stream key: `publish`
    /// answered with `BadName` / `Denied` / an error-level status, or the
    /// connection closed right after `publish`. On a first connection that
    /// is a wrong key; after having been live it usually means the server
    /// still holds the previous connection.
    #[error("stream key rejected by the server ({code}{}{description})", if description.is_empty() { "" } else { ": " })]
    KeyRejected {
        /// Status code or reason.
        code: String,
        /// Server's description (raw: redact before showing).
        description: String,
    },
    /// The server answered `connect` with `_error`: it refused the
    /// application path (or the server URL is wrong). Not the key, which
    /// has not been sent yet.
    #[error("the server refused the application path (check the server URL): {code}{}{description}", if description.is_empty() { "" } else { ": " })]
    ConnectRejected {
        /// Status code.
        code: String,
        /// Server's description (raw: redact before showing).
        description: String,
    },
    /// The server refused another step.
    #[error("server rejected {stage}: {code} {description}")]
    Rejected {
        /// Which step.
        stage: Stage,
        /// Status code.
        code: String,
        /// Server's description (raw: redact before showing).
        description: String,
    },
    /// The server did not answer in time.
    #[error("server did not answer the {stage} step in time")]
    Timeout {
        /// Which step.
        stage: Stage,
    },
    /// The server closed the connection.
    #[error("server closed the connection during {stage}")]
    PeerClosed {
        /// Which step.
        stage: Stage,
    },
    /// The connection closed after a clean close.
    #[error("session closed")]
    Closed,
    /// A call made in a state that does not allow it.
    #[error("{op} is not allowed while the session is {state}")]
    InvalidState {
        /// The call.
        op: &'static str,
        /// The state.
        state: &'static str,
    },
}

impl Error {
    /// Whether retrying can help on a destination that has never been live
    /// (a rejected key or application path cannot). After a destination
    /// has been live, the caller decides: see [`Error::is_rejection`].
    pub fn is_retryable(&self) -> bool {
        !self.is_rejection()
    }

    /// Whether the server refused a step (key, application path, stream)
    /// rather than the connection failing.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::KeyRejected { .. } | Error::ConnectRejected { .. } | Error::Rejected { .. }
        )
    }
}
