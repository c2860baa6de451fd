//! The Studio: Go Live to every enabled destination at once, one
//! destination on or off while the others stay live, End Stream; a 1 Hz
//! update for the destination cards and meters, and a 15 fps preview.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use onair_check::ingest::CheckIngest;
use onair_check::CheckReport;
use onair_engine::{AudioInput, Engine, EngineConfig, VideoInput};
use onair_media::{AudioSettings, H264Config, PipelineConfig};
use onair_output::{Destination, OutputStats};
use onair_profiles::store::Settings;
use onair_record::{self as record, RecordingStatus, RecordingSummary};
use tauri::ipc::Channel;

use crate::commands::profiles::blocking_problems;
use crate::error::{AppError, ErrorKind};
use crate::state::{AppState, Live};

/// One destination card of the running stream.
#[derive(Debug, Clone)]
pub struct OutputRow {
    /// The profile (or [`CHECK_ID`]).
    pub profile_id: String,
    /// Its Output in the engine's manager.
    pub output: onair_output::OutputId,
    /// Switched on in this stream.
    pub on: bool,
}

/// The cards of the running stream, read by the update task and changed by
/// the toggles.
pub type OutputMap = Arc<Mutex<Vec<OutputRow>>>;

/// The stream check of this stream and what it is judged against
/// (`(name, platform, server url)` of every saved destination).
pub type CheckSlot = Arc<Mutex<Option<CheckRun>>>;

/// The stream check of a running stream.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// Its ingest.
    pub ingest: Arc<CheckIngest>,
    /// `(name, platform, server url)` of every saved destination, judged.
    pub targets: Vec<(String, String, String)>,
}

fn row(profile_id: String, output: onair_output::OutputId) -> OutputRow {
    OutputRow {
        profile_id,
        output,
        on: true,
    }
}

/// The card id of the stream check (profile ids start with `p`).
pub const CHECK_ID: &str = "check";

/// One destination card.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct DestinationUpdate {
    /// Profile id.
    pub id: String,
    /// Whether it is switched on in this stream.
    pub on: bool,
    /// Its indicators.
    pub stats: OutputStats,
}

/// Pushed once a second while live.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct LiveUpdate {
    /// One per destination started in this stream.
    pub destinations: Vec<DestinationUpdate>,
    /// Audio meter, dBFS (null: silence or no audio).
    pub audio_peak_dbfs: Option<f32>,
    /// Audio meter, dBFS.
    pub audio_rms_dbfs: Option<f32>,
    /// Encoding fell behind real time in the last second.
    pub encoder_overloaded: bool,
    /// The camera is gone (the slate is shown).
    pub camera_lost: bool,
    /// The microphone is gone (silence is sent).
    pub mic_lost: bool,
    /// Video bitrate the encoder runs at now, kbit/s.
    pub video_kbps: u32,
    /// Streaming to destinations (not only recording).
    pub streaming: bool,
    /// The stream check's report, judged against every saved destination.
    pub check: Option<CheckReport>,
    /// The running recording.
    pub recording: Option<RecordingStatus>,
}

/// A preview picture: I420, base64.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct PreviewUpdate {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Y, U, V planes one after the other, base64.
    pub i420: String,
}

/// `test` | `camera` | `camera:N` (see [`VideoInput`]'s `FromStr`).
pub fn video_input(s: &str) -> Option<VideoInput> {
    s.parse().ok()
}

/// `tone` | `none` | `mic` | `mic:NAME` (see [`AudioInput`]'s `FromStr`).
pub fn audio_input(s: &str) -> Option<AudioInput> {
    s.parse().ok()
}

/// The destination of a saved profile: its server URL and its key kept
/// apart (the URL's query string stays in the tcUrl, the key's with the
/// key). The key is read from the credential store off the async workers
/// (a locked keyring may ask the user to unlock it).
async fn destination_of(
    state: &AppState,
    id: &str,
    server_url: &str,
    name: &str,
) -> Result<Destination, AppError> {
    let keys = state.keys.clone();
    let pid = id.to_owned();
    let key = tauri::async_runtime::spawn_blocking(move || keys.get(&pid))
        .await
        .map_err(|e| AppError::new(ErrorKind::KeyStore, e.to_string()))?
        .map_err(|e| AppError::new(ErrorKind::KeyStore, e.to_string()))?
        .ok_or_else(|| AppError::new(ErrorKind::NoKey, format!("{name}: no stream key is set.")))?;
    Destination::from_parts(server_url, key)
        .map_err(|e| AppError::new(ErrorKind::Invalid, format!("{name}: {e}")))
}

fn engine_config(s: &Settings, record: Option<std::path::PathBuf>) -> EngineConfig {
    EngineConfig {
        pipeline: PipelineConfig {
            video: H264Config {
                width: s.width as usize,
                height: s.height as usize,
                fps: s.fps,
                bitrate_kbps: s.video_kbps,
                keyframe_interval_s: s.keyframe_interval_s,
            },
            audio: Some(AudioSettings {
                bitrate_kbps: s.audio_kbps,
            }),
            duration: None,
        },
        video: video_input(&s.video_source).unwrap_or_default(),
        audio: audio_input(&s.audio_source).unwrap_or_default(),
        drop_threshold_ms: s.drop_threshold_ms,
        dynamic_bitrate: s.dynamic_bitrate,
        preview: true,
        record,
    }
}

fn engine_error(e: onair_engine::EngineError) -> AppError {
    match e {
        onair_engine::EngineError::Media(onair_media::MediaError::Source(e)) => {
            AppError::new(ErrorKind::Source, e.to_string())
        }
        onair_engine::EngineError::Record(e) => AppError::new(ErrorKind::Record, e.to_string()),
        e => AppError::new(ErrorKind::Media, format!("Cannot start encoding: {e}")),
    }
}

/// Starts the engine (sources, encoders) with `dests` and the UI feeds.
/// Opening devices can block (drivers, PulseAudio): it runs on a blocking
/// thread, never on the window's thread or an async worker.
async fn start_engine(
    s: &Settings,
    dests: Vec<Destination>,
    record: Option<std::path::PathBuf>,
    on_update: Channel<LiveUpdate>,
    on_preview: Channel<PreviewUpdate>,
) -> Result<Live, AppError> {
    let config = engine_config(s, record);
    let engine = tauri::async_runtime::spawn_blocking(move || Engine::start(config, dests))
        .await
        .map_err(|e| AppError::new(ErrorKind::Media, format!("Cannot start encoding: {e}")))?
        .map_err(engine_error)?;
    let outputs: OutputMap = Arc::default();
    let check: CheckSlot = Arc::default();
    let streaming = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = vec![
        spawn_preview(&engine, on_preview),
        spawn_updates(
            &engine,
            outputs.clone(),
            check.clone(),
            streaming.clone(),
            on_update,
        ),
    ];
    Ok(Live {
        engine,
        outputs,
        check,
        streaming,
        tasks,
    })
}

/// Starts every enabled destination at once, and the stream check (unless
/// switched off in Settings). While recording, the running encode goes to
/// them too.
#[tauri::command]
#[specta::specta]
pub async fn start_stream(
    state: tauri::State<'_, AppState>,
    on_update: Channel<LiveUpdate>,
    on_preview: Channel<PreviewUpdate>,
) -> Result<(), AppError> {
    let mut guard = state.live.lock().await;
    if guard.as_ref().is_some_and(Live::is_streaming) {
        return Err(AppError::new(ErrorKind::AlreadyLive, "Already live."));
    }
    let data = state.data.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let check_on = data.settings.stream_check;
    if !data.profiles.iter().any(|p| p.enabled) && !check_on {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "Turn on at least one destination, or the stream check in Settings.",
        ));
    }
    if let Some(msg) = blocking_problems(&data.profiles, &data.settings) {
        return Err(AppError::new(ErrorKind::Invalid, msg));
    }
    let mut ids = Vec::new();
    let mut dests = Vec::new();
    for p in data.profiles.iter().filter(|p| p.enabled) {
        dests.push(destination_of(&state, &p.id, &p.server_url, &p.name).await?);
        ids.push(p.id.clone());
    }
    let ingest = if check_on {
        let i = CheckIngest::start().await.map_err(|e| {
            AppError::new(
                ErrorKind::Media,
                format!("Cannot start the stream check: {e}"),
            )
        })?;
        dests.push(i.destination());
        ids.push(CHECK_ID.to_owned());
        Some(Arc::new(i))
    } else {
        None
    };
    let table = match guard.as_mut() {
        // Recording: the running encode goes to the destinations too.
        Some(live) => ids
            .into_iter()
            .zip(dests)
            .map(|(id, d)| row(id, live.engine.manager().add(d)))
            .collect(),
        // Destinations before the encoders start: none misses the first
        // keyframe.
        None => {
            let live = start_engine(&data.settings, dests, None, on_update, on_preview).await?;
            let table = ids
                .into_iter()
                .zip(live.engine.output_ids().iter().copied())
                .map(|(id, oid)| row(id, oid))
                .collect();
            *guard = Some(live);
            table
        }
    };
    let Some(live) = guard.as_mut() else {
        return Err(AppError::new(ErrorKind::NotLive, "Not live."));
    };
    *live.outputs.lock().unwrap_or_else(|e| e.into_inner()) = table;
    *live.check.lock().unwrap_or_else(|e| e.into_inner()) = ingest.map(|ingest| CheckRun {
        ingest,
        targets: onair_check::judge_targets(&data.profiles),
    });
    live.streaming.store(true, Ordering::Relaxed);
    Ok(())
}

fn spawn_preview(
    engine: &Engine,
    on_preview: Channel<PreviewUpdate>,
) -> tauri::async_runtime::JoinHandle<()> {
    let preview = engine.preview().clone();
    tauri::async_runtime::spawn(async move {
        let period = Duration::from_millis(1000 / u64::from(onair_engine::PREVIEW_FPS));
        let mut tick = tokio::time::interval(period);
        let mut seq = 0;
        loop {
            tick.tick().await;
            if let Some(f) = preview.newer_than(seq) {
                seq = f.seq;
                let u = PreviewUpdate {
                    width: f.width,
                    height: f.height,
                    i420: base64::engine::general_purpose::STANDARD.encode(&f.i420),
                };
                if on_preview.send(u).is_err() {
                    break;
                }
            }
        }
    })
}

fn spawn_updates(
    engine: &Engine,
    outputs: OutputMap,
    check: CheckSlot,
    streaming: Arc<std::sync::atomic::AtomicBool>,
    on_update: Channel<LiveUpdate>,
) -> tauri::async_runtime::JoinHandle<()> {
    let manager = engine.manager().clone();
    let recorder = engine.recorder().clone();
    let pipeline = engine.pipeline_stats();
    let level = engine.audio_level().cloned();
    let camera = engine.camera_stats().cloned();
    let mic = engine.mic_stats().cloned();
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut lag_before = 0;
        loop {
            tick.tick().await;
            let stats = manager.stats();
            let table = outputs.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let destinations = table
                .iter()
                .filter_map(|r| {
                    stats
                        .iter()
                        .find(|s| s.id == r.output)
                        .map(|s| DestinationUpdate {
                            id: r.profile_id.clone(),
                            on: r.on,
                            stats: s.clone(),
                        })
                })
                .collect();
            let lag = pipeline
                .as_ref()
                .map_or(0, |p| p.frames_dropped_lag.load(Ordering::Relaxed));
            let finite = |x: f32| x.is_finite().then_some(x);
            let u = LiveUpdate {
                destinations,
                audio_peak_dbfs: level.as_ref().and_then(|l| finite(l.peak_dbfs())),
                audio_rms_dbfs: level.as_ref().and_then(|l| finite(l.rms_dbfs())),
                encoder_overloaded: lag > lag_before,
                camera_lost: camera
                    .as_ref()
                    .is_some_and(|c| c.lost.load(Ordering::Relaxed)),
                mic_lost: mic.as_ref().is_some_and(|m| m.lost.load(Ordering::Relaxed)),
                video_kbps: pipeline
                    .as_ref()
                    .map_or(0, |p| p.video_kbps.load(Ordering::Relaxed)),
                streaming: streaming.load(Ordering::Relaxed),
                check: judged(&check),
                recording: recorder.status(),
            };
            lag_before = lag;
            if on_update.send(u).is_err() {
                break;
            }
        }
    })
}

/// Switches one destination off (cleanly) or back on while the others stay
/// live.
#[tauri::command]
#[specta::specta]
pub async fn set_destination_live(
    state: tauri::State<'_, AppState>,
    id: String,
    on: bool,
) -> Result<(), AppError> {
    let mut guard = state.live.lock().await;
    let Some(live) = guard.as_mut() else {
        return Err(AppError::new(ErrorKind::NotLive, "Not live."));
    };
    let mut table = live
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(pos) = table.iter().position(|r| r.profile_id == id) else {
        return Err(AppError::new(
            ErrorKind::NotFound,
            "That destination is not part of this stream.",
        ));
    };
    let (index, was_on) = (table[pos].output, table[pos].on);
    if on == was_on {
        return Ok(());
    }
    if on && id == CHECK_ID {
        let dest = live
            .check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.ingest.destination())
            .ok_or_else(|| {
                AppError::new(ErrorKind::NotFound, "The stream check is not running.")
            })?;
        live.engine.manager().forget(index);
        let new_index = live.engine.manager().add(dest);
        table[pos] = row(id, new_index);
    } else if on {
        let p = state
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .profiles
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| {
                AppError::new(ErrorKind::NotFound, "That destination no longer exists.")
            })?;
        let dest = destination_of(&state, &p.id, &p.server_url, &p.name).await?;
        live.engine.manager().forget(index);
        let new_index = live.engine.manager().add(dest);
        table[pos] = row(id, new_index);
    } else {
        live.engine.manager().stop_one(index).await;
        table[pos].on = false;
    }
    *live.outputs.lock().unwrap_or_else(|e| e.into_inner()) = table;
    Ok(())
}

fn judged(check: &CheckSlot) -> Option<CheckReport> {
    let slot = check.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref().map(|c| {
        let mut r = c.ingest.report();
        r.judge(&c.targets);
        r
    })
}

/// Ends the stream on every destination (bounded, about 2 s); a running
/// recording goes on. Returns the stream check's final report.
#[tauri::command]
#[specta::specta]
pub async fn end_stream(
    state: tauri::State<'_, AppState>,
) -> Result<Option<CheckReport>, AppError> {
    let mut guard = state.live.lock().await;
    let Some(live) = guard.as_mut().filter(|l| l.is_streaming()) else {
        return Err(AppError::new(ErrorKind::NotLive, "Not live."));
    };
    live.streaming.store(false, Ordering::Relaxed);
    live.outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let check = live.check.clone();
    if live.engine.recorder().status().is_some() {
        live.engine.manager().stop_all().await;
    } else if let Some(live) = guard.take() {
        live.shut_down().await;
    }
    // After the outputs unpublished: the check's last word.
    let ingest = check
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|c| c.ingest.clone());
    if let Some(i) = ingest {
        i.wait_ended(Duration::from_millis(500)).await;
    }
    let report = judged(&check);
    if let Some(c) = check.lock().unwrap_or_else(|e| e.into_inner()).take() {
        c.ingest.abort();
    }
    if let Some(r) = &report {
        *state.last_check.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
    }
    Ok(report)
}

/// Starts recording to a new file in the recordings folder: the running
/// encode from its next picture (a keyframe is asked for), or, when not
/// live, by starting the camera and microphone just for the recording.
/// Returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn start_recording(
    state: tauri::State<'_, AppState>,
    on_update: Channel<LiveUpdate>,
    on_preview: Channel<PreviewUpdate>,
) -> Result<String, AppError> {
    let mut guard = state.live.lock().await;
    let settings = state
        .data
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .settings
        .clone();
    let folder = onair_profiles::store::record_folder(&settings.record_folder);
    let name = record::file_name(&settings.record_pattern, record::stamp::Stamp::now());
    let path = record::unique_path(&folder, &name);
    match guard.as_ref() {
        Some(live) => live
            .engine
            .recorder()
            .start(&path)
            .map_err(|e| AppError::new(ErrorKind::Record, e.to_string()))?,
        None => {
            *guard = Some(
                start_engine(
                    &settings,
                    Vec::new(),
                    Some(path.clone()),
                    on_update,
                    on_preview,
                )
                .await?,
            )
        }
    }
    Ok(path.display().to_string())
}

/// Finishes the recording (its last fragment and durations). When not
/// streaming, the camera and microphone stop too.
#[tauri::command]
#[specta::specta]
pub async fn stop_recording(
    state: tauri::State<'_, AppState>,
) -> Result<RecordingSummary, AppError> {
    let mut guard = state.live.lock().await;
    let not_recording = || AppError::new(ErrorKind::NotRecording, "Not recording.");
    let live = guard.as_mut().ok_or_else(not_recording)?;
    let summary = live
        .engine
        .recorder()
        .stop()
        .await
        .ok_or_else(not_recording)?;
    if !live.is_streaming() {
        if let Some(live) = guard.take() {
            live.shut_down().await;
        }
    }
    Ok(summary)
}

/// Saves the stream check's report (the running one, else the last) as
/// JSON next to the recordings; returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn save_check_report(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let running = match state.live.lock().await.as_ref() {
        Some(live) => judged(&live.check),
        None => None,
    };
    let report = running
        .or_else(|| {
            state
                .last_check
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "No stream check yet: go live first."))?;
    let folder = {
        let data = state.data.lock().unwrap_or_else(|e| e.into_inner());
        onair_profiles::store::record_folder(&data.settings.record_folder)
    };
    let stamp = record::stamp::Stamp::now();
    let name = format!("OnAir check {} {}.json", stamp.date(), stamp.time());
    let path = record::unique_path(&folder, &name);
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| AppError::new(ErrorKind::Store, e.to_string()))?;
    // Writing and fsyncing run on a blocking thread, not an async worker.
    let target = path.clone();
    tauri::async_runtime::spawn_blocking(move || {
        std::fs::create_dir_all(&folder)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                onair_profiles::store::write_atomic(&target, &json).map_err(|e| e.to_string())
            })
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| {
        AppError::new(
            ErrorKind::Store,
            format!("Cannot save the report to {}: {e}", path.display()),
        )
    })?;
    Ok(path.display().to_string())
}
