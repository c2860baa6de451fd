//! The stream check's ingest: a real RTMP server on loopback, driving
//! `onair_rtmp::ServerSession` over tokio TCP and feeding what it receives to
//! a [`Analyzer`](crate::Analyzer).
//!
//! It listens on `127.0.0.1` at a port the OS picks and accepts only its own
//! random stream key, so nothing else on the machine can publish into it.
//! One publisher at a time; a new one (a reconnect) starts the figures over.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair_rtmp::{MediaType, ServerConfig, ServerEvent, ServerOutput, ServerSession, StreamKey};
use rand::distr::{Alphanumeric, SampleString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Analyzer, CheckReport};
use onair_output::Destination;

/// How long a connection may take from accept to publishing.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Application name of the check's URL.
pub const CHECK_APP: &str = "check";

/// Connections that did not get to publish (wrong key, garbage), kept to show.
#[derive(Debug, Default)]
struct Counters {
    refused: u32,
    last_refusal: Option<String>,
}

/// A running check ingest.
#[derive(Debug)]
pub struct CheckIngest {
    addr: SocketAddr,
    key: StreamKey,
    analyzer: Arc<Mutex<Analyzer>>,
    counters: Arc<Mutex<Counters>>,
    task: tokio::task::JoinHandle<()>,
}

impl CheckIngest {
    /// Listens on 127.0.0.1 at a free port. Must be called in a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with_setup_timeout(SETUP_TIMEOUT).await
    }

    /// Like [`start`](Self::start), with another deadline for a
    /// connection's whole setup (handshake to publish).
    pub async fn start_with_setup_timeout(setup_timeout: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let key = StreamKey::new(Alphanumeric.sample_string(&mut rand::rng(), 24));
        let analyzer = Arc::new(Mutex::new(Analyzer::new()));
        let counters = Arc::new(Mutex::new(Counters::default()));
        let task = tokio::spawn(accept_loop(
            listener,
            setup_timeout,
            key.clone(),
            analyzer.clone(),
            counters.clone(),
        ));
        tracing::info!(%addr, "stream check ingest listening");
        Ok(Self {
            addr,
            key,
            analyzer,
            counters,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The destination to publish to (carries the ingest's key).
    pub fn destination(&self) -> Destination {
        let url = format!("rtmp://{}/{CHECK_APP}/{}", self.addr, self.key.expose());
        // Our own well-formed URL; parse cannot fail on it.
        Destination::parse(&url).unwrap_or_else(|e| unreachable!("check URL: {e}"))
    }

    /// The report as of now (no verdicts: see [`CheckReport::judge`]).
    pub fn report(&self) -> CheckReport {
        let mut r = self.analyzer.lock().map(|a| a.report()).unwrap_or_default();
        if let Ok(c) = self.counters.lock() {
            if c.refused > 0 {
                r.problems.push(format!(
                    "{} connection(s) refused{}",
                    c.refused,
                    c.last_refusal
                        .as_deref()
                        .map(|e| format!(" (last: {e})"))
                        .unwrap_or_default()
                ));
            }
        }
        r
    }

    /// Waits (at most `timeout`) until the publisher has gone: after a
    /// clean stop its unpublish arrives within milliseconds, and the
    /// report then says `Ended`.
    pub async fn wait_ended(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self
            .analyzer
            .lock()
            .map(|a| a.state() == crate::CheckState::Receiving)
            .unwrap_or(false)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops listening and drops every connection.
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for CheckIngest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connections served at once. At the cap, a new connection evicts the
/// oldest one that has not published: idle or slow clients cannot lock the
/// check out, and the publisher is never evicted.
const MAX_CONNECTIONS: usize = 8;

async fn accept_loop(
    listener: TcpListener,
    setup_timeout: Duration,
    key: StreamKey,
    analyzer: Arc<Mutex<Analyzer>>,
    counters: Arc<Mutex<Counters>>,
) {
    let mut conns = tokio::task::JoinSet::new();
    // Oldest first: (task, publishing).
    let mut open: std::collections::VecDeque<(tokio::task::AbortHandle, Arc<AtomicBool>)> =
        std::collections::VecDeque::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((sock, peer)) = accepted else { continue };
                open.retain(|(h, _)| !h.is_finished());
                if open.len() >= MAX_CONNECTIONS {
                    match open.iter().position(|(_, p)| !p.load(Ordering::SeqCst)) {
                        Some(i) => {
                            if let Some((h, _)) = open.remove(i) {
                                h.abort();
                                tracing::info!("stream check: evicted an idle connection");
                            }
                        }
                        None => {
                            // Every slot publishes: refuse the newcomer.
                            drop(sock);
                            continue;
                        }
                    }
                }
                let (key, analyzer, counters) = (key.clone(), analyzer.clone(), counters.clone());
                let publishing = Arc::new(AtomicBool::new(false));
                let flag = publishing.clone();
                let handle = conns.spawn(async move {
                    if let Err(e) = serve(sock, setup_timeout, key, analyzer.clone(), flag).await {
                        tracing::info!(%peer, error = %e, "stream check connection ended");
                        if let Ok(mut c) = counters.lock() {
                            if matches!(e, ConnError::Refused(_)) {
                                c.refused += 1;
                                c.last_refusal = Some(e.to_string());
                            }
                        }
                    }
                });
                open.push_back((handle, publishing));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("{0}")]
    Refused(onair_rtmp::ServerError),
    #[error("{0}")]
    Protocol(onair_rtmp::ServerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

async fn serve(
    mut sock: TcpStream,
    setup_timeout: Duration,
    key: StreamKey,
    analyzer: Arc<Mutex<Analyzer>>,
    publishing: Arc<AtomicBool>,
) -> Result<(), ConnError> {
    let _ = sock.set_nodelay(true);
    let config = ServerConfig {
        expected_key: Some(key),
        // Acknowledge often: the publisher measures latency from acks.
        ack_window: 64 * 1024,
        setup_timeout,
        ..ServerConfig::default()
    };
    let mut session = ServerSession::new(config, Instant::now());
    let mut buf = vec![0u8; 64 * 1024];
    let mut live = false;
    let result = loop {
        // Flush and act on everything the session wants.
        while let Some(out) = session.poll_output() {
            match out {
                ServerOutput::Transmit(b) => sock.write_all(&b).await?,
                ServerOutput::Timeout(_) => {}
                ServerOutput::Event(ev) => {
                    let Ok(mut a) = analyzer.lock() else { continue };
                    match ev {
                        ServerEvent::Publishing { .. } => {
                            live = true;
                            publishing.store(true, Ordering::SeqCst);
                            a.on_publish();
                        }
                        ServerEvent::Data { body, .. } => a.on_data(&body),
                        ServerEvent::Media {
                            kind: MediaType::Video,
                            timestamp,
                            body,
                        } => a.on_video(timestamp, &body),
                        ServerEvent::Media {
                            kind: MediaType::Audio,
                            timestamp,
                            body,
                        } => a.on_audio(timestamp, &body),
                        ServerEvent::Unpublished => a.on_end(),
                        ServerEvent::Connected { .. } => {}
                    }
                }
            }
        }
        // The whole setup (handshake to publish) has one deadline, checked
        // on every read, not only the first.
        let read = match session.deadline() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                match tokio::time::timeout(wait.max(Duration::from_millis(1)), sock.read(&mut buf))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => {
                        if let Err(e) = session.handle_timeout(Instant::now()) {
                            break Err(ConnError::Protocol(e));
                        }
                        continue;
                    }
                }
            }
            None => sock.read(&mut buf).await,
        };
        let n = read?;
        if n == 0 {
            break Ok(());
        }
        if let Err(e) = session.handle_input(Instant::now(), &buf[..n]) {
            // Say why before hanging up (a refused key gets its onStatus).
            while let Some(ServerOutput::Transmit(b)) = session.poll_output() {
                let _ = sock.write_all(&b).await;
            }
            break Err(match e {
                onair_rtmp::ServerError::WrongKey => ConnError::Refused(e),
                e => ConnError::Protocol(e),
            });
        }
    };
    if live {
        if let Ok(mut a) = analyzer.lock() {
            a.on_end();
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_rtmp::{ClientConfig, ClientSession, SessionOutput};

    /// Drives a client session over TCP until it is live or fails.
    async fn publish(addr: SocketAddr, key: &str) -> Result<(TcpStream, ClientSession), String> {
        let mut sock = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let cfg = ClientConfig::new(format!("rtmp://{addr}/check"), "check", StreamKey::new(key));
        let mut s = ClientSession::new(cfg, Instant::now());
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(o) = s.poll_output() {
                if let SessionOutput::Transmit(b) = o {
                    sock.write_all(&b).await.map_err(|e| e.to_string())?;
                }
            }
            if s.is_live() {
                return Ok((sock, s));
            }
            let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(s.handle_eof().to_string());
            }
            s.handle_input(Instant::now(), &buf[..n])
                .map_err(|e| e.to_string())?;
        }
    }

    #[tokio::test]
    async fn only_its_own_key_publishes_and_garbage_does_not_stop_it() {
        let ingest = CheckIngest::start().await.unwrap();
        let addr = ingest.addr();
        assert!(addr.ip().is_loopback());
        // Garbage first: the connection is dropped, the ingest lives on.
        let mut junk = TcpStream::connect(addr).await.unwrap();
        junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), junk.read(&mut b))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
        // Someone else's key: refused as a bad name, and counted.
        let err = publish(addr, "not-the-key").await.expect_err("refused");
        assert!(err.contains("rejected"), "{err}");
        assert!(ingest
            .report()
            .problems
            .iter()
            .any(|p| p.contains("refused")));
        // Its own key: live, and the report follows the media.
        let url = ingest.destination().tc_url();
        assert!(url.starts_with(&format!("rtmp://{addr}/check")), "{url}");
        let key = ingest.key.expose().to_owned();
        let (mut sock, mut s) = publish(addr, &key).await.unwrap();
        assert_eq!(ingest.report().state, crate::CheckState::Receiving);
        let asc = onair_flv::audio_specific_config_lc(48_000, 2).unwrap();
        s.publish_audio(0, onair_flv::aac_sequence_header(&asc))
            .unwrap();
        for i in 0..10u32 {
            s.publish_audio(i * 21, onair_flv::aac_raw(&[0u8; 100]))
                .unwrap();
        }
        s.close();
        while let Some(o) = s.poll_output() {
            if let SessionOutput::Transmit(b) = o {
                sock.write_all(&b).await.unwrap();
            }
        }
        ingest.wait_ended(Duration::from_secs(5)).await;
        let r = ingest.report();
        assert_eq!(r.state, crate::CheckState::Ended);
        assert_eq!(r.audio.as_ref().map(|a| a.frames), Some(10));
        assert_eq!(r.sessions, 1);
    }

    #[tokio::test]
    async fn idle_and_slow_connections_cannot_lock_the_check_out() {
        let ingest = CheckIngest::start().await.unwrap();
        let addr = ingest.addr();
        let mut idle = Vec::new();
        for i in 0..16 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            if i % 2 == 0 {
                // Slow: a byte of the handshake, then nothing.
                s.write_all(&[3]).await.unwrap();
            }
            idle.push(s);
        }
        // Let the ingest accept them all.
        tokio::task::yield_now().await;
        let key = ingest.key.expose().to_owned();
        let (_sock, s) = publish(addr, &key)
            .await
            .expect("the real publisher gets in");
        assert!(s.is_live());
        assert_eq!(ingest.report().state, crate::CheckState::Receiving);
        // And it is not evicted by more idle ones.
        for _ in 0..16 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(ingest.report().state, crate::CheckState::Receiving);
    }

    #[tokio::test]
    async fn a_connection_that_never_publishes_is_dropped_at_the_setup_deadline() {
        let ingest = CheckIngest::start_with_setup_timeout(Duration::from_millis(500))
            .await
            .unwrap();
        let mut s = TcpStream::connect(ingest.addr()).await.unwrap();
        // C0+C1, then silence after the server's answer.
        let mut hello = vec![3u8];
        hello.extend(std::iter::repeat_n(0u8, 1536));
        s.write_all(&hello).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = 0;
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got += n,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "still open after the setup deadline");
        assert!(got > 2 * 1536, "the server answered the handshake first");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audio_that_starts_after_the_connection_gets_its_configuration_first() {
        use onair_media::{
            AudioConfig, EncodedPacket, MediaKind, MediaMessage, MediaSink, VideoConfig,
        };
        let ingest = CheckIngest::start().await.unwrap();
        let m = onair_output::OutputManager::new(tokio::runtime::Handle::current(), 700);
        m.on_media(MediaMessage::VideoConfig(VideoConfig {
            encoding: 0,
            width: 64,
            height: 48,
            fps: 30,
            bitrate_kbps: 100,
            sps: bytes::Bytes::from_static(&[
                0x67, 0x42, 0xC0, 0x0A, 0xD9, 0x04, 0x7B, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
                0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x22, 0x64, 0x80,
            ]),
            pps: bytes::Bytes::from_static(&[0x68, 0xCB, 0x83, 0xCB, 0x20]),
        }));
        m.add(ingest.destination());
        let packet = |kind, ms: i64, key, data: &'static [u8]| {
            MediaMessage::Packet(EncodedPacket {
                kind,
                encoding: 0,
                pts_ms: ms,
                dts_ms: ms,
                keyframe: key,
                data: bytes::Bytes::from_static(data),
                capture: Instant::now(),
            })
        };
        // Video flows, and the connection goes live, before any audio.
        let mut ms = 0;
        while ingest.report().video.map_or(0, |v| v.frames) < 3 {
            m.on_media(packet(
                MediaKind::Video,
                ms,
                ms % 1000 == 0,
                &[0, 0, 0, 1, 0x65, 1],
            ));
            ms += 100;
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(ms < 100_000, "never went live");
        }
        m.on_media(MediaMessage::AudioConfig(AudioConfig {
            sample_rate: 48_000,
            channels: 2,
            bitrate_kbps: 128,
            asc: bytes::Bytes::from_static(&[0x11, 0x90]),
        }));
        while ingest.report().audio.map_or(0, |a| a.frames) < 5 {
            m.on_media(packet(MediaKind::Audio, ms, true, &[0x21, 0x10]));
            m.on_media(packet(MediaKind::Video, ms, false, &[0, 0, 0, 1, 0x41, 1]));
            ms += 33;
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(ms < 100_000, "no audio arrived");
        }
        let r = ingest.report();
        assert_eq!(
            r.audio.as_ref().map(|a| a.profile.as_str()),
            Some("AAC-LC"),
            "{r:?}"
        );
        assert!(
            !r.problems.iter().any(|p| p.contains("sequence header")),
            "{:?}",
            r.problems
        );
        m.stop_all().await;
    }
}
