//! The shell's error as the UI receives it: `{kind, message}`. Messages
//! never contain a stream key.

/// What kind of failure, for the UI to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Go Live while already live.
    AlreadyLive,
    /// Stop while not live.
    NotLive,
    /// The encoders could not start.
    Media,
    /// A camera or microphone is missing or unusable.
    Source,
    /// Settings or a destination do not fit the platform (see the message).
    Invalid,
    /// A destination has no stream key yet.
    NoKey,
    /// The OS credential store is missing or refused.
    KeyStore,
    /// The profiles file could not be written.
    Store,
    /// No such profile.
    NotFound,
    /// The recording could not start or be written.
    Record,
    /// Stop recording while not recording.
    NotRecording,
}

/// A command's error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, specta::Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// What kind.
    pub kind: ErrorKind,
    /// For the user.
    pub message: String,
}

impl AppError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<onair_engine::SessionError> for AppError {
    fn from(e: onair_engine::SessionError) -> Self {
        use onair_engine::{EngineError, SessionError as S};
        use onair_media::MediaError;
        let kind = match &e {
            S::AlreadyLive => ErrorKind::AlreadyLive,
            S::NotLive => ErrorKind::NotLive,
            S::NotRecording => ErrorKind::NotRecording,
            S::NotInStream | S::CheckNotRunning => ErrorKind::NotFound,
            S::CheckStart(_) | S::Panicked(_) => ErrorKind::Media,
            S::Engine(EngineError::Media(MediaError::Source(_))) => ErrorKind::Source,
            S::Engine(EngineError::Record(_)) => ErrorKind::Record,
            S::Engine(EngineError::Media(_)) => {
                return AppError::new(ErrorKind::Media, format!("Cannot start encoding: {e}"))
            }
        };
        AppError::new(kind, e.to_string())
    }
}
