//! The panel indicator: the app's icon, with "● LIVE h:mm:ss" (or
//! "● REC") beside it while a show runs, and a menu that says the same and
//! brings the window back. On Linux it is an AppIndicator
//! (StatusNotifierItem), shown by GNOME (with its extension), KDE, XFCE…

use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

/// The indicator and its status line.
pub struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
}

const SHOW: &str = "show";
const IDLE: &str = "Off air";

impl Tray {
    /// Puts the indicator in the panel. `None` where the platform has none
    /// (no AppIndicator library, say): the window title still tells.
    pub fn create(app: &AppHandle) -> Option<Self> {
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::build(app)));
        match built {
            Ok(Ok(t)) => Some(t),
            Ok(Err(e)) => {
                tracing::warn!("no panel indicator: {e}");
                None
            }
            // The AppIndicator library is loaded at run time and panics
            // when missing.
            Err(_) => {
                tracing::warn!("no panel indicator: the AppIndicator library is missing");
                None
            }
        }
    }

    fn build(app: &AppHandle) -> tauri::Result<Self> {
        let status = MenuItem::with_id(app, "status", IDLE, false, None::<&str>)?;
        let show = MenuItem::with_id(app, SHOW, "Show OnAir", true, None::<&str>)?;
        let menu = Menu::with_items(app, &[&status, &show])?;
        let mut b = TrayIconBuilder::with_id("onair")
            .menu(&menu)
            .tooltip("OnAir")
            .title("")
            .on_menu_event(|app, e| {
                if e.id() == SHOW {
                    if let Some(w) = app.get_webview_window("main") {
                        let _ = w.unminimize();
                        let _ = w.show();
                        let _ = w.set_focus();
                    }
                }
            });
        if let Some(icon) = app.default_window_icon() {
            b = b.icon(icon.clone());
        }
        let icon = b.build(app)?;
        Ok(Self { icon, status })
    }

    /// Shows `status` ("● LIVE 0:12:34", "● REC"), or nothing when idle.
    pub fn show(&self, status: Option<&str>) {
        let _ = self.icon.set_title(Some(status.unwrap_or("")));
        let _ = self.icon.set_tooltip(Some(
            status.map_or("OnAir".into(), |s| format!("OnAir {s}")),
        ));
        let _ = self.status.set_text(status.unwrap_or(IDLE));
    }
}
