//! The client (publisher) session state machine.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_amf0::Value;

use crate::chunk::{ChunkReader, ChunkWriter, Message, MessageHeader, OutBuf};
use crate::handshake::{ClientHandshake, HandshakeProgress};
use crate::message::{self as msg, Command};
use crate::{Error, Stage};

const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_DATA: u32 = 5;
const CSID_AUDIO: u32 = 6;
const CSID_VIDEO: u32 = 7;

const TX_CONNECT: f64 = 1.0;
const TX_RELEASE: f64 = 2.0;
const TX_FCPUBLISH: f64 = 3.0;
const TX_CREATE_STREAM: f64 = 4.0;
const TX_PUBLISH: f64 = 5.0;

/// Enhanced RTMP `capsEx` bit: the client handles
/// `NetConnection.Connect.ReconnectRequest`.
pub const CAPS_EX_RECONNECT: u8 = 0x01;
/// The Enhanced RTMP status code of a server asking the client to move.
pub const RECONNECT_REQUEST: &str = "NetConnection.Connect.ReconnectRequest";
/// Enhanced RTMP FourCcInfoMask: the client can encode this codec.
const FOURCC_CAN_ENCODE: f64 = 2.0;

/// Most Ping Responses queued from one `handle_input` call: a peer flooding
/// Ping Requests gets bounded work and bounded output.
pub const MAX_PONGS_PER_INPUT: usize = 16;

/// A stream key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(String);

impl StreamKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the protocol only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(***)")
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to connect and publish.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `tcUrl`: `rtmp://host[:port]/app`.
    pub tc_url: String,
    /// Application name (path between host and key).
    pub app: String,
    /// The stream key (publishing name).
    pub stream_key: StreamKey,
    /// `flashVer` sent in `connect`.
    pub flash_ver: String,
    /// Outgoing chunk size announced after the handshake.
    pub chunk_size: u32,
    /// Window Acknowledgement Size asked of the server: it acknowledges every
    /// this many bytes it receives, which is what latency is measured from.
    pub ack_window: u32,
    /// Deadline for the handshake.
    pub handshake_timeout: Duration,
    /// Deadline for each command answer (connect, createStream, publish).
    pub command_timeout: Duration,
    /// C1 time field (ms since some epoch; servers ignore it).
    pub epoch_ms: u32,
    /// Seed of the C1 random bytes.
    pub random_seed: u64,
    /// Enhanced RTMP `capsEx` announced in `connect` (with the codecs the
    /// client encodes: H.264 `avc1` and AAC `mp4a`). Announce
    /// [`CAPS_EX_RECONNECT`] only when the caller acts on
    /// [`SessionEvent::ReconnectRequest`]. 0: no Enhanced RTMP properties.
    pub caps_ex: u8,
}

impl ClientConfig {
    /// A config with the usual defaults.
    pub fn new(tc_url: impl Into<String>, app: impl Into<String>, stream_key: StreamKey) -> Self {
        Self {
            tc_url: tc_url.into(),
            app: app.into(),
            stream_key,
            flash_ver: "FMLE/3.0 (compatible; OnAir)".into(),
            chunk_size: 4096,
            ack_window: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            epoch_ms: 0,
            random_seed: 0x5EED,
            caps_ex: 0,
        }
    }
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Handshake done.
    HandshakeDone,
    /// `connect` accepted.
    Connected,
    /// `NetStream.Publish.Start`: send metadata and media now.
    Publishing {
        /// The message stream id the server gave.
        stream_id: u32,
    },
    /// The server acknowledged this many bytes (post-handshake, unwrapped).
    Acknowledged {
        /// Total bytes the server says it received.
        bytes: u64,
    },
    /// An `onStatus` the session does not act on (logged by the caller).
    Status {
        /// `info.level`.
        level: String,
        /// `info.code`.
        code: String,
        /// `info.description` (raw: redact before showing).
        description: String,
    },
    /// Enhanced RTMP: the server asks the client to reconnect, to `tc_url`
    /// (absolute or relative to the current tcUrl) or, when `None`, to the
    /// same address. The session goes on publishing until the caller
    /// switches.
    ReconnectRequest {
        /// `info.tcUrl`, as sent.
        tc_url: Option<String>,
        /// `info.description` (raw: redact before showing).
        description: String,
    },
    /// Stream unpublished and deleted: the caller may close the socket.
    Closed,
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    /// Bytes to write to the socket, in order.
    Transmit(Bytes),
    /// Something happened.
    Event(SessionEvent),
    /// Call `handle_timeout` at this instant (unless input arrives first).
    Timeout(Instant),
}

#[derive(Debug)]
enum State {
    Handshake(ClientHandshake),
    Connecting,
    CreatingStream,
    Publishing { stream_id: u32 },
    Live { stream_id: u32 },
    Closed,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Handshake(_) => "handshake",
            State::Connecting => "connecting",
            State::CreatingStream => "creating stream",
            State::Publishing { .. } => "publishing",
            State::Live { .. } => "live",
            State::Closed => "closed",
            State::Failed => "failed",
        }
    }
}

/// The sans-IO RTMP publisher.
///
/// Feed it bytes and time; take bytes, events and timeouts out. See the crate
/// docs for the run loop.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    writer: ChunkWriter,
    reader: ChunkReader,
    out: OutBuf,
    events: VecDeque<SessionEvent>,
    deadline: crate::Deadline,
    /// Bytes produced after the handshake (what the server's acks count).
    bytes_sent: u64,
    /// Bytes received after the handshake.
    bytes_received: u64,
    last_ack_sent: u64,
    peer_ack_window: u32,
    /// Last Acknowledgement sequence number and the 64-bit count it was
    /// relative to (see [`AckCounter`]).
    acks: AckCounter,
}

impl ClientSession {
    /// Starts a session: queues C0+C1.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let (hs, c0c1) = ClientHandshake::start(config.epoch_ms, config.random_seed);
        let mut out = OutBuf::default();
        out.put_bytes(c0c1);
        let deadline = crate::Deadline::new(now + config.handshake_timeout);
        Self {
            config,
            state: State::Handshake(hs),
            writer: ChunkWriter::new(),
            reader: ChunkReader::new(),
            out,
            events: VecDeque::new(),
            deadline,
            bytes_sent: 0,
            bytes_received: 0,
            last_ack_sent: 0,
            peer_ack_window: 0,
            acks: AckCounter::default(),
        }
    }

    /// Name of the current state, for logs.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// Whether media may be published now.
    pub fn is_live(&self) -> bool {
        matches!(self.state, State::Live { .. })
    }

    /// Bytes produced after the handshake, including those not yet taken by
    /// `poll_output`: the offset at which the next message will start.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes queued and not yet taken by `poll_output`.
    pub fn pending_bytes(&self) -> usize {
        self.out.len()
    }

    /// Takes the next thing to do.
    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        if let Some(b) = self.out.pop() {
            return Some(SessionOutput::Transmit(b));
        }
        if let Some(e) = self.events.pop_front() {
            return Some(SessionOutput::Event(e));
        }
        self.deadline.poll().map(SessionOutput::Timeout)
    }

    /// The next deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// Time passed: fails the session if the current step is overdue.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        match self.deadline.get() {
            Some(d) if now >= d => {
                let stage = self.stage();
                self.state = State::Failed;
                self.deadline.set(None);
                Err(Error::Timeout { stage })
            }
            _ => Ok(()),
        }
    }

    fn stage(&self) -> Stage {
        match self.state {
            State::Handshake(_) => Stage::Handshake,
            State::Connecting => Stage::Connect,
            State::CreatingStream => Stage::CreateStream,
            _ => Stage::Publish,
        }
    }

    /// The server closed the connection (read returned 0). Returns the error
    /// that describes it: right after `publish`, that is a rejected key.
    pub fn handle_eof(&mut self) -> Error {
        let err = match &self.state {
            State::Handshake(h) => Error::Handshake(crate::HandshakeError::Truncated {
                received: h.received(),
                expected: 1 + 2 * crate::handshake::HANDSHAKE_SIZE,
            }),
            State::Publishing { .. } => Error::KeyRejected {
                code: "connection closed after publish".into(),
                description: String::new(),
            },
            State::Closed => Error::Closed,
            _ => Error::PeerClosed {
                stage: self.stage(),
            },
        };
        self.state = State::Failed;
        self.deadline.set(None);
        err
    }

    /// Bytes from the server.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<(), Error> {
        if matches!(self.state, State::Failed) {
            return Err(Error::InvalidState {
                op: "handle_input",
                state: "failed",
            });
        }
        let result = self.handle_input_inner(now, input);
        if result.is_err() {
            self.state = State::Failed;
            self.deadline.set(None);
        }
        result
    }

    fn handle_input_inner(&mut self, now: Instant, input: &[u8]) -> Result<(), Error> {
        let mut input = input;
        let rest;
        if let State::Handshake(hs) = &mut self.state {
            match hs.handle_input(input)? {
                HandshakeProgress::NeedMore => return Ok(()),
                HandshakeProgress::Done { c2, rest: r } => {
                    self.out.put_bytes(c2);
                    rest = r;
                    input = &rest;
                    self.events.push_back(SessionEvent::HandshakeDone);
                    self.after_handshake(now);
                }
            }
        }
        self.bytes_received += input.len() as u64;
        self.reader.push(input);
        let mut pongs = 0;
        while let Some(m) = self.reader.next_message()? {
            self.handle_message(now, m, &mut pongs)?;
        }
        // At most one Acknowledgement per input: a tiny window cannot make
        // the session storm the server.
        if self.peer_ack_window > 0
            && self.bytes_received - self.last_ack_sent >= u64::from(self.peer_ack_window)
        {
            self.last_ack_sent = self.bytes_received;
            self.send_control(
                msg::ACKNOWLEDGEMENT,
                msg::u32_body(self.bytes_received as u32),
            );
        }
        Ok(())
    }

    fn after_handshake(&mut self, now: Instant) {
        let chunk_size = self
            .config
            .chunk_size
            .clamp(128, crate::chunk::MAX_CHUNK_SIZE);
        self.send_control(msg::SET_CHUNK_SIZE, msg::u32_body(chunk_size));
        // Valid by the clamp above.
        let _ = self.writer.set_chunk_size(chunk_size);
        self.send_control(msg::WINDOW_ACK_SIZE, msg::u32_body(self.config.ack_window));
        let connect = Command::new(
            "connect",
            TX_CONNECT,
            Value::Object(
                [
                    ("app".into(), Value::String(self.config.app.clone())),
                    ("type".into(), Value::from("nonprivate")),
                    (
                        "flashVer".into(),
                        Value::String(self.config.flash_ver.clone()),
                    ),
                    ("swfUrl".into(), Value::String(self.config.tc_url.clone())),
                    ("tcUrl".into(), Value::String(self.config.tc_url.clone())),
                ]
                .into_iter()
                .chain(self.enhanced_properties())
                .collect(),
            ),
            vec![],
        );
        self.send_command(0, connect);
        self.state = State::Connecting;
        self.deadline.set(Some(now + self.config.command_timeout));
    }

    /// Enhanced RTMP v2 `connect` properties: what the client encodes, and
    /// `capsEx`. Truthful: H.264 (`avc1`) and AAC (`mp4a`), encode only.
    fn enhanced_properties(&self) -> Vec<(String, Value)> {
        if self.config.caps_ex == 0 {
            return Vec::new();
        }
        vec![
            (
                "fourCcList".into(),
                Value::StrictArray(vec![Value::from("avc1"), Value::from("mp4a")]),
            ),
            (
                "videoFourCcInfoMap".into(),
                Value::Object(vec![("avc1".into(), Value::Number(FOURCC_CAN_ENCODE))]),
            ),
            (
                "audioFourCcInfoMap".into(),
                Value::Object(vec![("mp4a".into(), Value::Number(FOURCC_CAN_ENCODE))]),
            ),
            (
                "capsEx".into(),
                Value::Number(f64::from(self.config.caps_ex)),
            ),
        ]
    }

    fn send_control(&mut self, type_id: u8, body: Bytes) {
        self.send(CSID_CONTROL, 0, type_id, 0, body);
    }

    fn send_command(&mut self, stream_id: u32, cmd: Command) {
        self.send(CSID_COMMAND, 0, msg::COMMAND_AMF0, stream_id, cmd.encode());
    }

    fn send(&mut self, csid: u32, timestamp: u32, type_id: u8, stream_id: u32, body: Bytes) {
        let before = self.out.len();
        self.writer.write(
            MessageHeader {
                csid,
                timestamp,
                type_id,
                stream_id,
            },
            body,
            &mut self.out,
        );
        self.bytes_sent += (self.out.len() - before) as u64;
    }

    fn handle_message(&mut self, now: Instant, m: Message, pongs: &mut usize) -> Result<(), Error> {
        let p = &m.payload;
        match m.header.type_id {
            msg::SET_CHUNK_SIZE => {
                let size = be_u32(p, "Set Chunk Size")?;
                self.reader.set_chunk_size(size)?;
            }
            msg::ABORT => {}
            msg::ACKNOWLEDGEMENT => {
                let seq = be_u32(p, "Acknowledgement")?;
                let bytes = self.acks.update(seq).min(self.bytes_sent);
                self.events.push_back(SessionEvent::Acknowledged { bytes });
            }
            msg::WINDOW_ACK_SIZE => {
                self.peer_ack_window = be_u32(p, "Window Acknowledgement Size")?;
            }
            msg::SET_PEER_BANDWIDTH if p.len() != 5 => {
                return Err(Error::BadControlMessage {
                    what: "Set Peer Bandwidth",
                    len: p.len(),
                });
            }
            msg::USER_CONTROL => {
                if p.len() < 2 {
                    return Err(Error::BadControlMessage {
                        what: "User Control",
                        len: p.len(),
                    });
                }
                let event = u16::from_be_bytes([p[0], p[1]]);
                if event == msg::UC_PING_REQUEST {
                    if p.len() < 6 {
                        return Err(Error::BadControlMessage {
                            what: "Ping Request",
                            len: p.len(),
                        });
                    }
                    if *pongs < MAX_PONGS_PER_INPUT {
                        *pongs += 1;
                        let body = msg::user_control_body(msg::UC_PING_RESPONSE, &p[2..6]);
                        self.send_control(msg::USER_CONTROL, body);
                    }
                }
            }
            msg::COMMAND_AMF0 => {
                let cmd = Command::decode(p).map_err(|e| Error::BadCommand(e.to_string()))?;
                self.handle_command(now, cmd)?;
            }
            msg::COMMAND_AMF3 => {
                // AMF3 command: a leading 0 byte then AMF0 (the "AMF0 in AMF3" form).
                if p.first() == Some(&0) {
                    let cmd =
                        Command::decode(&p[1..]).map_err(|e| Error::BadCommand(e.to_string()))?;
                    self.handle_command(now, cmd)?;
                } else {
                    return Err(Error::BadCommand("AMF3-encoded command".into()));
                }
            }
            // Data messages, media and aggregates mean nothing to a publisher.
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), Error> {
        // Protocol values are matched raw; only what is shown gets redacted,
        // by whoever shows it (see `Error`).
        let key = &self.config.stream_key;
        let code = cmd.code().unwrap_or_default().to_owned();
        let description = cmd.description().unwrap_or_default().to_owned();
        match (cmd.name.as_str(), &self.state) {
            ("_result", State::Connecting) if cmd.transaction == TX_CONNECT => {
                self.events.push_back(SessionEvent::Connected);
                let name = Value::String(key.expose().to_owned());
                self.send_command(
                    0,
                    Command::new("releaseStream", TX_RELEASE, Value::Null, vec![name.clone()]),
                );
                self.send_command(
                    0,
                    Command::new("FCPublish", TX_FCPUBLISH, Value::Null, vec![name]),
                );
                self.send_command(
                    0,
                    Command::new("createStream", TX_CREATE_STREAM, Value::Null, vec![]),
                );
                self.state = State::CreatingStream;
                self.deadline.set(Some(now + self.config.command_timeout));
            }
            ("_error", State::Connecting) if cmd.transaction == TX_CONNECT => {
                return Err(Error::ConnectRejected { code, description });
            }
            ("_result", State::CreatingStream) if cmd.transaction == TX_CREATE_STREAM => {
                let id = cmd
                    .args
                    .first()
                    .and_then(Value::as_f64)
                    .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
                    .ok_or_else(|| {
                        Error::BadCommand("createStream result has no stream id".into())
                    })?;
                let stream_id = id as u32;
                let publish = Command::new(
                    "publish",
                    TX_PUBLISH,
                    Value::Null,
                    vec![Value::String(key.expose().to_owned()), Value::from("live")],
                );
                self.send_command(stream_id, publish);
                self.state = State::Publishing { stream_id };
                self.deadline.set(Some(now + self.config.command_timeout));
            }
            ("_error", State::CreatingStream) if cmd.transaction == TX_CREATE_STREAM => {
                return Err(Error::Rejected {
                    stage: Stage::CreateStream,
                    code,
                    description,
                });
            }
            ("_error", State::Publishing { .. }) if cmd.transaction == TX_PUBLISH => {
                return Err(Error::KeyRejected { code, description });
            }
            ("onStatus", _) => {
                let level = cmd.level().unwrap_or_default().to_owned();
                match (code.as_str(), &self.state) {
                    ("NetStream.Publish.Start", State::Publishing { stream_id }) => {
                        let stream_id = *stream_id;
                        self.state = State::Live { stream_id };
                        self.deadline.set(None);
                        self.events
                            .push_back(SessionEvent::Publishing { stream_id });
                    }
                    (RECONNECT_REQUEST, _) => {
                        let tc_url = cmd.info_string("tcUrl").map(str::to_owned);
                        self.events.push_back(SessionEvent::ReconnectRequest {
                            tc_url,
                            description,
                        });
                    }
                    ("NetStream.Publish.BadName" | "NetStream.Publish.Denied", _) => {
                        return Err(Error::KeyRejected { code, description });
                    }
                    (_, State::Publishing { .. }) if level == "error" => {
                        return Err(Error::KeyRejected { code, description });
                    }
                    (_, State::Live { .. }) if level == "error" => {
                        return Err(Error::Rejected {
                            stage: Stage::Publish,
                            code,
                            description,
                        });
                    }
                    _ => self.events.push_back(SessionEvent::Status {
                        level,
                        code,
                        description,
                    }),
                }
            }
            // releaseStream/FCPublish answers, onBWDone, onFCPublish, stray
            // results: nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn live_stream_id(&self, op: &'static str) -> Result<u32, Error> {
        match self.state {
            State::Live { stream_id } => Ok(stream_id),
            _ => Err(Error::InvalidState {
                op,
                state: self.state.name(),
            }),
        }
    }

    /// Queues the `@setDataFrame`/`onMetaData` script data body.
    pub fn publish_metadata(&mut self, body: Bytes) -> Result<u64, Error> {
        let sid = self.live_stream_id("publish_metadata")?;
        self.send(CSID_DATA, 0, msg::DATA_AMF0, sid, body);
        Ok(self.bytes_sent)
    }

    /// Queues one video tag body at `timestamp` (ms). Returns the byte offset
    /// at which it ends: when an acknowledgement reaches it, the server has it.
    pub fn publish_video(&mut self, timestamp: u32, body: Bytes) -> Result<u64, Error> {
        let sid = self.live_stream_id("publish_video")?;
        self.send(CSID_VIDEO, timestamp, msg::VIDEO, sid, body);
        Ok(self.bytes_sent)
    }

    /// Queues one audio tag body at `timestamp` (ms); returns its end offset.
    pub fn publish_audio(&mut self, timestamp: u32, body: Bytes) -> Result<u64, Error> {
        let sid = self.live_stream_id("publish_audio")?;
        self.send(CSID_AUDIO, timestamp, msg::AUDIO, sid, body);
        Ok(self.bytes_sent)
    }

    /// Ends the session cleanly: `FCUnpublish` and `deleteStream` when live,
    /// then a `Closed` event. Idempotent.
    pub fn close(&mut self) {
        if let State::Live { stream_id } | State::Publishing { stream_id } = self.state {
            let name = Value::String(self.config.stream_key.expose().to_owned());
            self.send_command(0, Command::new("FCUnpublish", 6.0, Value::Null, vec![name]));
            self.send_command(
                0,
                Command::new(
                    "deleteStream",
                    7.0,
                    Value::Null,
                    vec![Value::Number(stream_id.into())],
                ),
            );
        }
        if !matches!(self.state, State::Closed) {
            self.state = State::Closed;
            self.deadline.set(None);
            self.events.push_back(SessionEvent::Closed);
        }
    }
}

fn be_u32(p: &[u8], what: &'static str) -> Result<u32, Error> {
    msg::control_u32(p).ok_or(Error::BadControlMessage { what, len: p.len() })
}

/// Turns the peer's 32-bit Acknowledgement sequence numbers into a 64-bit
/// byte count. The spec lets the counter wrap at 2^32; nginx-rtmp (and its
/// forks) instead reset it to 0 once it passes 0xF0000000. A sequence number
/// that goes backwards is one or the other, told apart by where it was.
#[derive(Debug, Default, Clone, Copy)]
struct AckCounter {
    base: u64,
    last: u32,
}

/// Where nginx-rtmp resets its byte counter.
const NGINX_ACK_RESET: u32 = 0xF000_0000;

impl AckCounter {
    fn update(&mut self, seq: u32) -> u64 {
        if seq < self.last {
            // nginx resets on the read that crosses 0xF0000000, so the last
            // ack before it lies within one ack window below that mark.
            let nginx_reset = (NGINX_ACK_RESET - (1 << 26)..NGINX_ACK_RESET).contains(&self.last);
            self.base += if nginx_reset {
                u64::from(NGINX_ACK_RESET)
            } else {
                1 << 32
            };
        }
        self.last = seq;
        self.base + u64::from(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_counter_follows_the_spec_wrap_at_4_gib() {
        let mut c = AckCounter::default();
        assert_eq!(c.update(100), 100);
        assert_eq!(c.update(0xFFFF_FF00), 0xFFFF_FF00);
        assert_eq!(c.update(10), (1 << 32) + 10);
        assert_eq!(c.update(5000), (1 << 32) + 5000);
    }

    #[test]
    fn ack_counter_follows_the_nginx_reset_at_0xf0000000() {
        let mut c = AckCounter::default();
        assert_eq!(c.update(0xEFFF_0000), 0xEFFF_0000);
        // nginx: in_bytes passed 0xF0000000 and was set to 0.
        assert_eq!(c.update(0x0001_0000), 0xF000_0000 + 0x0001_0000);
        assert_eq!(c.update(0x0002_0000), 0xF000_0000 + 0x0002_0000);
    }

    #[test]
    fn stream_key_never_prints() {
        let k = StreamKey::new("live_123_secret");
        assert_eq!(format!("{k:?} {k}"), "StreamKey(***) ***");
        assert_eq!(k.redact("bad name live_123_secret"), "bad name ***");
    }
}
