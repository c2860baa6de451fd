//! The audio filters and the mix end to end: real PulseAudio virtual
//! devices read through the real capture path by `onair stream`, published
//! to a real nginx-rtmp, judged on the recording nginx makes (decoded by
//! ffmpeg). Speech is espeak-ng's; the noise is pink, as a fan's is.

use std::process::Command;
use std::time::{Duration, Instant};

use onair_engine::{Encoding, Engine, EngineConfig};
use onair_tests::pulse::PulseAudio;
use onair_tests::{ffmpeg_stdout, ffprobe_json, num, Nginx, OnairRun, GOOD_KEY};

const RATE: usize = 48_000;

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The left channel of the recording's audio at `rate`, f32.
fn audio_at(file: &std::path::Path, rate: usize) -> Vec<f32> {
    ffmpeg_stdout(
        file,
        &[
            "-map",
            "0:a",
            "-ac",
            "2",
            "-ar",
            &rate.to_string(),
            "-f",
            "f32le",
        ],
    )
    .chunks_exact(8)
    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    .collect()
}

fn audio(file: &std::path::Path) -> Vec<f32> {
    audio_at(file, RATE)
}

fn energy_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * ms.max(1e-20).log10()
}

fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Mono 48 kHz speech from espeak-ng.
fn speech(text: &str) -> Vec<f32> {
    let wav = Command::new("espeak-ng")
        .args(["-s", "150", "--stdout", text])
        .output()
        .expect("espeak-ng must be installed (./quickstart.sh test installs it)");
    assert!(wav.status.success());
    let mut sox = Command::new("sox")
        .args([
            "-q", "-t", "wav", "-", "-t", "raw", "-r", "48000", "-c", "1",
        ])
        .args(["-b", "16", "-e", "signed", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sox");
    let mut stdin = sox.stdin.take().unwrap();
    let data = wav.stdout;
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = sox.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect()
}

/// 10 ms energy envelope, dB.
fn envelope(x: &[f32]) -> Vec<f64> {
    x.chunks_exact(480).map(energy_db).collect()
}

/// The lag (in 10 ms windows) of `b` behind `a` that best matches their
/// envelopes, within ±`max`.
fn lag(a: &[f64], b: &[f64], max: i64) -> i64 {
    let clip = |v: f64| v.max(-80.0);
    (-max..=max)
        .max_by(|&x, &y| {
            let score = |l: i64| -> f64 {
                let mut s = 0.0;
                for (i, &va) in a.iter().enumerate() {
                    let j = i as i64 + l;
                    if j >= 0 && (j as usize) < b.len() {
                        s += (clip(va) + 80.0) * (clip(b[j as usize]) + 80.0);
                    }
                }
                s
            };
            score(x).total_cmp(&score(y))
        })
        .unwrap()
}

/// The per-second lines of a source (`mic`, `desktop`, `mix`).
fn source_lines<'a>(run: &'a OnairRun, source: &str) -> Vec<&'a serde_json::Value> {
    run.lines
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["source"] == source)
        .collect()
}

fn stream_args(key_url: String, seconds: u32, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--audio",
        "mic",
        "--size",
        "320x180",
        "--video-bitrate",
        "300",
        "--duration",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(seconds.to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(key_url);
    a
}

#[test]
fn noise_suppression_takes_the_fan_away_and_leaves_the_voice() {
    let mut pulse = PulseAudio::start();
    let nginx = Nginx::start();
    // 3 s of silence (the device opening), then 6 s periods: speech (about
    // -20 dBFS RMS) for up to 2.5 s, then only the noise; the noise, 20 dB
    // under the speech, throughout.
    let voice = speech("Hello, this is a test of the noise suppression.");
    let voice_gain = 10f32.powf(-20.0 / 20.0) / (10f32.powf(energy_db(&voice) as f32 / 20.0));
    let seconds = 29;
    let mut signal = vec![0.0f32; seconds * RATE];
    for period in 0..4 {
        let at = (3 + 6 * period) * RATE + RATE / 2;
        for (i, v) in voice.iter().take(5 * RATE / 2).enumerate() {
            signal[at + i] += v * voice_gain;
        }
    }
    let noise = onair_media::pink_noise(0x9e37_79b9, signal.len());
    let noise_gain = 10f32.powf(-40.0 / 20.0) / 10f32.powf(energy_db(&noise) as f32 / 20.0);
    for (s, n) in signal.iter_mut().zip(&noise) {
        *s += n * noise_gain;
    }
    pulse.play_samples("v", to_i16(&signal));
    // Both at once, on the same microphone: one with the filter, one without.
    let env = pulse.env();
    let mut on = OnairRun::stream_env(
        &stream_args(
            nginx.url(&format!("{GOOD_KEY}_with")),
            26,
            &["--noise-suppression", "on"],
        ),
        &env_refs(&env),
    );
    let mut off = OnairRun::stream_env(
        &stream_args(nginx.url(&format!("{GOOD_KEY}_without")), 26, &[]),
        &env_refs(&env),
    );
    for run in [&mut on, &mut off] {
        let (status, stderr) = run.finish();
        assert!(status.success(), "exit {status:?}\n{stderr}");
    }
    let (a_on, a_off) = (
        audio(&nginx.recording(&format!("{GOOD_KEY}_with"))),
        audio(&nginx.recording(&format!("{GOOD_KEY}_without"))),
    );
    let (e_on, e_off) = (envelope(&a_on), envelope(&a_off));
    // The two processes started a little apart: line the recordings up.
    let l = lag(&e_off, &e_on, 300);
    // Classify 10 ms windows on the unfiltered one, from 5 s on: speech is
    // well over the noise floor, noise-only is at it and 300 ms from speech.
    let floor = {
        let mut v: Vec<f64> = e_off[500..]
            .iter()
            .copied()
            .filter(|v| *v > -90.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 5]
    };
    let loud: Vec<bool> = e_off.iter().map(|v| *v > floor + 12.0).collect();
    let (mut speech_on, mut speech_off, mut noise_on, mut noise_off) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 500..e_off.len().saturating_sub(100) {
        let j = i as i64 + l;
        if j < 0 || j as usize >= e_on.len() {
            continue;
        }
        let near_speech = loud[i.saturating_sub(30)..(i + 30).min(loud.len())]
            .iter()
            .any(|x| *x);
        let (w_off, w_on) = (
            &a_off[i * 480..(i + 1) * 480],
            &a_on[j as usize * 480..(j as usize + 1) * 480],
        );
        if loud[i] {
            speech_off.extend_from_slice(w_off);
            speech_on.extend_from_slice(w_on);
        } else if !near_speech {
            noise_off.extend_from_slice(w_off);
            noise_on.extend_from_slice(w_on);
        }
    }
    assert!(
        speech_off.len() > RATE * 3,
        "speech found: {} samples",
        speech_off.len()
    );
    assert!(
        noise_off.len() > RATE * 3,
        "noise found: {} samples",
        noise_off.len()
    );
    let (sp_on, sp_off) = (energy_db(&speech_on), energy_db(&speech_off));
    let (no_on, no_off) = (energy_db(&noise_on), energy_db(&noise_off));
    eprintln!(
        "speech {sp_off:.1} dB -> {sp_on:.1} dB; noise {no_off:.1} dB -> {no_on:.1} dB (lag {l} windows)"
    );
    assert!(
        no_off - no_on >= 15.0,
        "noise-only stretches drop {:.1} dB ({no_off:.1} -> {no_on:.1})",
        no_off - no_on
    );
    assert!(
        (sp_on - sp_off).abs() <= 3.0,
        "speech changes {:.1} dB ({sp_off:.1} -> {sp_on:.1})",
        sp_on - sp_off
    );
    // Without the filter the noise is there, at its level (-40 dBFS).
    assert!(
        (no_off + 40.0).abs() < 3.0,
        "noise without the filter {no_off:.1} dB"
    );
    // The mic lines show the levels before and after the filters.
    let mic = source_lines(&on, "mic");
    let last = mic.last().expect("mic lines");
    assert!(
        last.get("pre_rms_dbfs").is_some() && last.get("rms_dbfs").is_some(),
        "{last}"
    );
}

#[test]
fn the_limiter_holds_a_hot_input_under_its_ceiling_and_the_gate_silences_what_is_under_it() {
    let mut pulse = PulseAudio::start();
    let nginx = Nginx::start();
    // A full-scale 997 Hz sine made 6 dB hotter by the gain (+6 dBFS into
    // the limiter), and, to the second run, a -60 dBFS hum with -20 dBFS
    // bursts.
    pulse.play(40, -0.5, &["sine", "997"]);
    let env = pulse.env();
    let mut run = OnairRun::stream_env(
        &stream_args(
            nginx.url(&format!("{GOOD_KEY}_limited")),
            10,
            &["--mic-gain", "6", "--limiter", "-1"],
        ),
        &env_refs(&env),
    );
    let (status, stderr) = run.finish();
    assert!(status.success(), "exit {status:?}\n{stderr}");
    // True peak: decoded and 4x oversampled.
    let x = audio_at(&nginx.recording(&format!("{GOOD_KEY}_limited")), 4 * RATE);
    let body = &x[5 * 4 * RATE..x.len() - 4 * RATE];
    let true_peak = 20.0 * f64::from(peak(body)).log10();
    eprintln!("limited: true peak {true_peak:.2} dBFS");
    assert!(true_peak <= -1.0 + 0.5, "true peak {true_peak:.2} dBFS");
    assert!(
        true_peak > -2.5,
        "held at the ceiling, not far under: {true_peak:.2} dBFS"
    );
    drop(pulse);

    let mut pulse = PulseAudio::start();
    let mut signal = Vec::new();
    for k in 0..10 {
        let amp = if k % 2 == 0 { 0.001 } else { 0.1 }; // -60 / -20 dBFS
        signal
            .extend((0..2 * RATE).map(|i| {
                amp * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / RATE as f32).sin()
            }));
    }
    pulse.play_samples("v", to_i16(&signal));
    let env = pulse.env();
    let mut run = OnairRun::stream_env(
        &stream_args(
            nginx.url(&format!("{GOOD_KEY}_gated")),
            16,
            &["--gate", "-45:-50"],
        ),
        &env_refs(&env),
    );
    let (status, stderr) = run.finish();
    assert!(status.success(), "exit {status:?}\n{stderr}");
    let x = audio(&nginx.recording(&format!("{GOOD_KEY}_gated")));
    // Every 100 ms window from 5 s is either the burst or gated to silence
    // (digital silence), but for the hold and release after each burst.
    let windows: Vec<f64> = x[5 * RATE..x.len() - RATE]
        .chunks_exact(4800)
        .map(energy_db)
        .collect();
    let burst = |e: f64| (e + 23.0).abs() < 2.0;
    let bursts = windows.iter().filter(|e| burst(**e)).count();
    let silent = windows.iter().filter(|e| **e < -90.0).count();
    eprintln!(
        "gated: {bursts} burst windows, {silent} silent of {}",
        windows.len()
    );
    assert!(bursts > windows.len() / 3, "{windows:?}");
    assert!(silent > windows.len() / 3, "{windows:?}");
    // Besides: after each burst its hold and release (up to 5 windows), and
    // before each the window its onset falls in, half silence (where the
    // bursts fall against the windows depends on when the capture began).
    let closings = windows
        .windows(2)
        .filter(|w| burst(w[0]) && !burst(w[1]))
        .count();
    let openings = windows
        .windows(2)
        .filter(|w| !burst(w[0]) && burst(w[1]))
        .count();
    assert!(
        bursts + silent + 5 * closings + openings >= windows.len(),
        "{windows:?}"
    );
    // The per-second line tells the gate's state.
    let mic = source_lines(&run, "mic");
    assert!(mic.iter().any(|m| m["gate"] == "closed"), "{mic:?}");
    assert!(mic.iter().any(|m| m["gate"] == "open"), "{mic:?}");
}

/// Amplitude of the tone near `freq` Hz in `x`: per 100 ms window the
/// strongest DFT component within ±2 % of `freq` (the capture steers its
/// pitch by up to a few thousand ppm while it catches up with the media
/// clock, which would smear a fixed bin), then the median over windows.
fn amplitude(x: &[f32], freq: f64) -> f64 {
    let mut a: Vec<f64> = x
        .chunks_exact(RATE / 10)
        .map(|w| {
            (-40..=40)
                .map(|k| dft_amplitude(w, freq * (1.0 + f64::from(k) * 0.0005)))
                .fold(0.0, f64::max)
        })
        .collect();
    a.sort_by(f64::total_cmp);
    a[a.len() / 2]
}

fn dft_amplitude(x: &[f32], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / RATE as f64;
        re += f64::from(v) * ph.cos();
        im += f64::from(v) * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

#[test]
fn desktop_audio_and_the_microphone_are_both_in_the_stream_at_their_volumes_and_in_sync() {
    let mut pulse = PulseAudio::start();
    let nginx = Nginx::start();
    // 1 kHz into the microphone, 440 Hz to the default output, both at
    // -20 dBFS peak; the mix takes the microphone 6 dB down, desktop 3 dB up.
    pulse.play_into("v", 40, -20.0, &["sine", "1000"]);
    pulse.play_into("d", 40, -20.0, &["sine", "440"]);
    let env = pulse.env();
    let mut run = OnairRun::stream_env(
        &stream_args(
            nginx.url(&format!("{GOOD_KEY}_mixed")),
            14,
            &[
                "--desktop-audio",
                "--mic-volume",
                "-6",
                "--desktop-volume",
                "3",
            ],
        ),
        &env_refs(&env),
    );
    let (status, stderr) = run.finish();
    assert!(status.success(), "exit {status:?}\n{stderr}");
    let rec = nginx.recording(&format!("{GOOD_KEY}_mixed"));
    let x = audio(&rec);
    // One second (a whole number of cycles of both) from 6 s on.
    eprintln!(
        "mic lines: {:?}",
        source_lines(&run, "mic")
            .iter()
            .map(|l| (
                l["t"].clone(),
                l["pre_rms_dbfs"].clone(),
                l["underruns"].clone()
            ))
            .collect::<Vec<_>>()
    );
    for s in 6..11 {
        let w = &x[s * RATE..(s + 1) * RATE];
        let mic = 20.0 * amplitude(w, 1000.0).log10();
        let desktop = 20.0 * amplitude(w, 440.0).log10();
        eprintln!("second {s}: mic {mic:.2} dBFS, desktop {desktop:.2} dBFS");
        assert!((mic + 26.0).abs() <= 1.0, "mic at {mic:.2} dBFS, want -26");
        assert!(
            (desktop + 17.0).abs() <= 1.0,
            "desktop at {desktop:.2} dBFS, want -17"
        );
    }
    // Each source's capture is on the media clock (as the microphone's is):
    // the aligner's error stays under 20 ms once they run.
    for source in ["mic", "desktop"] {
        let lines: Vec<_> = source_lines(&run, source)
            .into_iter()
            .filter(|l| num(&l["t"]) >= 5.0)
            .collect();
        assert!(lines.len() >= 7, "{source}: {lines:?}");
        for l in lines {
            let offset = num(&l["offset_ms"]);
            assert!(offset.abs() < 20.0, "{source} offset {offset} ms: {l}");
            assert_eq!(l["lost"], false, "{l}");
        }
    }
    // And audio starts with the video.
    let info = ffprobe_json(&rec, &["-show_streams"]);
    let starts: Vec<f64> = info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| num(&s["start_time"]))
        .collect();
    assert!((starts[0] - starts[1]).abs() < 0.020, "{starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_gives_digital_silence_at_once_and_no_gap_in_the_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mute.mp4");
    let config = EngineConfig {
        encodings: vec![Encoding::main(320, 180, 30, 300, 2)],
        record: Some(path.clone()),
        ..EngineConfig::default()
    };
    let engine = Engine::start(config, vec![]).unwrap();
    let clock = engine.clock().unwrap();
    let at = |ms: u64| async move {
        while clock.media_us(Instant::now()) < ms * 1000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let mix = engine.mix().unwrap().clone();
    at(2000).await;
    mix.set_muted(true);
    let muted_at = clock.media_us(Instant::now()) as f64 / 1e6;
    at(4000).await;
    mix.set_muted(false);
    let unmuted_at = clock.media_us(Instant::now()) as f64 / 1e6;
    at(6000).await;
    let summary = engine.stop_with_recording().await.recording.unwrap();
    assert!(summary.error.is_none(), "{summary:?}");

    let _ = std::fs::copy(&path, "/tmp/mute-last.mp4");
    let x = audio(&path);
    eprintln!(
        "levels per 250 ms: {:?}",
        x.chunks(12_000)
            .map(|w| energy_db(w).round())
            .collect::<Vec<_>>()
    );
    // The tone (a 440 Hz bed at -20 dBFS, beeps) until the mute, then a
    // stretch of exact zeros as long as the mute lasted.
    let sound = x.iter().position(|v| v.abs() > 0.05).expect("the tone");
    let run_start = sound
        + x[sound..]
            .windows(RATE / 2)
            .position(|w| w.iter().all(|v| *v == 0.0))
            .expect("half a second of digital silence");
    let run_len = x[run_start..]
        .iter()
        .position(|v| *v != 0.0)
        .expect("sound after the unmute");
    let last_sound = x[..run_start]
        .iter()
        .rposition(|v| v.abs() > 0.05)
        .expect("the tone before the mute");
    let (silence, muted_for) = (run_len as f64 / RATE as f64, unmuted_at - muted_at);
    eprintln!(
        "muted for {muted_for:.3} s; silence {silence:.3} s, reached {} samples after full level",
        run_start - last_sound
    );
    // From full level to digital silence within one AAC frame: the frame
    // after the mute's is silent (the decoder's overlap lets the last frame
    // of tone ring into it, never further).
    assert!(run_start - last_sound <= 2048, "{}", run_start - last_sound);
    // Silent for as long as it was muted (the audio thread's 1024 frames).
    assert!(
        (silence - muted_for).abs() < 0.05,
        "{silence} s vs {muted_for} s"
    );
    // And the sound is back after it.
    let back = run_start + run_len;
    assert!(peak(&x[back..back + RATE / 2]) > 0.05);
    // No gap: every audio packet follows the previous by one AAC frame.
    let packets = ffprobe_json(&path, &["-select_streams", "a", "-show_packets"]);
    let pts: Vec<f64> = packets["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["pts_time"]))
        .collect();
    assert!(pts.len() > 250);
    for w in pts.windows(2) {
        let d = w[1] - w[0];
        assert!(
            (d - 1024.0 / RATE as f64).abs() < 0.001,
            "packet step {d} at {}",
            w[0]
        );
    }
}
