//! A server that lies: every peer-chosen size, count and id crosses its cap
//! here, and the session answers with a typed error or bounded work — never
//! a panic, never an allocation sized by the peer.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::{Pair, KEY};
use onair_rtmp::amf0::Value;
use onair_rtmp::chunk::{ChunkError, MessageHeader, MAX_TRACKED_CHUNK_STREAMS};
use onair_rtmp::message::{self as msg, Command};
use onair_rtmp::{Error, SessionOutput, MAX_PONGS_PER_INPUT};

/// A session that finished the handshake and sent `connect`.
fn connected_pair() -> Pair {
    let mut p = Pair::new();
    p.pump().unwrap();
    p
}

fn feed(p: &mut Pair, bytes: &[u8]) -> Result<(), Error> {
    let now = p.now;
    p.client.handle_input(now, bytes)
}

fn raw_message(csid: u32, type_id: u8, body: &[u8]) -> Vec<u8> {
    let mut w = onair_rtmp::chunk::ChunkWriter::new();
    let mut out = onair_rtmp::chunk::OutBuf::default();
    w.write(
        MessageHeader {
            csid,
            timestamp: 0,
            type_id,
            stream_id: 0,
        },
        Bytes::copy_from_slice(body),
        &mut out,
    );
    let mut v = Vec::new();
    while let Some(b) = out.pop() {
        v.extend_from_slice(&b);
    }
    v
}

/// Messages of `type_id` in what the client sent since the last call, as
/// the scripted server parses them (header compression makes sizes vary).
fn count_sent(p: &mut Pair, type_id: u8) -> usize {
    let before = p.server.received.len();
    let bytes = transmits(p).concat();
    p.server.feed(&bytes);
    p.server.received[before..]
        .iter()
        .filter(|m| m.header.type_id == type_id)
        .count()
}

fn transmits(p: &mut Pair) -> Vec<Bytes> {
    let mut v = Vec::new();
    while let Some(o) = p.client.poll_output() {
        if let SessionOutput::Transmit(b) = o {
            v.push(b);
        }
    }
    v
}

#[test]
fn set_chunk_size_zero_or_with_the_top_bit_set_is_a_protocol_error() {
    for size in [0u32, 0x8000_0000, u32::MAX] {
        let mut p = connected_pair();
        let r = feed(
            &mut p,
            &raw_message(2, msg::SET_CHUNK_SIZE, &size.to_be_bytes()),
        );
        assert_eq!(r, Err(Error::Chunk(ChunkError::InvalidChunkSize(size))));
    }
}

#[test]
fn the_largest_legal_chunk_size_allocates_nothing_by_itself() {
    let mut p = connected_pair();
    feed(
        &mut p,
        &raw_message(2, msg::SET_CHUNK_SIZE, &0x7FFF_FFFFu32.to_be_bytes()),
    )
    .unwrap();
    // A normal command still parses; nothing was reserved for 2 GiB.
    let body = Command::new("onBWDone", 0.0, Value::Null, vec![]).encode();
    feed(&mut p, &raw_message(3, msg::COMMAND_AMF0, &body)).unwrap();
}

#[test]
fn messages_over_their_type_cap_are_rejected_from_the_header() {
    for (type_id, len) in [
        (msg::COMMAND_AMF0, 64 * 1024 + 1),
        (msg::VIDEO, 1024 * 1024 + 1),
        (msg::SET_CHUNK_SIZE, 5),
    ] {
        let mut p = connected_pair();
        // Only the 12-byte header: the cap is checked before any body.
        let mut h = vec![0x03, 0, 0, 0];
        h.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        h.push(type_id);
        h.extend_from_slice(&[0, 0, 0, 0]);
        let r = feed(&mut p, &h);
        assert!(
            matches!(r, Err(Error::Chunk(ChunkError::MessageTooLarge { type_id: t, .. })) if t == type_id),
            "type {type_id}: {r:?}"
        );
    }
}

#[test]
fn a_new_header_while_a_message_is_pending_is_an_error() {
    let mut p = connected_pair();
    // 300-byte command at chunk size 128: the first chunk leaves it pending.
    let mut m = vec![0x03, 0, 0, 0, 0, 0x01, 0x2C, msg::COMMAND_AMF0, 0, 0, 0, 0];
    m.extend_from_slice(&[0x02; 128]);
    // Then a format 1 header (new length) on the same chunk stream.
    m.extend_from_slice(&[0x43, 0, 0, 0, 0, 0, 10, msg::COMMAND_AMF0]);
    let r = feed(&mut p, &m);
    assert!(
        matches!(
            r,
            Err(Error::Chunk(ChunkError::InterruptedMessage { csid: 3, .. }))
        ),
        "{r:?}"
    );
}

#[test]
fn a_format_2_or_3_header_on_an_unseen_chunk_stream_is_an_error() {
    // Format 1 is read leniently (see the chunk tests); 2 and 3 would have
    // to invent a message length.
    for fmt in [2u8, 3] {
        let mut p = connected_pair();
        let r = feed(&mut p, &[(fmt << 6) | 9, 0, 0, 0, 0, 0, 1, 20, b'x']);
        assert!(
            matches!(
                r,
                Err(Error::Chunk(ChunkError::NoPreviousHeader { csid: 9, .. }))
            ),
            "fmt {fmt}: {r:?}"
        );
    }
}

#[test]
fn chunk_stream_id_churn_keeps_the_header_table_bounded() {
    let mut r = onair_rtmp::chunk::ChunkReader::new();
    let mut wire = Vec::new();
    for csid in (2..65_600u32).step_by(7) {
        wire.extend(raw_message(csid, msg::ABORT, &[0, 0, 0, 3]));
    }
    r.push(&wire);
    let mut n = 0;
    while let Some(m) = r.next_message().unwrap() {
        assert_eq!(m.header.type_id, msg::ABORT);
        n += 1;
    }
    assert_eq!(n, (2..65_600u32).step_by(7).count());
    assert!(
        r.tracked_streams() <= MAX_TRACKED_CHUNK_STREAMS,
        "{}",
        r.tracked_streams()
    );
}

#[test]
fn a_window_of_0_or_1_byte_cannot_make_an_acknowledgement_storm() {
    for window in [0u32, 1] {
        let mut p = connected_pair();
        let mut input = raw_message(2, msg::WINDOW_ACK_SIZE, &window.to_be_bytes());
        for _ in 0..200 {
            input.extend(raw_message(2, msg::ABORT, &[0, 0, 0, 3]));
        }
        feed(&mut p, &input).unwrap();
        let acks = count_sent(&mut p, msg::ACKNOWLEDGEMENT);
        assert_eq!(acks, usize::from(window == 1), "window {window}");
    }
}

#[test]
fn a_ping_flood_gets_a_bounded_number_of_replies() {
    let mut p = connected_pair();
    let mut input = Vec::new();
    for i in 0..1000u32 {
        input.extend(raw_message(
            2,
            msg::USER_CONTROL,
            &msg::user_control_body(msg::UC_PING_REQUEST, &i.to_be_bytes()),
        ));
    }
    feed(&mut p, &input).unwrap();
    assert_eq!(count_sent(&mut p, msg::USER_CONTROL), MAX_PONGS_PER_INPUT);
}

#[test]
fn a_short_ping_payload_is_an_error() {
    let mut p = connected_pair();
    let r = feed(&mut p, &raw_message(2, msg::USER_CONTROL, &[0, 6, 1, 2]));
    assert_eq!(
        r,
        Err(Error::BadControlMessage {
            what: "Ping Request",
            len: 4
        })
    );
    let mut p = connected_pair();
    let r = feed(&mut p, &raw_message(2, msg::USER_CONTROL, &[0]));
    assert!(matches!(
        r,
        Err(Error::BadControlMessage {
            what: "User Control",
            ..
        })
    ));
}

#[test]
fn control_messages_of_the_wrong_size_are_errors() {
    for (type_id, body) in [
        (msg::ACKNOWLEDGEMENT, &[0u8, 1][..]),
        (msg::WINDOW_ACK_SIZE, &[0u8][..]),
        (msg::SET_PEER_BANDWIDTH, &[0u8, 0, 0, 1][..]),
    ] {
        let mut p = connected_pair();
        let r = feed(&mut p, &raw_message(2, type_id, body));
        assert!(
            matches!(r, Err(Error::BadControlMessage { .. })),
            "type {type_id}: {r:?}"
        );
    }
}

#[test]
fn type_confused_commands_are_typed_errors_or_ignored_never_panics() {
    // Command name that is a number.
    let mut p = connected_pair();
    let mut body = BytesMut::new();
    onair_rtmp::amf0::encode(&mut body, &Value::Number(1.0));
    assert!(matches!(
        feed(&mut p, &raw_message(3, msg::COMMAND_AMF0, &body)),
        Err(Error::BadCommand(_))
    ));

    // onStatus whose info is a string, not an object: tolerated.
    let mut p = connected_pair();
    let body = Command::new(
        "onStatus",
        0.0,
        Value::Null,
        vec![Value::from("NetStream.Publish.Start")],
    )
    .encode();
    feed(&mut p, &raw_message(3, msg::COMMAND_AMF0, &body)).unwrap();
    assert!(!p.client.is_live());

    // createStream answered with a string stream id.
    let mut p = connected_pair();
    p.server.command("_result", 1.0, vec![]);
    p.pump().unwrap();
    p.server.command("_result", 4.0, vec![Value::from("1")]);
    assert!(matches!(p.pump(), Err(Error::BadCommand(_))));

    // AMF3-encoded command and an unknown AMF marker.
    let mut p = connected_pair();
    assert!(matches!(
        feed(&mut p, &raw_message(3, msg::COMMAND_AMF3, &[0x11, 0x06])),
        Err(Error::BadCommand(_))
    ));
    let mut p = connected_pair();
    let mut bad = BytesMut::new();
    bad.put_slice(&[0x02, 0, 2, b'h', b'i', 0x0D]);
    assert!(matches!(
        feed(&mut p, &raw_message(3, msg::COMMAND_AMF0, &bad)),
        Err(Error::BadCommand(_))
    ));
}

#[test]
fn a_wrong_handshake_version_is_a_clear_error() {
    let mut p = Pair::new();
    transmits(&mut p);
    let r = feed(&mut p, &[0x16, 0x03, 0x01]);
    let e = r.unwrap_err();
    assert!(e.to_string().contains("version 22"), "{e}");
}

#[test]
fn server_descriptions_echoing_the_key_are_redacted_where_shown() {
    let mut p = Pair::new();
    p.until_publish();
    p.server.status(
        "error",
        "NetStream.Publish.Denied",
        &format!("publishing {KEY} denied; key={KEY}"),
    );
    let e = p.pump().unwrap_err();
    // The session keeps the server's words; whoever shows them redacts.
    let text = onair_rtmp::StreamKey::new(KEY).redact(&format!("{e} {e:?}"));
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("***"));
}
