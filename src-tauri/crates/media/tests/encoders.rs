//! The real encoders on the real sources.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use onair_media::*;

fn at(index: u64, fps: u64) -> FrameTime {
    FrameTime {
        index,
        pts_ms: (index * 1000 / fps) as i64,
        wall_unix_ms: 0,
    }
}

#[test]
fn h264_keyframe_every_interval_exactly_with_parameter_sets() {
    let cfg = H264Config {
        width: 320,
        height: 180,
        fps: 10,
        bitrate_kbps: 300,
        keyframe_interval_s: 1,
    };
    let mut enc = H264Encoder::new(cfg).unwrap();
    let mut pattern = TestPattern::new(320, 180, 10);
    let mut frame = I420Frame::black(320, 180);
    let mut keys = Vec::new();
    for n in 0..35u64 {
        pattern.next_frame(&mut frame, at(n, 10)).unwrap();
        let v = enc
            .encode(&frame, (n * 100) as i64)
            .unwrap()
            .expect("no skipped frames");
        assert!(v.annex_b.starts_with(&[0, 0, 0, 1]) || v.annex_b.starts_with(&[0, 0, 1]));
        if v.keyframe {
            keys.push(n);
            let sps = v.sps.expect("SPS on keyframes");
            assert_eq!(sps[0] & 0x1F, 7);
            assert_eq!(v.pps.expect("PPS on keyframes")[0] & 0x1F, 8);
            // openh264: Constrained Baseline.
            assert_eq!(sps[1], 66);
        }
    }
    assert_eq!(keys, vec![0, 10, 20, 30]);
}

#[test]
fn h264_rejects_odd_sizes() {
    let cfg = H264Config {
        width: 321,
        height: 180,
        fps: 30,
        bitrate_kbps: 300,
        keyframe_interval_s: 2,
    };
    assert!(matches!(
        H264Encoder::new(cfg),
        Err(MediaError::BadSize { .. })
    ));
}

#[test]
fn aac_lc_48k_stereo_config_and_frames_with_priming_offsets() {
    let mut enc = AacEncoder::new(48_000, 128).unwrap();
    assert_eq!(&enc.audio_specific_config()[..], &[0x11, 0x90]);
    let mut tone = Tone::new(48_000);
    let mut buf = vec![0f32; 2048];
    let mut frames = Vec::new();
    for k in 0..20u64 {
        tone.read(&mut buf, k * 1024).unwrap();
        frames.extend(enc.encode(&buf).unwrap());
    }
    assert!(frames.len() >= 17, "{} frames", frames.len());
    let delay = enc.delay_samples();
    assert!(delay > 0 && delay < 4096, "delay {delay}");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.first_sample, i as i64 * 1024 - delay);
        assert!(!f.data.is_empty());
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<MediaMessage>>);
impl MediaSink for Collect {
    fn on_media(&self, m: MediaMessage) {
        self.0.lock().unwrap().push(m);
    }
}

#[test]
fn pipeline_with_duration_ends_by_itself_with_config_first_and_full_coverage() {
    let mut cfg = PipelineConfig::single(H264Config {
        width: 320,
        height: 180,
        fps: 30,
        bitrate_kbps: 300,
        keyframe_interval_s: 2,
    });
    cfg.duration = Some(Duration::from_millis(1500));
    let sink = Arc::new(Collect::default());
    let p = Pipeline::start(
        cfg,
        Box::new(TestPattern::new(320, 180, 30)),
        Some(Box::new(Tone::new(48_000))),
        MediaClock::start_now(),
        sink.clone(),
    )
    .unwrap();
    p.join().unwrap();
    let msgs = sink.0.lock().unwrap();
    let first_video = msgs
        .iter()
        .position(|m| matches!(m, MediaMessage::Packet(p) if p.kind == MediaKind::Video))
        .unwrap();
    assert!(msgs[..first_video]
        .iter()
        .any(|m| matches!(m, MediaMessage::VideoConfig(_))));
    let video: Vec<i64> = msgs
        .iter()
        .filter_map(|m| match m {
            MediaMessage::Packet(p) if p.kind == MediaKind::Video => Some(p.pts_ms),
            _ => None,
        })
        .collect();
    assert_eq!(video.len(), 45);
    assert_eq!(video[1], 33);
    let last_audio = msgs
        .iter()
        .filter_map(|m| match m {
            MediaMessage::Packet(p) if p.kind == MediaKind::Audio => Some(p.pts_ms),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(
        (1450..1500).contains(&last_audio),
        "last audio pts {last_audio}"
    );
    let ends = msgs
        .iter()
        .filter(|m| matches!(m, MediaMessage::EndOfStream(_)))
        .count();
    assert_eq!(ends, 2);
}

#[test]
fn h264_bitrate_changes_at_run_time_both_ways() {
    let cfg = H264Config {
        width: 640,
        height: 360,
        fps: 30,
        bitrate_kbps: 2000,
        keyframe_interval_s: 2,
    };
    let mut enc = H264Encoder::new(cfg).unwrap();
    assert!(enc.set_bitrate(500).is_err(), "not before the first frame");
    let mut pattern = TestPattern::new(640, 360, 30);
    let mut frame = I420Frame::black(640, 360);
    let mut n = 0u64;
    let mut encode_secs = |enc: &mut H264Encoder, secs: u64| -> usize {
        let mut bytes = 0;
        for _ in 0..secs * 30 {
            pattern.next_frame(&mut frame, at(n, 30)).unwrap();
            bytes += enc
                .encode(&frame, (n * 1000 / 30) as i64)
                .unwrap()
                .unwrap()
                .annex_b
                .len();
            n += 1;
        }
        bytes
    };
    let kbps = |bytes: usize, secs: u64| bytes as f64 * 8.0 / 1000.0 / secs as f64;
    encode_secs(&mut enc, 2);
    let high = kbps(encode_secs(&mut enc, 4), 4);
    enc.set_bitrate(400).unwrap();
    encode_secs(&mut enc, 2);
    let low = kbps(encode_secs(&mut enc, 4), 4);
    enc.set_bitrate(2000).unwrap();
    encode_secs(&mut enc, 2);
    let back = kbps(encode_secs(&mut enc, 4), 4);
    assert!(low < high * 0.4, "high {high:.0} kbps, low {low:.0} kbps");
    assert!(
        back > low * 2.0,
        "low {low:.0} kbps, back up {back:.0} kbps"
    );
    eprintln!("2000 kbps -> {high:.0}, 400 -> {low:.0}, 2000 again -> {back:.0}");
}

#[test]
fn two_encodings_of_one_capture_each_keep_their_own_size_rate_and_keyframes() {
    let cfg = PipelineConfig {
        encodings: vec![
            H264Config {
                width: 320,
                height: 180,
                fps: 30,
                bitrate_kbps: 300,
                keyframe_interval_s: 1,
            }
            .into(),
            H264Config {
                width: 180,
                height: 320,
                fps: 15,
                bitrate_kbps: 250,
                keyframe_interval_s: 2,
            }
            .into(),
        ],
        audio: Some(AudioSettings { bitrate_kbps: 96 }),
        duration: Some(Duration::from_millis(2500)),
    };
    assert_eq!(cfg.canvas(), (320, 180, 30));
    let sink = Arc::new(Collect::default());
    let p = Pipeline::start(
        cfg,
        Box::new(TestPattern::new(320, 180, 30)),
        Some(Box::new(Tone::new(48_000))),
        MediaClock::start_now(),
        sink.clone(),
    )
    .unwrap();
    assert_eq!(p.encoding_stats().len(), 2);
    p.join().unwrap();
    let msgs = sink.0.lock().unwrap();
    for (encoding, (w, h), frames, keyframes) in [
        // 2.5 s at 30 fps, a keyframe every second: 0, 1 s, 2 s.
        (0, (320, 180), 75, vec![0, 1000, 2000]),
        // 2.5 s at 15 fps (0, 66, 133, …), one every 2 s.
        (1, (180, 320), 38, vec![0, 2000]),
    ] {
        let config = msgs
            .iter()
            .find_map(|m| match m {
                MediaMessage::VideoConfig(v) if v.encoding == encoding => Some(v),
                _ => None,
            })
            .expect("a configuration per encoding");
        assert_eq!((config.width, config.height), (w, h));
        let video: Vec<&EncodedPacket> = msgs
            .iter()
            .filter_map(|m| match m {
                MediaMessage::Packet(p) if p.kind == MediaKind::Video && p.encoding == encoding => {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        assert_eq!(video.len(), frames, "encoding {encoding}");
        let keys: Vec<i64> = video
            .iter()
            .filter(|p| p.keyframe)
            .map(|p| p.pts_ms)
            .collect();
        assert_eq!(keys, keyframes, "encoding {encoding}");
    }
    // One audio track and one end of the video, whatever the encodings.
    let ends: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            MediaMessage::EndOfStream(k) => Some(*k),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert!(ends.contains(&MediaKind::Video) && ends.contains(&MediaKind::Audio));
}

#[test]
fn an_encoding_too_heavy_for_the_machine_skips_its_own_frames_and_the_other_keeps_every_one() {
    // 4K at 120 fps is far beyond what openh264 does on one core in real
    // time (about 50 fps here); 320x180 at 30 fps is nothing.
    let heavy = H264Config {
        width: 3840,
        height: 2160,
        fps: 120,
        bitrate_kbps: 20_000,
        keyframe_interval_s: 2,
    };
    let light = H264Config {
        width: 320,
        height: 180,
        fps: 30,
        bitrate_kbps: 300,
        keyframe_interval_s: 2,
    };
    let cfg = PipelineConfig {
        encodings: vec![light.into(), heavy.into()],
        audio: None,
        duration: Some(Duration::from_secs(4)),
    };
    let (w, h, fps) = cfg.canvas();
    assert_eq!((w, h, fps), (3840, 2160, 120));
    let sink = Arc::new(Collect::default());
    let p = Pipeline::start(
        cfg,
        Box::new(TestPattern::new(w, h, fps)),
        None,
        MediaClock::start_now(),
        sink.clone(),
    )
    .unwrap();
    let stats: Vec<_> = p.encoding_stats().to_vec();
    p.join().unwrap();
    let skipped = |i: usize| {
        stats[i]
            .frames_dropped_lag
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let encoded = |i: usize| {
        stats[i]
            .frames_encoded
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    eprintln!(
        "light: {} encoded, {} skipped; heavy: {} encoded, {} skipped; scale {} us/frame",
        encoded(0),
        skipped(0),
        encoded(1),
        skipped(1),
        stats[0].scale_us.load(std::sync::atomic::Ordering::Relaxed) / encoded(0).max(1)
    );
    assert!(skipped(1) > 0, "the heavy encoding kept up?");
    assert_eq!((encoded(0), skipped(0)), (120, 0));
    let msgs = sink.0.lock().unwrap();
    let light_pts: Vec<i64> = msgs
        .iter()
        .filter_map(|m| match m {
            MediaMessage::Packet(p) if p.encoding == 0 => Some(p.pts_ms),
            _ => None,
        })
        .collect();
    assert_eq!(light_pts.len(), 120);
}
