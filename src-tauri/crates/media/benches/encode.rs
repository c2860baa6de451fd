//! Cost of the video path per frame: test pattern + openh264 at 720p and
//! 1080p. Run: `cargo bench -p onair-media`.
use criterion::{criterion_group, criterion_main, Criterion};
use onair_media::scale::Scaler;
use onair_media::*;

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("video");
    g.sample_size(20);
    for (w, h, kbps) in [
        (1280usize, 720usize, 3000u32),
        (720, 1280, 2500),
        (1920, 1080, 6000),
    ] {
        let cfg = H264Config {
            width: w,
            height: h,
            fps: 30,
            bitrate_kbps: kbps,
            keyframe_interval_s: 2,
        };
        let mut enc = H264Encoder::new(cfg).unwrap();
        let mut pattern = TestPattern::new(w, h, 30);
        let mut frame = I420Frame::black(w, h);
        let mut n = 0u64;
        g.bench_function(format!("pattern+h264 {w}x{h}"), |b| {
            b.iter(|| {
                let t = FrameTime {
                    index: n,
                    pts_ms: (n * 1000 / 30) as i64,
                    wall_unix_ms: 0,
                };
                pattern.next_frame(&mut frame, t).unwrap();
                let out = enc.encode(&frame, t.pts_ms).unwrap();
                n += 1;
                out
            })
        });
    }
    // The vertical encoding of a 720p canvas: crop, scale, encode.
    let cfg = H264Config {
        width: 720,
        height: 1280,
        fps: 30,
        bitrate_kbps: 2500,
        keyframe_interval_s: 2,
    };
    let mut enc = H264Encoder::new(cfg).unwrap();
    let mut pattern = TestPattern::new(1280, 720, 30);
    let mut canvas = I420Frame::black(1280, 720);
    let mut scaler = Scaler::new(720, 1280, Colour::for_height(720));
    let mut n = 0u64;
    g.bench_function("pattern+scale 720x1280 of 1280x720", |b| {
        b.iter(|| {
            let t = FrameTime {
                index: n,
                pts_ms: (n * 1000 / 30) as i64,
                wall_unix_ms: 0,
            };
            pattern.next_frame(&mut canvas, t).unwrap();
            n += 1;
            scaler.scale(&canvas, 0.5).unwrap().y[0]
        })
    });
    g.bench_function("pattern+scale+h264 720x1280 of 1280x720", |b| {
        b.iter(|| {
            let t = FrameTime {
                index: n,
                pts_ms: (n * 1000 / 30) as i64,
                wall_unix_ms: 0,
            };
            pattern.next_frame(&mut canvas, t).unwrap();
            let frame = scaler.scale(&canvas, 0.5).unwrap();
            let out = enc.encode(frame, t.pts_ms).unwrap();
            n += 1;
            out
        })
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
