//! The live session's lifecycle without a window: go live, a destination
//! off and on while the encode runs, recording with no destination, ending
//! while a destination is reconnecting. The destinations are real RTMP
//! ingests on loopback (the stream check's server side).

mod common;

use std::time::{Duration, Instant};

use common::{small, wait_for};
use onair_check::ingest::CheckIngest;
use onair_engine::Engine;
use onair_output::{Destination, OutputId, OutputManager, OutputState};

fn state(m: &OutputManager, id: OutputId) -> Option<OutputState> {
    m.stats_of(id).map(|s| s.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goes_live_switches_a_destination_off_and_on_and_stops_in_bounded_time() {
    let ingest = CheckIngest::start().await.unwrap();
    let engine = Engine::start(small(), vec![(ingest.destination(), 0)]).unwrap();
    let m = engine.manager().clone();
    let id = engine.output_ids()[0];
    assert!(
        wait_for(Duration::from_secs(10), || state(&m, id)
            == Some(OutputState::Live))
        .await
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            ingest.report().video.is_some_and(|v| v.frames >= 10)
        })
        .await
    );
    // Off: it leaves the fan-out, its figures stay.
    m.stop_one(id).await;
    assert_eq!(m.running(), 0);
    assert_eq!(state(&m, id), Some(OutputState::Stopped));
    // On again: a new Output, live again, starting at a keyframe.
    m.forget(id);
    let again = m.add(ingest.destination());
    assert!(
        wait_for(Duration::from_secs(10), || state(&m, again)
            == Some(OutputState::Live))
        .await
    );
    assert_eq!(m.stats().len(), 1);
    let t0 = Instant::now();
    engine.stop().await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(m.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_going_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("take.mp4");
    let engine = Engine::start(small(), vec![]).unwrap();
    assert_eq!(engine.manager().running(), 0);
    engine.recorder().start(&path, 0).unwrap();
    assert!(
        engine
            .recorder()
            .start(&dir.path().join("second.mp4"), 0)
            .is_err(),
        "one recording at a time"
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            engine
                .recorder()
                .status()
                .is_some_and(|s| s.duration_ms >= 1500)
        })
        .await
    );
    let summary = engine
        .stop_with_recording()
        .await
        .recording
        .expect("a recording");
    assert!(summary.error.is_none(), "{summary:?}");
    assert!(
        summary.video_frames >= 40,
        "{} frames",
        summary.video_frames
    );
    assert!(summary.audio_frames > 0);
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_while_a_destination_is_reconnecting() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dest = Destination::parse(&format!("rtmp://127.0.0.1:{closed}/live/k")).unwrap();
    let engine = Engine::start(small(), vec![(dest, 0)]).unwrap();
    let m = engine.manager().clone();
    let id = engine.output_ids()[0];
    assert!(
        wait_for(Duration::from_secs(10), || {
            m.stats_of(id)
                .is_some_and(|s| s.state == OutputState::Reconnecting && s.reconnects >= 1)
        })
        .await
    );
    let t0 = Instant::now();
    engine.stop().await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t0.elapsed()
    );
    let s = m.stats_of(id).unwrap();
    assert_eq!(s.state, OutputState::Stopped);
    assert!(!s.was_live);
    assert!(s.error.is_some_and(|e| e.contains("cannot reach server")));
}
