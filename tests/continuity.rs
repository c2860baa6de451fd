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
    std::thread::sleep(Duration::from_secs(3));
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

/// A host name whose first address is a black hole (IPv6 broken on the
/// path): Happy Eyeballs tries the next address 250 ms later instead of
/// waiting out the 10 s connect timeout. The name is given to the real
/// `onair` through a private /etc/hosts in its own mount namespace
/// (`::1` first, then `127.0.0.1`); `[::1]:PORT` accepts no connection
/// (its accept queue is full, so SYNs are dropped), nginx is on
/// `127.0.0.1:PORT`.
#[test]
fn a_host_name_whose_first_address_is_black_holed_connects_through_the_next() {
    let nginx = Nginx::start();
    let port = nginx.rtmp_port;
    // The black hole: listen(0) on [::1]:PORT, its queue filled, never accepted.
    let hole = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    hole.set_only_v6(true).unwrap();
    let addr: std::net::SocketAddr = format!("[::1]:{port}").parse().unwrap();
    hole.bind(&addr.into()).unwrap();
    hole.listen(0).unwrap();
    let mut fill = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fill.push(s);
        }
    }
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "the black hole answered"
    );
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n::1 twoaddr.test\n127.0.0.1 twoaddr.test\n",
    )
    .unwrap();
    let key = format!("{GOOD_KEY}_eyeballs");
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} stream --stats json --duration 3 --size 320x180 \
         --video-bitrate 300 rtmp://twoaddr.test:{port}/live/{key}",
        hosts.display(),
        onair_tests::binary("onair").display()
    );
    let started = Instant::now();
    let out = std::process::Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    // Live within the first seconds: connected, and recorded by nginx.
    assert!(stdout.contains("\"event\":\"connected\""), "{stdout}");
    let first_live = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["state"] == "live")
        .and_then(|v| v["t"].as_f64())
        .expect("a live stats line");
    assert!(first_live <= 2.0, "first live at {first_live} s");
    assert!(started.elapsed() < Duration::from_secs(10));
    let frames = video_frames(&nginx.recording(&key));
    assert!(frames.len() >= 60, "{} frames", frames.len());
    drop(fill);
}
