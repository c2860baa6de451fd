//! Sources by name: what the app's settings and the CLI's `--video` /
//! `--audio` say, parsed in one place.

/// Which video source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoInput {
    /// The moving test pattern.
    #[default]
    TestPattern,
    /// Camera number `index` (see [`onair_media::list_cameras`]).
    Camera {
        /// Index.
        index: u32,
    },
}

/// Which audio source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AudioInput {
    /// 440 Hz with a beep every second.
    #[default]
    Tone,
    /// A microphone: `None` is the system's default input, else a device id
    /// or part of its name (see [`onair_media::mic::list_microphones`]).
    Mic {
        /// Device.
        name: Option<String>,
    },
    /// No audio track.
    None,
}

/// A source name that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceNameError {
    /// Not a video source name.
    #[error("unknown video source '{0}' (test | camera[:N])")]
    Video(String),
    /// `camera:` followed by something that is not a number.
    #[error("bad camera number in '{0}' (camera:N)")]
    CameraNumber(String),
    /// Not an audio source name.
    #[error("unknown audio source '{0}' (tone | mic[:NAME] | none)")]
    Audio(String),
    /// `mic:` with nothing after it.
    #[error("empty microphone name in 'mic:' (mic[:NAME])")]
    EmptyMic,
}

impl std::str::FromStr for VideoInput {
    type Err = SourceNameError;

    /// `test` | `camera` (the first) | `camera:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(VideoInput::TestPattern),
            "camera" => Ok(VideoInput::Camera { index: 0 }),
            _ => match s.strip_prefix("camera:") {
                Some(n) => n
                    .parse()
                    .map(|index| VideoInput::Camera { index })
                    .map_err(|_| SourceNameError::CameraNumber(s.to_owned())),
                None => Err(SourceNameError::Video(s.to_owned())),
            },
        }
    }
}

impl std::str::FromStr for AudioInput {
    type Err = SourceNameError;

    /// `tone` | `none` | `mic` (the system's input) | `mic:NAME` (a device
    /// id or part of its name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tone" => Ok(AudioInput::Tone),
            "none" => Ok(AudioInput::None),
            "mic" => Ok(AudioInput::Mic { name: None }),
            _ => match s.strip_prefix("mic:") {
                Some("") => Err(SourceNameError::EmptyMic),
                Some(n) => Ok(AudioInput::Mic {
                    name: Some(n.to_owned()),
                }),
                None => Err(SourceNameError::Audio(s.to_owned())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_parse_or_say_what_is_wrong() {
        assert_eq!("test".parse(), Ok(VideoInput::TestPattern));
        assert_eq!("camera".parse(), Ok(VideoInput::Camera { index: 0 }));
        assert_eq!("camera:2".parse(), Ok(VideoInput::Camera { index: 2 }));
        assert_eq!(
            "camera:x".parse::<VideoInput>(),
            Err(SourceNameError::CameraNumber("camera:x".into()))
        );
        assert!(matches!(
            "screen".parse::<VideoInput>(),
            Err(SourceNameError::Video(_))
        ));
        assert_eq!("tone".parse(), Ok(AudioInput::Tone));
        assert_eq!("none".parse(), Ok(AudioInput::None));
        assert_eq!("mic".parse(), Ok(AudioInput::Mic { name: None }));
        assert_eq!(
            "mic:alsa:default".parse(),
            Ok(AudioInput::Mic {
                name: Some("alsa:default".into())
            })
        );
        assert_eq!("mic:".parse::<AudioInput>(), Err(SourceNameError::EmptyMic));
        assert!(matches!(
            "noise".parse::<AudioInput>(),
            Err(SourceNameError::Audio(_))
        ));
    }
}
