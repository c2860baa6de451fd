//! The microphone — or desktop audio, what the computer plays ([`Capture`])
//! — as an [`AudioSource`]: cpal capture in any sample format
//! and channel count, resampled to 48 kHz stereo by rubato with its ratio
//! steered by the [`Aligner`] so audio stays on the media clock.
//!
//! cpal calls back on its own thread with each device buffer; the callback
//! converts it to f32 stereo and appends it, with its capture time, to a
//! bounded buffer. The audio thread asks for 1024 frames at a time; they are
//! resampled from that buffer (the engine puts a [`crate::meter::Metered`]
//! on it for the level meter). A lost device (unplugged, its server gone)
//! gives silence and a warning, and a capture thread reopens it every two
//! seconds: the stream never stops for it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::align::{Aligner, Correction, MAX_RATIO_DEVIATION};
use crate::pipeline::SAMPLE_RATE;
use crate::{AudioSource, MediaClock, SourceError};

/// What is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// An input device (a microphone).
    Microphone,
    /// What the computer plays: on Linux the monitor of an output through
    /// PulseAudio (or PipeWire's pulse server); elsewhere the default
    /// output's loopback where the platform's audio API offers one.
    Desktop,
}

impl Capture {
    /// For messages and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::Desktop => "desktop audio",
        }
    }
}

/// The host microphones are opened through: ALSA on Linux (whose `pulse`
/// and `default` devices reach a PulseAudio or PipeWire server too, and
/// which works without one), the platform's default elsewhere.
fn mic_host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    if let Ok(h) = cpal::host_from_id(cpal::HostId::Alsa) {
        return h;
    }
    cpal::default_host()
}

/// A microphone (or a desktop audio source) the system has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicInfo {
    /// The host's id for it (ALSA: the PCM name, e.g. `default`, `pulse`).
    pub id: String,
    /// A readable name.
    pub name: String,
    /// Whether it is the system's default input.
    pub default: bool,
}

/// A device's id and readable name ("" where the host cannot tell; the
/// name falls back to the id).
fn id_and_name(d: &cpal::Device) -> (String, String) {
    let id = d.id().map(|i| i.to_string()).unwrap_or_default();
    let name = d
        .description()
        .map(|x| x.name().to_string())
        .unwrap_or_else(|_| id.clone());
    (id, name)
}

/// The inputs of the default host.
pub fn list_microphones() -> Vec<MicInfo> {
    let host = mic_host();
    let default_id = host
        .default_input_device()
        .and_then(|d| d.id().ok())
        .map(|i| i.to_string());
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    devices
        .filter_map(|d| {
            let (id, name) = id_and_name(&d);
            if id.is_empty() {
                return None;
            }
            Some(MicInfo {
                default: Some(&id) == default_id.as_ref(),
                id,
                name,
            })
        })
        .collect()
}

/// Finds a device: `None` is the default input; otherwise an exact id
/// (with or without the host prefix), else a case-insensitive part of the
/// name or id.
fn find_device(capture: Capture, name: Option<&str>) -> Result<cpal::Device, SourceError> {
    if capture == Capture::Desktop {
        return find_desktop(name);
    }
    let host = mic_host();
    let Some(want) = name else {
        return host
            .default_input_device()
            .ok_or_else(|| SourceError::NotFound("no microphone found".into()));
    };
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| SourceError::NotFound(format!("cannot list microphones: {e}")))?
        .collect();
    let ids: Vec<(String, String)> = devices.iter().map(id_and_name).collect();
    let exact = ids
        .iter()
        .position(|(id, _)| id == want || id.split_once(':').is_some_and(|(_, rest)| rest == want));
    let lower = want.to_lowercase();
    let partial = || {
        ids.iter().position(|(id, n)| {
            n.to_lowercase().contains(&lower) || id.to_lowercase().contains(&lower)
        })
    };
    match exact.or_else(partial) {
        Some(i) => Ok(devices
            .into_iter()
            .nth(i)
            .expect("index from the same list")),
        None if ids.is_empty() => Err(SourceError::NotFound("no microphone found".into())),
        None => Err(SourceError::NotFound(format!(
            "no microphone '{want}'; microphones: {}",
            ids.iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The part of a device id after its host's prefix (`alsa:default` →
/// `default`).
fn bare(id: &str) -> &str {
    id.split_once(':').map_or(id, |(_, rest)| rest)
}

/// The desktop audio sources: on Linux, the PulseAudio monitors (one per
/// output; the default output's first), empty when no pulse server answers.
#[cfg(target_os = "linux")]
pub fn list_desktop_sources() -> Vec<MicInfo> {
    let Ok(host) = cpal::host_from_id(cpal::HostId::PulseAudio) else {
        return Vec::new();
    };
    let default_monitor = host
        .default_output_device()
        .and_then(|d| d.id().ok())
        .map(|i| format!("{}.monitor", bare(&i.to_string())));
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    let mut all: Vec<MicInfo> = devices
        .filter_map(|d| {
            let (id, name) = id_and_name(&d);
            let bare_id = bare(&id).to_owned();
            bare_id.ends_with(".monitor").then(|| MicInfo {
                default: Some(&bare_id) == default_monitor.as_ref(),
                id: bare_id,
                name,
            })
        })
        .collect();
    all.sort_by_key(|m| !m.default);
    all
}

/// The desktop audio sources: the default output (loopback).
#[cfg(not(target_os = "linux"))]
pub fn list_desktop_sources() -> Vec<MicInfo> {
    cpal::default_host()
        .default_output_device()
        .map(|d| {
            let (id, name) = id_and_name(&d);
            vec![MicInfo {
                id,
                name,
                default: true,
            }]
        })
        .unwrap_or_default()
}

/// Finds what desktop audio captures: `None` is the default output's
/// monitor; otherwise a monitor by exact id or part of its name.
#[cfg(target_os = "linux")]
fn find_desktop(name: Option<&str>) -> Result<cpal::Device, SourceError> {
    let host = cpal::host_from_id(cpal::HostId::PulseAudio).map_err(|e| {
        SourceError::NotFound(format!(
            "desktop audio needs a PulseAudio (or PipeWire pulse) server: {e}"
        ))
    })?;
    let want = match name {
        Some(n) => n.to_owned(),
        None => {
            let sink = host.default_output_device().ok_or_else(|| {
                SourceError::NotFound("desktop audio: the system has no output".into())
            })?;
            let id = sink.id().map(|i| i.to_string()).unwrap_or_default();
            format!("{}.monitor", bare(&id))
        }
    };
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| SourceError::NotFound(format!("cannot list desktop audio sources: {e}")))?
        .filter(|d| id_and_name(d).0.ends_with(".monitor"))
        .collect();
    let ids: Vec<(String, String)> = devices.iter().map(id_and_name).collect();
    let lower = want.to_lowercase();
    let found = ids
        .iter()
        .position(|(id, _)| bare(id) == want || *id == want)
        .or_else(|| {
            ids.iter().position(|(id, n)| {
                n.to_lowercase().contains(&lower) || id.to_lowercase().contains(&lower)
            })
        });
    match found {
        Some(i) => Ok(devices
            .into_iter()
            .nth(i)
            .expect("index from the same list")),
        None => Err(SourceError::NotFound(format!(
            "no desktop audio source '{want}'; sources: {}",
            ids.iter()
                .map(|(id, _)| bare(id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Finds what desktop audio captures: the default output, whose input
/// stream is its loopback (WASAPI; CoreAudio where cpal offers it).
#[cfg(not(target_os = "linux"))]
fn find_desktop(_name: Option<&str>) -> Result<cpal::Device, SourceError> {
    cpal::default_host()
        .default_output_device()
        .ok_or_else(|| SourceError::NotFound("desktop audio: the system has no output".into()))
}

/// Health of the microphone path, for the UI and the CLI.
#[derive(Debug)]
pub struct MicStats {
    /// Last aligner error, µs (capture time − media time).
    pub offset_us: AtomicI64,
    /// Resampling ratio relative to nominal, parts per million off 1.
    pub ratio_ppm: AtomicI64,
    /// Chunks that had to be padded because the device was late.
    pub underruns: AtomicU64,
    /// Immediate corrections (silence inserted or input skipped).
    pub hard_corrections: AtomicU64,
    /// Times the device was lost.
    pub losses: AtomicU64,
    /// Whether the device is lost right now (silence is being sent).
    pub lost: AtomicBool,
    /// Device sample rate.
    pub device_rate: AtomicU32,
    /// Device channels.
    pub device_channels: AtomicU32,
}

impl Default for MicStats {
    fn default() -> Self {
        Self {
            offset_us: AtomicI64::new(0),
            ratio_ppm: AtomicI64::new(0),
            underruns: AtomicU64::new(0),
            hard_corrections: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            lost: AtomicBool::new(false),
            device_rate: AtomicU32::new(0),
            device_channels: AtomicU32::new(0),
        }
    }
}

/// Input buffered at most, in seconds of audio; past it, the oldest goes.
const MAX_BUFFER_S: usize = 2;
/// The audio thread waits at most this long for a late device.
const MAX_WAIT: Duration = Duration::from_millis(120);
/// No data for this long while not lost: treated as lost.
const SILENT_DEVICE: Duration = Duration::from_millis(1500);
/// Pause between reopen attempts.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// What the callback hands the reader.
#[derive(Debug, Default)]
struct Incoming {
    /// Stereo interleaved f32.
    samples: VecDeque<f32>,
    /// Frames offered by the device since (re)open, counting any dropped.
    offered: u64,
    /// Frames dropped from the front because nobody read them.
    dropped_front: u64,
    /// (frame index, capture instant of that frame), newest last.
    anchors: Vec<(u64, Instant)>,
    rate: u32,
    /// Bumped at every (re)open; the reader resets on a change.
    generation: u64,
    last_data: Option<Instant>,
}

struct Shared {
    capture: Capture,
    incoming: Mutex<Incoming>,
    reader: Mutex<Option<Thread>>,
    lost: AtomicBool,
    stats: Arc<MicStats>,
}

impl Shared {
    fn wake_reader(&self) {
        if let Ok(r) = self.reader.try_lock() {
            if let Some(t) = r.as_ref() {
                t.unpark();
            }
        }
    }
}

/// Appends one device buffer (any sample type, any channel count).
fn on_data<T>(shared: &Shared, data: &[T], channels: usize, info: &cpal::InputCallbackInfo)
where
    T: cpal::Sample,
    f32: FromSample<T>,
{
    let now = Instant::now();
    let ts = info.timestamp();
    // The driver's delay between the buffer's first frame and this callback.
    let delay = ts.callback.saturating_duration_since(ts.capture);
    let first_at = now.checked_sub(delay).unwrap_or(now);
    let channels = channels.max(1);
    let frames = data.len() / channels;
    let Ok(mut inc) = shared.incoming.lock() else {
        return;
    };
    let index = inc.offered;
    for frame in data.chunks_exact(channels) {
        let l: f32 = f32::from_sample_(frame[0]);
        let r: f32 = if channels > 1 {
            f32::from_sample_(frame[1])
        } else {
            l
        };
        inc.samples.push_back(l);
        inc.samples.push_back(r);
    }
    inc.offered += frames as u64;
    let cap = MAX_BUFFER_S * inc.rate.max(8000) as usize * 2;
    if inc.samples.len() > cap {
        let excess = (inc.samples.len() - cap) & !1;
        inc.samples.drain(..excess);
        inc.dropped_front += excess as u64 / 2;
    }
    if inc.anchors.len() >= 256 {
        inc.anchors.remove(0);
    }
    inc.anchors.push((index, first_at));
    inc.last_data = Some(now);
    drop(inc);
    shared.wake_reader();
}

fn build_stream(
    device: &cpal::Device,
    shared: &Arc<Shared>,
) -> Result<(cpal::Stream, u32, u16), SourceError> {
    let what = shared.capture.label();
    let config = device
        .default_input_config()
        .map_err(|e| SourceError::Unsupported(format!("{what} has no usable format: {e}")))?;
    let format = config.sample_format();
    let channels = config.channels();
    let rate = config.sample_rate();
    let mut stream_config = config.config();
    if shared.capture == Capture::Desktop {
        // A PulseAudio monitor left at its default fragment hands audio
        // over in ~2 s blocks (and looks lost in between): ask for 10 ms.
        stream_config.buffer_size = cpal::BufferSize::Fixed((rate / 100).max(64));
    }
    let err_shared = shared.clone();
    let on_error = move |e: cpal::Error| {
        tracing::warn!(error = %e, source = err_shared.capture.label(), "capture error");
        err_shared.lost.store(true, Ordering::SeqCst);
        err_shared.wake_reader();
    };
    macro_rules! build {
        ($t:ty) => {{
            let s = shared.clone();
            let ch = usize::from(channels);
            device.build_input_stream::<$t, _, _>(
                stream_config,
                move |data: &[$t], info: &cpal::InputCallbackInfo| on_data(&s, data, ch, info),
                on_error,
                None,
            )
        }};
    }
    let stream = match format {
        SampleFormat::I8 => build!(i8),
        SampleFormat::I16 => build!(i16),
        SampleFormat::I32 => build!(i32),
        SampleFormat::I64 => build!(i64),
        SampleFormat::U8 => build!(u8),
        SampleFormat::U16 => build!(u16),
        SampleFormat::U32 => build!(u32),
        SampleFormat::U64 => build!(u64),
        SampleFormat::F32 => build!(f32),
        SampleFormat::F64 => build!(f64),
        SampleFormat::I24 => build!(cpal::I24),
        SampleFormat::U24 => build!(cpal::U24),
        other => {
            return Err(SourceError::Unsupported(format!(
                "{what} sample format {other} is not supported"
            )))
        }
    }
    .map_err(|e| SourceError::Unsupported(format!("{what} cannot be opened: {e}")))?;
    stream
        .play()
        .map_err(|e| SourceError::Unsupported(format!("{what} does not start: {e}")))?;
    Ok((stream, rate, channels))
}

/// Opens the device and marks a new generation in the shared buffer.
fn open(name: Option<&str>, shared: &Arc<Shared>) -> Result<(cpal::Stream, String), SourceError> {
    let device = find_device(shared.capture, name)?;
    let id = device
        .id()
        .map(|i| i.to_string())
        .unwrap_or_else(|_| shared.capture.label().into());
    {
        let mut inc = shared
            .incoming
            .lock()
            .map_err(|_| SourceError::Lost("poisoned".into()))?;
        *inc = Incoming {
            generation: inc.generation + 1,
            rate: 0,
            ..Incoming::default()
        };
    }
    let (stream, rate, channels) = build_stream(&device, shared)?;
    if let Ok(mut inc) = shared.incoming.lock() {
        inc.rate = rate;
    }
    shared.stats.device_rate.store(rate, Ordering::Relaxed);
    shared
        .stats
        .device_channels
        .store(u32::from(channels), Ordering::Relaxed);
    shared.lost.store(false, Ordering::SeqCst);
    tracing::info!(device = %id, rate, channels, source = shared.capture.label(), "capture opened");
    Ok((stream, id))
}

/// Drops a stream on a thread of its own: closing a stream whose server is
/// gone can block in the driver (ALSA's pulse plugin does), and nothing here
/// may wait for that.
fn retire(stream: Option<cpal::Stream>) {
    if let Some(s) = stream {
        let _ = std::thread::Builder::new()
            .name("onair-mic-close".into())
            .spawn(move || drop(s));
    }
}

/// Owns the cpal stream (on its own thread) and reopens it after a loss.
fn device_thread(
    name: Option<String>,
    mut stream: Option<cpal::Stream>,
    shared: Arc<Shared>,
    stop: mpsc::Receiver<()>,
) {
    loop {
        let wait = if stream.is_some() {
            Duration::from_millis(250)
        } else {
            REOPEN_EVERY
        };
        match stop.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                retire(stream);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if stream.is_some() {
            let silent = shared
                .incoming
                .lock()
                .ok()
                .and_then(|i| i.last_data)
                .is_some_and(|t| t.elapsed() > SILENT_DEVICE);
            let what = shared.capture.label();
            if silent && !shared.lost.swap(true, Ordering::SeqCst) {
                tracing::warn!("{what} delivers nothing");
            }
            if shared.lost.load(Ordering::SeqCst) {
                shared.stats.losses.fetch_add(1, Ordering::Relaxed);
                shared.stats.lost.store(true, Ordering::Relaxed);
                tracing::warn!("{what} lost; sending silence and retrying every 2 s");
                retire(stream.take());
                shared.wake_reader();
            }
        } else {
            match open(name.as_deref(), &shared) {
                Ok((s, id)) => {
                    tracing::info!(device = %id, "{} is back", shared.capture.label());
                    shared.stats.lost.store(false, Ordering::Relaxed);
                    stream = Some(s);
                }
                Err(e) => tracing::debug!(error = %e, "{} still gone", shared.capture.label()),
            }
        }
    }
}

/// The resampler the microphone path uses: sinc, 64 taps, 1024 frames out
/// per call, ratio adjustable by ±2 % (public for the benchmark).
pub fn new_resampler(rate_in: u32) -> Result<Async<f32>, SourceError> {
    let params = SincInterpolationParameters {
        sinc_len: 64,
        f_cutoff: Some(rubato::calculate_cutoff(
            64,
            WindowFunction::BlackmanHarris2,
        )),
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Linear,
        window: WindowFunction::BlackmanHarris2,
    };
    Async::<f32>::new_sinc(
        f64::from(SAMPLE_RATE) / f64::from(rate_in.max(1)),
        1.0 + 2.0 * MAX_RATIO_DEVIATION,
        &params,
        crate::AAC_FRAME_SAMPLES,
        2,
        FixedAsync::Output,
    )
    .map_err(|e| SourceError::Unsupported(format!("resampler: {e}")))
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> SourceError {
    SourceError::Lost("microphone buffer poisoned".into())
}

/// Resampling + alignment state of one device generation.
struct Reader {
    generation: u64,
    rate_in: u32,
    resampler: Async<f32>,
    aligner: Aligner,
    /// Input frames consumed (fed to the resampler or skipped), device index.
    consumed: u64,
    input: Vec<f32>,
}

/// The microphone as a 48 kHz stereo [`AudioSource`].
pub struct MicSource {
    shared: Arc<Shared>,
    clock: MediaClock,
    reader: Option<Reader>,
    warned_lost: bool,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    name: String,
}

impl std::fmt::Debug for MicSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicSource")
            .field("name", &self.name)
            .finish()
    }
}

impl MicSource {
    /// Opens the microphone (`None`: the default input). A missing device is
    /// an error here, before going live.
    pub fn open(name: Option<&str>, clock: MediaClock) -> Result<Self, SourceError> {
        Self::open_capture(Capture::Microphone, name, clock)
    }

    /// Opens desktop audio (`None`: the default output's monitor), lost
    /// and found again as a microphone is.
    pub fn open_desktop(name: Option<&str>, clock: MediaClock) -> Result<Self, SourceError> {
        Self::open_capture(Capture::Desktop, name, clock)
    }

    fn open_capture(
        capture: Capture,
        name: Option<&str>,
        clock: MediaClock,
    ) -> Result<Self, SourceError> {
        let shared = Arc::new(Shared {
            capture,
            incoming: Mutex::new(Incoming::default()),
            reader: Mutex::new(None),
            lost: AtomicBool::new(false),
            stats: Arc::new(MicStats::default()),
        });
        let (stream, id) = open(name, &shared)?;
        let (tx, rx) = mpsc::channel();
        let thread = {
            let shared = shared.clone();
            let name = name.map(str::to_owned);
            // cpal streams are not Send on every platform: hand it over to the
            // device thread by building it there would lose the early error,
            // so it is built here and moved (it is Send on ALSA, CoreAudio
            // and WASAPI in cpal 0.18).
            std::thread::Builder::new()
                .name(match capture {
                    Capture::Microphone => "onair-mic".into(),
                    Capture::Desktop => "onair-desktop".into(),
                })
                .spawn(move || device_thread(name, Some(stream), shared, rx))
                .map_err(|e| SourceError::Unsupported(format!("capture thread: {e}")))?
        };
        Ok(Self {
            shared,
            clock,
            reader: None,
            warned_lost: false,
            stop: Some(tx),
            thread: Some(thread),
            name: id,
        })
    }

    /// Health of the microphone path.
    pub fn stats(&self) -> Arc<MicStats> {
        self.shared.stats.clone()
    }

    /// The device's id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Produces 1024 frames stamped `label_us`; `Ok(false)` if the device
    /// had nothing usable (the caller sends silence).
    fn fill(&mut self, out: &mut [f32], label_us: i64) -> Result<bool, SourceError> {
        *self.shared.reader.lock().map_err(poisoned)? = Some(std::thread::current());
        if self.shared.lost.load(Ordering::SeqCst) {
            self.reader = None;
            self.shared.stats.offset_us.store(0, Ordering::Relaxed);
            self.shared.stats.ratio_ppm.store(0, Ordering::Relaxed);
            return Ok(false);
        }
        let stats = self.shared.stats.clone();
        // 1. Take the device's news and decide how to make this chunk.
        let mut skip = 0u64;
        {
            let mut inc = self.shared.incoming.lock().map_err(poisoned)?;
            if inc.rate == 0 {
                return Ok(false);
            }
            if self
                .reader
                .as_ref()
                .is_none_or(|r| r.generation != inc.generation)
            {
                self.reader = Some(Reader {
                    generation: inc.generation,
                    rate_in: inc.rate,
                    resampler: new_resampler(inc.rate)?,
                    aligner: Aligner::new(inc.rate),
                    consumed: inc.dropped_front,
                    input: Vec::new(),
                });
            }
            let reader = self.reader.as_mut().expect("set above");
            for (index, at) in std::mem::take(&mut inc.anchors) {
                reader
                    .aligner
                    .observe(index, self.clock.media_us_signed(at));
            }
            // Input dropped for lack of reading is skipped over.
            reader.consumed = reader.consumed.max(inc.dropped_front);
            let delay_in = reader.resampler.output_delay() as f64 * f64::from(reader.rate_in)
                / f64::from(SAMPLE_RATE);
            let correction = reader
                .aligner
                .correct(label_us, reader.consumed as f64 - delay_in);
            stats
                .offset_us
                .store(reader.aligner.error_us(), Ordering::Relaxed);
            match correction {
                Correction::Silence => {
                    stats.hard_corrections.fetch_add(1, Ordering::Relaxed);
                    return Ok(false);
                }
                Correction::Skip(k) => {
                    // Skip the backlog, then catch up with whatever of it is
                    // not there yet at the fastest steering rate.
                    stats.hard_corrections.fetch_add(1, Ordering::Relaxed);
                    skip = k;
                    let _ = reader
                        .resampler
                        .set_resample_ratio_relative(1.0 - MAX_RATIO_DEVIATION, false);
                }
                Correction::Steer(rel) => {
                    let _ = reader.resampler.set_resample_ratio_relative(rel, true);
                    stats
                        .ratio_ppm
                        .store(((rel - 1.0) * 1e6) as i64, Ordering::Relaxed);
                }
            }
        }
        // 2. Wait (bounded) until the device has delivered what it needs.
        let deadline = Instant::now() + MAX_WAIT;
        let reader = self.reader.as_mut().expect("set above");
        let needed = reader.resampler.input_frames_next();
        let take = loop {
            let mut inc = self.shared.incoming.lock().map_err(poisoned)?;
            if inc.generation != reader.generation || self.shared.lost.load(Ordering::SeqCst) {
                return Ok(false);
            }
            reader.consumed = reader.consumed.max(inc.dropped_front);
            let mut have = (inc.samples.len() / 2) as u64 - (reader.consumed - inc.dropped_front);
            if skip > 0 {
                let k = skip.min(have);
                reader.consumed += k;
                have -= k;
                skip -= k;
            }
            if have as usize >= needed || Instant::now() >= deadline {
                let take = (have as usize).min(needed);
                if take < needed {
                    stats.underruns.fetch_add(1, Ordering::Relaxed);
                }
                let start = (reader.consumed - inc.dropped_front) as usize * 2;
                reader.input.clear();
                reader
                    .input
                    .extend(inc.samples.range(start..start + take * 2));
                inc.samples.drain(..start + take * 2);
                reader.consumed += take as u64;
                inc.dropped_front = reader.consumed;
                break take;
            }
            drop(inc);
            std::thread::park_timeout(Duration::from_millis(5));
        };
        // 3. Resample (a short input is padded with silence by rubato).
        let input = InterleavedSlice::new(&reader.input, 2, take)
            .map_err(|e| SourceError::Lost(format!("resampler input: {e}")))?;
        let frames_out = out.len() / 2;
        let mut output = InterleavedSlice::new_mut(out, 2, frames_out)
            .map_err(|e| SourceError::Lost(format!("resampler output: {e}")))?;
        let indexing = rubato::Indexing {
            partial_len: (take < needed).then_some(take),
            ..Default::default()
        };
        reader
            .resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| SourceError::Lost(format!("resampler: {e}")))?;
        Ok(true)
    }
}

impl AudioSource for MicSource {
    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn read(&mut self, out: &mut [f32], first_sample: u64) -> Result<(), SourceError> {
        let label_us = (first_sample * 1_000_000 / u64::from(SAMPLE_RATE)) as i64;
        let ok = self.fill(out, label_us)?;
        if !ok {
            out.fill(0.0);
            let lost = self.shared.lost.load(Ordering::SeqCst);
            if lost && !self.warned_lost {
                tracing::warn!(device = %self.name, "{} lost: sending silence", self.shared.capture.label());
            }
            self.warned_lost = lost;
        } else {
            self.warned_lost = false;
        }
        Ok(())
    }
}

impl Drop for MicSource {
    fn drop(&mut self) {
        // The device thread ends within its next wake-up; opening a device
        // can block in the driver, so it is not waited for.
        drop(self.stop.take());
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(rate: u32) -> Shared {
        Shared {
            capture: Capture::Microphone,
            incoming: Mutex::new(Incoming {
                rate,
                ..Incoming::default()
            }),
            reader: Mutex::new(None),
            lost: AtomicBool::new(false),
            stats: Arc::new(MicStats::default()),
        }
    }

    fn info(delay_ms: u64) -> cpal::InputCallbackInfo {
        cpal::InputCallbackInfo::new(cpal::InputStreamTimestamp {
            callback: cpal::StreamInstant::from_millis(1000 + delay_ms),
            capture: cpal::StreamInstant::from_millis(1000),
        })
    }

    #[test]
    fn mono_i16_becomes_stereo_f32() {
        let s = shared(48_000);
        on_data(&s, &[i16::MAX, 0, i16::MIN], 1, &info(10));
        let inc = s.incoming.lock().unwrap();
        let got: Vec<f32> = inc.samples.iter().copied().collect();
        assert_eq!(got.len(), 6);
        assert!((got[0] - 1.0).abs() < 1e-4 && got[0] == got[1]);
        assert_eq!((got[2], got[3]), (0.0, 0.0));
        assert_eq!((got[4], got[5]), (-1.0, -1.0));
        assert_eq!(inc.offered, 3);
        // The capture time of the first frame is the callback time minus the
        // driver's delay.
        let (index, at) = inc.anchors[0];
        assert_eq!(index, 0);
        let age = at.elapsed();
        assert!(
            age >= Duration::from_millis(10) && age < Duration::from_millis(500),
            "{age:?}"
        );
    }

    #[test]
    fn four_channel_u8_keeps_front_left_and_right() {
        let s = shared(44_100);
        // Two frames of 4 channels: L R C LFE.
        on_data(&s, &[255u8, 0, 128, 128, 128, 255, 0, 0], 4, &info(0));
        let got: Vec<f32> = s.incoming.lock().unwrap().samples.iter().copied().collect();
        assert_eq!(got.len(), 4);
        assert!(got[0] > 0.99 && got[1] < -0.99);
        assert!(got[2].abs() < 0.01 && got[3] > 0.99);
    }

    #[test]
    fn unread_input_is_bounded() {
        let s = shared(48_000);
        let block = vec![0.25f32; 4800 * 2];
        for _ in 0..100 {
            on_data(&s, &block, 2, &info(0));
        }
        let inc = s.incoming.lock().unwrap();
        assert_eq!(inc.samples.len(), MAX_BUFFER_S * 48_000 * 2);
        assert_eq!(inc.offered, 480_000);
        assert_eq!(inc.dropped_front, 480_000 - MAX_BUFFER_S as u64 * 48_000);
        assert!(inc.anchors.len() <= 256);
    }
}
