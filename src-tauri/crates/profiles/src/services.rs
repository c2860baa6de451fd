//! Services: platform presets (from `presets.json`, one data file), checks
//! of the stream settings against a preset, and telling a stream key pasted
//! into the server field apart from the server URL.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How a platform may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `rtmp://` or `rtmps://`.
    Either,
    /// `rtmps://` only.
    Rtmps,
}

/// One ingest server of a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Server {
    /// Shown in the picker.
    pub name: String,
    /// Server URL without the key.
    pub url: String,
}

/// What a platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Limits {
    /// Highest video bitrate, kbit/s.
    pub max_video_kbps: u32,
    /// Highest audio bitrate, kbit/s.
    pub max_audio_kbps: u32,
    /// Longest keyframe interval, s.
    pub max_keyframe_interval_s: u32,
    /// Widest picture.
    pub max_width: u32,
    /// Tallest picture.
    pub max_height: u32,
    /// Highest frame rate.
    pub max_fps: u32,
}

/// A platform preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Platform {
    /// Stable id stored in profiles (`twitch`, `youtube`, … `custom`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Allowed transports.
    pub transport: Transport,
    /// Known ingest servers (empty: the user types the URL).
    pub servers: Vec<Server>,
    /// Limits (`None` for Custom), for either orientation: 1920x1080 also
    /// admits 1080x1920.
    pub limits: Option<Limits>,
    /// The encoding that fits it best (`None` for Custom).
    #[serde(default)]
    pub suggested: Option<crate::encoding::Encoding>,
    /// It shows vertical (9:16) pictures: a landscape one is a warning.
    #[serde(default)]
    pub vertical: bool,
    /// Where the user finds the key.
    pub key_hint: String,
}

#[derive(Deserialize)]
struct PresetFile {
    version: u32,
    platforms: Vec<Platform>,
}

/// The presets file, compiled in.
pub const PRESETS_JSON: &str = include_str!("../presets.json");

/// Every platform preset, in display order (Custom last).
pub fn platforms() -> &'static [Platform] {
    static P: OnceLock<Vec<Platform>> = OnceLock::new();
    P.get_or_init(|| match serde_json::from_str::<PresetFile>(PRESETS_JSON) {
        Ok(f) if f.version == 1 => f.platforms,
        Ok(f) => {
            tracing::error!(version = f.version, "presets.json has an unknown version");
            Vec::new()
        }
        Err(e) => {
            tracing::error!(error = %e, "presets.json does not parse");
            Vec::new()
        }
    })
}

/// The preset with this id.
pub fn platform(id: &str) -> Option<&'static Platform> {
    platforms().iter().find(|p| p.id == id)
}

/// The stream settings a preset is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamShape {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Audio bitrate, kbit/s.
    pub audio_kbps: u32,
    /// Keyframe interval, s.
    pub keyframe_interval_s: u32,
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The platform will refuse the stream or cut it: do not go live.
    Error,
    /// It will probably work, worse (the platform re-encodes or warns).
    Warning,
}

/// One thing a preset does not accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Problem {
    /// How bad.
    pub severity: Severity,
    /// Which setting (`server_url`, `video_kbps`, `keyframe_interval_s`,
    /// `resolution`, `fps`, `audio_kbps`).
    pub field: String,
    /// For the user.
    pub message: String,
}

fn problem(severity: Severity, field: &str, message: String) -> Problem {
    Problem {
        severity,
        field: field.into(),
        message,
    }
}

/// Checks a destination's server URL and the stream settings against its
/// platform's preset.
pub fn check(platform_id: &str, server_url: &str, s: &StreamShape) -> Vec<Problem> {
    let mut out = Vec::new();
    let url = server_url.trim();
    let scheme_ok = url.starts_with("rtmp://") || url.starts_with("rtmps://");
    if url.is_empty() {
        out.push(problem(
            Severity::Error,
            "server_url",
            "Enter the server URL.".into(),
        ));
    } else if !scheme_ok {
        out.push(problem(
            Severity::Error,
            "server_url",
            "The server URL must start with rtmp:// or rtmps://.".into(),
        ));
    }
    let Some(p) = platform(platform_id) else {
        out.push(problem(
            Severity::Error,
            "platform",
            format!("Unknown platform '{platform_id}'."),
        ));
        return out;
    };
    if p.transport == Transport::Rtmps && url.starts_with("rtmp://") {
        out.push(problem(
            Severity::Error,
            "server_url",
            format!(
                "{} accepts only encrypted streams: use an rtmps:// URL.",
                p.name
            ),
        ));
    }
    let Some(l) = p.limits else { return out };
    if s.video_kbps > l.max_video_kbps {
        out.push(problem(
            Severity::Warning,
            "video_kbps",
            format!(
                "{} takes up to {} kbps of video; {} kbps may be refused or re-encoded.",
                p.name, l.max_video_kbps, s.video_kbps
            ),
        ));
    }
    if s.keyframe_interval_s > l.max_keyframe_interval_s {
        out.push(problem(
            Severity::Error,
            "keyframe_interval_s",
            format!(
                "{} needs a keyframe at least every {} s (set {} s).",
                p.name, l.max_keyframe_interval_s, s.keyframe_interval_s
            ),
        ));
    }
    // Either orientation: compare the long sides and the short sides.
    let (long, short) = (s.width.max(s.height), s.width.min(s.height));
    if long > l.max_width.max(l.max_height) || short > l.max_width.min(l.max_height) {
        out.push(problem(
            Severity::Error,
            "resolution",
            format!(
                "{} takes up to {}x{}; the stream is {}x{}.",
                p.name, l.max_width, l.max_height, s.width, s.height
            ),
        ));
    }
    if p.vertical && s.width > s.height {
        out.push(problem(
            Severity::Warning,
            "orientation",
            format!(
                "{} shows vertical (9:16) pictures; a {}x{} picture is shown small with bars: give it a vertical encoding.",
                p.name, s.width, s.height
            ),
        ));
    }
    if s.fps > l.max_fps {
        out.push(problem(
            Severity::Error,
            "fps",
            format!(
                "{} takes up to {} fps; the stream is {} fps.",
                p.name, l.max_fps, s.fps
            ),
        ));
    }
    if s.audio_kbps > l.max_audio_kbps {
        out.push(problem(
            Severity::Warning,
            "audio_kbps",
            format!(
                "{} takes up to {} kbps of audio; {} kbps may be refused.",
                p.name, l.max_audio_kbps, s.audio_kbps
            ),
        ));
    }
    out
}

/// A server URL with any stream key pasted into it taken out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SplitUrl {
    /// The server URL to keep.
    pub server_url: String,
    /// The key found in it, if any (never stored in a profile).
    pub key: Option<String>,
}

fn looks_like_key(segment: &str) -> bool {
    let has_digit = segment.chars().any(|c| c.is_ascii_digit());
    let has_alpha = segment.chars().any(|c| c.is_ascii_alphabetic());
    segment.contains('?') || (segment.len() >= 12 && has_digit && has_alpha)
}

/// Separates a stream key pasted into the server field. For a preset's
/// known server, everything after its application path is the key; for
/// other URLs, a last path segment that looks like a key (12+ characters
/// mixing letters and digits, or carrying a query string) beyond the
/// application is taken as one.
pub fn split_key(platform_id: &str, input: &str) -> SplitUrl {
    let url = input.trim();
    let keep = |u: &str| SplitUrl {
        server_url: u.to_string(),
        key: None,
    };
    if let Some(p) = platform(platform_id) {
        for s in &p.servers {
            let base = s
                .url
                .split('?')
                .next()
                .unwrap_or(&s.url)
                .trim_end_matches('/');
            if let Some(rest) = url.strip_prefix(base) {
                if let Some(key) = rest.strip_prefix('/').filter(|k| !k.is_empty()) {
                    return SplitUrl {
                        server_url: s.url.clone(),
                        key: Some(key.to_string()),
                    };
                }
                if rest.is_empty() || rest == "/" || rest.starts_with('?') {
                    return keep(url);
                }
            }
        }
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return keep(url);
    };
    let Some((host, path)) = rest.split_once('/') else {
        return keep(url);
    };
    let segments: Vec<&str> = path.splitn(2, '/').collect();
    match segments.as_slice() {
        [app, key] if !app.is_empty() && looks_like_key(key) => SplitUrl {
            server_url: format!("{scheme}://{host}/{app}"),
            key: Some((*key).to_string()),
        },
        _ => keep(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> StreamShape {
        StreamShape {
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 3000,
            audio_kbps: 160,
            keyframe_interval_s: 2,
        }
    }

    #[test]
    fn presets_file_parses_with_every_platform() {
        let ids: Vec<&str> = platforms().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "twitch",
                "youtube",
                "facebook",
                "kick",
                "linkedin",
                "youtube_vertical",
                "tiktok",
                "instagram",
                "custom"
            ]
        );
        for p in platforms() {
            for s in &p.servers {
                assert!(
                    onair_output::Destination::from_parts(&s.url, onair_rtmp::StreamKey::new("k"))
                        .is_ok(),
                    "{}",
                    s.url
                );
                if p.transport == Transport::Rtmps {
                    assert!(s.url.starts_with("rtmps://"), "{}", s.url);
                }
            }
        }
    }

    #[test]
    fn every_preset_that_serves_rtmps_defaults_to_it() {
        for id in ["twitch", "youtube", "facebook", "kick"] {
            let p = platform(id).unwrap();
            assert!(
                p.servers[0].url.starts_with("rtmps://"),
                "{id} defaults to {}",
                p.servers[0].url
            );
        }
        // Plain RTMP stays selectable where the platform takes it.
        assert!(platform("twitch")
            .unwrap()
            .servers
            .iter()
            .any(|s| s.url.starts_with("rtmp://")));
        // YouTube's backup ingest, its query string kept in the tcUrl.
        let yt = platform("youtube").unwrap();
        let backup = yt
            .servers
            .iter()
            .find(|s| s.url.contains("backup=1"))
            .expect("a backup server");
        let d = onair_output::Destination::from_parts(&backup.url, onair_rtmp::StreamKey::new("k"))
            .unwrap();
        assert!(d.tc_url().ends_with("/live2?backup=1"), "{}", d.tc_url());
        assert_eq!(d.key.expose(), "k");
        // A backup URL pasted as is is a server URL, not a key.
        assert_eq!(split_key("youtube", &backup.url).key, None);
    }

    #[test]
    fn safe_defaults_pass_every_landscape_preset_and_each_suggestion_its_own() {
        let shape = StreamShape {
            audio_kbps: 128,
            ..shape()
        };
        for p in platforms() {
            let url = p
                .servers
                .first()
                .map_or("rtmps://example.com/app", |s| s.url.as_str());
            if !p.vertical {
                assert_eq!(check(&p.id, url, &shape), vec![], "{}", p.id);
            }
            if let Some(e) = &p.suggested {
                let suggested = StreamShape {
                    width: e.width,
                    height: e.height,
                    fps: e.fps,
                    video_kbps: e.video_kbps,
                    keyframe_interval_s: e.keyframe_interval_s,
                    ..shape
                };
                assert_eq!(check(&p.id, url, &suggested), vec![], "{}", p.id);
                assert_eq!(p.vertical, e.height > e.width, "{}", p.id);
            } else {
                assert_eq!(p.id, "custom");
            }
        }
    }

    #[test]
    fn vertical_pictures_fit_landscape_limits_turned_round_and_vertical_platforms_want_them() {
        let vertical = StreamShape {
            width: 1080,
            height: 1920,
            audio_kbps: 128,
            ..shape()
        };
        let url = "rtmps://a.rtmps.youtube.com:443/live2";
        assert_eq!(check("youtube", url, &vertical), vec![]);
        assert_eq!(check("youtube_vertical", url, &vertical), vec![]);
        let landscape = StreamShape {
            audio_kbps: 128,
            ..shape()
        };
        let p = check("tiktok", "rtmp://push.example.tiktok.com/live", &landscape);
        assert_eq!(
            p.iter()
                .map(|p| (p.severity, p.field.as_str()))
                .collect::<Vec<_>>(),
            [(Severity::Warning, "orientation")]
        );
        // Instagram takes up to 720x1280: 1080x1920 is too big either way.
        let p = check(
            "instagram",
            "rtmps://edgetee-upload-x.xx.fbcdn.net:443/rtmp/",
            &vertical,
        );
        assert!(p
            .iter()
            .any(|p| p.field == "resolution" && p.severity == Severity::Error));
        // Instagram is RTMPS only.
        let p = check(
            "instagram",
            "rtmp://edgetee-upload-x.xx.fbcdn.net/rtmp/",
            &StreamShape {
                width: 720,
                height: 1280,
                ..vertical
            },
        );
        assert!(p.iter().any(|p| p.field == "server_url"));
    }

    #[test]
    fn rtmps_only_platform_refuses_rtmp() {
        let p = check("facebook", "rtmp://live-api-s.facebook.com/rtmp/", &shape());
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].severity, p[0].field.as_str()),
            (Severity::Error, "server_url")
        );
    }

    #[test]
    fn limits_are_checked() {
        let s = StreamShape {
            width: 1920,
            height: 1080,
            fps: 60,
            video_kbps: 8000,
            audio_kbps: 320,
            keyframe_interval_s: 4,
        };
        let fields: Vec<String> = check("linkedin", "rtmps://x.linkedin.com/live", &s)
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "video_kbps",
                "keyframe_interval_s",
                "resolution",
                "fps",
                "audio_kbps"
            ]
        );
        assert!(check("twitch", "rtmp://live.twitch.tv/app", &s)
            .iter()
            .any(|p| p.field == "keyframe_interval_s" && p.severity == Severity::Error));
        assert!(check("custom", "ftp://x/y", &s)[0].field == "server_url");
    }

    #[test]
    fn key_pasted_into_a_known_server_is_moved_out() {
        let s = split_key("twitch", "rtmp://live.twitch.tv/app/live_123456_AbCdEf");
        assert_eq!(s.server_url, "rtmp://live.twitch.tv/app");
        assert_eq!(s.key.as_deref(), Some("live_123456_AbCdEf"));
        let s = split_key(
            "facebook",
            "rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&s_sw=0",
        );
        assert_eq!(s.server_url, "rtmps://live-api-s.facebook.com:443/rtmp/");
        assert_eq!(
            s.key.as_deref(),
            Some("FB-123?s_bl=1&s_sw=0"),
            "query string kept whole"
        );
        let s = split_key("youtube", "rtmp://a.rtmp.youtube.com/live2");
        assert_eq!(s.key, None);
    }

    #[test]
    fn key_pasted_into_a_custom_url_is_moved_out_but_an_instance_is_not() {
        let s = split_key("custom", "rtmp://10.0.0.5:1935/live/a1b2c3d4e5f6g7");
        assert_eq!(s.server_url, "rtmp://10.0.0.5:1935/live");
        assert_eq!(s.key.as_deref(), Some("a1b2c3d4e5f6g7"));
        for keep in [
            "rtmp://host/live",
            "rtmp://host/app/studio",
            "rtmp://host",
            "not a url",
        ] {
            assert_eq!(split_key("custom", keep).key, None, "{keep}");
        }
    }
}
