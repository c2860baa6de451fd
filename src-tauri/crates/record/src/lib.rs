//! Local recording: the same encoded packets the destinations get, written
//! as fragmented MP4 (ISO BMFF, boxes from `mp4-atom`).
//!
//! A fragmented file is `ftyp` `moov` then `moof`+`mdat` pairs, each pair
//! self-contained; every fragment is written and synced to disk about once
//! a second, and only then made visible (its `moof` is written as a `free`
//! box and retyped once the whole fragment is on disk), so a crash or a
//! power cut leaves a file that parses and plays up to its last whole
//! fragment. A clean stop writes the durations into `moov`.
//!
//! [`Fragmenter`] is sans-IO (packets in, bytes out); [`Recording`] runs it
//! on its own thread behind a bounded queue, so a slow disk never stalls the
//! encoder or the destinations.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use mp4_atom::{
    Audio, Avc1, Avcc, Btrt, Dinf, Dref, Encode, Esds, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf,
    Moof, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsc, Stsd, Stsz, Stts, Tfdt, Tfhd, Tkhd, Traf,
    Trak, Trex, Trun, TrunEntry, TrunSamples, Url, Visual, Vmhd,
};
use serde::Serialize;

use onair_flv::{Tag, TagKind};

/// Media time per fragment at most (a fragment also ends at each keyframe).
pub const FRAGMENT_MS: i64 = 1000;
/// Tags the writer thread may fall behind by (about 10 s at 30 fps + audio)
/// before the recording stops with [`RecordError::DiskTooSlow`].
pub const MAX_BACKLOG_TAGS: usize = 800;

const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;
/// Video timescale: packet times are whole milliseconds.
const VIDEO_TIMESCALE: u32 = 1000;
/// Sample flags: a sync sample / a non-sync sample that depends on others.
const SYNC: u32 = 0x0200_0000;
const NON_SYNC: u32 = 0x0101_0000;
/// AAC frames are 1024 samples.
const AAC_FRAME: u32 = 1024;

/// Why a recording could not start or stopped early.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The file could not be created or written.
    #[error("cannot write {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        message: String,
    },
    /// The disk did not keep up: the writer fell too far behind.
    #[error("the disk is too slow for the recording: it fell {0} packets behind and was stopped")]
    DiskTooSlow(usize),
    /// A recording is already running.
    #[error("a recording is already running")]
    AlreadyRecording,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> RecordError {
    RecordError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The video track's parameters.
#[derive(Debug, Clone)]
pub struct VideoParams {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Nominal frame rate (the last frame's duration).
    pub fps: u32,
    /// SPS NAL unit.
    pub sps: Bytes,
    /// PPS NAL unit.
    pub pps: Bytes,
    /// Bitrate, bit/s (for `btrt`).
    pub bitrate: u32,
}

/// The audio track's parameters (AAC).
#[derive(Debug, Clone)]
pub struct AudioParams {
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u8,
    /// AudioSpecificConfig.
    pub asc: Bytes,
    /// Bitrate, bit/s.
    pub bitrate: u32,
}

#[derive(Debug, Clone)]
struct Sample {
    /// Decode time in the track's timescale, from the recording's start.
    dts: u64,
    cts: i64,
    sync: bool,
    data: Bytes,
}

#[derive(Debug, Default)]
struct TrackBuf {
    /// Samples of the fragment being built, each with its successor known.
    ready: Vec<(Sample, u32)>,
    /// The newest sample: its duration is known when the next arrives.
    pending: Option<Sample>,
    /// Decode time the track has reached (end of the last written sample).
    written_end: u64,
    samples: u64,
}

impl TrackBuf {
    fn push(&mut self, s: Sample) {
        if let Some(p) = self.pending.take() {
            let d = s.dts.saturating_sub(p.dts).min(u64::from(u32::MAX)) as u32;
            self.ready.push((p, d));
        }
        self.pending = Some(s);
        self.samples += 1;
    }

    /// The last sample gets `duration` (end of recording).
    fn close(&mut self, duration: u32) {
        if let Some(p) = self.pending.take() {
            self.ready.push((p, duration));
        }
    }
}

/// Packets in, fragmented MP4 bytes out.
#[derive(Debug)]
pub struct Fragmenter {
    video: VideoParams,
    audio: Option<AudioParams>,
    /// Media time (ms) of the recording's first video frame.
    t0_ms: Option<i64>,
    v: TrackBuf,
    a: TrackBuf,
    fragment_start_ms: i64,
    sequence: u32,
    last_video_ms: i64,
}

impl Fragmenter {
    /// A fragmenter for these tracks.
    pub fn new(video: VideoParams, audio: Option<AudioParams>) -> Self {
        Self {
            video,
            audio,
            t0_ms: None,
            v: TrackBuf::default(),
            a: TrackBuf::default(),
            fragment_start_ms: 0,
            sequence: 0,
            last_video_ms: 0,
        }
    }

    /// Whether the first keyframe has arrived (earlier packets are skipped).
    pub fn started(&self) -> bool {
        self.t0_ms.is_some()
    }

    /// `ftyp` + `moov`. `durations` are the tracks' final durations (video
    /// ms, audio samples), 0 while recording.
    pub fn init_segment(&self, durations: (u64, u64)) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let ftyp = Ftyp {
            major_brand: FourCC::new(b"iso6"),
            minor_version: 0,
            compatible_brands: vec![
                FourCC::new(b"iso6"),
                FourCC::new(b"isom"),
                FourCC::new(b"avc1"),
                FourCC::new(b"mp41"),
            ],
        };
        let movie_ms = durations.0.max(
            self.audio
                .as_ref()
                .map_or(0, |a| durations.1 * 1000 / u64::from(a.sample_rate.max(1))),
        );
        let mut traks = vec![self.video_trak(durations.0)];
        let mut trex = vec![Trex {
            track_id: VIDEO_TRACK,
            default_sample_description_index: 1,
            ..Default::default()
        }];
        if let Some(a) = &self.audio {
            traks.push(audio_trak(a, durations.1));
            trex.push(Trex {
                track_id: AUDIO_TRACK,
                default_sample_description_index: 1,
                ..Default::default()
            });
        }
        let moov = Moov {
            mvhd: Mvhd {
                timescale: 1000,
                duration: movie_ms,
                rate: 1.into(),
                volume: 1.into(),
                next_track_id: 3,
                ..Default::default()
            },
            mvex: Some(Mvex {
                mehd: Some(mp4_atom::Mehd {
                    fragment_duration: movie_ms,
                }),
                trex,
            }),
            trak: traks,
            ..Default::default()
        };
        // Encoding our own well-formed boxes into a Vec cannot fail.
        let _ = ftyp.encode(&mut out);
        let _ = moov.encode(&mut out);
        out
    }

    fn video_trak(&self, duration: u64) -> Trak {
        let v = &self.video;
        let avcc = Avcc {
            configuration_version: 1,
            avc_profile_indication: v.sps.get(1).copied().unwrap_or(66),
            profile_compatibility: v.sps.get(2).copied().unwrap_or(0),
            avc_level_indication: v.sps.get(3).copied().unwrap_or(31),
            length_size: 4,
            sequence_parameter_sets: vec![v.sps.to_vec()],
            picture_parameter_sets: vec![v.pps.to_vec()],
            ext: None,
        };
        Trak {
            tkhd: Tkhd {
                track_id: VIDEO_TRACK,
                duration,
                enabled: true,
                in_movie: true,
                width: (v.width as u16).into(),
                height: (v.height as u16).into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: VIDEO_TIMESCALE,
                    duration,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"vide"),
                    name: "OnAir video".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: dinf(),
                    stbl: empty_stbl(
                        Avc1 {
                            visual: Visual {
                                data_reference_index: 1,
                                width: v.width as u16,
                                height: v.height as u16,
                                horizresolution: 72.into(),
                                vertresolution: 72.into(),
                                frame_count: 1,
                                compressor: "".into(),
                                depth: 24,
                            },
                            avcc,
                            btrt: Some(Btrt {
                                buffer_size_db: 0,
                                max_bitrate: v.bitrate,
                                avg_bitrate: v.bitrate,
                            }),
                            colr: None,
                            pasp: None,
                            taic: None,
                            fiel: None,
                            spatial: Default::default(),
                        }
                        .into(),
                    ),
                    ..Default::default()
                },
            },
            ..Default::default()
        }
    }

    /// A video packet (`data`: AVCC, 4-byte lengths) at decode time
    /// `dts_ms` with composition offset `cts_ms`. Returns a finished
    /// fragment when this packet starts a new one.
    pub fn push_video(
        &mut self,
        dts_ms: i64,
        cts_ms: i32,
        keyframe: bool,
        data: Bytes,
    ) -> Option<Vec<Bytes>> {
        let t0 = match self.t0_ms {
            Some(t) => t,
            None if keyframe => {
                self.t0_ms = Some(dts_ms);
                self.fragment_start_ms = dts_ms;
                dts_ms
            }
            None => return None,
        };
        // Timestamps never go back within a track.
        let dts_ms = dts_ms.max(self.last_video_ms).max(t0);
        self.last_video_ms = dts_ms;
        let fragment = if keyframe || dts_ms - self.fragment_start_ms >= FRAGMENT_MS {
            let f = self.fragment();
            self.fragment_start_ms = dts_ms;
            f
        } else {
            None
        };
        self.v.push(Sample {
            dts: (dts_ms - t0) as u64,
            cts: i64::from(cts_ms),
            sync: keyframe,
            data,
        });
        fragment
    }

    /// An AAC frame at `dts_ms`. Frames before the first video keyframe are
    /// skipped (the recording starts with a picture).
    pub fn push_audio(&mut self, dts_ms: i64, data: Bytes) {
        let (Some(t0), Some(a)) = (self.t0_ms, &self.audio) else {
            return;
        };
        if dts_ms < t0 {
            return;
        }
        let rate = u64::from(a.sample_rate);
        let measured = (dts_ms - t0) as u64 * rate / 1000;
        // AAC frames are back to back: follow the sample count, unless the
        // timestamps say a real gap opened (more than a frame off).
        let expected = match &self.a.pending {
            Some(p) => p.dts + u64::from(AAC_FRAME),
            None => measured,
        };
        let dts = if measured.abs_diff(expected) > u64::from(AAC_FRAME) {
            measured.max(self.a.pending.as_ref().map_or(0, |p| p.dts + 1))
        } else {
            expected
        };
        self.a.push(Sample {
            dts,
            cts: 0,
            sync: true,
            data,
        });
    }

    /// Everything still buffered as the last fragment, and the final
    /// durations (video ms, audio samples) for the `moov`.
    pub fn finish(&mut self) -> (Option<Vec<Bytes>>, (u64, u64)) {
        let frame_ms = 1000 / self.video.fps.max(1);
        self.v.close(frame_ms);
        self.a.close(AAC_FRAME);
        let f = self.fragment();
        (f, (self.v.written_end, self.a.written_end))
    }

    /// Media time recorded so far, ms (video).
    pub fn video_ms(&self) -> u64 {
        self.v.written_end
    }

    /// Builds `moof` + `mdat` of the ready samples of both tracks.
    fn fragment(&mut self) -> Option<Vec<Bytes>> {
        if self.v.ready.is_empty() && self.a.ready.is_empty() {
            return None;
        }
        self.sequence += 1;
        let video = std::mem::take(&mut self.v.ready);
        let audio = std::mem::take(&mut self.a.ready);
        let mut trafs = Vec::new();
        let mut payload = Vec::with_capacity(video.len() + audio.len());
        for (track, samples) in [(VIDEO_TRACK, &video), (AUDIO_TRACK, &audio)] {
            if samples.is_empty() {
                continue;
            }
            let entries = samples
                .iter()
                .map(|(s, d)| TrunEntry {
                    duration: Some(*d),
                    size: Some(s.data.len() as u32),
                    flags: (track == VIDEO_TRACK).then_some(if s.sync { SYNC } else { NON_SYNC }),
                    cts: (track == VIDEO_TRACK).then_some(s.cts),
                })
                .collect();
            trafs.push(Traf {
                tfhd: Tfhd {
                    track_id: track,
                    default_base_is_moof: true,
                    ..Default::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: samples[0].0.dts,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: TrunSamples::Explicit(entries),
                }],
                ..Default::default()
            });
            payload.extend(samples.iter().map(|(s, _)| s.data.clone()));
        }
        if let Some((s, d)) = video.last() {
            self.v.written_end = s.dts + u64::from(*d);
        }
        if let Some((s, d)) = audio.last() {
            self.a.written_end = s.dts + u64::from(*d);
        }
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: self.sequence,
            },
            traf: trafs,
        };
        // The data offsets point past moof and the mdat header: measure the
        // moof once (its size does not depend on the offsets' values).
        let mut probe = Vec::new();
        let _ = moof.encode(&mut probe);
        let mut offset = probe.len() as i32 + 8;
        for traf in &mut moof.traf {
            let bytes: u32 = traf.trun[0]
                .samples
                .iter()
                .map(|e| e.size.unwrap_or(0))
                .sum();
            traf.trun[0].data_offset = Some(offset);
            offset += bytes as i32;
        }
        let mut head = Vec::with_capacity(probe.len() + 8);
        let _ = moof.encode(&mut head);
        let mdat_len: u64 = 8 + payload.iter().map(|b| b.len() as u64).sum::<u64>();
        head.extend_from_slice(&(mdat_len as u32).to_be_bytes());
        head.extend_from_slice(b"mdat");
        let mut out = Vec::with_capacity(payload.len() + 1);
        out.push(Bytes::from(head));
        out.extend(payload);
        Some(out)
    }
}

fn dinf() -> Dinf {
    Dinf {
        dref: Dref {
            entries: vec![Url {
                location: "".into(),
            }
            .into()],
        },
    }
}

fn empty_stbl(codec: mp4_atom::Codec) -> Stbl {
    Stbl {
        stsd: Stsd {
            codecs: vec![codec],
        },
        stts: Stts::default(),
        stsc: Stsc::default(),
        stsz: Stsz::default(),
        stco: Some(Stco::default()),
        ..Default::default()
    }
}

fn audio_trak(a: &AudioParams, duration: u64) -> Trak {
    use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig};
    let asc = &a.asc[..];
    let (profile, freq_index, chan_conf) = match asc {
        [b0, b1, ..] => (b0 >> 3, ((b0 & 7) << 1) | (b1 >> 7), (b1 >> 3) & 0x0F),
        _ => (2, 3, a.channels),
    };
    Trak {
        tkhd: Tkhd {
            track_id: AUDIO_TRACK,
            duration: duration * 1000 / u64::from(a.sample_rate.max(1)),
            alternate_group: 1,
            enabled: true,
            in_movie: true,
            volume: 1.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: a.sample_rate,
                duration,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(b"soun"),
                name: "OnAir audio".into(),
            },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: dinf(),
                stbl: empty_stbl(
                    Mp4a {
                        audio: Audio {
                            data_reference_index: 1,
                            channel_count: u16::from(a.channels),
                            sample_size: 16,
                            sample_rate: (a.sample_rate.min(65535) as u16).into(),
                        },
                        esds: Esds {
                            es_desc: EsDescriptor {
                                es_id: AUDIO_TRACK as u16,
                                depends_on_es_id: None,
                                url: None,
                                ocr_es_id: None,
                                stream_priority: 0,
                                dec_config: DecoderConfig {
                                    object_type_indication: 0x40,
                                    stream_type: 5,
                                    max_bitrate: a.bitrate,
                                    avg_bitrate: a.bitrate,
                                    dec_specific: Some(DecoderSpecific {
                                        profile,
                                        freq_index,
                                        chan_conf,
                                        raw: asc.to_vec(),
                                    }),
                                    ..Default::default()
                                },
                                sl_config: SLConfig {},
                            },
                        },
                        btrt: None,
                        taic: None,
                    }
                    .into(),
                ),
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

/// What a finished recording holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordingSummary {
    /// The file.
    pub path: String,
    /// Bytes written.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes: u64,
    /// Media time of the video track, ms (first frame to the end of the last).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub duration_ms: u64,
    /// Video frames.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub video_frames: u64,
    /// Audio frames.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub audio_frames: u64,
    /// Why it ended early, if it did.
    pub error: Option<String>,
}

enum Msg {
    Params(VideoParams, Option<AudioParams>),
    Tag(Tag),
    Stop,
}

/// Live figures of a running recording.
#[derive(Debug, Default, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordingStatus {
    /// The file.
    pub path: String,
    /// Bytes on disk so far.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes: u64,
    /// Media time on disk so far, ms.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub duration_ms: u64,
    /// Set when the recording stopped by itself.
    pub error: Option<String>,
}

/// A running recording: feed it tags; stop it to finish the file.
#[derive(Debug)]
pub struct Recording {
    tx: SyncSender<Msg>,
    /// The queue was full once: the writer ends the recording.
    overflowed: Arc<AtomicBool>,
    status: Arc<Mutex<RecordingStatus>>,
    thread: Option<JoinHandle<RecordingSummary>>,
}

impl Recording {
    /// Creates `path` (never overwrites, so a bad folder or a name in use
    /// fails here, before anything is recorded) and starts the writer
    /// thread. Tags are skipped until [`Recording::set_params`].
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let (tx, rx) = mpsc::sync_channel(MAX_BACKLOG_TAGS);
        let status = Arc::new(Mutex::new(RecordingStatus {
            path: path.display().to_string(),
            ..RecordingStatus::default()
        }));
        let overflowed = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            overflowed: overflowed.clone(),
            path: path.to_path_buf(),
            file,
            frag: None,
            moov_at: 0,
            bytes: 0,
            status: status.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("onair-record".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| io_err(path, e))?;
        Ok(Self {
            tx,
            overflowed,
            status,
            thread: Some(thread),
        })
    }

    /// The tracks, once the encoders have given their configuration.
    pub fn set_params(&self, video: VideoParams, audio: Option<AudioParams>) {
        let _ = self.tx.try_send(Msg::Params(video, audio));
    }

    /// Queues a tag; never blocks. A full queue (the disk fell ~10 s
    /// behind) ends the recording with an error rather than a hole.
    pub fn push(&self, tag: Tag) {
        match self.tx.try_send(Msg::Tag(tag)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.overflowed.store(true, Ordering::Relaxed),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Figures so far.
    pub fn status(&self) -> RecordingStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Finishes the file (last fragment, durations) and waits for it.
    pub fn stop(mut self) -> RecordingSummary {
        let _ = self.tx.send(Msg::Stop);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

struct Writer {
    overflowed: Arc<AtomicBool>,
    path: PathBuf,
    file: File,
    frag: Option<Fragmenter>,
    moov_at: u64,
    bytes: u64,
    status: Arc<Mutex<RecordingStatus>>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) -> RecordingSummary {
        let mut error = None;
        let mut header_written = false;
        while let Ok(msg) = rx.recv() {
            let tag = match msg {
                Msg::Params(v, a) => {
                    self.frag.get_or_insert_with(|| Fragmenter::new(v, a));
                    continue;
                }
                Msg::Tag(t) => t,
                Msg::Stop => break,
            };
            let Some(frag) = self.frag.as_mut() else {
                continue;
            };
            if self.overflowed.load(Ordering::Relaxed) {
                error = Some(RecordError::DiskTooSlow(MAX_BACKLOG_TAGS).to_string());
                break;
            }
            let fragment = match tag.kind {
                TagKind::Video => {
                    // FLV video body: 5-byte header, then AVCC NAL units.
                    if tag.body.len() < 5 || tag.body[1] != 1 {
                        continue;
                    }
                    let ct = u32::from_be_bytes([0, tag.body[2], tag.body[3], tag.body[4]]);
                    let cts = ((ct << 8) as i32) >> 8;
                    frag.push_video(tag.pts_ms, cts, tag.keyframe, tag.body.slice(5..))
                }
                TagKind::Audio => {
                    if tag.body.len() >= 2 && tag.body[1] == 1 {
                        frag.push_audio(tag.pts_ms, tag.body.slice(2..));
                    }
                    None
                }
            };
            if !header_written && frag.started() {
                header_written = true;
                if let Err(e) = self.write_init((0, 0)) {
                    error = Some(e.to_string());
                    break;
                }
            }
            if let Some(f) = fragment {
                if let Err(e) = self.write_fragment(&f) {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        // Finish what there is, even after an error (the file stays playable).
        let (last, durations, frames) = match self.frag.as_mut() {
            Some(f) => {
                let (last, d) = f.finish();
                (last, d, (f.v.samples, f.a.samples))
            }
            None => (None, (0, 0), (0, 0)),
        };
        if header_written {
            if let Some(f) = last {
                if let Err(e) = self.write_fragment(&f) {
                    error.get_or_insert(e.to_string());
                }
            }
            // Durations into the moov, in place (same size: every box with
            // a duration is written as version 1).
            if let Err(e) = self.write_init(durations) {
                error.get_or_insert(e.to_string());
            }
        }
        if let Err(e) = self.file.sync_all() {
            error.get_or_insert(io_err(&self.path, e).to_string());
        }
        let summary = RecordingSummary {
            path: self.path.display().to_string(),
            bytes: self.bytes,
            duration_ms: durations.0,
            video_frames: frames.0,
            audio_frames: frames.1,
            error: error.clone(),
        };
        if let Ok(mut s) = self.status.lock() {
            s.bytes = self.bytes;
            s.duration_ms = durations.0;
            s.error = error;
        }
        summary
    }

    fn write_init(&mut self, durations: (u64, u64)) -> Result<(), RecordError> {
        let Some(frag) = &self.frag else {
            return Ok(());
        };
        let init = frag.init_segment(durations);
        let end = self.bytes.max(init.len() as u64);
        self.file
            .seek(SeekFrom::Start(self.moov_at))
            .and_then(|_| self.file.write_all(&init))
            .and_then(|_| self.file.seek(SeekFrom::Start(end)))
            .map_err(|e| io_err(&self.path, e))?;
        self.bytes = end;
        Ok(())
    }

    /// Writes one `moof`+`mdat` so that a crash at any instant leaves a file
    /// that parses: the `moof` goes down typed `free` (same size, skipped by
    /// every reader), the whole fragment is synced, and only then the four
    /// type bytes become `moof` and are synced too. Killed half-way, the
    /// file ends in a `free` box and a stray `mdat` that nothing references.
    fn write_fragment(&mut self, parts: &[Bytes]) -> Result<(), RecordError> {
        let err = |e| io_err(&self.path, e);
        let start = self.bytes;
        for (i, p) in parts.iter().enumerate() {
            if i == 0 && p.len() >= 8 && &p[4..8] == b"moof" {
                let mut head = p.to_vec();
                head[4..8].copy_from_slice(b"free");
                self.file.write_all(&head).map_err(err)?;
            } else {
                self.file.write_all(p).map_err(err)?;
            }
            self.bytes += p.len() as u64;
        }
        self.file.sync_data().map_err(err)?;
        self.file
            .seek(SeekFrom::Start(start + 4))
            .and_then(|_| self.file.write_all(b"moof"))
            .and_then(|_| self.file.seek(SeekFrom::Start(self.bytes)))
            .and_then(|_| self.file.sync_data())
            .map_err(err)?;
        if let Ok(mut s) = self.status.lock() {
            s.bytes = self.bytes;
            s.duration_ms = self.frag.as_ref().map_or(0, Fragmenter::video_ms);
        }
        Ok(())
    }
}

/// A file name from `pattern`: `{date}` (2026-11-25), `{time}` (14-03-07),
/// `{datetime}`; characters a file system may refuse become `_`; `.mp4` is
/// added when missing.
pub fn file_name(pattern: &str, now: stamp::Stamp) -> String {
    let name = pattern
        .replace("{datetime}", &format!("{} {}", now.date(), now.time()))
        .replace("{date}", &now.date())
        .replace("{time}", &now.time());
    let mut clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string();
    if clean.is_empty() {
        clean = format!("OnAir {} {}", now.date(), now.time());
    }
    if !clean.to_ascii_lowercase().ends_with(".mp4") {
        clean.push_str(".mp4");
    }
    clean
}

/// `dir/name`, or `dir/name (2).mp4`… when the file exists.
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    if !p.exists() {
        return p;
    }
    let stem = name.strip_suffix(".mp4").unwrap_or(name);
    (2..10_000)
        .map(|i| dir.join(format!("{stem} ({i}).mp4")))
        .find(|p| !p.exists())
        .unwrap_or(p)
}

/// Local wall-clock time for file names.
pub mod stamp {
    use chrono::{Datelike, Timelike};

    /// A broken-down local time.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Stamp {
        /// Year.
        pub year: i32,
        /// 1-12.
        pub month: u32,
        /// 1-31.
        pub day: u32,
        /// 0-23.
        pub hour: u32,
        /// 0-59.
        pub minute: u32,
        /// 0-60.
        pub second: u32,
    }

    impl Stamp {
        /// Now, in the local time zone.
        pub fn now() -> Self {
            let t = chrono::Local::now();
            Self {
                year: t.year(),
                month: t.month(),
                day: t.day(),
                hour: t.hour(),
                minute: t.minute(),
                second: t.second(),
            }
        }

        /// 2026-11-25.
        pub fn date(&self) -> String {
            format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
        }

        /// 14-03-07 (no colons: Windows and macOS Finder refuse them).
        pub fn time(&self) -> String {
            format!("{:02}-{:02}-{:02}", self.hour, self.minute, self.second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> (VideoParams, AudioParams) {
        (
            VideoParams {
                width: 64,
                height: 48,
                fps: 30,
                sps: Bytes::from_static(&[0x67, 0x42, 0xC0, 0x0A, 0xD9]),
                pps: Bytes::from_static(&[0x68, 0xCB, 0x83, 0xCB, 0x20]),
                bitrate: 100_000,
            },
            AudioParams {
                sample_rate: 48_000,
                channels: 2,
                asc: Bytes::from_static(&[0x11, 0x90]),
                bitrate: 128_000,
            },
        )
    }

    #[test]
    fn fragments_start_at_keyframes_or_after_a_second_and_durations_add_up() {
        let (v, a) = params();
        let mut f = Fragmenter::new(v, Some(a));
        // Audio before the first keyframe and non-key video are skipped.
        f.push_audio(0, Bytes::from_static(b"a"));
        assert!(f
            .push_video(10, 0, false, Bytes::from_static(b"p"))
            .is_none());
        let mut fragments = 0;
        let mut audio_t = 40.0f64;
        for i in 0..90 {
            let ts = 40 + (f64::from(i) * 1000.0 / 30.0).round() as i64;
            if f.push_video(ts, 0, i % 60 == 0, Bytes::from(vec![0u8; 10]))
                .is_some()
            {
                fragments += 1;
            }
            while audio_t <= ts as f64 {
                f.push_audio(audio_t.round() as i64, Bytes::from(vec![1u8; 5]));
                audio_t += 1024.0 * 1000.0 / 48_000.0;
            }
        }
        // Fragments close at 1 s (frame 30), at the keyframe (60) only.
        assert_eq!(fragments, 2);
        let (last, (v_ms, a_samples)) = f.finish();
        assert!(last.is_some());
        // 90 frames at 30 fps: 3000 ms (the last frame gets 1/30 s ≈ 33 ms).
        assert_eq!(v_ms, 2967 + 33);
        assert_eq!(a_samples % 1024, 0);
        assert_eq!(f.v.samples, 90);
    }

    #[test]
    fn the_moov_keeps_its_size_when_durations_are_written() {
        let (v, a) = params();
        let f = Fragmenter::new(v, Some(a));
        assert_eq!(
            f.init_segment((0, 0)).len(),
            f.init_segment((3_600_000, 172_800_000)).len()
        );
    }

    #[test]
    fn file_names_follow_the_pattern_and_stay_safe() {
        let t = stamp::Stamp {
            year: 2026,
            month: 11,
            day: 5,
            hour: 9,
            minute: 3,
            second: 7,
        };
        assert_eq!(
            file_name("OnAir {date} {time}", t),
            "OnAir 2026-11-05 09-03-07.mp4"
        );
        assert_eq!(file_name("../show: {date}.MP4", t), "_show_ 2026-11-05.MP4");
        assert_eq!(file_name("  ", t), "OnAir 2026-11-05 09-03-07.mp4");
    }
}
