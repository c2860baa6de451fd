//! The server side of RTMP publishing, sans-IO: what an ingest does with one
//! publisher. It answers the handshake, `connect`, `releaseStream`,
//! `FCPublish`, `createStream` and `publish` as nginx-rtmp and the big
//! platforms do, acknowledges the client's window, and hands every data,
//! audio and video message up as an event. It does not play streams out,
//! relay, or parse media (see `onair-output`'s stream check).
//!
//! ```no_run
//! use std::time::Instant;
//! use onair_rtmp::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
//! # fn socket_read() -> Vec<u8> { vec![] }
//! # fn socket_write(_: &[u8]) {}
//! let mut s = ServerSession::new(ServerConfig::default(), Instant::now());
//! loop {
//!     s.handle_input(Instant::now(), &socket_read()).unwrap();
//!     while let Some(out) = s.poll_output() {
//!         match out {
//!             ServerOutput::Transmit(bytes) => socket_write(&bytes),
//!             ServerOutput::Event(ServerEvent::Media { .. }) => { /* analyse */ }
//!             ServerOutput::Event(_) => {}
//!             ServerOutput::Timeout(_at) => { /* call handle_timeout then */ }
//!         }
//!     }
//! }
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::amf0::Value;
use crate::chunk::{ChunkError, ChunkReader, ChunkWriter, Message, MessageHeader, OutBuf};
use crate::handshake::{HandshakeError, ServerHandshake, ServerHandshakeProgress};
use crate::message::{self as msg, Command};
use crate::StreamKey;

const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STATUS: u32 = 5;
/// The message stream id `createStream` hands out.
pub const SERVER_STREAM_ID: u32 = 1;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Outgoing chunk size announced after `connect`.
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to the client.
    pub ack_window: u32,
    /// Set Peer Bandwidth announced to the client.
    pub peer_bandwidth: u32,
    /// The one publishing name accepted; `None` accepts any.
    pub expected_key: Option<StreamKey>,
    /// Deadline from the first byte to `publish`.
    pub setup_timeout: Duration,
    /// S1 time field.
    pub epoch_ms: u32,
    /// Seed of the S1 random bytes.
    pub random_seed: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            chunk_size: 4096,
            ack_window: 2_500_000,
            peer_bandwidth: 2_500_000,
            expected_key: None,
            setup_timeout: Duration::from_secs(10),
            epoch_ms: 0,
            random_seed: 0x5E4E_5E4E,
        }
    }
}

/// Which kind of media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// Message type 8: an FLV audio tag body.
    Audio,
    /// Message type 9: an FLV video tag body.
    Video,
}

/// Something the ingest should know.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// `connect` answered.
    Connected {
        /// `app` of the connect object.
        app: String,
        /// `tcUrl` of the connect object.
        tc_url: String,
        /// Enhanced RTMP `capsEx` the client announced (0: none).
        caps_ex: u32,
    },
    /// `publish` accepted: media follows.
    Publishing {
        /// `live`, `record` or `append`, as the client asked.
        kind: String,
    },
    /// A data message (`@setDataFrame` / `onMetaData`): the raw AMF0 body.
    Data {
        /// Timestamp, ms.
        timestamp: u32,
        /// Body.
        body: Bytes,
    },
    /// An audio or video message: an FLV tag body.
    Media {
        /// Which.
        kind: MediaType,
        /// Timestamp, ms (32-bit, wraps).
        timestamp: u32,
        /// Body.
        body: Bytes,
    },
    /// `FCUnpublish`, `deleteStream` or `closeStream`: the publisher is done.
    Unpublished,
}

/// What the server wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOutput {
    /// Bytes to write, in order.
    Transmit(Bytes),
    /// Something happened.
    Event(ServerEvent),
    /// Call `handle_timeout` at this instant unless input arrives first.
    Timeout(Instant),
}

/// Why the server ended the session. Messages never carry the stream key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
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
    /// A command could not be decoded or lacked an argument.
    #[error("malformed command from the client: {0}")]
    BadCommand(String),
    /// A command arrived in a state that does not allow it.
    #[error("'{command}' is not allowed while the session is {state}")]
    OutOfOrder {
        /// The command or message.
        command: String,
        /// The state.
        state: &'static str,
    },
    /// The publishing name was not the expected one (the key is not printed).
    #[error("publish refused: unknown stream key")]
    WrongKey,
    /// The client did not get to `publish` in time.
    #[error("the client did not publish within {0:?}")]
    Timeout(Duration),
    /// A call made after the session failed.
    #[error("the session has failed")]
    Failed,
}

#[derive(Debug)]
enum State {
    Handshake(ServerHandshake),
    AwaitConnect,
    Connected,
    Live,
    Unpublished,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Handshake(_) => "in the handshake",
            State::AwaitConnect => "waiting for connect",
            State::Connected => "connected",
            State::Live => "publishing",
            State::Unpublished => "unpublished",
            State::Failed => "failed",
        }
    }
}

/// The sans-IO RTMP ingest for one publisher.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: State,
    reader: ChunkReader,
    writer: ChunkWriter,
    out: OutBuf,
    events: VecDeque<ServerEvent>,
    deadline: crate::Deadline,
    bytes_received: u64,
    last_ack: u64,
    client_window: u32,
}

impl ServerSession {
    /// Waits for C0+C1; the client has `setup_timeout` from now to publish.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let hs = ServerHandshake::new(config.epoch_ms, config.random_seed);
        let deadline = crate::Deadline::new(now + config.setup_timeout);
        Self {
            config,
            state: State::Handshake(hs),
            reader: ChunkReader::for_media(),
            writer: ChunkWriter::new(),
            out: OutBuf::default(),
            events: VecDeque::new(),
            deadline,
            bytes_received: 0,
            last_ack: 0,
            client_window: 0,
        }
    }

    /// Whether the client is publishing.
    pub fn is_live(&self) -> bool {
        matches!(self.state, State::Live)
    }

    /// Bytes received after the handshake.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// The setup deadline while the client has not published yet: the
    /// whole setup (handshake, connect, createStream, publish) must fit in
    /// [`ServerConfig::setup_timeout`] from [`ServerSession::new`].
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// Enhanced RTMP: asks the client to reconnect (to `tc_url`, absolute or
    /// relative to its current one; `None`: the same address), with an
    /// `onStatus` `NetConnection.Connect.ReconnectRequest` on the
    /// connection. The session keeps receiving until the client leaves.
    pub fn request_reconnect(
        &mut self,
        tc_url: Option<&str>,
        description: &str,
    ) -> Result<(), ServerError> {
        if !matches!(self.state, State::Connected | State::Live) {
            return Err(ServerError::OutOfOrder {
                command: "ReconnectRequest".into(),
                state: self.state.name(),
            });
        }
        let mut info = vec![
            ("level".into(), Value::from("status")),
            ("code".into(), Value::from(crate::RECONNECT_REQUEST)),
            ("description".into(), Value::from(description)),
        ];
        if let Some(url) = tc_url {
            info.push(("tcUrl".into(), Value::from(url)));
        }
        let cmd = Command::new("onStatus", 0.0, Value::Null, vec![Value::Object(info)]);
        self.send(CSID_STATUS, 0, msg::COMMAND_AMF0, cmd.encode());
        Ok(())
    }

    /// Takes the next thing to do.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        if let Some(b) = self.out.pop() {
            return Some(ServerOutput::Transmit(b));
        }
        if let Some(e) = self.events.pop_front() {
            return Some(ServerOutput::Event(e));
        }
        self.deadline.poll().map(ServerOutput::Timeout)
    }

    /// Time passed: fails the session if the client is late to publish.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ServerError> {
        match self.deadline.get() {
            Some(d) if now >= d => {
                self.fail();
                Err(ServerError::Timeout(self.config.setup_timeout))
            }
            _ => Ok(()),
        }
    }

    fn fail(&mut self) {
        self.state = State::Failed;
        self.deadline.set(None);
    }

    /// Bytes from the client.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<(), ServerError> {
        if matches!(self.state, State::Failed) {
            return Err(ServerError::Failed);
        }
        let result = self.handle_input_inner(now, input);
        if result.is_err() {
            self.fail();
        }
        result
    }

    fn handle_input_inner(&mut self, _now: Instant, input: &[u8]) -> Result<(), ServerError> {
        let mut input = input;
        let rest;
        if let State::Handshake(hs) = &mut self.state {
            match hs.handle_input(input)? {
                ServerHandshakeProgress::NeedMore { reply } => {
                    if let Some(r) = reply {
                        self.out.put_bytes(r);
                    }
                    return Ok(());
                }
                ServerHandshakeProgress::Done { reply, rest: r } => {
                    if let Some(r) = reply {
                        self.out.put_bytes(r);
                    }
                    rest = r;
                    input = &rest;
                    self.state = State::AwaitConnect;
                }
            }
        }
        self.bytes_received += input.len() as u64;
        self.reader.push(input);
        while let Some(m) = self.reader.next_message()? {
            self.handle_message(m)?;
        }
        if self.client_window > 0
            && self.bytes_received - self.last_ack >= u64::from(self.client_window)
        {
            self.last_ack = self.bytes_received;
            // The sequence number wraps at 2^32, as the spec says.
            self.send_control(
                msg::ACKNOWLEDGEMENT,
                msg::u32_body(self.bytes_received as u32),
            );
        }
        Ok(())
    }

    fn send_control(&mut self, type_id: u8, body: Bytes) {
        self.send(CSID_CONTROL, 0, type_id, body);
    }

    fn send(&mut self, csid: u32, stream_id: u32, type_id: u8, body: Bytes) {
        self.writer.write(
            MessageHeader {
                csid,
                timestamp: 0,
                type_id,
                stream_id,
            },
            body,
            &mut self.out,
        );
    }

    fn handle_message(&mut self, m: Message) -> Result<(), ServerError> {
        let p = &m.payload;
        match m.header.type_id {
            msg::SET_CHUNK_SIZE => {
                let size = be_u32(p, "Set Chunk Size")?;
                self.reader.set_chunk_size(size)?;
            }
            msg::WINDOW_ACK_SIZE => {
                self.client_window = be_u32(p, "Window Acknowledgement Size")?;
            }
            msg::ACKNOWLEDGEMENT => {
                be_u32(p, "Acknowledgement")?;
            }
            msg::COMMAND_AMF0 => {
                let cmd = Command::decode(p).map_err(|e| ServerError::BadCommand(e.to_string()))?;
                self.handle_command(m.header.stream_id, cmd)?;
            }
            msg::COMMAND_AMF3 => match p.split_first() {
                Some((0, rest)) => {
                    let cmd = Command::decode(rest)
                        .map_err(|e| ServerError::BadCommand(e.to_string()))?;
                    self.handle_command(m.header.stream_id, cmd)?;
                }
                _ => return Err(ServerError::BadCommand("AMF3-encoded command".into())),
            },
            msg::DATA_AMF0 | msg::DATA_AMF3 | msg::AUDIO | msg::VIDEO => {
                if !matches!(self.state, State::Live) {
                    return Err(ServerError::OutOfOrder {
                        command: format!("message type {}", m.header.type_id),
                        state: self.state.name(),
                    });
                }
                let event = match m.header.type_id {
                    msg::AUDIO => ServerEvent::Media {
                        kind: MediaType::Audio,
                        timestamp: m.header.timestamp,
                        body: m.payload,
                    },
                    msg::VIDEO => ServerEvent::Media {
                        kind: MediaType::Video,
                        timestamp: m.header.timestamp,
                        body: m.payload,
                    },
                    msg::DATA_AMF3 => ServerEvent::Data {
                        timestamp: m.header.timestamp,
                        // "AMF0 in AMF3": one leading zero byte.
                        body: m.payload.slice(usize::from(!m.payload.is_empty())..),
                    },
                    _ => ServerEvent::Data {
                        timestamp: m.header.timestamp,
                        body: m.payload,
                    },
                };
                self.events.push_back(event);
            }
            // Abort, User Control (pongs), Set Peer Bandwidth and aggregates:
            // nothing a publisher's ingest must act on.
            _ => {}
        }
        Ok(())
    }

    fn reply(&mut self, stream_id: u32, name: &str, tx: f64, object: Value, args: Vec<Value>) {
        let cmd = Command::new(name, tx, object, args);
        self.send(CSID_COMMAND, stream_id, msg::COMMAND_AMF0, cmd.encode());
    }

    fn out_of_order(&self, cmd: &Command) -> ServerError {
        ServerError::OutOfOrder {
            command: cmd.name.clone(),
            state: self.state.name(),
        }
    }

    fn handle_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), ServerError> {
        match cmd.name.as_str() {
            "connect" => {
                if !matches!(self.state, State::AwaitConnect) {
                    return Err(self.out_of_order(&cmd));
                }
                let field = |k: &str| match &cmd.object {
                    Value::Object(props) => props
                        .iter()
                        .find(|(n, _)| n == k)
                        .and_then(|(_, v)| v.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    _ => String::new(),
                };
                let (app, tc_url) = (field("app"), field("tcUrl"));
                let caps_ex = cmd
                    .object
                    .get("capsEx")
                    .and_then(Value::as_f64)
                    .filter(|n| n.is_finite() && (0.0..=255.0).contains(n))
                    .map_or(0, |n| n as u32);
                self.send_control(msg::WINDOW_ACK_SIZE, msg::u32_body(self.config.ack_window));
                self.send_control(
                    msg::SET_PEER_BANDWIDTH,
                    msg::peer_bandwidth_body(self.config.peer_bandwidth, 2),
                );
                let size = self.config.chunk_size.clamp(128, 1 << 24);
                self.send_control(msg::SET_CHUNK_SIZE, msg::u32_body(size));
                // Valid by the clamp.
                let _ = self.writer.set_chunk_size(size);
                self.reply(
                    0,
                    "_result",
                    cmd.transaction,
                    Value::Object(vec![
                        ("fmsVer".into(), Value::from("FMS/3,0,1,123")),
                        ("capabilities".into(), Value::Number(31.0)),
                    ]),
                    vec![status(
                        "status",
                        "NetConnection.Connect.Success",
                        "Connection succeeded.",
                    )],
                );
                self.state = State::Connected;
                self.events.push_back(ServerEvent::Connected {
                    app,
                    tc_url,
                    caps_ex,
                });
            }
            "releaseStream" | "FCPublish" | "getStreamLength" => {
                self.reply(
                    0,
                    "_result",
                    cmd.transaction,
                    Value::Null,
                    vec![Value::Undefined],
                );
            }
            "createStream" => {
                if !matches!(self.state, State::Connected) {
                    return Err(self.out_of_order(&cmd));
                }
                self.reply(
                    0,
                    "_result",
                    cmd.transaction,
                    Value::Null,
                    vec![Value::Number(f64::from(SERVER_STREAM_ID))],
                );
            }
            "publish" => {
                if !matches!(self.state, State::Connected) {
                    return Err(self.out_of_order(&cmd));
                }
                let name = cmd
                    .args
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| ServerError::BadCommand("publish without a name".into()))?;
                let kind = cmd
                    .args
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or("live")
                    .to_owned();
                if let Some(expected) = &self.config.expected_key {
                    // Compare without short-circuiting on the first byte.
                    let (a, b) = (expected.expose().as_bytes(), name.as_bytes());
                    let same = a.len() == b.len()
                        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
                    if !same {
                        self.on_status(
                            stream_id,
                            status("error", "NetStream.Publish.BadName", "Unknown stream key."),
                        );
                        return Err(ServerError::WrongKey);
                    }
                }
                let begin = msg::user_control_body(msg::UC_STREAM_BEGIN, &stream_id.to_be_bytes());
                self.send_control(msg::USER_CONTROL, begin);
                self.on_status(
                    stream_id,
                    status("status", "NetStream.Publish.Start", "Publishing."),
                );
                self.state = State::Live;
                self.deadline.set(None);
                self.events.push_back(ServerEvent::Publishing { kind });
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if matches!(self.state, State::Live) {
                    self.state = State::Unpublished;
                    self.events.push_back(ServerEvent::Unpublished);
                }
            }
            // _checkbw, onBWDone answers, getStreamLength and the like.
            _ => {}
        }
        Ok(())
    }

    fn on_status(&mut self, stream_id: u32, info: Value) {
        let cmd = Command::new("onStatus", 0.0, Value::Null, vec![info]);
        self.send(CSID_STATUS, stream_id, msg::COMMAND_AMF0, cmd.encode());
    }
}

fn status(level: &str, code: &str, description: &str) -> Value {
    Value::Object(vec![
        ("level".into(), Value::from(level)),
        ("code".into(), Value::from(code)),
        ("description".into(), Value::from(description)),
    ])
}

fn be_u32(p: &[u8], what: &'static str) -> Result<u32, ServerError> {
    msg::control_u32(p).ok_or(ServerError::BadControlMessage { what, len: p.len() })
}
