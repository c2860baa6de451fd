//! Throughput of FLV tag building + RTMP chunking: the per-packet work of
//! every destination. Run: `cargo bench -p onair-rtmp`.
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onair_rtmp::chunk::{ChunkReader, ChunkWriter, MessageHeader, OutBuf};

fn chunking(c: &mut Criterion) {
    // A 720p30 3 Mbps stream has ~12.5 KB frames and ~150 KB keyframes.
    let mut au = vec![0u8, 0, 0, 1, 0x65];
    au.extend((0..12_500u32).map(|i| (i % 251) as u8 | 0x10));
    let mut g = c.benchmark_group("flv+chunk");
    g.throughput(Throughput::Bytes(au.len() as u64));
    g.bench_function("avc_nalu+chunk 12.5KB @4096", |b| {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(4096).unwrap();
        let mut out = OutBuf::default();
        let mut ts = 0u32;
        b.iter(|| {
            let body = onair_flv::avc_nalu(black_box(&au), false, 0);
            ts = ts.wrapping_add(33);
            w.write(
                MessageHeader {
                    csid: 7,
                    timestamp: ts,
                    type_id: 9,
                    stream_id: 1,
                },
                body,
                &mut out,
            );
            while let Some(b) = out.pop() {
                black_box(b);
            }
        })
    });
    let body = onair_flv::avc_nalu(&au, false, 0);
    g.bench_function("chunk only (shared body, fan-out) @4096", |b| {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(4096).unwrap();
        let mut out = OutBuf::default();
        let mut ts = 0u32;
        b.iter(|| {
            ts = ts.wrapping_add(33);
            w.write(
                MessageHeader {
                    csid: 7,
                    timestamp: ts,
                    type_id: 9,
                    stream_id: 1,
                },
                body.clone(),
                &mut out,
            );
            while let Some(b) = out.pop() {
                black_box(b);
            }
        })
    });
    g.finish();
    let _ = Bytes::new();
}

/// Reading: a 1 MiB message reassembled at chunk size 1 (the worst a peer
/// can pick: a million chunks) and at 4096. Linear in the message size.
fn reassembly(c: &mut Criterion) {
    let len = 1 << 20;
    let payload = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    for chunk_size in [1u32, 4096] {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(chunk_size).unwrap();
        let mut out = OutBuf::default();
        w.write(
            MessageHeader {
                csid: 6,
                timestamp: 0,
                type_id: 9,
                stream_id: 1,
            },
            payload.clone(),
            &mut out,
        );
        let mut wire = Vec::new();
        while let Some(b) = out.pop() {
            wire.extend_from_slice(&b);
        }
        g.bench_function(format!("1 MiB message @{chunk_size}"), |b| {
            b.iter(|| {
                let mut r = ChunkReader::for_media();
                r.set_chunk_size(chunk_size).unwrap();
                r.push(black_box(&wire));
                let m = r.next_message().unwrap().unwrap();
                black_box(m.payload.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, chunking, reassembly);
criterion_main!(benches);
