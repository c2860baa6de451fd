//! A minimal W3C WebDriver client (the few calls the app tests need), plus
//! Xvfb and tauri-driver fixtures.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::free_ports;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A private X server.
pub struct Xvfb {
    child: Child,
    /// `:N`
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display number and waits for its socket.
    pub fn start() -> Self {
        // A display is taken while the server in its lock file runs; a
        // lock left by one that was killed is stale, and the X server
        // replaces it (and its socket) itself.
        let taken = |n: u32| {
            std::fs::read_to_string(format!("/tmp/.X{n}-lock"))
                .ok()
                .and_then(|pid| pid.trim().parse::<i32>().ok())
                .is_some_and(|pid| {
                    // SAFETY: signal 0 only asks whether the process exists.
                    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
                })
        };
        // Another one may take the same display first: then the next.
        for n in (100..400).filter(|&n| !taken(n)) {
            let display = format!(":{n}");
            let mut child = Command::new("Xvfb")
                .args([
                    display.as_str(),
                    "-screen",
                    "0",
                    "1280x900x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb (Debian xvfb) must be installed");
            // Ready when its lock names it and its socket answers (a stale
            // socket may still be there until it has replaced it).
            let mine = child.id().to_string();
            let sock = format!("/tmp/.X11-unix/X{n}");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if std::fs::read_to_string(format!("/tmp/.X{n}-lock"))
                    .is_ok_and(|pid| pid.trim() == mine)
                    && std::os::unix::net::UnixStream::connect(&sock).is_ok()
                {
                    return Self { child, display };
                }
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                assert!(Instant::now() < deadline, "Xvfb did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("no free X display from :100 to :399");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // Terminated, it removes its lock and socket (killed, it cannot).
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tauri-driver, proxying to WebKitWebDriver.
pub struct TauriDriver {
    child: Child,
    /// Its WebDriver port.
    pub port: u16,
}

impl TauriDriver {
    /// Starts tauri-driver on free ports with `DISPLAY`.
    pub fn start(display: &str) -> Self {
        Self::start_with_env(display, &[])
    }

    /// The same, with extra environment for the app it launches.
    pub fn start_with_env(display: &str, env: &[(String, String)]) -> Self {
        let ports = free_ports(2);
        let (port, native) = (ports[0], ports[1]);
        use std::os::unix::process::CommandExt;
        // Its own process group, so WebKitWebDriver (its child) goes too.
        let child = Command::new("tauri-driver")
            .process_group(0)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DISPLAY", display)
            // On Xvfb, even when run from a Wayland desktop.
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("XDG_SESSION_TYPE")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tauri-driver must be installed (the README test command does it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // SAFETY: signalling the process group we created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session.
pub struct Session {
    base: String,
    id: String,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    try_call(method, url, body).unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"))
}

/// One WebDriver request: its value, or the error object it answered.
fn try_call(method: &str, url: &str, body: Option<Value>) -> Result<Value, Value> {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback URL");
    let (port, path) = rest.split_once('/').expect("path");
    let port: u16 = port.parse().expect("port");
    let body = match (method, body) {
        ("GET" | "DELETE", _) => None,
        (_, b) => Some(b.unwrap_or_else(|| json!({})).to_string()),
    };
    let text = crate::http_request(method, port, &format!("/{path}"), body.as_deref())
        .map_err(|e| json!({"error": "no answer", "message": e.to_string()}))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if v["value"]["error"].is_string() {
        return Err(v["value"].clone());
    }
    Ok(v["value"].clone())
}

impl Session {
    /// Opens the app at `application` through tauri-driver.
    pub fn new(driver: &TauriDriver, application: &Path) -> Self {
        let base = format!("http://127.0.0.1:{}", driver.port);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application}
        }}});
        // tauri-driver listens before WebKitWebDriver behind it is ready:
        // retry until a session comes back.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text =
                crate::http_request("POST", driver.port, "/session", Some(&caps.to_string()))
                    .unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Some(id) = v["value"]["sessionId"].as_str() {
                return Self {
                    base,
                    id: id.to_owned(),
                };
            }
            assert!(Instant::now() < deadline, "no WebDriver session: {text}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.id)
    }

    /// Finds an element by CSS selector, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = try_call(
                "POST",
                &self.url("/element"),
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Ok(v) = found {
                if let Some(id) = v[ELEMENT].as_str() {
                    return id.to_owned();
                }
            }
            assert!(Instant::now() < deadline, "no element {css}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types into an element.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/clear")),
            Some(json!({})),
        );
        call(
            "POST",
            &self.url(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Sends keys to an element as they are (nothing cleared first): WebDriver
    /// key codes such as `\u{E010}` (End) included.
    pub fn send_keys(&self, css: &str, keys: &str) {
        let e = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/value")),
            Some(json!({"text": keys})),
        );
    }

    /// Clicks an element.
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    /// An element's text.
    pub fn text(&self, css: &str) -> String {
        self.read(css, "text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `what` (`text`, `attribute/NAME`, `property/NAME`) of the element
    /// matching `css`; one the page replaced between finding and reading
    /// it (a card rendered again) is found again.
    fn read(&self, css: &str, what: &str) -> Value {
        for _ in 0..5 {
            let e = self.find(css);
            let url = self.url(&format!("/element/{e}/{what}"));
            match try_call("GET", &url, None) {
                Ok(v) => return v,
                Err(err) if err["error"] == "stale element reference" => continue,
                Err(err) => panic!("WebDriver GET {url}: {err}"),
            }
        }
        panic!("{css} was replaced each time it was read");
    }

    /// An element's attribute (`None` if absent).
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.read(css, &format!("attribute/{name}"))
            .as_str()
            .map(str::to_owned)
    }

    /// An element's DOM property, as a string (`None` if null).
    pub fn prop(&self, css: &str, name: &str) -> Option<String> {
        match self.read(css, &format!("property/{name}")) {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// How many elements match.
    pub fn count(&self, css: &str) -> usize {
        call(
            "POST",
            &self.url("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Polls `f` every 100 ms until it returns true or `timeout` passes.
    pub fn wait_until(&self, timeout: Duration, mut f: impl FnMut(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Runs `js` (a function body: `return …`) in the page; its result.
    pub fn script(&self, js: &str) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Loads the page again.
    pub fn refresh(&self) {
        call("POST", &self.url("/refresh"), Some(json!({})));
    }

    /// A PNG screenshot of the window.
    pub fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = call("GET", &self.url("/screenshot"), None);
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            call(
                "DELETE",
                &format!("{}/session/{}", self.base, self.id),
                None,
            )
        });
    }
}

/// The app under test with what it needs around it: its own Secret Service
/// for the keys, its own config folder, an X display and a driver.
pub struct App {
    /// The Secret Service (GNOME Keyring) the app keeps keys in.
    pub keyring: crate::keyring::SecretService,
    /// `XDG_CONFIG_HOME`.
    pub config: tempfile::TempDir,
    /// The display the window is on.
    pub xvfb: Xvfb,
    /// tauri-driver, with that environment.
    pub driver: TauriDriver,
}

impl App {
    /// Starts the keyring, the display and the driver.
    pub fn start() -> Self {
        let keyring = crate::keyring::SecretService::start();
        let config = tempfile::tempdir().unwrap();
        let xvfb = Xvfb::start();
        let mut env = keyring.env();
        env.push((
            "XDG_CONFIG_HOME".into(),
            config.path().display().to_string(),
        ));
        let driver = TauriDriver::start_with_env(&xvfb.display, &env);
        Self {
            keyring,
            config,
            xvfb,
            driver,
        }
    }

    /// Opens the app built here.
    pub fn open(&self) -> Session {
        self.open_at(&crate::binary("onair-app"))
    }

    /// Opens the app at `application` (an installed one too) and waits
    /// until it has loaded its profiles (the platform list is filled).
    pub fn open_at(&self, application: &Path) -> Session {
        let s = Session::new(&self.driver, application);
        assert!(
            s.wait_until(Duration::from_secs(20), |s| s.count("#platform option")
                >= 6)
        );
        s
    }

    /// The profiles file the app writes.
    pub fn profiles_file(&self) -> std::path::PathBuf {
        self.config.path().join("app.onair.studio/profiles.json")
    }
}
