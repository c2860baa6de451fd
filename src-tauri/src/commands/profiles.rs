//! Destinations: profiles with a platform preset, their keys (set or
//! replaced, never read back), checks against the preset.

use onair_profiles::secrets::{validate_key, OsKeyStore};
use onair_profiles::services::{self, Platform, Problem, Severity, StreamShape};
use onair_profiles::store::{Profile, Settings};
use serde_json::Map;

use crate::error::{AppError, ErrorKind};
use crate::state::AppState;

/// What the UI needs at start.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct AppInfo {
    /// Platform presets, Custom last.
    pub platforms: Vec<Platform>,
    /// A notice to show once (profiles loaded from the backup…).
    pub notice: Option<String>,
    /// `None` when the credential store works, else why it does not.
    pub key_store_problem: Option<String>,
}

/// A profile as the UI sees it: never the key, only whether one is set.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct ProfileView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Platform preset id.
    pub platform: String,
    /// Server URL.
    pub server_url: String,
    /// Included in Go Live.
    pub enabled: bool,
    /// Whether a stream key is stored for it.
    pub has_key: bool,
    /// What its platform does not accept in the current settings.
    pub problems: Vec<Problem>,
}

/// A profile to create (`id` null) or update.
#[derive(Clone, serde::Deserialize, specta::Type)]
pub struct ProfileInput {
    /// Existing profile, or null for a new one.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Platform preset id.
    pub platform: String,
    /// Server URL (a key pasted at its end is moved to the key store).
    pub server_url: String,
    /// Included in Go Live.
    pub enabled: bool,
    /// A new stream key, or null to keep the stored one.
    pub stream_key: Option<String>,
}

/// The result of saving a profile.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct Saved {
    /// The profile as stored.
    pub profile: ProfileView,
    /// A key was found in the server URL and moved to the key field.
    pub key_moved_from_url: bool,
}

pub(crate) fn shape(s: &Settings) -> StreamShape {
    StreamShape {
        width: s.width,
        height: s.height,
        fps: s.fps,
        video_kbps: s.video_kbps,
        audio_kbps: s.audio_kbps,
        keyframe_interval_s: s.keyframe_interval_s,
    }
}

pub(crate) fn view(state: &AppState, p: &Profile, settings: &Settings) -> ProfileView {
    ProfileView {
        id: p.id.clone(),
        name: p.name.clone(),
        platform: p.platform.clone(),
        server_url: p.server_url.clone(),
        enabled: p.enabled,
        has_key: state.keys.has(&p.id).unwrap_or(false),
        problems: services::check(&p.platform, &p.server_url, &shape(settings)),
    }
}

fn key_store_error(e: onair_profiles::secrets::SecretError) -> AppError {
    use onair_profiles::secrets::SecretError;
    let kind = match e {
        SecretError::BadKey => ErrorKind::Invalid,
        _ => ErrorKind::KeyStore,
    };
    AppError::new(kind, e.to_string())
}

fn store_error(e: onair_profiles::store::StoreError) -> AppError {
    AppError::new(ErrorKind::Store, e.to_string())
}

fn new_id() -> String {
    format!("p{:016x}", rand::random::<u64>())
}

/// Presets, a notice from loading, and whether keys can be stored.
#[tauri::command]
#[specta::specta]
pub async fn app_info(app: tauri::AppHandle) -> AppInfo {
    // Asking the credential store goes over D-Bus and may wait on it.
    crate::state::blocking(app, |state| Ok(app_info_blocking(state)))
        .await
        .unwrap_or_else(|e| AppInfo {
            platforms: services::platforms().to_vec(),
            notice: None,
            key_store_problem: Some(e.message),
        })
}

fn app_info_blocking(state: &AppState) -> AppInfo {
    AppInfo {
        platforms: services::platforms().to_vec(),
        notice: state.notice.lock().ok().and_then(|mut n| n.take()),
        key_store_problem: OsKeyStore::status().err().map(|e| e.to_string()),
    }
}

/// Every saved destination.
#[tauri::command]
#[specta::specta]
pub async fn list_profiles(app: tauri::AppHandle) -> Vec<ProfileView> {
    crate::state::blocking(app, |state| {
        let data = state.data.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(data
            .profiles
            .iter()
            .map(|p| view(state, p, &data.settings))
            .collect())
    })
    .await
    .unwrap_or_default()
}

/// Creates or updates a destination; stores a new key in the credential
/// store (a key pasted into the URL is moved there).
#[tauri::command]
#[specta::specta]
pub async fn save_profile(app: tauri::AppHandle, input: ProfileInput) -> Result<Saved, AppError> {
    // The credential store and the file's fsyncs run on a blocking thread.
    crate::state::blocking(app, move |state| save_profile_blocking(state, input)).await
}

fn save_profile_blocking(state: &AppState, input: ProfileInput) -> Result<Saved, AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.len() > 80 {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "Give the destination a name (up to 80 characters).",
        ));
    }
    if services::platform(&input.platform).is_none() {
        return Err(AppError::new(
            ErrorKind::Invalid,
            format!("Unknown platform '{}'.", input.platform),
        ));
    }
    let split = services::split_key(&input.platform, &input.server_url);
    let key_moved_from_url = split.key.is_some();
    let key = match (
        input
            .stream_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty()),
        split.key,
    ) {
        (Some(k), _) => Some(validate_key(k).map_err(key_store_error)?),
        (None, Some(k)) => Some(validate_key(&k).map_err(key_store_error)?),
        (None, None) => None,
    };
    let url = split.server_url.trim().to_string();
    if !(url.starts_with("rtmp://") || url.starts_with("rtmps://")) {
        return Err(AppError::new(
            ErrorKind::Invalid,
            "The server URL must start with rtmp:// or rtmps://.",
        ));
    }
    let mut data = state.data.lock().unwrap_or_else(|e| e.into_inner());
    let mut next = data.clone();
    let id = match input.id {
        Some(id) => {
            let p = next
                .profiles
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or_else(|| {
                    AppError::new(ErrorKind::NotFound, "That destination no longer exists.")
                })?;
            p.name = name.to_string();
            p.platform = input.platform.clone();
            p.server_url = url;
            p.enabled = input.enabled;
            id
        }
        None => {
            let id = new_id();
            next.profiles.push(Profile {
                id: id.clone(),
                name: name.to_string(),
                platform: input.platform.clone(),
                server_url: url,
                enabled: input.enabled,
                extra: Map::new(),
            });
            id
        }
    };
    // The key first: a profile is never saved pointing at a key that
    // failed to store.
    if let Some(k) = key {
        state.keys.set(&id, &k).map_err(key_store_error)?;
    }
    state.store.save(&next).map_err(store_error)?;
    *data = next;
    let p = data
        .profiles
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .expect("just saved");
    Ok(Saved {
        profile: view(state, &p, &data.settings),
        key_moved_from_url,
    })
}

/// Stores (or replaces) a destination's stream key.
#[tauri::command]
#[specta::specta]
pub async fn set_key(
    app: tauri::AppHandle,
    id: String,
    stream_key: String,
) -> Result<(), AppError> {
    crate::state::blocking(app, move |state| set_key_blocking(state, id, stream_key)).await
}

fn set_key_blocking(state: &AppState, id: String, stream_key: String) -> Result<(), AppError> {
    let exists = state
        .data
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .profiles
        .iter()
        .any(|p| p.id == id);
    if !exists {
        return Err(AppError::new(
            ErrorKind::NotFound,
            "That destination no longer exists.",
        ));
    }
    let k = validate_key(&stream_key).map_err(key_store_error)?;
    state.keys.set(&id, &k).map_err(key_store_error)
}

/// Deletes a destination and its key.
#[tauri::command]
#[specta::specta]
pub async fn delete_profile(app: tauri::AppHandle, id: String) -> Result<(), AppError> {
    crate::state::blocking(app, move |state| delete_profile_blocking(state, id)).await
}

fn delete_profile_blocking(state: &AppState, id: String) -> Result<(), AppError> {
    let mut data = state.data.lock().unwrap_or_else(|e| e.into_inner());
    let mut next = data.clone();
    let before = next.profiles.len();
    next.profiles.retain(|p| p.id != id);
    if next.profiles.len() == before {
        return Err(AppError::new(
            ErrorKind::NotFound,
            "That destination no longer exists.",
        ));
    }
    state.store.save(&next).map_err(store_error)?;
    *data = next;
    drop(data);
    // A key left behind is harmless; say nothing if the store is gone.
    let _ = state.keys.delete(&id);
    Ok(())
}

/// Errors (not warnings) of the enabled destinations under `settings`, as
/// one message; `None` if they can go live. Reads no keys.
pub(crate) fn blocking_problems(profiles: &[Profile], settings: &Settings) -> Option<String> {
    let lines: Vec<String> = profiles
        .iter()
        .filter(|p| p.enabled)
        .flat_map(|p| {
            services::check(&p.platform, &p.server_url, &shape(settings))
                .into_iter()
                .filter(|x| x.severity == Severity::Error)
                .map(move |x| format!("{}: {}", p.name, x.message))
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}
