//! Real capture end to end: a real PulseAudio daemon's virtual microphone,
//! read through cpal by `onair stream --audio mic`, published to a real
//! nginx-rtmp, and the recording checked with ffmpeg. The camera has no real
//! part on these machines (see the media crate's recorded-frame tests and
//! `tests/camera_convert.rs`); here only its "missing device" contract.

use std::process::Command;
use std::time::Duration;

use onair_tests::pulse::PulseAudio;
use onair_tests::{binary, ffmpeg_stdout, ffprobe_json, num, Nginx, OnairRun, GOOD_KEY};

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Stereo f32 samples of the recording's audio, 48 kHz.
fn audio_samples(file: &std::path::Path) -> Vec<[f32; 2]> {
    ffmpeg_stdout(
        file,
        &["-map", "0:a", "-ac", "2", "-ar", "48000", "-f", "f32le"],
    )
    .chunks_exact(8)
    .map(|b| {
        [
            f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        ]
    })
    .collect()
}

fn rms_dbfs(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
    10.0 * ms.log10()
}

/// Frequency from rising zero crossings.
fn frequency(x: &[f32], rate: f64) -> f64 {
    // Upward zero crossings of the tone, each counted only after the signal
    // went clearly negative (hysteresis): low-level noise around zero, as in
    // a gap, adds no crossings, so a pitch error shows and a gap does not
    // masquerade as one (the dropout check below catches gaps).
    let mut armed = false;
    let mut crossings = Vec::new();
    for (i, w) in x.windows(2).enumerate() {
        if w[0] < -0.05 {
            armed = true;
        }
        if armed && w[0] < 0.0 && w[1] >= 0.0 {
            // Where between the two samples it crossed.
            crossings.push(i as f64 + f64::from(-w[0] / (w[1] - w[0])));
            armed = false;
        }
    }
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    (crossings.len() - 1) as f64 * rate / (last - first)
}

#[test]
fn virtual_microphone_signal_is_streamed_in_sync_and_recorded() {
    let mut pulse = PulseAudio::start();
    let nginx = Nginx::start();
    // 750 Hz at -12 dBFS peak = -15.05 dBFS RMS, played in real time. A
    // fresh PulseAudio takes up to ~2 s to deliver its first samples to an
    // ALSA client (silence until then, by design): the checks start at 5 s.
    pulse.play(40, -12.0, &["sine", "750"]);
    let env = pulse.env();
    let mut run = OnairRun::stream_env(
        &[
            "--audio".into(),
            "mic".into(),
            "--duration".into(),
            "15".into(),
            nginx.url(GOOD_KEY),
        ],
        &env_refs(&env),
    );
    let (status, stderr) = run.finish();
    assert!(
        status.success(),
        "exit {status:?}\n{stderr}\n{}",
        pulse.log()
    );

    // What the microphone path reported each second.
    let mic: Vec<&serde_json::Value> = run
        .lines
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["source"] == "mic")
        .collect();
    assert!(mic.len() >= 12, "mic lines: {mic:?}");
    assert!(num(&mic[0]["device_rate"]) >= 8000.0, "{}", mic[0]);
    for m in mic.iter().filter(|m| num(&m["t"]) >= 5.0) {
        let offset = num(&m["offset_ms"]);
        assert!(offset.abs() < 20.0, "audio/video offset {offset} ms: {m}");
        let rms = num(&m["rms_dbfs"]);
        assert!((rms + 15.05).abs() < 1.0, "meter RMS {rms} dBFS: {m}");
        assert_eq!(m["lost"], false);
    }
    let last = mic.last().unwrap();
    assert_eq!(last["losses"], 0);

    // The recording carries that signal, on both channels.
    let rec = nginx.recording(GOOD_KEY);
    let info = ffprobe_json(&rec, &["-show_streams"]);
    let streams = info["streams"].as_array().unwrap();
    let a = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio");
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
    let start_gap = (num(&a["start_time"]) - num(&v["start_time"])).abs();
    assert!(
        start_gap < 0.020,
        "audio and video start {start_gap} s apart"
    );
    let samples = audio_samples(&rec);
    let secs = samples.len() as f64 / 48_000.0;
    assert!((secs - 15.0).abs() < 0.2, "{secs} s of audio");
    // From 5 s (the device opening) to the last half second.
    let body = &samples[5 * 48_000..samples.len() - 24_000];
    let left: Vec<f32> = body.iter().map(|s| s[0]).collect();
    let right: Vec<f32> = body.iter().map(|s| s[1]).collect();
    for (name, ch) in [("left", &left), ("right", &right)] {
        let f = frequency(ch, 48_000.0);
        assert!((f - 750.0).abs() < 2.0, "{name}: {f} Hz");
        let level = rms_dbfs(ch);
        assert!((level + 15.05).abs() < 1.0, "{name}: {level} dBFS");
    }
    // No dropouts: every 50 ms window of the body carries the tone.
    for (i, w) in left.chunks_exact(2_400).enumerate() {
        let level = rms_dbfs(w);
        assert!(level > -18.0, "window {i} at {level} dBFS");
    }
}

#[test]
fn sound_server_going_away_gives_silence_and_the_stream_goes_on() {
    let mut pulse = PulseAudio::start();
    let nginx = Nginx::start();
    pulse.play(60, -12.0, &["sine", "750"]);
    let env = pulse.env();
    let mut run = OnairRun::stream_env(
        &["--audio".into(), "mic".into(), nginx.url(GOOD_KEY)],
        &env_refs(&env),
    );
    let t = Duration::from_secs(20);
    run.wait_for(t, |v| v["source"] == "mic" && num(&v["t"]) >= 3.0)
        .expect("mic stats");
    pulse.kill();
    run.wait_for(t, |v| v["source"] == "mic" && v["lost"] == true)
        .expect("the loss is reported");
    pulse.restart();
    pulse.play(60, -12.0, &["sine", "750"]);
    run.wait_for(t, |v| {
        v["source"] == "mic" && v["lost"] == false && num(&v["losses"]) >= 1.0
    })
    .expect("the microphone comes back");
    run.wait_for(t, |v| {
        v["source"] == "mic"
            && v.get("rms_dbfs")
                .is_some_and(|r| r.as_f64().is_some_and(|r| r > -20.0))
    })
    .expect("and is heard again");
    let (status, stderr) = run.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("microphone lost"), "a warning: {stderr}");
    // The destination stayed live throughout: one connection, no reconnect.
    let live = run.stats_of("127.0.0.1");
    assert!(live.iter().all(|s| s["reconnects"] == 0), "{live:?}");
    assert!(live.iter().filter(|s| s["state"] == "live").count() >= 8);
}

#[test]
fn missing_camera_or_microphone_is_a_clear_error_before_going_live() {
    let pulse = PulseAudio::start();
    let nginx = Nginx::start();
    for (args, want) in [
        (&["--video", "camera"][..], "no camera found"),
        (&["--video", "camera:3"][..], "no camera"),
        (
            &["--audio", "mic:no-such-microphone"][..],
            "no microphone 'no-such-microphone'",
        ),
    ] {
        let out = Command::new(binary("onair"))
            .arg("stream")
            .args(args)
            .args(["--duration", "2"])
            .arg(nginx.url(GOOD_KEY))
            .envs(pulse.env())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(!nginx.stat().contains(GOOD_KEY), "nothing went live");
    assert!(!nginx.recording(GOOD_KEY).exists(), "nothing was recorded");
}

#[test]
fn devices_lists_the_virtual_microphone() {
    let pulse = PulseAudio::start();
    let out = Command::new(binary("onair"))
        .arg("devices")
        .envs(pulse.env())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["cameras"].is_array());
    let mics = v["microphones"].as_array().unwrap();
    assert!(
        mics.iter()
            .any(|m| m["id"] == "alsa:default" && m["default"] == true),
        "{mics:?}"
    );
    assert!(mics.iter().any(|m| m["id"] == "alsa:pulse"), "{mics:?}");
}
