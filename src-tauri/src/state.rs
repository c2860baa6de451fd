//! What the app holds while running: the profiles store and its contents,
//! the credential store, and the live stream.

use std::sync::{Arc, Mutex};

use onair_engine::Engine;
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
    /// The running engine (streaming, recording or both), if any.
    pub live: tokio::sync::Mutex<Option<Live>>,
    /// The stream check's report when the last stream ended.
    pub last_check: Mutex<Option<onair_check::CheckReport>>,
}

impl AppState {
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
            live: tokio::sync::Mutex::new(None),
            last_check: Mutex::new(None),
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

/// The running engine: streaming to destinations, recording, or both;
/// which profile each Output belongs to, the stream check, and the tasks
/// feeding the UI.
pub struct Live {
    pub engine: Engine,
    /// The destination cards of the current stream.
    pub outputs: crate::commands::studio::OutputMap,
    /// The current stream's check, if on.
    pub check: crate::commands::studio::CheckSlot,
    /// Streaming to destinations (else only recording).
    pub streaming: Arc<std::sync::atomic::AtomicBool>,
    pub tasks: Vec<tauri::async_runtime::JoinHandle<()>>,
}

impl Live {
    /// Streaming to destinations (not only recording).
    pub fn is_streaming(&self) -> bool {
        self.streaming.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the UI feeds and the engine (recording finished, Outputs
    /// stopped cleanly).
    pub async fn shut_down(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.engine.stop().await;
    }
}
