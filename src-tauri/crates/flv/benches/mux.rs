//! Annex B -> AVCC FLV tag throughput. Run: `cargo bench -p onair-flv`.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn mux(c: &mut Criterion) {
    let mut au = vec![0u8, 0, 0, 1, 0x65];
    au.extend((0..150_000u32).map(|i| (i % 251) as u8 | 0x10));
    let mut g = c.benchmark_group("flv");
    g.throughput(Throughput::Bytes(au.len() as u64));
    g.bench_function("avc_nalu 150KB keyframe", |b| {
        b.iter(|| black_box(onair_flv::avc_nalu(black_box(&au), true, 0)))
    });
    g.finish();
}

criterion_group!(benches, mux);
criterion_main!(benches);
