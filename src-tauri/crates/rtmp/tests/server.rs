//! The ingest side (`ServerSession`) against our own client, in memory, and
//! against hostile input.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use onair_rtmp::amf0::Value;
use onair_rtmp::chunk::{ChunkWriter, MessageHeader, OutBuf};
use onair_rtmp::message::{self as msg, Command};
use onair_rtmp::{
    ClientConfig, ClientSession, Error, MediaType, ServerConfig, ServerError, ServerEvent,
    ServerOutput, ServerSession, SessionEvent, SessionOutput, StreamKey,
};

const KEY: &str = "check_9f2e_SeCrEt";

struct Link {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<SessionEvent>,
    server_events: Vec<ServerEvent>,
    client_error: Option<Error>,
    server_error: Option<ServerError>,
}

impl Link {
    fn new(server_config: ServerConfig, key: &str) -> Self {
        let now = Instant::now();
        let config = ClientConfig::new("rtmp://127.0.0.1:1935/check", "check", StreamKey::new(key));
        Self {
            client: ClientSession::new(config, now),
            server: ServerSession::new(server_config, now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_error: None,
            server_error: None,
        }
    }

    /// Moves bytes both ways, one byte at a time when `trickle`, until quiet.
    fn pump(&mut self, trickle: bool) {
        let now = Instant::now();
        loop {
            let mut moved = false;
            while let Some(o) = self.client.poll_output() {
                match o {
                    SessionOutput::Transmit(b) => {
                        moved = true;
                        let pieces: Vec<&[u8]> = if trickle {
                            b.chunks(1).collect()
                        } else {
                            vec![&b[..]]
                        };
                        for p in pieces {
                            if self.server_error.is_none() {
                                if let Err(e) = self.server.handle_input(now, p) {
                                    self.server_error = Some(e);
                                }
                            }
                        }
                    }
                    SessionOutput::Event(e) => self.client_events.push(e),
                    SessionOutput::Timeout(_) => {}
                }
            }
            while let Some(o) = self.server.poll_output() {
                match o {
                    ServerOutput::Transmit(b) => {
                        moved = true;
                        if self.client_error.is_none() {
                            if let Err(e) = self.client.handle_input(now, &b) {
                                self.client_error = Some(e);
                            }
                        }
                    }
                    ServerOutput::Event(e) => self.server_events.push(e),
                    ServerOutput::Timeout(_) => {}
                }
            }
            if !moved {
                return;
            }
        }
    }
}

#[test]
fn our_client_publishes_to_our_server_and_media_arrives_in_order() {
    let mut l = Link::new(ServerConfig::default(), KEY);
    l.pump(false);
    assert!(l.client.is_live(), "client state {}", l.client.state_name());
    assert!(l.server.is_live());
    assert_eq!(
        l.server_events[..2],
        [
            ServerEvent::Connected {
                app: "check".into(),
                tc_url: "rtmp://127.0.0.1:1935/check".into(),
                caps_ex: 0,
            },
            ServerEvent::Publishing {
                kind: "live".into()
            }
        ]
    );
    l.client
        .publish_metadata(Bytes::from_static(b"\x02\x00\x0d@setDataFrame"))
        .unwrap();
    // A 200 KB keyframe crosses many chunks; timestamps past 2^24 use the
    // extended field.
    let big = Bytes::from((0..200_000).map(|i| i as u8).collect::<Vec<_>>());
    l.client.publish_video(0x0100_0000, big.clone()).unwrap();
    l.client
        .publish_audio(0x0100_0005, Bytes::from_static(b"\xaf\x01aac"))
        .unwrap();
    l.client
        .publish_video(0x0100_0021, Bytes::from_static(b"\x27\x01p"))
        .unwrap();
    l.pump(false);
    let media: Vec<_> = l.server_events[2..].to_vec();
    assert_eq!(
        media,
        vec![
            ServerEvent::Data {
                timestamp: 0,
                body: Bytes::from_static(b"\x02\x00\x0d@setDataFrame")
            },
            ServerEvent::Media {
                kind: MediaType::Video,
                timestamp: 0x0100_0000,
                body: big
            },
            ServerEvent::Media {
                kind: MediaType::Audio,
                timestamp: 0x0100_0005,
                body: Bytes::from_static(b"\xaf\x01aac")
            },
            ServerEvent::Media {
                kind: MediaType::Video,
                timestamp: 0x0100_0021,
                body: Bytes::from_static(b"\x27\x01p")
            },
        ]
    );
    // The client asked for an acknowledgement every 64 KiB: it got them.
    assert!(l
        .client_events
        .iter()
        .any(|e| matches!(e, SessionEvent::Acknowledged { bytes } if *bytes >= 64 * 1024)));
    l.client.close();
    l.pump(false);
    assert_eq!(l.server_events.last(), Some(&ServerEvent::Unpublished));
    assert!(l.client_error.is_none() && l.server_error.is_none());
}

#[test]
fn the_handshake_and_setup_survive_one_byte_at_a_time() {
    let mut l = Link::new(ServerConfig::default(), KEY);
    l.pump(true);
    assert!(l.client.is_live() && l.server.is_live());
}

#[test]
fn a_wrong_key_is_refused_as_a_rejected_key_and_never_printed() {
    let config = ServerConfig {
        expected_key: Some(StreamKey::new(KEY)),
        ..ServerConfig::default()
    };
    let mut l = Link::new(config, "someone_elses_key");
    l.pump(false);
    assert_eq!(l.server_error, Some(ServerError::WrongKey));
    assert!(!l.server.is_live());
    assert!(
        matches!(&l.client_error, Some(Error::KeyRejected { code, .. }) if code == "NetStream.Publish.BadName"),
        "{:?}",
        l.client_error
    );
    let printed = format!("{:?} {}", l.server_error, ServerError::WrongKey);
    assert!(!printed.contains("someone_elses_key") && !printed.contains(KEY));
}

#[test]
fn the_expected_key_is_accepted() {
    let config = ServerConfig {
        expected_key: Some(StreamKey::new(KEY)),
        ..ServerConfig::default()
    };
    let mut l = Link::new(config, KEY);
    l.pump(false);
    assert!(l.server.is_live() && l.client.is_live());
}

#[test]
fn a_client_that_never_publishes_times_out() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default(), t0);
    let mut deadline = None;
    while let Some(o) = s.poll_output() {
        if let ServerOutput::Timeout(at) = o {
            deadline = Some(at);
        }
    }
    let at = deadline.expect("a setup deadline");
    assert!(s.handle_timeout(at - Duration::from_millis(1)).is_ok());
    assert!(matches!(s.handle_timeout(at), Err(ServerError::Timeout(_))));
    assert_eq!(s.handle_input(at, &[3]), Err(ServerError::Failed));
}

fn handshaken_server() -> (ServerSession, Instant) {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default(), now);
    let mut c = vec![3u8];
    c.extend(std::iter::repeat_n(1u8, 2 * 1536));
    s.handle_input(now, &c).unwrap();
    while s.poll_output().is_some() {}
    (s, now)
}

fn message(type_id: u8, stream_id: u32, body: Bytes) -> Bytes {
    let mut w = ChunkWriter::new();
    let mut out = OutBuf::default();
    w.write(
        MessageHeader {
            csid: 3,
            timestamp: 0,
            type_id,
            stream_id,
        },
        body,
        &mut out,
    );
    let mut all = BytesMut::new();
    while let Some(b) = out.pop() {
        all.put(b);
    }
    all.freeze()
}

#[test]
fn media_before_publish_is_refused() {
    let (mut s, now) = handshaken_server();
    let err = s
        .handle_input(
            now,
            &message(msg::VIDEO, 1, Bytes::from_static(b"\x17\x00")),
        )
        .unwrap_err();
    assert!(matches!(err, ServerError::OutOfOrder { .. }), "{err}");
}

#[test]
fn publish_before_connect_is_refused() {
    let (mut s, now) = handshaken_server();
    let publish = Command::new("publish", 5.0, Value::Null, vec![Value::from("k")]);
    let err = s
        .handle_input(now, &message(msg::COMMAND_AMF0, 1, publish.encode()))
        .unwrap_err();
    assert!(matches!(err, ServerError::OutOfOrder { .. }), "{err}");
}

#[test]
fn a_wrong_handshake_version_and_garbage_commands_are_errors() {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default(), now);
    assert!(matches!(
        s.handle_input(now, b"GET / HTTP/1.1\r\n"),
        Err(ServerError::Handshake(_))
    ));
    let (mut s, now) = handshaken_server();
    assert!(matches!(
        s.handle_input(
            now,
            &message(msg::COMMAND_AMF0, 0, Bytes::from_static(&[0x42, 1]))
        ),
        Err(ServerError::BadCommand(_))
    ));
}

#[test]
fn media_up_to_8_mib_is_accepted_and_larger_is_refused_from_the_header() {
    let mut l = Link::new(ServerConfig::default(), KEY);
    l.pump(false);
    let big = Bytes::from(vec![0x17u8; 8 * 1024 * 1024]);
    l.client.publish_video(0, big).unwrap();
    l.pump(false);
    assert!(l.server_error.is_none());
    assert!(matches!(
        l.server_events.last(),
        Some(ServerEvent::Media { body, .. }) if body.len() == 8 * 1024 * 1024
    ));
    l.client
        .publish_video(40, Bytes::from(vec![0x27u8; 8 * 1024 * 1024 + 1]))
        .unwrap();
    // Only the first chunk goes in: the header alone is refused.
    let now = Instant::now();
    let Some(SessionOutput::Transmit(first)) = l.client.poll_output() else {
        panic!("no output")
    };
    let err = l.server.handle_input(now, &first).unwrap_err();
    assert!(matches!(err, ServerError::Chunk(_)), "{err}");
}

#[test]
fn fuzzed_input_never_panics() {
    // Random bytes after a valid handshake, in pieces.
    let mut x: u64 = 0x1234_5678;
    for round in 0..200 {
        let (mut s, now) = handshaken_server();
        let len = 1 + (round * 37) % 3000;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for piece in data.chunks(61) {
            if s.handle_input(now, piece).is_err() {
                break;
            }
            while s.poll_output().is_some() {}
        }
    }
}

#[test]
fn server_reconnect_request_reaches_the_client_with_its_tc_url() {
    let mut l = Link::new(ServerConfig::default(), KEY);
    l.pump(false);
    assert!(l.server.is_live());
    l.server
        .request_reconnect(Some("/check2"), "maintenance")
        .unwrap();
    l.pump(false);
    assert!(l.client_events.contains(&SessionEvent::ReconnectRequest {
        tc_url: Some("/check2".into()),
        description: "maintenance".into(),
    }));
    assert!(l.client.is_live(), "publishing goes on until the switch");
    // Before connect there is nothing to ask.
    let mut s = ServerSession::new(ServerConfig::default(), Instant::now());
    assert!(s.request_reconnect(None, "x").is_err());
}

#[test]
fn server_setup_deadline_covers_the_whole_setup() {
    let t0 = Instant::now();
    let config = ServerConfig::default();
    let timeout = config.setup_timeout;
    let s = ServerSession::new(config, t0);
    assert_eq!(s.deadline(), Some(t0 + timeout));
}
