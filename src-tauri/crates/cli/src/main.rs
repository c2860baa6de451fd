//! `onair`: stream headless with the same engine as the app.
//!
//! ```text
//! onair stream [OPTIONS] <DEST>...     publish to one or more rtmp:// URLs
//! onair bench  [OPTIONS] <DEST>        stream, then print CPU, RSS and latency figures
//! onair check  [OPTIONS] [DEST]...     stream to the built-in stream check (and any DEST), print its report
//! onair devices                        list cameras (with their modes) and microphones, as JSON
//! ```
//!
//! `--record [NAME+]FILE` (stream and check) also records an encoding of
//! the stream (default: the first) to a fragmented MP4 file.
//!
//! Several encodings of one capture: `--encoding NAME=WxH@FPS:KBPS[:KEYFRAME_SECS]`
//! (repeatable; the first is the default), a destination `NAME+rtmp://…`
//! gets encoding NAME, `--crop NAME=X` places a narrower encoding's crop
//! (0.0 left to 1.0 right, default 0.5). Without `--encoding`, `--size`,
//! `--fps`, `--video-bitrate` and `--keyframe-interval` make the one
//! encoding `main`.
//!
//! Exit status: 0 after a clean stop with every destination live until
//! then, 2 bad usage, 3 every destination failed for good (for example the
//! key was rejected), 4 some destination never went live or failed for
//! good while others streamed (each is named, by redacted URL, with why).

mod print;
mod run;
mod saved;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use print::{devices, StatsFormat};
use run::stream;

#[derive(Parser)]
#[command(name = "onair", version, about = "OnAir headless live-stream encoder")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish the stream to one or more destinations.
    Stream(StreamArgs),
    /// Stream to a destination for a while, then print CPU seconds per media
    /// second, peak RSS and capture-to-socket latency of video packets.
    Bench(BenchArgs),
    /// Stream to the built-in stream check (an RTMP ingest on loopback) and
    /// any DEST, then print what it received: codec, profile, level,
    /// resolution, frame rate, keyframe interval, bitrates, audio format,
    /// A/V alignment, gaps, and pass/fail per saved destination.
    Check(CheckArgs),
    /// List cameras (with their modes) and microphones, as JSON.
    Devices,
    /// List the destinations saved in the app (never their keys), as JSON.
    Profiles(ProfilesArgs),
}

#[derive(Args)]
struct ProfilesArgs {
    /// Profiles file (default: the app's)
    #[arg(long, value_name = "FILE")]
    profiles: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Clone)]
pub(crate) struct StreamArgs {
    /// [NAME+]rtmp(s)://host[:port]/app[/...]/<key> (the last path segment, query string included, is the key; NAME+ picks the encoding, default the first)
    #[arg(value_name = "DEST")]
    pub(crate) dests: Vec<String>,
    /// Also stream to a destination saved in the app, by its name (or id): its server, its key from the credential store, its encoding (repeatable)
    #[arg(long = "profile", value_name = "NAME")]
    pub(crate) profile_names: Vec<String>,
    /// Also stream to every destination saved in the app and switched on ("Include when I go live")
    #[arg(long)]
    pub(crate) all_profiles: bool,
    /// An encoding NAME=WxH@FPS:KBPS[:KEYFRAME_SECS] (repeatable; the first is the default), e.g. vertical=720x1280@30:2500
    #[arg(long = "encoding", value_name = "SPEC")]
    pub(crate) encodings: Vec<String>,
    /// Horizontal crop position of an encoding narrower than the capture, NAME=X, 0.0 (left) to 1.0 (right); default 0.5
    #[arg(long = "crop", value_name = "NAME=X")]
    pub(crate) crops: Vec<String>,
    /// Video source: test | camera[:N] (N from `onair devices`; default 0)
    #[arg(long)]
    pub(crate) video: Option<String>,
    /// Audio source: tone | mic[:NAME] | none (NAME: a device id from
    /// `onair devices`, or part of its name; default: the system's input)
    #[arg(long)]
    pub(crate) audio: Option<String>,
    /// Mix in desktop audio, what the computer plays: the default output's monitor, or =NAME (a source from `onair devices`)
    #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "default")]
    pub(crate) desktop_audio: Option<String>,
    /// Microphone filters: voice (noise suppression, noise gate, compressor, limiter at -1 dBFS: clean and levelled) | off [default: off]; the flags below adjust single filters
    #[arg(long, value_name = "PRESET", value_parser = ["voice", "off"])]
    pub(crate) filters: Option<String>,
    /// Microphone gain before its filters, dB (-20 to 20)
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub(crate) mic_gain: Option<f32>,
    /// Noise suppression (RNNoise) on the microphone: on | off
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub(crate) noise_suppression: Option<String>,
    /// Noise gate on the microphone: on | off | OPEN_DBFS[:CLOSE_DBFS] (e.g. -45:-50; opens above, closes below)
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub(crate) gate: Option<String>,
    /// Compressor on the microphone: on | off | THRESHOLD_DBFS[:RATIO[:MAKEUP_DB]] (e.g. -20:3:4)
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub(crate) compressor: Option<String>,
    /// Limiter on the microphone (5 ms look-ahead, never over its ceiling): on | off | CEILING_DBFS (e.g. -1)
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub(crate) limiter: Option<String>,
    /// Microphone (or tone) volume after its filters, dB (-60 to 10) [default: 0]
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub(crate) mic_volume: Option<f32>,
    /// Desktop audio volume, dB (-60 to 10) [default: 0]
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub(crate) desktop_volume: Option<f32>,
    /// Start with a source muted (the stream carries silence): mic | desktop | all (repeatable)
    #[arg(long, value_name = "SOURCE", value_parser = ["mic", "desktop", "all"])]
    pub(crate) mute: Vec<String>,
    /// Output size, WxH [default: 1280x720] (without --encoding)
    #[arg(long, value_parser = parse_size)]
    pub(crate) size: Option<(usize, usize)>,
    /// Frames per second [default: 30] (without --encoding)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub(crate) fps: Option<u32>,
    /// Video bitrate, kbit/s [default: 3000] (without --encoding)
    #[arg(long, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    pub(crate) video_bitrate: Option<u32>,
    /// Audio bitrate, kbit/s
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u32).range(32..=320))]
    pub(crate) audio_bitrate: u32,
    /// Seconds between keyframes [default: 2] (without --encoding)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) keyframe_interval: Option<u32>,
    /// Stop cleanly after this much media time (seconds); default: until SIGINT/SIGTERM
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// One line per destination per second on stdout
    #[arg(long, value_enum)]
    pub(crate) stats: Option<StatsFormat>,
    /// Lower the video bitrate while a destination stays congested; climb back once clear
    #[arg(long)]
    pub(crate) dynamic_bitrate: bool,
    /// Also record an encoding (NAME+, default the first) to this fragmented MP4 file (a new file)
    #[arg(long, value_name = "[NAME+]FILE")]
    pub(crate) record: Option<String>,
    /// Also stream to the built-in stream check and print its report at the end
    #[arg(long)]
    pub(crate) check: bool,
    /// Save the stream check's final report here, as JSON
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<std::path::PathBuf>,
    /// Profiles file (default: the app's): what --profile and --all-profiles read, and what the stream check judges against
    #[arg(long, value_name = "FILE")]
    pub(crate) profiles: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Seconds of media to stream (default 60)
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size must be WxH, got '{s}'"))?;
    let w: usize = w.parse().map_err(|_| format!("bad width in '{s}'"))?;
    let h: usize = h.parse().map_err(|_| format!("bad height in '{s}'"))?;
    if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "size {w}x{h} must be even, from 16x16 to 3840x2160"
        ));
    }
    Ok((w, h))
}

pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_ALL_FAILED: u8 = 3;
pub(crate) const EXIT_SOME_FAILED: u8 = 4;

pub(crate) fn usage_error(msg: &str) -> ExitCode {
    eprintln!("onair: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONAIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cli.command {
        Command::Stream(args) => stream(args, None),
        Command::Bench(b) => {
            let mut args = b.stream;
            args.duration = Some(b.seconds);
            stream(args, Some(b.seconds))
        }
        Command::Check(c) => {
            let mut args = c.stream;
            args.check = true;
            args.duration.get_or_insert(10.0);
            stream(args, None)
        }
        Command::Devices => devices(),
        Command::Profiles(p) => saved::list(p.profiles.as_deref()),
    }
}
