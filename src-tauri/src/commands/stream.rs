//! Go Live / Stop, with stats pushed over a Tauri channel once a second.

use std::time::Duration;

use onair_output::{Destination, Engine, EngineConfig, OutputStats};
use tauri::ipc::Channel;

use crate::error::AppError;
use crate::state::{AppState, Live};

/// Pushed to the UI once a second while live.
#[derive(Clone, serde::Serialize)]
pub struct StatsUpdate {
    /// One entry per destination.
    pub outputs: Vec<OutputStats>,
}

/// Starts streaming the test pattern and tone to `server_url` + `/` + `stream_key`.
#[tauri::command]
pub async fn go_live(
    state: tauri::State<'_, AppState>,
    server_url: String,
    stream_key: String,
    on_stats: Channel<StatsUpdate>,
) -> Result<(), AppError> {
    let mut live = state.live.lock().await;
    if live.is_some() {
        return Err(AppError::AlreadyLive);
    }
    let key = stream_key.trim();
    if key.is_empty() {
        return Err(AppError::BadDestination("enter a stream key".into()));
    }
    let url = format!("{}/{}", server_url.trim().trim_end_matches('/'), key);
    let dest = Destination::parse(&url).map_err(|e| AppError::BadDestination(e.to_string()))?;
    let engine = Engine::start(EngineConfig::default(), vec![dest])
        .map_err(|e| AppError::Media(e.to_string()))?;
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
    *live = Some(Live { engine, stats_task });
    Ok(())
}

/// Stops the stream cleanly (bounded, about 2 s).
#[tauri::command]
pub async fn stop(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let Some(live) = state.live.lock().await.take() else {
        return Err(AppError::NotLive);
    };
    live.engine.stop().await;
    live.stats_task.abort();
    Ok(())
}
