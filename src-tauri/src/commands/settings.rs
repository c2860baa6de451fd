//! Stream settings (remembered between runs) and the sources to pick from.

use onair_profiles::store::Settings;

use crate::error::{AppError, ErrorKind};
use crate::state::AppState;

/// A camera or microphone the system has.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct SourceOption {
    /// Value for the settings (`camera:0`, `mic:alsa:default`, `test`, `tone`).
    pub value: String,
    /// Shown in the picker.
    pub label: String,
}

/// What can be picked.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct Sources {
    /// Video sources: the test pattern, then cameras.
    pub video: Vec<SourceOption>,
    /// Audio sources: the tone, no audio, then microphones.
    pub audio: Vec<SourceOption>,
    /// Desktop audio: off, the default output, then each output's monitor.
    pub desktop: Vec<SourceOption>,
}

/// The current settings.
#[tauri::command]
#[specta::specta]
pub fn get_settings(state: tauri::State<'_, AppState>) -> Settings {
    state.settings()
}

/// Checks and saves the settings.
#[tauri::command]
#[specta::specta]
pub async fn save_settings(
    app: tauri::AppHandle,
    settings: Settings,
) -> Result<Settings, AppError> {
    use tauri::Manager;
    let before = app.state::<AppState>().settings().shortcuts;
    // The file's fsyncs run on a blocking thread.
    let handle = app.clone();
    let saved =
        crate::state::blocking(handle, move |state| save_settings_blocking(state, settings))
            .await?;
    if saved.shortcuts != before {
        crate::shortcuts::apply(&app, &saved.shortcuts);
    }
    Ok(saved)
}

fn save_settings_blocking(state: &AppState, settings: Settings) -> Result<Settings, AppError> {
    let s = settings;
    let bad = |m: &str| Err(AppError::new(ErrorKind::Invalid, m));
    let main = onair_engine::Encoding::main(s.width, s.height, 30, 3000, 2);
    if main.validate().is_err() {
        return bad("The resolution must be even, 16 to 3840 a side, at most 3840x2160 in area.");
    }
    if !(1..=120).contains(&s.fps) {
        return bad("The frame rate must be 1 to 120.");
    }
    if !(100..=50_000).contains(&s.video_kbps) {
        return bad("The video bitrate must be 100 to 50000 kbps.");
    }
    if !(32..=320).contains(&s.audio_kbps) {
        return bad("The audio bitrate must be 32 to 320 kbps.");
    }
    if !(1..=10).contains(&s.keyframe_interval_s) {
        return bad("The keyframe interval must be 1 to 10 s.");
    }
    if !(100..=10_000).contains(&s.drop_threshold_ms) {
        return bad("The drop threshold must be 100 to 10000 ms.");
    }
    if let Err(e) = s.video_source.parse::<onair_engine::VideoInput>() {
        return bad(&format!("Video source: {e}."));
    }
    if let Err(e) = s.audio_source.parse::<onair_engine::AudioInput>() {
        return bad(&format!("Audio source: {e}."));
    }
    let folder = s.record_folder.trim();
    if folder.len() > 1024 || (!folder.is_empty() && !std::path::Path::new(folder).is_absolute()) {
        return bad("The recordings folder must be a full path (or empty for your Videos folder).");
    }
    let pattern = s.record_pattern.trim();
    if pattern.is_empty() || pattern.len() > 200 {
        return bad("The recording file name must be 1 to 200 characters.");
    }
    if pattern.contains(['/', '\\']) {
        return bad("The recording file name cannot contain / or \\ (set the folder instead).");
    }
    if s.audio_mix.desktop_source.len() > 512 {
        return bad("The desktop audio source name is too long.");
    }
    if let Some(m) = crate::shortcuts::problem(&s.shortcuts) {
        return bad(&m);
    }
    let s = Settings {
        audio_mix: s.audio_mix.clamped(),
        ..s
    };
    let mut data = state.data.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = onair_profiles::edit::encodings_problem(&data, &s) {
        return bad(&m);
    }
    let mut next = data.clone();
    // Fields this version does not know stay as they were.
    let extra = std::mem::take(&mut next.settings.extra);
    next.settings = Settings { extra, ..s };
    state
        .store
        .save(&next)
        .map_err(|e| AppError::new(ErrorKind::Store, e.to_string()))?;
    *data = next;
    Ok(data.settings.clone())
}

/// Cameras and microphones (and the test sources).
#[tauri::command]
#[specta::specta]
pub async fn list_sources() -> Sources {
    tauri::async_runtime::spawn_blocking(|| {
        let mut video = vec![SourceOption {
            value: "test".into(),
            label: "Test pattern".into(),
        }];
        for c in onair_media::list_cameras() {
            video.push(SourceOption {
                value: format!("camera:{}", c.index),
                label: c.name,
            });
        }
        let mut audio = vec![
            SourceOption {
                value: "tone".into(),
                label: "Test tone".into(),
            },
            SourceOption {
                value: "none".into(),
                label: "No audio".into(),
            },
        ];
        for m in onair_media::mic::list_microphones() {
            audio.push(SourceOption {
                value: format!("mic:{}", m.id),
                label: if m.default {
                    format!("{} (default)", m.name)
                } else {
                    m.name
                },
            });
        }
        let mut desktop = vec![
            SourceOption {
                value: String::new(),
                label: "Off".into(),
            },
            SourceOption {
                value: "default".into(),
                label: "What the computer plays (default output)".into(),
            },
        ];
        for m in onair_media::mic::list_desktop_sources() {
            desktop.push(SourceOption {
                label: format!("{} ({})", m.name, m.id),
                value: m.id,
            });
        }
        Sources {
            video,
            audio,
            desktop,
        }
    })
    .await
    .unwrap_or(Sources {
        video: Vec::new(),
        audio: Vec::new(),
        desktop: Vec::new(),
    })
}

/// Asks for the recordings folder with the system's folder picker, opened
/// at `current` (else the folder recordings go to now). Returns the folder
/// chosen, or `None` when the picker was cancelled; saving it is the
/// Settings form's.
#[tauri::command]
#[specta::specta]
pub async fn choose_record_folder(
    app: tauri::AppHandle,
    current: String,
) -> Result<Option<String>, AppError> {
    use tauri_plugin_dialog::DialogExt;
    // Where recordings go now, else the nearest folder above it that
    // exists (the Videos folder may not exist yet): never "Recent".
    let current = onair_profiles::store::record_folder(current.trim());
    let start = current
        .ancestors()
        .find(|d| d.is_dir())
        .map(std::path::Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut picker = app.dialog().file().set_title("Recordings folder");
    if let Some(start) = start {
        picker = picker.set_directory(start);
    }
    picker.pick_folder(move |folder| {
        let _ = tx.send(folder);
    });
    let folder = rx
        .await
        .map_err(|_| AppError::new(ErrorKind::Store, "The folder picker closed unexpectedly."))?;
    folder
        .map(|f| {
            f.into_path()
                .map(|p| p.display().to_string())
                .map_err(|e| AppError::new(ErrorKind::Invalid, format!("That folder: {e}")))
        })
        .transpose()
}
