//! What the engine's lifecycle tests share: a small encode, a bounded wait.

use std::time::{Duration, Instant};

use onair_engine::{Encoding, EngineConfig};

/// 320x180 at 30 fps, 300 kbit/s, a keyframe every second, tone audio.
pub fn small() -> EngineConfig {
    EngineConfig {
        encodings: vec![Encoding::main(320, 180, 30, 300, 1)],
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
