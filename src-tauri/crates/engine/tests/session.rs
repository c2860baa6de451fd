//! The session both front ends run, without a window: go live with the
//! stream check, switch a destination off and on by id, record without
//! going live and go live on top, end the stream while the recording goes
//! on, stop while a destination is reconnecting. Destinations are real RTMP
//! ingests on loopback (the stream check's server side).

mod common;

use std::time::{Duration, Instant};

use common::{small, wait_for};
use onair_check::ingest::CheckIngest;
use onair_check::JudgeTarget;
use onair_engine::{
    Feeds, GoLive, LiveUpdate, NamedDestination, Outcome, Session, SessionError, Studio, CHECK_ID,
};
use onair_output::{Destination, OutputState};

fn twitch() -> Vec<JudgeTarget> {
    vec![JudgeTarget::new(
        "My Twitch",
        "twitch",
        "rtmp://live.twitch.tv/app",
    )]
}

fn card(u: &LiveUpdate, id: &str) -> Option<(bool, OutputState)> {
    u.destinations
        .iter()
        .find(|d| d.id == id)
        .map(|d| (d.on, d.stats.state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goes_live_with_the_check_switches_a_destination_by_id_and_ends_with_a_verdict() {
    let ingest = CheckIngest::start().await.unwrap();
    let live = GoLive {
        destinations: vec![NamedDestination {
            id: "p1".into(),
            dest: ingest.destination(),
            encoding: 0,
        }],
        check: Some(twitch()),
    };
    let s = Session::start(small(), Some(live)).await.unwrap();
    assert!(s.is_streaming());
    assert!(!s.is_recording());
    assert!(
        wait_for(Duration::from_secs(10), || {
            let u = s.update();
            card(&u, "p1") == Some((true, OutputState::Live))
                && card(&u, CHECK_ID) == Some((true, OutputState::Live))
        })
        .await
    );
    assert!(matches!(
        s.go_live(GoLive::default()).await,
        Err(SessionError::AlreadyLive)
    ));
    assert!(matches!(
        s.switch_off("p9").await,
        Err(SessionError::NotInStream)
    ));

    // Off by id: the card stays, switched off and stopped; the check goes on.
    s.switch_off("p1").await.unwrap();
    let u = s.update();
    assert_eq!(card(&u, "p1"), Some((false, OutputState::Stopped)));
    assert_eq!(card(&u, CHECK_ID), Some((true, OutputState::Live)));
    assert_eq!(s.is_on("p1"), Some(false));
    // On again with the destination it started with: a new connection.
    s.switch_on("p1", None).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || card(&s.update(), "p1")
            == Some((true, OutputState::Live)))
        .await
    );
    assert_eq!(s.update().destinations.len(), 2, "one card per destination");

    assert!(
        wait_for(Duration::from_secs(10), || s
            .check_report()
            .and_then(|r| r.video)
            .is_some_and(|v| v.frames >= 30))
        .await
    );
    let report = s.end_stream().await.unwrap().expect("the check's report");
    assert_eq!(report.verdicts.len(), 1);
    assert_eq!(report.verdicts[0].name, "My Twitch");
    assert!(!s.is_streaming());
    assert!(s.update().destinations.is_empty());
    assert!(
        s.check_report().is_none(),
        "the check ended with the stream"
    );
    assert!(matches!(s.end_stream().await, Err(SessionError::NotLive)));
    let done = s.stop().await;
    assert_eq!(done.outcome(), Outcome::AllLive, "{:?}", done.shortfalls());
}

fn counting_feeds() -> (Feeds, tokio::sync::mpsc::UnboundedReceiver<LiveUpdate>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let feeds = Feeds {
        on_update: Box::new(move |u| tx.send(u).is_ok()),
        on_preview: Box::new(|_| true),
        on_meters: Box::new(|_| true),
    };
    (feeds, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_going_live_then_goes_live_and_ends_while_the_recording_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("take.mp4");
    let mut studio = Studio::new();
    assert!(matches!(
        studio.stop_recording().await,
        Err(SessionError::NotRecording)
    ));
    let (feeds, mut updates) = counting_feeds();
    studio.start_recording(small(), &path, feeds).await.unwrap();
    let first = updates.recv().await.expect("an update");
    assert!(!first.streaming);
    assert!(first.destinations.is_empty());
    assert!(studio.session().is_some_and(Session::is_recording));
    assert!(matches!(
        studio.end_stream().await,
        Err(SessionError::NotLive)
    ));

    // Go Live on top of the recording: same encode, the check as destination.
    let (unused, _) = counting_feeds();
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(small(), live, unused).await.unwrap();
    assert!(studio.is_streaming());
    let live_update = loop {
        let u = updates.recv().await.expect("updates go on");
        // Live, and pictures reached the check (the new Output starts at
        // the next keyframe).
        let pictures = u
            .check
            .as_ref()
            .and_then(|c| c.video.as_ref())
            .map_or(0, |v| v.frames);
        if card(&u, CHECK_ID).is_some_and(|(_, s)| s == OutputState::Live) && pictures >= 10 {
            break u;
        }
    };
    assert!(live_update.streaming);
    assert!(live_update.recording.is_some());

    // End Stream: the recording goes on, the report is kept.
    let report = studio.end_stream().await.unwrap().expect("a report");
    assert!(report.video.is_some());
    assert!(!studio.is_streaming());
    assert!(studio.session().is_some_and(Session::is_recording));
    assert!(studio.check_report().is_some(), "the last report is kept");

    // The recording goes on by itself: wait for a second of it.
    loop {
        let u = updates.recv().await.expect("updates go on while recording");
        assert!(!u.streaming);
        if u.recording.is_some_and(|r| r.duration_ms >= 1000) {
            break;
        }
    }

    // Stop Recording: nothing streams, so everything stops.
    let summary = studio.stop_recording().await.unwrap();
    assert!(summary.error.is_none(), "{summary:?}");
    assert!(summary.video_frames > 0);
    assert!(studio.session().is_none());
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    // The feeds stopped with the session: the sender is gone.
    while updates.recv().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_while_a_destination_is_reconnecting_and_names_it() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let live = GoLive {
        destinations: vec![NamedDestination {
            id: "p1".into(),
            dest: Destination::parse(&format!("rtmp://127.0.0.1:{closed}/live/k")).unwrap(),
            encoding: 0,
        }],
        check: None,
    };
    let s = Session::start(small(), Some(live)).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || {
            s.update()
                .destinations
                .iter()
                .any(|d| d.stats.state == OutputState::Reconnecting && d.stats.reconnects >= 1)
        })
        .await
    );
    let t0 = Instant::now();
    let done = s.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(done.outcome(), Outcome::SomeFellShort);
    let lines = done.shortfalls();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("never went live") && lines[0].contains("cannot reach server"),
        "{lines:?}"
    );
    assert!(!lines[0].contains("/k"), "the key is redacted: {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_receives_every_encoding_in_use_and_judges_each_destination_against_its_own() {
    let mut config = small();
    config
        .encodings
        .push("vertical=180x320@30:300:1".parse().unwrap());
    let target = |name: &str, encoding: &str| JudgeTarget {
        encoding: encoding.into(),
        ..JudgeTarget::new(name, "tiktok", "rtmp://push.example.com/live")
    };
    let live = GoLive {
        destinations: vec![],
        check: Some(vec![
            target("Landscape", ""),
            target("Vertical", "vertical"),
        ]),
    };
    let s = Session::start(config, Some(live)).await.unwrap();
    // One check row per encoding judged.
    let rows = |u: &LiveUpdate| {
        let mut r: Vec<(String, String)> = u
            .destinations
            .iter()
            .map(|d| (d.id.clone(), d.encoding.clone()))
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        rows(&s.update()),
        [
            (CHECK_ID.to_owned(), "main".to_owned()),
            (format!("{CHECK_ID}:vertical"), "vertical".to_owned())
        ]
    );
    // Both ingests have pictures: main's facts, and no "no video yet" in
    // any verdict.
    let pictures = || {
        s.check_report().is_some_and(|r| {
            r.video.as_ref().is_some_and(|v| v.frames >= 10)
                && r.verdicts.len() == 2
                && r.verdicts
                    .iter()
                    .all(|v| v.problems.iter().all(|p| p.field != "video"))
        })
    };
    assert!(wait_for(Duration::from_secs(10), pictures).await);
    let report = s.end_stream().await.unwrap().expect("the check's report");
    let video = report.video.as_ref().expect("video");
    assert_eq!(
        (video.width, video.height),
        (320, 180),
        "the facts are main's"
    );
    let verdict = |name: &str| {
        report
            .verdicts
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no verdict for {name}: {:?}", report.verdicts))
    };
    // TikTok wants 9:16: the landscape destination is warned, the vertical
    // one (judged on what its own encoding sent) is not.
    let warned = |name: &str| {
        verdict(name)
            .problems
            .iter()
            .any(|p| p.field == "orientation")
    };
    assert!(warned("Landscape"), "{:?}", verdict("Landscape"));
    assert!(
        verdict("Vertical").pass && verdict("Vertical").problems.is_empty(),
        "{:?}",
        verdict("Vertical")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_window_takes_over_the_feeds_of_the_running_stream() {
    let mut studio = Studio::new();
    let (idle, _) = counting_feeds();
    assert!(
        studio.attach(idle).await.is_none(),
        "nothing runs: nothing to attach to"
    );

    let (feeds, mut first) = counting_feeds();
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(small(), live, feeds).await.unwrap();
    first.recv().await.expect("the first window is fed");

    // The window reloads: the new one is told what runs, and fed from then.
    let (feeds, mut second) = counting_feeds();
    let now = studio.attach(feeds).await.expect("the stream runs");
    assert!(now.streaming);
    assert!(card(&now, CHECK_ID).is_some());
    // The first window's feeds stop (their senders are dropped)…
    let drained = async { while first.recv().await.is_some() {} };
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .expect("the old window's feeds stopped");
    // …and the stream did not: the new window sees it live.
    loop {
        let u = second.recv().await.expect("the new window is fed");
        assert!(u.streaming);
        if card(&u, CHECK_ID) == Some((true, OutputState::Live)) {
            break;
        }
    }
    studio.end_stream().await.unwrap();
    assert!(studio.session().is_none());
}
