//! `onair stream | bench | check`: one engine session from the arguments,
//! lines while it runs, the end's report and the exit status.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use onair_engine::{
    EngineConfig, EngineError, GoLive, NamedDestination, Outcome, Session, SessionError,
};
use onair_media::{AudioSettings, H264Config, MediaError, PipelineConfig};
use onair_output::{Destination, OutputEvent};

use crate::print::{self, tenths, StatsFormat};
use crate::{usage_error, StreamArgs, EXIT_ALL_FAILED, EXIT_SOME_FAILED, EXIT_USAGE};

/// Checks the arguments, then streams until the duration, a signal, or
/// every destination failed for good.
pub fn stream(args: StreamArgs, bench_seconds: Option<f64>) -> ExitCode {
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

fn engine_config(args: &StreamArgs) -> Result<EngineConfig, String> {
    // Source names are the engine's (the app's settings use the same).
    let video = args
        .video
        .as_deref()
        .unwrap_or("test")
        .parse()
        .map_err(|e: onair_engine::SourceNameError| e.to_string())?;
    let audio = args
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

/// Why the session could not start, and the exit status for it.
fn start_failed(e: SessionError) -> ExitCode {
    match e {
        // A missing or unusable camera or microphone: nothing went live.
        SessionError::Engine(EngineError::Media(MediaError::Source(e))) => {
            eprintln!("onair: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        SessionError::Engine(EngineError::Media(e)) => {
            eprintln!("onair: cannot start encoding: {e}");
            ExitCode::FAILURE
        }
        e => {
            eprintln!("onair: {e}");
            ExitCode::FAILURE
        }
    }
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
    let cpu_before = print::cpu_seconds();
    let live = GoLive {
        destinations: dests
            .into_iter()
            .enumerate()
            .map(|(i, dest)| NamedDestination {
                id: (i + 1).to_string(),
                dest,
            })
            .collect(),
        check: args.check.then(|| judge_targets(args.profiles.as_deref())),
    };
    let session = match Session::start(config, Some(live)).await {
        Ok(s) => s,
        Err(e) => return start_failed(e),
    };
    let engine = session.engine();
    let started = Instant::now();
    let format = args.stats;
    let json = matches!(format, Some(StatsFormat::Json));
    if let (true, Some(clock)) = (json, engine.clock()) {
        let origin = clock.origin_unix_ms();
        println!(
            "{}",
            serde_json::json!({"event": "start", "clock_origin_unix_ms": origin})
        );
    }
    let mut events = engine.manager().subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = engine.media_ended() => break,
            ev = events.recv() => {
                let line = match ev {
                    Ok(OutputEvent::Connected { dest, ts_base_ms }) => {
                        serde_json::json!({"event": "connected", "dest": dest, "ts_base_ms": ts_base_ms})
                    }
                    Ok(OutputEvent::Moved { dest }) => serde_json::json!({"event": "moved", "dest": dest}),
                    Ok(OutputEvent::VideoBitrate { kbps }) => {
                        serde_json::json!({"event": "bitrate", "video_kbps": kbps})
                    }
                    Ok(OutputEvent::Failed { .. }) if engine.manager().all_failed() => break,
                    Ok(OutputEvent::Failed { .. }) | Err(_) => continue,
                };
                if json {
                    println!("{line}");
                }
            }
            _ = tick.tick() => {
                let t = started.elapsed().as_secs_f64();
                let u = session.update();
                let stats: Vec<_> = u.destinations.into_iter().map(|d| d.stats).collect();
                print::print_stats(format, t, &stats);
                print::print_source_stats(format, t, engine);
                if let (Some(r), true) = (u.check, json) {
                    println!("{}", serde_json::json!({"t": tenths(t), "source": "check", "report": r}));
                }
                if let (Some(r), true) = (u.recording, json) {
                    println!("{}", serde_json::json!({"t": tenths(t), "source": "recording", "status": r}));
                }
            }
        }
    }
    let done = session.stop().await;
    if let Some(r) = &done.recording {
        println!(
            "{}",
            serde_json::json!({"event": "recording", "summary": r})
        );
        if let Some(e) = &r.error {
            eprintln!("onair: recording: {e}");
        }
    }
    if let Some(r) = &done.check {
        match format {
            Some(StatsFormat::Json) => {
                println!("{}", serde_json::json!({"event": "check", "report": r}))
            }
            _ => print!("{}", r.to_text()),
        }
        if let Some(path) = &args.report {
            if let Err(e) = onair_check::save_report(path, r) {
                eprintln!("onair: cannot save the report to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    print::print_stats(format, started.elapsed().as_secs_f64(), &done.stats);
    for line in done.shortfalls() {
        eprintln!("onair: {line}");
    }
    if let Some(e) = &done.media_error {
        eprintln!("onair: encoding failed: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(secs) = bench_seconds {
        print::report_bench(secs, cpu_before, &done.socket_latencies_us, &done.stats);
    }
    match done.outcome() {
        Outcome::AllLive => ExitCode::SUCCESS,
        Outcome::SomeFellShort => ExitCode::from(EXIT_SOME_FAILED),
        Outcome::AllFailed => ExitCode::from(EXIT_ALL_FAILED),
    }
}

/// What the stream check judges against: the saved profiles (the app's,
/// or `--profiles`), else every platform preset.
fn judge_targets(path: Option<&std::path::Path>) -> Vec<onair_check::JudgeTarget> {
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
