//! The client session against a scripted server peer, in memory.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Pair, Server, KEY};
use onair_rtmp::amf0::Value;
use onair_rtmp::message::{self as msg, Command};
use onair_rtmp::{
    ClientConfig, ClientSession, Error, SessionEvent, SessionOutput, Stage, StreamKey,
};

#[test]
fn connect_create_stream_publish_reaches_live() {
    let mut p = Pair::new();
    p.go_live();
    assert!(p.client.is_live());
    assert!(p.events.contains(&SessionEvent::Connected));
    assert!(p
        .events
        .contains(&SessionEvent::Publishing { stream_id: 1 }));
    let cmds = p.server.commands();
    let names: Vec<&str> = cmds.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish"
        ]
    );
    let connect = &cmds[0];
    assert_eq!(connect.object.get("app"), Some(&Value::from("live")));
    assert_eq!(
        connect.object.get("tcUrl"),
        Some(&Value::from("rtmp://127.0.0.1:1935/live"))
    );
    assert_eq!(cmds[4].args, vec![Value::from(KEY), Value::from("live")]);
    let publish_msg = p
        .server
        .received
        .iter()
        .find(|m| {
            m.header.type_id == msg::COMMAND_AMF0
                && Command::decode(&m.payload).unwrap().name == "publish"
        })
        .unwrap();
    assert_eq!(
        publish_msg.header.stream_id, 1,
        "publish goes on the created stream"
    );
}

#[test]
fn client_announces_large_chunk_size_and_ack_window_first() {
    let mut p = Pair::new();
    p.pump().unwrap();
    let first: Vec<(u8, Vec<u8>)> = p.server.received[..2]
        .iter()
        .map(|m| (m.header.type_id, m.payload.to_vec()))
        .collect();
    assert_eq!(
        first[0],
        (msg::SET_CHUNK_SIZE, 4096u32.to_be_bytes().to_vec())
    );
    assert_eq!(
        first[1],
        (msg::WINDOW_ACK_SIZE, (64 * 1024u32).to_be_bytes().to_vec())
    );
}

#[test]
fn media_published_live_arrives_intact_with_timestamps_and_end_offsets() {
    let mut p = Pair::new();
    p.go_live();
    p.client
        .publish_metadata(Bytes::from_static(b"\x02\x00\x0d@setDataFrame"))
        .unwrap();
    let big = Bytes::from(vec![0x17u8; 10_000]);
    let before = p.client.bytes_sent();
    let end_v = p.client.publish_video(0, big.clone()).unwrap();
    assert!(end_v > before + 10_000);
    let end_a = p
        .client
        .publish_audio(21, Bytes::from_static(&[0xAF, 1, 9]))
        .unwrap();
    assert!(end_a > end_v);
    p.client
        .publish_video(33, Bytes::from_static(&[0x27, 1, 0, 0, 0]))
        .unwrap();
    // Wrap past the 24-bit timestamp field: extended timestamps.
    p.client.publish_video(0x0100_0000, big.clone()).unwrap();
    p.pump().unwrap();
    let media: Vec<(u8, u32, usize)> = p
        .server
        .received
        .iter()
        .filter(|m| matches!(m.header.type_id, msg::AUDIO | msg::VIDEO | msg::DATA_AMF0))
        .map(|m| (m.header.type_id, m.header.timestamp, m.payload.len()))
        .collect();
    assert_eq!(
        media,
        vec![
            (msg::DATA_AMF0, 0, 16),
            (msg::VIDEO, 0, 10_000),
            (msg::AUDIO, 21, 3),
            (msg::VIDEO, 33, 5),
            (msg::VIDEO, 0x0100_0000, 10_000)
        ]
    );
}

#[test]
fn media_before_publish_start_is_refused() {
    let mut p = Pair::new();
    p.pump().unwrap();
    assert_eq!(
        p.client.publish_video(0, Bytes::from_static(&[1])),
        Err(Error::InvalidState {
            op: "publish_video",
            state: "connecting"
        })
    );
}

#[test]
fn ping_request_gets_a_ping_response_with_the_same_timestamp() {
    let mut p = Pair::new();
    p.go_live();
    p.server.send(
        msg::USER_CONTROL,
        0,
        msg::user_control_body(msg::UC_PING_REQUEST, &[0, 1, 2, 3]),
    );
    p.pump().unwrap();
    let pong = p
        .server
        .received
        .iter()
        .rev()
        .find(|m| m.header.type_id == msg::USER_CONTROL)
        .unwrap();
    assert_eq!(&pong.payload[..], &[0, 7, 0, 1, 2, 3]);
}

#[test]
fn server_window_ack_size_makes_the_client_acknowledge() {
    let mut p = Pair::new();
    p.pump().unwrap();
    p.server.send(msg::WINDOW_ACK_SIZE, 0, msg::u32_body(100));
    p.server.send(
        msg::SET_PEER_BANDWIDTH,
        0,
        msg::peer_bandwidth_body(5_000_000, 2),
    );
    p.server.send(
        msg::COMMAND_AMF0,
        0,
        Command::new(
            "onBWDone",
            0.0,
            Value::Null,
            vec![Value::from("x".repeat(200).as_str())],
        )
        .encode(),
    );
    p.pump().unwrap();
    let ack = p
        .server
        .received
        .iter()
        .find(|m| m.header.type_id == msg::ACKNOWLEDGEMENT);
    let ack = ack.expect("an acknowledgement");
    let seq = u32::from_be_bytes(ack.payload[..].try_into().unwrap());
    assert!(seq >= 100, "acknowledged {seq} bytes");
}

#[test]
fn server_acknowledgement_becomes_an_event_with_the_byte_count() {
    let mut p = Pair::new();
    p.go_live();
    let end = p
        .client
        .publish_video(0, Bytes::from(vec![1u8; 5000]))
        .unwrap();
    p.pump().unwrap();
    p.server
        .send(msg::ACKNOWLEDGEMENT, 0, msg::u32_body(end as u32));
    p.pump().unwrap();
    assert!(p
        .events
        .contains(&SessionEvent::Acknowledged { bytes: end }));
}

#[test]
fn bad_name_on_publish_is_a_rejected_key_and_redacts_where_shown() {
    let mut p = Pair::new();
    p.until_publish();
    p.server.status(
        "error",
        "NetStream.Publish.BadName",
        &format!("{KEY} is not allowed"),
    );
    let err = p.pump().unwrap_err();
    assert!(matches!(err, Error::KeyRejected { .. }));
    assert!(!err.is_retryable());
    assert!(err.is_rejection());
    // Shown text goes through the key's redaction at the edge.
    let shown = StreamKey::new(KEY).redact(&err.to_string());
    assert!(shown.contains("stream key rejected"), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("*** is not allowed"), "{shown}");
}

#[test]
fn connect_error_blames_the_application_path_not_the_key() {
    let mut p = Pair::new();
    p.pump().unwrap();
    p.server.command(
        "_error",
        1.0,
        vec![Value::Object(vec![
            ("level".into(), Value::from("error")),
            ("code".into(), Value::from("NetConnection.Connect.Rejected")),
            ("description".into(), Value::from("no such application")),
        ])],
    );
    let err = p.pump().unwrap_err();
    assert!(matches!(err, Error::ConnectRejected { .. }), "{err:?}");
    assert!(err.is_rejection());
    let text = err.to_string();
    assert!(
        text.contains("refused the application path (check the server URL)"),
        "{text}"
    );
    assert!(!text.contains("stream key"), "{text}");
}

#[test]
fn protocol_values_are_matched_before_any_redaction() {
    // Keys that are part of the protocol words the session matches on.
    for key in ["a", "Start", "Publish", "NetStream", "status", "."] {
        let mut p = Pair::with_key(key);
        p.go_live();
        assert!(p.client.is_live(), "key {key:?}: {}", p.client.state_name());
        assert!(p
            .events
            .contains(&SessionEvent::Publishing { stream_id: 1 }));
    }
    // A rejection is still recognised with such a key.
    let mut p = Pair::with_key("BadName");
    p.until_publish();
    p.server
        .status("error", "NetStream.Publish.BadName", "BadName is taken");
    assert!(matches!(p.pump(), Err(Error::KeyRejected { .. })));
}

#[test]
fn connect_announces_enhanced_rtmp_reconnect_and_the_codecs_it_encodes() {
    let mut config = ClientConfig::new("rtmp://127.0.0.1:1935/live", "live", StreamKey::new(KEY));
    config.caps_ex = onair_rtmp::CAPS_EX_RECONNECT;
    let mut p = Pair::with_config(config);
    p.pump().unwrap();
    let connect = &p.server.commands()[0];
    assert_eq!(connect.object.get("capsEx"), Some(&Value::Number(1.0)));
    assert_eq!(
        connect.object.get("fourCcList"),
        Some(&Value::StrictArray(vec![
            Value::from("avc1"),
            Value::from("mp4a")
        ]))
    );
    assert_eq!(
        connect.object.get("videoFourCcInfoMap"),
        Some(&Value::Object(vec![("avc1".into(), Value::Number(2.0))]))
    );
    assert_eq!(
        connect.object.get("audioFourCcInfoMap"),
        Some(&Value::Object(vec![("mp4a".into(), Value::Number(2.0))]))
    );
    // Without the capability nothing Enhanced is claimed.
    let mut p = Pair::new();
    p.pump().unwrap();
    assert_eq!(p.server.commands()[0].object.get("capsEx"), None);
}

#[test]
fn reconnect_request_is_an_event_and_publishing_goes_on() {
    let mut p = Pair::new();
    p.go_live();
    let info = Value::Object(vec![
        ("level".into(), Value::from("status")),
        (
            "code".into(),
            Value::from("NetConnection.Connect.ReconnectRequest"),
        ),
        ("description".into(), Value::from("server update")),
        ("tcUrl".into(), Value::from("rtmp://other.example/live")),
    ]);
    p.server.send(
        msg::COMMAND_AMF0,
        0,
        Command::new("onStatus", 0.0, Value::Null, vec![info]).encode(),
    );
    p.pump().unwrap();
    assert!(p.events.contains(&SessionEvent::ReconnectRequest {
        tc_url: Some("rtmp://other.example/live".into()),
        description: "server update".into(),
    }));
    assert!(p.client.is_live());
    p.client
        .publish_video(40, Bytes::from_static(&[0x17, 1, 0, 0, 0]))
        .unwrap();
}

#[test]
fn connection_closed_right_after_publish_is_a_rejected_key() {
    let mut p = Pair::new();
    p.until_publish();
    assert!(matches!(p.client.handle_eof(), Error::KeyRejected { .. }));
}

#[test]
fn connection_closed_while_live_is_retryable() {
    let mut p = Pair::new();
    p.go_live();
    let e = p.client.handle_eof();
    assert_eq!(
        e,
        Error::PeerClosed {
            stage: Stage::Publish
        }
    );
    assert!(e.is_retryable());
}

#[test]
fn silent_server_times_out_in_the_handshake() {
    let now = Instant::now();
    let config = ClientConfig::new("rtmp://h/live", "live", StreamKey::new(KEY));
    let mut s = ClientSession::new(config, now);
    let mut deadline = None;
    while let Some(o) = s.poll_output() {
        if let SessionOutput::Timeout(t) = o {
            deadline = Some(t);
        }
    }
    let deadline = deadline.expect("a deadline");
    assert!(s
        .handle_timeout(deadline - Duration::from_millis(1))
        .is_ok());
    assert_eq!(
        s.handle_timeout(deadline),
        Err(Error::Timeout {
            stage: Stage::Handshake
        })
    );
}

#[test]
fn close_sends_fcunpublish_and_delete_stream() {
    let mut p = Pair::new();
    p.go_live();
    p.client.close();
    p.pump().unwrap();
    let cmds = p.server.commands();
    let tail: Vec<&str> = cmds.iter().rev().take(2).map(|c| c.name.as_str()).collect();
    assert_eq!(tail, ["deleteStream", "FCUnpublish"]);
    assert_eq!(cmds.last().unwrap().args, vec![Value::Number(1.0)]);
    assert_eq!(p.events.last(), Some(&SessionEvent::Closed));
}

#[test]
fn server_set_chunk_size_is_applied_to_what_follows() {
    let mut p = Pair::new();
    p.pump().unwrap();
    p.server.send(msg::SET_CHUNK_SIZE, 0, msg::u32_body(4000));
    p.server.writer.set_chunk_size(4000).unwrap();
    // A 1 KB description: one chunk at 4000, eight at 128.
    p.server
        .command("_result", 1.0, vec![Value::from("d".repeat(1000).as_str())]);
    p.pump().unwrap();
    assert!(p.events.contains(&SessionEvent::Connected));
}

#[test]
fn bytes_arriving_one_at_a_time_reach_live_too() {
    let now = Instant::now();
    let config = ClientConfig::new("rtmp://h/live", "live", StreamKey::new(KEY));
    let mut c = ClientSession::new(config, now);
    let mut server = Server::new();
    let mut answered = 0;
    for _ in 0..50 {
        let mut to_server = Vec::new();
        while let Some(o) = c.poll_output() {
            if let SessionOutput::Transmit(b) = o {
                to_server.extend_from_slice(&b);
            }
        }
        let mut reply = server.feed(&to_server);
        let names: Vec<String> = server.commands().into_iter().map(|c| c.name).collect();
        if answered == 0 && names.iter().any(|n| n == "connect") {
            server.command("_result", 1.0, vec![]);
            answered = 1;
        } else if answered == 1 && names.iter().any(|n| n == "createStream") {
            server.command("_result", 4.0, vec![Value::Number(7.0)]);
            answered = 2;
        } else if answered == 2 && names.iter().any(|n| n == "publish") {
            server.status("status", "NetStream.Publish.Start", "");
            answered = 3;
        }
        reply.extend(server.take());
        for b in reply {
            c.handle_input(now, &[b]).unwrap();
        }
    }
    assert!(c.is_live());
}
