//! The engine as the app drives it: destinations started and stopped on
//! their own while the others stay live.

use std::time::{Duration, Instant};

use onair_engine::{Encoding, Engine, EngineConfig};
use onair_output::{Destination, OutputId, OutputManager, OutputState};
use onair_tests::{Nginx, GOOD_KEY};

async fn wait_state(m: &OutputManager, id: OutputId, want: OutputState, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if m.stats_of(id).map(|s| s.state) == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A small encode for engine tests: WxH at 30 fps, `kbps`, keyframe every `key_s`.
fn small(width: u32, height: u32, kbps: u32, key_s: u32) -> EngineConfig {
    EngineConfig {
        encodings: vec![Encoding::main(width, height, 30, kbps, key_s)],
        ..EngineConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_start_and_stop_on_their_own_while_the_others_stay_live() {
    let nginx = Nginx::start();
    let (a, b, c) = (
        format!("{GOOD_KEY}_a"),
        format!("{GOOD_KEY}_b"),
        format!("{GOOD_KEY}_c"),
    );
    let config = small(640, 360, 800, 1);
    let dest = |k: &str| Destination::parse(&nginx.url(k)).unwrap();
    let engine = Engine::start(config, vec![(dest(&a), 0), (dest(&b), 0)]).unwrap();
    let m = engine.manager().clone();
    let (ai, bi) = (engine.output_ids()[0], engine.output_ids()[1]);
    assert!(wait_state(&m, ai, OutputState::Live, Duration::from_secs(10)).await);
    assert!(wait_state(&m, bi, OutputState::Live, Duration::from_secs(10)).await);

    // Stop A: it ends cleanly, B stays live and keeps sending.
    let stopped = Instant::now();
    m.stop_one(ai).await;
    assert!(stopped.elapsed() < Duration::from_secs(2));
    assert_eq!(m.stats_of(ai).unwrap().state, OutputState::Stopped);
    assert_eq!(m.running(), 1, "a stopped destination leaves the fan-out");
    let b_before = m.stats_of(bi).unwrap().bytes_sent;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b_now = &m.stats_of(bi).unwrap();
    assert_eq!(b_now.state, OutputState::Live);
    assert!(
        b_now.bytes_sent > b_before + 100_000,
        "B stalled when A stopped"
    );
    assert!(
        !nginx.stat().contains(&format!("<name>{a}</name>")),
        "A still publishing"
    );

    // Start C while B is live: it goes live too, starting at a keyframe.
    let ci = m.add(dest(&c));
    assert!(wait_state(&m, ci, OutputState::Live, Duration::from_secs(10)).await);
    assert_eq!(m.stats_of(bi).unwrap().reconnects, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.stop().await;

    let frames = onair_tests::video_frames(&nginx.recording(&c));
    // C starts at the first keyframe after it was added (one per second here).
    assert!(frames.len() > 20, "C recorded {} frames", frames.len());
    assert!(frames[0].0, "C starts with a keyframe");
    assert!(onair_tests::decode_errors(&nginx.recording(&c)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_url_with_a_query_string_keeps_it_in_the_tc_url_and_the_key_apart() {
    // As YouTube's backup ingest: rtmp://b.rtmp.youtube.com/live2?backup=1.
    let nginx = Nginx::start();
    let key = format!("{GOOD_KEY}_backup");
    let server = format!("rtmp://127.0.0.1:{}/live?backup=1", nginx.rtmp_port);
    let d = Destination::from_parts(&server, onair_rtmp::StreamKey::new(key.clone())).unwrap();
    assert_eq!(
        d.tc_url(),
        format!("rtmp://127.0.0.1:{}/live?backup=1", nginx.rtmp_port)
    );
    let config = small(320, 180, 300, 1);
    let engine = Engine::start(config, vec![(d, 0)]).unwrap();
    let m = engine.manager().clone();
    let id = engine.output_ids()[0];
    assert!(
        wait_state(&m, id, OutputState::Live, Duration::from_secs(10)).await,
        "{:?}",
        m.stats_of(id)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.stop().await;
    let frames = onair_tests::video_frames(&nginx.recording(&key));
    assert!(frames.len() >= 40, "{} frames under the key", frames.len());
}

/// Resident set size of this process, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_a_destination_50_times_keeps_the_fan_out_and_memory_flat() {
    let nginx = Nginx::start();
    let (a, b) = (format!("{GOOD_KEY}_stay"), format!("{GOOD_KEY}_toggle"));
    let config = small(320, 180, 400, 1);
    let dest = |k: &str| Destination::parse(&nginx.url(k)).unwrap();
    let engine = Engine::start(config, vec![(dest(&a), 0), (dest(&b), 0)]).unwrap();
    let m = engine.manager().clone();
    let (ai, mut bi) = (engine.output_ids()[0], engine.output_ids()[1]);
    assert!(wait_state(&m, ai, OutputState::Live, Duration::from_secs(10)).await);
    assert!(wait_state(&m, bi, OutputState::Live, Duration::from_secs(10)).await);
    let mut rss = Vec::new();
    for i in 0..50 {
        // Off, as the card's switch does, then on again (a new Output).
        m.stop_one(bi).await;
        assert_eq!(
            m.running(),
            1,
            "toggle {i}: the stopped one left the fan-out"
        );
        m.forget(bi);
        bi = m.add(dest(&b));
        assert_eq!(m.running(), 2, "toggle {i}");
        assert_eq!(
            m.stats().len(),
            2,
            "toggle {i}: figures of old Outputs pile up"
        );
        if i % 10 == 9 {
            // Let it go live now and then, so each kind of state is crossed.
            assert!(wait_state(&m, bi, OutputState::Live, Duration::from_secs(10)).await);
            rss.push(rss_kib());
        }
    }
    let a_now = m.stats_of(ai).unwrap();
    assert_eq!(a_now.state, OutputState::Live);
    assert_eq!(a_now.reconnects, 0);
    engine.stop().await;
    // Memory flat: the last sample within 8 MiB of the first.
    let (first, last) = (rss[0], *rss.last().unwrap());
    assert!(
        last < first + 8 * 1024,
        "RSS grew from {first} KiB to {last} KiB over 50 toggles: {rss:?}"
    );
    assert!(onair_tests::decode_errors(&nginx.recording(&a)).is_empty());
}

/// Waits until the engine's media clock reads `ms`.
async fn media_time(engine: &Engine, ms: u64) {
    let clock = engine.clock().expect("running");
    while clock.media_us(Instant::now()) < ms * 1000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_started_mid_stream_begins_at_once_and_keeps_the_keyframe_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mid.mp4");
    let config = small(320, 180, 400, 2);
    // No destination: encoding only, as when the app records while not live.
    let engine = Engine::start(config, vec![]).unwrap();
    // Half a second after a scheduled keyframe (0, 2, 4 s…).
    media_time(&engine, 2500).await;
    engine.recorder().start(&path, 0).unwrap();
    media_time(&engine, 4500).await;
    let summary = engine
        .stop_with_recording()
        .await
        .recording
        .expect("a recording");
    assert!(summary.error.is_none(), "{summary:?}");
    // From ~2.5 s to ~4.5 s: about 60 frames. Waiting for the 4 s keyframe
    // instead would have kept about 15.
    assert!(
        (50..=70).contains(&summary.video_frames),
        "{} frames recorded",
        summary.video_frames
    );
    let frames = onair_tests::video_frames(&path);
    assert_eq!(frames.len() as u64, summary.video_frames);
    assert!(frames[0].0, "the recording starts with a keyframe");
    // The scheduled keyframe at 4 s is still there: the forced one only
    // shortened an interval.
    let keys: Vec<f64> = frames.iter().filter(|f| f.0).map(|f| f.1).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[1] - keys[0] < 2.0, "{keys:?}");
    assert_eq!(onair_tests::decode_errors(&path), "");
}

/// A window's feeds that nobody reads.
fn quiet_feeds() -> onair_engine::Feeds {
    onair_engine::Feeds {
        on_update: Box::new(|_| true),
        on_capture: Box::new(|_| true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_capture_feeds_two_recordings_one_after_the_other_each_from_zero_and_in_sync() {
    let config = EngineConfig {
        encodings: vec![Encoding::main(640, 360, 30, 1500, 1)],
        preview: true,
        ..EngineConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut studio = onair_engine::Studio::new();
    studio.attach(config.clone(), quiet_feeds()).await.unwrap();
    let origin = |s: &onair_engine::Studio| s.capture().unwrap().media().clock().origin();
    let opened = origin(&studio);
    // Each take starts at some point of the sources' second (the scenario,
    // not a synchronisation): the stream's time 0 is wherever it starts.
    for (take, idle_ms) in [("first.mp4", 1370), ("second.mp4", 640)] {
        tokio::time::sleep(Duration::from_millis(idle_ms)).await;
        let path = dir.path().join(take);
        studio.start_recording(config.clone(), &path).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = studio
                .session()
                .and_then(|s| s.engine().recorder().status());
            if status.is_some_and(|s| s.duration_ms >= 3500) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{take}: the recording did not grow"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let summary = studio.stop_recording().await.unwrap();
        assert!(summary.error.is_none(), "{summary:?}");
        assert_eq!(origin(&studio), opened, "{take}: the sources were reopened");

        let info = onair_tests::ffprobe_json(&path, &["-show_streams"]);
        for s in info["streams"].as_array().unwrap() {
            let start = onair_tests::num(&s["start_time"]);
            assert!(
                start.abs() <= 0.05,
                "{take}: the {} starts at {start} s, not 0",
                s["codec_type"]
            );
        }
        // The pattern's flash box at 640x360: its top-right 64x64.
        onair_tests::assert_in_sync(&path, (592, 8, 32, 32), 3);
    }
    studio.shut_down().await;
}
