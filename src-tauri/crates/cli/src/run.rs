//! `onair stream | bench | check`: one engine session from the arguments,
//! lines while it runs, the end's report and the exit status.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use onair_engine::encoding::{parse_crop, split_named, valid_name, EncodingError};
use onair_engine::{
    Encoding, EngineConfig, EngineError, GoLive, NamedDestination, Outcome, Session, SessionError,
};
use onair_media::{AudioSettings, MediaError};
use onair_output::{Destination, OutputEvent};
use onair_profiles::audio::{AudioFilters, AudioMix};

use crate::print::{self, tenths, StatsFormat};
use crate::{usage_error, StreamArgs, EXIT_ALL_FAILED, EXIT_SOME_FAILED, EXIT_USAGE};

/// Checks the arguments, then streams until the duration, a signal, or
/// every destination failed for good.
pub fn stream(args: StreamArgs, bench_seconds: Option<f64>) -> ExitCode {
    let plan = match plan(&args) {
        Ok(p) => p,
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
    rt.block_on(run(args, plan, bench_seconds))
}

/// What the arguments ask for, checked.
struct Plan {
    config: EngineConfig,
    /// Each destination with the index of its encoding.
    dests: Vec<(Destination, usize)>,
}

fn plan(args: &StreamArgs) -> Result<Plan, String> {
    let mut config = engine_config(args)?;
    // Saved destinations bring the encodings saved with them.
    let saved = if args.profile_names.is_empty() && !args.all_profiles {
        None
    } else {
        if !args.encodings.is_empty()
            || args.size.is_some()
            || args.fps.is_some()
            || args.video_bitrate.is_some()
            || args.keyframe_interval.is_some()
        {
            return Err(
                "--profile and --all-profiles stream the encodings saved in the app: leave out \
                 --encoding, --size, --fps, --video-bitrate and --keyframe-interval"
                    .into(),
            );
        }
        let data = crate::saved::load(args.profiles.as_deref())?;
        config.encodings = onair_profiles::edit::encodings(&data.settings);
        Some(data)
    };
    let owned: Vec<String> = config.encodings.iter().map(|e| e.name.clone()).collect();
    let names: Vec<&str> = owned.iter().map(String::as_str).collect();
    let index_of = |name: &str| names.iter().position(|n| *n == name);
    let unknown = |name: &str| {
        format!(
            "unknown encoding '{name}' (the encodings are: {})",
            names.join(", ")
        )
    };
    let mut dests = Vec::new();
    for d in &args.dests {
        let (name, url) = split_named(d, &names);
        // `vertikal+rtmp://…`: a name that is not an encoding.
        if let Some(prefix) = unknown_prefix(d, name) {
            return Err(unknown(prefix));
        }
        let dest = Destination::parse(url).map_err(|e| format!("bad destination: {e}"))?;
        dests.push((dest, name.and_then(index_of).unwrap_or(0)));
    }
    if let Some(data) = &saved {
        let keys = crate::saved::keys();
        for p in crate::saved::select(data, &args.profile_names, args.all_profiles)? {
            dests.push(crate::saved::destination(p, data, &keys)?);
        }
    }
    for c in &args.crops {
        let (name, x) = parse_crop(c).map_err(|e| e.to_string())?;
        let i = index_of(&name).ok_or_else(|| unknown(&name))?;
        config.encodings[i].crop_x = x;
    }
    if let Some(r) = &args.record {
        let (name, file) = split_named(r, &names);
        // `vertikal+show.mp4`: a name that is not an encoding. A file whose
        // name has a '+' is still reachable as `./a+b.mp4`.
        if let Some(prefix) = unknown_prefix(r, name) {
            return Err(format!(
                "{} (to record to a file named '{r}', give it as ./{r})",
                unknown(prefix)
            ));
        }
        let path = std::path::PathBuf::from(file);
        if path.exists() {
            return Err(format!(
                "{} exists; recordings never overwrite",
                path.display()
            ));
        }
        config.record_encoding = name.and_then(index_of).unwrap_or(0);
        config.record = Some(path);
    }
    if dests.is_empty() && !args.check && args.record.is_none() {
        return Err("nothing to do: give a destination, --check or --record".into());
    }
    if args.report.is_some() && !args.check {
        return Err("--report needs the stream check (onair check, or --check)".into());
    }
    Ok(Plan { config, dests })
}

/// The encodings: `--encoding` specs, or the one encoding `main` of
/// `--size/--fps/--video-bitrate/--keyframe-interval` (not both).
fn encodings(args: &StreamArgs) -> Result<Vec<Encoding>, String> {
    if args.encodings.is_empty() {
        let (width, height) = args.size.unwrap_or((1280, 720));
        return Ok(vec![Encoding::main(
            width as u32,
            height as u32,
            args.fps.unwrap_or(30),
            args.video_bitrate.unwrap_or(3000),
            args.keyframe_interval.unwrap_or(2),
        )]);
    }
    if args.size.is_some()
        || args.fps.is_some()
        || args.video_bitrate.is_some()
        || args.keyframe_interval.is_some()
    {
        return Err(
            "--encoding cannot be mixed with --size, --fps, --video-bitrate or \
             --keyframe-interval: give every picture setting in the --encoding specs"
                .into(),
        );
    }
    let mut out: Vec<Encoding> = Vec::new();
    for spec in &args.encodings {
        let e: Encoding = spec.parse().map_err(|e: EncodingError| e.to_string())?;
        if out.iter().any(|o| o.name == e.name) {
            return Err(format!("encoding '{}' is given twice", e.name));
        }
        out.push(e);
    }
    Ok(out)
}

/// A number in a range, or a message naming the flag.
/// The `NAME` of `NAME+…` when `split_named` found no encoding of that
/// name but it has a name's shape (a typo, not part of a URL or a path).
fn unknown_prefix<'a>(s: &'a str, named: Option<&str>) -> Option<&'a str> {
    let (prefix, _) = s.split_once('+').filter(|_| named.is_none())?;
    valid_name(prefix).then_some(prefix)
}

fn in_range(flag: &str, v: f32, lo: f32, hi: f32) -> Result<f32, String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{flag} must be between {lo} and {hi}, not {v}"))
    }
}

/// `on`, `off` or numbers separated by `:` (at most `max`).
fn switch_spec(flag: &str, spec: &str, max: usize) -> Result<Option<Vec<f32>>, String> {
    match spec {
        "on" => Ok(Some(Vec::new())),
        "off" => Ok(None),
        _ => {
            let values: Result<Vec<f32>, _> = spec.split(':').map(str::parse::<f32>).collect();
            match values {
                Ok(v) if !v.is_empty() && v.len() <= max && v.iter().all(|x| x.is_finite()) => {
                    Ok(Some(v))
                }
                _ => Err(format!(
                    "{flag} takes on, off or up to {max} numbers separated by ':', not '{spec}'"
                )),
            }
        }
    }
}

/// The audio mix from the flags.
fn audio_mix(args: &StreamArgs) -> Result<AudioMix, String> {
    let mut mix = AudioMix::default();
    let f = &mut mix.mic.filters;
    if args.filters.as_deref() == Some("voice") {
        *f = AudioFilters::voice();
    }
    if let Some(db) = args.mic_gain {
        f.gain_db = in_range("--mic-gain", db, -20.0, 20.0)?;
    }
    if let Some(s) = &args.noise_suppression {
        f.denoise = s == "on";
    }
    if let Some(spec) = &args.gate {
        let v = switch_spec("--gate", spec, 2)?;
        f.gate = v.is_some();
        if let Some(v) = v {
            if let Some(&open) = v.first() {
                f.gate_open_dbfs = in_range("--gate's open level", open, -90.0, 0.0)?;
                f.gate_close_dbfs = f.gate_close_dbfs.min(open);
            }
            if let Some(&close) = v.get(1) {
                f.gate_close_dbfs =
                    in_range("--gate's close level", close, -90.0, f.gate_open_dbfs)?;
            }
        }
    }
    if let Some(spec) = &args.compressor {
        let v = switch_spec("--compressor", spec, 3)?;
        f.compressor = v.is_some();
        if let Some(v) = v {
            if let Some(&t) = v.first() {
                f.compressor_threshold_dbfs = in_range("--compressor's threshold", t, -60.0, 0.0)?;
            }
            if let Some(&r) = v.get(1) {
                f.compressor_ratio = in_range("--compressor's ratio", r, 1.0, 20.0)?;
            }
            if let Some(&m) = v.get(2) {
                f.compressor_makeup_db = in_range("--compressor's makeup gain", m, 0.0, 24.0)?;
            }
        }
    }
    if let Some(spec) = &args.limiter {
        let v = switch_spec("--limiter", spec, 1)?;
        f.limiter = v.is_some();
        if let Some(&c) = v.as_ref().and_then(|v| v.first()) {
            f.limiter_ceiling_dbfs = in_range("--limiter's ceiling", c, -20.0, 0.0)?;
        }
    }
    if let Some(db) = args.mic_volume {
        mix.mic.volume_db = in_range("--mic-volume", db, -60.0, 10.0)?;
    }
    if let Some(db) = args.desktop_volume {
        mix.desktop.volume_db = in_range("--desktop-volume", db, -60.0, 10.0)?;
    }
    if args.desktop_volume.is_some() && args.desktop_audio.is_none() {
        return Err("--desktop-volume needs --desktop-audio".into());
    }
    for m in &args.mute {
        match m.as_str() {
            "mic" => mix.mic.muted = true,
            "desktop" => mix.desktop.muted = true,
            _ => mix.muted = true,
        }
    }
    mix.desktop_source = args.desktop_audio.clone().unwrap_or_default();
    Ok(mix)
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
    let mix = audio_mix(args)?;
    Ok(EngineConfig {
        encodings: encodings(args)?,
        audio_settings: Some(AudioSettings {
            bitrate_kbps: args.audio_bitrate,
        }),
        duration,
        video,
        audio,
        desktop: mix.desktop_device(),
        mix,
        dynamic_bitrate: args.dynamic_bitrate,
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

async fn run(args: StreamArgs, plan: Plan, bench_seconds: Option<f64>) -> ExitCode {
    let Plan { config, dests } = plan;
    let names: Vec<String> = config.encodings.iter().map(|e| e.name.clone()).collect();
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
            .map(|(i, (dest, encoding))| NamedDestination {
                id: (i + 1).to_string(),
                dest,
                encoding,
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
                    Ok(OutputEvent::Connected { dest, encoding, ts_base_ms }) => {
                        serde_json::json!({"event": "connected", "dest": dest, "encoding": names.get(encoding), "ts_base_ms": ts_base_ms})
                    }
                    Ok(OutputEvent::Moved { dest }) => serde_json::json!({"event": "moved", "dest": dest}),
                    Ok(OutputEvent::VideoBitrate { encoding, kbps }) => {
                        serde_json::json!({"event": "bitrate", "encoding": names.get(encoding), "video_kbps": kbps})
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
                print::print_stats(format, t, &stats, &names);
                print::print_encoder_stats(format, t, &u.encoders);
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
    print::print_stats(format, started.elapsed().as_secs_f64(), &done.stats, &names);
    for line in done.shortfalls() {
        eprintln!("onair: {line}");
    }
    if let Some(e) = &done.media_error {
        eprintln!("onair: encoding failed: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(secs) = bench_seconds {
        print::report_bench(
            secs,
            cpu_before,
            &done.socket_latencies_us,
            &done.stats,
            &done.encoders,
        );
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
