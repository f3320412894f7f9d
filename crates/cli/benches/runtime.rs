//! Runtime benchmarks (issue: the sandboxed plugin runtime). Each group
//! runs the measured thing next to its baseline in the same run:
//! - `session`: opening a plugin session from its InstancePre (a fresh
//!   Store, a pooled instance, the `open` call) vs spawning a process
//!   (`/bin/true`), the isolation unit of process-based orchestrators;
//! - `clean_text_100k`: clean-text over 100,000 real chat messages in
//!   4,096-row chunks, in Wasm with and without epoch interruption (the CPU
//!   limit), vs the same Rust function called natively.
//!
//! Run: `cargo bench -p sluice --bench runtime`

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnType};
use sluice_data::{TableReader, batch_to_chunk};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Plugin, Runtime, RuntimeConfig};

const MESSAGES: usize = 100_000;
const CHUNK_ROWS: usize = 4096;

fn policy() -> Policy {
    Policy::parse(
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
        Path::new("bench-policy.toml"),
        Path::new("."),
    )
    .unwrap()
}

fn load(runtime: &Runtime) -> Plugin {
    runtime
        .load(
            sluice_stdlib::get("clean-text").unwrap().bytes,
            Some("clean-text"),
            &policy(),
        )
        .unwrap()
}

/// 100,000 messages: the 3,627 real SMS messages of the example, cycled,
/// in 4,096-row chunks.
fn chat_chunks() -> Vec<Chunk> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/chat-moderation/data/messages.csv");
    let mut messages: Vec<String> = Vec::new();
    for batch in TableReader::open(&path, 8192).unwrap() {
        let chunk = batch_to_chunk(&batch.unwrap(), &[("text".into(), ColumnType::Text)]).unwrap();
        messages.extend(
            (0..chunk.rows as usize).map(|row| chunk.text("text", row).unwrap_or("").to_string()),
        );
    }
    let all: Vec<&str> = messages
        .iter()
        .map(String::as_str)
        .cycle()
        .take(MESSAGES)
        .collect();
    all.chunks(CHUNK_ROWS)
        .map(|rows| {
            let mut data = String::new();
            let mut offsets = vec![0u32];
            for row in rows {
                data.push_str(row);
                offsets.push(data.len() as u32);
            }
            let mut chunk = Chunk::new(rows.len() as u32);
            chunk.set(
                "text",
                sluice_core::ColumnValues::Text {
                    data,
                    offsets,
                    valid: vec![],
                },
            );
            chunk
        })
        .collect()
}

fn session(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = load(&runtime);
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let mut group = c.benchmark_group("session");
    group.bench_function("wasm_instantiate", |b| {
        b.iter(|| plugin.instantiate().unwrap());
    });
    group.bench_function("wasm_session_open", |b| {
        b.iter(|| std::hint::black_box(plugin.session(&params, &effective, None).unwrap()));
    });
    group.bench_function("baseline_process_spawn", |b| {
        b.iter(|| std::process::Command::new("/bin/true").status().unwrap());
    });
    group.finish();
}

fn clean_text(c: &mut Criterion) {
    let chunks = chat_chunks();
    let bytes: usize = chunks.iter().map(Chunk::byte_size).sum();
    let mut group = c.benchmark_group("clean_text_100k");
    group
        .throughput(Throughput::Elements(MESSAGES as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
    eprintln!("clean_text_100k: {MESSAGES} messages, {bytes} bytes of text");

    let options = clean_text::Options::default();
    group.bench_function("native", |b| {
        b.iter(|| {
            for chunk in &chunks {
                let sluice_core::ColumnValues::Text { data, offsets, .. } =
                    chunk.column("text").unwrap()
                else {
                    unreachable!()
                };
                let mut out = String::with_capacity(data.len());
                let mut out_offsets = Vec::with_capacity(offsets.len());
                out_offsets.push(0u32);
                for w in offsets.windows(2) {
                    clean_text::clean(&options, &data[w[0] as usize..w[1] as usize], &mut out);
                    out_offsets.push(out.len() as u32);
                }
                std::hint::black_box((out, out_offsets));
            }
        });
    });
    for (label, epochs) in [("wasm_epoch_limit", true), ("wasm_no_cpu_limit", false)] {
        let runtime = Runtime::new(RuntimeConfig {
            epoch_interruption: epochs,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let plugin = load(&runtime);
        let (params, effective) = plugin
            .effective_grant(&[("column".into(), ParamValue::Text("text".into()))])
            .unwrap();
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            // the input copy is setup, as the native side reads its input in place
            b.iter_batched(
                || chunks.clone(),
                |input| {
                    let mut session = plugin.session(&params, &effective, None).unwrap();
                    for chunk in input {
                        std::hint::black_box(session.process(chunk).unwrap());
                    }
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, session, clean_text);
criterion_main!(benches);
