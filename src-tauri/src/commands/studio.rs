//! The Studio: Go Live to every enabled destination at once, one
//! destination on or off while the others stay live, End Stream; a 1 Hz
//! update for the destination cards and meters, and a 15 fps preview.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use onair_media::{AudioSettings, H264Config, PipelineConfig};
use onair_output::{AudioInput, Destination, Engine, EngineConfig, OutputStats, VideoInput};
use tauri::ipc::Channel;

use crate::commands::profiles::blocking_problems;
use crate::error::{AppError, ErrorKind};
use crate::state::{AppState, Live};

/// (profile id, Output index, on), read by the update task and changed by
/// the toggles.
pub type OutputMap = Arc<Mutex<Vec<(String, usize, bool)>>>;

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

/// `test` | `camera` | `camera:N`.
pub fn video_input(s: &str) -> Option<VideoInput> {
    match s {
        "test" => Some(VideoInput::TestPattern),
        "camera" => Some(VideoInput::Camera { index: 0 }),
        _ => s
            .strip_prefix("camera:")?
            .parse()
            .ok()
            .map(|index| VideoInput::Camera { index }),
    }
}

/// `tone` | `none` | `mic` | `mic:NAME`.
pub fn audio_input(s: &str) -> Option<AudioInput> {
    match s {
        "tone" => Some(AudioInput::Tone),
        "none" => Some(AudioInput::None),
        "mic" => Some(AudioInput::Mic { name: None }),
        _ => s
            .strip_prefix("mic:")
            .filter(|n| !n.is_empty())
            .map(|n| AudioInput::Mic {
                name: Some(n.to_string()),
            }),
    }
}

fn destination_of(
    state: &AppState,
    id: &str,
    server_url: &str,
    name: &str,
) -> Result<Destination, AppError> {
    let key = state
        .keys
        .get(id)
        .map_err(|e| AppError::new(ErrorKind::KeyStore, e.to_string()))?
        .ok_or_else(|| AppError::new(ErrorKind::NoKey, format!("{name}: no stream key is set.")))?;
    let url = format!(
        "{}/{}",
        server_url.trim().trim_end_matches('/'),
        key.expose()
    );
    Destination::parse(&url).map_err(|e| AppError::new(ErrorKind::Invalid, format!("{name}: {e}")))
}

/// Starts every enabled destination at once.
#[tauri::command]
#[specta::specta]
pub async fn start_stream(
    state: tauri::State<'_, AppState>,
    on_update: Channel<LiveUpdate>,
    on_preview: Channel<PreviewUpdate>,
) -> Result<(), AppError> {
    let mut live = state.live.lock().await;
    if live.is_some() {
        return Err(AppError::new(ErrorKind::AlreadyLive, "Already live."));
    }
    let data = state.data.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !data.profiles.iter().any(|p| p.enabled) {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "Turn on at least one destination.",
        ));
    }
    if let Some(msg) = blocking_problems(&data.profiles, &data.settings) {
        return Err(AppError::new(ErrorKind::Invalid, msg));
    }
    let mut ids = Vec::new();
    let mut dests = Vec::new();
    for p in data.profiles.iter().filter(|p| p.enabled) {
        dests.push(destination_of(&state, &p.id, &p.server_url, &p.name)?);
        ids.push(p.id.clone());
    }
    let s = &data.settings;
    let config = EngineConfig {
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
        record: None,
    };
    let engine = Engine::start(config, dests).map_err(|e| match e {
        onair_output::EngineError::Media(onair_media::MediaError::Source(e)) => {
            AppError::new(ErrorKind::Source, e.to_string())
        }
        e => AppError::new(ErrorKind::Media, format!("Cannot start encoding: {e}")),
    })?;
    let outputs: OutputMap = Arc::new(Mutex::new(
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| (id, i, true))
            .collect(),
    ));
    let tasks = vec![
        spawn_preview(&engine, on_preview),
        spawn_updates(&engine, outputs.clone(), on_update),
    ];
    *live = Some(Live {
        engine,
        outputs,
        tasks,
    });
    Ok(())
}

fn spawn_preview(
    engine: &Engine,
    on_preview: Channel<PreviewUpdate>,
) -> tauri::async_runtime::JoinHandle<()> {
    let preview = engine.preview().clone();
    tauri::async_runtime::spawn(async move {
        let period = Duration::from_millis(1000 / u64::from(onair_output::PREVIEW_FPS));
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
    on_update: Channel<LiveUpdate>,
) -> tauri::async_runtime::JoinHandle<()> {
    let manager = engine.manager().clone();
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
                .filter_map(|(id, i, on)| {
                    stats.get(*i).map(|s| DestinationUpdate {
                        id: id.clone(),
                        on: *on,
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
    let Some(pos) = table.iter().position(|(pid, _, _)| *pid == id) else {
        return Err(AppError::new(
            ErrorKind::NotFound,
            "That destination is not part of this stream.",
        ));
    };
    let (_, index, was_on) = table[pos].clone();
    if on == was_on {
        return Ok(());
    }
    if on {
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
        let dest = destination_of(&state, &p.id, &p.server_url, &p.name)?;
        let new_index = live.engine.manager().add(dest);
        table[pos] = (id, new_index, true);
    } else {
        live.engine.manager().stop_one(index).await;
        table[pos].2 = false;
    }
    *live.outputs.lock().unwrap_or_else(|e| e.into_inner()) = table;
    Ok(())
}

/// Ends the stream on every destination (bounded, about 2 s).
#[tauri::command]
#[specta::specta]
pub async fn end_stream(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let Some(live) = state.live.lock().await.take() else {
        return Err(AppError::new(ErrorKind::NotLive, "Not live."));
    };
    for t in &live.tasks {
        t.abort();
    }
    live.engine.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_settings_parse() {
        assert_eq!(video_input("test"), Some(VideoInput::TestPattern));
        assert_eq!(
            video_input("camera:2"),
            Some(VideoInput::Camera { index: 2 })
        );
        assert_eq!(video_input("camera:x"), None);
        assert_eq!(
            audio_input("mic:alsa:default"),
            Some(AudioInput::Mic {
                name: Some("alsa:default".into())
            })
        );
        assert_eq!(audio_input("mic:"), None);
        assert_eq!(audio_input("none"), Some(AudioInput::None));
    }
}
