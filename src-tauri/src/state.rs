//! What the app holds while running: the profiles store and its contents,
//! the credential store, and the Studio (the live session).

use std::sync::{Arc, Mutex};

use onair_engine::Studio;
use onair_profiles::secrets::KeyStore;
use onair_profiles::store::{LoadNotice, Store, StoreData};

/// Everything the commands share.
pub struct AppState {
    /// The profiles file.
    pub store: Store,
    /// Its contents (the file is rewritten on every change).
    pub data: Mutex<StoreData>,
    /// Said to the user once: the file was loaded from its backup, or could
    /// not be read at all.
    pub notice: Mutex<Option<String>>,
    /// Where stream keys live.
    pub keys: Arc<dyn KeyStore>,
    /// The live session (streaming, recording or both), if any, and the
    /// last stream check's report.
    pub studio: tokio::sync::Mutex<Studio>,
    /// Where a close of the window while live is told (the window asks
    /// before anything ends).
    pub on_close: Mutex<Option<tauri::ipc::Channel<()>>>,
    /// Where a pressed global shortcut is told (the window acts on it).
    pub on_shortcut: Mutex<Option<tauri::ipc::Channel<String>>>,
    /// Shortcuts that could not be registered, in the user's words.
    pub shortcut_problems: Mutex<Vec<String>>,
    /// The newest preview picture and meters, for the window to pull.
    pub capture: Arc<crate::capture_feed::Mailbox>,
}

impl AppState {
    /// The settings as saved now.
    pub fn settings(&self) -> onair_profiles::store::Settings {
        self.data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settings
            .clone()
    }

    /// Loads the profiles at `store` (from its backup if the file is
    /// corrupt; defaults, and a notice, if neither can be read: the files
    /// are then left alone until the user saves).
    pub fn load(store: Store, keys: Arc<dyn KeyStore>) -> Self {
        let (data, notice) = match store.load() {
            Ok((d, LoadNotice::Clean)) => (d, None),
            Ok((d, LoadNotice::FromBackup { why })) => (
                d,
                Some(format!(
                    "Your destinations file was damaged ({why}); the last good copy was loaded."
                )),
            ),
            Err(e) => (
                StoreData::default(),
                Some(format!("Your destinations could not be loaded: {e}")),
            ),
        };
        Self {
            store,
            data: Mutex::new(data),
            notice: Mutex::new(notice),
            keys,
            studio: tokio::sync::Mutex::new(Studio::new()),
            on_close: Mutex::new(None),
            on_shortcut: Mutex::new(None),
            shortcut_problems: Mutex::new(Vec::new()),
            capture: Arc::default(),
        }
    }
}

/// Runs `f` with the app's state on a blocking thread: the credential store
/// (D-Bus, maybe an unlock prompt), the profiles file's fsyncs and device
/// probing never hold the window's thread or an async worker.
pub async fn blocking<T: Send + 'static>(
    app: tauri::AppHandle,
    f: impl FnOnce(&AppState) -> Result<T, crate::error::AppError> + Send + 'static,
) -> Result<T, crate::error::AppError> {
    use tauri::Manager;
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<AppState>()))
        .await
        .map_err(|e| crate::error::AppError::new(crate::error::ErrorKind::Store, e.to_string()))?
}
