//! A real Secret Service for one test: a private D-Bus session bus and a
//! GNOME Keyring daemon on it (secrets component, unlocked), in a temp
//! folder that is also the daemon's HOME. Clients see it through
//! `DBUS_SESSION_BUS_ADDRESS` (see [`SecretService::env`]).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bus and the keyring daemon.
pub struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Child,
}

impl SecretService {
    /// Starts both and waits until the keyring answers on the bus.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("onair-keyring-")
            .tempdir()
            .expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}/bus", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon must be installed (./quickstart.sh test installs it)");
        let mut line = String::new();
        BufReader::new(bus.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        let home = dir.path().display().to_string();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &home)
            .env("XDG_DATA_HOME", format!("{home}/data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon must be installed");
        // The password of the new login keyring, then end of input.
        if let Some(mut stdin) = keyring.stdin.take() {
            let _ = stdin.write_all(b"onair-test");
        }
        let s = Self {
            dir,
            address,
            bus,
            keyring,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let owned = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
                .unwrap_or(false);
            if owned {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the keyring never took the bus name"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Environment for a client of this Secret Service.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())]
    }

    /// The folder the daemon keeps its keyrings in.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
