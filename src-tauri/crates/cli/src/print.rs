//! What `onair` prints: a line per destination (and per source) per
//! second, the device list, the benchmark's figures.

use std::process::ExitCode;

use clap::ValueEnum;
use onair_engine::{EncoderUpdate, Engine};
use onair_media::mix::SourceKind;
use onair_output::OutputStats;
use serde::Serialize;

/// `--stats` lines.
#[derive(Clone, Copy, ValueEnum)]
pub enum StatsFormat {
    /// One JSON object per line.
    Json,
    /// For people.
    Text,
}

/// Rounded to a tenth: the `t` of a line, a level in dB.
pub fn tenths(t: f64) -> f64 {
    (t * 10.0).round() / 10.0
}

/// `onair devices`: cameras (with their modes) and microphones, as JSON.
pub fn devices() -> ExitCode {
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
    let desktop: Vec<_> = onair_media::mic::list_desktop_sources()
        .into_iter()
        .map(|m| serde_json::json!({"id": m.id, "name": m.name, "default": m.default}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"cameras": cameras, "microphones": mics, "desktop_audio": desktop})
    );
    ExitCode::SUCCESS
}

#[derive(Serialize)]
struct StatsLine<'a> {
    t: f64,
    /// The name of the encoding it gets.
    encoding: &'a str,
    #[serde(flatten)]
    stats: &'a OutputStats,
}

/// One line per destination; `names` are the encodings' names by index.
pub fn print_stats(format: Option<StatsFormat>, t: f64, stats: &[OutputStats], names: &[String]) {
    for s in stats {
        let encoding = names.get(s.encoding as usize).map_or("", String::as_str);
        match format {
            Some(StatsFormat::Json) => {
                if let Ok(line) = serde_json::to_string(&StatsLine {
                    t: tenths(t),
                    encoding,
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
                    "{t:6.1}s {} [{encoding}] {:?} {:.0} kbps latency {latency} queue {} ms dropped {} reconnects {}{}",
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

/// A crop position as the creator gave it: 0.3, not f32's
/// 0.30000001192092896 (positions are kept to a thousandth).
fn crop_figure(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}

/// One line per encoding per second: its picture, rate, bitrate and the
/// frames it skipped (it fell behind real time).
pub fn print_encoder_stats(format: Option<StatsFormat>, t: f64, encoders: &[EncoderUpdate]) {
    for e in encoders {
        match format {
            Some(StatsFormat::Json) => println!(
                "{}",
                serde_json::json!({
                    "t": tenths(t),
                    "source": "encoder",
                    "encoding": e.name,
                    "width": e.width,
                    "height": e.height,
                    "fps": e.fps,
                    "kbps": e.kbps,
                    "encoded": e.encoded,
                    "skipped": e.skipped,
                    "crop_x": crop_figure(e.crop_x),
                })
            ),
            Some(StatsFormat::Text) => println!(
                "{t:6.1}s encoder {} {}x{}@{} {} kbps encoded {} skipped {}",
                e.name, e.width, e.height, e.fps, e.kbps, e.encoded, e.skipped
            ),
            None => {}
        }
    }
}

/// One line per second about the camera, the microphone, desktop audio
/// and the mix, when used.
pub fn print_source_stats(format: Option<StatsFormat>, t: f64, engine: &Engine) {
    use std::sync::atomic::Ordering::Relaxed;
    let t = tenths(t);
    // Rounded as f64: -17.1, not f32's -17.100000381469727.
    let finite = |x: f32| x.is_finite().then(|| tenths(f64::from(x)));
    let mut lines = Vec::new();
    let mix = engine.mix();
    // A capture source's line: its health, its levels before and after its
    // filters, its gate, fader and mute.
    let capture_line = |kind: SourceKind, m: &onair_media::mic::MicStats| {
        let control = mix.and_then(|x| x.source(kind));
        serde_json::json!({
            "t": t,
            "source": kind.as_str(),
            "peak_dbfs": control.and_then(|c| finite(c.post.peak_dbfs())),
            "rms_dbfs": control.and_then(|c| finite(c.post.rms_dbfs())),
            "pre_peak_dbfs": control.and_then(|c| finite(c.pre.peak_dbfs())),
            "pre_rms_dbfs": control.and_then(|c| finite(c.pre.rms_dbfs())),
            "gate": control.and_then(|c| c.filters().gate.map(|_| if c.gate_open() { "open" } else { "closed" })),
            "volume_db": control.map(|c| c.fader_db()),
            "muted": control.is_some_and(|c| c.muted()),
            "offset_ms": m.offset_us.load(Relaxed) as f64 / 1000.0,
            "ratio_ppm": m.ratio_ppm.load(Relaxed),
            "device_rate": m.device_rate.load(Relaxed),
            "device_channels": m.device_channels.load(Relaxed),
            "underruns": m.underruns.load(Relaxed),
            "hard_corrections": m.hard_corrections.load(Relaxed),
            "losses": m.losses.load(Relaxed),
            "lost": m.lost.load(Relaxed),
        })
    };
    if let Some(m) = engine.mic_stats() {
        lines.push(capture_line(SourceKind::Mic, m));
    }
    if let Some(m) = engine.desktop_stats() {
        lines.push(capture_line(SourceKind::Desktop, m));
    }
    if let Some(x) = mix {
        lines.push(serde_json::json!({
            "t": t,
            "source": "mix",
            "peak_dbfs": finite(x.level.peak_dbfs()),
            "rms_dbfs": finite(x.level.rms_dbfs()),
            "clipping": x.clipping(),
            "clips": x.clips(),
            "muted": x.muted(),
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

/// CPU seconds this process used so far (user + system).
pub fn cpu_seconds() -> f64 {
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

/// `onair bench`'s line: CPU per media second, peak RSS, capture-to-socket
/// latency percentiles.
pub fn report_bench(
    seconds: f64,
    cpu_before: f64,
    latencies: &[Vec<u32>],
    stats: &[OutputStats],
    encoders: &[EncoderUpdate],
) {
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
        "encoders": encoders
            .iter()
            .map(|e| serde_json::json!({
                "encoding": e.name,
                "width": e.width,
                "height": e.height,
                "fps": e.fps,
                "encoded": e.encoded,
                "skipped": e.skipped,
                "encode_ms_per_frame": e.encode_ms,
                "scale_ms_per_frame": e.scale_ms,
            }))
            .collect::<Vec<_>>(),
    });
    println!("{report}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_positions_print_as_given() {
        assert_eq!(serde_json::json!(crop_figure(0.3)).to_string(), "0.3");
        assert_eq!(serde_json::json!(crop_figure(0.5)).to_string(), "0.5");
        assert_eq!(serde_json::json!(crop_figure(1.0)).to_string(), "1.0");
        assert_eq!(serde_json::json!(crop_figure(0.125)).to_string(), "0.125");
    }
}
