//! The app's global shortcuts as saved: key combinations such as
//! `Ctrl+Alt+Shift+L` (modifiers, then one key), empty for none. The app
//! checks and registers them; this is only what is remembered.

use serde::{Deserialize, Serialize};

/// What each global shortcut does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct Shortcuts {
    /// Go Live, or End Stream while live.
    pub go_live: String,
    /// Start or stop recording.
    pub record: String,
    /// Mute or unmute the microphone.
    pub mute_mic: String,
}

impl Default for Shortcuts {
    /// Three modifiers each: no desktop, browser or editor binds these.
    fn default() -> Self {
        Self {
            go_live: "Ctrl+Alt+Shift+L".into(),
            record: "Ctrl+Alt+Shift+R".into(),
            mute_mic: "Ctrl+Alt+Shift+M".into(),
        }
    }
}

impl Shortcuts {
    /// Each action's name (as the window is told it) and its combination.
    pub fn actions(&self) -> [(&'static str, &str); 3] {
        [
            ("go_live", self.go_live.as_str()),
            ("record", self.record.as_str()),
            ("mute_mic", self.mute_mic.as_str()),
        ]
    }
}
