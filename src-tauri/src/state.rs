//! What the app holds while running.

use onair_output::Engine;
use tokio::sync::Mutex;

/// The live stream, if any.
#[derive(Default)]
pub struct AppState {
    pub live: Mutex<Option<Live>>,
}

/// A running stream and its stats task.
pub struct Live {
    pub engine: Engine,
    pub stats_task: tauri::async_runtime::JoinHandle<()>,
}
