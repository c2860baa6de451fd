//! Global shortcuts (Go Live / End Stream, Record, mute the microphone):
//! checked when the settings are saved, registered with the system at start
//! and after every save, and told to the window when pressed — the window
//! acts as if its button were pressed, so what it shows stays true.

use std::str::FromStr;

use onair_profiles::shortcuts::Shortcuts;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

use crate::state::AppState;

/// The shortcuts' problems: one that cannot be read, has no Ctrl, Alt or
/// Super (a bare key or Shift+key would steal typing from every other
/// application), or is used twice.
pub fn problem(s: &Shortcuts) -> Option<String> {
    let mut seen: Vec<(u32, &str)> = Vec::new();
    for (action, text) in s.actions() {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let name = label(action);
        let Ok(k) = Shortcut::from_str(text) else {
            return Some(format!(
                "{name}: \"{text}\" is not a key combination (say Ctrl+Alt+Shift+L)."
            ));
        };
        if !k
            .mods
            .intersects(Modifiers::CONTROL | Modifiers::ALT | Modifiers::SUPER)
        {
            return Some(format!(
                "{name}: \"{text}\" needs Ctrl, Alt or Super, or it would take that key from every other application."
            ));
        }
        if let Some((_, other)) = seen.iter().find(|(id, _)| *id == k.id()) {
            return Some(format!("{name} and {other} have the same shortcut."));
        }
        seen.push((k.id(), name));
    }
    None
}

fn label(action: &str) -> &'static str {
    match action {
        "go_live" => "Go Live / End Stream",
        "record" => "Record",
        _ => "Mute microphone",
    }
}

/// Registers `s` in place of what was registered; returns what could not
/// be (another application holds it, say), in the user's words.
pub fn apply(app: &AppHandle, s: &Shortcuts) -> Vec<String> {
    let gs = app.global_shortcut();
    if let Err(e) = gs.unregister_all() {
        tracing::warn!("unregistering the shortcuts: {e}");
    }
    let mut problems = Vec::new();
    for (action, text) in s.actions() {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let registered = Shortcut::from_str(text)
            .map_err(|e| e.to_string())
            .and_then(|k| gs.register(k).map_err(|e| e.to_string()));
        if let Err(e) = registered {
            tracing::warn!(action, "shortcut not registered: {e}");
            problems.push(format!(
                "{} ({text}) could not be set: another application may use it.",
                label(action)
            ));
        }
    }
    // Key grabs are X11's: a Wayland desktop hands them over only while an
    // X11 (XWayland) window has the focus.
    #[cfg(target_os = "linux")]
    if s.actions().iter().any(|(_, t)| !t.trim().is_empty())
        && (std::env::var_os("WAYLAND_DISPLAY").is_some()
            || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland"))
    {
        problems.push(
            "This is a Wayland desktop: it gives global shortcuts only to X11 windows, so these may not work here."
                .into(),
        );
    }
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(mut p) = state.shortcut_problems.lock() {
            p.clone_from(&problems);
        }
    }
    problems
}

/// Where a pressed shortcut goes: the action it is saved for, told to the
/// window.
pub fn on_pressed(app: &AppHandle, pressed: &Shortcut, state: ShortcutState) {
    if state != ShortcutState::Pressed {
        return;
    }
    let Some(st) = app.try_state::<AppState>() else {
        return;
    };
    let saved = st.settings().shortcuts;
    let action = saved.actions().into_iter().find_map(|(action, text)| {
        Shortcut::from_str(text.trim())
            .ok()
            .filter(|k| k.id() == pressed.id())
            .map(|_| action)
    });
    let Some(action) = action else { return };
    let told = st
        .on_shortcut
        .lock()
        .ok()
        .and_then(|c| c.as_ref().map(|c| c.send(action.to_owned()).is_ok()));
    if told != Some(true) {
        tracing::warn!(action, "shortcut pressed with no window to act on it");
    }
}

/// Where the window hears the shortcuts pressed (it acts as if its button
/// were pressed).
#[tauri::command]
#[specta::specta]
pub fn watch_shortcuts(state: tauri::State<'_, AppState>, on_shortcut: Channel<String>) {
    if let Ok(mut c) = state.on_shortcut.lock() {
        *c = Some(on_shortcut);
    }
}

/// The saved shortcuts that could not be registered, in the user's words.
#[tauri::command]
#[specta::specta]
pub fn shortcut_problems(state: tauri::State<'_, AppState>) -> Vec<String> {
    state
        .shortcut_problems
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(go: &str, rec: &str, mute: &str) -> Shortcuts {
        Shortcuts {
            go_live: go.into(),
            record: rec.into(),
            mute_mic: mute.into(),
        }
    }

    #[test]
    fn the_default_shortcuts_and_none_at_all_are_fine() {
        assert_eq!(problem(&Shortcuts::default()), None);
        assert_eq!(problem(&keys("", "", "")), None);
        assert_eq!(problem(&keys("Super+F9", "Alt+F10", "")), None);
    }

    #[test]
    fn a_shortcut_without_ctrl_alt_or_super_is_refused() {
        let p = problem(&keys("M", "", "")).unwrap();
        assert!(p.contains("needs Ctrl, Alt or Super"), "{p}");
        assert!(problem(&keys("", "Shift+R", "")).is_some());
    }

    #[test]
    fn an_unreadable_or_doubled_shortcut_is_refused() {
        let p = problem(&keys("Ctrl+Alt+Nope", "", "")).unwrap();
        assert!(p.contains("not a key combination"), "{p}");
        let p = problem(&keys("Ctrl+Alt+L", "ctrl+alt+l", "")).unwrap();
        assert!(p.contains("same shortcut"), "{p}");
    }
}
