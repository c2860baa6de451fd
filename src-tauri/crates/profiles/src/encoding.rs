//! Encodings by name, as the command line and the app name them (several
//! encodings of one capture): `NAME=WxH@FPS:KBPS[:KEYFRAME_SECS]`, a
//! destination or recording that names its encoding, `NAME+…`, and the
//! ready-made choices the app offers. The settings file stores them.

use std::str::FromStr;

/// Longest encoding name.
pub const MAX_NAME_LEN: usize = 32;
/// Largest side of a picture (either way round: 3840x2160 or 2160x3840).
pub const MAX_SIDE: u32 = 3840;
/// Largest picture area (4K UHD).
pub const MAX_AREA: u32 = 3840 * 2160;

/// One encoding: a name, a picture size, a frame rate, a video bitrate, a
/// keyframe interval, and where its crop of the capture lies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Encoding {
    /// `main`, `vertical`, … (lower-case letters, digits, `-`, `_`).
    pub name: String,
    /// Width, even.
    pub width: u32,
    /// Height, even.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Seconds between keyframes.
    pub keyframe_interval_s: u32,
    /// Horizontal crop position when its aspect is narrower than the
    /// capture's: 0.0 (left) to 1.0 (right), 0.5 the centre.
    #[serde(default = "centre")]
    pub crop_x: f32,
}

fn centre() -> f32 {
    0.5
}

/// Most encodings a stream may have (each is an encoder thread).
pub const MAX_ENCODINGS: usize = 6;

/// The name of the one encoding a stream without `--encoding` has.
pub const DEFAULT_NAME: &str = "main";

impl Encoding {
    /// The encoding `main` of the given picture (centre crop).
    pub fn main(
        width: u32,
        height: u32,
        fps: u32,
        video_kbps: u32,
        keyframe_interval_s: u32,
    ) -> Self {
        Self {
            name: DEFAULT_NAME.into(),
            width,
            height,
            fps,
            video_kbps,
            keyframe_interval_s,
            crop_x: 0.5,
        }
    }

    /// Whether every field is in range: the name, an even size from 16 to
    /// 3840 a side and at most 3840x2160 in area, 1-120 fps, 100-50000
    /// kbit/s, a keyframe every 1-10 s, the crop within 0.0-1.0.
    pub fn validate(&self) -> Result<(), EncodingError> {
        let name = || self.name.clone();
        if !valid_name(&self.name) {
            return Err(EncodingError::Name(name()));
        }
        let (width, height) = (self.width, self.height);
        let side = 16..=MAX_SIDE;
        if !side.contains(&width)
            || !side.contains(&height)
            || width % 2 == 1
            || height % 2 == 1
            || width * height > MAX_AREA
        {
            return Err(EncodingError::Size {
                name: name(),
                width,
                height,
            });
        }
        if !(1..=120).contains(&self.fps) {
            return Err(EncodingError::Fps(name()));
        }
        if !(100..=50_000).contains(&self.video_kbps) {
            return Err(EncodingError::Kbps(name()));
        }
        if !(1..=10).contains(&self.keyframe_interval_s) {
            return Err(EncodingError::Keyframe(name()));
        }
        if !(0.0..=1.0).contains(&self.crop_x) {
            return Err(EncodingError::Crop(format!(
                "{}={}",
                self.name, self.crop_x
            )));
        }
        Ok(())
    }

    /// Whether it is taller than wide (9:16 and the like).
    pub fn is_vertical(&self) -> bool {
        self.height > self.width
    }
}

/// The ready-made encodings the app offers (name, size, rate, bitrate).
pub fn ready_made() -> Vec<Encoding> {
    let e = |name: &str, width, height, fps, video_kbps| Encoding {
        name: name.into(),
        width,
        height,
        fps,
        video_kbps,
        keyframe_interval_s: 2,
        crop_x: 0.5,
    };
    vec![
        e("1080p30", 1920, 1080, 30, 6000),
        e("720p30", 1280, 720, 30, 3000),
        e("720p60", 1280, 720, 60, 4500),
        e("480p30", 854, 480, 30, 1500),
        e("vertical-1080", 1080, 1920, 30, 6000),
        e("vertical", 720, 1280, 30, 3000),
    ]
}

/// Parses a crop position `NAME=X`, X from 0.0 to 1.0.
pub fn parse_crop(s: &str) -> Result<(String, f32), EncodingError> {
    let bad = || EncodingError::Crop(s.to_owned());
    let (name, x) = s.trim().split_once('=').ok_or_else(bad)?;
    if !valid_name(name) {
        return Err(EncodingError::Name(name.to_owned()));
    }
    let x: f32 = x.trim().parse().map_err(|_| bad())?;
    if !(0.0..=1.0).contains(&x) {
        return Err(bad());
    }
    Ok((name.to_owned(), x))
}

/// Why an encoding spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// Not `NAME=WxH@FPS:KBPS[:KEYFRAME_SECS]`.
    #[error(
        "encoding '{0}' is not NAME=WxH@FPS:KBPS[:KEYFRAME_SECS] (e.g. vertical=720x1280@30:2500)"
    )]
    Syntax(String),
    /// Empty, too long, or characters other than a-z, 0-9, - and _.
    #[error("encoding name '{0}' must be 1 to 32 of a-z, 0-9, - and _")]
    Name(String),
    /// Odd, too small or too large.
    #[error("encoding '{name}': size {width}x{height} must be even, 16 to 3840 a side, at most 3840x2160 in area")]
    Size {
        /// The encoding.
        name: String,
        /// Asked width.
        width: u32,
        /// Asked height.
        height: u32,
    },
    /// Frame rate out of 1..=120.
    #[error("encoding '{0}': frame rate must be 1 to 120")]
    Fps(String),
    /// Bitrate out of 100..=50000.
    #[error("encoding '{0}': video bitrate must be 100 to 50000 kbit/s")]
    Kbps(String),
    /// Keyframe interval out of 1..=10.
    #[error("encoding '{0}': keyframe interval must be 1 to 10 s")]
    Keyframe(String),
    /// Not `NAME=X` with X from 0.0 to 1.0.
    #[error("crop '{0}' is not NAME=X with X from 0.0 (left) to 1.0 (right)")]
    Crop(String),
}

/// Whether `s` is a valid encoding name.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl FromStr for Encoding {
    type Err = EncodingError;

    /// `NAME=WxH@FPS:KBPS[:KEYFRAME_SECS]`; the keyframe interval defaults
    /// to 2 s (what every platform accepts).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || EncodingError::Syntax(s.to_owned());
        let (name, rest) = s.trim().split_once('=').ok_or_else(syntax)?;
        if !valid_name(name) {
            return Err(EncodingError::Name(name.to_owned()));
        }
        let (size, rest) = rest.split_once('@').ok_or_else(syntax)?;
        let (w, h) = size.split_once(['x', 'X']).ok_or_else(syntax)?;
        let mut nums = rest.split(':');
        let mut next = || -> Result<Option<u32>, EncodingError> {
            nums.next()
                .map(|n| n.parse::<u32>().map_err(|_| syntax()))
                .transpose()
        };
        let fps = next()?.ok_or_else(syntax)?;
        let kbps = next()?.ok_or_else(syntax)?;
        let keyframe = next()?.unwrap_or(2);
        if next()?.is_some() {
            return Err(syntax());
        }
        let (width, height): (u32, u32) = (
            w.parse().map_err(|_| syntax())?,
            h.parse().map_err(|_| syntax())?,
        );
        let e = Self {
            name: name.to_owned(),
            width,
            height,
            fps,
            video_kbps: kbps,
            keyframe_interval_s: keyframe,
            crop_x: 0.5,
        };
        e.validate()?;
        Ok(e)
    }
}
/// Splits `NAME+rest` when `NAME` is one of `known` (a destination
/// `vertical+rtmps://…`, a recording `vertical+take.mp4`); anything else is
/// all `rest` (`onair` refuses a `rest` that starts with a name that is
/// not an encoding's: a file called `take+1.mp4` is given as `./take+1.mp4`).
pub fn split_named<'a>(s: &'a str, known: &[&str]) -> (Option<&'a str>, &'a str) {
    match s.split_once('+') {
        Some((name, rest)) if known.contains(&name) => (Some(name), rest),
        _ => (None, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_a_default_keyframe_interval() {
        let e: Encoding = "vertical=720x1280@30:2500".parse().unwrap();
        assert_eq!(
            e,
            Encoding {
                name: "vertical".into(),
                width: 720,
                height: 1280,
                fps: 30,
                video_kbps: 2500,
                keyframe_interval_s: 2,
                crop_x: 0.5,
            }
        );
        let e: Encoding = "yt-1080p=1920x1080@60:9000:1".parse().unwrap();
        assert_eq!((e.fps, e.keyframe_interval_s), (60, 1));
        assert!("uhd=3840x2160@30:20000".parse::<Encoding>().is_ok());
        assert!("uhd_v=2160x3840@30:20000".parse::<Encoding>().is_ok());
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Encoding>().unwrap_err();
        assert!(matches!(err("main"), EncodingError::Syntax(_)));
        assert!(matches!(err("main=1280x720@30"), EncodingError::Syntax(_)));
        assert!(matches!(
            err("main=1280x720@30:3000:2:9"),
            EncodingError::Syntax(_)
        ));
        assert!(matches!(
            err("main=1280x720@x:3000"),
            EncodingError::Syntax(_)
        ));
        assert!(matches!(
            err("Main=1280x720@30:3000"),
            EncodingError::Name(_)
        ));
        assert!(matches!(
            err("a+b=1280x720@30:3000"),
            EncodingError::Name(_)
        ));
        assert!(matches!(err("=1280x720@30:3000"), EncodingError::Name(_)));
        assert!(matches!(
            err("m=1281x720@30:3000"),
            EncodingError::Size { .. }
        ));
        assert!(matches!(
            err("m=3840x3840@30:3000"),
            EncodingError::Size { .. }
        ));
        assert!(matches!(err("m=8x8@30:3000"), EncodingError::Size { .. }));
        assert!(matches!(err("m=1280x720@0:3000"), EncodingError::Fps(_)));
        assert!(matches!(err("m=1280x720@30:50"), EncodingError::Kbps(_)));
        assert!(matches!(
            err("m=1280x720@30:3000:11"),
            EncodingError::Keyframe(_)
        ));
        assert!(err("m=1281x720@30:3000").to_string().contains("1281x720"));
    }

    #[test]
    fn ready_made_encodings_are_valid_and_a_bad_stored_one_is_refused() {
        for e in ready_made() {
            assert_eq!(e.validate(), Ok(()), "{e:?}");
        }
        assert!(ready_made().iter().any(Encoding::is_vertical));
        let bad = |f: fn(&mut Encoding)| {
            let mut e = Encoding::main(1280, 720, 30, 3000, 2);
            f(&mut e);
            e.validate().unwrap_err()
        };
        assert!(matches!(
            bad(|e| e.name = "Main".into()),
            EncodingError::Name(_)
        ));
        assert!(matches!(
            bad(|e| e.width = 1281),
            EncodingError::Size { .. }
        ));
        assert!(matches!(bad(|e| e.height = 0), EncodingError::Size { .. }));
        assert!(matches!(bad(|e| e.fps = 0), EncodingError::Fps(_)));
        assert!(matches!(
            bad(|e| e.video_kbps = 60_000),
            EncodingError::Kbps(_)
        ));
        assert!(matches!(
            bad(|e| e.keyframe_interval_s = 0),
            EncodingError::Keyframe(_)
        ));
        assert!(matches!(
            bad(|e| e.crop_x = f32::NAN),
            EncodingError::Crop(_)
        ));
        assert!(matches!(bad(|e| e.crop_x = 1.5), EncodingError::Crop(_)));
    }

    #[test]
    fn crop_positions_parse_from_left_to_right_only() {
        assert_eq!(parse_crop("vertical=0.25"), Ok(("vertical".into(), 0.25)));
        assert_eq!(parse_crop("v=1"), Ok(("v".into(), 1.0)));
        for bad in [
            "vertical",
            "vertical=1.5",
            "vertical=-0.1",
            "vertical=NaN",
            "vertical=x",
        ] {
            assert!(parse_crop(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_crop("V=0.5"), Err(EncodingError::Name(_))));
    }

    #[test]
    fn a_name_prefix_counts_only_for_known_encodings() {
        let known = ["main", "vertical"];
        assert_eq!(
            split_named("vertical+rtmps://h/app/k", &known),
            (Some("vertical"), "rtmps://h/app/k")
        );
        assert_eq!(
            split_named("rtmp://h/app/k+x", &known),
            (None, "rtmp://h/app/k+x")
        );
        assert_eq!(split_named("take+1.mp4", &known), (None, "take+1.mp4"));
        assert_eq!(
            split_named("main+/tmp/a.mp4", &known),
            (Some("main"), "/tmp/a.mp4")
        );
    }
}
