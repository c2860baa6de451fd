//! The camera path with recorded pictures: the same conversion, constant
//! frame rate pacing and loss handling a real camera goes through.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use onair_media::camera::{CameraMode, RecordedCamera, ScriptedOpener};
use onair_media::convert::{Converter, PixelFormat};
use onair_media::{CameraSource, FrameTime, I420Frame, MediaClock, SourceError, VideoSource};

fn testdata(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/camera")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn moving_frames() -> Vec<Vec<u8>> {
    (1..=8)
        .map(|i| testdata(&format!("moving_320x240_{i}.mjpg")))
        .collect()
}

const OUT: (usize, usize) = (320, 180);

fn mode(fps: u32) -> CameraMode {
    CameraMode {
        width: 320,
        height: 240,
        fps,
        format: PixelFormat::Mjpeg,
    }
}

/// The fixture pictures as the camera path converts them, to tell which one
/// an output frame shows.
fn references() -> Vec<I420Frame> {
    let mut c =
        Converter::new((320, 240), PixelFormat::Mjpeg, (OUT.0 as u32, OUT.1 as u32)).unwrap();
    moving_frames()
        .iter()
        .map(|d| {
            let mut f = I420Frame::black(OUT.0, OUT.1);
            c.convert(d, &mut f).unwrap();
            f
        })
        .collect()
}

fn mean_abs_diff(a: &I420Frame, b: &I420Frame) -> f64 {
    let s: u64 =
        a.y.iter()
            .zip(&b.y)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
    s as f64 / a.y.len() as f64
}

/// What an output frame shows: a fixture picture (its index) or something else.
fn identify(f: &I420Frame, refs: &[I420Frame]) -> Option<usize> {
    refs.iter()
        .enumerate()
        .map(|(i, r)| (i, mean_abs_diff(f, r)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, d)| *d < 0.5)
        .map(|(i, _)| i)
}

/// Asks the source for a frame at every tick of `fps` for `seconds`, on the
/// real clock (the camera thread runs on it too), like the video thread does.
fn run_ticks(src: &mut CameraSource, clock: MediaClock, fps: u32, seconds: u64) -> Vec<I420Frame> {
    let mut frame = I420Frame::black(OUT.0, OUT.1);
    let mut out = Vec::new();
    for index in 0..(seconds * u64::from(fps)) {
        let pts_us = index * 1_000_000 / u64::from(fps);
        let at = clock.instant_at_us(pts_us);
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let t = FrameTime {
            index,
            pts_ms: (pts_us / 1000) as i64,
            wall_unix_ms: clock.origin_unix_ms() + pts_us / 1000,
        };
        src.next_frame(&mut frame, t).unwrap();
        out.push(frame.clone());
    }
    out
}

#[test]
fn webcam_mjpeg_without_huffman_tables_converts_like_the_full_jpeg() {
    let mut c = Converter::new((640, 480), PixelFormat::Mjpeg, (640, 480)).unwrap();
    let (mut a, mut b) = (I420Frame::black(640, 480), I420Frame::black(640, 480));
    c.convert(&testdata("bars_640x480.mjpg"), &mut a).unwrap();
    c.convert(&testdata("bars_640x480_avi1.mjpg"), &mut b)
        .unwrap();
    assert_eq!(a, b);
    assert!(a.mean_luma(0, 0, 640, 480) > 40.0, "decoded to something");
}

#[test]
fn mjpeg_of_another_size_than_announced_is_refused() {
    let mut c = Converter::new((320, 240), PixelFormat::Mjpeg, (320, 180)).unwrap();
    let mut f = I420Frame::black(320, 180);
    let e = c
        .convert(&testdata("bars_640x480.mjpg"), &mut f)
        .unwrap_err();
    assert!(e.to_string().contains("640x480"), "{e}");
}

#[test]
fn slow_camera_is_repeated_to_a_constant_frame_rate() {
    let refs = references();
    let clock = MediaClock::start_now();
    let opener = ScriptedOpener::new(vec![Some(RecordedCamera::new(mode(20), moving_frames()))]);
    let mut src = CameraSource::start(Box::new(opener), OUT.0, OUT.1, 30, clock).unwrap();
    let frames = run_ticks(&mut src, clock, 30, 3);
    assert_eq!(frames.len(), 90, "one output frame per tick");
    let shown: Vec<Option<usize>> = frames.iter().map(|f| identify(f, &refs)).collect();
    // After start-up every frame is a camera picture, in camera order.
    let first = shown
        .iter()
        .position(Option::is_some)
        .expect("camera pictures shown");
    assert!(first <= 6, "first picture at tick {first}");
    let ids: Vec<usize> = shown[first..]
        .iter()
        .map(|s| s.expect("only camera pictures"))
        .collect();
    let changes = ids.windows(2).filter(|w| w[0] != w[1]).count();
    for w in ids.windows(2).filter(|w| w[0] != w[1]) {
        assert_eq!(w[1], (w[0] + 1) % 8, "pictures in camera order: {ids:?}");
    }
    // 20 fps into 30: about 2 of every 3 ticks show a new picture.
    let ticks = ids.len() as f64;
    let ratio = changes as f64 / ticks;
    assert!(
        (0.55..0.75).contains(&ratio),
        "new picture on {changes} of {ticks} ticks"
    );
    let stats = src.stats();
    assert!(
        stats.repeated.load(Ordering::Relaxed) >= 20,
        "repeats counted"
    );
}

#[test]
fn fast_camera_is_dropped_to_a_constant_frame_rate() {
    let refs = references();
    let clock = MediaClock::start_now();
    let opener = ScriptedOpener::new(vec![Some(RecordedCamera::new(mode(60), moving_frames()))]);
    let mut src = CameraSource::start(Box::new(opener), OUT.0, OUT.1, 30, clock).unwrap();
    let frames = run_ticks(&mut src, clock, 30, 3);
    let ids: Vec<usize> = frames.iter().filter_map(|f| identify(f, &refs)).collect();
    assert!(
        ids.len() >= 80,
        "camera pictures on {} of 90 ticks",
        ids.len()
    );
    // 60 into 30: every tick moves on by about two pictures.
    let steps: Vec<usize> = ids.windows(2).map(|w| (w[1] + 8 - w[0]) % 8).collect();
    let twos = steps.iter().filter(|&&s| s == 2).count();
    assert!(twos as f64 >= 0.7 * steps.len() as f64, "steps {steps:?}");
    let dropped = src.stats().dropped.load(Ordering::Relaxed);
    assert!((60..=110).contains(&dropped), "dropped {dropped}");
}

fn is_slate(f: &I420Frame) -> bool {
    // The slate's background, sampled in a corner away from the text.
    (f.mean_luma(0, 0, 16, 16) - 40.0).abs() < 1.0
}

#[test]
fn unplugged_camera_shows_the_slate_then_resumes() {
    let refs = references();
    let clock = MediaClock::start_now();
    let cam = RecordedCamera::new(mode(30), moving_frames());
    // Works for 30 pictures, is gone for two reopen attempts, then is back.
    let opener = ScriptedOpener::new(vec![
        Some(cam.clone().fail_after(30)),
        None,
        None,
        Some(cam),
    ]);
    let mut src = CameraSource::start(Box::new(opener), OUT.0, OUT.1, 30, clock).unwrap();
    let frames = run_ticks(&mut src, clock, 30, 6);
    let kinds: Vec<char> = frames
        .iter()
        .map(|f| match (identify(f, &refs), is_slate(f)) {
            (Some(_), _) => 'c',
            (None, true) => 's',
            (None, false) => '?',
        })
        .collect();
    let s: String = kinds.iter().collect();
    // camera, (last picture held briefly), slate, camera again.
    let first_slate = s.find('s').unwrap_or_else(|| panic!("no slate: {s}"));
    let back = s[first_slate..]
        .find('c')
        .map(|i| i + first_slate)
        .unwrap_or_else(|| panic!("never resumed: {s}"));
    assert!(s[..first_slate].contains('c'), "{s}");
    assert!(s[back..].chars().filter(|&c| c == 'c').count() >= 20, "{s}");
    // Black until the first picture arrives, then only pictures and the slate.
    assert!(
        !s.trim_start_matches('?').contains('?'),
        "only camera pictures and the slate: {s}"
    );
    let stats = src.stats();
    assert_eq!(stats.losses.load(Ordering::Relaxed), 1);
    assert!(!stats.lost.load(Ordering::Relaxed));
}

#[test]
fn missing_camera_is_an_error_before_going_live() {
    let opener = ScriptedOpener::new(vec![None]);
    let e =
        CameraSource::start(Box::new(opener), 1280, 720, 30, MediaClock::start_now()).unwrap_err();
    assert!(matches!(e, SourceError::NotFound(_)), "{e}");
    assert_eq!(e.to_string(), "no camera found");
}
