//! Destination profiles and stream settings on disk: one versioned JSON
//! file, written atomically (temporary file, fsync, rename, fsync of the
//! folder) with the previous good version kept as a backup. A corrupt or
//! empty file loads from the backup and says so; fields this version does
//! not know (written by a newer one) are kept and written back untouched.
//! Stream keys are never here: they live in the OS credential store.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The file format version this build writes.
pub const STORE_VERSION: u32 = 1;
/// Profiles at most (a bound on what a file can make us hold).
pub const MAX_PROFILES: usize = 64;
/// Largest profile file read, bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A saved destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Profile {
    /// Stable id (also the credential store's account name for its key).
    pub id: String,
    /// Name the user gave it.
    pub name: String,
    /// Platform preset id (`twitch`, … `custom`).
    pub platform: String,
    /// Server URL, without the key.
    pub server_url: String,
    /// Goes live with Go Live.
    pub enabled: bool,
    /// The name of the encoding it gets (empty: `main`, the picture of the
    /// stream settings).
    #[serde(default)]
    pub encoding: String,
    /// Fields of a newer version, kept as they are.
    #[serde(flatten)]
    #[cfg_attr(feature = "specta", specta(skip))]
    pub extra: Map<String, Value>,
}

/// Stream settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct Settings {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Keyframe interval, s.
    pub keyframe_interval_s: u32,
    /// Audio bitrate, kbit/s.
    pub audio_kbps: u32,
    /// Lower the bitrate while a destination is congested.
    pub dynamic_bitrate: bool,
    /// Queued media past which non-key video is dropped, ms.
    pub drop_threshold_ms: u32,
    /// `test` or `camera:N`.
    pub video_source: String,
    /// `tone`, `mic`, `mic:NAME` or `none`.
    pub audio_source: String,
    /// Go Live also streams to the built-in stream check (on by default:
    /// with no destination saved, it is where a first Go Live goes).
    pub stream_check: bool,
    /// Folder for recordings and saved check reports (empty: the system's
    /// Videos folder).
    pub record_folder: String,
    /// Recording file name: `{date}`, `{time}` and `{datetime}` are filled in.
    pub record_pattern: String,
    /// Encodings besides `main` (the picture above), each by name; a
    /// destination picks one.
    pub encodings: Vec<crate::encoding::Encoding>,
    /// Where `main`'s crop lies when its aspect is narrower than the capture.
    pub main_crop_x: f32,
    /// The encoding a recording records, by name (empty: `main`).
    pub record_encoding: String,
    /// The audio mix: faders, mutes, filters, desktop audio.
    pub audio_mix: crate::audio::AudioMix,
    /// The global shortcuts.
    pub shortcuts: crate::shortcuts::Shortcuts,
    /// Fields of a newer version, kept as they are.
    #[serde(flatten)]
    #[cfg_attr(feature = "specta", specta(skip))]
    pub extra: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 3000,
            keyframe_interval_s: 2,
            audio_kbps: 160,
            dynamic_bitrate: false,
            drop_threshold_ms: crate::DEFAULT_DROP_THRESHOLD_MS,
            video_source: "test".into(),
            audio_source: "tone".into(),
            stream_check: true,
            record_folder: String::new(),
            record_pattern: "OnAir {date} {time}".into(),
            encodings: Vec::new(),
            main_crop_x: 0.5,
            record_encoding: String::new(),
            audio_mix: crate::audio::AudioMix::default(),
            shortcuts: crate::shortcuts::Shortcuts::default(),
            extra: Map::new(),
        }
    }
}

/// Everything in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreData {
    /// Format version (the newer of ours and the file's).
    pub version: u32,
    /// Destinations.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Stream settings.
    #[serde(default)]
    pub settings: Settings,
    /// Fields of a newer version, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for StoreData {
    fn default() -> Self {
        Self {
            version: STORE_VERSION,
            profiles: Vec::new(),
            settings: Settings::default(),
            extra: Map::new(),
        }
    }
}

/// Why the profiles could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system refused.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Neither the file nor its backup could be read.
    #[error(
        "the profiles file {path} and its backup are both unreadable ({why}); nothing was changed"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The parse error of the file.
        why: String,
    },
    /// Too many profiles.
    #[error("at most {MAX_PROFILES} destinations")]
    TooMany,
}

/// How the last load went, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadNotice {
    /// The file was fine (or there was none yet).
    Clean,
    /// The file was corrupt or empty: the backup was loaded (and the file
    /// will be rewritten from it on the next save).
    FromBackup {
        /// What was wrong with the file.
        why: String,
    },
}

/// The folder recordings go to: `folder` if set, else the system's Videos
/// folder, else `~/Videos`.
pub fn record_folder(folder: &str) -> PathBuf {
    if !folder.trim().is_empty() {
        return PathBuf::from(folder.trim());
    }
    dirs::video_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join("Videos")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where the app keeps its profiles: `<config dir>/app.onair.studio/profiles.json`
/// (the Tauri app's `app_config_dir`), for the headless command to read.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("app.onair.studio").join("profiles.json"))
}

/// The profiles file and its backup.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// The store at `path` (`…/profiles.json`; the backup is
    /// `profiles.json.bak` beside it).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backup_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".bak");
        p.into()
    }

    fn read(path: &Path) -> Result<Option<StoreData>, String> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{} bytes is more than a profiles file can be",
                meta.len()
            ));
        }
        let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let data: StoreData = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if data.profiles.len() > MAX_PROFILES {
            return Err(format!(
                "{} profiles (at most {MAX_PROFILES})",
                data.profiles.len()
            ));
        }
        Ok(Some(data))
    }

    /// Reads the profiles: the file, else (corrupt or empty) the backup,
    /// else defaults when there is neither.
    pub fn load(&self) -> Result<(StoreData, LoadNotice), StoreError> {
        match Self::read(&self.path) {
            Ok(Some(d)) => Ok((d, LoadNotice::Clean)),
            Ok(None) => match Self::read(&self.backup_path()) {
                // The file is gone but a backup is there: use it.
                Ok(Some(d)) => Ok((
                    d,
                    LoadNotice::FromBackup {
                        why: "the profiles file was missing".into(),
                    },
                )),
                _ => Ok((StoreData::default(), LoadNotice::Clean)),
            },
            Err(why) => match Self::read(&self.backup_path()) {
                Ok(Some(d)) => {
                    tracing::warn!(path = %self.path.display(), %why, "profiles file unreadable; loaded the backup");
                    Ok((d, LoadNotice::FromBackup { why }))
                }
                _ => Err(StoreError::Unreadable {
                    path: self.path.clone(),
                    why,
                }),
            },
        }
    }

    /// Writes `data` atomically; the file it replaces, if it was good,
    /// becomes the backup.
    pub fn save(&self, data: &StoreData) -> Result<(), StoreError> {
        if data.profiles.len() > MAX_PROFILES {
            return Err(StoreError::TooMany);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut data = data.clone();
        data.version = data.version.max(STORE_VERSION);
        let text = serde_json::to_string_pretty(&data).map_err(|e| StoreError::Io {
            op: "encode",
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        // The current file becomes the backup, if it is good.
        if let Ok(Some(_)) = Self::read(&self.path) {
            let current = fs::read(&self.path).map_err(io("read", &self.path))?;
            write_atomic(&self.backup_path(), &current)?;
        }
        write_atomic(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one, never half of either: temp file in the same folder, fsync, rename
/// over, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(io("rename", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: &str) -> Profile {
        Profile {
            id: id.into(),
            name: format!("Profile {id}"),
            platform: "custom".into(),
            server_url: "rtmp://127.0.0.1/live".into(),
            enabled: true,
            encoding: String::new(),
            extra: Map::new(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("onair/profiles.json"));
        (d, s)
    }

    #[test]
    fn first_run_gives_defaults_and_save_round_trips() {
        let (_d, s) = store();
        let (data, notice) = s.load().unwrap();
        assert_eq!(
            (data.clone(), notice),
            (StoreData::default(), LoadNotice::Clean)
        );
        let mut data = data;
        data.profiles.push(profile("a"));
        data.settings.video_kbps = 4500;
        s.save(&data).unwrap();
        assert_eq!(s.load().unwrap(), (data, LoadNotice::Clean));
        assert!(!s.backup_path().exists(), "no backup of nothing");
    }

    #[test]
    fn corrupt_or_empty_file_loads_the_backup_with_a_notice() {
        let (_d, s) = store();
        let mut data = StoreData::default();
        data.profiles.push(profile("a"));
        s.save(&data).unwrap();
        data.profiles.push(profile("b"));
        s.save(&data).unwrap();
        // The backup holds the previous good version (one profile).
        for bad in [
            "",
            "   \n",
            "{\"version\": 1, \"profiles\": [",
            "\u{0}\u{1}garbage",
        ] {
            fs::write(s.path(), bad).unwrap();
            let (got, notice) = s.load().unwrap();
            assert_eq!(got.profiles.len(), 1, "{bad:?}");
            assert!(matches!(notice, LoadNotice::FromBackup { .. }), "{bad:?}");
        }
        // Saving again repairs the file, and does not overwrite the good
        // backup with the corrupt file.
        s.save(&data).unwrap();
        assert_eq!(s.load().unwrap().0.profiles.len(), 2);
        let backup = Store::read(&s.backup_path()).unwrap().unwrap();
        assert_eq!(backup.profiles.len(), 1);
    }

    #[test]
    fn both_unreadable_is_an_error_and_nothing_is_overwritten() {
        let (_d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        fs::write(s.path(), "nope").unwrap();
        fs::write(s.backup_path(), "nope either").unwrap();
        let e = s.load().unwrap_err();
        assert!(matches!(e, StoreError::Unreadable { .. }), "{e}");
        assert_eq!(fs::read_to_string(s.path()).unwrap(), "nope");
    }

    #[test]
    fn fields_from_a_newer_version_are_kept() {
        let (_d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        fs::write(
            s.path(),
            r#"{"version": 7, "theme": {"accent": "teal"},
                "profiles": [{"id": "a", "name": "A", "platform": "twitch",
                  "server_url": "rtmp://live.twitch.tv/app", "enabled": true,
                  "bandwidth_test": true}],
                "settings": {"width": 1920, "height": 1080, "hdr": "pq"}}"#,
        )
        .unwrap();
        let (mut data, _) = s.load().unwrap();
        assert_eq!(data.settings.fps, 30, "missing fields take defaults");
        data.profiles[0].name = "Renamed".into();
        s.save(&data).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(s.path()).unwrap()).unwrap();
        assert_eq!(v["version"], 7);
        assert_eq!(v["theme"]["accent"], "teal");
        assert_eq!(v["profiles"][0]["bandwidth_test"], true);
        assert_eq!(v["profiles"][0]["name"], "Renamed");
        assert_eq!(v["settings"]["hdr"], "pq");
        assert_eq!(v["settings"]["width"], 1920);
    }

    #[test]
    fn oversized_file_is_refused_not_read() {
        let (_d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        fs::write(s.path(), vec![b' '; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(s.load().is_err());
        let data = StoreData {
            profiles: (0..=MAX_PROFILES)
                .map(|i| profile(&i.to_string()))
                .collect(),
            ..StoreData::default()
        };
        assert!(matches!(s.save(&data), Err(StoreError::TooMany)));
    }

    #[test]
    fn no_temp_file_is_left_behind() {
        let (_d, s) = store();
        s.save(&StoreData::default()).unwrap();
        s.save(&StoreData::default()).unwrap();
        let names: Vec<String> = fs::read_dir(s.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
