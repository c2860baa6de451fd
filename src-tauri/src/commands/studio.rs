//! The Studio's commands: Go Live to every enabled destination at once, one
//! destination on or off while the others stay live, End Stream, recording
//! on its own, the stream check's report. The lifecycle is the engine's
//! [`Studio`](onair_engine::Studio); this file reads profiles and keys,
//! calls it, and feeds the window (a 1 Hz update over a channel; the
//! preview picture and meters, 15 times a second, into the mailbox the
//! window pulls them from — see `capture_feed`).

use onair_check::CheckReport;
use onair_engine::{EngineConfig, Feeds, GoLive, LiveUpdate, NamedDestination, CHECK_ID};
use onair_output::Destination;
use onair_profiles::audio::AudioMix;
use onair_record::{self as record, RecordingSummary};
use tauri::ipc::Channel;

use crate::error::{AppError, ErrorKind};
use crate::state::AppState;
use onair_profiles::edit::{encoding_index, go_live_problems};
use onair_profiles::store::Settings;

/// What runs, as the window's title and the panel indicator show it:
/// "● LIVE h:mm:ss" while streaming (the longest-live destination's
/// uptime), "● REC" while only recording, else nothing.
fn status_of(u: &LiveUpdate) -> Option<String> {
    if u.streaming {
        let up = u
            .destinations
            .iter()
            .filter_map(|d| d.stats.uptime_s)
            .max()
            .unwrap_or(0);
        Some(format!(
            "● LIVE {}:{:02}:{:02}",
            up / 3600,
            up / 60 % 60,
            up % 60
        ))
    } else if u.recording.is_some() {
        Some("● REC".into())
    } else {
        None
    }
}

/// Shows `status` in the window's title ("● LIVE 0:01:02 — OnAir") — the
/// panel and the task switcher show it — and in the panel indicator.
fn show_status(app: &tauri::AppHandle, status: Option<&str>) {
    use tauri::Manager;
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.set_title(&status.map_or("OnAir".into(), |s| format!("{s} — OnAir")));
    }
    if let Some(t) = app.try_state::<crate::tray::Tray>() {
        t.show(status);
    }
}

/// Puts the title and the indicator back once nothing runs.
async fn reset_title(app: &tauri::AppHandle, state: &AppState) {
    if state.studio.lock().await.session().is_none() {
        show_status(app, None);
    }
}

/// The window's feeds: updates over its channel; the preview pictures with
/// the meters into the mailbox the window pulls from.
fn feeds(app: tauri::AppHandle, state: &AppState, on_update: Channel<LiveUpdate>) -> Feeds {
    let capture = state.capture.clone();
    // A page loaded now gets nothing of the sources shown before.
    capture.clear();
    Feeds {
        on_update: Box::new(move |u| {
            show_status(&app, status_of(&u).as_deref());
            on_update.send(u).is_ok()
        }),
        on_capture: Box::new(move |c| {
            capture.post(&c);
            true
        }),
    }
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

/// Starts every enabled destination at once, and the stream check (unless
/// switched off in Settings). While recording, the running encode goes to
/// them too.
#[tauri::command]
#[specta::specta]
pub async fn start_stream(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let mut studio = state.studio.lock().await;
    if studio.is_streaming() {
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
    if let Some(msg) = go_live_problems(&data.profiles, &data.settings) {
        return Err(AppError::new(ErrorKind::Invalid, msg));
    }
    let mut destinations = Vec::new();
    for p in data.profiles.iter().filter(|p| p.enabled) {
        let dest = destination_of(&state, &p.id, &p.server_url, &p.name).await?;
        destinations.push(NamedDestination {
            id: p.id.clone(),
            dest,
            // go_live_problems refused a destination whose encoding is gone.
            encoding: encoding_index(p, &data.settings).unwrap_or(0),
        });
    }
    let live = GoLive {
        destinations,
        check: check_on.then(|| onair_check::judge_targets(&data.profiles)),
    };
    let config = EngineConfig::from_settings(&data.settings);
    studio.go_live(config, live).await?;
    Ok(())
}

/// Switches one destination off (cleanly) or back on (its key read again)
/// while the others stay live.
#[tauri::command]
#[specta::specta]
pub async fn set_destination_live(
    state: tauri::State<'_, AppState>,
    id: String,
    on: bool,
) -> Result<(), AppError> {
    let studio = state.studio.lock().await;
    let session = studio
        .session()
        .filter(|s| s.is_streaming())
        .ok_or_else(|| AppError::new(ErrorKind::NotLive, "Not live."))?;
    if !on {
        return Ok(session.switch_off(&id).await?);
    }
    if id == CHECK_ID || session.is_on(&id) != Some(false) {
        return Ok(session.switch_on(&id, None).await?);
    }
    let p = state
        .data
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .profiles
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "That destination no longer exists."))?;
    let dest = destination_of(&state, &p.id, &p.server_url, &p.name).await?;
    Ok(session.switch_on(&id, Some(dest)).await?)
}

/// Moves an encoding's crop (0.0 left to 1.0 right): at once while live,
/// and remembered in the settings for the next time.
#[tauri::command]
#[specta::specta]
pub async fn set_crop(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    encoding: String,
    x: f32,
) -> Result<Settings, AppError> {
    if !(0.0..=1.0).contains(&x) {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "The crop position must be 0.0 (left) to 1.0 (right).",
        ));
    }
    if let Some(session) = state.studio.lock().await.session() {
        if let Some(i) = session.engine().encoding_index(&encoding) {
            session.engine().set_crop(i, x);
        }
    }
    let mut settings = state.settings();
    if encoding == onair_engine::encoding::DEFAULT_NAME {
        settings.main_crop_x = x;
    } else {
        let e = settings
            .encodings
            .iter_mut()
            .find(|e| e.name == encoding)
            .ok_or_else(|| {
                AppError::new(ErrorKind::NotFound, format!("No encoding '{encoding}'."))
            })?;
        e.crop_x = x;
    }
    crate::commands::settings::save_settings(app, settings).await
}

/// A window that loads takes the feeds: the preview and meters of the
/// chosen camera and microphone (opened now when idle, so the creator sees
/// and hears before going live) and the updates of whatever runs — also
/// after a reload when the web view's process crashed while the stream
/// went on in this process. Returns the state now (`None` when idle).
#[tauri::command]
#[specta::specta]
pub async fn attach(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    on_update: Channel<LiveUpdate>,
) -> Result<Option<LiveUpdate>, AppError> {
    let config = EngineConfig::from_settings(&state.settings());
    Ok(state
        .studio
        .lock()
        .await
        .attach(config, feeds(app, &state, on_update))
        .await?)
}

/// Shows the sources as saved: when nothing runs, the camera (or test
/// pattern), microphone and desktop audio the settings name are opened —
/// the previous ones closed — and the window's preview and meters switch
/// to them at once. While live or recording, the running sources stay.
#[tauri::command]
#[specta::specta]
pub async fn preview_sources(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let config = EngineConfig::from_settings(&state.settings());
    Ok(state.studio.lock().await.show_sources(&config).await?)
}

/// The window was minimised (`false`) or shown again (`true`), as its
/// page's visibility says: a window nobody sees gets no preview pictures
/// and no meters (and none are made), so streaming with OnAir minimised
/// costs the encode only.
#[tauri::command]
#[specta::specta]
pub async fn window_shown(state: tauri::State<'_, AppState>, shown: bool) -> Result<(), AppError> {
    state.studio.lock().await.set_shown(shown);
    Ok(())
}

/// Where the window hears that it is being closed while live (it then
/// asks: keep streaming, or end the stream and quit).
#[tauri::command]
#[specta::specta]
pub fn watch_close(state: tauri::State<'_, AppState>, on_close: Channel<()>) {
    if let Ok(mut c) = state.on_close.lock() {
        *c = Some(on_close);
    }
}

/// Ends the stream and any recording (cleanly: the destinations are told,
/// the file is finished), then quits.
#[tauri::command]
#[specta::specta]
pub async fn quit(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
) -> Result<(), AppError> {
    state.studio.lock().await.shut_down().await;
    app.exit(0);
    Ok(())
}

/// The audio mix (faders, mutes, filters, desktop audio's device): at once
/// while live — from the next 21 ms of sound — and remembered for the next
/// time (desktop audio's device takes effect at the next start).
#[tauri::command]
#[specta::specta]
pub async fn set_audio_mix(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    mix: AudioMix,
) -> Result<Settings, AppError> {
    let mix = mix.clamped();
    state.studio.lock().await.set_mix(&mix);
    let mut settings = state.settings();
    settings.audio_mix = mix;
    crate::commands::settings::save_settings(app, settings).await
}

/// Ends the stream on every destination (bounded, about 2 s); a running
/// recording goes on. Returns the stream check's final report.
#[tauri::command]
#[specta::specta]
pub async fn end_stream(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
) -> Result<Option<CheckReport>, AppError> {
    let report = state.studio.lock().await.end_stream().await?;
    reset_title(&app, &state).await;
    Ok(report)
}

/// Starts recording to a new file in the recordings folder: the running
/// encode from its next picture (a keyframe is asked for), or, when not
/// live, by encoding the camera and microphone just for the recording.
/// Returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn start_recording(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let mut studio = state.studio.lock().await;
    let settings = state.settings();
    let folder = onair_profiles::store::record_folder(&settings.record_folder);
    let name = record::file_name(&settings.record_pattern, record::stamp::Stamp::now());
    let path = record::unique_path(&folder, &name);
    let config = EngineConfig::from_settings(&settings);
    studio.start_recording(config, &path).await?;
    Ok(path.display().to_string())
}

/// Finishes the recording (its last fragment and durations). When not
/// streaming, the encoders stop too (the preview goes on).
#[tauri::command]
#[specta::specta]
pub async fn stop_recording(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
) -> Result<RecordingSummary, AppError> {
    let summary = state.studio.lock().await.stop_recording().await?;
    reset_title(&app, &state).await;
    Ok(summary)
}

/// Saves the stream check's report (the running one, else the last) as
/// JSON next to the recordings; returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn save_check_report(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let report =
        state.studio.lock().await.check_report().ok_or_else(|| {
            AppError::new(ErrorKind::NotFound, "No stream check yet: go live first.")
        })?;
    let folder = onair_profiles::store::record_folder(&state.settings().record_folder);
    let stamp = record::stamp::Stamp::now();
    let name = format!("OnAir check {} {}.json", stamp.date(), stamp.time());
    let path = record::unique_path(&folder, &name);
    // Writing and fsyncing run on a blocking thread, not an async worker.
    let target = path.clone();
    tauri::async_runtime::spawn_blocking(move || onair_check::save_report(&target, &report))
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
