//! Per-Output indicators, as the user sees them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Connection state of an Output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum OutputState {
    /// Opening the connection / handshake / publish.
    Connecting,
    /// Publishing.
    Live,
    /// Waiting to retry.
    Reconnecting,
    /// Failed for good (the server rejected the key).
    Failed,
    /// Stopped by the user.
    Stopped,
}

/// Where the latency figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum LatencySource {
    /// Capture to server receipt, from the server's Acknowledgements.
    Ack,
    /// The server acknowledges rarely or never: media time waiting in the
    /// queue plus the TCP round trip (TCP_INFO).
    QueueRtt,
    /// No measurement yet.
    None,
}

/// A snapshot of one Output's indicators.
/// 64-bit counters are exported to TypeScript as `number`: they stay far
/// below 2^53.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OutputStats {
    /// The Output's identity in its manager (two destinations on one server
    /// print the same URL; they never share an id).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub id: u64,
    /// The video encoding it sends (index in the pipeline's encodings;
    /// front ends show the encoding's name instead).
    #[serde(skip)]
    #[cfg_attr(feature = "specta", specta(skip))]
    pub encoding: u32,
    /// Destination URL with the key replaced by `***`.
    pub dest: String,
    /// State.
    pub state: OutputState,
    /// Bytes written to the socket per second over the last second, kbit/s.
    pub bitrate_kbps: f64,
    /// The same over the last 10 seconds.
    pub bitrate_10s_kbps: f64,
    /// Bytes written to the socket in total.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes_sent: u64,
    /// Capture-to-server latency of the last acknowledged video packet, ms.
    pub latency_ms: Option<f64>,
    /// What `latency_ms` measures.
    pub latency_source: LatencySource,
    /// Queue delay over the drop threshold, 0..1 (1: frames are being dropped).
    pub congestion: f64,
    /// TCP round-trip time from TCP_INFO, ms.
    pub rtt_ms: Option<f64>,
    /// Media time waiting in the send queue, ms.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub queue_ms: i64,
    /// Video frames dropped because the network could not keep up.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub dropped_frames: u64,
    /// Reconnect attempts so far.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub reconnects: u64,
    /// Milliseconds until the next retry, while reconnecting.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub next_retry_ms: Option<u64>,
    /// Seconds live on the current connection.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub uptime_s: Option<u64>,
    /// Last error, key redacted.
    pub error: Option<String>,
    /// What kind of error `error` is, for the UI to tell them apart. Kept
    /// through `connecting` and `reconnecting` until the next live: a card
    /// never says "Connecting" without why the last attempt failed.
    pub error_kind: Option<ErrorClass>,
    /// It has been live at least once since it was started.
    pub was_live: bool,
}

impl OutputStats {
    /// The figures of an Output `id` to `dest` (redacted) in `state` that
    /// has sent nothing yet: every counter zero, no measurement.
    pub fn idle(id: u64, dest: impl Into<String>, state: OutputState) -> Self {
        Self {
            id,
            encoding: 0,
            dest: dest.into(),
            state,
            bitrate_kbps: 0.0,
            bitrate_10s_kbps: 0.0,
            bytes_sent: 0,
            latency_ms: None,
            latency_source: LatencySource::None,
            congestion: 0.0,
            rtt_ms: None,
            queue_ms: 0,
            dropped_frames: 0,
            reconnects: 0,
            next_retry_ms: None,
            uptime_s: None,
            error: None,
            error_kind: None,
            was_live: false,
        }
    }
}

/// The kinds of destination error a user needs told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The server refused the stream key: fix the key (not retried).
    KeyRejected,
    /// The server refused the stream for another reason (not retried).
    Refused,
    /// The server refused the application path: the server URL is wrong
    /// (not retried on a first connection).
    AppRejected,
    /// After having been live, the server refuses to publish again: it
    /// still holds the previous connection. Retried.
    Held,
    /// TLS: certificate expired, untrusted or for another host.
    Tls,
    /// The server could not be reached (DNS, refused, unreachable).
    Unreachable,
    /// The server closed or dropped the connection.
    ServerClosed,
    /// The connection stalled or the server did not answer in time.
    Stalled,
    /// The server spoke RTMP wrongly.
    Protocol,
}

/// Latency older than this is not shown.
const LATENCY_STALE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct StatsInner {
    pub state: OutputState,
    pub bytes_sent: u64,
    pub latency: Option<(Instant, Duration)>,
    pub queue_ms: i64,
    pub reconnects: u64,
    pub next_retry: Option<Instant>,
    pub live_since: Option<Instant>,
    pub error: Option<String>,
    pub error_kind: Option<ErrorClass>,
    pub rtt: Option<Duration>,
    pub was_live: bool,
    samples: VecDeque<(Instant, u64)>,
    /// Capture-to-socket latencies of video tags (µs), for benchmarks.
    pub socket_latency_us: VecDeque<u32>,
}

/// Most capture-to-socket samples kept.
const MAX_SOCKET_SAMPLES: usize = 1 << 16;

impl StatsInner {
    pub fn new() -> Self {
        Self {
            state: OutputState::Connecting,
            bytes_sent: 0,
            latency: None,
            queue_ms: 0,
            reconnects: 0,
            next_retry: None,
            live_since: None,
            error: None,
            error_kind: None,
            rtt: None,
            was_live: false,
            samples: VecDeque::from([(Instant::now(), 0)]),
            socket_latency_us: VecDeque::new(),
        }
    }

    pub fn set_state(&mut self, state: OutputState, error: Option<String>) {
        if state == OutputState::Live && self.state != OutputState::Live {
            self.was_live = true;
            self.live_since = Some(Instant::now());
            self.next_retry = None;
        }
        if state != OutputState::Live {
            self.live_since = None;
            self.latency = None;
            self.rtt = None;
        }
        if state != OutputState::Reconnecting {
            self.next_retry = None;
        }
        self.state = state;
        if error.is_some() || state == OutputState::Live {
            self.error = error;
        }
        if state == OutputState::Live {
            self.error_kind = None;
        }
    }

    pub fn record_socket_latency(&mut self, l: Duration) {
        if self.socket_latency_us.len() >= MAX_SOCKET_SAMPLES {
            self.socket_latency_us.pop_front();
        }
        self.socket_latency_us
            .push_back(l.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn record_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    pub fn record_latency(&mut self, now: Instant, latency: Duration) {
        self.latency = Some((now, latency));
    }

    fn rate_kbps(&self, now: Instant, window: Duration) -> f64 {
        let Some(&(t0, b0)) = self.samples.iter().find(|(t, _)| {
            now.saturating_duration_since(*t) <= window + Duration::from_millis(100)
        }) else {
            return 0.0;
        };
        let dt = now.saturating_duration_since(t0).as_secs_f64();
        if dt < 0.2 {
            return 0.0;
        }
        (self.bytes_sent - b0) as f64 * 8.0 / 1000.0 / dt
    }

    /// Takes a snapshot; call about once a second (it also records the
    /// sample the bitrate windows use).
    pub fn snapshot(
        &mut self,
        dest: &str,
        dropped_frames: u64,
        drop_threshold_ms: u32,
        now: Instant,
    ) -> OutputStats {
        let bitrate_kbps = self.rate_kbps(now, Duration::from_secs(1));
        let bitrate_10s_kbps = self.rate_kbps(now, Duration::from_secs(10));
        self.samples.push_back((now, self.bytes_sent));
        while self.samples.len() > 64
            || self
                .samples
                .front()
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > Duration::from_secs(12))
        {
            self.samples.pop_front();
        }
        let rtt_ms = self.rtt.map(|r| r.as_secs_f64() * 1000.0);
        let ack_latency = self
            .latency
            .filter(|(at, _)| now.saturating_duration_since(*at) < LATENCY_STALE)
            .map(|(_, l)| l.as_secs_f64() * 1000.0);
        let (latency, latency_source) = match (ack_latency, rtt_ms) {
            (Some(l), _) => (Some(l), LatencySource::Ack),
            (None, Some(rtt)) if self.state == OutputState::Live => {
                (Some(self.queue_ms as f64 + rtt), LatencySource::QueueRtt)
            }
            _ => (None, LatencySource::None),
        };
        let congestion = if drop_threshold_ms == 0 {
            0.0
        } else {
            (self.queue_ms as f64 / f64::from(drop_threshold_ms)).clamp(0.0, 1.0)
        };
        OutputStats {
            id: 0,
            encoding: 0,
            dest: dest.to_owned(),
            state: self.state,
            bitrate_kbps: round1(bitrate_kbps),
            bitrate_10s_kbps: round1(bitrate_10s_kbps),
            bytes_sent: self.bytes_sent,
            latency_ms: latency.map(round1),
            latency_source,
            congestion: (congestion * 100.0).round() / 100.0,
            rtt_ms: rtt_ms.map(round1),
            queue_ms: self.queue_ms,
            dropped_frames,
            reconnects: self.reconnects,
            next_retry_ms: self
                .next_retry
                .map(|t| t.saturating_duration_since(now).as_millis() as u64),
            uptime_s: self
                .live_since
                .map(|t| now.saturating_duration_since(t).as_secs()),
            error: self.error.clone(),
            error_kind: self.error_kind,
            was_live: self.was_live,
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_latency_wins_and_queue_plus_rtt_is_the_labelled_fallback() {
        let now = Instant::now();
        let mut s = StatsInner::new();
        s.set_state(OutputState::Live, None);
        s.queue_ms = 40;
        s.record_rtt(Duration::from_millis(25));
        let snap = s.snapshot("d", 0, 700, now);
        assert_eq!(snap.latency_source, LatencySource::QueueRtt);
        assert_eq!(snap.latency_ms, Some(65.0));
        s.record_latency(now, Duration::from_millis(12));
        let snap = s.snapshot("d", 0, 700, now);
        assert_eq!(
            (snap.latency_source, snap.latency_ms),
            (LatencySource::Ack, Some(12.0))
        );
        // Stale acknowledgements fall back again.
        let later = now + Duration::from_secs(6);
        assert_eq!(
            s.snapshot("d", 0, 700, later).latency_source,
            LatencySource::QueueRtt
        );
    }

    #[test]
    fn congestion_is_queue_delay_over_the_drop_threshold_capped_at_1() {
        let mut s = StatsInner::new();
        s.queue_ms = 350;
        assert_eq!(s.snapshot("d", 0, 700, Instant::now()).congestion, 0.5);
        s.queue_ms = 1400;
        assert_eq!(s.snapshot("d", 0, 700, Instant::now()).congestion, 1.0);
    }

    #[test]
    fn bitrate_is_bytes_written_per_second_over_the_window() {
        let t0 = Instant::now();
        let mut s = StatsInner::new();
        s.samples.clear();
        s.snapshot("d", 0, 700, t0);
        s.bytes_sent = 375_000;
        let snap = s.snapshot("d", 0, 700, t0 + Duration::from_secs(1));
        assert_eq!(snap.bitrate_kbps, 3000.0);
    }
}
