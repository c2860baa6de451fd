//! What the stream check and the recorder cost per second of media: one
//! second of a 720p30 3 Mbps + AAC 160 kbps stream as FLV tag bodies through
//! the analyser, and through the fMP4 fragmenter.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onair_check::Analyzer;
use onair_record::{AudioParams, Fragmenter, VideoParams};

const SPS: &[u8] = &[
    0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16, 0xEC, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
    0x00, 0x00, 0x0F, 0x23, 0xC6, 0x0C, 0x92,
];
const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

/// (is video, ms, key, tag body) for one second.
fn second() -> Vec<(bool, u32, bool, Bytes)> {
    let mut tags = Vec::new();
    let mut audio_ms = 0.0f64;
    for i in 0..30u32 {
        let ts = (f64::from(i) * 1000.0 / 30.0) as u32;
        let key = i == 0;
        let mut au = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
        au.resize(if key { 60_000 } else { 11_000 }, 0x5A);
        tags.push((true, ts, key, onair_flv::avc_nalu(&au, key, 0)));
        while audio_ms <= f64::from(ts) {
            tags.push((
                false,
                audio_ms as u32,
                true,
                onair_flv::aac_raw(&[0x21; 420]),
            ));
            audio_ms += 1024.0 * 1000.0 / 48_000.0;
        }
    }
    tags
}

fn bench(c: &mut Criterion) {
    let tags = second();
    let bytes: u64 = tags.iter().map(|t| t.3.len() as u64).sum();
    let mut g = c.benchmark_group("one second of 720p30");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("stream check analyser", |b| {
        let mut a = Analyzer::new();
        a.on_publish();
        a.on_video(
            0,
            &onair_flv::avc_sequence_header(&onair_flv::AvcConfig {
                sps: Bytes::from_static(SPS),
                pps: Bytes::from_static(PPS),
            }),
        );
        let mut base = 0u32;
        b.iter(|| {
            for (video, ts, _, body) in &tags {
                if *video {
                    a.on_video(base + ts, body);
                } else {
                    a.on_audio(base + ts, body);
                }
            }
            base += 1000;
            a.report()
        })
    });
    g.bench_function("fMP4 fragmenter", |b| {
        let mut f = Fragmenter::new(
            VideoParams {
                width: 1280,
                height: 720,
                fps: 30,
                sps: Bytes::from_static(SPS),
                pps: Bytes::from_static(PPS),
                bitrate: 3_000_000,
            },
            Some(AudioParams {
                sample_rate: 48_000,
                channels: 2,
                asc: Bytes::from_static(&[0x11, 0x90]),
                bitrate: 160_000,
            }),
        );
        let mut base = 0i64;
        b.iter(|| {
            let mut out = 0usize;
            for (video, ts, key, body) in &tags {
                if *video {
                    if let Some(frag) =
                        f.push_video(base + i64::from(*ts), 0, *key, body.slice(5..))
                    {
                        out += frag.iter().map(|b| b.len()).sum::<usize>();
                    }
                } else {
                    f.push_audio(base + i64::from(*ts), body.slice(2..));
                }
            }
            base += 1000;
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
