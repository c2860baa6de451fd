//! True colours: the test pattern recorded at HD and SD sizes carries its
//! colour description (ffprobe), and decoded by ffmpeg honouring it the 75 %
//! bars come back within 3/255 of their R'G'B' values; the stream check
//! reports the colour the stream signals.

use std::path::Path;
use std::process::Command;

use onair_media::pattern::BARS_RGB;
use onair_tests::{binary, ffprobe_json};

/// Records two seconds of the test pattern at `size` to a new file.
fn record(dir: &Path, size: &str) -> std::path::PathBuf {
    let path = dir.join(format!("bars-{size}.mp4"));
    let out = Command::new(binary("onair"))
        .args(["stream", "--duration", "2", "--size", size, "--record"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// `(color_space, color_primaries, color_transfer, color_range)` of the
/// video stream.
fn colour_description(path: &Path) -> [String; 4] {
    let j = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "stream=color_space,color_primaries,color_transfer,color_range",
        ],
    );
    let s = &j["streams"][0];
    [
        "color_space",
        "color_primaries",
        "color_transfer",
        "color_range",
    ]
    .map(|k| s[k].as_str().unwrap_or("unknown").to_owned())
}

/// Frame 5 as R'G'B', converted by ffmpeg from whatever matrix and range
/// the stream signals (nothing forced), with exact rounding.
fn decode_rgb(path: &Path, w: usize, h: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            "select=eq(n\\,5),scale=out_range=pc:flags=accurate_rnd+full_chroma_int+bitexact",
            "-frames:v",
            "1",
            "-pix_fmt",
            "rgb24",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), w * h * 3);
    out.stdout
}

/// The largest error of any channel of any bar (an 8x8 mean at the bar's
/// centre, below the text and above the moving square).
fn worst_bar_error(rgb: &[u8], w: usize, h: usize) -> f64 {
    let y0 = h * 45 / 100;
    let mut worst: f64 = 0.0;
    for (i, want) in BARS_RGB.iter().enumerate() {
        let cx = (w * i / 7 + w * (i + 1) / 7) / 2;
        let mut acc = [0.0; 3];
        for y in y0 - 4..y0 + 4 {
            for x in cx - 4..cx + 4 {
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += f64::from(rgb[(y * w + x) * 3 + c]);
                }
            }
        }
        let got = acc.map(|a| a / 64.0);
        for (g, e) in got.iter().zip([want.0, want.1, want.2]) {
            worst = worst.max((g - f64::from(e)).abs());
        }
    }
    worst
}

#[test]
fn recordings_say_their_colours_and_the_bars_decode_true_at_hd_and_sd() {
    let dir = tempfile::tempdir().unwrap();
    for (size, w, h, want) in [
        ("1280x720", 1280, 720, ["bt709", "bt709", "bt709", "tv"]),
        (
            "640x360",
            640,
            360,
            ["smpte170m", "smpte170m", "smpte170m", "tv"],
        ),
    ] {
        let path = record(dir.path(), size);
        assert_eq!(colour_description(&path), want.map(str::to_owned), "{size}");
        let worst = worst_bar_error(&decode_rgb(&path, w, h), w, h);
        eprintln!("{size}: bars within {worst:.1}/255");
        assert!(worst <= 3.0, "{size}: a bar is {worst:.1}/255 off");
    }
}

#[test]
fn the_stream_check_reports_the_signalled_colour() {
    let out = Command::new(binary("onair"))
        .args([
            "check",
            "--duration",
            "2",
            "--size",
            "1280x720",
            "--stats",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let report =
        onair_tests::event_line(&stdout, "check").expect("the final report")["report"].clone();
    let c = &report["video"]["colour"];
    assert_eq!(c["signalled"], true, "{c}");
    assert_eq!(c["matrix"], "BT.709");
    assert_eq!(c["range"], "limited");
    assert!(
        !report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap_or("").contains("colour")),
        "{report}"
    );
}

/// Collects the encoder's output as a raw H.264 stream (parameter sets
/// first), as a decoder reads it.
#[derive(Default)]
struct AnnexB(std::sync::Mutex<Vec<u8>>);

impl onair_media::MediaSink for AnnexB {
    fn on_media(&self, m: onair_media::MediaMessage) {
        let mut out = self.0.lock().unwrap();
        match m {
            onair_media::MediaMessage::VideoConfig(c) => {
                for nal in [&c.sps, &c.pps] {
                    out.extend_from_slice(&[0, 0, 0, 1]);
                    out.extend_from_slice(nal);
                }
            }
            onair_media::MediaMessage::Packet(p) if p.kind == onair_media::MediaKind::Video => {
                out.extend_from_slice(&p.data);
            }
            _ => {}
        }
    }
}

#[test]
fn a_camera_s_mjpeg_keeps_its_colours_through_the_encoder_and_the_signalled_decode() {
    use onair_media::camera::{RecordedCamera, ScriptedOpener};
    use onair_media::{
        CameraMode, CameraSource, MediaClock, Pipeline, PipelineConfig, PixelFormat,
    };
    let fixture = onair_tests::root().join("src-tauri/crates/media/testdata/camera");
    let jpeg = std::fs::read(fixture.join("bars_640x480_avi1.mjpg")).unwrap();
    let mode = CameraMode {
        width: 640,
        height: 480,
        fps: 30,
        format: PixelFormat::Mjpeg,
    };
    let opener = ScriptedOpener::new(vec![Some(RecordedCamera::new(mode, vec![jpeg]))]);
    let clock = MediaClock::start_now();
    let camera = CameraSource::start(Box::new(opener), 1280, 720, 30, clock).unwrap();
    let sink = std::sync::Arc::new(AnnexB::default());
    let config = PipelineConfig {
        audio: None,
        duration: Some(std::time::Duration::from_secs(1)),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(config, Box::new(camera), None, clock, sink.clone()).unwrap();
    pipeline.join().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let h264 = dir.path().join("camera.h264");
    std::fs::write(&h264, &*sink.0.lock().unwrap()).unwrap();
    assert_eq!(
        colour_description(&h264),
        ["bt709", "bt709", "bt709", "tv"].map(str::to_owned)
    );
    // Decoded as the stream says, back to R'G'B' ...
    let ours = onair_tests::ffmpeg_rgb(
        &[],
        &h264,
        "select=eq(n\\,20),scale=out_range=pc:flags=accurate_rnd+full_chroma_int+bitexact",
        1280,
        720,
    );
    // ... against ffmpeg's own R'G'B' of the JPEG, cropped and scaled alike.
    let reference = onair_tests::ffmpeg_rgb(
        &[],
        &fixture.join("bars_640x480.mjpg"),
        "crop=640:360:0:60,scale=1280:720:flags=bilinear+accurate_rnd+full_chroma_int",
        1280,
        720,
    );
    onair_tests::assert_flat_rgb_areas_agree(
        "camera mjpeg -> h264 1280x720",
        &ours,
        &reference,
        1280,
        720,
    );
}
