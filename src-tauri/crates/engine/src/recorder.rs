//! The recording of the running encode, and the encoders' sink that feeds
//! the Outputs and the recorder.

use std::path::Path;
use std::sync::{Arc, Mutex};

use onair_media::{EncoderStats, MediaMessage, MediaSink};
use onair_output::{OutputManager, Tag};
use onair_record::{
    AudioParams, RecordError, Recording, RecordingStatus, RecordingSummary, VideoParams,
};

/// The recording of the running encode: the same tag bodies the
/// destinations get (no second encoder, no payload copy), one file at a
/// time, of one chosen encoding, started and stopped on its own.
#[derive(Debug)]
pub struct Recorder {
    /// The recording and the video encoding it records.
    slot: Mutex<Option<(Recording, usize)>>,
    manager: Arc<OutputManager>,
    expect_audio: bool,
    /// The running encoders' controls (to ask one for a keyframe).
    encoders: Mutex<Encoders>,
    /// A recording waits for the encoders' configurations (skipping what
    /// comes before them)...
    awaiting_params: std::sync::atomic::AtomicBool,
    /// ...and a keyframe came (and was skipped) while it waited.
    skipped_keyframe: std::sync::atomic::AtomicBool,
}

/// The encoders' controls, once the pipeline runs, and a keyframe asked of
/// one before that (its first configuration can come first: the request
/// waits for them rather than be lost).
#[derive(Debug, Default)]
struct Encoders {
    stats: Vec<Arc<EncoderStats>>,
    pending: Vec<usize>,
}

impl Recorder {
    pub(crate) fn new(manager: Arc<OutputManager>, expect_audio: bool) -> Self {
        Self {
            slot: Mutex::new(None),
            manager,
            expect_audio,
            encoders: Mutex::new(Encoders::default()),
            awaiting_params: std::sync::atomic::AtomicBool::new(false),
            skipped_keyframe: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn set_encoders(&self, stats: Vec<Arc<EncoderStats>>) {
        let mut e = self.encoders.lock().unwrap_or_else(|e| e.into_inner());
        for i in std::mem::take(&mut e.pending) {
            if let Some(s) = stats.get(i) {
                s.keyframe_wanted
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        e.stats = stats;
    }

    /// Starts recording video encoding `encoding` (index) and the audio to
    /// `path` (a new file, created now): mid-stream from the next picture
    /// (that encoding alone is asked for a keyframe), else from the first.
    pub fn start(&self, path: &Path, encoding: usize) -> Result<(), RecordError> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(RecordError::AlreadyRecording);
        }
        let rec = Recording::create(path)?;
        match self.params(encoding) {
            Some((v, a)) if a.is_some() || !self.expect_audio => {
                rec.set_params(v, a);
                // Mid-stream: start with the next frame, not the next
                // scheduled keyframe (up to an interval of pictures lost
                // otherwise).
                self.want_keyframe(encoding);
            }
            _ => {
                self.skipped_keyframe
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                self.awaiting_params
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        *slot = Some((rec, encoding));
        Ok(())
    }

    fn want_keyframe(&self, encoding: usize) {
        let mut e = self.encoders.lock().unwrap_or_else(|e| e.into_inner());
        if e.stats.is_empty() {
            // The pipeline has not handed its controls over yet.
            e.pending.push(encoding);
        } else if let Some(s) = e.stats.get(encoding) {
            s.keyframe_wanted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Finishes the recording; `None` when none was running.
    pub async fn stop(&self) -> Option<RecordingSummary> {
        let (rec, _) = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        tokio::task::spawn_blocking(move || rec.stop()).await.ok()
    }

    /// The running recording's figures.
    pub fn status(&self) -> Option<RecordingStatus> {
        self.slot
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|(r, _)| r.status()))
    }

    /// The encoding being recorded (index), if recording.
    pub fn encoding(&self) -> Option<usize> {
        self.slot
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|(_, e)| *e))
    }

    /// A muxed tag of video encoding `encoding` (`None`: audio).
    pub(crate) fn push(&self, tag: &Tag, encoding: Option<usize>) {
        if let Ok(r) = self.slot.lock() {
            if let Some((r, recorded)) = r.as_ref() {
                if encoding.is_none_or(|e| e == *recorded) {
                    // Under the slot's lock, as the configurations are set:
                    // the writer sees both in this order.
                    if encoding.is_some()
                        && tag.keyframe
                        && self
                            .awaiting_params
                            .load(std::sync::atomic::Ordering::SeqCst)
                    {
                        self.skipped_keyframe
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    r.push(tag.clone());
                }
            }
        }
    }

    fn params(&self, encoding: usize) -> Option<(VideoParams, Option<AudioParams>)> {
        let (v, a) = self.manager.stream_configs(encoding);
        let v = v?;
        Some((
            VideoParams {
                width: v.width as u32,
                height: v.height as u32,
                fps: v.fps,
                sps: v.sps,
                pps: v.pps,
                bitrate: v.bitrate_kbps * 1000,
            },
            a.map(|a| AudioParams {
                sample_rate: a.sample_rate,
                channels: a.channels,
                asc: a.asc,
                bitrate: a.bitrate_kbps * 1000,
            }),
        ))
    }

    /// The encoders announced their configuration: a recording waiting for
    /// it gets it (the writer keeps the first; with audio both arrive
    /// before the first packet).
    fn configs_changed(&self) {
        if let Ok(r) = self.slot.lock() {
            let Some((rec, encoding)) = r.as_ref() else {
                return;
            };
            if let Some((v, a)) = self.params(*encoding) {
                if a.is_some() || !self.expect_audio {
                    rec.set_params(v, a);
                    // The first keyframe came before the audio's
                    // configuration (and was skipped): ask for another
                    // rather than start a keyframe interval late.
                    let waited = self
                        .awaiting_params
                        .swap(false, std::sync::atomic::Ordering::SeqCst);
                    if waited
                        && self
                            .skipped_keyframe
                            .swap(false, std::sync::atomic::Ordering::SeqCst)
                    {
                        self.want_keyframe(*encoding);
                    }
                }
            }
        }
    }
}

/// The encoders' sink: the Outputs, then the recorder hears of new
/// configurations.
pub(crate) struct EngineSink {
    pub(crate) manager: Arc<OutputManager>,
    pub(crate) recorder: Arc<Recorder>,
}

impl MediaSink for EngineSink {
    fn on_media(&self, message: MediaMessage) {
        let config = matches!(
            message,
            MediaMessage::VideoConfig(_) | MediaMessage::AudioConfig(_)
        );
        self.manager.on_media(message);
        if config {
            self.recorder.configs_changed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use onair_media::{AudioConfig, VideoConfig};

    #[tokio::test]
    async fn a_keyframe_asked_before_the_encoders_are_handed_over_is_not_lost() {
        let manager = Arc::new(OutputManager::new(tokio::runtime::Handle::current(), 0));
        let recorder = Recorder::new(manager.clone(), true);
        let dir = tempfile::tempdir().unwrap();
        // Started with the engine: it waits for the configurations.
        recorder.start(&dir.path().join("take.mp4"), 0).unwrap();
        // The encoder's first keyframe comes before the audio's
        // configuration, and is skipped…
        manager.on_media(MediaMessage::VideoConfig(VideoConfig {
            encoding: 0,
            width: 320,
            height: 180,
            fps: 30,
            bitrate_kbps: 300,
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d]),
            pps: Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]),
        }));
        recorder.push(
            &Tag {
                kind: onair_output::TagKind::Video,
                pts_ms: 0,
                keyframe: true,
                body: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
                capture: std::time::Instant::now(),
            },
            Some(0),
        );
        manager.on_media(MediaMessage::AudioConfig(AudioConfig {
            sample_rate: 48_000,
            channels: 2,
            bitrate_kbps: 160,
            asc: Bytes::from_static(&[0x11, 0x90]),
        }));
        // …so another is asked for, before the pipeline has handed over
        // its encoders' controls (a loaded machine runs it that far).
        recorder.configs_changed();
        let stats = Arc::new(EncoderStats::default());
        recorder.set_encoders(vec![stats.clone()]);
        assert!(
            stats
                .keyframe_wanted
                .load(std::sync::atomic::Ordering::Relaxed),
            "the request was lost: the recording would start a keyframe interval late"
        );
        recorder.stop().await;
    }
}
