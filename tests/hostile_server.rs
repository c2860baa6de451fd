//! The real `onair stream` against a scripted hostile server over loopback,
//! next to a good destination: no panic, a clear error on the hostile
//! destination, the good one keeps streaming, and no key is ever printed
//! (debug logging on).

use std::time::Duration;

use onair_tests::hostile::{HostileServer, Misbehaviour};
use onair_tests::{video_frames, Nginx, OnairRun, GOOD_KEY};

fn play(m: Misbehaviour, seconds: u32, want_error: Option<&str>, fails_for_good: bool) {
    let nginx = Nginx::start();
    let hostile_key = format!("HOSTILE_k3y_{m:?}_zz9");
    let good_key = format!("{GOOD_KEY}_{m:?}");
    let server = HostileServer::start(m, &hostile_key);
    let mut run = OnairRun::stream_env(
        &[
            "--duration".into(),
            seconds.to_string(),
            "--size".into(),
            "320x180".into(),
            "--video-bitrate".into(),
            "300".into(),
            nginx.url(&good_key),
            server.url(&hostile_key),
        ],
        &[("ONAIR_LOG", "debug")],
    );
    // Memory stays bounded whatever the server sends.
    let mut peak_kib = 0;
    while run
        .wait_for(Duration::from_secs(2), |v| {
            v["t"].as_f64() >= Some(f64::from(seconds) - 1.0)
        })
        .is_none()
    {
        peak_kib = peak_kib.max(run.rss_kib());
        if run.lines.len() > 10_000 {
            break;
        }
    }
    peak_kib = peak_kib.max(run.rss_kib());
    assert!(peak_kib < 64 * 1024, "{m:?}: RSS reached {peak_kib} KiB");
    let (status, stderr) = run.finish();
    let stdout: String = run.lines.iter().map(|(_, v)| format!("{v}\n")).collect();
    // The hostile destination never went live: exit 4, and it is named.
    assert_eq!(status.code(), Some(4), "{m:?}: {status:?}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "127.0.0.1:{}/live/***: never went live",
            server.port
        )),
        "{m:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{m:?}: {stderr}");
    for key in [&hostile_key, &good_key] {
        assert!(
            !stdout.contains(key.as_str()) && !stderr.contains(key.as_str()),
            "{m:?}: a key was printed"
        );
    }
    let hostile = run.stats_of(&format!(":{}/", server.port));
    let last = hostile.last().expect("stats of the hostile destination");
    if let Some(want) = want_error {
        let errors: Vec<&str> = hostile.iter().filter_map(|v| v["error"].as_str()).collect();
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{m:?}: wanted '{want}' in {errors:?}"
        );
    }
    assert_eq!(last["state"] == "failed", fails_for_good, "{m:?}: {last}");
    assert!(
        hostile.iter().all(|v| v["state"] != "live"),
        "{m:?} went live"
    );
    let good = run.stats_of(&format!(":{}/", nginx.rtmp_port));
    assert!(
        good.iter().all(|v| v["reconnects"] == 0),
        "{m:?}: the good destination suffered"
    );
    let frames = video_frames(&nginx.recording(&good_key)).len();
    assert!(
        frames >= (seconds as usize * 30) - 5,
        "{m:?}: good destination recorded {frames} frames"
    );
    drop(server);
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn bad_handshake_version_is_reported() {
    play(Misbehaviour::BadVersion, 4, Some("version 6"), false);
}

#[test]
fn a_handshake_that_stalls_times_out_with_a_clear_error() {
    play(
        Misbehaviour::StallHandshake,
        12,
        Some("did not answer the handshake step in time"),
        false,
    );
}

#[test]
fn a_short_handshake_is_reported() {
    play(
        Misbehaviour::ShortHandshake,
        4,
        Some("during the handshake"),
        false,
    );
}

#[test]
fn a_chunk_size_with_the_top_bit_is_a_protocol_error() {
    play(
        Misbehaviour::HugeChunkSize,
        4,
        Some("invalid chunk size"),
        false,
    );
}

#[test]
fn an_oversized_command_is_refused_before_it_is_buffered() {
    play(Misbehaviour::OversizedCommand, 4, Some("exceeds"), false);
}

#[test]
fn an_amf_nesting_bomb_is_refused() {
    play(Misbehaviour::AmfBomb, 4, Some("nesting deeper"), false);
}

#[test]
fn a_ping_flood_is_survived() {
    play(Misbehaviour::PingFlood, 4, None, false);
}

#[test]
fn connect_error_blames_the_application_path_and_is_not_retried() {
    play(
        Misbehaviour::ConnectError,
        4,
        Some("refused the application path (check the server URL)"),
        true,
    );
}

#[test]
fn bad_name_is_a_rejected_key_and_not_retried() {
    play(Misbehaviour::BadName, 4, Some("stream key rejected"), true);
}

#[test]
fn close_right_after_publish_is_a_rejected_key() {
    play(
        Misbehaviour::CloseAfterPublish,
        4,
        Some("stream key rejected"),
        true,
    );
}

#[test]
fn garbage_after_the_handshake_is_a_clear_error() {
    play(Misbehaviour::Garbage, 4, Some("malformed"), false);
}

#[test]
fn a_server_that_compresses_the_connect_answer_against_an_unseen_chunk_stream_is_published_to() {
    let key = "interop_k3y_pyrtmp";
    let server = HostileServer::start(Misbehaviour::Format1ConnectReply, key);
    let mut run = OnairRun::stream(&[
        "--duration".into(),
        "3".into(),
        "--size".into(),
        "320x180".into(),
        "--video-bitrate".into(),
        "300".into(),
        server.url(key),
    ]);
    let (status, stderr) = run.finish();
    assert!(status.success(), "{status:?}\n{stderr}");
    let stats = run.stats_of(&format!(":{}/", server.port));
    assert!(
        stats.iter().any(|v| v["state"] == "live"),
        "never live: {stats:?}"
    );
    assert!(stats.iter().all(|v| v["reconnects"] == 0));
    // 3 s of 30 fps video and ~47 AAC frames a second.
    assert!(
        server.media_messages() > 150,
        "{} media messages",
        server.media_messages()
    );
}
