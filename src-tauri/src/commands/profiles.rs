//! Destinations: profiles with a platform preset, their keys (set or
//! replaced, never read back), checks against the preset.

use onair_profiles::edit::{self, ProfileInput};
use onair_profiles::secrets::{validate_key, OsKeyStore};
use onair_profiles::services::{self, Platform, Problem};
use onair_profiles::store::{Profile, Settings};

use crate::error::{AppError, ErrorKind};
use crate::state::AppState;

/// What the UI needs at start.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct AppInfo {
    /// OnAir's version (the `onair` command's too).
    pub version: String,
    /// Platform presets, Custom last.
    pub platforms: Vec<Platform>,
    /// The encodings the Settings offer ready-made.
    pub ready_made_encodings: Vec<onair_profiles::encoding::Encoding>,
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
    /// The name of the encoding it gets (`main`: the picture settings).
    pub encoding: String,
    /// What its platform does not accept in the encoding it gets.
    pub problems: Vec<Problem>,
}

/// The result of saving a profile.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct Saved {
    /// The profile as stored.
    pub profile: ProfileView,
    /// A key was found in the server URL and moved to the key field.
    pub key_moved_from_url: bool,
}

pub(crate) fn view(state: &AppState, p: &Profile, settings: &Settings) -> ProfileView {
    ProfileView {
        id: p.id.clone(),
        name: p.name.clone(),
        platform: p.platform.clone(),
        server_url: p.server_url.clone(),
        enabled: p.enabled,
        has_key: state.keys.has(&p.id).unwrap_or(false),
        encoding: if p.encoding.is_empty() {
            onair_profiles::encoding::DEFAULT_NAME.to_owned()
        } else {
            p.encoding.clone()
        },
        problems: match edit::shape_for(p, settings) {
            Some(shape) => services::check(&p.platform, &p.server_url, &shape),
            None => vec![Problem {
                severity: services::Severity::Error,
                field: "encoding".into(),
                message: format!(
                    "Its encoding '{}' no longer exists: pick another.",
                    p.encoding
                ),
            }],
        },
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

fn edit_error(e: edit::EditError) -> AppError {
    use edit::EditError;
    match e {
        EditError::Key(k) => key_store_error(k),
        EditError::NotFound => AppError::new(ErrorKind::NotFound, e.to_string()),
        e => AppError::new(ErrorKind::Invalid, e.to_string()),
    }
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
            version: env!("CARGO_PKG_VERSION").into(),
            platforms: services::platforms().to_vec(),
            ready_made_encodings: onair_profiles::encoding::ready_made(),
            notice: None,
            key_store_problem: Some(e.message),
        })
}

fn app_info_blocking(state: &AppState) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        platforms: services::platforms().to_vec(),
        ready_made_encodings: onair_profiles::encoding::ready_made(),
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
    let mut data = state.data.lock().unwrap_or_else(|e| e.into_inner());
    let e = edit::apply(&data, input, new_id).map_err(edit_error)?;
    // The key first: a profile is never saved pointing at a key that
    // failed to store.
    if let Some(k) = &e.key {
        state.keys.set(&e.id, k).map_err(key_store_error)?;
    }
    state.store.save(&e.data).map_err(store_error)?;
    *data = e.data;
    let p = data
        .profiles
        .iter()
        .find(|p| p.id == e.id)
        .ok_or_else(|| edit_error(edit::EditError::NotFound))?;
    Ok(Saved {
        profile: view(state, p, &data.settings),
        key_moved_from_url: e.key_moved_from_url,
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
    let next = edit::remove(&data, &id).map_err(edit_error)?;
    state.store.save(&next).map_err(store_error)?;
    *data = next;
    drop(data);
    // A key left behind is harmless; say nothing if the store is gone.
    let _ = state.keys.delete(&id);
    Ok(())
}
