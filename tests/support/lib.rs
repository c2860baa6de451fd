//! Fixtures for the end-to-end tests: a real nginx-rtmp server on a free
//! loopback port (config written into a temp folder, `on_publish` auth that
//! accepts one key, `record all`), ffprobe helpers, and the built binaries.

pub mod hostile;
pub mod keyring;
pub mod proxy;
pub mod pulse;
pub mod webdriver;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A key the test server accepts (it accepts every key starting with it).
pub const GOOD_KEY: &str = "onair_test_key_7f3a";

/// Keys the test server also accepts, exactly: short ones that are parts
/// of the protocol's own words (`NetStream.Publish.Start`).
pub const SHORT_KEYS: &str = "a|Start|Publish";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free TCP ports on 127.0.0.1 (all held open while chosen,
/// so none is handed out twice).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
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
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// RTMP port.
    pub rtmp_port: u16,
    /// HTTP port (auth, stat page).
    pub http_port: u16,
    /// TLS front ports, in the order given.
    pub tls_ports: Vec<u16>,
}

impl Nginx {
    /// Writes a config into a temp folder and starts nginx in the foreground.
    pub fn start() -> Self {
        Self::start_with_tls(&[])
    }

    /// Like [`start`](Self::start), plus one TLS front (nginx `stream`
    /// module, terminating TLS and passing to the RTMP port) per
    /// (certificate PEM, key PEM); their ports are in `tls_ports`.
    pub fn start_with_tls(fronts: &[(String, String)]) -> Self {
        Self::start_full(fronts, "")
    }

    /// Like [`start`](Self::start), with extra directives in the `live`
    /// application (e.g. `drop_idle_publisher 15s;`).
    pub fn start_with_app_directives(directives: &str) -> Self {
        Self::start_full(&[], directives)
    }

    fn start_full(fronts: &[(String, String)], app_directives: &str) -> Self {
        // A port free when chosen can be taken by another test's process
        // before nginx binds it: a server that exits at start is tried again
        // on other ports.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(fronts, app_directives) {
                Ok(n) => return n,
                Err(e) => failures.push(e),
            }
        }
        panic!("nginx did not start: {failures:#?}");
    }

    fn try_start(fronts: &[(String, String)], app_directives: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(2 + fronts.len());
        let (rtmp_port, http_port) = (ports[0], ports[1]);
        let d = dir.path();
        for sub in ["logs", "rec", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let p = d.display();
        let mut tls_ports = Vec::new();
        let mut stream_block = String::new();
        for (i, (cert, key)) in fronts.iter().enumerate() {
            let port = ports[2 + i];
            std::fs::write(d.join(format!("front{i}.crt")), cert).unwrap();
            std::fs::write(d.join(format!("front{i}.key")), key).unwrap();
            stream_block.push_str(&format!(
                "  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {p}/front{i}.crt; \
                 ssl_certificate_key {p}/front{i}.key; proxy_pass 127.0.0.1:{rtmp_port}; }}\n"
            ));
            tls_ports.push(port);
        }
        let stream_conf = if fronts.is_empty() {
            String::new()
        } else {
            format!("stream {{\n{stream_block}}}\n")
        };
        let conf = format!(
            r#"
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
{stream_conf}
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
      {app_directives}
    }}
  }}
}}
http {{
  access_log off;
  client_body_temp_path {p}/tmp; proxy_temp_path {p}/tmp; fastcgi_temp_path {p}/tmp;
  uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;
  server {{
    listen 127.0.0.1:{http_port};
    location /auth {{ if ($arg_name ~ ^{GOOD_KEY}) {{ return 200; }} if ($arg_name ~ ^({SHORT_KEYS})$) {{ return 200; }} return 403; }}
    location /stat {{ rtmp_stat all; }}
    location /control {{ rtmp_control all; }}
  }}
}}
"#
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let child = Self::spawn(d);
        let mut n = Self {
            child: Some(child),
            dir,
            rtmp_port,
            http_port,
            tls_ports,
        };
        match n.listening() {
            Ok(()) => Ok(n),
            Err(e) => {
                n.stop();
                Err(e)
            }
        }
    }

    fn spawn(d: &Path) -> Child {
        Command::new("nginx")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // What nginx says before it opens its error log (a bad config).
            .stderr(std::fs::File::create(d.join("logs/stderr.log")).expect("a log file"))
            .spawn()
            .expect("nginx (Debian nginx + libnginx-mod-rtmp) must be installed")
    }

    /// Kills the server (connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same ports and folder.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(Self::spawn(self.dir.path()));
        if let Err(e) = self.listening() {
            panic!("nginx did not start again: {e}");
        }
    }

    /// Drops the publisher of `key` through nginx-rtmp's control module.
    pub fn drop_publisher(&self, key: &str) -> String {
        http_get(
            self.http_port,
            &format!("/control/drop/publisher?app=live&name={key}"),
        )
    }

    /// Waits until every port answers; an error (with what nginx said) if
    /// it exits first or does not answer within 10 s.
    fn listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut ports = vec![self.rtmp_port, self.http_port];
        ports.extend(&self.tls_ports);
        while Instant::now() < deadline {
            if ports
                .iter()
                .all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok())
            {
                return Ok(());
            }
            let child = self.child.as_mut().expect("a started server");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{status}: {}", self.said()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("not listening after 10 s: {}", self.said()))
    }

    /// nginx's standard error and error log.
    fn said(&self) -> String {
        let stderr = std::fs::read_to_string(self.dir.path().join("logs/stderr.log"));
        format!("{}{}", stderr.unwrap_or_default(), self.error_log())
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
        self.stop();
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

/// The tone's beeps against the pattern's flashes (the box at `flash`,
/// x, y, w, h in the recording's 30 fps picture): every beep has a flash
/// within 20 ms and every flash a beep — at least `at_least` of each —
/// wherever they fall in the recording (a stream may start at any point of
/// the sources' second), and over the part both tracks cover.
pub fn assert_in_sync(rec: &Path, flash: (u32, u32, u32, u32), at_least: usize) {
    let info = ffprobe_json(rec, &["-show_streams"]);
    let streams = info["streams"].as_array().unwrap();
    let start =
        |kind: &str| num(&streams.iter().find(|s| s["codec_type"] == kind).unwrap()["start_time"]);
    let (vs, as_) = (start("video"), start("audio"));
    let beeps: Vec<f64> = audio_onsets(rec, 0.2).iter().map(|b| b + as_).collect();
    let flashes: Vec<f64> = region_luma(rec, flash.0, flash.1, flash.2, flash.3)
        .iter()
        .enumerate()
        .filter(|(_, l)| **l > 150)
        .map(|(i, _)| vs + i as f64 / 30.0)
        .collect();
    let what = || format!("{}: beeps {beeps:?} flashes {flashes:?}", rec.display());
    let first = |v: &[f64]| v.first().copied().unwrap_or(f64::MAX);
    let last = |v: &[f64]| v.last().copied().unwrap_or(f64::MIN);
    // Where both tracks have events, past the first 100 ms (an encoder's
    // first frame smears an onset): one track may start or end a little
    // before the other.
    let (from, to) = (
        (first(&beeps).max(first(&flashes)) - 0.1).max(vs.max(as_) + 0.1),
        last(&beeps).min(last(&flashes)) + 0.1,
    );
    let within = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .copied()
            .filter(|t| (from..=to).contains(t))
            .collect()
    };
    let (b, f) = (within(&beeps), within(&flashes));
    assert!(b.len() >= at_least && f.len() >= at_least, "{}", what());
    let nearest = |t: f64, v: &[f64]| v.iter().map(|x| (x - t).abs()).fold(f64::MAX, f64::min);
    for t in &b {
        assert!(
            nearest(*t, &flashes) <= 0.020,
            "beep at {t:.3}s: {}",
            what()
        );
    }
    for t in &f {
        assert!(nearest(*t, &beeps) <= 0.020, "flash at {t:.3}s: {}", what());
    }
}

/// A running `onair stream --stats json`, its stdout read line by line as
/// it comes (each line stamped with when it arrived).
pub struct OnairRun {
    child: Child,
    rx: std::sync::mpsc::Receiver<(Instant, serde_json::Value)>,
    /// Every line read so far.
    pub lines: Vec<(Instant, serde_json::Value)>,
}

impl OnairRun {
    /// Starts `onair stream --stats json <args>`.
    pub fn stream(args: &[String]) -> Self {
        Self::stream_env(args, &[])
    }

    /// The same with extra environment variables.
    pub fn stream_env(args: &[String], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary("onair"))
            .args(["stream", "--stats", "json"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("onair");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let v = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if tx.send((Instant::now(), v)).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            rx,
            lines: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `pred` (returned) or `timeout` passes.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<(Instant, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if pred(&line.1) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size from /proc, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sends SIGTERM, waits for the exit, reads the remaining lines.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.finish()
    }

    /// Waits for the exit, reads the remaining lines; returns the status and stderr.
    pub fn finish(&mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.rx.recv_timeout(Duration::from_secs(2)) {
            self.lines.push(line);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }

    /// The last `n` lines read, newest first, for failure messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.lines
            .iter()
            .rev()
            .take(n)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    /// Stats lines of the destination whose redacted URL contains `needle`.
    pub fn stats_of(&self, needle: &str) -> Vec<&serde_json::Value> {
        self.lines
            .iter()
            .map(|(_, v)| v)
            .filter(|v| {
                v.get("state").is_some() && v["dest"].as_str().is_some_and(|d| d.contains(needle))
            })
            .collect()
    }
}

impl Drop for OnairRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Video frames (key flag, pts) of a recording.
pub fn video_frames(file: &Path) -> Vec<(bool, f64)> {
    let v = ffprobe_json(
        file,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "frame=key_frame,pts_time",
        ],
    );
    v["frames"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| (f["key_frame"] == 1, num(&f["pts_time"])))
                .collect()
        })
        .unwrap_or_default()
}

/// The first JSON line of `onair --stats json` output whose `event` is
/// `event` (`check`, `bench`, `recording`…).
pub fn event_line(stdout: &str, event: &str) -> Option<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["event"] == event)
}

// ---------- colour ----------

/// ffmpeg's raw `pix_fmt` picture(s) of `input` (raw inputs need `-f
/// rawvideo -pix_fmt -s` in `input_args`) through `filter`: `bytes` long.
pub fn ffmpeg_raw(
    input_args: &[&str],
    input: &Path,
    filter: &str,
    pix_fmt: &str,
    bytes: usize,
) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(input_args)
        .arg("-i")
        .arg(input)
        .args(["-vf", filter, "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), bytes, "ffmpeg output size");
    out.stdout
}

/// ffmpeg's R'G'B' (24 bit) of `input` through `filter` at `w`x`h`.
pub fn ffmpeg_rgb(input_args: &[&str], input: &Path, filter: &str, w: usize, h: usize) -> Vec<u8> {
    ffmpeg_raw(input_args, input, filter, "rgb24", w * h * 3)
}

/// The mean R'G'B' of the 8x8 block at (`x`, `y`) of an RGB24 picture.
pub fn mean_rgb(rgb: &[u8], w: usize, x: usize, y: usize) -> [f64; 3] {
    let mut acc = [0.0; 3];
    for yy in y..y + 8 {
        for xx in x..x + 8 {
            for (c, a) in acc.iter_mut().enumerate() {
                *a += f64::from(rgb[(yy * w + xx) * 3 + c]);
            }
        }
    }
    acc.map(|a| a / 64.0)
}

/// The mean R'G'B' of the same block of our I420 picture read in `colour`.
pub fn mean_rgb_of(
    f: &onair_media::I420Frame,
    colour: onair_media::Colour,
    x: usize,
    y: usize,
) -> [f64; 3] {
    let mut acc = [0.0; 3];
    for yy in y..y + 8 {
        for xx in x..x + 8 {
            let c = (yy / 2) * (f.width / 2) + xx / 2;
            let (r, g, b) = colour.to_rgb(f.y[yy * f.width + xx], f.u[c], f.v[c]);
            acc[0] += r;
            acc[1] += g;
            acc[2] += b;
        }
    }
    acc.map(|a| a / 64.0)
}

/// Every flat 16x16 area of `reference` (R'G'B', `w`x`h`; a grid every
/// 40 px; no channel spans more than 3 there, so no edge where two scalers
/// may differ): `ours(x, y)`, the mean R'G'B' of our 8x8 block there,
/// agrees within 3/255. At least 50 such areas.
fn assert_flat_areas_agree(
    what: &str,
    reference: &[u8],
    w: usize,
    h: usize,
    ours: impl Fn(usize, usize) -> [f64; 3],
) {
    let flat = |x: usize, y: usize| {
        (0..3).all(|c| {
            let v: Vec<u8> = (y..y + 16)
                .flat_map(|yy| (x..x + 16).map(move |xx| (yy, xx)))
                .map(|(yy, xx)| reference[(yy * w + xx) * 3 + c])
                .collect();
            v.iter().max().unwrap() - v.iter().min().unwrap() <= 3
        })
    };
    let (mut checked, mut worst) = (0, 0.0f64);
    for y in (0..h - 16).step_by(40) {
        for x in (0..w - 16).step_by(40) {
            if !flat(x, y) {
                continue;
            }
            let want = mean_rgb(reference, w, x + 4, y + 4);
            let got = ours(x + 4, y + 4);
            for c in 0..3 {
                let e = (want[c] - got[c]).abs();
                worst = worst.max(e);
                assert!(e <= 3.0, "{what} at {x},{y}: want {want:?}, got {got:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "{what}: only {checked} flat areas");
    eprintln!("{what}: {checked} flat areas within {worst:.2}/255");
}

/// Our I420 picture, read as BT.709 (an HD stream), against an R'G'B'
/// reference of the same size ([`assert_flat_areas_agree`]).
pub fn assert_flat_areas_keep_their_colours(
    what: &str,
    ours: &onair_media::I420Frame,
    reference: &[u8],
) {
    use onair_media::Colour;
    assert_eq!(Colour::for_height(ours.height), Colour::BT709);
    assert_flat_areas_agree(what, reference, ours.width, ours.height, |x, y| {
        mean_rgb_of(ours, Colour::BT709, x, y)
    });
}

/// An R'G'B' picture against an R'G'B' reference ([`assert_flat_areas_agree`]).
pub fn assert_flat_rgb_areas_agree(what: &str, ours: &[u8], reference: &[u8], w: usize, h: usize) {
    assert_flat_areas_agree(what, reference, w, h, |x, y| mean_rgb(ours, w, x, y));
}

/// Peak signal-to-noise ratio of two 8-bit pictures of the same size, dB
/// (infinite when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}
