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
    AudioInput, Encoding, EngineConfig, Feeds, GoLive, LiveUpdate, MeterUpdate, NamedDestination,
    Outcome, Session, SessionError, Studio, CHECK_ID,
};
use onair_media::preview::PreviewFrame;
use onair_output::{Destination, OutputState};
use tokio::sync::mpsc::UnboundedReceiver;

fn twitch() -> Vec<JudgeTarget> {
    vec![JudgeTarget::new(
        "My Twitch",
        "twitch",
        "rtmp://live.twitch.tv/app",
    )]
}

/// Whether the stream check's report shows a second of pictures (30)
/// within 10 s.
async fn check_receives_a_second(report: impl Fn() -> Option<onair_check::CheckReport>) -> bool {
    wait_for(Duration::from_secs(10), || {
        report()
            .and_then(|r| r.video)
            .is_some_and(|v| v.frames >= 30)
    })
    .await
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

    assert!(check_receives_a_second(|| s.check_report()).await);
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
        on_capture: Box::new(|_| true),
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
    assert!(studio.attach(small(), feeds).await.unwrap().is_none());
    studio.start_recording(small(), &path).await.unwrap();
    let first = updates.recv().await.expect("an update");
    assert!(!first.streaming);
    assert!(first.destinations.is_empty());
    assert!(studio.session().is_some_and(Session::is_recording));
    assert!(matches!(
        studio.end_stream().await,
        Err(SessionError::NotLive)
    ));

    // Go Live on top of the recording: same encode, the check as destination.
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(small(), live).await.unwrap();
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
    // The updates stopped with the session (they come every second).
    while updates.try_recv().is_ok() {}
    let more = tokio::time::timeout(Duration::from_millis(1500), updates.recv()).await;
    assert!(more.is_err(), "an update after the session ended: {more:?}");
    // The sources stay open for the preview until the Studio shuts down.
    assert!(studio.capture().is_some());
    studio.shut_down().await;
    assert!(studio.capture().is_none());
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
    let (feeds, mut first) = counting_feeds();
    assert!(
        studio.attach(small(), feeds).await.unwrap().is_none(),
        "nothing runs yet"
    );
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(small(), live).await.unwrap();
    first.recv().await.expect("the first window is fed");

    // The window reloads: the new one is told what runs, and fed from then.
    let (feeds, mut second) = counting_feeds();
    let now = studio
        .attach(small(), feeds)
        .await
        .unwrap()
        .expect("the stream runs");
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

/// A window's feeds as three queues: updates, pictures, meters (which
/// come together, at most one of each per preview period).
fn watching_feeds() -> (
    Feeds,
    UnboundedReceiver<LiveUpdate>,
    UnboundedReceiver<PreviewFrame>,
    UnboundedReceiver<MeterUpdate>,
) {
    let (utx, urx) = tokio::sync::mpsc::unbounded_channel();
    let (ptx, prx) = tokio::sync::mpsc::unbounded_channel();
    let (mtx, mrx) = tokio::sync::mpsc::unbounded_channel();
    let feeds = Feeds {
        on_update: Box::new(move |u| utx.send(u).is_ok()),
        on_capture: Box::new(move |c| {
            let (picture, meters) = (c.picture, c.meters);
            assert!(picture.is_some() || meters.is_some(), "an empty message");
            picture.is_none_or(|p| ptx.send(p).is_ok())
                && meters.is_none_or(|m| mtx.send(m).is_ok())
        }),
    };
    (feeds, urx, prx, mrx)
}

/// The next picture newer than any already queued.
async fn fresh_picture(pictures: &mut UnboundedReceiver<PreviewFrame>) -> PreviewFrame {
    while pictures.try_recv().is_ok() {}
    tokio::time::timeout(Duration::from_secs(5), pictures.recv())
        .await
        .expect("a picture within 5 s")
        .expect("the picture feed runs")
}

/// Waits for meters showing the tone (its 440 Hz is at about -12 dBFS).
async fn hears_the_tone(meters: &mut UnboundedReceiver<MeterUpdate>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), meters.recv()).await else {
            continue;
        };
        if m.mix.peak_dbfs.is_some_and(|p| p > -30.0) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sources_are_previewed_and_metered_before_going_live_and_stay_open_through_the_stream()
{
    let config = EngineConfig {
        preview: true,
        ..small()
    };
    let mut studio = Studio::new();
    let (feeds, _updates, mut pictures, mut meters) = watching_feeds();
    assert!(studio
        .attach(config.clone(), feeds)
        .await
        .unwrap()
        .is_none());

    // Before Go Live: the picture and the tone's level reach the window.
    let first = fresh_picture(&mut pictures).await;
    assert_eq!((first.width, first.height), (320, 180));
    assert!(fresh_picture(&mut pictures).await.seq > first.seq);
    assert!(
        hears_the_tone(&mut meters).await,
        "no level before going live"
    );
    assert!(studio.session().is_none(), "nothing is encoded yet");
    // A capture's clock starts when its sources open: the same origin is
    // the same capture.
    let opened_at = |s: &Studio| {
        s.capture()
            .expect("the sources are open")
            .media()
            .clock()
            .origin()
    };
    let opened = opened_at(&studio);

    // Go Live encodes the sources already open: nothing is reopened.
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(config.clone(), live).await.unwrap();
    assert_eq!(opened_at(&studio), opened);
    assert!(check_receives_a_second(|| studio.check_report()).await);
    let report = studio.end_stream().await.unwrap().expect("a report");
    let video = report.video.expect("video reached the check");
    assert!(video.frames >= 30);

    // End Stream keeps the preview and the meters.
    assert!(studio.session().is_none());
    assert_eq!(opened_at(&studio), opened);
    let after = fresh_picture(&mut pictures).await;
    assert!(after.seq > first.seq);
    assert!(
        hears_the_tone(&mut meters).await,
        "no level after the stream"
    );

    // Other sources are shown at once: another canvas, no audio.
    let square = EngineConfig {
        encodings: vec![Encoding::main(240, 240, 30, 300, 1)],
        audio: AudioInput::None,
        ..config
    };
    studio.show_sources(&square).await.unwrap();
    assert_ne!(opened_at(&studio), opened);
    let p = fresh_picture(&mut pictures).await;
    assert_eq!((p.width, p.height), (240, 240));
    assert!(studio.capture().unwrap().meters().is_none());
    // …and the window's meters are told to rest.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match meters.recv().await {
                Some(m) if m == MeterUpdate::silent() => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(rest, Ok(true), "the meters were not told to rest");
    studio.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimised_window_gets_no_pictures_or_meters_none_are_made_and_the_stream_goes_on() {
    let config = EngineConfig {
        preview: true,
        ..small()
    };
    let mut studio = Studio::new();
    let (feeds, mut updates, mut pictures, mut meters) = watching_feeds();
    studio.attach(config.clone(), feeds).await.unwrap();
    let live = GoLive {
        destinations: vec![],
        check: Some(twitch()),
    };
    studio.go_live(config, live).await.unwrap();
    let shown = fresh_picture(&mut pictures).await;

    studio.set_shown(false);
    // What was on its way when the window went away arrives; then nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while pictures.try_recv().is_ok() {}
    while meters.try_recv().is_ok() {}
    let preview = studio.capture().unwrap().preview().clone();
    let last_made = preview.newer_than(0).expect("pictures were made").seq;
    let quiet = Duration::from_secs(1);
    assert!(
        tokio::time::timeout(quiet, pictures.recv()).await.is_err(),
        "a picture reached the minimised window"
    );
    assert!(
        tokio::time::timeout(quiet, meters.recv()).await.is_err(),
        "meters reached the minimised window"
    );
    assert_eq!(
        preview.newer_than(last_made),
        None,
        "a picture was made for nobody"
    );
    // The stream and its once-a-second update go on.
    let frames = |s: &Studio| {
        s.check_report()
            .and_then(|r| r.video)
            .map_or(0, |v| v.frames)
    };
    let before = frames(&studio);
    while updates.try_recv().is_ok() {}
    let u = tokio::time::timeout(Duration::from_secs(3), updates.recv())
        .await
        .expect("an update within 3 s")
        .expect("the update feed runs");
    assert!(u.streaming);
    assert!(frames(&studio) > before, "the check stopped receiving");

    // Shown again: the picture and the levels are back at once.
    studio.set_shown(true);
    let back = fresh_picture(&mut pictures).await;
    assert!(back.seq > shown.seq);
    assert!(
        hears_the_tone(&mut meters).await,
        "no level when shown again"
    );
    studio.end_stream().await.unwrap();
    studio.shut_down().await;
}
