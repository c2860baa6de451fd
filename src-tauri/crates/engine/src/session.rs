//! One live session: an [`Engine`] and what a front end shows of it — the
//! destinations of this stream under the caller's ids (switched on or off
//! while the others stay live), the stream check and what it is judged
//! against, streaming versus recording only, the once-a-second
//! [`LiveUpdate`], and at the end what happened ([`Finished`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onair_check::ingest::CheckIngest;
use onair_check::{CheckReport, JudgeTarget};
use onair_media::MediaError;
use onair_output::{Destination, OutputId, OutputState, OutputStats};
use onair_record::{RecordError, RecordingStatus, RecordingSummary};

use crate::{Capture, Engine, EngineConfig, EngineError};

/// The id of the stream check's row (callers' ids should not collide with
/// it; the app's profile ids start with `p`).
pub const CHECK_ID: &str = "check";

/// How long the stream check may take to see the end of the stream.
const CHECK_END_WAIT: Duration = Duration::from_millis(500);

/// A destination under the caller's id for it (a profile id, a URL).
#[derive(Debug, Clone)]
pub struct NamedDestination {
    /// The caller's id.
    pub id: String,
    /// Where to.
    pub dest: Destination,
    /// The video encoding it gets (index in the engine's encodings).
    pub encoding: usize,
}

/// What to go live with.
#[derive(Debug, Clone, Default)]
pub struct GoLive {
    /// Every destination, started at once.
    pub destinations: Vec<NamedDestination>,
    /// Run the stream check (an RTMP ingest on loopback, row [`CHECK_ID`])
    /// and judge what it receives against these.
    pub check: Option<Vec<JudgeTarget>>,
}

/// Why a session call did nothing.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Going live while streaming.
    #[error("Already live.")]
    AlreadyLive,
    /// Ending or changing a stream that is not running.
    #[error("Not live.")]
    NotLive,
    /// Stopping a recording that is not running.
    #[error("Not recording.")]
    NotRecording,
    /// A destination id that is not part of this stream.
    #[error("That destination is not part of this stream.")]
    NotInStream,
    /// Switching the check on in a stream without one.
    #[error("The stream check is not running.")]
    CheckNotRunning,
    /// The check's ingest could not listen on loopback.
    #[error("Cannot start the stream check: {0}")]
    CheckStart(std::io::Error),
    /// Sources, encoders or the recording file.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The thread opening the sources died.
    #[error("Cannot start encoding: {0}")]
    Panicked(String),
}

impl From<RecordError> for SessionError {
    fn from(e: RecordError) -> Self {
        SessionError::Engine(EngineError::Record(e))
    }
}

/// One destination card.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DestinationUpdate {
    /// The caller's id for it (the app: a profile id), or `check` for the
    /// stream check.
    pub id: String,
    /// Whether it is switched on in this stream.
    pub on: bool,
    /// The name of the encoding it gets.
    pub encoding: String,
    /// Its indicators.
    pub stats: OutputStats,
}

/// One video encoding's figures.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EncoderUpdate {
    /// Its name.
    pub name: String,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second it runs at.
    pub fps: u32,
    /// Video bitrate it runs at now, kbit/s.
    pub kbps: u32,
    /// Frames encoded so far.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub encoded: u64,
    /// Frames it skipped so far because it fell behind real time.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub skipped: u64,
    /// Horizontal crop position, 0.0 (left) to 1.0 (right).
    pub crop_x: f32,
    /// Mean time to encode a frame, ms.
    pub encode_ms: f64,
    /// Mean time to crop, scale and convert a frame from the capture, ms
    /// (0 when the encoding is the capture's size).
    pub scale_ms: f64,
}

/// Each encoding's figures as of now.
fn encoder_updates(
    encodings: &[crate::Encoding],
    stats: &[Arc<onair_media::EncoderStats>],
) -> Vec<EncoderUpdate> {
    encodings
        .iter()
        .zip(stats)
        .map(|(enc, s)| {
            let encoded = s.frames_encoded.load(Ordering::Relaxed);
            let per_frame = |us: u64| (us as f64 / encoded.max(1) as f64 / 10.0).round() / 100.0;
            EncoderUpdate {
                name: enc.name.clone(),
                width: enc.width,
                height: enc.height,
                fps: enc.fps,
                kbps: s.video_kbps.load(Ordering::Relaxed),
                encoded,
                skipped: s.frames_dropped_lag.load(Ordering::Relaxed),
                crop_x: s.crop(),
                encode_ms: per_frame(s.encode_us.load(Ordering::Relaxed)),
                scale_ms: per_frame(s.scale_us.load(Ordering::Relaxed)),
            }
        })
        .collect()
}

/// One level meter, dBFS (null: silence).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Level {
    /// Peak of the last 21 ms.
    pub peak_dbfs: Option<f32>,
    /// RMS of the last 21 ms.
    pub rms_dbfs: Option<f32>,
    /// Highest peak of the last 1.5 s.
    pub hold_dbfs: Option<f32>,
}

impl Level {
    pub(crate) fn of(l: &onair_media::meter::AudioLevel) -> Self {
        let finite = |x: f32| x.is_finite().then_some((x * 10.0).round() / 10.0);
        Self {
            peak_dbfs: finite(l.peak_dbfs()),
            rms_dbfs: finite(l.rms_dbfs()),
            hold_dbfs: finite(l.hold_dbfs()),
        }
    }
}

/// One source of the mix, metered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SourceMeter {
    /// `mic`, `desktop` or `tone`.
    pub source: String,
    /// As captured, before the filters.
    pub pre: Level,
    /// After the filters.
    pub post: Level,
    /// The noise gate: open, closed, or null without one.
    pub gate_open: Option<bool>,
    /// Muted.
    pub muted: bool,
    /// The device is gone (silence is sent until it is back).
    pub lost: bool,
}

/// The mix's meters, many times a second.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MeterUpdate {
    /// Each source, in mix order.
    pub sources: Vec<SourceMeter>,
    /// What is encoded.
    pub mix: Level,
    /// The mix went over the limiter's ceiling in the last 2 s.
    pub clipping: bool,
    /// The whole mix is muted.
    pub muted: bool,
}

impl MeterUpdate {
    /// No audio source: every meter at rest.
    pub fn silent() -> Self {
        let rest = Level {
            peak_dbfs: None,
            rms_dbfs: None,
            hold_dbfs: None,
        };
        Self {
            sources: Vec::new(),
            mix: rest,
            clipping: false,
            muted: false,
        }
    }
}

/// The session as of now; front ends take one a second.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LiveUpdate {
    /// One per destination started in this stream.
    pub destinations: Vec<DestinationUpdate>,
    /// Audio meter, dBFS (null: silence or no audio).
    pub audio_peak_dbfs: Option<f32>,
    /// Audio meter, dBFS.
    pub audio_rms_dbfs: Option<f32>,
    /// Encoding fell behind real time since the last update.
    pub encoder_overloaded: bool,
    /// The camera is gone (the slate is shown).
    pub camera_lost: bool,
    /// The microphone is gone (silence is sent).
    pub mic_lost: bool,
    /// Video bitrate the first encoding runs at now, kbit/s.
    pub video_kbps: u32,
    /// Every video encoding, in order.
    pub encoders: Vec<EncoderUpdate>,
    /// Streaming to destinations (not only recording).
    pub streaming: bool,
    /// The stream check's report, judged.
    pub check: Option<CheckReport>,
    /// The running recording.
    pub recording: Option<RecordingStatus>,
}

/// How a stream went, for an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every destination was live until the end (or there was none).
    AllLive,
    /// Some destination never went live or failed for good; others streamed.
    SomeFellShort,
    /// Every destination failed for good.
    AllFailed,
}

/// What a session leaves when it stops.
#[derive(Debug)]
pub struct Finished {
    /// Every Output's last figures (the check's included).
    pub stats: Vec<OutputStats>,
    /// The stream check's final report, judged.
    pub check: Option<CheckReport>,
    /// The recording's summary.
    pub recording: Option<RecordingSummary>,
    /// Capture-to-socket latencies (µs) of the video tags of each Output
    /// running at the end.
    pub socket_latencies_us: Vec<Vec<u32>>,
    /// The encoders failed.
    pub media_error: Option<MediaError>,
    /// Each encoding's figures at the end.
    pub encoders: Vec<EncoderUpdate>,
}

impl Finished {
    /// Destinations that did not stream as asked — never live, or failed
    /// for good — one line each, by redacted URL, with why.
    pub fn shortfalls(&self) -> Vec<String> {
        self.stats
            .iter()
            .filter_map(|s| {
                let why = s
                    .error
                    .clone()
                    .unwrap_or_else(|| "no answer before the stream ended".into());
                if !s.was_live {
                    Some(format!("{}: never went live: {why}", s.dest))
                } else if s.state == OutputState::Failed {
                    Some(format!("{}: failed: {why}", s.dest))
                } else {
                    None
                }
            })
            .collect()
    }

    /// All live, some short, or all failed.
    pub fn outcome(&self) -> Outcome {
        if !self.stats.is_empty() && self.stats.iter().all(|s| s.state == OutputState::Failed) {
            Outcome::AllFailed
        } else if self.shortfalls().is_empty() {
            Outcome::AllLive
        } else {
            Outcome::SomeFellShort
        }
    }
}

/// A destination of this stream.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    output: OutputId,
    encoding: usize,
    on: bool,
    /// To start it again when switched back on.
    dest: Destination,
}

/// The stream check of a stream and what it is judged against: an ingest
/// per encoding a judged destination gets (`main` always), each judged
/// destination against the ingest of its encoding.
#[derive(Debug)]
struct CheckRun {
    /// Encoding index and its ingest; `main` (0) first.
    ingests: Vec<(usize, Arc<CheckIngest>)>,
    /// Each target with the index of the encoding it gets.
    targets: Vec<(usize, JudgeTarget)>,
}

impl CheckRun {
    /// `index_of` resolves an encoding name (empty: `main`); a name it does
    /// not know is judged against `main`.
    async fn start(
        targets: Option<Vec<JudgeTarget>>,
        index_of: impl Fn(&str) -> Option<usize>,
    ) -> Result<Option<Self>, SessionError> {
        let Some(targets) = targets else {
            return Ok(None);
        };
        let targets: Vec<(usize, JudgeTarget)> = targets
            .into_iter()
            .map(|t| {
                let i = match t.encoding.as_str() {
                    "" => 0,
                    name => index_of(name).unwrap_or(0),
                };
                (i, t)
            })
            .collect();
        let mut wanted: Vec<usize> = std::iter::once(0)
            .chain(targets.iter().map(|(i, _)| *i))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut ingests = Vec::new();
        for encoding in wanted {
            match CheckIngest::start().await {
                Ok(ingest) => ingests.push((encoding, Arc::new(ingest))),
                Err(e) => {
                    for (_, i) in &ingests {
                        i.abort();
                    }
                    return Err(SessionError::CheckStart(e));
                }
            }
        }
        Ok(Some(Self { ingests, targets }))
    }

    /// The ingest of encoding `encoding`.
    fn ingest(&self, encoding: usize) -> Option<&Arc<CheckIngest>> {
        self.ingests
            .iter()
            .find(|(e, _)| *e == encoding)
            .map(|(_, i)| i)
    }

    /// What `main`'s ingest received, with a verdict per target judged
    /// against what its own encoding's ingest received.
    fn judged(&self) -> CheckReport {
        let reports: Vec<(usize, CheckReport)> =
            self.ingests.iter().map(|(e, i)| (*e, i.report())).collect();
        let mut main = reports
            .iter()
            .find(|(e, _)| *e == 0)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| self.ingests[0].1.report());
        main.verdicts = self
            .targets
            .iter()
            .filter_map(|(e, t)| {
                let mut r = reports.iter().find(|(x, _)| x == e)?.1.clone();
                r.judge(std::slice::from_ref(t));
                r.verdicts.pop()
            })
            .collect();
        main
    }

    /// Waits for the check to see the end, then its last word.
    async fn finish(self) -> CheckReport {
        for (_, i) in &self.ingests {
            i.wait_ended(CHECK_END_WAIT).await;
        }
        let r = self.judged();
        for (_, i) in &self.ingests {
            i.abort();
        }
        r
    }

    /// The rows of the check: `check` for `main`, `check:NAME` for others.
    fn rows(&self, names: &[String]) -> Vec<NamedDestination> {
        self.ingests
            .iter()
            .map(|(e, i)| NamedDestination {
                id: if *e == 0 {
                    CHECK_ID.to_owned()
                } else {
                    format!("{CHECK_ID}:{}", names.get(*e).map_or("", String::as_str))
                },
                dest: i.destination(),
                encoding: *e,
            })
            .collect()
    }
}

/// A running engine with its destinations by id, its stream check, and
/// whether it streams (else it only records).
#[derive(Debug)]
pub struct Session {
    engine: Engine,
    rows: Mutex<Vec<Row>>,
    check: Mutex<Option<CheckRun>>,
    streaming: AtomicBool,
    /// Frames dropped for lag as of the last update.
    lag_seen: AtomicU64,
}

impl Session {
    /// Starts the sources and encoders (on a blocking thread: opening
    /// devices can block). With `live`, streams to its destinations from
    /// the first keyframe; without, only records (`config.record`).
    pub async fn start(config: EngineConfig, live: Option<GoLive>) -> Result<Self, SessionError> {
        Self::start_with(None, config, live).await
    }

    /// Starts like [`Session::start`], encoding the running `capture`
    /// (opened for `config`): nothing is reopened, and the capture goes on
    /// after the session.
    pub async fn start_on(
        capture: Arc<Capture>,
        config: EngineConfig,
        live: Option<GoLive>,
    ) -> Result<Self, SessionError> {
        Self::start_with(Some(capture), config, live).await
    }

    async fn start_with(
        capture: Option<Arc<Capture>>,
        config: EngineConfig,
        live: Option<GoLive>,
    ) -> Result<Self, SessionError> {
        let streaming = live.is_some();
        let live = live.unwrap_or_default();
        let names: Vec<String> = config.encodings.iter().map(|e| e.name.clone()).collect();
        let check = CheckRun::start(live.check, |n| names.iter().position(|x| x == n)).await?;
        let named = with_check_rows(live.destinations, check.as_ref(), &names);
        let dests = named.iter().map(|n| (n.dest.clone(), n.encoding)).collect();
        let started = tokio::task::spawn_blocking(move || match capture {
            Some(c) => Engine::start_on(c, config, dests),
            None => Engine::start(config, dests),
        })
        .await;
        let engine = match started {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                if let Some(c) = &check {
                    for (_, i) in &c.ingests {
                        i.abort();
                    }
                }
                return Err(e.into());
            }
            Err(e) => return Err(SessionError::Panicked(e.to_string())),
        };
        let rows = named
            .into_iter()
            .zip(engine.output_ids().iter().copied())
            .map(|(n, output)| Row {
                id: n.id,
                output,
                encoding: n.encoding,
                on: true,
                dest: n.dest,
            })
            .collect();
        Ok(Self {
            engine,
            rows: Mutex::new(rows),
            check: Mutex::new(check),
            streaming: AtomicBool::new(streaming),
            lag_seen: AtomicU64::new(0),
        })
    }

    /// Goes live while recording: the running encode goes to `live`'s
    /// destinations too, each from the next keyframe.
    pub async fn go_live(&self, live: GoLive) -> Result<(), SessionError> {
        if self.is_streaming() {
            return Err(SessionError::AlreadyLive);
        }
        let names: Vec<String> = self
            .engine
            .encodings()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let check = CheckRun::start(live.check, |n| self.engine.encoding_index(n)).await?;
        let named = with_check_rows(live.destinations, check.as_ref(), &names);
        let manager = self.engine.manager();
        let rows = named
            .into_iter()
            .map(|n| Row {
                output: manager.add_on(n.dest.clone(), n.encoding),
                id: n.id,
                encoding: n.encoding,
                on: true,
                dest: n.dest,
            })
            .collect();
        *lock(&self.rows) = rows;
        *lock(&self.check) = check;
        self.streaming.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The engine (its Outputs, recorder, meters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Streaming to destinations (not only recording).
    pub fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }

    /// A recording is running.
    pub fn is_recording(&self) -> bool {
        self.engine.recorder().status().is_some()
    }

    /// Whether destination `id` is switched on; `None` when it is not part
    /// of this stream.
    pub fn is_on(&self, id: &str) -> Option<bool> {
        lock(&self.rows).iter().find(|r| r.id == id).map(|r| r.on)
    }

    /// Switches destination `id` off (it unpublishes cleanly; its figures
    /// stay) while the others stay live. Already off: nothing happens.
    pub async fn switch_off(&self, id: &str) -> Result<(), SessionError> {
        let output = match self.row(id)? {
            Row { on: false, .. } => return Ok(()),
            r => r.output,
        };
        self.engine.manager().stop_one(output).await;
        if let Some(r) = lock(&self.rows).iter_mut().find(|r| r.id == id) {
            r.on = false;
        }
        Ok(())
    }

    /// Switches destination `id` back on: a new connection that starts at
    /// the next keyframe. `dest` replaces the destination it started with
    /// (a key read again); the stream check always goes to its ingest.
    /// Already on: nothing happens.
    pub async fn switch_on(&self, id: &str, dest: Option<Destination>) -> Result<(), SessionError> {
        let row = self.row(id)?;
        if row.on {
            return Ok(());
        }
        let dest = if id == CHECK_ID || id.starts_with(&format!("{CHECK_ID}:")) {
            lock(&self.check)
                .as_ref()
                .and_then(|c| c.ingest(row.encoding))
                .map(|i| i.destination())
                .ok_or(SessionError::CheckNotRunning)?
        } else {
            dest.unwrap_or(row.dest)
        };
        let manager = self.engine.manager();
        manager.forget(row.output);
        let output = manager.add_on(dest.clone(), row.encoding);
        if let Some(r) = lock(&self.rows).iter_mut().find(|r| r.id == id) {
            *r = Row {
                id: id.to_owned(),
                output,
                encoding: row.encoding,
                on: true,
                dest,
            };
        }
        Ok(())
    }

    fn row(&self, id: &str) -> Result<Row, SessionError> {
        if !self.is_streaming() {
            return Err(SessionError::NotLive);
        }
        lock(&self.rows)
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(SessionError::NotInStream)
    }

    /// The stream check's report as of now, judged.
    pub fn check_report(&self) -> Option<CheckReport> {
        lock(&self.check).as_ref().map(CheckRun::judged)
    }

    /// The mix's meters as of now (none without an audio track).
    pub fn meters(&self) -> Option<MeterUpdate> {
        self.engine.capture()?.meters()
    }

    /// Everything a front end shows, as of now. "Encoder overloaded" is
    /// since the previous call: call it once a second.
    pub fn update(&self) -> LiveUpdate {
        let e = &self.engine;
        let stats = e.manager().stats();
        let destinations = lock(&self.rows)
            .iter()
            .filter_map(|r| {
                let s = stats.iter().find(|s| s.id == r.output)?;
                Some(DestinationUpdate {
                    id: r.id.clone(),
                    on: r.on,
                    encoding: e
                        .encodings()
                        .get(r.encoding)
                        .map(|e| e.name.clone())
                        .unwrap_or_default(),
                    stats: s.clone(),
                })
            })
            .collect();
        let encoders = encoder_updates(e.encodings(), e.encoder_stats());
        let lag: u64 = encoders.iter().map(|e| e.skipped).sum();
        let lag_before = self.lag_seen.swap(lag, Ordering::Relaxed);
        let finite = |x: f32| x.is_finite().then_some(x);
        let level = e.audio_level();
        LiveUpdate {
            destinations,
            audio_peak_dbfs: level.and_then(|l| finite(l.peak_dbfs())),
            audio_rms_dbfs: level.and_then(|l| finite(l.rms_dbfs())),
            encoder_overloaded: lag > lag_before,
            camera_lost: e
                .camera_stats()
                .is_some_and(|c| c.lost.load(Ordering::Relaxed)),
            mic_lost: e
                .mic_stats()
                .is_some_and(|m| m.lost.load(Ordering::Relaxed)),
            video_kbps: encoders.first().map_or(0, |e| e.kbps),
            encoders,
            streaming: self.is_streaming(),
            check: self.check_report(),
            recording: e.recorder().status(),
        }
    }

    /// Ends the stream on every destination (bounded, about 2 s); the
    /// encode and a running recording go on. Returns the stream check's
    /// final report.
    pub async fn end_stream(&self) -> Result<Option<CheckReport>, SessionError> {
        if !self.streaming.swap(false, Ordering::Relaxed) {
            return Err(SessionError::NotLive);
        }
        lock(&self.rows).clear();
        self.engine.manager().stop_all().await;
        // After the Outputs unpublished: the check's last word.
        let check = lock(&self.check).take();
        Ok(match check {
            Some(c) => Some(c.finish().await),
            None => None,
        })
    }

    /// Stops everything: the encoders, the recording (finished), every
    /// Output (cleanly, bounded), then the stream check.
    pub async fn stop(self) -> Finished {
        let manager = self.engine.manager().clone();
        let encodings = self.engine.encodings().to_vec();
        let encoder_stats = self.engine.encoder_stats().to_vec();
        let stopped = self.engine.stop_with_recording().await;
        let check = self.check.into_inner().unwrap_or_else(|e| e.into_inner());
        let check = match check {
            Some(c) => Some(c.finish().await),
            None => None,
        };
        Finished {
            stats: manager.stats(),
            check,
            recording: stopped.recording,
            socket_latencies_us: stopped.socket_latencies_us,
            media_error: manager.media_error(),
            encoders: encoder_updates(&encodings, &encoder_stats),
        }
    }
}

/// The destinations, and the stream check's ingests last (row [`CHECK_ID`]
/// for `main`, `check:NAME` for another encoding).
fn with_check_rows(
    mut named: Vec<NamedDestination>,
    check: Option<&CheckRun>,
    names: &[String],
) -> Vec<NamedDestination> {
    if let Some(c) = check {
        named.extend(c.rows(names));
    }
    named
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    fn stats(id: u64, state: OutputState, was_live: bool) -> OutputStats {
        OutputStats {
            error: (state == OutputState::Failed).then(|| "key rejected".into()),
            was_live,
            ..OutputStats::idle(id, format!("rtmp://host/app/{id}"), state)
        }
    }

    fn finished(stats: Vec<OutputStats>) -> Finished {
        Finished {
            stats,
            check: None,
            recording: None,
            socket_latencies_us: Vec::new(),
            media_error: None,
            encoders: Vec::new(),
        }
    }

    #[test]
    fn outcome_names_each_destination_that_fell_short() {
        let all_live = finished(vec![
            stats(1, OutputState::Stopped, true),
            stats(2, OutputState::Stopped, true),
        ]);
        assert_eq!(all_live.outcome(), Outcome::AllLive);
        assert!(all_live.shortfalls().is_empty());

        let one_failed = finished(vec![
            stats(1, OutputState::Stopped, true),
            stats(2, OutputState::Failed, false),
        ]);
        assert_eq!(one_failed.outcome(), Outcome::SomeFellShort);
        assert_eq!(
            one_failed.shortfalls(),
            vec!["rtmp://host/app/2: never went live: key rejected".to_owned()]
        );

        let dropped_later = finished(vec![stats(1, OutputState::Failed, true)]);
        assert_eq!(dropped_later.outcome(), Outcome::AllFailed);
        assert_eq!(
            dropped_later.shortfalls(),
            vec!["rtmp://host/app/1: failed: key rejected".to_owned()]
        );

        let never_answered = finished(vec![
            stats(1, OutputState::Stopped, true),
            stats(2, OutputState::Stopped, false),
        ]);
        assert_eq!(
            never_answered.shortfalls(),
            vec![
                "rtmp://host/app/2: never went live: no answer before the stream ended".to_owned()
            ]
        );

        assert_eq!(
            finished(vec![]).outcome(),
            Outcome::AllLive,
            "recording only"
        );
    }
}
