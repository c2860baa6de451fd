//! The sources, open whether or not anything is encoded: the camera (or
//! test pattern) with its preview, the microphone, desktop audio and the
//! mix with its meters. The app keeps one open while the Studio is shown,
//! so the creator sees and hears before going live; a stream or a
//! recording attaches its encoders to it and leaves it running.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use onair_media::filters::ChainSettings;
use onair_media::mic::{MicSource, MicStats};
use onair_media::mix::{Mix, MixControl, SourceKind};
use onair_media::preview::{Preview, PreviewTap};
use onair_media::{
    AudioSource, CameraSource, CameraStats, MediaClock, NokhwaOpener, PipelineConfig, TestPattern,
    Tone, VideoSource,
};

use crate::session::{Level, MeterUpdate, SourceMeter};
use crate::{
    apply_mix, chain_of, video_encoding_of, AudioInput, EngineConfig, EngineError, VideoInput,
};
use crate::{PREVIEW_FPS, PREVIEW_WIDTH};

/// What a capture opens: the same spec, the same capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSpec {
    /// Video source.
    pub video: VideoInput,
    /// Audio source.
    pub audio: AudioInput,
    /// Desktop audio (see [`EngineConfig::desktop`]).
    pub desktop: Option<Option<String>>,
    /// The canvas: the largest encoding's size at the highest frame rate
    /// any encoding needs.
    pub canvas: (usize, usize, u32),
    /// With a preview.
    pub preview: bool,
}

impl CaptureSpec {
    /// The capture `config`'s stream needs.
    pub fn of(config: &EngineConfig) -> Self {
        let encodings = if config.encodings.is_empty() {
            EngineConfig::default().encodings
        } else {
            config.encodings.clone()
        };
        let canvas = PipelineConfig {
            encodings: encodings.iter().map(video_encoding_of).collect(),
            audio: None,
            duration: None,
        }
        .canvas();
        Self {
            video: config.video,
            audio: config.audio.clone(),
            desktop: config.desktop.clone(),
            canvas,
            preview: config.preview,
        }
    }
}

/// Open sources feeding a canvas, a preview and the audio meters.
#[derive(Debug)]
pub struct Capture {
    spec: CaptureSpec,
    media: onair_media::Capture,
    camera_stats: Option<Arc<CameraStats>>,
    mic_stats: Option<Arc<MicStats>>,
    desktop_stats: Option<Arc<MicStats>>,
    mix: Option<Arc<MixControl>>,
    preview: Preview,
}

impl Capture {
    /// Opens the sources `config` names (a missing device is an error
    /// here) and starts reading them, the mix set as `config.mix` says.
    /// Blocking: a camera or a sound server can take a moment to answer.
    pub fn open(config: &EngineConfig) -> Result<Self, EngineError> {
        let spec = CaptureSpec::of(config);
        let (cw, ch, cfps) = spec.canvas;
        let clock = MediaClock::start_now();
        let mut camera_stats = None;
        let video: Box<dyn VideoSource> = match spec.video {
            VideoInput::TestPattern => Box::new(TestPattern::new(cw, ch, cfps)),
            VideoInput::Camera { index } => {
                let opener = NokhwaOpener::new(index)?;
                let cam = CameraSource::start(Box::new(opener), cw, ch, cfps, clock)?;
                camera_stats = Some(cam.stats());
                Box::new(cam)
            }
        };
        let (video, preview): (Box<dyn VideoSource>, _) = if spec.preview {
            let (tap, preview) = PreviewTap::new(video, cfps, PREVIEW_FPS, PREVIEW_WIDTH);
            (Box::new(tap), preview)
        } else {
            (video, Preview::default())
        };
        let mut mic_stats = None;
        let mut desktop_stats = None;
        let mix_settings = config.mix.clone().clamped();
        let mut sources: Vec<(SourceKind, Box<dyn AudioSource>, ChainSettings)> = Vec::new();
        let mic_chain = chain_of(&mix_settings.mic.filters);
        match &spec.audio {
            AudioInput::Tone => {
                sources.push((SourceKind::Tone, Box::new(Tone::new(48_000)), mic_chain));
            }
            AudioInput::Mic { name } => {
                let mic = MicSource::open(name.as_deref(), clock)?;
                mic_stats = Some(mic.stats());
                sources.push((SourceKind::Mic, Box::new(mic), mic_chain));
            }
            AudioInput::None => {}
        }
        if let Some(name) = &spec.desktop {
            let desktop = MicSource::open_desktop(name.as_deref(), clock)?;
            desktop_stats = Some(desktop.stats());
            let chain = chain_of(&mix_settings.desktop.filters);
            sources.push((SourceKind::Desktop, Box::new(desktop), chain));
        }
        let (audio, mix): (Option<Box<dyn AudioSource>>, _) = if sources.is_empty() {
            (None, None)
        } else {
            let m = Mix::new(sources);
            let control = m.control();
            apply_mix(&control, &mix_settings);
            (Some(Box::new(m)), Some(control))
        };
        let media = onair_media::Capture::start(video, spec.canvas, audio, clock)?;
        Ok(Self {
            spec,
            media,
            camera_stats,
            mic_stats,
            desktop_stats,
            mix,
            preview,
        })
    }

    /// What it was opened with.
    pub fn spec(&self) -> &CaptureSpec {
        &self.spec
    }

    /// Whether it can feed `config`'s stream: the same sources and canvas,
    /// and none of them failed.
    pub fn serves(&self, config: &EngineConfig) -> bool {
        self.spec == CaptureSpec::of(config) && !self.media.is_stopped()
    }

    /// The running capture the encoders attach to.
    pub fn media(&self) -> &onair_media::Capture {
        &self.media
    }

    /// Camera counters, when capturing a camera.
    pub fn camera_stats(&self) -> Option<&Arc<CameraStats>> {
        self.camera_stats.as_ref()
    }

    /// Microphone meter and health, when capturing a microphone.
    pub fn mic_stats(&self) -> Option<&Arc<MicStats>> {
        self.mic_stats.as_ref()
    }

    /// Desktop audio's health, when it is mixed in.
    pub fn desktop_stats(&self) -> Option<&Arc<MicStats>> {
        self.desktop_stats.as_ref()
    }

    /// The audio mix's live controls and meters, when there is audio.
    pub fn mix(&self) -> Option<&Arc<MixControl>> {
        self.mix.as_ref()
    }

    /// Small copies of the canvas, a few times a second (none unless
    /// opened with a preview).
    pub fn preview(&self) -> &Preview {
        &self.preview
    }

    /// Puts the creator's mix on it: faders, mutes and filters from the
    /// next 1024 frames (desktop audio's device needs a new capture).
    pub fn set_mix(&self, settings: &onair_profiles::audio::AudioMix) {
        if let Some(mix) = &self.mix {
            apply_mix(mix, settings);
        }
    }

    /// The audio meters as of now: each source before and after its
    /// filters, and the mix (`None` without audio).
    pub fn meters(&self) -> Option<MeterUpdate> {
        let mix = self.mix.as_ref()?;
        let sources = mix
            .sources()
            .iter()
            .map(|s| {
                let stats = match s.kind() {
                    SourceKind::Mic => self.mic_stats.as_ref(),
                    SourceKind::Desktop => self.desktop_stats.as_ref(),
                    SourceKind::Tone => None,
                };
                SourceMeter {
                    source: s.kind().as_str().into(),
                    pre: Level::of(&s.pre),
                    post: Level::of(&s.post),
                    gate_open: s.filters().gate.map(|_| s.gate_open()),
                    muted: s.muted(),
                    lost: stats.is_some_and(|m| m.lost.load(Ordering::Relaxed)),
                }
            })
            .collect();
        Some(MeterUpdate {
            sources,
            mix: Level::of(&mix.level),
            clipping: mix.clipping(),
            muted: mix.muted(),
        })
    }
}
