//! Continuity of one Output against a scripted ingest built on our own
//! `ServerSession` (real TCP on loopback): the reconnect policy by what the
//! server knows, and the Enhanced RTMP make-before-break move.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_media::{EncodedPacket, MediaKind, MediaMessage, MediaSink, VideoConfig};
use onair_output::{Destination, ErrorClass, OutputManager, OutputState};
use onair_rtmp::{MediaType, ServerConfig, ServerEvent, ServerOutput, ServerSession, StreamKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "continuity_k3y";

/// What the ingest does with connection number `n` (0-based).
#[derive(Debug, Clone)]
enum Play {
    /// Accepts and records.
    Accept,
    /// Refuses the publish with `NetStream.Publish.BadName`.
    Reject,
    /// Accepts, then hangs up after this many video frames.
    CloseAfter(usize),
    /// Accepts, then asks the client to reconnect to this tcUrl after this
    /// many video frames.
    AskMove(usize, Option<String>),
}

#[derive(Debug, Clone)]
struct Got {
    conn: usize,
    timestamp: u32,
    keyframe: bool,
    /// The frame number the test wrote into the picture (video NALUs only).
    frame: Option<u32>,
}

struct Ingest {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<Got>>>,
    unpublished: Arc<AtomicUsize>,
}

impl Ingest {
    async fn start(script: Vec<Play>, conn_offset: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let unpublished = Arc::new(AtomicUsize::new(0));
        let (c, g, u) = (connections.clone(), got.clone(), unpublished.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let play = script.get(n).cloned().unwrap_or(Play::Accept);
                tokio::spawn(serve(sock, n + conn_offset, play, g.clone(), u.clone()));
            }
        });
        Self {
            addr,
            connections,
            got,
            unpublished,
        }
    }

    fn url(&self) -> String {
        format!("rtmp://{}/live/{KEY}", self.addr)
    }

    fn frames(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.frame.is_some())
            .cloned()
            .collect()
    }
}

async fn serve(
    mut sock: TcpStream,
    conn: usize,
    play: Play,
    got: Arc<Mutex<Vec<Got>>>,
    unpublished: Arc<AtomicUsize>,
) {
    let expected = match play {
        Play::Reject => "someone-else",
        _ => KEY,
    };
    let config = ServerConfig {
        expected_key: Some(StreamKey::new(expected)),
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config, Instant::now());
    let mut buf = vec![0u8; 64 * 1024];
    let mut frames = 0usize;
    let mut asked = false;
    loop {
        while let Some(o) = s.poll_output() {
            match o {
                ServerOutput::Transmit(b) => {
                    let sent = sock.write_all(&b).await;
                    if sent.is_err() {
                        return;
                    }
                }
                ServerOutput::Event(ServerEvent::Media {
                    kind: MediaType::Video,
                    timestamp,
                    body,
                }) => {
                    let nalu = body.len() >= 9 && body[1] == 1;
                    let frame = nalu.then(|| {
                        let t = &body[body.len() - 4..];
                        t.iter().fold(0u32, |n, b| (n << 7) | u32::from(b & 0x7F))
                    });
                    if nalu {
                        frames += 1;
                    }
                    got.lock().unwrap().push(Got {
                        conn,
                        timestamp,
                        keyframe: body[0] >> 4 == 1,
                        frame,
                    });
                }
                ServerOutput::Event(ServerEvent::Unpublished) => {
                    unpublished.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        match &play {
            Play::CloseAfter(n) if frames >= *n => return,
            Play::AskMove(n, url) if frames >= *n && !asked => {
                asked = true;
                s.request_reconnect(url.as_deref(), "moving you").unwrap();
                continue;
            }
            _ => {}
        }
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.handle_input(Instant::now(), &buf[..n]).is_err() {
            // Say why (a refused key gets its onStatus), then hang up.
            while let Some(ServerOutput::Transmit(b)) = s.poll_output() {
                let _ = sock.write_all(&b).await;
            }
            return;
        }
    }
}

fn video_config() -> MediaMessage {
    MediaMessage::VideoConfig(VideoConfig {
        encoding: 0,
        width: 64,
        height: 48,
        fps: 30,
        bitrate_kbps: 100,
        sps: Bytes::from_static(&[
            0x67, 0x42, 0xC0, 0x0A, 0xD9, 0x04, 0x7B, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
            0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x22, 0x64, 0x80,
        ]),
        pps: Bytes::from_static(&[0x68, 0xCB, 0x83, 0xCB, 0x20]),
    })
}

/// Frame `i` at 30 fps, a keyframe every `gop` frames; its number is in the
/// last four bytes of the picture.
fn frame(i: u32, gop: u32) -> MediaMessage {
    let key = i.is_multiple_of(gop);
    let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }, 0x88];
    // 7 bits a byte, top bit set: never a start code inside the picture.
    data.extend((0..4).rev().map(|k| 0x80 | ((i >> (7 * k)) & 0x7F) as u8));
    let ms = i64::from(i) * 1000 / 30;
    MediaMessage::Packet(EncodedPacket {
        kind: MediaKind::Video,
        encoding: 0,
        pts_ms: ms,
        dts_ms: ms,
        keyframe: key,
        data: Bytes::from(data),
        capture: Instant::now(),
    })
}

async fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requested_reconnect_moves_before_breaking_and_loses_no_frame() {
    let b = Ingest::start(vec![], 1).await;
    let target = format!("rtmp://{}/live", b.addr);
    let a = Ingest::start(vec![Play::AskMove(40, Some(target))], 0).await;
    let m = OutputManager::new(tokio::runtime::Handle::current(), 700);
    m.on_media(video_config());
    let mut events = m.subscribe();
    let id = m.add(Destination::parse(&a.url()).unwrap());
    assert!(
        wait_until(Duration::from_secs(10), || {
            m.stats_of(id).map(|s| s.state) == Some(OutputState::Live)
        })
        .await
    );
    // Frames at twice real time, a keyframe every 15.
    let mut i = 0u32;
    while b.frames().len() < 60 {
        m.on_media(frame(i, 15));
        i += 1;
        tokio::time::sleep(Duration::from_millis(16)).await;
        assert!(i < 3000, "never moved: {} frames at B", b.frames().len());
    }
    // Let the last frames in flight arrive, then stop cleanly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    m.stop_all().await;
    let (at_a, at_b) = (a.frames(), b.frames());
    assert_eq!(
        b.connections.load(Ordering::SeqCst),
        1,
        "one new connection"
    );
    assert_eq!(
        a.unpublished.load(Ordering::SeqCst),
        1,
        "the old one unpublished"
    );
    assert!(at_a.iter().all(|g| g.conn == 0) && at_b.iter().all(|g| g.conn == 1));
    // No frame missing, none twice: A's frames then B's are 0..n in order.
    let numbers: Vec<u32> = at_a.iter().chain(&at_b).filter_map(|g| g.frame).collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as u32).collect::<Vec<_>>(),
        "frames lost or repeated across the move"
    );
    // B starts at a keyframe, right after A's last frame.
    assert!(at_b[0].keyframe, "the new connection starts at a keyframe");
    assert_eq!(at_b[0].frame.unwrap() % 15, 0);
    // One timeline: timestamps go on across the move.
    let ts: Vec<u32> = at_a.iter().chain(&at_b).map(|g| g.timestamp).collect();
    assert!(
        ts.windows(2).all(|w| w[1] > w[0]),
        "timestamps not monotonic across the move: {ts:?}"
    );
    let s = m.stats_of(id).unwrap();
    assert_eq!(s.reconnects, 0, "a move is not a reconnect");
    let mut moved = false;
    while let Ok(e) = events.try_recv() {
        moved |= matches!(e, onair_output::OutputEvent::Moved { .. });
    }
    assert!(moved, "a Moved event");
    eprintln!(
        "move: {} frames on the old connection, {} on the new, switch at frame {}",
        at_a.len(),
        at_b.len(),
        at_b[0].frame.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_on_the_first_connection_fails_at_once_with_one_connection() {
    let a = Ingest::start(vec![Play::Reject; 10], 0).await;
    let m = OutputManager::new(tokio::runtime::Handle::current(), 700);
    m.on_media(video_config());
    let id = m.add(Destination::parse(&a.url()).unwrap());
    assert!(
        wait_until(Duration::from_secs(10), || {
            m.stats_of(id).map(|s| s.state) == Some(OutputState::Failed)
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        a.connections.load(Ordering::SeqCst),
        1,
        "retried a wrong key"
    );
    let s = m.stats_of(id).unwrap();
    assert_eq!(s.error_kind, Some(ErrorClass::KeyRejected));
    assert!(!s.was_live);
    assert_eq!(m.running(), 0, "a failed Output leaves the fan-out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_after_having_been_live_is_retried_until_the_server_lets_go() {
    // Live, then the server hangs up; it refuses the next two publishes (it
    // "still holds" the old one), then accepts.
    let a = Ingest::start(
        vec![
            Play::CloseAfter(10),
            Play::Reject,
            Play::Reject,
            Play::Accept,
        ],
        0,
    )
    .await;
    let m = OutputManager::new(tokio::runtime::Handle::current(), 700);
    m.on_media(video_config());
    let id = m.add(Destination::parse(&a.url()).unwrap());
    let mut i = 0;
    let mut states = Vec::new();
    let mut held_shown = false;
    while a.connections.load(Ordering::SeqCst) < 4
        || m.stats_of(id).map(|s| s.state) != Some(OutputState::Live)
    {
        m.on_media(frame(i, 15));
        i += 1;
        let s = m.stats_of(id).unwrap();
        if s.error_kind == Some(ErrorClass::Held) {
            held_shown = true;
            let e = s.error.clone().unwrap_or_default();
            assert!(e.contains("still holds the previous connection"), "{e}");
        }
        if states.last() != Some(&s.state) {
            states.push(s.state);
        }
        assert_ne!(s.state, OutputState::Failed, "{:?}", s.error);
        tokio::time::sleep(Duration::from_millis(33)).await;
        assert!(i < 900, "not live again: {states:?}");
    }
    assert!(held_shown, "the card said why it retries");
    let s = m.stats_of(id).unwrap();
    assert_eq!(s.reconnects, 3);
    m.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_after_live_give_up_after_the_bound() {
    // Live once, then every publish is refused.
    let b = Ingest::start(
        std::iter::once(Play::CloseAfter(5))
            .chain(std::iter::repeat_n(Play::Reject, 100))
            .collect(),
        0,
    )
    .await;
    let m = OutputManager::new(tokio::runtime::Handle::current(), 700);
    m.set_rejected_give_up(Duration::from_secs(2));
    m.on_media(video_config());
    let id = m.add(Destination::parse(&b.url()).unwrap());
    let mut i = 0;
    let started = Instant::now();
    while m.stats_of(id).map(|s| s.state) != Some(OutputState::Failed) {
        m.on_media(frame(i, 15));
        i += 1;
        tokio::time::sleep(Duration::from_millis(33)).await;
        assert!(started.elapsed() < Duration::from_secs(20), "never gave up");
    }
    let s = m.stats_of(id).unwrap();
    assert!(s.was_live);
    let e = s.error.unwrap_or_default();
    assert!(e.contains("still refused after"), "{e}");
    assert!(b.connections.load(Ordering::SeqCst) >= 3);
}
