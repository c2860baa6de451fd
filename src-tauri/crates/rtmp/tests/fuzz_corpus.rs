//! Replays the committed fuzz corpus and crash reproducers
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through the same
//! entry points the fuzz targets use, so every finding stays fixed in CI.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::Server;
use onair_rtmp::amf0::Value;
use onair_rtmp::message::{self as msg, Command};

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            run(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target}");
}

#[test]
fn chunk_reader_corpus_replays_without_panics() {
    replay("chunk_reader", onair_rtmp::fuzzing::chunk_reader);
}

#[test]
fn amf0_corpus_replays_and_round_trips() {
    replay("amf0", onair_rtmp::fuzzing::amf0);
}

#[test]
fn handshake_corpus_replays_without_panics() {
    replay("handshake", onair_rtmp::fuzzing::handshake);
}

#[test]
fn session_corpus_replays_with_bounded_reactions() {
    replay("session", onair_rtmp::fuzzing::session);
}

#[test]
fn server_corpus_replays_with_bounded_reactions() {
    replay("server", onair_rtmp::fuzzing::server);
}

#[test]
fn flv_tags_corpus_replays_without_panics() {
    replay("flv_tags", onair_flv::fuzzing::flv_tags);
}

#[test]
fn chunk_roundtrip_corpus_round_trips() {
    replay("chunk_roundtrip", onair_rtmp::fuzzing::chunk_roundtrip);
}

/// Writes the seed corpus: what a real server says to a publisher, as the
/// scripted server says it. Run once: `cargo test -p onair-rtmp --test
/// fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut s = Server::new();
    s.send(msg::WINDOW_ACK_SIZE, 0, msg::u32_body(2_500_000));
    s.send(
        msg::SET_PEER_BANDWIDTH,
        0,
        msg::peer_bandwidth_body(2_500_000, 2),
    );
    s.send(msg::SET_CHUNK_SIZE, 0, msg::u32_body(4096));
    s.writer.set_chunk_size(4096).unwrap();
    s.command(
        "_result",
        1.0,
        vec![Value::Object(vec![
            ("level".into(), Value::from("status")),
            ("code".into(), Value::from("NetConnection.Connect.Success")),
            ("objectEncoding".into(), Value::Number(0.0)),
        ])],
    );
    s.command("onBWDone", 0.0, vec![Value::Number(8192.0)]);
    s.command("_result", 4.0, vec![Value::Number(1.0)]);
    s.send(
        msg::USER_CONTROL,
        0,
        msg::user_control_body(msg::UC_STREAM_BEGIN, &[0, 0, 0, 1]),
    );
    s.status("status", "NetStream.Publish.Start", "Start publishing");
    s.send(
        msg::USER_CONTROL,
        0,
        msg::user_control_body(msg::UC_PING_REQUEST, &[0, 0, 3, 232]),
    );
    s.send(msg::ACKNOWLEDGEMENT, 0, msg::u32_body(65_536));
    let conversation = s.take();
    let mut reject = Server::new();
    reject.command("_result", 1.0, vec![]);
    reject.command("_result", 4.0, vec![Value::Number(1.0)]);
    reject.status("error", "NetStream.Publish.BadName", "bad name");
    let rejected = reject.take();

    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    for target in ["chunk_reader", "session"] {
        write(target, "seed-conversation", &conversation);
        write(target, "seed-rejected", &rejected);
    }
    let mut hs = vec![3u8];
    hs.extend(std::iter::repeat_n(9u8, 3072));
    hs.extend_from_slice(&conversation[..64.min(conversation.len())]);
    write("handshake", "seed-s0s1s2", &hs);
    // What our own client says to an ingest after the handshake.
    {
        use onair_rtmp::{ClientConfig, ClientSession, ServerConfig, ServerSession, StreamKey};
        let now = std::time::Instant::now();
        let cfg = ClientConfig::new("rtmp://h/check", "check", StreamKey::new("k"));
        let mut c = ClientSession::new(cfg, now);
        let mut srv = ServerSession::new(ServerConfig::default(), now);
        let mut said = Vec::new();
        for _ in 0..8 {
            while let Some(o) = c.poll_output() {
                if let onair_rtmp::SessionOutput::Transmit(b) = o {
                    said.extend_from_slice(&b);
                    srv.handle_input(now, &b).unwrap();
                }
            }
            while let Some(o) = srv.poll_output() {
                if let onair_rtmp::ServerOutput::Transmit(b) = o {
                    c.handle_input(now, &b).unwrap();
                }
            }
            if c.is_live() {
                c.publish_metadata(Bytes::from_static(b"\x02\x00\x0donMetaData"))
                    .unwrap();
                c.publish_video(0, onair_flv::avc_nalu(&[0, 0, 0, 1, 0x65, 1], true, 0))
                    .unwrap();
                c.publish_audio(0, onair_flv::aac_raw(&[1, 2])).unwrap();
                c.close();
            }
        }
        write("server", "seed-publish", &said[3073..]);
        write(
            "flv_tags",
            "seed-avc-config",
            &onair_flv::avc_sequence_header(&onair_flv::AvcConfig {
                sps: Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1F, 0xDA]),
                pps: Bytes::from_static(&[0x68, 0xCE, 0x3C, 0x80]),
            }),
        );
        write(
            "flv_tags",
            "seed-avc-nalu",
            &onair_flv::avc_nalu(&[0, 0, 0, 1, 0x65, 1, 2], true, -3),
        );
        write(
            "flv_tags",
            "seed-aac-config",
            &onair_flv::aac_sequence_header(&[0x11, 0x90]),
        );
        write(
            "flv_tags",
            "seed-metadata",
            &onair_flv::metadata_body(&onair_flv::Metadata {
                width: 1280,
                height: 720,
                framerate: 30.0,
                video_kbps: 3000,
                audio_kbps: Some(160),
                audio_sample_rate: 48_000,
                audio_channels: 2,
                encoder: "OnAir".into(),
            }),
        );
    }
    let connect = Command::new(
        "connect",
        1.0,
        Value::Object(vec![
            ("app".into(), Value::from("live")),
            ("tcUrl".into(), Value::from("rtmp://h/live")),
            (
                "nested".into(),
                Value::StrictArray(vec![Value::Null, Value::Boolean(true), Value::Date(1.0, 0)]),
            ),
        ]),
        vec![Value::EcmaArray(vec![(
            "width".into(),
            Value::Number(1280.0),
        )])],
    )
    .encode();
    write("amf0", "seed-connect", &connect);
    write(
        "amf0",
        "seed-onstatus",
        &Command::new(
            "onStatus",
            0.0,
            Value::Null,
            vec![Value::Object(vec![("code".into(), Value::from("x"))])],
        )
        .encode(),
    );
    let mut rt = vec![20u8];
    rt.extend((0..400u32).map(|i| (i * 7) as u8));
    write("chunk_roundtrip", "seed-mixed", &rt);
    let _ = Bytes::new();
}
