//! Saved destinations: what a creator sets up once.
//!
//! - [`store`]: the profiles file (`profiles.json`): versioned JSON written
//!   atomically (temp file, fsync, rename, fsync the folder) with the last
//!   good copy kept as a backup; unknown fields of newer versions kept.
//! - [`services`]: the platform presets (one data file, `presets.json`), the
//!   checks of a destination's settings against its platform, and moving a
//!   key pasted into the server URL out of it.
//! - [`edit`]: the rules of creating, changing and deleting a profile (a
//!   key pasted into the URL moved out), and what stops a Go Live.
//! - [`secrets`]: stream keys in the OS credential store (`keyring`), never in
//!   a file, a log or a `Debug` print.
//!
//! It does not stream, record or show anything: the engine and the front
//! ends use it.
//!
//! ```no_run
//! use onair_profiles::services::{check, StreamShape};
//! use onair_profiles::store::Store;
//! let store = Store::new(onair_profiles::store::default_path().unwrap());
//! let (data, _notice) = store.load().unwrap();
//! for p in &data.profiles {
//!     let shape = StreamShape { width: 1280, height: 720, fps: 30, video_kbps: 3000,
//!         audio_kbps: 160, keyframe_interval_s: 2 };
//!     println!("{}: {:?}", p.name, check(&p.platform, &p.server_url, &shape));
//! }
//! ```

pub mod audio;
pub mod edit;
pub mod encoding;
pub mod secrets;
pub mod services;
pub mod shortcuts;
pub mod store;

/// Default queued media time past which a destination drops non-key video
/// (the settings' default; the Outputs' own default is the same 700 ms).
pub const DEFAULT_DROP_THRESHOLD_MS: u32 = 700;
