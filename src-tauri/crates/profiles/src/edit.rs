//! The rules of changing saved destinations: a name, a known platform, an
//! `rtmp://` or `rtmps://` server, a key pasted at the end of the URL moved
//! to the key; and what stops a Go Live. Pure: the caller stores the key
//! and writes the file (key first, so a profile never points at a key that
//! failed to store).

use serde_json::Map;

use crate::secrets::{validate_key, SecretError};
use crate::services::{self, Severity, StreamShape};
use crate::store::{Profile, Settings, StoreData};
use onair_rtmp::StreamKey;

/// Longest profile name, in bytes.
pub const MAX_NAME_BYTES: usize = 80;

/// A profile to create (`id` null) or update, as the UI sends it.
#[derive(Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ProfileInput {
    /// Existing profile, or null for a new one.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Platform preset id.
    pub platform: String,
    /// Server URL (a key pasted at its end is moved to the key store).
    pub server_url: String,
    /// Included in Go Live.
    pub enabled: bool,
    /// A new stream key, or null to keep the stored one.
    pub stream_key: Option<String>,
}

impl std::fmt::Debug for ProfileInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("stream_key", &self.stream_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Why an edit was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Empty or too long.
    #[error("Give the destination a name (up to 80 characters).")]
    Name,
    /// Not a preset id.
    #[error("Unknown platform '{0}'.")]
    Platform(String),
    /// Not `rtmp://` or `rtmps://`.
    #[error("The server URL must start with rtmp:// or rtmps://.")]
    Scheme,
    /// Empty, too long or multi-line.
    #[error(transparent)]
    Key(#[from] SecretError),
    /// The profile was deleted meanwhile.
    #[error("That destination no longer exists.")]
    NotFound,
}

/// An accepted edit: the new contents, the profile's id, the key to store.
#[derive(Debug)]
pub struct Edited {
    /// The store's contents with the edit made.
    pub data: StoreData,
    /// The profile's id (new or kept).
    pub id: String,
    /// A new key to store first (typed, or found in the URL).
    pub key: Option<StreamKey>,
    /// The key was found at the end of the server URL and taken out of it.
    pub key_moved_from_url: bool,
}

/// Applies `input` to `data`; `new_id` names a new profile.
pub fn apply(
    data: &StoreData,
    input: ProfileInput,
    new_id: impl FnOnce() -> String,
) -> Result<Edited, EditError> {
    let name = input.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(EditError::Name);
    }
    if services::platform(&input.platform).is_none() {
        return Err(EditError::Platform(input.platform));
    }
    let split = services::split_key(&input.platform, &input.server_url);
    let key_moved_from_url = split.key.is_some();
    let typed = input
        .stream_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let key = match (typed, split.key.as_deref()) {
        (Some(k), _) | (None, Some(k)) => Some(validate_key(k)?),
        (None, None) => None,
    };
    let url = split.server_url.trim().to_owned();
    if !(url.starts_with("rtmp://") || url.starts_with("rtmps://")) {
        return Err(EditError::Scheme);
    }
    let mut next = data.clone();
    let id = match input.id {
        Some(id) => {
            let p = next
                .profiles
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(EditError::NotFound)?;
            p.name = name.to_owned();
            p.platform = input.platform;
            p.server_url = url;
            p.enabled = input.enabled;
            id
        }
        None => {
            let id = new_id();
            next.profiles.push(Profile {
                id: id.clone(),
                name: name.to_owned(),
                platform: input.platform,
                server_url: url,
                enabled: input.enabled,
                extra: Map::new(),
            });
            id
        }
    };
    Ok(Edited {
        data: next,
        id,
        key,
        key_moved_from_url,
    })
}

/// `data` without profile `id`.
pub fn remove(data: &StoreData, id: &str) -> Result<StoreData, EditError> {
    let mut next = data.clone();
    let before = next.profiles.len();
    next.profiles.retain(|p| p.id != id);
    if next.profiles.len() == before {
        return Err(EditError::NotFound);
    }
    Ok(next)
}

/// What the settings ask of every platform.
pub fn shape(s: &Settings) -> StreamShape {
    StreamShape {
        width: s.width,
        height: s.height,
        fps: s.fps,
        video_kbps: s.video_kbps,
        audio_kbps: s.audio_kbps,
        keyframe_interval_s: s.keyframe_interval_s,
    }
}

/// Errors (not warnings) of the enabled destinations under `settings`, one
/// line each; `None` when they can go live. Reads no keys.
pub fn go_live_problems(profiles: &[Profile], settings: &Settings) -> Option<String> {
    let shape = shape(settings);
    let lines: Vec<String> = profiles
        .iter()
        .filter(|p| p.enabled)
        .flat_map(|p| {
            services::check(&p.platform, &p.server_url, &shape)
                .into_iter()
                .filter(|x| x.severity == Severity::Error)
                .map(move |x| format!("{}: {}", p.name, x.message))
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: Option<&str>, url: &str, key: Option<&str>) -> ProfileInput {
        ProfileInput {
            id: id.map(str::to_owned),
            name: " My Twitch ".into(),
            platform: "twitch".into(),
            server_url: url.into(),
            enabled: true,
            stream_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn a_new_profile_gets_an_id_and_a_key_pasted_into_the_url_moves_out() {
        let e = apply(
            &StoreData::default(),
            input(None, "rtmp://live.twitch.tv/app/live_123_abc", None),
            || "p1".into(),
        )
        .unwrap();
        assert_eq!(e.id, "p1");
        assert!(e.key_moved_from_url);
        assert_eq!(e.key.as_ref().map(|k| k.expose()), Some("live_123_abc"));
        let p = &e.data.profiles[0];
        assert_eq!(p.name, "My Twitch");
        assert_eq!(p.server_url, "rtmp://live.twitch.tv/app");
    }

    #[test]
    fn a_typed_key_wins_and_an_update_keeps_the_id() {
        let first = apply(
            &StoreData::default(),
            input(None, "rtmp://live.twitch.tv/app", None),
            || "p1".into(),
        )
        .unwrap();
        assert!(first.key.is_none());
        let again = apply(
            &first.data,
            input(Some("p1"), "rtmps://live.twitch.tv/app", Some(" typed ")),
            || unreachable!("no new id for an update"),
        )
        .unwrap();
        assert_eq!(again.id, "p1");
        assert_eq!(again.key.as_ref().map(|k| k.expose()), Some("typed"));
        assert_eq!(again.data.profiles.len(), 1);
        assert_eq!(
            again.data.profiles[0].server_url,
            "rtmps://live.twitch.tv/app"
        );
    }

    #[test]
    fn bad_edits_change_nothing_and_say_why() {
        let data = StoreData::default();
        let mut no_name = input(None, "rtmp://h/app", None);
        no_name.name = "  ".into();
        assert!(matches!(
            apply(&data, no_name, || "p".into()),
            Err(EditError::Name)
        ));
        let mut unknown = input(None, "rtmp://h/app", None);
        unknown.platform = "myspace".into();
        assert!(matches!(
            apply(&data, unknown, || "p".into()),
            Err(EditError::Platform(_))
        ));
        assert!(matches!(
            apply(&data, input(None, "http://h/app", None), || "p".into()),
            Err(EditError::Scheme)
        ));
        assert!(matches!(
            apply(&data, input(None, "rtmp://h/app", Some("a\nb")), || "p"
                .into()),
            Err(EditError::Key(SecretError::BadKey))
        ));
        assert!(matches!(
            apply(&data, input(Some("gone"), "rtmp://h/app", None), || "p"
                .into()),
            Err(EditError::NotFound)
        ));
        assert!(matches!(remove(&data, "gone"), Err(EditError::NotFound)));
    }

    #[test]
    fn debug_never_prints_a_typed_key() {
        let i = input(None, "rtmp://h/app", Some("SECRET_KEY_42"));
        assert!(!format!("{i:?}").contains("SECRET_KEY_42"));
    }

    #[test]
    fn only_errors_of_enabled_destinations_stop_a_go_live() {
        let mut data = apply(
            &StoreData::default(),
            input(None, "rtmp://live.twitch.tv/app", None),
            || "p1".into(),
        )
        .unwrap()
        .data;
        let mut s = Settings::default();
        assert_eq!(go_live_problems(&data.profiles, &s), None);
        s.keyframe_interval_s = 5; // Twitch wants 2 s
        let msg = go_live_problems(&data.profiles, &s).expect("a problem");
        assert!(msg.starts_with("My Twitch: "), "{msg}");
        data.profiles[0].enabled = false;
        assert_eq!(go_live_problems(&data.profiles, &s), None);
    }
}
