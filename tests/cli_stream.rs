//! `onair stream` against a real nginx-rtmp, checked with ffprobe/ffmpeg.

use std::process::Command;

use onair_tests::{
    audio_onsets, binary, decode_errors, ffprobe_json, num, region_luma, Nginx, GOOD_KEY,
};

#[test]
fn ten_seconds_of_test_pattern_and_tone_are_recorded_as_specified() {
    let nginx = Nginx::start();
    let out = Command::new(binary("onair"))
        .args(["stream", "--duration", "10", "--stats", "json"])
        .arg(nginx.url(GOOD_KEY))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );

    // The JSON stats contract.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(lines[0]["event"], "start");
    assert!(lines[0]["clock_origin_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
    let connected = lines
        .iter()
        .find(|l| l["event"] == "connected")
        .expect("connected event");
    assert_eq!(connected["ts_base_ms"], 0);
    let live: Vec<_> = lines.iter().filter(|l| l["state"] == "live").collect();
    assert!(live.len() >= 5, "{stdout}");
    for l in &live {
        assert_eq!(
            l["dest"],
            format!("rtmp://127.0.0.1:{}/live/***", nginx.rtmp_port)
        );
        assert!(l["bitrate_kbps"].as_f64().unwrap() > 0.0, "{l}");
        for field in [
            "t",
            "bytes_sent",
            "latency_ms",
            "queue_ms",
            "dropped_frames",
            "reconnects",
            "error",
        ] {
            assert!(l.get(field).is_some(), "missing {field}: {l}");
        }
    }
    assert!(
        !stdout.contains(GOOD_KEY) && !stderr.contains(GOOD_KEY),
        "key printed"
    );

    let rec = nginx.recording(GOOD_KEY);
    let info = ffprobe_json(&rec, &["-show_streams", "-show_format"]);
    let streams = info["streams"].as_array().unwrap();
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let a = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(v["avg_frame_rate"], "30/1");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
    let duration = num(&info["format"]["duration"]);
    assert!((duration - 10.0).abs() <= 0.3, "duration {duration}");
    let (vs, as_) = (num(&v["start_time"]), num(&a["start_time"]));
    assert!((vs - as_).abs() <= 0.050, "video starts {vs}, audio {as_}");

    // A keyframe every 2 s, and only then.
    let frames = ffprobe_json(
        &rec,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "frame=key_frame,pts_time",
        ],
    );
    let frames = frames["frames"].as_array().unwrap();
    assert!(frames.len() >= 295, "{} frames", frames.len());
    let keys: Vec<f64> = frames
        .iter()
        .filter(|f| f["key_frame"] == 1)
        .map(|f| num(&f["pts_time"]))
        .collect();
    assert_eq!(keys.len(), 5, "keyframes at {keys:?}");
    for (i, k) in keys.iter().enumerate() {
        assert!((k - 2.0 * i as f64).abs() < 0.02, "keyframes at {keys:?}");
    }

    let errors = decode_errors(&rec);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");

    // A/V sync: the tone beeps and the pattern flashes its top-right corner
    // at every media second; in the recording they line up.
    let beeps = audio_onsets(&rec, 0.2);
    let flashes: Vec<f64> = region_luma(&rec, 1200, 16, 64, 64)
        .iter()
        .enumerate()
        .filter(|(_, l)| **l > 150)
        .map(|(i, _)| vs + i as f64 / 30.0)
        .collect();
    for second in 1..=8 {
        let s = f64::from(second);
        let beep = beeps.iter().map(|b| b + as_).find(|b| (b - s).abs() < 0.5);
        let flash = flashes.iter().copied().find(|f| (f - s).abs() < 0.5);
        let (Some(beep), Some(flash)) = (beep, flash) else {
            panic!("second {second}: beeps {beeps:?} flashes {flashes:?}");
        };
        assert!(
            (beep - flash).abs() <= 0.020,
            "second {second}: beep at {beep:.3}s, flash at {flash:.3}s"
        );
    }
}

#[test]
fn wrong_key_exits_3_says_rejected_and_prints_no_key() {
    let nginx = Nginx::start();
    let key = "wrong_SECRET_key_91";
    let out = Command::new(binary("onair"))
        .args(["stream", "--duration", "5", "--stats", "json"])
        .arg(nginx.url(key))
        .env("ONAIR_LOG", "debug")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("stream key rejected"), "{all}");
    assert!(!all.contains(key), "the key leaked: {all}");
    assert!(!nginx.recording(key).exists());
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(binary("onair"))
        .args(["stream", "--size", "abc", "rtmp://127.0.0.1/live/k"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(binary("onair"))
        .args(["stream", "http://127.0.0.1/live/k"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rtmp://"));
}

#[test]
fn sigterm_stops_cleanly_within_two_seconds() {
    let nginx = Nginx::start();
    let mut child = Command::new(binary("onair"))
        .args([
            "stream",
            "--stats",
            "json",
            "--size",
            "640x360",
            "--video-bitrate",
            "800",
        ])
        .arg(nginx.url(GOOD_KEY))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until live: the connected event.
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let connected = lines
        .by_ref()
        .take(30)
        .map_while(Result::ok)
        .any(|l| l.contains("\"connected\""));
    assert!(connected, "never connected");
    let sent = std::time::Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    // The server saw an unpublish: the stream is gone from the stat page.
    let stat = nginx.stat();
    assert!(!stat.contains(GOOD_KEY), "{stat}");
}

#[test]
fn bench_reports_the_capture_to_socket_latency_of_every_video_packet() {
    let nginx = Nginx::start();
    let out = Command::new(binary("onair"))
        .args(["bench", "--seconds", "3", "--size", "320x180"])
        .arg(nginx.url(GOOD_KEY))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}", out.status);
    let bench: serde_json::Value = onair_tests::event_line(&stdout, "bench").expect("a bench line");
    // 3 s at 30 fps; the Output's samples are read before it stops.
    let packets = bench["video_packets"].as_u64().unwrap();
    assert!(packets >= 60, "{bench}");
    let p50 = bench["capture_to_socket_ms"]["p50"].as_f64().expect("p50");
    let max = bench["capture_to_socket_ms"]["max"].as_f64().expect("max");
    assert!(p50 >= 0.0 && p50 <= max, "{bench}");
    assert!(bench["cpu_per_media_second"].as_f64().unwrap() > 0.0);
    assert!(bench["bytes_sent"].as_u64().unwrap() > 10_000);
}
