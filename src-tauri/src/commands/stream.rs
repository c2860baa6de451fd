//! The quick path: Go Live to one server URL + key typed in (test pattern
//! and tone), Stop; stats pushed over a Tauri channel once a second.

use std::time::Duration;

use onair_output::{Destination, Engine, EngineConfig, OutputStats};
use tauri::ipc::Channel;

use crate::error::{AppError, ErrorKind};
use crate::state::{AppState, Quick};

/// Pushed to the UI once a second while live.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct StatsUpdate {
    /// One entry per destination.
    pub outputs: Vec<OutputStats>,
}

/// Joins the server URL and the key into a destination; the key never
/// appears in the error.
pub fn destination(server_url: &str, stream_key: &str) -> Result<Destination, AppError> {
    let key = stream_key.trim();
    if key.is_empty() {
        return Err(AppError::new(
            ErrorKind::BadDestination,
            "enter a stream key",
        ));
    }
    let url = format!("{}/{}", server_url.trim().trim_end_matches('/'), key);
    Destination::parse(&url).map_err(|e| AppError::new(ErrorKind::BadDestination, e.to_string()))
}

/// Starts streaming the test pattern and tone to `server_url` + `/` + `stream_key`.
#[tauri::command]
#[specta::specta]
pub async fn go_live(
    state: tauri::State<'_, AppState>,
    server_url: String,
    stream_key: String,
    on_stats: Channel<StatsUpdate>,
) -> Result<(), AppError> {
    let mut live = state.quick.lock().await;
    if live.is_some() || state.live.lock().await.is_some() {
        return Err(AppError::new(ErrorKind::AlreadyLive, "already live"));
    }
    let dest = destination(&server_url, &stream_key)?;
    let engine = Engine::start(EngineConfig::default(), vec![dest])
        .map_err(|e| AppError::new(ErrorKind::Media, format!("cannot start encoding: {e}")))?;
    let manager = engine.manager().clone();
    let stats_task = tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if on_stats
                .send(StatsUpdate {
                    outputs: manager.stats(),
                })
                .is_err()
            {
                break;
            }
        }
    });
    *live = Some(Quick { engine, stats_task });
    Ok(())
}

/// Stops the stream cleanly (bounded, about 2 s).
#[tauri::command]
#[specta::specta]
pub async fn stop(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let Some(live) = state.quick.lock().await.take() else {
        return Err(AppError::new(ErrorKind::NotLive, "not live"));
    };
    live.engine.stop().await;
    live.stats_task.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_and_key_make_a_destination_whose_errors_hide_the_key() {
        let d = destination("rtmp://127.0.0.1:1935/live/", " k3y ").unwrap();
        assert_eq!(d.key.expose(), "k3y");
        assert_eq!(d.app, "live");
        let e = destination("http://host/live", "s3cret").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadDestination);
        assert!(!e.message.contains("s3cret"));
        assert_eq!(
            destination("rtmp://h/live", "  ").unwrap_err().kind,
            ErrorKind::BadDestination
        );
    }
}
