//! The stream check: what a platform would receive, measured from the
//! stream itself.
//!
//! - [`ingest::CheckIngest`]: a real RTMP ingest on `127.0.0.1` (the server
//!   side of `onair-rtmp`) with its own random key; every connection has one
//!   deadline for its whole setup, and idle connections cannot lock it out.
//! - [`Analyzer`]: sans-IO, O(1) state: codec, profile, level and size from
//!   the SPS, frame rate and keyframe interval from the timestamps,
//!   bitrates, audio format, A/V alignment, gaps; [`CheckReport::judge`]
//!   gives Pass/Fail against each saved destination's platform
//!   (`onair-profiles`).
//!
//! It does not encode or publish: the engine streams to it like to any
//! destination.
//!
//! ```no_run
//! # async fn demo() {
//! let ingest = onair_check::ingest::CheckIngest::start().await.unwrap();
//! let dest = ingest.destination(); // publish here (onair_output::OutputManager::add)
//! let mut report = ingest.report();
//! report.judge(&onair_check::judge_targets(&[]));
//! print!("{}", report.to_text());
//! # }
//! ```

mod analyzer;
pub mod ingest;

pub use analyzer::*;

/// Saves `report` as pretty JSON at `path`, atomically (the old file or
/// the new one survives a crash, never half of either). Creates the folder.
pub fn save_report(path: &std::path::Path, report: &CheckReport) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    onair_profiles::store::write_atomic(path, &json).map_err(|e| e.to_string())
}
