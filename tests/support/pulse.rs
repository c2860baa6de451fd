//! A real PulseAudio daemon with a virtual microphone, private to one test:
//! its own runtime folder and socket, a null sink `v` whose monitor is the
//! default source, and a null sink `d`, the default output (what desktop
//! audio captures through its monitor). Whatever is played into `v` (with `pacat`, which plays in
//! real time) is what a program reading the default microphone hears —
//! through cpal's ALSA host and the ALSA `pulse` plugin, as on a desktop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon.
pub struct PulseAudio {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
    players: Vec<Child>,
}

const CONFIG: &str = "load-module module-native-protocol-unix
load-module module-null-sink sink_name=v
load-module module-null-sink sink_name=d
load-module module-always-sink
set-default-source v.monitor
set-default-sink d
";

impl PulseAudio {
    /// Starts a daemon and waits until it answers.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("onair-pulse-")
            .tempdir()
            .expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .expect("chmod 700");
        }
        std::fs::write(dir.path().join("v.pa"), CONFIG).expect("write v.pa");
        let mut p = Self {
            dir,
            daemon: None,
            players: Vec::new(),
        };
        p.launch();
        p
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log file");
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--log-target=stderr",
                "-F",
            ])
            .arg(self.dir.path().join("v.pa"))
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pulseaudio must be installed (./quickstart.sh test installs it)");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = Command::new("pactl")
                .arg("info")
                .envs(self.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(Child::try_wait) {
                panic!("pulseaudio exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "pulseaudio did not answer: {}",
                self.log()
            );
            // pactl itself takes a few ms; the daemon needs ~100 ms to start.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn runtime(&self) -> &Path {
        self.dir.path()
    }

    /// Environment for a client of this daemon (and only this one).
    pub fn env(&self) -> Vec<(String, String)> {
        let rt = self.runtime().display().to_string();
        vec![
            ("XDG_RUNTIME_DIR".into(), rt.clone()),
            ("HOME".into(), rt.clone()),
            ("PULSE_SERVER".into(), format!("unix:{rt}/pulse/native")),
        ]
    }

    /// Plays a sox synth spec (e.g. `["sine", "750"]`) at `gain_db` into the
    /// virtual microphone for `seconds`, in real time, mono 48 kHz.
    pub fn play(&mut self, seconds: u32, gain_db: f32, synth: &[&str]) {
        self.play_into("v", seconds, gain_db, synth);
    }

    /// As [`play`](Self::play), into sink `sink` (`v`: the microphone,
    /// `d`: the default output, what desktop audio hears).
    pub fn play_into(&mut self, sink: &str, seconds: u32, gain_db: f32, synth: &[&str]) {
        let mut sox = Command::new("sox")
            .args([
                "-q", "-n", "-t", "raw", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-",
            ])
            .args(["synth", &seconds.to_string()])
            .args(synth)
            .args(["gain", &gain_db.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sox must be installed");
        let pcm = sox.stdout.take().expect("sox stdout");
        let pacat = self
            .pacat(sink)
            .stdin(pcm)
            .spawn()
            .expect("pacat must be installed");
        self.players.push(sox);
        self.players.push(pacat);
    }

    /// A real-time player of mono 48 kHz s16 PCM on its stdin into `sink`.
    fn pacat(&self, sink: &str) -> Command {
        let mut c = Command::new("pacat");
        c.args([
            "--playback",
            "-d",
            sink,
            "--rate",
            "48000",
            "--channels",
            "1",
        ])
        .args(["--format", "s16le"])
        // A generous buffer: on a busy machine a player with a short
        // one underruns, and the gap would be the test's, not ours.
        .args(["--latency-msec", "100"])
        .envs(self.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    /// Plays mono 48 kHz samples into `sink`, in real time.
    pub fn play_samples(&mut self, sink: &str, samples: Vec<i16>) {
        let mut pacat = self
            .pacat(sink)
            .stdin(Stdio::piped())
            .spawn()
            .expect("pacat must be installed");
        let mut stdin = pacat.stdin.take().expect("pacat stdin");
        std::thread::spawn(move || {
            use std::io::Write;
            let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let _ = stdin.write_all(&bytes);
        });
        self.players.push(pacat);
    }

    /// Stops the daemon, as a desktop's sound server going away does.
    pub fn kill(&mut self) {
        for mut c in self.players.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// Starts it again (same socket) after [`kill`](Self::kill).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.runtime().join("pulse"));
        self.launch();
    }

    /// The runtime folder.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for PulseAudio {
    fn drop(&mut self) {
        self.kill();
    }
}
