//! Cost of the capture path: a camera picture to an I420 frame of the output
//! size (decode or de-interleave, colour conversion, scaling), and the
//! microphone's resampling. Run: `cargo bench -p onair-media --bench capture`.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use onair_media::convert::{Converter, PixelFormat};
use onair_media::mic::new_resampler;
use onair_media::scale::Scaler;
use onair_media::{Colour, I420Frame, TestPattern, VideoSource};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::Resampler;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/camera")
            .join(name),
    )
    .expect("fixture")
}

/// A raw picture of a size: grey ramp with coloured chroma, YUYV or NV12.
fn raw(format: PixelFormat, w: usize, h: usize) -> Vec<u8> {
    match format {
        PixelFormat::Yuyv => (0..w * h / 2)
            .flat_map(|i| [(i % 220 + 16) as u8, 100, ((i + 7) % 220 + 16) as u8, 160])
            .collect(),
        _ => (0..w * h * 3 / 2).map(|i| (i % 200 + 20) as u8).collect(),
    }
}

/// Name, picture, camera size, format, output size.
type Case = (String, Vec<u8>, (u32, u32), PixelFormat, (u32, u32));

fn camera(c: &mut Criterion) {
    let mut g = c.benchmark_group("camera");
    g.sample_size(30);
    let cases: Vec<Case> = vec![
        (
            "mjpeg 720p -> 720p".into(),
            fixture("cam_1280x720.mjpg"),
            (1280, 720),
            PixelFormat::Mjpeg,
            (1280, 720),
        ),
        (
            "mjpeg 1080p -> 720p".into(),
            fixture("cam_1920x1080.mjpg"),
            (1920, 1080),
            PixelFormat::Mjpeg,
            (1280, 720),
        ),
        (
            "mjpeg 1080p -> 1080p".into(),
            fixture("cam_1920x1080.mjpg"),
            (1920, 1080),
            PixelFormat::Mjpeg,
            (1920, 1080),
        ),
        (
            "yuyv 720p -> 720p".into(),
            raw(PixelFormat::Yuyv, 1280, 720),
            (1280, 720),
            PixelFormat::Yuyv,
            (1280, 720),
        ),
        (
            "yuyv 1080p -> 720p".into(),
            raw(PixelFormat::Yuyv, 1920, 1080),
            (1920, 1080),
            PixelFormat::Yuyv,
            (1280, 720),
        ),
        (
            "yuyv 1080p -> 1080p".into(),
            raw(PixelFormat::Yuyv, 1920, 1080),
            (1920, 1080),
            PixelFormat::Yuyv,
            (1920, 1080),
        ),
        (
            "yuyv 640x480 -> 720p".into(),
            raw(PixelFormat::Yuyv, 640, 480),
            (640, 480),
            PixelFormat::Yuyv,
            (1280, 720),
        ),
        (
            "nv12 1080p -> 720p".into(),
            raw(PixelFormat::Nv12, 1920, 1080),
            (1920, 1080),
            PixelFormat::Nv12,
            (1280, 720),
        ),
    ];
    for (name, data, src, format, dst) in cases {
        let mut conv = Converter::new(src, format, dst).unwrap();
        let mut out = I420Frame::black(dst.0 as usize, dst.1 as usize);
        g.bench_function(name, |b| b.iter(|| conv.convert(&data, &mut out).unwrap()));
    }
    g.finish();
}

/// Re-expressing a camera's BT.601 in an HD stream's BT.709, alone.
fn colour(c: &mut Criterion) {
    let mut g = c.benchmark_group("colour");
    g.sample_size(30);
    let t =
        onair_media::colour::Transcode::new(onair_media::Colour::BT601, onair_media::Colour::BT709)
            .unwrap();
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let mut f = I420Frame::black(w, h);
        g.bench_function(format!("bt601 -> bt709 {w}x{h}"), |b| {
            b.iter(|| t.apply(&mut f))
        });
    }
    g.finish();
}

fn resample(c: &mut Criterion) {
    let mut g = c.benchmark_group("microphone");
    for rate in [44_100u32, 48_000] {
        let mut r = new_resampler(rate).unwrap();
        let input: Vec<f32> = (0..4096 * 2)
            .map(|i| ((i as f32) * 0.01).sin() * 0.3)
            .collect();
        let mut out = vec![0f32; 1024 * 2];
        g.bench_function(
            format!("resample {rate} -> 48000, 1024 frames stereo"),
            |b| {
                b.iter(|| {
                    let n = r.input_frames_next();
                    let i = InterleavedSlice::new(&input[..n * 2], 2, n).unwrap();
                    let mut o = InterleavedSlice::new_mut(&mut out, 2, 1024).unwrap();
                    r.process_into_buffer(&i, &mut o, None).unwrap()
                })
            },
        );
    }
    g.finish();
}

/// Each filter alone and the whole "Voice" chain, per 1024 stereo frames
/// (21.3 ms of audio: CPU per media second = time × 46.9). The input is
/// speech-like (a 220 Hz buzz with harmonics, amplitude-modulated) over
/// noise, stereo with different channels (the worst case for noise
/// suppression, which denoises a mono source once).
fn filters(c: &mut Criterion) {
    use onair_media::filters::{Chain, ChainSettings};
    let mut g = c.benchmark_group("filters");
    let v = ChainSettings::voice();
    let off = ChainSettings::default();
    let cases = [
        ("delay only (every filter off)", off),
        (
            "gain +6 dB",
            ChainSettings {
                gain_db: 6.0,
                ..off
            },
        ),
        (
            "noise suppression (RNNoise)",
            ChainSettings {
                denoise: true,
                ..off
            },
        ),
        (
            "noise gate",
            ChainSettings {
                gate: v.gate,
                ..off
            },
        ),
        (
            "compressor",
            ChainSettings {
                compressor: v.compressor,
                ..off
            },
        ),
        (
            "limiter",
            ChainSettings {
                limiter: v.limiter,
                ..off
            },
        ),
        ("voice (all of them)", v),
    ];
    let mut seed = 1u32;
    let input: Vec<f32> = (0..1024 * 2)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let t = (i / 2) as f32 / 48_000.0;
            let buzz = (0..5)
                .map(|h| {
                    ((h + 1) as f32 * 220.0 * std::f32::consts::TAU * t).sin() / (h + 1) as f32
                })
                .sum::<f32>();
            let n = (seed as f32 / u32::MAX as f32 - 0.5) * 0.02;
            0.2 * buzz * (0.5 + 0.5 * (3.0 * std::f32::consts::TAU * t).sin())
                + n * if i % 2 == 0 { 1.0 } else { -1.0 }
        })
        .collect();
    for (name, settings) in cases {
        let mut chain = Chain::new(settings, 48_000);
        let mut buf = input.clone();
        g.bench_function(format!("{name}, 1024 frames stereo"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&input);
                chain.process(&mut buf)
            })
        });
    }
    g.finish();
}

/// One encoding's picture from the canvas (crop, scale, colours): what each
/// extra encoding costs per frame before its encoder.
fn encodings(c: &mut Criterion) {
    let mut g = c.benchmark_group("encodings");
    for ((cw, ch), (w, h), x) in [
        ((1280, 720), (720, 1280), 0.5),
        ((1920, 1080), (1280, 720), 0.5),
        ((1920, 1080), (720, 1280), 0.5),
        ((1280, 720), (854, 480), 0.5),
    ] {
        let mut canvas = I420Frame::black(cw, ch);
        TestPattern::new(cw, ch, 30)
            .next_frame(
                &mut canvas,
                onair_media::FrameTime {
                    index: 5,
                    pts_ms: 166,
                    wall_unix_ms: 0,
                },
            )
            .unwrap();
        let mut s = Scaler::new(w, h, Colour::for_height(ch));
        g.bench_function(format!("{cw}x{ch} -> {w}x{h}"), |b| {
            b.iter(|| {
                s.scale(&canvas, x).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, camera, colour, resample, encodings, filters);
criterion_main!(benches);
