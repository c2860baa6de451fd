//! `onair`: stream headless with the same engine as the app.
//!
//! ```text
//! onair stream [OPTIONS] <DEST>...     publish to one or more rtmp:// URLs
//! onair bench  [OPTIONS] <DEST>        stream, then print CPU, RSS and latency figures
//! onair check  [OPTIONS] [DEST]...     stream to the built-in stream check (and any DEST), print its report
//! onair devices                        list cameras (with their modes) and microphones, as JSON
//! ```
//!
//! `--record FILE` (stream and check) also records the encoded stream to a
//! fragmented MP4 file.
//!
//! Exit status: 0 after a clean stop with every destination live until
//! then, 2 bad usage, 3 every destination failed for good (for example the
//! key was rejected), 4 some destination never went live or failed for
//! good while others streamed (each is named, by redacted URL, with why).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use onair_engine::{AudioInput, Engine, EngineConfig, VideoInput};
use onair_media::{AudioSettings, H264Config, PipelineConfig};
use onair_output::{Destination, OutputEvent, OutputStats};
use serde::Serialize;

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
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Clone)]
struct StreamArgs {
    /// rtmp://host[:port]/app[/...]/<key> (the last path segment, query string included, is the key)
    #[arg(value_name = "DEST")]
    dests: Vec<String>,
    /// Video source: test | camera[:N] (N from `onair devices`; default 0)
    #[arg(long)]
    video: Option<String>,
    /// Audio source: tone | mic[:NAME] | none (NAME: a device id from
    /// `onair devices`, or part of its name; default: the system's input)
    #[arg(long)]
    audio: Option<String>,
    /// Output size, WxH
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    size: (usize, usize),
    /// Frames per second
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// Video bitrate, kbit/s
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    video_bitrate: u32,
    /// Audio bitrate, kbit/s
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u32).range(32..=320))]
    audio_bitrate: u32,
    /// Seconds between keyframes
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    keyframe_interval: u32,
    /// Stop cleanly after this much media time (seconds); default: until SIGINT/SIGTERM
    #[arg(long)]
    duration: Option<f64>,
    /// One line per destination per second on stdout
    #[arg(long, value_enum)]
    stats: Option<StatsFormat>,
    /// Lower the video bitrate while a destination stays congested; climb back once clear
    #[arg(long)]
    dynamic_bitrate: bool,
    /// Also record the encoded stream to this fragmented MP4 file (a new file)
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    /// Also stream to the built-in stream check and print its report at the end
    #[arg(long)]
    check: bool,
    /// Save the stream check's final report here, as JSON
    #[arg(long, value_name = "FILE")]
    report: Option<std::path::PathBuf>,
    /// Profiles file to judge the stream against (default: the app's)
    #[arg(long, value_name = "FILE")]
    profiles: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Seconds of media to stream (default 60)
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatsFormat {
    Json,
    Text,
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

const EXIT_USAGE: u8 = 2;
const EXIT_ALL_FAILED: u8 = 3;
const EXIT_SOME_FAILED: u8 = 4;

fn usage_error(msg: &str) -> ExitCode {
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
    }
}

fn devices() -> ExitCode {
    let cameras: Vec<_> = onair_media::list_cameras()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "index": c.index,
                "name": c.name,
                "modes": c.modes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mics: Vec<_> = onair_media::mic::list_microphones()
        .into_iter()
        .map(|m| serde_json::json!({"id": m.id, "name": m.name, "default": m.default}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"cameras": cameras, "microphones": mics})
    );
    ExitCode::SUCCESS
}

fn engine_config(args: &StreamArgs) -> Result<EngineConfig, String> {
    // Source names are the engine's (the app's settings use the same).
    let video: VideoInput = args
        .video
        .as_deref()
        .unwrap_or("test")
        .parse()
        .map_err(|e: onair_engine::SourceNameError| e.to_string())?;
    let audio: AudioInput = args
        .audio
        .as_deref()
        .unwrap_or("tone")
        .parse()
        .map_err(|e: onair_engine::SourceNameError| e.to_string())?;
    let duration = match args.duration {
        None => None,
        Some(d) if d.is_finite() && d > 0.0 && d < 1e7 => Some(Duration::from_secs_f64(d)),
        Some(_) => return Err("--duration must be a positive number of seconds".into()),
    };
    Ok(EngineConfig {
        pipeline: PipelineConfig {
            video: H264Config {
                width: args.size.0,
                height: args.size.1,
                fps: args.fps,
                bitrate_kbps: args.video_bitrate,
                keyframe_interval_s: args.keyframe_interval,
            },
            audio: Some(AudioSettings {
                bitrate_kbps: args.audio_bitrate,
            }),
            duration,
        },
        video,
        audio,
        dynamic_bitrate: args.dynamic_bitrate,
        record: args.record.clone(),
        ..EngineConfig::default()
    })
}

#[derive(Serialize)]
struct StatsLine<'a> {
    t: f64,
    #[serde(flatten)]
    stats: &'a OutputStats,
}

fn print_stats(format: Option<StatsFormat>, t: f64, stats: &[OutputStats]) {
    for s in stats {
        match format {
            Some(StatsFormat::Json) => {
                if let Ok(line) = serde_json::to_string(&StatsLine {
                    t: (t * 10.0).round() / 10.0,
                    stats: s,
                }) {
                    println!("{line}");
                }
            }
            Some(StatsFormat::Text) => {
                let latency = s
                    .latency_ms
                    .map_or("-".to_string(), |l| format!("{l:.0} ms"));
                println!(
                    "{t:6.1}s {} {:?} {:.0} kbps latency {latency} queue {} ms dropped {} reconnects {}{}",
                    s.dest,
                    s.state,
                    s.bitrate_kbps,
                    s.queue_ms,
                    s.dropped_frames,
                    s.reconnects,
                    s.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
                );
            }
            None => {}
        }
    }
}

/// One line per second about the camera and the microphone, when used.
fn print_source_stats(format: Option<StatsFormat>, t: f64, engine: &Engine) {
    use std::sync::atomic::Ordering::Relaxed;
    let t = (t * 10.0).round() / 10.0;
    let finite = |x: f32| x.is_finite().then_some((x * 10.0).round() / 10.0);
    let mut lines = Vec::new();
    if let Some(m) = engine.mic_stats() {
        let level = engine.audio_level();
        lines.push(serde_json::json!({
            "t": t,
            "source": "mic",
            "peak_dbfs": level.and_then(|l| finite(l.peak_dbfs())),
            "rms_dbfs": level.and_then(|l| finite(l.rms_dbfs())),
            "offset_ms": m.offset_us.load(Relaxed) as f64 / 1000.0,
            "ratio_ppm": m.ratio_ppm.load(Relaxed),
            "device_rate": m.device_rate.load(Relaxed),
            "device_channels": m.device_channels.load(Relaxed),
            "underruns": m.underruns.load(Relaxed),
            "hard_corrections": m.hard_corrections.load(Relaxed),
            "losses": m.losses.load(Relaxed),
            "lost": m.lost.load(Relaxed),
        }));
    }
    if let Some(c) = engine.camera_stats() {
        lines.push(serde_json::json!({
            "t": t,
            "source": "camera",
            "captured": c.captured.load(Relaxed),
            "dropped": c.dropped.load(Relaxed),
            "repeated": c.repeated.load(Relaxed),
            "bad": c.bad.load(Relaxed),
            "losses": c.losses.load(Relaxed),
            "lost": c.lost.load(Relaxed),
        }));
    }
    for l in lines {
        match format {
            Some(StatsFormat::Json) => println!("{l}"),
            Some(StatsFormat::Text) => println!("{t:6.1}s {l}"),
            None => {}
        }
    }
}

fn stream(args: StreamArgs, bench_seconds: Option<f64>) -> ExitCode {
    let mut dests = Vec::new();
    for d in &args.dests {
        match Destination::parse(d) {
            Ok(d) => dests.push(d),
            Err(e) => return usage_error(&format!("bad destination: {e}")),
        }
    }
    if dests.is_empty() && !args.check && args.record.is_none() {
        return usage_error("nothing to do: give a destination, --check or --record");
    }
    if args.report.is_some() && !args.check {
        return usage_error("--report needs the stream check (onair check, or --check)");
    }
    if let Some(p) = &args.record {
        if p.exists() {
            return usage_error(&format!(
                "{} exists; recordings never overwrite",
                p.display()
            ));
        }
    }
    let config = match engine_config(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("onair: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(args, config, dests, bench_seconds))
}

async fn run(
    args: StreamArgs,
    config: EngineConfig,
    dests: Vec<Destination>,
    bench_seconds: Option<f64>,
) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut sigint), Ok(mut sigterm)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("onair: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let cpu_before = cpu_seconds();
    let ingest = if args.check {
        match onair_check::ingest::CheckIngest::start().await {
            Ok(i) => Some(i),
            Err(e) => {
                eprintln!("onair: cannot start the stream check: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let mut dests = dests;
    if let Some(i) = &ingest {
        dests.push(i.destination());
    }
    let targets = judge_targets(args.profiles.as_deref());
    let engine = match Engine::start(config, dests) {
        Ok(e) => e,
        Err(onair_engine::EngineError::Media(onair_media::MediaError::Source(e))) => {
            // A missing or unusable camera or microphone: nothing went live.
            eprintln!("onair: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(onair_engine::EngineError::Record(e)) => {
            eprintln!("onair: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("onair: cannot start encoding: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let format = args.stats;
    if let (Some(StatsFormat::Json), Some(clock)) = (format, engine.clock()) {
        println!(
            "{}",
            serde_json::json!({"event": "start", "clock_origin_unix_ms": clock.origin_unix_ms()})
        );
    }
    let mut events = engine.manager().subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let outcome = loop {
        tokio::select! {
            _ = sigint.recv() => break "signal",
            _ = sigterm.recv() => break "signal",
            _ = engine.media_ended() => break "duration",
            ev = events.recv() => {
                match ev {
                    Ok(OutputEvent::Connected { dest, ts_base_ms }) => {
                        if let Some(StatsFormat::Json) = format {
                            println!("{}", serde_json::json!({"event": "connected", "dest": dest, "ts_base_ms": ts_base_ms}));
                        }
                    }
                    Ok(OutputEvent::Moved { dest }) => {
                        if let Some(StatsFormat::Json) = format {
                            println!("{}", serde_json::json!({"event": "moved", "dest": dest}));
                        }
                    }
                    Ok(OutputEvent::VideoBitrate { kbps }) => {
                        if let Some(StatsFormat::Json) = format {
                            println!("{}", serde_json::json!({"event": "bitrate", "video_kbps": kbps}));
                        }
                    }
                    Ok(OutputEvent::Failed { .. }) => {
                        if engine.manager().all_failed() {
                            break "failed";
                        }
                    }
                    Err(_) => {}
                }
            }
            _ = tick.tick() => {
                let t = started.elapsed().as_secs_f64();
                print_stats(format, t, &engine.manager().stats());
                print_source_stats(format, t, &engine);
                if let (Some(i), Some(StatsFormat::Json)) = (&ingest, format) {
                    let mut r = i.report();
                    r.judge(&targets);
                    println!("{}", serde_json::json!({"t": (t * 10.0).round() / 10.0, "source": "check", "report": r}));
                }
                if let (Some(r), Some(StatsFormat::Json)) = (engine.recorder().status(), format) {
                    println!("{}", serde_json::json!({"t": (t * 10.0).round() / 10.0, "source": "recording", "status": r}));
                }
            }
        }
    };
    let manager = engine.manager().clone();
    let media_error = manager.media_error();
    let recording = engine.stop_with_recording().await;
    let stats = manager.stats();
    if let Some(r) = &recording {
        println!(
            "{}",
            serde_json::json!({"event": "recording", "summary": r})
        );
        if let Some(e) = &r.error {
            eprintln!("onair: recording: {e}");
        }
    }
    if let Some(i) = ingest {
        i.wait_ended(Duration::from_millis(500)).await;
        let mut r = i.report();
        r.judge(&targets);
        match format {
            Some(StatsFormat::Json) => {
                println!("{}", serde_json::json!({"event": "check", "report": r}))
            }
            _ => print!("{}", r.to_text()),
        }
        if let Some(path) = &args.report {
            if let Err(e) = save_report(path, &r) {
                eprintln!("onair: cannot save the report to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        i.abort();
    }
    print_stats(format, started.elapsed().as_secs_f64(), &stats);
    let shortfalls = shortfalls(&stats);
    for line in &shortfalls {
        eprintln!("onair: {line}");
    }
    if let Some(e) = media_error {
        eprintln!("onair: encoding failed: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(secs) = bench_seconds {
        report_bench(secs, cpu_before, &manager.socket_latencies_us(), &stats);
    }
    if outcome == "failed" || manager.all_failed() {
        return ExitCode::from(EXIT_ALL_FAILED);
    }
    if !shortfalls.is_empty() {
        return ExitCode::from(EXIT_SOME_FAILED);
    }
    ExitCode::SUCCESS
}

/// Destinations that did not stream as asked: never live, or failed for
/// good. One line each, by redacted URL, with why.
fn shortfalls(stats: &[OutputStats]) -> Vec<String> {
    use onair_output::OutputState;
    stats
        .iter()
        .filter_map(|s| {
            let why = s
                .error
                .clone()
                .unwrap_or_else(|| "no answer before the stream ended".into());
            if !s.was_live {
                Some(format!("{}: never went live: {why}", s.dest))
            } else if s.state == OutputState::Failed {
                Some(format!("{}: failed: {why}", s.dest))
            } else {
                None
            }
        })
        .collect()
}

/// What the stream check judges against: the saved profiles (the app's,
/// or `--profiles`), else every platform preset.
fn judge_targets(path: Option<&std::path::Path>) -> Vec<(String, String, String)> {
    let path = path
        .map(std::path::Path::to_path_buf)
        .or_else(onair_profiles::store::default_path);
    let profiles = path
        .filter(|p| p.exists())
        .and_then(|p| onair_profiles::store::Store::new(p).load().ok())
        .map(|(data, _)| data.profiles)
        .unwrap_or_default();
    onair_check::judge_targets(&profiles)
}

/// Writes the report as pretty JSON, atomically.
fn save_report(path: &std::path::Path, r: &onair_check::CheckReport) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
    onair_profiles::store::write_atomic(path, &json).map_err(|e| e.to_string())
}

fn rusage() -> libc::rusage {
    // SAFETY: rusage is a plain C struct of integers (all-zero is a valid
    // value); getrusage writes only within the struct we pass, which lives
    // on this stack frame for the whole call.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    }
}

fn cpu_seconds() -> f64 {
    let u = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn report_bench(seconds: f64, cpu_before: f64, latencies: &[Vec<u32>], stats: &[OutputStats]) {
    let cpu = cpu_seconds() - cpu_before;
    let peak_rss_mib = rusage().ru_maxrss as f64 / 1024.0;
    let mut all: Vec<u32> = latencies.iter().flatten().copied().collect();
    all.sort_unstable();
    let report = serde_json::json!({
        "event": "bench",
        "media_seconds": seconds,
        "cpu_seconds": (cpu * 1000.0).round() / 1000.0,
        "cpu_per_media_second": (cpu / seconds * 1000.0).round() / 1000.0,
        "peak_rss_mib": (peak_rss_mib * 10.0).round() / 10.0,
        "video_packets": all.len(),
        "capture_to_socket_ms": {
            "p50": percentile(&all, 0.5),
            "p99": percentile(&all, 0.99),
            "max": percentile(&all, 1.0),
        },
        "bytes_sent": stats.iter().map(|s| s.bytes_sent).sum::<u64>(),
    });
    println!("{report}");
}
