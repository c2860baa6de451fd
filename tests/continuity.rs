//! A show that went live never ends by itself: the real `onair` against real
//! nginx-rtmp through the fault proxy.

use std::time::{Duration, Instant};

use onair_tests::proxy::FaultProxy;
use onair_tests::{decode_errors, video_frames, Nginx, OnairRun, GOOD_KEY};

/// The path goes silent both ways without closing while nginx still holds
/// the publisher (`drop_idle_publisher` 15 s). OnAir detects the stall,
/// reconnects, is refused ("Already publishing": the old connection is
/// still there), keeps retrying instead of failing, and is live again once
/// nginx lets go of the old publisher.
#[test]
fn a_blip_that_leaves_the_old_publisher_on_the_server_never_fails_the_destination() {
    let nginx = Nginx::start_with_app_directives("drop_idle_publisher 15s;");
    let proxy = FaultProxy::start(nginx.rtmp_port);
    let key = format!("{GOOD_KEY}_blip");
    let url = format!("rtmp://127.0.0.1:{}/live/{key}", proxy.port);
    let mut run = OnairRun::stream(&[
        "--size".into(),
        "320x180".into(),
        "--video-bitrate".into(),
        "400".into(),
        "--keyframe-interval".into(),
        "1".into(),
        url,
    ]);
    run.wait_for(Duration::from_secs(10), |v| {
        v["uptime_s"].as_u64() >= Some(2)
    })
    .expect("live");
    let name = format!("<name>{key}</name>");
    assert!(nginx.stat().contains(&name));

    proxy.freeze_open_connections();
    let frozen_at = Instant::now();
    // Watch nginx: when does it let go of the old publisher? (The stream
    // disappears from its stat page until the new publish lands.)
    let port = nginx.http_port;
    let name2 = name.clone();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if !onair_tests::http_get(port, "/stat").contains(&name2) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    });
    // Live again on a new connection, the reconnect counted.
    let (live_again, _) = run
        .wait_for(Duration::from_secs(60), |v| v["event"] == "connected")
        .map(|_| {
            run.wait_for(Duration::from_secs(10), |v| {
                v["state"] == "live" && v["reconnects"].as_u64() >= Some(1)
            })
            .expect("live state after the new connection")
        })
        .expect("live again after the blip");
    let let_go = watcher.join().unwrap();
    tokio_free_sleep(Duration::from_secs(3));
    let (status, stderr) = run.terminate();
    assert!(status.success(), "{status:?} {stderr}");

    let lines = run.stats_of(&format!(":{}/", proxy.port));
    assert!(
        lines.iter().all(|v| v["state"] != "failed"),
        "the destination showed Failed"
    );
    let errors: Vec<&str> = lines.iter().filter_map(|v| v["error"].as_str()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("still holds the previous connection")),
        "nginx refused while it held the old publisher, and the card said why: {errors:?}"
    );
    assert!(lines
        .iter()
        .any(|v| v["error_kind"] == "held" && v["state"] != "live"));
    let let_go = let_go.unwrap_or(live_again);
    eprintln!(
        "blip: frozen at 0 s, nginx let go at {:.2} s, live again at {:.2} s: {:.2} s after the server let go",
        let_go.duration_since(frozen_at).as_secs_f64(),
        live_again.duration_since(frozen_at).as_secs_f64(),
        live_again.saturating_duration_since(let_go).as_secs_f64()
    );
    // The new recording (nginx starts one per publish) starts with a
    // keyframe and decodes cleanly.
    let rec = nginx.recording(&key);
    let frames = video_frames(&rec);
    assert!(frames.len() > 30, "{} frames after the blip", frames.len());
    assert!(frames[0].0, "the new recording starts with a keyframe");
    assert_eq!(decode_errors(&rec), "");
}

/// A plain sleep (the test drives a child process, no runtime here).
fn tokio_free_sleep(d: Duration) {
    std::thread::sleep(d);
}

/// Keys that are parts of the protocol's own words: a key `Start` must not
/// break matching `NetStream.Publish.Start`.
#[test]
fn keys_that_are_protocol_words_publish_to_nginx() {
    let nginx = Nginx::start();
    let keys = ["a", "Start", "Publish"];
    let mut args: Vec<String> = [
        "--duration",
        "3",
        "--size",
        "320x180",
        "--video-bitrate",
        "300",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(keys.iter().map(|k| nginx.url(k)));
    let mut run = OnairRun::stream(&args);
    let (status, stderr) = run.finish();
    assert!(status.success(), "{status:?} {stderr}");
    for k in keys {
        let frames = video_frames(&nginx.recording(k));
        assert!(frames.len() >= 80, "key {k:?}: {} frames", frames.len());
    }
    let connected = run
        .lines
        .iter()
        .filter(|(_, v)| v["event"] == "connected")
        .count();
    assert_eq!(connected, 3);
}

/// A key nginx refuses on the first connection: Failed at once, exactly
/// one connection, exit 3.
#[test]
fn a_key_refused_on_the_first_connection_fails_with_exactly_one_connection() {
    let nginx = Nginx::start();
    let proxy = FaultProxy::start(nginx.rtmp_port);
    let mut run = OnairRun::stream(&[
        "--duration".into(),
        "5".into(),
        "--size".into(),
        "320x180".into(),
        format!("rtmp://127.0.0.1:{}/live/not_the_right_k3y", proxy.port),
    ]);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_eq!(proxy.accepted(), 1, "a wrong key was retried");
    assert!(stderr.contains("stream key rejected"), "{stderr}");
}
