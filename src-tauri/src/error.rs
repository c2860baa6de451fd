//! The shell's error, serialised for the UI as `{kind, message}`. Messages
//! never contain a stream key.

/// What a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The server URL and key do not make a destination.
    #[error("{0}")]
    BadDestination(String),
    /// Go Live while already live.
    #[error("already live")]
    AlreadyLive,
    /// Stop while not live.
    #[error("not live")]
    NotLive,
    /// The encoders could not start.
    #[error("cannot start encoding: {0}")]
    Media(String),
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let kind = match self {
            AppError::BadDestination(_) => "bad_destination",
            AppError::AlreadyLive => "already_live",
            AppError::NotLive => "not_live",
            AppError::Media(_) => "media",
        };
        let mut st = s.serialize_struct("AppError", 2)?;
        st.serialize_field("kind", kind)?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}
