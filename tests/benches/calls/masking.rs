//! The `masking` pair: a call's output masked against the values it
//! handled, next to a plain copy of the same lines.

use std::hint::black_box;

use criterion::Criterion;
use flavorbox::mask::Masker;

/// Masking a call's output: the masker is built per call over the values
/// the call handled (here 1,000, of 12 to 35 bytes) and masks each line; 1
/// MiB of 64-byte lines, one in 16 holding a value. The baseline copies the
/// same lines, which masking does at the least.
pub(crate) fn bench_masking(c: &mut Criterion) {
    let values: Vec<String> = (0..1_000)
        .map(|i| format!("secret-{i:04}-{}", "x".repeat(i % 24)))
        .collect();
    let lines: Vec<String> = (0..16_384)
        .map(|i| {
            let line = if i % 16 == 0 {
                format!("line {i:05} token={}", values[(i * 7) % values.len()])
            } else {
                format!("line {i:05} fetched the record, nothing to report")
            };
            format!("{line:<64.64}")
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    assert_eq!(bytes, 1 << 20);
    let masker = Masker::new(values.iter().map(String::as_str));
    let masked = masker.mask(&lines[16]);
    assert!(
        masked.starts_with("line 00016 token=*** ") && !masked.contains("secret-"),
        "{masked}"
    );

    let mut group = c.benchmark_group("masking");
    group.sample_size(30);
    group.bench_function("flavorbox-mask", |b| {
        b.iter(|| {
            let masker = Masker::new(values.iter().map(String::as_str));
            lines
                .iter()
                .map(|line| masker.mask(black_box(line)))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("native-copy", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|line| black_box(line).to_owned())
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}
