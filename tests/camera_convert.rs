//! The camera conversion path against ffmpeg: the same recorded camera
//! pictures (MJPEG as webcams send it, YUYV, NV12) converted by our path and
//! by ffmpeg's swscale must agree (PSNR per plane).

use std::path::{Path, PathBuf};

use onair_media::convert::{Converter, PixelFormat};
use onair_media::I420Frame;
use onair_tests::{assert_flat_areas_keep_their_colours, ffmpeg_raw, ffmpeg_rgb, psnr};

fn fixture(name: &str) -> PathBuf {
    onair_tests::root()
        .join("src-tauri/crates/media/testdata/camera")
        .join(name)
}

/// ffmpeg's I420 of `input` (raw inputs need `-f rawvideo -pix_fmt -s`).
fn ffmpeg_i420(input_args: &[&str], input: &Path, filter: &str, w: usize, h: usize) -> I420Frame {
    let b = ffmpeg_raw(input_args, input, filter, "yuv420p", w * h * 3 / 2);
    I420Frame {
        width: w,
        height: h,
        y: b[..w * h].to_vec(),
        u: b[w * h..w * h * 5 / 4].to_vec(),
        v: b[w * h * 5 / 4..].to_vec(),
    }
}

fn ours(name: &str, src: (u32, u32), format: PixelFormat, dst: (u32, u32)) -> I420Frame {
    let data = std::fs::read(fixture(name)).unwrap();
    let mut c = Converter::new(src, format, dst).unwrap();
    let mut f = I420Frame::black(dst.0 as usize, dst.1 as usize);
    c.convert(&data, &mut f).unwrap();
    f
}

fn assert_close(what: &str, a: &I420Frame, b: &I420Frame, min_db: [f64; 3]) {
    let got = [psnr(&a.y, &b.y), psnr(&a.u, &b.u), psnr(&a.v, &b.v)];
    for (i, plane) in ["Y", "U", "V"].iter().enumerate() {
        assert!(
            got[i] >= min_db[i],
            "{what}: {plane} PSNR {:.1} dB < {} (Y/U/V {:.1}/{:.1}/{:.1})",
            got[i],
            min_db[i],
            got[0],
            got[1],
            got[2]
        );
    }
    eprintln!(
        "{what}: PSNR Y/U/V {:.1}/{:.1}/{:.1} dB",
        got[0], got[1], got[2]
    );
}

#[test]
fn webcam_mjpeg_converts_like_ffmpeg() {
    let ours = ours(
        "bars_640x480_avi1.mjpg",
        (640, 480),
        PixelFormat::Mjpeg,
        (640, 480),
    );
    let theirs = ffmpeg_i420(
        &[],
        &fixture("bars_640x480.mjpg"),
        "scale=out_range=tv",
        640,
        480,
    );
    // ffmpeg converts the JPEG's own 4:2:0 chroma directly; ours goes
    // through RGB (zune-jpeg upsamples, yuvutils-rs subsamples again), which
    // costs a little chroma detail: measured 49.2/38.1/34.4 dB.
    assert_close("mjpeg 640x480", &ours, &theirs, [45.0, 35.0, 33.0]);
}

#[test]
fn yuyv_converts_like_ffmpeg() {
    let ours = ours(
        "bars_192x144.yuyv",
        (192, 144),
        PixelFormat::Yuyv,
        (192, 144),
    );
    let raw = ["-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", "192x144"];
    let theirs = ffmpeg_i420(&raw, &fixture("bars_192x144.yuyv"), "null", 192, 144);
    // Luma is copied and chroma is the mean of each two rows: exactly
    // what swscale does.
    assert_eq!(ours, theirs);
}

#[test]
fn nv12_converts_exactly() {
    let ours = ours(
        "bars_192x144.nv12",
        (192, 144),
        PixelFormat::Nv12,
        (192, 144),
    );
    let raw = ["-f", "rawvideo", "-pix_fmt", "nv12", "-s", "192x144"];
    let theirs = ffmpeg_i420(&raw, &fixture("bars_192x144.nv12"), "null", 192, 144);
    assert_eq!(ours, theirs);
}

#[test]
fn four_by_three_camera_is_centre_cropped_and_scaled_like_ffmpeg() {
    // 4:3 into 16:9: the middle 192x108 rows, scaled to 160x90.
    let ours = ours(
        "bars_192x144.yuyv",
        (192, 144),
        PixelFormat::Yuyv,
        (160, 90),
    );
    let raw = ["-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", "192x144"];
    let theirs = ffmpeg_i420(
        &raw,
        &fixture("bars_192x144.yuyv"),
        "crop=192:108:0:18,scale=160:90:flags=bilinear",
        160,
        90,
    );
    assert_close("yuyv 192x144 -> 160x90", &ours, &theirs, [45.0, 40.0, 40.0]);
    // And up: 640x480 MJPEG into a 1280x720 stream.
    let ours = ours_up();
    let theirs = ffmpeg_i420(
        &[],
        &fixture("bars_640x480.mjpg"),
        // An HD stream is BT.709.
        "crop=640:360:0:60,scale=1280:720:flags=bilinear+accurate_rnd+full_chroma_int:out_range=tv:out_color_matrix=bt709",
        1280,
        720,
    );
    assert_close(
        "mjpeg 640x480 -> 1280x720",
        &ours,
        &theirs,
        [45.0, 35.0, 33.0],
    );
}

fn ours_up() -> I420Frame {
    ours(
        "bars_640x480_avi1.mjpg",
        (640, 480),
        PixelFormat::Mjpeg,
        (1280, 720),
    )
}

#[test]
fn camera_pictures_keep_their_colours_in_an_hd_stream() {
    // MJPEG (full-range BT.601 inside) into a BT.709 stream.
    let reference = ffmpeg_rgb(
        &[],
        &fixture("bars_640x480.mjpg"),
        "crop=640:360:0:60,scale=1280:720:flags=bilinear+accurate_rnd+full_chroma_int",
        1280,
        720,
    );
    assert_flat_areas_keep_their_colours("mjpeg 640x480 -> 1280x720", &ours_up(), &reference);
    // Raw YUYV (BT.601 limited) re-expressed in BT.709.
    let ours = ours(
        "bars_192x144.yuyv",
        (192, 144),
        PixelFormat::Yuyv,
        (1280, 720),
    );
    let raw = ["-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", "192x144"];
    let reference = ffmpeg_rgb(
        &raw,
        &fixture("bars_192x144.yuyv"),
        "crop=192:108:0:18,scale=1280:720:flags=bilinear+accurate_rnd+full_chroma_int:in_range=tv",
        1280,
        720,
    );
    assert_flat_areas_keep_their_colours("yuyv 192x144 -> 1280x720", &ours, &reference);
}
