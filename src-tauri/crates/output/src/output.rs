//! One Output: a `ClientSession` driven over tokio TCP to one destination,
//! with its send queue, reconnect with backoff, and stats.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use onair_rtmp::{
    ClientConfig, ClientSession, SessionEvent, SessionOutput, CLIENT_HANDSHAKE_BYTES,
};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, Notify};

use crate::dest::{Destination, Scheme};
use crate::queue::{SendQueue, Tag, TagKind};
use crate::stats::{OutputState, StatsInner};
use crate::{Headers, OutputEvent};

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes handed to the session and not yet written before we stop pulling
/// from the queue (the rest waits in the queue, where the drop policy acts).
const HIGH_WATER: usize = 64 * 1024;
/// TCP_NOTSENT_LOWAT of every Output socket.
const NOTSENT_LOWAT: u32 = 64 * 1024;
/// How long a clean stop may spend flushing and unpublishing.
const STOP_FLUSH: Duration = Duration::from_millis(1500);
/// No byte written for this long while data waits: the connection is stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Happy Eyeballs (RFC 8305): the next address is tried this long after the
/// previous attempt started, if it has not connected yet.
pub const CONNECT_STAGGER: Duration = Duration::from_millis(250);
/// After a destination has been live, how long the server may go on
/// refusing to publish (it still holds the previous connection: nginx-rtmp
/// until `drop_idle_publisher` or its socket timeout, often 10-60 s) before
/// the destination is given up as Failed.
pub const DEFAULT_REJECTED_GIVE_UP: Duration = Duration::from_secs(5 * 60);

/// Why one connection attempt ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputError {
    /// Could not reach the server.
    #[error("cannot reach server: {0}")]
    Connect(String),
    /// Reading or writing the socket failed.
    #[error("connection lost: {0}")]
    Io(String),
    /// The RTMP session failed.
    #[error(transparent)]
    Session(#[from] onair_rtmp::Error),
    /// TLS failed: certificate expired, untrusted, for another host...
    #[error("{0}")]
    Tls(String),
    /// Nothing could be written for too long, or the queue overflowed.
    #[error("connection stalled: the server is not taking data")]
    Stalled,
}

impl OutputError {
    /// The kind of error, for the user.
    pub fn class(&self) -> crate::stats::ErrorClass {
        use crate::stats::ErrorClass as C;
        use onair_rtmp::Error as E;
        match self {
            OutputError::Connect(_) => C::Unreachable,
            OutputError::Io(_) => C::ServerClosed,
            OutputError::Tls(_) => C::Tls,
            OutputError::Stalled => C::Stalled,
            OutputError::Session(e) => match e {
                E::KeyRejected { .. } => C::KeyRejected,
                E::ConnectRejected { .. } => C::AppRejected,
                E::Rejected { .. } => C::Refused,
                E::PeerClosed { .. } | E::Closed => C::ServerClosed,
                E::Timeout { .. } => C::Stalled,
                _ => C::Protocol,
            },
        }
    }

    /// Whether a retry can help on a destination that has never been live.
    pub fn is_retryable(&self) -> bool {
        match self {
            OutputError::Session(e) => e.is_retryable(),
            _ => true,
        }
    }

    /// Whether the server refused a step (key, application path, stream).
    pub fn is_rejection(&self) -> bool {
        matches!(self, OutputError::Session(e) if e.is_rejection())
    }
}

/// State shared between an Output's task, the encoder threads and the UI.
#[derive(Debug)]
pub struct OutputShared {
    /// Its identity in the manager.
    pub id: u64,
    /// Where it goes.
    pub dest: Destination,
    /// The video encoding it sends (index in the pipeline's encodings).
    pub encoding: usize,
    pub(crate) queue: Mutex<SendQueue>,
    pub(crate) notify: Notify,
    pub(crate) stats: Mutex<StatsInner>,
    stop: AtomicBool,
    stop_notify: Notify,
    /// Its task has ended (stopped or failed for good): the fan-out drops it.
    finished: AtomicBool,
    /// See [`DEFAULT_REJECTED_GIVE_UP`].
    pub(crate) rejected_give_up: Duration,
}

impl OutputShared {
    pub(crate) fn new(
        id: u64,
        dest: Destination,
        encoding: usize,
        drop_threshold_ms: u32,
        rejected_give_up: Duration,
    ) -> Self {
        Self {
            id,
            dest,
            encoding,
            queue: Mutex::new(SendQueue::new(drop_threshold_ms)),
            notify: Notify::new(),
            stats: Mutex::new(StatsInner::new()),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            finished: AtomicBool::new(false),
            rejected_give_up,
        }
    }

    /// Whether its task has ended.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// Text safe to show: the key replaced by `***`.
    fn shown(&self, text: &str) -> String {
        self.dest.key.redact(text)
    }

    /// Offers a tag (never blocks).
    pub(crate) fn push(&self, tag: Tag) {
        if let Ok(mut q) = self.queue.lock() {
            q.push(tag);
        }
        self.notify.notify_one();
    }

    /// Asks the task to stop (cleanly: queued media is sent, then unpublish).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stop_notify.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn with_stats<R>(&self, f: impl FnOnce(&mut StatsInner) -> R) -> Option<R> {
        self.stats.lock().ok().map(|mut s| f(&mut s))
    }

    fn set_accepting(&self, on: bool) {
        if let Ok(mut q) = self.queue.lock() {
            q.set_accepting(on);
        }
    }
}

/// A byte stream an Output can run over: TCP or TLS over TCP.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Backoff before retry number `attempt` (0-based): about 0.5 s, then x1.5
/// with up to 20 % jitter, capped at 30 s.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 0.5 * 1.5f64.powi(attempt.min(30) as i32);
    let secs = (base * (1.0 + 0.2 * jitter.clamp(0.0, 1.0))).min(30.0);
    Duration::from_secs_f64(secs)
}

/// Runs an Output until it is stopped or fails for good.
pub(crate) async fn run(
    shared: Arc<OutputShared>,
    headers: Arc<Mutex<Headers>>,
    events: broadcast::Sender<OutputEvent>,
) {
    run_inner(&shared, &headers, &events).await;
    shared.finished.store(true, Ordering::SeqCst);
}

/// What to do after a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Give up: Failed with this message.
    Fail(String),
    /// Try again after the backoff, showing this message.
    Retry(String),
}

/// The reconnect policy. A rejection (key, application path, stream) on a
/// destination that has never been live in this run is final: a wrong key
/// or URL. After it has been live, the server usually still holds the
/// previous connection: retry, until rejections have gone on for
/// `give_up` in a row.
fn next_step(
    e: &OutputError,
    been_live: bool,
    rejected_for: Option<Duration>,
    give_up: Duration,
) -> Next {
    let text = e.to_string();
    if !e.is_rejection() {
        return Next::Retry(text);
    }
    if !been_live {
        return Next::Fail(text);
    }
    match rejected_for {
        Some(d) if d >= give_up => Next::Fail(format!(
            "{text}; still refused after {} s of retrying",
            d.as_secs()
        )),
        _ => Next::Retry(format!(
            "the server still holds the previous connection; retrying ({text})"
        )),
    }
}

async fn run_inner(
    shared: &Arc<OutputShared>,
    headers: &Arc<Mutex<Headers>>,
    events: &broadcast::Sender<OutputEvent>,
) {
    let mut attempt = 0u32;
    let mut been_live = false;
    // First of the rejections in a row since the destination was last live.
    let mut rejected_since: Option<Instant> = None;
    loop {
        if shared.stopping() {
            break;
        }
        // The last error (if any) stays on the card while connecting.
        shared.with_stats(|s| s.set_state(OutputState::Connecting, None));
        let mut went_live = false;
        let result = connect_once(shared, headers, events, &mut went_live).await;
        shared.set_accepting(false);
        if went_live {
            been_live = true;
            rejected_since = None;
            attempt = 0;
        }
        let e = match result {
            Ok(()) => break,
            Err(e) => e,
        };
        if shared.stopping() {
            break;
        }
        let rejected_for = if e.is_rejection() {
            Some(rejected_since.get_or_insert_with(Instant::now).elapsed())
        } else {
            rejected_since = None;
            None
        };
        let class = match e.class() {
            crate::stats::ErrorClass::KeyRejected | crate::stats::ErrorClass::Refused
                if been_live =>
            {
                crate::stats::ErrorClass::Held
            }
            c => c,
        };
        match next_step(&e, been_live, rejected_for, shared.rejected_give_up) {
            Next::Fail(msg) => {
                let msg = shared.shown(&msg);
                tracing::warn!(dest = %shared.dest, error = %msg, "destination failed");
                shared.with_stats(|s| {
                    s.set_state(OutputState::Failed, Some(msg));
                    s.error_kind = Some(class);
                });
                let _ = events.send(OutputEvent::Failed {
                    dest: shared.dest.redacted(),
                });
                return;
            }
            Next::Retry(msg) => {
                let delay = backoff(attempt, rand::random::<f64>());
                attempt += 1;
                let msg = shared.shown(&msg);
                tracing::info!(dest = %shared.dest, error = %msg, retry_in = ?delay, "reconnecting");
                let until = Instant::now() + delay;
                shared.with_stats(|s| {
                    s.reconnects += 1;
                    s.next_retry = Some(until);
                    s.set_state(OutputState::Reconnecting, Some(msg));
                    s.error_kind = Some(class);
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.stop_notify.notified() => {}
                }
            }
        }
    }
    shared.with_stats(|s| {
        let e = s.error.clone();
        s.set_state(OutputState::Stopped, e)
    });
}

/// Resolves `host` and connects to the first address that answers, Happy
/// Eyeballs style (RFC 8305): addresses alternate between families (the
/// resolver's first family first); each attempt starts when the previous
/// one failed or [`CONNECT_STAGGER`] after it started, whichever is first.
/// A black-holed address (IPv6 broken on the path, a dead A record) then
/// costs 250 ms, not the whole connect timeout.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, OutputError> {
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| OutputError::Connect(format!("resolving {host} timed out")))?
            .map_err(|e| OutputError::Connect(format!("cannot resolve {host}: {e}")))?
            .collect();
    let attempt = |a: SocketAddr| async move { TcpStream::connect(a).await };
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        connect_staggered(interleave_families(addrs), CONNECT_STAGGER, attempt),
    )
    .await
    .map_err(|_| OutputError::Connect("timed out".into()))?
    .map_err(|e| OutputError::Connect(e.to_string()))
}

/// Orders addresses as RFC 8305 section 4 asks: alternate families,
/// starting with the family of the first address.
pub fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut a, mut b): (VecDeque<SocketAddr>, VecDeque<SocketAddr>) =
        addrs.iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(addrs.len());
    loop {
        match (a.pop_front(), b.pop_front()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// Connects to the first of `addrs` that succeeds, starting attempt `i+1`
/// when attempt `i` failed or `stagger` after it started. The other
/// attempts are dropped (aborted) once one connects.
pub async fn connect_staggered<T, F, Fut>(
    addrs: Vec<SocketAddr>,
    stagger: Duration,
    connect: F,
) -> std::io::Result<T>
where
    T: Send + 'static,
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>> + Send + 'static,
{
    let mut pending = addrs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut last_err = None;
    loop {
        if let Some(a) = pending.next() {
            running.spawn(connect(a));
        } else if running.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to")
            }));
        }
        // Wait for a result, or the stagger if there is another address.
        let more = pending.len() > 0;
        tokio::select! {
            r = running.join_next() => match r {
                Some(Ok(Ok(t))) => return Ok(t),
                Some(Ok(Err(e))) => last_err = Some(e),
                Some(Err(e)) => last_err = Some(std::io::Error::other(e.to_string())),
                None => {}
            },
            _ = tokio::time::sleep(stagger), if more => {}
        }
        // Keep waiting on the running attempts when nothing is left to start.
        while pending.len() == 0 && !running.is_empty() {
            match running.join_next().await {
                Some(Ok(Ok(t))) => return Ok(t),
                Some(Ok(Err(e))) => last_err = Some(e),
                Some(Err(e)) => last_err = Some(std::io::Error::other(e.to_string())),
                None => break,
            }
        }
    }
}

/// One connection: its socket halves, its session and its bookkeeping.
struct Conn {
    rd: ReadHalf<Box<dyn Io>>,
    wr: WriteHalf<Box<dyn Io>>,
    fd: std::os::fd::RawFd,
    session: ClientSession,
    driver: Driver,
    last_rtt_probe: Instant,
    rbuf: Vec<u8>,
}

impl Conn {
    /// Bytes from the server (0: it closed the connection).
    fn on_read(&mut self, r: std::io::Result<usize>) -> Result<(), OutputError> {
        let n = r.map_err(|e| OutputError::Io(e.to_string()))?;
        if n == 0 {
            return Err(self.session.handle_eof().into());
        }
        self.session.handle_input(Instant::now(), &self.rbuf[..n])?;
        Ok(())
    }

    /// A socket write returned.
    fn on_written(
        &mut self,
        r: std::io::Result<usize>,
        shared: &OutputShared,
    ) -> Result<(), OutputError> {
        let n = r.map_err(|e| OutputError::Io(e.to_string()))?;
        self.driver.advance(n, shared);
        Ok(())
    }

    /// The session's deadline passed.
    fn on_deadline(&mut self) -> Result<(), OutputError> {
        self.session.handle_timeout(Instant::now())?;
        self.driver.deadline = None;
        Ok(())
    }
}

/// Opens the TCP (and TLS) connection to `dest` and starts its session.
async fn open(dest: &Destination) -> Result<Conn, OutputError> {
    let tcp = connect_tcp(&dest.host, dest.port).await?;
    tcp.set_nodelay(true)
        .map_err(|e| OutputError::Io(e.to_string()))?;
    // Keep unsent bytes in the kernel small: media waiting for a slow link
    // then waits in our queue, where the drop policy and the indicators see
    // it, instead of in a multi-megabyte socket buffer (seconds of hidden
    // latency). In-flight data (the path's bandwidth-delay product) is not
    // limited.
    set_notsent_lowat(&tcp, NOTSENT_LOWAT);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
    let io: Box<dyn Io> = match dest.scheme {
        Scheme::Rtmp => Box::new(tcp),
        Scheme::Rtmps => {
            match tokio::time::timeout(CONNECT_TIMEOUT, crate::tls::connect(&dest.host, tcp)).await
            {
                Ok(Ok(s)) => Box::new(s),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(OutputError::Tls("TLS handshake timed out".into())),
            }
        }
    };
    let (rd, wr) = tokio::io::split(io);
    let mut cfg = ClientConfig::new(dest.tc_url(), dest.app.clone(), dest.key.clone());
    cfg.random_seed = rand::random();
    // The Output acts on ReconnectRequest (make before break).
    cfg.caps_ex = onair_rtmp::CAPS_EX_RECONNECT;
    Ok(Conn {
        rd,
        wr,
        fd,
        session: ClientSession::new(cfg, Instant::now()),
        driver: Driver::new(),
        last_rtt_probe: Instant::now(),
        rbuf: vec![0u8; 64 * 1024],
    })
}

/// Connects to `dest` and drives the session until it publishes (the
/// second connection of a make-before-break move).
async fn open_live(dest: Destination, shared: Arc<OutputShared>) -> Result<Conn, OutputError> {
    let mut c = open(&dest).await?;
    loop {
        c.driver.drain(&mut c.session, &shared, false)?;
        if c.driver.live {
            return Ok(c);
        }
        let deadline = c.driver.deadline;
        tokio::select! {
            r = c.rd.read(&mut c.rbuf) => c.on_read(r)?,
            r = write_some(&mut c.wr, &c.driver.wbuf), if !c.driver.wbuf.is_empty() => {
                c.on_written(r, &shared)?;
            }
            _ = sleep_until_opt(deadline), if deadline.is_some() => c.on_deadline()?,
        }
    }
}

/// A connection being replaced: what it already took from the queue is
/// sent, then it unpublishes and closes; bounded.
async fn retire(mut old: Conn, shared: Arc<OutputShared>) {
    old.session.close();
    let _ = old.driver.drain(&mut old.session, &shared, false);
    let flush = async {
        while !old.driver.wbuf.is_empty() {
            let n = write_some(&mut old.wr, &old.driver.wbuf).await?;
            old.driver.advance(n, &shared);
        }
        old.wr.shutdown().await
    };
    let _ = tokio::time::timeout(STOP_FLUSH, flush).await;
}

type Pending =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Conn, OutputError>> + Send>>;

async fn connect_once(
    shared: &Arc<OutputShared>,
    headers: &Arc<Mutex<Headers>>,
    events: &broadcast::Sender<OutputEvent>,
    went_live: &mut bool,
) -> Result<(), OutputError> {
    let mut c = tokio::select! {
        r = open(&shared.dest) => r?,
        _ = shared.stop_notify.notified() => return Ok(()),
    };
    // Make before break: the next connection while it is being set up, and
    // once it publishes, until the next keyframe.
    let mut moving: Option<Pending> = None;
    let mut ready: Option<Conn> = None;
    loop {
        c.driver.drain(&mut c.session, shared, true)?;
        if let Some(tc_url) = c.driver.move_request.take() {
            if moving.is_none() && ready.is_none() {
                match shared.dest.reconnect_target(tc_url.as_deref()) {
                    Ok(target) => {
                        tracing::info!(dest = %shared.dest, to = %target, "server asked to reconnect; connecting before leaving");
                        moving = Some(Box::pin(open_live(target, shared.clone())));
                    }
                    Err(e) => {
                        tracing::warn!(dest = %shared.dest, error = %e, "server asked to reconnect to an unusable address; staying");
                    }
                }
            }
        }
        if c.driver.live {
            let handover = c.driver.feed(
                &mut c.session,
                shared,
                headers,
                events,
                false,
                ready.is_some(),
            )?;
            *went_live = true;
            if handover {
                if let Some(mut next) = ready.take() {
                    // Same timeline on the new connection: its timestamps
                    // go on from the old one's, headers first.
                    next.driver.ts_base = c.driver.ts_base;
                    next.driver.need_headers = true;
                    shared.set_accepting(true);
                    let old = std::mem::replace(&mut c, next);
                    tokio::spawn(retire(old, shared.clone()));
                    tracing::info!(dest = %shared.dest, "moved to the new connection at a keyframe");
                    let _ = events.send(OutputEvent::Moved {
                        dest: shared.dest.redacted(),
                    });
                    continue;
                }
            }
        }
        if shared.stopping() {
            return c
                .driver
                .finish(c.session, c.wr, shared, headers, events)
                .await;
        }
        if c.last_rtt_probe.elapsed() >= RTT_PROBE_EVERY {
            c.last_rtt_probe = Instant::now();
            // The fd belongs to `c.rd`/`c.wr`, both alive here.
            if let Some(rtt) = tcp_rtt(c.fd) {
                c.driver.rtt = rtt;
                shared.with_stats(|s| s.record_rtt(rtt));
            }
        }
        if !c.driver.wbuf.is_empty() && c.driver.last_progress.elapsed() > STALL_TIMEOUT {
            return Err(OutputError::Stalled);
        }
        let deadline = c.driver.deadline;
        let can_take = c.driver.live && c.driver.wbytes + c.session.pending_bytes() < HIGH_WATER;
        tokio::select! {
            _ = shared.stop_notify.notified() => {}
            r = c.rd.read(&mut c.rbuf) => c.on_read(r)?,
            r = write_some(&mut c.wr, &c.driver.wbuf), if !c.driver.wbuf.is_empty() => {
                c.on_written(r, shared)?;
            }
            _ = shared.notify.notified(), if can_take => {}
            _ = sleep_until_opt(deadline), if deadline.is_some() => c.on_deadline()?,
            r = async { moving.as_mut().expect("guarded").await }, if moving.is_some() => {
                moving = None;
                match r {
                    Ok(next) => ready = Some(next),
                    Err(e) => {
                        let msg = shared.shown(&e.to_string());
                        tracing::warn!(dest = %shared.dest, error = %msg, "the new connection failed; staying on the current one");
                    }
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)), if !c.driver.wbuf.is_empty() => {}
        }
    }
}

/// Sets TCP_NOTSENT_LOWAT (Linux, macOS); elsewhere a no-op.
#[cfg(target_os = "linux")]
fn set_notsent_lowat(tcp: &TcpStream, bytes: u32) {
    use std::os::fd::AsRawFd;
    let v = bytes as libc::c_int;
    // SAFETY: `tcp` is borrowed, so its fd is an open socket for the whole
    // call; the option value is a c_int that outlives the call, and its size
    // is passed exactly.
    let r = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        tracing::debug!(
            "TCP_NOTSENT_LOWAT not set: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn set_notsent_lowat(_tcp: &TcpStream, _bytes: u32) {}

/// How often the TCP round trip is read.
const RTT_PROBE_EVERY: Duration = Duration::from_millis(500);

/// Smoothed round-trip time of a connected TCP socket, from TCP_INFO.
#[cfg(target_os = "linux")]
fn tcp_rtt(fd: std::os::fd::RawFd) -> Option<Duration> {
    // SAFETY: tcp_info is a plain C struct of integers, for which all-zero
    // bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are valid for writes of the sizes given and
    // outlive the call; the kernel writes at most `len` bytes. `fd` is read
    // after the TcpStream moved into the TLS stream and the split halves:
    // the caller (`Conn`) holds those halves, so the socket (and its fd) is
    // open for as long as the Conn, and the fd cannot have been closed and
    // reused for another file. Were it ever stale, getsockopt would fail
    // with EBADF/ENOTSOCK and we return None: no memory is at stake.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (r == 0).then(|| Duration::from_micros(u64::from(info.tcpi_rtt)))
}

#[cfg(not(target_os = "linux"))]
fn tcp_rtt(_fd: std::os::fd::RawFd) -> Option<Duration> {
    None
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d.into()).await;
    }
}

async fn write_some<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    bufs: &VecDeque<Bytes>,
) -> std::io::Result<usize> {
    let slices: Vec<IoSlice<'_>> = bufs.iter().take(64).map(|b| IoSlice::new(b)).collect();
    let n = wr.write_vectored(&slices).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(n)
}

struct Driver {
    /// The server asked us to move (Enhanced RTMP), to this tcUrl if any.
    move_request: Option<Option<String>>,
    /// Metadata and sequence headers must go out before the next tag (a
    /// connection that takes over mid-stream keeps the timeline).
    need_headers: bool,
    wbuf: VecDeque<Bytes>,
    wbytes: usize,
    live: bool,
    ts_base: Option<i64>,
    /// The AAC sequence header went out on this connection.
    audio_seq_sent: bool,
    deadline: Option<Instant>,
    last_progress: Instant,
    /// Bytes written to the socket, handshake included.
    written: u64,
    /// Video tags queued in the session: (session offset where the tag
    /// ends, capture time).
    unwritten_video: VecDeque<(u64, Instant)>,
    /// Video tags written to the socket, not yet acknowledged: (end offset,
    /// capture time, when the write covering its last byte returned).
    written_video: VecDeque<(u64, Instant, Instant)>,
    /// (session offset written up to, when), one entry per socket write.
    write_log: VecDeque<(u64, Instant)>,
    /// Latest smoothed TCP round trip.
    rtt: Duration,
}

const MAX_INFLIGHT: usize = 4096;

impl Driver {
    fn new() -> Self {
        Self {
            move_request: None,
            need_headers: false,
            wbuf: VecDeque::new(),
            wbytes: 0,
            live: false,
            ts_base: None,
            audio_seq_sent: false,
            deadline: None,
            last_progress: Instant::now(),
            written: 0,
            unwritten_video: VecDeque::new(),
            written_video: VecDeque::new(),
            write_log: VecDeque::new(),
            rtt: Duration::ZERO,
        }
    }

    /// Takes what the session has to say. `primary`: this connection is the
    /// one the card shows (not a connection being set up to take over).
    fn drain(
        &mut self,
        session: &mut ClientSession,
        shared: &OutputShared,
        primary: bool,
    ) -> Result<(), OutputError> {
        while let Some(o) = session.poll_output() {
            match o {
                SessionOutput::Transmit(b) => {
                    if self.wbuf.is_empty() {
                        self.last_progress = Instant::now();
                    }
                    self.wbytes += b.len();
                    self.wbuf.push_back(b);
                }
                SessionOutput::Timeout(t) => self.deadline = Some(t),
                SessionOutput::Event(e) => match e {
                    SessionEvent::Publishing { .. } => {
                        self.live = true;
                        if primary {
                            shared.set_accepting(true);
                            shared.with_stats(|s| s.set_state(OutputState::Live, None));
                            tracing::info!(dest = %shared.dest, "publishing");
                        }
                    }
                    SessionEvent::ReconnectRequest {
                        tc_url,
                        description,
                    } => {
                        let why = shared.shown(&description);
                        tracing::info!(dest = %shared.dest, reason = %why, "server requests a reconnect");
                        if primary {
                            self.move_request = Some(tc_url);
                        }
                    }
                    SessionEvent::Acknowledged { bytes } => {
                        if let Some(latency) = self.ack_latency(bytes, Instant::now()) {
                            shared.with_stats(|s| s.record_latency(Instant::now(), latency));
                        }
                    }
                    SessionEvent::Status { level, code, .. } => {
                        let key = &shared.dest.key;
                        let (level, code) = (key.redact(&level), key.redact(&code));
                        tracing::info!(dest = %shared.dest, %level, %code, "server status");
                    }
                    SessionEvent::HandshakeDone
                    | SessionEvent::Connected
                    | SessionEvent::Closed => {}
                },
            }
        }
        Ok(())
    }

    /// Moves tags from the queue into the session while there is room.
    /// With `handover`, stops at the next video keyframe and returns true:
    /// the connection waiting to take over starts there.
    fn feed(
        &mut self,
        session: &mut ClientSession,
        shared: &OutputShared,
        headers: &Mutex<Headers>,
        events: &broadcast::Sender<OutputEvent>,
        everything: bool,
        handover: bool,
    ) -> Result<bool, OutputError> {
        let mut at_keyframe = false;
        loop {
            if !everything && self.wbytes + session.pending_bytes() >= HIGH_WATER {
                break;
            }
            let tag = {
                let Ok(mut q) = shared.queue.lock() else {
                    break;
                };
                if q.take_overflow() {
                    return Err(OutputError::Stalled);
                }
                if handover && q.front_is_keyframe() {
                    at_keyframe = true;
                    break;
                }
                let Some(t) = q.pop() else { break };
                t
            };
            self.publish(session, shared, headers, events, tag)?;
        }
        self.drain(session, shared, true)?;
        Ok(at_keyframe)
    }

    fn publish(
        &mut self,
        session: &mut ClientSession,
        shared: &OutputShared,
        headers: &Mutex<Headers>,
        events: &broadcast::Sender<OutputEvent>,
        tag: Tag,
    ) -> Result<(), OutputError> {
        if self.need_headers {
            // Taking over mid-stream (make before break): the timeline goes
            // on, from a keyframe, after metadata and sequence headers.
            if !(tag.kind == TagKind::Video && tag.keyframe) {
                return Ok(());
            }
            self.need_headers = false;
            let h = headers.lock().map(|h| h.clone()).unwrap_or_default();
            let ts = self
                .ts_base
                .map_or(0, |b| tag.pts_ms.saturating_sub(b).max(0) as u32);
            if let Some(m) = h.metadata {
                session.publish_metadata(m)?;
            }
            if let Some(v) = h.video_seq {
                session.publish_video(ts, v)?;
            }
            if let Some(a) = h.audio_seq {
                session.publish_audio(ts, a)?;
                self.audio_seq_sent = true;
            }
            let _ = events.send(OutputEvent::Connected {
                dest: shared.dest.redacted(),
                encoding: shared.encoding,
                ts_base_ms: self.ts_base.unwrap_or(tag.pts_ms),
            });
        }
        let base = match self.ts_base {
            Some(b) => b,
            None => {
                // Every connection starts at a keyframe, after metadata and
                // sequence headers. The queue releases nothing before one
                // (and puts early audio captured after it behind it); this
                // only guards that rule.
                if !(tag.kind == TagKind::Video && tag.keyframe) {
                    return Ok(());
                }
                let h = headers.lock().map(|h| h.clone()).unwrap_or_default();
                if let Some(m) = h.metadata {
                    session.publish_metadata(m)?;
                }
                if let Some(v) = h.video_seq {
                    session.publish_video(0, v)?;
                }
                if let Some(a) = h.audio_seq {
                    session.publish_audio(0, a)?;
                    self.audio_seq_sent = true;
                }
                self.ts_base = Some(tag.pts_ms);
                let _ = events.send(OutputEvent::Connected {
                    dest: shared.dest.redacted(),
                    encoding: shared.encoding,
                    ts_base_ms: tag.pts_ms,
                });
                tag.pts_ms
            }
        };
        if tag.pts_ms < base {
            return Ok(());
        }
        let ts = (tag.pts_ms - base) as u32;
        match tag.kind {
            TagKind::Video => {
                let end = session.publish_video(ts, tag.body)?;
                if self.unwritten_video.len() >= MAX_INFLIGHT {
                    self.unwritten_video.pop_front();
                }
                self.unwritten_video.push_back((end, tag.capture));
            }
            TagKind::Audio => {
                if !self.audio_seq_sent {
                    // The audio encoder started after this connection went
                    // live (a fast loopback connect on a busy machine): its
                    // configuration first, with the metadata that now
                    // describes the audio. A frame without it is useless.
                    let h = headers.lock().map(|h| h.clone()).unwrap_or_default();
                    let Some(a) = h.audio_seq else {
                        return Ok(());
                    };
                    if let Some(m) = h.metadata {
                        session.publish_metadata(m)?;
                    }
                    session.publish_audio(ts, a)?;
                    self.audio_seq_sent = true;
                }
                session.publish_audio(ts, tag.body)?;
            }
        }
        Ok(())
    }

    fn advance(&mut self, mut n: usize, shared: &OutputShared) {
        self.wbytes -= n;
        self.last_progress = Instant::now();
        let written = n as u64;
        while n > 0 {
            let Some(front) = self.wbuf.front_mut() else {
                break;
            };
            if front.len() <= n {
                n -= front.len();
                self.wbuf.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
        self.written += written;
        let now = Instant::now();
        let done = self.written.saturating_sub(CLIENT_HANDSHAKE_BYTES);
        if self.write_log.len() >= MAX_INFLIGHT {
            self.write_log.pop_front();
        }
        self.write_log.push_back((done, now));
        let mut samples = Vec::new();
        while let Some(&(end, cap)) = self.unwritten_video.front() {
            if end > done {
                break;
            }
            samples.push(now - cap);
            self.unwritten_video.pop_front();
            if self.written_video.len() >= MAX_INFLIGHT {
                self.written_video.pop_front();
            }
            self.written_video.push_back((end, cap, now));
        }
        shared.with_stats(|s| {
            s.bytes_sent += written;
            for l in samples {
                s.record_socket_latency(l);
            }
        });
    }

    /// Capture-to-server latency of the newest video tag an acknowledgement
    /// of `acked` bytes (received at `now`) covers.
    ///
    /// The server acknowledges when its window fills, often well after that
    /// tag arrived, so `now - capture` would overstate it by up to a frame
    /// interval. Instead: the path delay is what the acknowledged byte took
    /// from our write to the server (`now - written(acked) - rtt/2`), and the
    /// tag's latency is its capture-to-write time plus that delay.
    fn ack_latency(&mut self, acked: u64, now: Instant) -> Option<Duration> {
        let mut last = None;
        while let Some(&(end, cap, wrote)) = self.written_video.front() {
            if end > acked {
                break;
            }
            last = Some((cap, wrote));
            self.written_video.pop_front();
        }
        while self.write_log.len() > 1 && self.write_log[1].0 <= acked {
            self.write_log.pop_front();
        }
        let written_at = self
            .write_log
            .iter()
            .find(|(done, _)| *done >= acked)
            .map(|(_, t)| *t)?;
        let (capture, wrote) = last?;
        let path = now
            .saturating_duration_since(written_at)
            .saturating_sub(self.rtt / 2);
        Some(wrote.saturating_duration_since(capture) + path)
    }

    /// Clean stop: send what is queued, unpublish, flush, close; bounded.
    async fn finish<W: AsyncWriteExt + Unpin>(
        mut self,
        mut session: ClientSession,
        mut wr: W,
        shared: &OutputShared,
        headers: &Mutex<Headers>,
        events: &broadcast::Sender<OutputEvent>,
    ) -> Result<(), OutputError> {
        if self.live {
            self.feed(&mut session, shared, headers, events, true, false)?;
        }
        session.close();
        self.drain(&mut session, shared, true)?;
        let flush = async {
            while !self.wbuf.is_empty() {
                let n = write_some(&mut wr, &self.wbuf).await?;
                self.advance(n, shared);
            }
            wr.shutdown().await
        };
        let _ = tokio::time::timeout(STOP_FLUSH, flush).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> OutputError {
        OutputError::Session(onair_rtmp::Error::KeyRejected {
            code: "NetStream.Publish.BadName".into(),
            description: "Already publishing".into(),
        })
    }

    #[test]
    fn a_rejection_is_final_only_before_the_destination_was_ever_live() {
        let give_up = DEFAULT_REJECTED_GIVE_UP;
        assert!(matches!(
            next_step(&rejected(), false, Some(Duration::ZERO), give_up),
            Next::Fail(m) if m.contains("stream key rejected")
        ));
        assert!(matches!(
            next_step(&rejected(), true, Some(Duration::from_secs(30)), give_up),
            Next::Retry(m) if m.contains("still holds the previous connection; retrying")
        ));
        assert!(matches!(
            next_step(&rejected(), true, Some(give_up), give_up),
            Next::Fail(m) if m.contains("still refused after 300 s")
        ));
        let app = OutputError::Session(onair_rtmp::Error::ConnectRejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: String::new(),
        });
        assert!(matches!(
            next_step(&app, false, Some(Duration::ZERO), give_up),
            Next::Fail(_)
        ));
        assert_eq!(app.class(), crate::stats::ErrorClass::AppRejected);
        // Network trouble is always retried.
        assert!(matches!(
            next_step(&OutputError::Stalled, false, None, give_up),
            Next::Retry(_)
        ));
    }

    #[test]
    fn addresses_alternate_families_starting_with_the_first() {
        let a: Vec<SocketAddr> = [
            "[::1]:1",
            "[::2]:1",
            "[::3]:1",
            "127.0.0.1:1",
            "127.0.0.2:1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got: Vec<String> = interleave_families(a)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "[::1]:1",
                "127.0.0.1:1",
                "[::2]:1",
                "127.0.0.2:1",
                "[::3]:1"
            ]
        );
    }

    /// A listener whose accept queue is full and never drained: the kernel
    /// drops further SYNs, so a connect to it hangs (a black hole).
    fn black_hole() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        sock.listen(0).unwrap();
        let l: std::net::TcpListener = sock.into();
        let addr = l.local_addr().unwrap();
        let mut fill = Vec::new();
        for _ in 0..4 {
            if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                fill.push(s);
            }
        }
        (l, fill, addr)
    }

    #[tokio::test]
    async fn a_black_holed_first_address_costs_the_stagger_not_the_timeout() {
        let (_hole, _fill, hole) = black_hole();
        // The hole really hangs.
        assert!(
            tokio::time::timeout(Duration::from_millis(600), TcpStream::connect(hole))
                .await
                .is_err(),
            "the black hole answered"
        );
        let good = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good_addr = good.local_addr().unwrap();
        let t0 = Instant::now();
        let s = connect_staggered(vec![hole, good_addr], CONNECT_STAGGER, |a| async move {
            TcpStream::connect(a).await
        })
        .await
        .expect("the second address connects");
        let took = t0.elapsed();
        assert_eq!(s.peer_addr().unwrap(), good_addr);
        assert!(
            took >= CONNECT_STAGGER && took < Duration::from_secs(2),
            "took {took:?}"
        );
        // A refused first address moves on at once, without the stagger.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let t0 = Instant::now();
        connect_staggered(vec![closed, good_addr], CONNECT_STAGGER, |a| async move {
            TcpStream::connect(a).await
        })
        .await
        .unwrap();
        assert!(t0.elapsed() < CONNECT_STAGGER, "{:?}", t0.elapsed());
        // Nothing answers: the last error.
        assert!(
            connect_staggered(vec![closed], CONNECT_STAGGER, |a| async move {
                TcpStream::connect(a).await
            })
            .await
            .is_err()
        );
    }

    #[test]
    fn backoff_starts_near_half_a_second_grows_and_caps() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert!(backoff(1, 0.0) > backoff(0, 1.0) - Duration::from_millis(200));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(750));
        assert!(backoff(0, 1.0) <= Duration::from_millis(600));
        assert_eq!(backoff(40, 1.0), Duration::from_secs(30));
    }
}
