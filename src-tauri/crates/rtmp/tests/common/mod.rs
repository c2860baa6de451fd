//! The scripted in-memory server peer shared by the session tests.
#![allow(dead_code)]

use std::time::Instant;

use bytes::Bytes;
use onair_rtmp::amf0::Value;
use onair_rtmp::chunk::{ChunkReader, ChunkWriter, Message, MessageHeader, OutBuf};
use onair_rtmp::message::{self as msg, Command};
use onair_rtmp::{ClientConfig, ClientSession, Error, SessionEvent, SessionOutput, StreamKey};

pub const KEY: &str = "live_4242_SeCrEtKeY";

/// A scripted RTMP server: parses what the client sends and answers what the
/// test tells it to.
pub struct Server {
    pub reader: ChunkReader,
    pub writer: ChunkWriter,
    pub out: OutBuf,
    pub handshake: Vec<u8>,
    pub handshaken: bool,
    pub s_sent: bool,
    pub received: Vec<Message>,
}

impl Server {
    pub fn new() -> Self {
        Self {
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
            out: OutBuf::default(),
            handshake: Vec::new(),
            handshaken: false,
            s_sent: false,
            received: Vec::new(),
        }
    }

    /// Feeds client bytes; returns bytes to send back.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        let mut reply = Vec::new();
        if !self.handshaken {
            let want = 1537 + 1536 - self.handshake.len();
            let n = want.min(bytes.len());
            self.handshake.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.handshake.len() >= 1537 && !self.s_sent {
                self.s_sent = true;
                // S0 S1 S2 once C0 C1 are in.
                reply.push(3u8);
                reply.extend(std::iter::repeat_n(0x5Au8, 1536));
                reply.extend_from_slice(&self.handshake[1..1537]);
            }
            if self.handshake.len() == 1537 + 1536 {
                assert_eq!(&self.handshake[1537..], &[0x5Au8; 1536][..], "C2 echoes S1");
                self.handshaken = true;
            }
        }
        self.reader.push(bytes);
        while let Some(m) = self.reader.next_message().unwrap() {
            if m.header.type_id == msg::SET_CHUNK_SIZE {
                let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                self.reader.set_chunk_size(size).unwrap();
            }
            self.received.push(m);
        }
        reply
    }

    pub fn commands(&self) -> Vec<Command> {
        self.received
            .iter()
            .filter(|m| m.header.type_id == msg::COMMAND_AMF0)
            .map(|m| Command::decode(&m.payload).unwrap())
            .collect()
    }

    pub fn send(&mut self, type_id: u8, stream_id: u32, body: Bytes) {
        let csid = if type_id == msg::COMMAND_AMF0 { 3 } else { 2 };
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

    pub fn command(&mut self, name: &str, tx: f64, args: Vec<Value>) {
        self.send(
            msg::COMMAND_AMF0,
            0,
            Command::new(name, tx, Value::Null, args).encode(),
        );
    }

    pub fn status(&mut self, level: &str, code: &str, description: &str) {
        let info = Value::Object(vec![
            ("level".into(), Value::from(level)),
            ("code".into(), Value::from(code)),
            ("description".into(), Value::from(description)),
        ]);
        self.send(
            msg::COMMAND_AMF0,
            1,
            Command::new("onStatus", 0.0, Value::Null, vec![info]).encode(),
        );
    }

    pub fn take(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(b) = self.out.pop() {
            v.extend_from_slice(&b);
        }
        v
    }
}

pub struct Pair {
    pub client: ClientSession,
    pub server: Server,
    pub events: Vec<SessionEvent>,
    pub now: Instant,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_key(KEY)
    }

    /// A pair whose client publishes with `key`.
    pub fn with_key(key: &str) -> Self {
        let config = ClientConfig::new("rtmp://127.0.0.1:1935/live", "live", StreamKey::new(key));
        Self::with_config(config)
    }

    /// A pair whose client has `config`.
    pub fn with_config(config: ClientConfig) -> Self {
        let now = Instant::now();
        Self {
            client: ClientSession::new(config, now),
            server: Server::new(),
            events: Vec::new(),
            now,
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    pub fn pump(&mut self) -> Result<(), Error> {
        loop {
            let mut to_server = Vec::new();
            while let Some(o) = self.client.poll_output() {
                match o {
                    SessionOutput::Transmit(b) => to_server.extend_from_slice(&b),
                    SessionOutput::Event(e) => self.events.push(e),
                    SessionOutput::Timeout(_) => {}
                }
            }
            let mut to_client = self.server.feed(&to_server);
            to_client.extend(self.server.take());
            if to_client.is_empty() && to_server.is_empty() {
                return Ok(());
            }
            if !to_client.is_empty() {
                self.client.handle_input(self.now, &to_client)?;
            }
        }
    }

    /// Answers `connect` and `createStream`: the client has sent `publish`
    /// and waits for its status.
    pub fn until_publish(&mut self) {
        self.pump().unwrap();
        self.server.command("_result", 1.0, vec![]);
        self.pump().unwrap();
        self.server
            .command("_result", 4.0, vec![Value::Number(1.0)]);
        self.pump().unwrap();
    }

    /// Runs the usual server answers up to Publish.Start.
    pub fn go_live(&mut self) {
        self.pump().unwrap();
        self.server.command(
            "_result",
            1.0,
            vec![Value::Object(vec![(
                "code".into(),
                Value::from("NetConnection.Connect.Success"),
            )])],
        );
        self.pump().unwrap();
        self.server
            .command("_result", 4.0, vec![Value::Number(1.0)]);
        self.pump().unwrap();
        self.server
            .status("status", "NetStream.Publish.Start", "Start publishing");
        self.pump().unwrap();
    }
}
