//! What the engine's lifecycle tests share: a small encode, a bounded wait.

use std::time::{Duration, Instant};

use onair_engine::EngineConfig;
use onair_media::{H264Config, PipelineConfig};

/// 320x180 at 30 fps, 300 kbit/s, a keyframe every second, tone audio.
pub fn small() -> EngineConfig {
    EngineConfig {
        pipeline: PipelineConfig {
            video: H264Config {
                width: 320,
                height: 180,
                fps: 30,
                bitrate_kbps: 300,
                keyframe_interval_s: 1,
            },
            ..PipelineConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// Polls `f` every 20 ms until it holds (true) or `within` passes (false):
/// for states that raise no event (an Output's figures, a report).
pub async fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
