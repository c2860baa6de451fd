//! Fixtures for the end-to-end tests: a real nginx-rtmp server on a free
//! loopback port (config written into a temp folder, `on_publish` auth that
//! accepts one key, `record all`), ffprobe helpers, and the built binaries.

pub mod webdriver;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key the test server accepts.
pub const GOOD_KEY: &str = "onair_test_key_7f3a";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A binary built by the test command (`ONAIR_BIN_DIR`, else target/release).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("ONAIR_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release"));
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build it first (the README test command does)",
        p.display()
    );
    p
}

/// A running nginx with the RTMP module.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// RTMP port.
    pub rtmp_port: u16,
    /// HTTP port (auth, stat page).
    pub http_port: u16,
}

impl Nginx {
    /// Writes a config into a temp folder and starts nginx in the foreground.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let rtmp_port = free_port();
        let http_port = free_port();
        let d = dir.path();
        for sub in ["logs", "rec", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let p = d.display();
        let conf = format!(
            r#"
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
error_log {p}/logs/error.log info;
pid {p}/nginx.pid;
events {{ worker_connections 256; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp_port};
    application live {{
      live on;
      record all;
      record_path {p}/rec;
      record_unique off;
      notify_method get;
      on_publish http://127.0.0.1:{http_port}/auth;
    }}
  }}
}}
http {{
  access_log off;
  client_body_temp_path {p}/tmp; proxy_temp_path {p}/tmp; fastcgi_temp_path {p}/tmp;
  uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;
  server {{
    listen 127.0.0.1:{http_port};
    location /auth {{ if ($arg_name = '{GOOD_KEY}') {{ return 200; }} return 403; }}
    location /stat {{ rtmp_stat all; }}
  }}
}}
"#
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (Debian nginx + libnginx-mod-rtmp) must be installed");
        let n = Self {
            child,
            dir,
            rtmp_port,
            http_port,
        };
        n.wait_listening();
        n
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.rtmp_port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nginx did not start: {}", self.error_log());
    }

    /// Publishing URL with `key`.
    pub fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    /// Path of the recording of stream `key`.
    pub fn recording(&self, key: &str) -> PathBuf {
        self.dir.path().join("rec").join(format!("{key}.flv"))
    }

    /// The rtmp_stat XML.
    pub fn stat(&self) -> String {
        http_get(self.http_port, "/stat")
    }

    /// nginx's error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on loopback; returns the body (empty on error).
pub fn http_get(port: u16, path: &str) -> String {
    http_request("GET", port, path, None).unwrap_or_default()
}

/// One HTTP/1.0 request on loopback with an optional JSON body; returns the
/// response body.
pub fn http_request(
    method: &str,
    port: u16,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let body = json.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if json.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let out = String::from_utf8_lossy(&out);
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

/// Runs ffprobe with `args` on `file`, returns the parsed JSON.
pub fn ffprobe_json(file: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe must be installed");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// What `ffmpeg -v error -i file -f null -` prints (empty when it decodes cleanly).
pub fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg must be installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses a JSON number field that ffprobe gives as a string.
pub fn num(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// Runs `ffmpeg -v error -i file <args> -` and returns what it wrote to stdout.
pub fn ffmpeg_stdout(file: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(args)
        .arg("-")
        .output()
        .expect("ffmpeg must be installed");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Times (s, from the first decoded sample) at which the mono audio of
/// `file` gets loud (RMS over 2 ms windows crosses `threshold`).
pub fn audio_onsets(file: &Path, threshold: f32) -> Vec<f64> {
    let raw = ffmpeg_stdout(
        file,
        &["-map", "0:a", "-ac", "1", "-ar", "48000", "-f", "f32le"],
    );
    let samples: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let win = 96;
    let mut onsets = Vec::new();
    let mut was_loud = false;
    for (i, w) in samples.chunks_exact(win).enumerate() {
        let rms = (w.iter().map(|x| x * x).sum::<f32>() / win as f32).sqrt();
        let loud = rms > threshold;
        if loud && !was_loud {
            onsets.push((i * win) as f64 / 48_000.0);
        }
        was_loud = loud;
    }
    onsets
}

/// Mean luma of a `w`x`h` box at (`x`, `y`) in every video frame of `file`.
pub fn region_luma(file: &Path, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let filter = format!("crop={w}:{h}:{x}:{y},scale=1:1:flags=area");
    ffmpeg_stdout(
        file,
        &[
            "-map", "0:v", "-vf", &filter, "-f", "rawvideo", "-pix_fmt", "gray",
        ],
    )
}
