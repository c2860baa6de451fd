//! Several encodings from one capture, end to end: `onair` to real nginx,
//! judged on what nginx recorded.

use std::path::Path;
use std::process::Command;

use onair_tests::{
    assert_in_sync, binary, decode_errors, ffmpeg_raw, ffprobe_json, psnr, video_frames, Nginx,
    GOOD_KEY,
};

/// `onair stream --stats json ARGS…`: exit status, stdout lines, stderr.
fn onair(args: &[String]) -> (std::process::ExitStatus, Vec<serde_json::Value>, String) {
    let out = Command::new(binary("onair"))
        .args(["stream", "--stats", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status, lines, stderr)
}

fn video_stream(rec: &Path) -> serde_json::Value {
    let info = ffprobe_json(rec, &["-show_streams"]);
    info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .cloned()
        .expect("a video stream")
}

/// Keyframe times of `rec`, checked to come every `every` s and only then.
fn assert_keyframes_every(rec: &Path, every: f64) {
    let frames = video_frames(rec);
    let keys: Vec<f64> = frames.iter().filter(|f| f.0).map(|f| f.1).collect();
    assert!(keys.len() >= 3, "keyframes at {keys:?}");
    for (i, k) in keys.iter().enumerate() {
        assert!(
            (k - keys[0] - every * i as f64).abs() < 0.02,
            "{}: keyframes at {keys:?}, want every {every} s",
            rec.display()
        );
    }
}

/// Luma of frame `n` of `rec` through `filter`, `w`x`h`.
fn luma_of_frame(rec: &Path, n: u32, filter: &str, w: usize, h: usize) -> Vec<u8> {
    let vf = format!(
        "trim=start_frame={n}:end_frame={},setpts=PTS-STARTPTS,format=gray,{filter}",
        n + 1
    );
    ffmpeg_raw(&[], rec, &vf, "gray", w * h)
}

#[test]
fn two_encodings_reach_three_destinations_each_with_its_own_picture_and_the_vertical_is_the_centre_crop(
) {
    let nginx = Nginx::start();
    let (a, b, c) = (
        format!("{GOOD_KEY}_a"),
        format!("{GOOD_KEY}_b"),
        format!("{GOOD_KEY}_c"),
    );
    let dir = tempfile::tempdir().unwrap();
    let take = dir.path().join("vertical.mp4");
    let (status, lines, stderr) = onair(&[
        "--duration".into(),
        "7".into(),
        "--encoding".into(),
        "main=1280x720@30:3000:2".into(),
        "--encoding".into(),
        "vertical=720x1280@30:2500:1".into(),
        "--record".into(),
        format!("vertical+{}", take.display()),
        nginx.url(&a),
        format!("main+{}", nginx.url(&b)),
        format!("vertical+{}", nginx.url(&c)),
    ]);
    assert!(status.success(), "exit {status:?}\n{stderr}");

    // Every destination says which encoding it gets.
    let port = nginx.rtmp_port;
    let connected: Vec<_> = lines.iter().filter(|l| l["event"] == "connected").collect();
    assert_eq!(connected.len(), 3, "{connected:?}");
    assert_eq!(
        connected
            .iter()
            .filter(|l| l["encoding"] == "vertical")
            .count(),
        1
    );
    let last_stats: Vec<_> = lines
        .iter()
        .rev()
        .filter(|l| l.get("state").is_some())
        .take(3)
        .collect();
    assert!(last_stats
        .iter()
        .all(|l| l["dest"] == format!("rtmp://127.0.0.1:{port}/live/***")));
    let mut encodings: Vec<_> = last_stats
        .iter()
        .map(|l| l["encoding"].as_str().unwrap())
        .collect();
    encodings.sort_unstable();
    assert_eq!(encodings, ["main", "main", "vertical"]);
    // A line per encoding per second, with its picture.
    let encoder = |name: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["source"] == "encoder" && l["encoding"] == name)
            .collect()
    };
    let (main, vertical) = (encoder("main"), encoder("vertical"));
    assert!(main.len() >= 5 && vertical.len() >= 5, "{lines:?}");
    assert_eq!(
        (main[0]["width"].as_u64(), main[0]["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(
        (
            vertical[0]["width"].as_u64(),
            vertical[0]["height"].as_u64()
        ),
        (Some(720), Some(1280))
    );
    for l in main.iter().chain(&vertical) {
        assert_eq!(l["fps"], 30);
        for field in ["kbps", "skipped", "encoded"] {
            assert!(l.get(field).is_some(), "{field}: {l}");
        }
    }
    assert!(!stderr.contains(GOOD_KEY));

    // Each recording: its own size, rate and keyframe cadence, clean.
    for (key, (w, h), every) in [
        (&a, (1280, 720), 2.0),
        (&b, (1280, 720), 2.0),
        (&c, (720, 1280), 1.0),
    ] {
        let rec = nginx.recording(key);
        let v = video_stream(&rec);
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(w), Some(h)),
            "{key}"
        );
        assert_eq!(v["avg_frame_rate"], "30/1", "{key}");
        assert_keyframes_every(&rec, every);
        let errors = decode_errors(&rec);
        assert!(errors.is_empty(), "{key}: {errors}");
    }
    // The local recording is the vertical encoding.
    let v = video_stream(&take);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(720), Some(1280))
    );

    // A/V in sync on the horizontal one (its flash corner is outside the
    // centre crop; the vertical's sync is checked below with the crop moved).
    assert_in_sync(&nginx.recording(&a), (1200, 16, 64, 64), 5);

    // The vertical picture is the centre of the horizontal one: 405x720 of
    // 1280x720 from x = 437.5 (scaled up twice first, so the half pixel
    // lands on a pixel), scaled to 720x1280. (Measured: 43.7 dB; a crop one
    // pixel off gives 27 dB.)
    let n = 100;
    let from_main = luma_of_frame(
        &nginx.recording(&a),
        n,
        "scale=2560:1440,crop=810:1440:875:0,scale=720:1280",
        720,
        1280,
    );
    let vertical_pic = luma_of_frame(&nginx.recording(&c), n, "null", 720, 1280);
    let centre = psnr(&from_main, &vertical_pic);
    // Against a crop elsewhere (the left edge) it must not match: the test
    // can tell crops apart.
    let left = luma_of_frame(
        &nginx.recording(&a),
        n,
        "crop=405:720:0:0,scale=720:1280",
        720,
        1280,
    );
    let elsewhere = psnr(&left, &vertical_pic);
    eprintln!("PSNR centre {centre:.1} dB, left edge {elsewhere:.1} dB");
    assert!(centre >= 30.0, "vertical vs centre crop: {centre:.1} dB");
    assert!(elsewhere < 25.0, "vertical vs left crop: {elsewhere:.1} dB");
}

#[test]
fn moving_the_crop_moves_the_vertical_picture_and_it_stays_in_sync() {
    let nginx = Nginx::start();
    let (a, c) = (format!("{GOOD_KEY}_h"), format!("{GOOD_KEY}_v"));
    let (status, _, stderr) = onair(&[
        "--duration".into(),
        "5".into(),
        "--encoding".into(),
        "main=1280x720@30:3000".into(),
        "--encoding".into(),
        "vertical=720x1280@30:2500".into(),
        "--crop".into(),
        "vertical=1.0".into(),
        nginx.url(&a),
        format!("vertical+{}", nginx.url(&c)),
    ]);
    assert!(status.success(), "exit {status:?}\n{stderr}");
    let n = 70;
    let vertical_pic = luma_of_frame(&nginx.recording(&c), n, "null", 720, 1280);
    let right = luma_of_frame(
        &nginx.recording(&a),
        n,
        "crop=405:720:875:0,scale=720:1280",
        720,
        1280,
    );
    let centre = luma_of_frame(
        &nginx.recording(&a),
        n,
        "scale=2560:1440,crop=810:1440:875:0,scale=720:1280",
        720,
        1280,
    );
    let (at_right, at_centre) = (psnr(&right, &vertical_pic), psnr(&centre, &vertical_pic));
    eprintln!("PSNR right edge {at_right:.1} dB, centre {at_centre:.1} dB");
    assert!(at_right >= 30.0, "vertical vs right crop: {at_right:.1} dB");
    assert!(
        at_centre < 25.0,
        "vertical vs centre crop: {at_centre:.1} dB"
    );
    // The flash corner (1152..1280 x 0..128 of the canvas) is in this crop:
    // (1152 - 875) x 720/405 = 492 on, 0 to 227 down.
    assert_in_sync(&nginx.recording(&c), (540, 40, 120, 120), 3);
}

#[test]
fn bad_encoding_arguments_exit_2_with_a_clear_message() {
    for (args, says) in [
        (
            vec!["--encoding", "main=1280x720@30:3000", "--size", "640x360"],
            "cannot be mixed",
        ),
        (
            vec![
                "--encoding",
                "main=1280x720@30:3000",
                "vertikal+rtmp://127.0.0.1/live/k",
            ],
            "unknown encoding 'vertikal'",
        ),
        (vec!["--encoding", "main=1281x720@30:3000"], "1281x720"),
        (
            vec!["--encoding", "main=1280x720@30:3000", "--crop", "side=0.2"],
            "unknown encoding 'side'",
        ),
        (
            vec!["--encoding", "main=1280x720@30:3000", "--crop", "main=2"],
            "0.0 (left) to 1.0",
        ),
        (
            vec![
                "--encoding",
                "main=1280x720@30:3000",
                "--encoding",
                "main=640x360@30:1000",
            ],
            "given twice",
        ),
        (
            vec![
                "--encoding",
                "main=1280x720@30:3000",
                "--record",
                "vertikal+show.mp4",
            ],
            "unknown encoding 'vertikal'",
        ),
    ] {
        let out = Command::new(binary("onair"))
            .arg("stream")
            .args(&args)
            .arg("rtmp://127.0.0.1:9/live/k")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn dynamic_bitrate_lowers_only_the_encoding_of_the_congested_destination() {
    use onair_tests::proxy::FaultProxy;
    use onair_tests::OnairRun;
    use std::time::Duration;
    let nginx = Nginx::start();
    let proxy = FaultProxy::start(nginx.rtmp_port);
    proxy.throttle(125_000); // 1 Mbit/s under main's 3 Mbit/s
    let mut run = OnairRun::stream(&[
        "--dynamic-bitrate".into(),
        "--encoding".into(),
        "main=1280x720@30:3000".into(),
        "--encoding".into(),
        "side=640x360@30:1500".into(),
        format!("rtmp://127.0.0.1:{}/live/{GOOD_KEY}_main", proxy.port),
        format!("side+{}", nginx.url(&format!("{GOOD_KEY}_side"))),
    ]);
    let Some((_, down)) = run.wait_for(Duration::from_secs(30), |v| {
        v["event"] == "bitrate" && v["video_kbps"].as_u64() <= Some(900)
    }) else {
        panic!("main not lowered: {:#?}", run.tail(8));
    };
    assert_eq!(down["encoding"], "main", "{down}");
    // A few more seconds: the side encoding, whose destination is clear,
    // keeps its bitrate and is never told to change.
    let _ = run.wait_for(Duration::from_secs(3), |_| false);
    let (status, _) = run.terminate();
    assert!(status.success());
    assert!(
        !run.lines
            .iter()
            .any(|(_, v)| v["event"] == "bitrate" && v["encoding"] == "side"),
        "side changed"
    );
    let side: Vec<_> = run
        .lines
        .iter()
        .filter(|(_, v)| v["source"] == "encoder" && v["encoding"] == "side")
        .collect();
    assert!(!side.is_empty());
    assert!(side.iter().all(|(_, v)| v["kbps"] == 1500), "{side:?}");
    let main_last = run
        .lines
        .iter()
        .rev()
        .find(|(_, v)| v["source"] == "encoder" && v["encoding"] == "main")
        .expect("main's encoder line");
    assert!(main_last.1["kbps"].as_u64() <= Some(900), "{}", main_last.1);
}
