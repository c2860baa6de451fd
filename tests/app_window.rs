//! The real app window, driven through tauri-driver + WebKitWebDriver under
//! Xvfb, with a real Secret Service for the keys, streaming to two real
//! nginx-rtmp servers. Set `ONAIR_SCREENSHOTS=dir` to keep screenshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use onair_tests::webdriver::{App, Session, TauriDriver, Xvfb};
use onair_tests::{binary, decode_errors, Nginx, GOOD_KEY};

/// One app window at a time: two WebKit pages and two live encodes on a
/// 2-core machine starve each other into WebDriver timeouts.
static ONE_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_window() -> std::sync::MutexGuard<'static, ()> {
    ONE_WINDOW.lock().unwrap_or_else(|e| e.into_inner())
}

/// Grabs the X display (the whole 1280x900 screen with the window on it)
/// into `$ONAIR_SCREENSHOTS/name` with ffmpeg's x11grab.
fn screenshot(app: &App, name: &str) {
    let Ok(dir) = std::env::var("ONAIR_SCREENSHOTS") else {
        return;
    };
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "x11grab",
            "-video_size",
            "1280x900",
            "-i",
        ])
        .arg(&app.xvfb.display)
        .args(["-frames:v", "1"])
        .arg(Path::new(&dir).join(name))
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_custom(s: &Session, name: &str, url: &str, key: &str) {
    add_custom_on(s, name, url, key, "main");
}

/// Adds a Custom destination that gets encoding `encoding`.
fn add_custom_on(s: &Session, name: &str, url: &str, key: &str, encoding: &str) {
    s.click("#tab-destinations");
    s.click("#new-profile");
    s.click("#platform option[value=custom]");
    s.type_into("#profile-name", name);
    s.type_into("#server-url", url);
    s.type_into("#stream-key", key);
    s.click(&format!("#profile-encoding option[value={encoding}]"));
    s.click("#save-profile");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| s
            .text("#profile-message")
            .starts_with("Saved")),
        "save failed: {}",
        s.text("#profile-error")
    );
}

/// Saves the Settings form and waits for "Saved".
fn save_settings(s: &Session) {
    s.click("#save-settings");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| s
            .text("#settings-message")
            .starts_with("Saved")),
        "{}",
        s.text("#settings-error")
    );
}

fn card(i: usize, part: &str) -> String {
    format!("#cards .card:nth-child({i}) {part}")
}

/// An element's text whether or not it is scrolled into view.
fn content(s: &Session, css: &str) -> String {
    s.prop(css, "textContent").unwrap_or_default()
}

/// kbps from "612 kbps" or "3.22 Mbps" (0 for "—").
fn kbps(text: &str) -> f64 {
    let (n, unit) = text.split_once(' ').unwrap_or((text, ""));
    let n: f64 = n.parse().unwrap_or(0.0);
    if unit == "Mbps" {
        n * 1000.0
    } else {
        n
    }
}

fn live_with_bitrate(s: &Session, i: usize) -> bool {
    content(s, &card(i, ".card-state")) == "Live" && kbps(&content(s, &card(i, ".f-bitrate"))) > 0.0
}

/// The first card reaches Live with a bitrate within 15 s (else the
/// Studio's error is the failure).
fn assert_first_card_goes_live(s: &Session) {
    assert!(
        s.wait_until(Duration::from_secs(15), |s| live_with_bitrate(s, 1)),
        "{}",
        s.text("#studio-error")
    );
}

fn listed(nginx: &Nginx) -> bool {
    nginx.stat().contains(&format!("<name>{GOOD_KEY}</name>"))
}

#[test]
fn creator_flow_two_destinations_toggle_wrong_key_restart_and_corrupt_file() {
    let _one = one_window();
    let (a, b) = (Nginx::start(), Nginx::start());
    let app = App::start();

    let s = app.open();
    add_custom(
        &s,
        "Server A",
        &format!("rtmp://127.0.0.1:{}/live", a.rtmp_port),
        GOOD_KEY,
    );
    // A key pasted at the end of the URL is moved to the key store.
    s.click("#tab-destinations");
    s.click("#new-profile");
    s.click("#platform option[value=custom]");
    s.type_into("#profile-name", "Server B");
    s.type_into(
        "#server-url",
        &format!("rtmp://127.0.0.1:{}/live/{GOOD_KEY}", b.rtmp_port),
    );
    s.click("#save-profile");
    assert!(s.wait_until(Duration::from_secs(5), |s| s
        .text("#profile-message")
        .contains("moved")));
    assert_eq!(
        s.prop("#server-url", "value"),
        Some(format!("rtmp://127.0.0.1:{}/live", b.rtmp_port))
    );
    assert_eq!(s.count("#profile-list li"), 2);
    assert!(content(&s, "#profile-list").matches("key set").count() == 2);
    screenshot(&app, "destinations.png");
    let file = std::fs::read_to_string(app.profiles_file()).unwrap();
    assert!(!file.contains(GOOD_KEY), "no key in the profiles file");

    // Go Live: both cards reach Live with bitrate, both servers record (the
    // stream check, on by default, is the third card).
    s.click("#tab-studio");
    s.click("#go-live");
    let both = s.wait_until(Duration::from_secs(15), |s| {
        live_with_bitrate(s, 1) && live_with_bitrate(s, 2)
    });
    assert!(
        both,
        "cards: {:?} {:?} / {:?} {:?} {}",
        content(&s, &card(1, ".card-state")),
        content(&s, &card(1, ".f-bitrate")),
        content(&s, &card(2, ".card-state")),
        content(&s, &card(2, ".f-bitrate")),
        s.text("#studio-error")
    );
    assert!(listed(&a) && listed(&b));
    assert_eq!(s.text("#go-live"), "End Stream");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| s
            .attr("#preview-idle", "hidden")
            .is_some()),
        "preview frames arrive"
    );
    if std::env::var_os("ONAIR_SCREENSHOTS").is_some() {
        std::thread::sleep(Duration::from_secs(5)); // let the graphs fill
        screenshot(&app, "studio-live.png");
    }

    // One destination off: it leaves its server, the other stays live.
    s.click(&card(2, ".card-toggle"));
    assert!(
        s.wait_until(Duration::from_secs(5), |_| !listed(&b)),
        "B still listed"
    );
    assert!(s.wait_until(Duration::from_secs(3), |s| content(
        s,
        &card(2, ".card-state")
    ) == "Off"));
    assert!(listed(&a) && live_with_bitrate(&s, 1));

    // End Stream: both gone, recordings decode.
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(5), |_| !listed(&a)));
    assert!(s.wait_until(Duration::from_secs(5), |s| s.text("#go-live") == "Go Live"));
    for n in [&a, &b] {
        let rec = n.recording(GOOD_KEY);
        assert!(rec.exists());
        assert_eq!(decode_errors(&rec), "");
    }

    // A wrong key: that card fails with "stream key rejected", the other is live.
    s.click("#tab-destinations");
    s.click("#profile-list li:nth-child(2) button");
    s.type_into("#stream-key", "wrong_key_123");
    s.click("#save-profile");
    assert!(s.wait_until(Duration::from_secs(5), |s| s
        .text("#profile-message")
        .starts_with("Saved")));
    s.click("#tab-studio");
    s.click("#go-live");
    let told = s.wait_until(Duration::from_secs(15), |s| {
        content(s, &card(2, ".card-state")) == "Failed" && live_with_bitrate(s, 1)
    });
    assert!(
        told,
        "card 2: {:?} {:?}",
        content(&s, &card(2, ".card-state")),
        content(&s, &card(2, ".card-detail"))
    );
    assert_eq!(content(&s, &card(2, ".card-detail")), "stream key rejected");
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(5), |_| !listed(&a)));
    drop(s);

    // Restart: profiles and keys are still there.
    let s = app.open();
    assert_eq!(s.count("#profile-list li"), 2);
    assert_eq!(content(&s, "#profile-list").matches("key set").count(), 2);
    assert_eq!(
        s.attr("#tab-studio", "aria-selected").as_deref(),
        Some("true")
    );
    drop(s);

    // A corrupted file loads from the backup, and the user is told.
    std::fs::write(
        app.profiles_file(),
        b"{\"version\": 1, \"profiles\": [ garbage",
    )
    .unwrap();
    let s = app.open();
    assert!(
        s.wait_until(Duration::from_secs(5), |s| s
            .text("#notice-text")
            .contains("damaged")),
        "notice: {:?}",
        s.text("#notice-text")
    );
    assert_eq!(s.count("#profile-list li"), 2, "the backup's destinations");
}

#[test]
fn a_vertical_encoding_from_the_settings_reaches_its_destination_and_its_crop_moves() {
    let _one = one_window();
    let nginx = Nginx::start();
    let app = App::start();
    let s = app.open();

    // Settings: add the ready-made vertical encoding, save.
    s.click("#tab-settings");
    s.click("#encoding-preset option[value=vertical]");
    assert_eq!(
        s.prop("#encoding-name", "value").as_deref(),
        Some("vertical")
    );
    assert_eq!(
        s.prop("#encoding-size", "value").as_deref(),
        Some("720x1280")
    );
    s.click("#encoding-save");
    assert_eq!(s.count("#encoding-list li"), 2, "main and vertical");
    // Recordings take the vertical one, into a folder of the test's.
    let videos = tempfile::tempdir().unwrap();
    s.type_into("#record-folder", &videos.path().display().to_string());
    s.click("#record-encoding option[value=vertical]");
    save_settings(&s);

    // A destination that gets it.
    add_custom_on(
        &s,
        "Vertical server",
        &format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port),
        GOOD_KEY,
        "vertical",
    );
    assert!(content(&s, "#profile-list").contains("vertical"));
    let file = json(&app.profiles_file());
    assert_eq!(file["profiles"][0]["encoding"], "vertical");

    // The Studio shows the crop over the preview and the card its encoding.
    s.click("#tab-studio");
    assert_eq!(s.count("#crop-frames .crop-frame"), 1);
    let mine = |part: &str| format!("#cards .card:not([data-id=check]) {part}");
    assert_eq!(content(&s, &mine(".card-encoding")), "vertical");
    assert_eq!(
        content(&s, "#cards .card[data-id=check] .card-encoding"),
        "main"
    );
    s.click("#go-live");
    assert!(
        s.wait_until(Duration::from_secs(15), |s| {
            content(s, &mine(".card-state")) == "Live"
                && kbps(&content(s, &mine(".f-bitrate"))) > 0.0
        }),
        "{} {}",
        content(&s, &mine(".card-state")),
        s.text("#studio-error")
    );
    assert_eq!(content(&s, &mine(".card-encoding")), "vertical");
    screenshot(&app, "studio-vertical.png");
    // A recording while live takes the encoding chosen in Settings.
    s.click("#record");
    assert!(s.wait_until(Duration::from_secs(10), |s| s
        .text("#rec-status")
        .starts_with("● REC")));
    std::thread::sleep(Duration::from_secs(2)); // a couple of fragments
    s.click("#record");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| s
            .text("#rec-status")
            .starts_with("Saved")),
        "{}",
        s.text("#rec-status")
    );
    let mp4s = files_in(videos.path(), "mp4");
    assert_eq!(mp4s.len(), 1);
    let v = onair_tests::ffprobe_json(&mp4s[0], &["-show_streams", "-select_streams", "v"]);
    assert_eq!(
        (
            v["streams"][0]["width"].as_u64(),
            v["streams"][0]["height"].as_u64()
        ),
        (Some(720), Some(1280)),
        "the recording is the vertical encoding"
    );
    // Move the crop to the right edge while live: remembered.
    s.send_keys("#crop-controls input[data-name=vertical]", "\u{E010}");
    assert!(
        s.wait_until(Duration::from_secs(5), |_| {
            json(&app.profiles_file())["settings"]["encodings"][0]["crop_x"] == 1.0
        }),
        "crop saved: {}",
        json(&app.profiles_file())["settings"]
    );
    std::thread::sleep(Duration::from_secs(2)); // pictures after the move
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(10), |s| s.text("#go-live") == "Go Live"));

    // What nginx received is the vertical encoding.
    let rec = nginx.recording(GOOD_KEY);
    let info = onair_tests::ffprobe_json(&rec, &["-show_streams"]);
    let v = info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .cloned()
        .expect("video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(720), Some(1280))
    );
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p: &PathBuf| p.extension().is_some_and(|e| e == ext));
    v.sort();
    v
}

/// Seconds of a "● REC 0:04 · 1.2 MB → path" status (0 for any other
/// text, such as the previous take's "Saved 0:04 …").
fn rec_seconds(status: &str) -> u64 {
    if !status.starts_with("● REC") {
        return 0;
    }
    status
        .split_whitespace()
        .find(|w| w.contains(':'))
        .and_then(|t| t.split_once(':'))
        .and_then(|(m, s)| Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?))
        .unwrap_or(0)
}

#[test]
fn first_launch_goes_live_to_the_stream_check_with_no_setup_and_records_live_or_not() {
    let _one = one_window();
    let app = App::start();
    let videos = tempfile::tempdir().unwrap();

    // First launch, nothing set up: the Studio, with the stream check as
    // the one destination.
    let s = app.open();
    assert_eq!(
        s.attr("#tab-studio", "aria-selected").as_deref(),
        Some("true")
    );
    assert_eq!(s.count("#cards .card"), 1);
    assert_eq!(content(&s, &card(1, ".card-name")), "Stream check");
    assert!(
        s.attr("#no-destinations", "hidden").is_none(),
        "the hint is shown"
    );

    // Recordings go to a folder chosen in Settings.
    s.click("#tab-settings");
    s.type_into("#record-folder", &videos.path().display().to_string());
    save_settings(&s);
    s.click("#tab-studio");

    // Go Live works with no account: the check receives and reports.
    s.click("#go-live");
    assert!(
        s.wait_until(Duration::from_secs(15), |s| live_with_bitrate(s, 1)),
        "check card: {:?} {}",
        content(&s, &card(1, ".card-state")),
        s.text("#studio-error")
    );
    let fact = |s: &Session, k: &str| content(s, &format!("#check-facts dd[data-fact='{k}']"));
    assert!(
        s.wait_until(Duration::from_secs(10), |s| fact(s, "Keyframes")
            .starts_with("every 2.00 s")),
        "facts: {}",
        content(&s, "#check-facts")
    );
    assert!(s.attr("#check-panel", "hidden").is_none());
    assert!(
        fact(&s, "Video").starts_with("H.264 Constrained Baseline, level"),
        "{}",
        fact(&s, "Video")
    );
    assert_eq!(fact(&s, "Resolution"), "1280 × 720");
    let fps: f64 = fact(&s, "Frame rate")
        .trim_end_matches(" fps")
        .parse()
        .unwrap();
    assert!((fps - 30.0).abs() < 0.2, "{fps}");
    assert!(
        fact(&s, "Audio").starts_with("AAC AAC-LC, 48.0 kHz, stereo"),
        "{}",
        fact(&s, "Audio")
    );
    assert_eq!(fact(&s, "Timestamp gaps"), "none");
    // No destination saved: judged against every platform preset; the
    // defaults pass them all.
    assert!(s.count("#check-verdicts li") >= 4);
    assert_eq!(
        s.count("#check-verdicts .verdict[data-pass='false']"),
        0,
        "{}",
        content(&s, "#check-verdicts")
    );
    assert!(content(&s, "#check-verdicts").contains("Twitch"));

    // The report can be saved.
    s.click("#save-report");
    assert!(s.wait_until(Duration::from_secs(5), |s| s
        .text("#check-saved")
        .starts_with("Saved to")));
    let reports = files_in(videos.path(), "json");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = json(&reports[0]);
    assert_eq!(r["video"]["width"], 1280);
    assert_eq!(r["audio"]["codec"], "AAC");
    assert!(r["verdicts"].as_array().unwrap().len() >= 4);

    // Record while live: from the same encode.
    s.click("#record");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| rec_seconds(
            &s.text("#rec-status")
        ) >= 3),
        "rec status: {}",
        s.text("#rec-status")
    );
    screenshot(&app, "studio-check.png");
    s.click("#record");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| s
            .text("#rec-status")
            .starts_with("Saved")),
        "{}",
        s.text("#rec-status")
    );
    assert_eq!(s.text("#go-live"), "End Stream", "the stream goes on");
    assert!(live_with_bitrate(&s, 1));
    let mp4s = files_in(videos.path(), "mp4");
    assert_eq!(mp4s.len(), 1);
    assert!(mp4s[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("OnAir "));
    assert_eq!(decode_errors(&mp4s[0]), "");
    let d = onair_tests::num(
        &onair_tests::ffprobe_json(&mp4s[0], &["-show_entries", "format=duration"])["format"]
            ["duration"],
    );
    assert!(d >= 2.0, "{d} s recorded");

    // End Stream: the check says it ended.
    s.click("#go-live");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| content(s, "#check-state")
            .starts_with("Ended")),
        "{}",
        content(&s, "#check-state")
    );
    assert!(s.wait_until(Duration::from_secs(5), |s| s.text("#go-live") == "Go Live"));

    // Record while not live: the sources start just for the recording.
    s.click("#record");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| rec_seconds(
            &s.text("#rec-status")
        ) >= 2),
        "rec status: {} {}",
        s.text("#rec-status"),
        s.text("#studio-error")
    );
    assert!(
        s.attr("#preview-idle", "hidden").is_some(),
        "the preview runs while recording"
    );
    assert_eq!(s.text("#go-live"), "Go Live");
    s.click("#record");
    assert!(s.wait_until(Duration::from_secs(10), |s| s
        .text("#rec-status")
        .starts_with("Saved")));
    let mp4s = files_in(videos.path(), "mp4");
    assert_eq!(mp4s.len(), 2, "{mp4s:?}");
    for f in &mp4s {
        assert_eq!(decode_errors(f), "", "{}", f.display());
    }
}

/// The whole app's cost (onair-app plus its WebKit processes: CPU from
/// /proc/*/stat, PSS from /proc/*/smaps_rollup) live at 720p30 to three
/// destinations, against the headless `onair` doing the same job. A
/// measurement, not a pass/fail test (timings belong to benchmarks): run
/// with `cargo test --release --test app_window -- --ignored --nocapture`
/// (`ONAIR_MEASURE_MINUTES`, default 10; `ONAIR_MEASURE_MINIMISED=1` with
/// the window minimised).
#[test]
#[ignore = "takes twice ten minutes; prints the figures for the notes"]
fn app_against_headless_live_to_three_destinations() {
    let _one = one_window();
    let minutes = std::env::var("ONAIR_MEASURE_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10u64);
    let servers = [Nginx::start(), Nginx::start(), Nginx::start()];
    let app = App::start();
    let s = app.open();
    for (i, n) in servers.iter().enumerate() {
        add_custom(
            &s,
            &format!("Server {i}"),
            &format!("rtmp://127.0.0.1:{}/live", n.rtmp_port),
            GOOD_KEY,
        );
    }
    // The same job as the headless one: three destinations, no check.
    s.click("#tab-settings");
    s.click("#stream-check");
    save_settings(&s);
    // Measured as a creator runs it: launched directly (the WebDriver
    // harness switches WebKit's compositing off), live by its shortcut.
    drop(s);
    let display = app.xvfb.display.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while x_window(&display).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut child = std::process::Command::new(binary("onair-app"))
        .env("DISPLAY", &display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CONFIG_HOME", app.config.path())
        .envs(app.keyring.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("onair-app");
    let live = |servers: &[Nginx]| servers.iter().all(listed);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !live(&servers) {
        assert!(std::time::Instant::now() < deadline, "not live");
        if x_window(&display).is_some() {
            press(&display, "ctrl+alt+shift+l");
            let wait = std::time::Instant::now() + Duration::from_secs(10);
            while !live(&servers) && std::time::Instant::now() < wait {
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // `ONAIR_MEASURE_MINIMISED=1`: the creator streams with OnAir minimised.
    if std::env::var_os("ONAIR_MEASURE_MINIMISED").is_some() {
        minimise(&display);
    }
    std::thread::sleep(Duration::from_secs(10));
    let start = (std::time::Instant::now(), app_cpu_ticks());
    for m in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        let (pss, rss, procs) = app_memory_kib();
        eprintln!(
            "app after {m} min: PSS {} MiB, RSS {} MiB over {procs:?}",
            pss / 1024,
            rss / 1024
        );
    }
    let end = (std::time::Instant::now(), app_cpu_ticks());
    let secs = (end.0 - start.0).as_secs_f64();
    let mut app_total = 0.0;
    for (name, t) in &end.1 {
        let used = (t - start.1.get(name).copied().unwrap_or(0)) as f64 / 100.0 / secs;
        app_total += used;
        eprintln!("app CPU {name}: {used:.3} CPU-s/s");
    }
    eprintln!("app CPU total: {app_total:.3} CPU-s/s");
    assert!(live(&servers), "still live on all three");
    let _ = child.kill();
    let _ = child.wait();
    drop(app);

    // Headless, the same encode to the same three servers.
    let mut args: Vec<String> = [
        "--size",
        "1280x720",
        "--fps",
        "30",
        "--video-bitrate",
        "3000",
        "--audio-bitrate",
        "160",
    ]
    .map(String::from)
    .to_vec();
    args.extend(
        servers
            .iter()
            .map(|n| format!("rtmp://127.0.0.1:{}/live/{GOOD_KEY}-h", n.rtmp_port)),
    );
    let mut run = onair_tests::OnairRun::stream(&args);
    std::thread::sleep(Duration::from_secs(10));
    let pss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let (t0, c0) = (std::time::Instant::now(), cpu_ticks(run.pid()));
    for m in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("headless after {m} min: PSS {} MiB", pss(run.pid()) / 1024);
    }
    let headless = (cpu_ticks(run.pid()) - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64();
    eprintln!(
        "headless CPU: {headless:.3} CPU-s/s; app / headless = {:.2}",
        app_total / headless
    );
    run.terminate();
}

/// A process's CPU ticks so far (user + system, 1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|r| r.1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// CPU ticks (user + system, 1/100 s) of onair-app and each WebKit
/// process, by name.
fn app_cpu_ticks() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(comm) = std::fs::read_to_string(p.join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_string();
        if !(comm == "onair-app" || comm.starts_with("WebKit")) || comm == "WebKitWebDriver" {
            continue;
        }
        let pid = e.file_name().to_string_lossy().parse().unwrap_or(0);
        *out.entry(comm).or_insert(0) += cpu_ticks(pid);
    }
    out
}

/// (PSS KiB, RSS KiB, names) of onair-app and the WebKit processes.
fn app_memory_kib() -> (u64, u64, Vec<String>) {
    let (mut pss, mut rss, mut names) = (0, 0, Vec::new());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(comm) = std::fs::read_to_string(p.join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_string();
        if !(comm == "onair-app" || comm.starts_with("WebKit")) || comm == "WebKitWebDriver" {
            continue;
        }
        let Ok(roll) = std::fs::read_to_string(p.join("smaps_rollup")) else {
            continue;
        };
        let mut own = 0;
        for line in roll.lines() {
            let mut it = line.split_whitespace();
            match (it.next(), it.next().and_then(|v| v.parse::<u64>().ok())) {
                (Some("Pss:"), Some(v)) => own += v,
                (Some("Rss:"), Some(v)) => rss += v,
                _ => {}
            }
        }
        pss += own;
        names.push(format!("{comm} {} MiB", own / 1024));
    }
    (pss, rss, names)
}

#[test]
fn without_a_keyring_the_app_says_so_and_keeps_no_key() {
    let _one = one_window();
    let nginx = Nginx::start();
    let config = tempfile::tempdir().unwrap();
    let xvfb = Xvfb::start();
    let env = vec![
        (
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            format!("unix:path={}/nobody-listens", config.path().display()),
        ),
        (
            "XDG_CONFIG_HOME".to_string(),
            config.path().display().to_string(),
        ),
    ];
    let driver = TauriDriver::start_with_env(&xvfb.display, &env);
    let s = Session::new(&driver, &binary("onair-app"));
    assert!(s.wait_until(Duration::from_secs(20), |s| {
        content(s, "#keystore-problem").contains("no credential store")
    }));
    assert_eq!(
        s.attr("#keystore-problem", "hidden"),
        None,
        "the banner shows"
    );
    s.click("#tab-destinations");
    s.click("#platform option[value=custom]");
    s.type_into("#profile-name", "No keyring");
    s.type_into(
        "#server-url",
        &format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port),
    );
    s.type_into("#stream-key", GOOD_KEY);
    s.click("#save-profile");
    assert!(s.wait_until(Duration::from_secs(5), |s| {
        content(s, "#profile-error").contains("never saved in plain text")
    }));
    // Nothing was saved: not the profile, and never the key.
    assert_eq!(s.count("#profile-list li"), 0);
    let file = config.path().join("app.onair.studio/profiles.json");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(!text.contains(GOOD_KEY));
}

#[test]
fn the_mixer_meters_the_sound_and_its_voice_switch_and_mutes_act_live_and_are_remembered() {
    let _one = one_window();
    let app = App::start();
    let s = app.open();
    // The saved mix (null until the first save).
    let mix = |app: &App| {
        std::fs::read(app.profiles_file())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(serde_json::Value::Null, |v| {
                v["settings"]["audio_mix"].clone()
            })
    };
    let strip = "#strips .strip[data-source=mic]";
    // Before going live: the test tone's strip, at rest.
    assert!(s.wait_until(Duration::from_secs(5), |s| s.count(strip) == 1));
    assert_eq!(content(&s, &format!("{strip} .strip-name")), "Test tone");
    // "Voice" from the keyboard: one switch turns every filter on, saved.
    s.send_keys(&format!("{strip} .voice"), " ");
    assert!(
        s.wait_until(Duration::from_secs(5), |_| {
            let f = &mix(&app)["mic"]["filters"];
            f["denoise"] == true
                && f["gate"] == true
                && f["compressor"] == true
                && f["limiter"] == true
        }),
        "{}",
        mix(&app)
    );

    s.click("#go-live");
    // The meters show the tone before and after the filters, and the gate
    // is open for it.
    assert!(
        s.wait_until(Duration::from_secs(15), |s| level(
            s,
            &format!("{strip} .meter.pre")
        ) > -30.0
            && level(s, &format!("{strip} .meter.post")) > -30.0
            && level(s, "#meter") > -30.0),
        "pre {} post {} mix {} ({})",
        level(&s, &format!("{strip} .meter.pre")),
        level(&s, &format!("{strip} .meter.post")),
        level(&s, "#meter"),
        s.text("#studio-error")
    );
    assert_eq!(content(&s, &format!("{strip} .gate-state")), "gate open");
    // The meters come with each preview period (15 a second): at least 12
    // a second reach the window.
    let count = |s: &Session| counter(s, "#strips", "updates");
    let (n0, t0) = (count(&s), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let rate = (count(&s) - n0) as f64 / t0.elapsed().as_secs_f64();
    assert!(rate >= 12.0, "{rate:.1} meter updates a second");
    screenshot(&app, "mixer-live.png");

    // Mute all from the keyboard: what is encoded goes silent at once, the
    // source's own meter still shows it; remembered.
    s.send_keys("#mute-all", "\u{E007}");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") <= -60.0
            && content(s, "#meter-db") == "—"),
        "mix {}",
        level(&s, "#meter")
    );
    assert_eq!(s.attr("#mute-all", "aria-pressed").as_deref(), Some("true"));
    assert!(level(&s, &format!("{strip} .meter.pre")) > -30.0);
    assert_eq!(mix(&app)["muted"], true);
    s.click("#mute-all");
    assert!(s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") > -30.0));
    // The strip's own mute does the same for its source.
    s.click(&format!("{strip} .mute"));
    assert!(s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") <= -60.0));
    assert_eq!(mix(&app)["mic"]["muted"], true);
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(10), |s| s.text("#go-live") == "Go Live"));
}

/// A count the page keeps on an element for the tests (0 before any).
fn counter(s: &Session, css: &str, prop: &str) -> u64 {
    s.prop(css, prop)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Preview pictures the page has drawn.
fn drawn(s: &Session) -> u64 {
    counter(s, "#preview", "frames")
}

/// Preview pictures the page has received.
fn received(s: &Session) -> u64 {
    counter(s, "#preview", "received")
}

/// Unmaps the app's window as a window manager does to minimise it;
/// returns the window.
fn minimise(display: &str) -> u32 {
    let (window, _) = x_window(display).expect("the window");
    xdotool(display, &["windowunmap", &window.to_string()]);
    window
}

/// A meter's level (dBFS; -60 at rest).
fn level(s: &Session, css: &str) -> f64 {
    s.attr(css, "aria-valuenow")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-60.0)
}

#[test]
fn the_picture_and_the_sound_are_previewed_before_going_live_and_after_and_a_new_source_at_once() {
    let _one = one_window();
    let app = App::start();
    let s = app.open();
    // Off air, nothing pressed: the test pattern is drawn and the tone
    // moves the meter.
    assert_eq!(s.text("#go-live"), "Go Live");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| drawn(s) >= 10),
        "no preview before going live: {} ({})",
        drawn(&s),
        s.text("#studio-error")
    );
    assert!(s.attr("#preview-idle", "hidden").is_some());
    assert!(
        s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") > -30.0),
        "no level before going live: {}",
        level(&s, "#meter")
    );
    assert_eq!(content(&s, "#on-air"), "Off air");
    screenshot(&app, "preview-off-air.png");

    // Another audio source is heard (here: not) at once, off air.
    s.click("#audio-source option[value=none]");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") <= -60.0),
        "still a level with no audio source: {}",
        level(&s, "#meter")
    );
    s.click("#audio-source option[value=tone]");
    assert!(s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") > -30.0));
    assert_eq!(s.text("#studio-error"), "");

    // Go Live and End Stream: the preview and the meter go on throughout.
    s.click("#go-live");
    assert_first_card_goes_live(&s);
    let before = drawn(&s);
    assert!(s.wait_until(Duration::from_secs(5), |s| drawn(s) >= before + 10));
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(10), |s| s.text("#go-live") == "Go Live"));
    let ended = drawn(&s);
    assert!(
        s.wait_until(Duration::from_secs(5), |s| drawn(s) >= ended + 10),
        "the preview stopped with the stream"
    );
    assert!(s.attr("#preview-idle", "hidden").is_some());
    assert!(s.wait_until(Duration::from_secs(5), |s| level(s, "#meter") > -30.0));

    // Minimised (unmapped, as a window manager iconifies it), the page is
    // hidden and is sent no pictures; restored, they come again.
    let display = app.xvfb.display.clone();
    let hidden = |s: &Session| s.script("return document.hidden") == serde_json::json!(true);
    let window = minimise(&display);
    assert!(
        s.wait_until(Duration::from_secs(5), hidden),
        "the page does not know it is minimised"
    );
    // What was on its way when the page went hidden arrives; then nothing.
    std::thread::sleep(Duration::from_millis(300));
    let at = received(&s);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received(&s), at, "pictures were sent to a minimised window");
    xdotool(&display, &["windowmap", &window.to_string()]);
    assert!(
        s.wait_until(Duration::from_secs(5), |s| received(s) >= at + 10),
        "the preview did not come back"
    );
    assert!(!hidden(&s));
}

#[test]
fn ten_destinations_lay_out_whole_and_only_errors_are_red() {
    let _one = one_window();
    let app = App::start();
    // Ten saved destinations (as the app writes them), none with a key yet
    // but one, so their cards say so.
    let names = [
        "Twitch",
        "YouTube",
        "Kick",
        "Facebook",
        "TikTok LIVE",
        "Instagram Live",
        "LinkedIn Live",
        "Backup nginx",
        "My very long destination name that goes on",
        "X",
    ];
    let profiles: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({
                "id": format!("p{i}"),
                "name": name,
                "platform": "custom",
                "server_url": "rtmp://127.0.0.1:1935/live",
                "enabled": true,
                "encoding": "",
            })
        })
        .collect();
    let file = app.profiles_file();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({"version": 1, "profiles": profiles})).unwrap(),
    )
    .unwrap();
    let s = app.open();
    assert!(s.wait_until(Duration::from_secs(10), |s| s.count("#cards .card") == 11));
    // Every card's name, encoding and figures fit (nothing cut but a long
    // name, which ends in an ellipsis on purpose).
    for i in 1..=11 {
        for part in [
            ".card-encoding",
            ".card-state",
            ".f-bitrate",
            ".f-latency",
            ".f-uptime",
        ] {
            let css = card(i, part);
            let scroll: f64 = s
                .prop(&css, "scrollWidth")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            let client: f64 = s
                .prop(&css, "clientWidth")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            assert!(
                scroll <= client + 1.0,
                "card {i} {part}: {scroll} > {client}"
            );
        }
    }
    // A missing key is an error (red); the stream check's help is not.
    let colour = |s: &Session, i: usize| {
        s.attr(&card(i, ".card-detail"), "data-tone")
            .unwrap_or_default()
    };
    assert_eq!(content(&s, &card(1, ".card-detail")), "No stream key set");
    assert_eq!(colour(&s, 1), "bad");
    assert_eq!(content(&s, &card(11, ".card-name")), "Stream check");
    assert_eq!(colour(&s, 11), "info");
    // Scrolled to the cards, for the README.
    s.click(&card(10, ".card-name"));
    screenshot(&app, "ten-destinations.png");
}

/// The app's top-level X window and its title (`_NET_WM_NAME`), found on
/// the Xvfb display as a window manager sees it.
fn x_window(display: &str) -> Option<(u32, String)> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt};
    let (conn, screen) = x11rb::connect(Some(display)).ok()?;
    let root = conn.setup().roots[screen].root;
    let utf8 = conn
        .intern_atom(false, b"UTF8_STRING")
        .ok()?
        .reply()
        .ok()?
        .atom;
    let net_name = conn
        .intern_atom(false, b"_NET_WM_NAME")
        .ok()?
        .reply()
        .ok()?
        .atom;
    let tree = conn.query_tree(root).ok()?.reply().ok()?;
    for w in tree.children {
        for (prop, ty) in [
            (net_name, utf8),
            (AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()),
        ] {
            let Some(r) = conn
                .get_property(false, w, prop, ty, 0, 256)
                .ok()
                .and_then(|c| c.reply().ok())
            else {
                continue;
            };
            let name = String::from_utf8_lossy(&r.value).into_owned();
            if name.contains("OnAir") {
                return Some((w, name));
            }
        }
    }
    None
}

/// Asks the window to close as a window manager does (WM_DELETE_WINDOW).
fn close_as_a_window_manager_does(display: &str, window: u32) {
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let protocols = conn
        .intern_atom(false, b"WM_PROTOCOLS")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let delete = conn
        .intern_atom(false, b"WM_DELETE_WINDOW")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event)
        .unwrap();
    // A round trip before the connection closes: the server has handled
    // the event (flushed alone, it may not have when the socket shuts).
    conn.get_input_focus().unwrap().reply().unwrap();
}

#[test]
fn closing_the_window_while_live_asks_first_and_the_title_says_live() {
    let _one = one_window();
    let app = App::start();
    let s = app.open();
    let display = app.xvfb.display.clone();
    s.click("#go-live");
    assert_first_card_goes_live(&s);
    // The title, as the panel and the task switcher show it.
    assert!(
        s.wait_until(Duration::from_secs(5), |_| x_window(&display)
            .is_some_and(|(_, t)| t.starts_with("● LIVE 0:00:"))),
        "{:?}",
        x_window(&display)
    );
    let (window, _) = x_window(&display).unwrap();
    // Closed as a window manager closes it: the app asks, and keeps
    // streaming when told to.
    ask_to_close(&s, &display, window);
    screenshot(&app, "close-while-live.png");
    s.click("#keep-streaming");
    assert!(s.wait_until(Duration::from_secs(5), |s| s
        .attr("#close-dialog", "open")
        .is_none()));
    assert_eq!(content(&s, &card(1, ".card-state")), "Live");
    assert!(x_window(&display).is_some(), "the window is still there");
    // Asked again, "End stream and quit" ends it and the app goes.
    ask_to_close(&s, &display, window);
    s.click("#end-and-quit");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while x_window(&display).is_some() {
        assert!(std::time::Instant::now() < deadline, "the app did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Closes the window as a window manager does and waits for the app to
/// ask. (Twice in CI runs, once on the first request and once on a second,
/// a request went unanswered on the loaded 2-core machine — never when run
/// alone: a click a user would repeat, so this repeats it, once; the window
/// must still be there in between. Not yet explained.)
fn ask_to_close(s: &Session, display: &str, window: u32) {
    let asked = |s: &Session| {
        s.wait_until(Duration::from_secs(5), |s| {
            s.attr("#close-dialog", "open").is_some()
        })
    };
    close_as_a_window_manager_does(display, window);
    if !asked(s) {
        assert!(x_window(display).is_some(), "closed without asking");
        close_as_a_window_manager_does(display, window);
        assert!(asked(s), "no question asked, twice");
    }
}

/// The pid of the app running on `display`, and those of its web content
/// processes (WebKitWebProcess, its children).
fn app_processes(display: &str) -> Option<(u32, Vec<u32>)> {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let comm = |p: u32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    let app = pids.iter().copied().find(|&p| {
        comm(p).trim() == "onair-app"
            && std::fs::read(format!("/proc/{p}/environ"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .any(|v| v == format!("DISPLAY={display}").as_bytes())
    })?;
    let parent = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let web = pids
        .iter()
        .copied()
        .filter(|&p| comm(p).starts_with("WebKitWebProces") && parent(p) == Some(app))
        .collect();
    Some((app, web))
}

/// The label of the app's panel indicator (its StatusNotifierItem on the
/// session bus), read as a panel reads it.
fn indicator_label(bus: &str) -> Option<String> {
    let names = std::process::Command::new("dbus-send")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
        ])
        .output()
        .ok()?;
    let names = String::from_utf8_lossy(&names.stdout).into_owned();
    for name in names
        .lines()
        .filter_map(|l| l.trim().strip_prefix("string \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| n.starts_with(':'))
    {
        let out = std::process::Command::new("dbus-send")
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .args([
                "--session",
                "--print-reply",
                "--reply-timeout=2000",
                &format!("--dest={name}"),
                "/org/ayatana/NotificationItem/tray_icon_tray_app_onair",
                "org.freedesktop.DBus.Properties.Get",
                "string:org.kde.StatusNotifierItem",
                "string:XAyatanaLabel",
            ])
            .output()
            .ok()?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (_, value) = text.split_once("string \"")?;
            return Some(value.trim_end().trim_end_matches('"').to_owned());
        }
    }
    None
}

/// Seconds from a card's uptime ("0:07", "1:02:03").
fn uptime_s(text: &str) -> u64 {
    text.split(':')
        .map(|p| p.trim().parse::<u64>().unwrap_or(0))
        .fold(0, |acc, n| acc * 60 + n)
}

/// How long nginx has had our stream from its publisher (ms), from its
/// statistics (a republish starts again from 0).
fn published_ms(nginx: &Nginx) -> Option<u64> {
    let stat = nginx.stat();
    let at = stat.find(&format!("<name>{GOOD_KEY}</name>"))?;
    let rest = &stat[at..];
    let t = rest.find("<time>")? + "<time>".len();
    rest[t..].split('<').next()?.parse().ok()
}

#[test]
fn the_stream_survives_a_reload_and_a_crash_of_the_web_view_and_the_panel_says_live() {
    let _one = one_window();
    let nginx = Nginx::start();
    let app = App::start();
    let s = app.open();
    let display = app.xvfb.display.clone();
    let bus = app.keyring.env()[0].1.clone();
    add_custom(
        &s,
        "Server",
        &format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port),
        GOOD_KEY,
    );
    assert_eq!(indicator_label(&bus).as_deref(), Some(""), "idle: no label");
    s.click("#tab-studio");
    s.click("#go-live");
    assert_first_card_goes_live(&s);
    // The panel indicator says it, as a panel reads it.
    assert!(
        s.wait_until(Duration::from_secs(5), |_| indicator_label(&bus)
            .is_some_and(|l| l.starts_with("● LIVE 0:00:"))),
        "{:?}",
        indicator_label(&bus)
    );

    // The page loads again (what the app does after its web process
    // crashed): it reattaches to the running stream — End Stream, the
    // card live with its uptime gone on, no reconnect.
    let up_before = uptime_s(&content(&s, &card(1, ".f-uptime")));
    s.refresh();
    assert!(
        s.wait_until(Duration::from_secs(15), |s| {
            content(s, "#go-live") == "End Stream"
                && live_with_bitrate(s, 1)
                && uptime_s(&content(s, &card(1, ".f-uptime"))) > up_before
        }),
        "the page did not reattach to the running stream"
    );
    assert_eq!(content(&s, &card(1, ".f-reconnects")), "0");
    // The preview goes on too: binary pictures drawn by WebGL (or the 2D
    // fallback where the web view has no WebGL).
    let before = drawn(&s);
    assert!(s.wait_until(Duration::from_secs(5), |s| drawn(s) >= before + 10));
    let renderer = s.attr("#preview", "data-renderer").unwrap_or_default();
    eprintln!("preview renderer: {renderer}");
    assert!(renderer == "webgl" || renderer == "2d", "{renderer}");
    screenshot(&app, "reattached.png");

    // The web view's process dies (as when WebKit crashes; WebDriver's
    // session goes with it): a new one loads the page, and the stream goes
    // on from the same publish.
    let (_, before) = app_processes(&display).expect("the app runs");
    assert!(!before.is_empty(), "no web process found");
    let published = published_ms(&nginx).expect("nginx has the stream");
    for p in &before {
        // SAFETY: signalling a process of the app under test.
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reloaded =
            app_processes(&display).is_some_and(|(_, now)| now.iter().any(|p| !before.contains(p)));
        let going_on = published_ms(&nginx).is_some_and(|t| t > published + 3000);
        if reloaded && going_on {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after the crash: page loaded again {reloaded}, stream going on {going_on}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(indicator_label(&bus).is_some_and(|l| l.starts_with("● LIVE")));
    assert!(x_window(&display).is_some_and(|(_, t)| t.starts_with("● LIVE")));
}

/// Runs xdotool on `display`; its output.
fn xdotool(display: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .expect("xdotool (Debian xdotool) must be installed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_recordings_folder_is_chosen_with_the_system_folder_picker() {
    let _one = one_window();
    let app = App::start();
    let s = app.open();
    let display = app.xvfb.display.clone();
    let folder = app.config.path().join("My Recordings");
    std::fs::create_dir_all(&folder).unwrap();
    s.click("#tab-settings");
    s.click("#choose-folder");
    // The system's (GTK) folder chooser opens as its own window.
    let mut dialog = String::new();
    assert!(
        s.wait_until(Duration::from_secs(10), |_| {
            dialog = xdotool(
                &display,
                &["search", "--onlyvisible", "--name", "^Recordings folder$"],
            );
            !dialog.is_empty()
        }),
        "no folder picker"
    );
    let dialog = dialog.lines().next().unwrap_or_default().to_owned();
    screenshot(&app, "folder-picker.png");
    // Typed as a user does: Ctrl+L, the path, Enter.
    xdotool(&display, &["windowfocus", "--sync", &dialog]);
    xdotool(&display, &["key", "--delay", "100", "ctrl+l"]);
    xdotool(
        &display,
        &["type", "--delay", "20", &folder.display().to_string()],
    );
    xdotool(&display, &["key", "Return"]);
    let want = folder.display().to_string();
    assert!(
        s.wait_until(Duration::from_secs(10), |s| s
            .prop("#record-folder", "value")
            .as_deref()
            == Some(want.as_str())),
        "{:?}",
        s.prop("#record-folder", "value")
    );
    save_settings(&s);
    let saved = json(&app.profiles_file());
    assert_eq!(saved["settings"]["record_folder"], want.as_str());

    // Cancelled, it changes nothing.
    s.click("#choose-folder");
    let mut dialog = String::new();
    assert!(s.wait_until(Duration::from_secs(10), |_| {
        dialog = xdotool(
            &display,
            &["search", "--onlyvisible", "--name", "^Recordings folder$"],
        );
        !dialog.is_empty()
    }));
    let dialog = dialog.lines().next().unwrap_or_default().to_owned();
    xdotool(&display, &["windowfocus", "--sync", &dialog]);
    xdotool(&display, &["key", "Escape"]);
    assert!(s.wait_until(Duration::from_secs(10), |s| s
        .attr("#choose-folder", "disabled")
        .is_none()));
    assert_eq!(s.prop("#record-folder", "value"), Some(want));
}

/// Presses keys on `display` as the keyboard does (XTEST), the app's
/// window focused — a global shortcut works whatever is focused.
fn press(display: &str, keys: &str) {
    xdotool(display, &["key", "--clearmodifiers", keys]);
}

#[test]
fn global_shortcuts_go_live_record_and_mute_and_are_configurable() {
    let _one = one_window();
    let app = App::start();
    let s = app.open();
    let display = app.xvfb.display.clone();
    let strip_mute = "#strips .strip[data-source=mic] .mute";
    let muted = |s: &Session| s.attr(strip_mute, "aria-pressed").as_deref() == Some("true");
    s.click("#tab-settings");
    assert_eq!(
        s.prop("#shortcut-go-live", "value").as_deref(),
        Some("Ctrl+Alt+Shift+L")
    );
    assert!(
        s.attr("#shortcut-problems", "hidden").is_some(),
        "all registered"
    );
    s.click("#tab-studio");

    // Go Live from the keyboard, wherever the focus is.
    press(&display, "ctrl+alt+shift+l");
    assert_first_card_goes_live(&s);
    assert_eq!(content(&s, "#go-live"), "End Stream");
    // Mute the microphone, and back.
    press(&display, "ctrl+alt+shift+m");
    assert!(s.wait_until(Duration::from_secs(5), muted));
    press(&display, "ctrl+alt+shift+m");
    assert!(s.wait_until(Duration::from_secs(5), |s| !muted(s)));
    // Record, and stop.
    let recording = |s: &Session| s.attr("#record", "aria-pressed").as_deref() == Some("true");
    press(&display, "ctrl+alt+shift+r");
    assert!(
        s.wait_until(Duration::from_secs(10), recording),
        "{}",
        s.text("#studio-error")
    );
    press(&display, "ctrl+alt+shift+r");
    assert!(s.wait_until(Duration::from_secs(10), |s| !recording(s)
        && content(s, "#rec-status").starts_with("Saved")));

    // A shortcut without Ctrl, Alt or Super is refused.
    s.click("#tab-settings");
    s.send_keys("#shortcut-go-live", "m");
    assert_eq!(s.prop("#shortcut-go-live", "value").as_deref(), Some("M"));
    s.click("#save-settings");
    assert!(s.wait_until(Duration::from_secs(5), |s| s
        .text("#settings-error")
        .contains("needs Ctrl, Alt or Super")));

    // Set as a user does: the field focused, the new keys pressed in it.
    s.click("#shortcut-go-live");
    let (window, _) = x_window(&display).expect("the app's window");
    xdotool(&display, &["windowfocus", "--sync", &window.to_string()]);
    press(&display, "ctrl+alt+k");
    assert!(
        s.wait_until(Duration::from_secs(5), |s| s
            .prop("#shortcut-go-live", "value")
            .as_deref()
            == Some("Ctrl+Alt+K")),
        "{:?}",
        s.prop("#shortcut-go-live", "value")
    );
    save_settings(&s);
    assert_eq!(
        json(&app.profiles_file())["settings"]["shortcuts"]["go_live"],
        "Ctrl+Alt+K"
    );
    // The old keys do nothing any more (the mute pressed after them shows
    // they were handled), the new ones end the stream.
    press(&display, "ctrl+alt+shift+l");
    press(&display, "ctrl+alt+shift+m");
    assert!(s.wait_until(Duration::from_secs(5), muted));
    assert_eq!(content(&s, "#go-live"), "End Stream", "still live");
    press(&display, "ctrl+alt+k");
    assert!(
        s.wait_until(Duration::from_secs(10), |s| content(s, "#go-live")
            == "Go Live")
    );
}
