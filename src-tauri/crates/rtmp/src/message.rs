//! RTMP message types, protocol control messages and AMF0 commands.

use bytes::Bytes;
use onair_amf0::{self as amf0, Amf0Error, Value};

/// Set Chunk Size.
pub const SET_CHUNK_SIZE: u8 = 1;
/// Abort Message.
pub const ABORT: u8 = 2;
/// Acknowledgement.
pub const ACKNOWLEDGEMENT: u8 = 3;
/// User Control Message.
pub const USER_CONTROL: u8 = 4;
/// Window Acknowledgement Size.
pub const WINDOW_ACK_SIZE: u8 = 5;
/// Set Peer Bandwidth.
pub const SET_PEER_BANDWIDTH: u8 = 6;
/// Audio data.
pub const AUDIO: u8 = 8;
/// Video data.
pub const VIDEO: u8 = 9;
/// AMF3 data message.
pub const DATA_AMF3: u8 = 15;
/// AMF3 command message.
pub const COMMAND_AMF3: u8 = 17;
/// AMF0 data message.
pub const DATA_AMF0: u8 = 18;
/// AMF0 command message.
pub const COMMAND_AMF0: u8 = 20;

/// User control event: Stream Begin.
pub const UC_STREAM_BEGIN: u16 = 0;
/// User control event: Stream EOF.
pub const UC_STREAM_EOF: u16 = 1;
/// User control event: Ping Request.
pub const UC_PING_REQUEST: u16 = 6;
/// User control event: Ping Response.
pub const UC_PING_RESPONSE: u16 = 7;

/// A 4-byte big-endian body (Set Chunk Size, Acknowledgement, Window Ack Size).
pub fn u32_body(v: u32) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

/// Set Peer Bandwidth body: window and limit type (0 hard, 1 soft, 2 dynamic).
pub fn peer_bandwidth_body(window: u32, limit: u8) -> Bytes {
    let mut b = window.to_be_bytes().to_vec();
    b.push(limit);
    Bytes::from(b)
}

/// User control body: event type then event data.
pub fn user_control_body(event: u16, data: &[u8]) -> Bytes {
    let mut b = event.to_be_bytes().to_vec();
    b.extend_from_slice(data);
    Bytes::from(b)
}

/// A parsed AMF0 command: name, transaction id, command object and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name (`_result`, `onStatus`, `connect`...).
    pub name: String,
    /// Transaction id.
    pub transaction: f64,
    /// Command object (often null).
    pub object: Value,
    /// Remaining arguments.
    pub args: Vec<Value>,
}

/// Why a command body could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The AMF0 did not decode.
    #[error("command is not valid AMF0: {0}")]
    Amf0(#[from] Amf0Error),
    /// The first value is not a string (the command name).
    #[error("command name is a {0}, expected a string")]
    NameNotString(&'static str),
    /// The second value is not a number (the transaction id).
    #[error("command '{name}' transaction id is a {got}, expected a number")]
    TransactionNotNumber {
        /// The command.
        name: String,
        /// What was there instead.
        got: &'static str,
    },
    /// An empty body.
    #[error("empty command")]
    Empty,
}

impl Command {
    /// Builds a command.
    pub fn new(name: &str, transaction: f64, object: Value, args: Vec<Value>) -> Self {
        Self {
            name: name.to_owned(),
            transaction,
            object,
            args,
        }
    }

    /// Encodes the command body.
    pub fn encode(&self) -> Bytes {
        let mut out = amf0::encode_all(&[
            Value::String(self.name.clone()),
            Value::Number(self.transaction),
            self.object.clone(),
        ]);
        for a in &self.args {
            amf0::encode(&mut out, a);
        }
        out.freeze()
    }

    /// Parses a command body.
    pub fn decode(body: &[u8]) -> Result<Self, CommandError> {
        let mut values = amf0::decode_all(body)?.into_iter();
        let name = match values.next() {
            Some(Value::String(s)) => s,
            Some(other) => return Err(CommandError::NameNotString(other.type_name())),
            None => return Err(CommandError::Empty),
        };
        // Some servers send onStatus/onBWDone without a transaction id;
        // tolerate a missing one as 0.
        let transaction = match values.next() {
            Some(Value::Number(n)) => n,
            None => 0.0,
            Some(other) => {
                return Err(CommandError::TransactionNotNumber {
                    name,
                    got: other.type_name(),
                })
            }
        };
        let object = values.next().unwrap_or(Value::Null);
        Ok(Self {
            name,
            transaction,
            object,
            args: values.collect(),
        })
    }

    /// The `info` object of `onStatus` / `_error`: the first object argument
    /// (or the command object, where servers put it).
    pub fn info(&self) -> Option<&Value> {
        self.args
            .iter()
            .find(|v| v.as_object().is_some())
            .or_else(|| self.object.as_object().map(|_| &self.object))
    }

    /// `info.code`, if present and a string.
    pub fn code(&self) -> Option<&str> {
        self.info()?.get("code")?.as_str()
    }

    /// `info.level`, if present and a string.
    pub fn level(&self) -> Option<&str> {
        self.info()?.get("level")?.as_str()
    }

    /// `info.description`, if present and a string.
    pub fn description(&self) -> Option<&str> {
        self.info_string("description")
    }

    /// Any string property of `info`.
    pub fn info_string(&self, name: &str) -> Option<&str> {
        self.info()?.get(name)?.as_str()
    }
}

/// The body of a 4-byte control message (Set Chunk Size, Acknowledgement,
/// Window Acknowledgement Size) as a big-endian number; `None` when it is
/// not exactly four bytes.
pub fn control_u32(p: &[u8]) -> Option<u32> {
    match p {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trips() {
        let c = Command::new(
            "onStatus",
            0.0,
            Value::Null,
            vec![Value::Object(vec![
                ("level".into(), Value::from("status")),
                ("code".into(), Value::from("NetStream.Publish.Start")),
            ])],
        );
        let back = Command::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.code(), Some("NetStream.Publish.Start"));
        assert_eq!(back.level(), Some("status"));
    }

    #[test]
    fn command_name_must_be_a_string() {
        let body = amf0::encode_all(&[Value::Number(1.0)]);
        assert_eq!(
            Command::decode(&body),
            Err(CommandError::NameNotString("number"))
        );
    }

    #[test]
    fn transaction_of_the_wrong_type_is_an_error() {
        let body = amf0::encode_all(&[Value::from("_result"), Value::from("1")]);
        assert!(matches!(
            Command::decode(&body),
            Err(CommandError::TransactionNotNumber { got: "string", .. })
        ));
    }
}
