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
    let mut cfg = PipelineConfig::default();
    cfg.video.width = 320;
    cfg.video.height = 180;
    cfg.video.bitrate_kbps = 300;
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
