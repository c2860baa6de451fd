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
