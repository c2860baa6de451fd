//! The stream check (`onair check`) against what ffprobe says of the same
//! stream recorded by a real nginx-rtmp, and local recording (fragmented MP4)
//! surviving SIGKILL and lasting its media time after a normal stop.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use onair_tests::{binary, decode_errors, ffprobe_json, num, Nginx, OnairRun, GOOD_KEY};

/// (pts s, size bytes, keyframe) of one stream's packets, in decode order.
fn packets(file: &Path, stream: &str) -> Vec<(f64, f64, bool)> {
    let v = ffprobe_json(
        file,
        &[
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts_time,size,flags",
        ],
    );
    v["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| {
            (
                num(&p["pts_time"]),
                num(&p["size"]),
                p["flags"].as_str().unwrap_or("").contains('K'),
            )
        })
        .collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol,
        "{what}: check says {a}, ffprobe {b} (±{tol})"
    );
}

#[test]
fn the_stream_check_report_matches_ffprobe_of_the_same_stream_recorded_by_nginx() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let profiles = dir.path().join("profiles.json");
    std::fs::write(
        &profiles,
        r#"{"version":1,"profiles":[
            {"id":"p1","name":"My Twitch","platform":"twitch","server_url":"rtmp://live.twitch.tv/app","enabled":true},
            {"id":"p2","name":"My YouTube","platform":"youtube","server_url":"rtmps://a.rtmps.youtube.com:443/live2","enabled":true}
        ]}"#,
    )
    .unwrap();
    // Settings away from the defaults, so a report of defaults cannot pass.
    let out = Command::new(binary("onair"))
        .args([
            "check",
            "--duration",
            "9",
            "--size",
            "640x360",
            "--fps",
            "25",
            "--video-bitrate",
            "1200",
            "--keyframe-interval",
            "3",
            "--audio-bitrate",
            "96",
            "--report",
        ])
        .arg(&report_path)
        .arg("--profiles")
        .arg(&profiles)
        .arg(nginx.url(GOOD_KEY))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Stream check: ended"), "{stdout}");
    assert!(!stdout.contains(GOOD_KEY) && !stderr.contains(GOOD_KEY));

    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let rec = nginx.recording(GOOD_KEY);
    let streams = ffprobe_json(&rec, &["-show_streams"]);
    let s = streams["streams"].as_array().unwrap();
    let v = s.iter().find(|s| s["codec_type"] == "video").unwrap();
    let a = s.iter().find(|s| s["codec_type"] == "audio").unwrap();

    // Formats: exactly what ffprobe reads from the bitstream.
    let rv = &r["video"];
    assert_eq!(rv["codec"], "H.264");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(rv["profile"], v["profile"], "profile");
    let level = v["level"].as_f64().unwrap();
    assert_eq!(
        rv["level"],
        format!("{}.{}", level as u32 / 10, level as u32 % 10)
    );
    assert_eq!(
        (rv["width"].clone(), rv["height"].clone()),
        (v["width"].clone(), v["height"].clone())
    );
    assert_eq!(rv["width"], 640);
    assert_eq!(r["audio"]["codec"], "AAC");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(r["audio"]["profile"], "AAC-LC");
    assert_eq!(a["profile"], "LC");
    assert_eq!(
        r["audio"]["sample_rate"].as_f64().unwrap(),
        num(&a["sample_rate"])
    );
    assert_eq!(r["audio"]["channels"], a["channels"]);

    // Timing and sizes, from ffprobe's packets of the nginx recording.
    let vp = packets(&rec, "v");
    let ap = packets(&rec, "a");
    let span = vp.last().unwrap().0 - vp[0].0;
    let fps = (vp.len() - 1) as f64 / span;
    close(rv["fps"].as_f64().unwrap(), fps, 0.1, "frame rate");
    close(rv["fps"].as_f64().unwrap(), 25.0, 0.1, "frame rate set");
    let keys: Vec<f64> = vp.iter().filter(|p| p.2).map(|p| p.0).collect();
    assert!(keys.len() >= 3, "{keys:?}");
    let gop: Vec<f64> = keys.windows(2).map(|w| w[1] - w[0]).collect();
    let gop_avg = gop.iter().sum::<f64>() / gop.len() as f64;
    let gop_max = gop.iter().cloned().fold(0.0, f64::max);
    close(
        rv["keyframe_interval_s"]["avg"].as_f64().unwrap(),
        gop_avg,
        0.05,
        "keyframe interval",
    );
    close(
        rv["keyframe_interval_s"]["max"].as_f64().unwrap(),
        gop_max,
        0.05,
        "longest keyframe interval",
    );
    close(gop_avg, 3.0, 0.05, "keyframe interval set");
    let kbps =
        |p: &[(f64, f64, bool)], dur: f64| p.iter().map(|x| x.1).sum::<f64>() * 8.0 / 1000.0 / dur;
    let v_kbps = kbps(&vp, span + 1.0 / fps);
    close(
        rv["kbps"]["avg"].as_f64().unwrap(),
        v_kbps,
        v_kbps * 0.05,
        "video bitrate",
    );
    let a_kbps = kbps(&ap, span + 1.0 / fps);
    close(
        r["audio"]["kbps"]["avg"].as_f64().unwrap(),
        a_kbps,
        a_kbps * 0.05,
        "audio bitrate",
    );
    assert!(rv["kbps"]["max"].as_f64().unwrap() >= rv["kbps"]["avg"].as_f64().unwrap());
    // A/V: where audio starts against video, and no holes in either.
    let offset_ms = (ap[0].0 - vp[0].0) * 1000.0;
    close(
        r["alignment"]["start_offset_ms"].as_f64().unwrap(),
        offset_ms,
        25.0,
        "A/V start offset",
    );
    assert!(
        r["alignment"]["max_skew_ms"].as_f64().unwrap() < 250.0,
        "{}",
        r["alignment"]
    );
    let gaps = |p: &[(f64, f64, bool)], nominal: f64| {
        p.windows(2)
            .filter(|w| w[1].0 - w[0].0 > 2.0 * nominal)
            .count() as u64
    };
    assert_eq!(r["gaps"]["video"].as_u64().unwrap(), gaps(&vp, 1.0 / 25.0));
    assert_eq!(
        r["gaps"]["audio"].as_u64().unwrap(),
        gaps(&ap, 1024.0 / 48_000.0)
    );
    assert_eq!(r["gaps"]["backwards"], 0);
    eprintln!(
        "check vs ffprobe: fps {} / {fps:.3}, keyframe interval {} / {gop_avg:.3} s, video {} / {v_kbps:.1} kbps, audio {} / {a_kbps:.1} kbps, A/V start {} / {offset_ms:.1} ms",
        rv["fps"], rv["keyframe_interval_s"]["avg"], rv["kbps"]["avg"], r["audio"]["kbps"]["avg"], r["alignment"]["start_offset_ms"]
    );
    // The check saw the whole 9 s, as nginx did.
    close(r["duration_s"].as_f64().unwrap(), span, 0.5, "duration");

    // Verdicts: a keyframe every 3 s is too far apart for Twitch (2 s), fine
    // for YouTube (4 s).
    let verdicts = r["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["name"], "My Twitch");
    assert_eq!(verdicts[0]["pass"], false);
    assert!(
        verdicts[0]["problems"].to_string().contains("keyframe"),
        "{}",
        verdicts[0]
    );
    assert_eq!(verdicts[1]["name"], "My YouTube");
    assert_eq!(verdicts[1]["pass"], true, "{}", verdicts[1]);
    assert!(
        stdout.contains("FAIL My Twitch") && stdout.contains("PASS My YouTube"),
        "{stdout}"
    );
}

#[test]
fn with_no_saved_destination_the_check_judges_every_platform_preset() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary("onair"))
        .args(["check", "--duration", "3", "--stats", "json", "--profiles"])
        .arg(dir.path().join("none.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = onair_tests::event_line(&stdout, "check").expect("final check report");
    let names: Vec<_> = last["report"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["platform"].as_str().unwrap().to_owned())
        .collect();
    for p in ["twitch", "youtube", "facebook", "kick"] {
        assert!(names.contains(&p.to_owned()), "{names:?}");
    }
    // Defaults (720p30, 2 s keyframes, 3000 kbps) pass everywhere.
    assert!(
        last["report"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["pass"] == true),
        "{last}"
    );
    // The per-second lines carry the live report too.
    assert!(stdout.contains(r#""source":"check""#));
}

fn recording_status(v: &serde_json::Value) -> Option<u64> {
    (v["source"] == "recording").then(|| v["status"]["duration_ms"].as_u64().unwrap_or(0))
}

#[test]
fn a_recording_killed_mid_way_plays_up_to_its_last_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.mp4");
    let mut run = OnairRun::stream(&["--record".into(), file.display().to_string()]);
    // Wait until at least 3 s are on disk, as the recorder reports it.
    let (_, line) = run
        .wait_for(Duration::from_secs(20), |v| {
            recording_status(v).is_some_and(|ms| ms >= 3000)
        })
        .unwrap_or_else(|| panic!("no recording progress: {:?}", run.tail(5)));
    let on_disk_ms = recording_status(&line).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(run.pid() as i32, libc::SIGKILL) };
    let (status, _) = run.finish();
    assert!(!status.success());

    let errors = decode_errors(&file);
    assert!(
        errors.is_empty(),
        "the killed recording does not decode cleanly: {errors}"
    );
    let probe = ffprobe_json(
        &file,
        &["-show_entries", "format=duration:stream=codec_name"],
    );
    let duration = num(&probe["format"]["duration"]);
    eprintln!(
        "killed recording: {on_disk_ms} ms reported on disk before the kill, {duration:.3} s plays"
    );
    // Everything the recorder had written is there (it keeps writing
    // between the report and the kill, so more may be).
    assert!(
        duration * 1000.0 >= on_disk_ms as f64 - 1.0,
        "{duration} s in the file, {on_disk_ms} ms reported on disk"
    );
    let codecs: Vec<_> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].clone())
        .collect();
    assert_eq!(codecs, ["h264", "aac"]);
    // Every picture up to the end decodes: frame count matches the duration.
    let frames = onair_tests::video_frames(&file);
    let expected = duration * 30.0;
    assert!(
        (frames.len() as f64 - expected).abs() <= 2.0,
        "{} frames in {duration} s",
        frames.len()
    );
    assert!(frames[0].0, "the recording starts with a keyframe");

    // Killed while a fragment was being written: its moof is still typed
    // `free` and its mdat is cut short at any point. The file still decodes
    // cleanly, up to the fragment before.
    let bytes = std::fs::read(&file).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        boxes.push((at, bytes[at + 4..at + 8].to_vec(), size));
        if size < 8 {
            break;
        }
        at += size;
    }
    let (last_moof, _, moof_size) = boxes
        .iter()
        .rev()
        .find(|b| b.1 == b"moof")
        .cloned()
        .expect("fragments");
    let mdat_size = boxes
        .iter()
        .find(|b| b.0 == last_moof + moof_size)
        .unwrap()
        .2;
    let whole = probe_duration(&file);
    for cut in [8, mdat_size / 3, mdat_size - 1] {
        let mut torn = bytes[..last_moof + moof_size + cut].to_vec();
        torn[last_moof + 4..last_moof + 8].copy_from_slice(b"free");
        let path = dir.path().join(format!("torn-{cut}.mp4"));
        std::fs::write(&path, &torn).unwrap();
        let errors = decode_errors(&path);
        assert!(errors.is_empty(), "cut at {cut} of {mdat_size}: {errors}");
        let d = probe_duration(&path);
        assert!(d > 0.5 && d < whole, "cut at {cut}: {d} s of {whole} s");
    }
}

fn probe_duration(file: &Path) -> f64 {
    num(&ffprobe_json(file, &["-show_entries", "format=duration"])["format"]["duration"])
}

#[test]
fn a_stopped_recording_lasts_its_media_time_within_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clean.mp4");
    let mut run = OnairRun::stream(&["--record".into(), file.display().to_string()]);
    run.wait_for(Duration::from_secs(20), |v| {
        recording_status(v).is_some_and(|ms| ms >= 3000)
    })
    .unwrap_or_else(|| panic!("no recording progress: {:?}", run.tail(5)));
    // A user's stop: SIGINT, mid-fragment.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(run.pid() as i32, libc::SIGINT) };
    let (status, stderr) = run.finish();
    assert!(status.success(), "{stderr}");
    let summary = run
        .lines
        .iter()
        .find(|(_, v)| v["event"] == "recording")
        .map(|(_, v)| v["summary"].clone())
        .expect("recording summary");
    assert!(summary["error"].is_null(), "{summary}");
    let frames = summary["video_frames"].as_u64().unwrap();
    // Media time: every frame the encoder gave the recording, 1/30 s each.
    let media_s = frames as f64 / 30.0;
    let probe = ffprobe_json(
        &file,
        &[
            "-show_entries",
            "format=duration:stream=codec_type,duration",
        ],
    );
    let one_frame = 1.0 / 30.0;
    let format_s = num(&probe["format"]["duration"]);
    eprintln!(
        "stopped recording: media {media_s:.3} s, file {format_s:.3} s, streams {}",
        probe["streams"]
    );
    assert!(
        (format_s - media_s).abs() <= one_frame,
        "file {format_s} s, media {media_s} s"
    );
    for s in probe["streams"].as_array().unwrap() {
        let d = num(&s["duration"]);
        assert!(
            (d - media_s).abs() <= one_frame,
            "{} lasts {d} s, media {media_s} s",
            s["codec_type"]
        );
    }
    assert_eq!(onair_tests::video_frames(&file).len() as u64, frames);
    assert!(decode_errors(&file).is_empty());
}

#[test]
fn a_recording_never_overwrites_and_an_unwritable_folder_fails_before_going_live() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("taken.mp4");
    std::fs::write(&existing, b"precious").unwrap();
    let out = Command::new(binary("onair"))
        .args(["stream", "--duration", "1", "--record"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwrite"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");

    // A folder where a file is: cannot be created.
    let out = Command::new(binary("onair"))
        .args(["stream", "--duration", "1", "--record"])
        .arg(existing.join("sub").join("x.mp4"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write"), "{stderr}");
}
