//! The rules of changing saved destinations: a name, a known platform, an
//! `rtmp://` or `rtmps://` server, a key pasted at the end of the URL moved
//! to the key; and what stops a Go Live. Pure: the caller stores the key
//! and writes the file (key first, so a profile never points at a key that
//! failed to store).

use serde_json::Map;

use crate::encoding::{Encoding, DEFAULT_NAME, MAX_ENCODINGS};
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
    /// The encoding it gets by name (empty or `main`: the stream settings'
    /// picture).
    #[serde(default)]
    pub encoding: String,
}

impl std::fmt::Debug for ProfileInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("encoding", &self.encoding)
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
    /// Not an encoding of the settings.
    #[error("There is no encoding '{0}' (add it in Settings, or pick another).")]
    Encoding(String),
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
    let encoding = match input.encoding.trim() {
        "" | DEFAULT_NAME => String::new(),
        e if index_by_name(&data.settings, e).is_some() => e.to_owned(),
        e => return Err(EditError::Encoding(e.to_owned())),
    };
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
            p.encoding = encoding;
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
                encoding,
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

/// What the settings' `main` encoding asks of every platform.
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

/// Every encoding of the settings: `main` (the picture settings) first,
/// then the others in order.
pub fn encodings(s: &Settings) -> Vec<Encoding> {
    let mut main = Encoding::main(
        s.width,
        s.height,
        s.fps,
        s.video_kbps,
        s.keyframe_interval_s,
    );
    main.crop_x = if (0.0..=1.0).contains(&s.main_crop_x) {
        s.main_crop_x
    } else {
        0.5
    };
    std::iter::once(main)
        .chain(s.encodings.iter().cloned())
        .collect()
}

/// The index (in [`encodings`]) of the encoding called `name` (empty:
/// `main`); `None` when the settings have none of that name.
fn index_by_name(s: &Settings, name: &str) -> Option<usize> {
    match name {
        "" | DEFAULT_NAME => Some(0),
        name => s
            .encodings
            .iter()
            .position(|e| e.name == name)
            .map(|i| i + 1),
    }
}

/// The index (in [`encodings`]) of the encoding profile `p` gets; `None`
/// when it names one the settings no longer have.
pub fn encoding_index(p: &Profile, s: &Settings) -> Option<usize> {
    index_by_name(s, &p.encoding)
}

/// The index (in [`encodings`]) of the encoding a recording records;
/// `None` when the settings name one they no longer have.
pub fn record_encoding_index(s: &Settings) -> Option<usize> {
    index_by_name(s, &s.record_encoding)
}

/// What the encoding profile `p` gets asks of its platform.
pub fn shape_for(p: &Profile, s: &Settings) -> Option<StreamShape> {
    let e = encodings(s).into_iter().nth(encoding_index(p, s)?)?;
    Some(StreamShape {
        width: e.width,
        height: e.height,
        fps: e.fps,
        video_kbps: e.video_kbps,
        audio_kbps: s.audio_kbps,
        keyframe_interval_s: e.keyframe_interval_s,
    })
}

/// Errors (not warnings) of the enabled destinations under `settings`, each
/// judged against the encoding it gets, one line each; `None` when they can
/// go live. Reads no keys.
pub fn go_live_problems(profiles: &[Profile], settings: &Settings) -> Option<String> {
    let lines: Vec<String> = profiles
        .iter()
        .filter(|p| p.enabled)
        .flat_map(|p| -> Vec<String> {
            let Some(shape) = shape_for(p, settings) else {
                return vec![format!(
                    "{}: its encoding '{}' no longer exists: pick another.",
                    p.name, p.encoding
                )];
            };
            services::check(&p.platform, &p.server_url, &shape)
                .into_iter()
                .filter(|x| x.severity == Severity::Error)
                .map(|x| format!("{}: {}", p.name, x.message))
                .collect()
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Why the settings' encodings cannot be saved over `data`: a bad or
/// repeated name (`main` is the picture settings'), a value out of range,
/// too many, or one a saved destination still uses taken away.
pub fn encodings_problem(data: &StoreData, s: &Settings) -> Option<String> {
    if s.encodings.len() + 1 > MAX_ENCODINGS {
        return Some(format!(
            "At most {MAX_ENCODINGS} encodings (each is an encoder running while live)."
        ));
    }
    if !(0.0..=1.0).contains(&s.main_crop_x) {
        return Some("The crop position must be 0.0 (left) to 1.0 (right).".into());
    }
    for (i, e) in s.encodings.iter().enumerate() {
        if let Err(err) = e.validate() {
            return Some(format!("{err}."));
        }
        if e.name == DEFAULT_NAME || s.encodings[..i].iter().any(|x| x.name == e.name) {
            return Some(format!(
                "Encoding '{}' is there twice: give each its own name.",
                e.name
            ));
        }
    }
    if record_encoding_index(s).is_none() {
        return Some(format!(
            "Recordings take the encoding '{}', which is not in the list: pick another.",
            s.record_encoding
        ));
    }
    data.profiles
        .iter()
        .find(|p| encoding_index(p, s).is_none())
        .map(|p| {
            format!(
                "'{}' gets the encoding '{}': pick another encoding for it first.",
                p.name, p.encoding
            )
        })
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
            encoding: String::new(),
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

    fn with_vertical() -> StoreData {
        let mut data = StoreData::default();
        data.settings.encodings = vec!["vertical=720x1280@30:3000".parse().unwrap()];
        data
    }

    #[test]
    fn a_destination_picks_an_encoding_of_the_settings_and_is_judged_against_it() {
        let data = with_vertical();
        let mut i = input(None, "rtmp://push.example.com/live", Some("k"));
        i.platform = "tiktok".into();
        i.encoding = "vertikal".into();
        assert!(matches!(
            apply(&data, i.clone(), || "p1".into()),
            Err(EditError::Encoding(e)) if e == "vertikal"
        ));
        i.encoding = "vertical".into();
        let e = apply(&data, i.clone(), || "p1".into()).unwrap();
        let p = &e.data.profiles[0];
        assert_eq!(p.encoding, "vertical");
        assert_eq!(encoding_index(p, &e.data.settings), Some(1));
        assert_eq!(
            shape_for(p, &e.data.settings).map(|s| (s.width, s.height)),
            Some((720, 1280))
        );
        // Instagram takes at most 720x1280: main (1280x720 turned round is
        // fine) but not a 1080x1920 encoding.
        let mut data = e.data.clone();
        data.settings.encodings[0].width = 1080;
        data.settings.encodings[0].height = 1920;
        data.profiles[0].platform = "instagram".into();
        data.profiles[0].server_url = "rtmps://edgetee-upload-x.xx.fbcdn.net:443/rtmp/".into();
        assert!(go_live_problems(&data.profiles, &data.settings)
            .unwrap()
            .contains("720x1280"));
        data.profiles[0].encoding = String::new();
        assert_eq!(go_live_problems(&data.profiles, &data.settings), None);
        // "main" is the picture settings'.
        i.encoding = "main".into();
        assert_eq!(
            apply(&data, i, || "p2".into()).unwrap().data.profiles[1].encoding,
            ""
        );
    }

    #[test]
    fn encodings_in_use_stay_and_names_are_unique() {
        let mut data = with_vertical();
        let mut i = input(None, "rtmp://h/live", Some("k"));
        i.encoding = "vertical".into();
        data = apply(&data, i, || "p1".into()).unwrap().data;
        let mut s = data.settings.clone();
        assert_eq!(encodings_problem(&data, &s), None);
        s.encodings.clear();
        assert!(encodings_problem(&data, &s)
            .unwrap()
            .contains("pick another encoding"));
        let mut s = data.settings.clone();
        s.encodings.push(s.encodings[0].clone());
        assert!(encodings_problem(&data, &s).unwrap().contains("twice"));
        let mut s = data.settings.clone();
        s.encodings[0].name = "main".into();
        assert!(encodings_problem(&data, &s).unwrap().contains("twice"));
        let mut s = data.settings.clone();
        s.encodings[0].width = 721;
        assert!(encodings_problem(&data, &s).unwrap().contains("721x1280"));
        let mut s = data.settings.clone();
        s.encodings = (0..6)
            .map(|k| format!("e{k}=640x360@30:800").parse().unwrap())
            .collect();
        assert!(encodings_problem(&data, &s).unwrap().contains("At most 6"));
        // Recordings name an encoding of the list.
        let mut s = data.settings.clone();
        s.record_encoding = "vertical".into();
        assert_eq!(encodings_problem(&data, &s), None);
        assert_eq!(record_encoding_index(&s), Some(1));
        s.record_encoding = "gone".into();
        assert!(encodings_problem(&data, &s).unwrap().contains("Recordings"));
        // A destination whose encoding went away is stopped before Go Live.
        let mut s = data.settings.clone();
        s.encodings.clear();
        assert!(go_live_problems(&data.profiles, &s)
            .unwrap()
            .contains("no longer exists"));
    }
}
