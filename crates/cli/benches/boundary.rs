//! The cost of the sandbox on real work (issue #12): the same Rust step
//! code run natively (its `Step` impl called directly, as `sluice_sdk::testing`
//! does) and as a Wasm plugin through the host (restricting columns,
//! lowering the chunk into the guest, the guest's code, lifting and
//! validating the result). Variants are interleaved round by round; the
//! ratios are taken within each round and summarised over the rounds.
//! - `chunk`: one 4,096-row chunk round trip on a live session: text
//!   (`clean-text` over real SMS messages) and float64 (`standard-scaler`,
//!   4 columns, fitted state from a fit pass);
//! - `clean_text_100k`: `clean-text` over 100,000 real messages in 4,096-row
//!   chunks, a session per pass, with the CPU limit (epoch interruption) on
//!   and off, vs native: the Wasm ÷ native ratio and the limit's overhead.
//!
//! Inputs are copied before the clock starts on both sides (both consume
//! their input).
//!
//! Run: `cargo bench -p sluice --bench boundary [-- GROUP]`

mod common;

use std::path::Path;
use std::time::Instant;

use common::{Results, interleave, selected};
use sluice_core::ColumnType;
use sluice_core::contract::ParamValue;
use sluice_data::{TableReader, batch_to_chunk};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Plugin, Runtime, RuntimeConfig};
use sluice_sdk::Step as _;

const MESSAGES: usize = 100_000;
const CHUNK_ROWS: usize = 4096;

fn policy() -> Policy {
    Policy::parse(
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n\
         [plugin.standard-scaler]\nread = [\"f0\", \"f1\", \"f2\", \"f3\"]\nwrite = [\"f0\", \"f1\", \"f2\", \"f3\"]\n",
        Path::new("bench-policy.toml"),
        Path::new("."),
    )
    .unwrap()
}

fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime
        .load(
            sluice_stdlib::get(name).unwrap().bytes,
            Some(name),
            &policy(),
        )
        .unwrap()
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// The 3,627 real SMS messages of the example, cycled to `count`.
fn messages(count: usize) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/chat-moderation/data/messages.csv");
    let mut messages: Vec<String> = Vec::new();
    for batch in TableReader::open(&path, 8192).unwrap() {
        let chunk = batch_to_chunk(&batch.unwrap(), &[("text".into(), ColumnType::Text)]).unwrap();
        messages.extend(
            (0..chunk.rows as usize).map(|row| chunk.text("text", row).unwrap_or("").to_string()),
        );
    }
    messages.iter().cycle().take(count).cloned().collect()
}

/// The same text rows as the host's chunk and as the SDK's (native) chunk.
fn text_chunks(rows: &[String]) -> (sluice_core::Chunk, sluice_sdk::Chunk) {
    let mut data = String::new();
    let mut offsets = vec![0u32];
    for row in rows {
        data.push_str(row);
        offsets.push(data.len() as u32);
    }
    let mut host = sluice_core::Chunk::new(rows.len() as u32);
    host.set(
        "text",
        sluice_core::ColumnValues::Text {
            data: data.clone(),
            offsets: offsets.clone(),
            valid: vec![],
        },
    );
    let native = sluice_sdk::Chunk::new(rows.len() as u32).with(
        "text",
        sluice_sdk::ColumnValues::Text(sluice_sdk::TextColumn {
            data,
            offsets,
            valid: vec![],
        }),
    );
    (host, native)
}

/// Four float64 columns of `rows` deterministic values.
fn float_chunks(rows: usize) -> (sluice_core::Chunk, sluice_sdk::Chunk) {
    let mut host = sluice_core::Chunk::new(rows as u32);
    let mut native = sluice_sdk::Chunk::new(rows as u32);
    let mut state: u64 = 42;
    for column in ["f0", "f1", "f2", "f3"] {
        let values: Vec<f64> = (0..rows)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64 * 100.0 - 50.0
            })
            .collect();
        host.set(
            column,
            sluice_core::ColumnValues::Float64 {
                values: values.clone(),
                valid: vec![],
            },
        );
        native.set(
            column,
            sluice_sdk::ColumnValues::Float64(sluice_sdk::Float64Column {
                values,
                valid: vec![],
            }),
        );
    }
    (host, native)
}

fn sdk_params<S: sluice_sdk::Step>(given: &[(&str, sluice_sdk::ParamValue)]) -> sluice_sdk::Params {
    let given = given
        .iter()
        .map(|(name, value)| sluice_sdk::Param {
            name: name.to_string(),
            value: value.clone(),
        })
        .collect();
    sluice_sdk::Params::resolve(&S::describe().params, given).unwrap()
}

fn chunk(results: &mut Results) {
    const ROUNDS: usize = 30;
    const CALLS: usize = 20;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();

    // text: clean-text
    let clean = load(&runtime, "clean-text");
    let (text_params, text_grant) = clean.effective_grant(&[]).unwrap();
    let (text_host, text_native) = text_chunks(&messages(CHUNK_ROWS));
    let mut text_step =
        clean_text::CleanText::open(sdk_params::<clean_text::CleanText>(&[]), None).unwrap();

    // float64: standard-scaler, fitted through the host
    let scaler = load(&runtime, "standard-scaler");
    let columns: Vec<String> = ["f0", "f1", "f2", "f3"].map(String::from).to_vec();
    let (scale_params, scale_grant) = scaler
        .effective_grant(&[("columns".into(), ParamValue::TextList(columns.clone()))])
        .unwrap();
    let (float_host, float_native) = float_chunks(CHUNK_ROWS);
    let state = {
        let mut session = scaler.session(&scale_params, &scale_grant, None).unwrap();
        session.fit(float_host.clone()).unwrap();
        session.finish_fit().unwrap()
    };
    let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut scale_step = standard_scaler::StandardScaler::open(
        sdk_params::<standard_scaler::StandardScaler>(&[("columns", column_refs[..].into())]),
        Some(state.clone()),
    )
    .unwrap();

    // 0 text native, 1 text wasm, 2 float native, 3 float wasm (ms per call)
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut round_medians: Vec<Vec<f64>> = vec![Vec::new(); 4];
    interleave(ROUNDS, 4, |variant, _| {
        let mut samples = Vec::with_capacity(CALLS);
        match variant {
            0 => {
                for _ in 0..CALLS {
                    let input = text_native.clone();
                    let started = Instant::now();
                    std::hint::black_box(text_step.process(input).unwrap());
                    samples.push(millis(started));
                }
            }
            1 => {
                let mut session = clean.session(&text_params, &text_grant, None).unwrap();
                for _ in 0..CALLS {
                    let input = text_host.clone();
                    let started = Instant::now();
                    std::hint::black_box(session.process(input).unwrap());
                    samples.push(millis(started));
                }
            }
            2 => {
                for _ in 0..CALLS {
                    let input = float_native.clone();
                    let started = Instant::now();
                    std::hint::black_box(scale_step.process(input).unwrap());
                    samples.push(millis(started));
                }
            }
            _ => {
                let mut session = scaler
                    .session(&scale_params, &scale_grant, Some(&state))
                    .unwrap();
                for _ in 0..CALLS {
                    let input = float_host.clone();
                    let started = Instant::now();
                    std::hint::black_box(session.process(input).unwrap());
                    samples.push(millis(started));
                }
            }
        }
        round_medians[variant].push(common::Dist::of(&samples).p50);
        times[variant].extend(samples);
    });
    results.dist("chunk_text_4096", "native", "ms", &times[0]);
    results.dist("chunk_text_4096", "wasm", "ms", &times[1]);
    results.dist("chunk_float64_4x4096", "native", "ms", &times[2]);
    results.dist("chunk_float64_4x4096", "wasm", "ms", &times[3]);
    let ratios = |a: usize, b: usize| -> Vec<f64> {
        round_medians[a]
            .iter()
            .zip(&round_medians[b])
            .map(|(x, y)| x / y)
            .collect()
    };
    results.dist(
        "chunk_text_4096",
        "ratio_wasm_over_native",
        "×",
        &ratios(1, 0),
    );
    results.dist(
        "chunk_float64_4x4096",
        "ratio_wasm_over_native",
        "×",
        &ratios(3, 2),
    );
}

fn clean_text_100k(results: &mut Results) {
    const ROUNDS: usize = 15;
    let rows = messages(MESSAGES);
    let chunks: Vec<_> = rows.chunks(CHUNK_ROWS).map(text_chunks).collect();
    let host: Vec<sluice_core::Chunk> = chunks.iter().map(|(h, _)| h.clone()).collect();
    let native: Vec<sluice_sdk::Chunk> = chunks.into_iter().map(|(_, n)| n).collect();
    let bytes: usize = host.iter().map(sluice_core::Chunk::byte_size).sum();
    println!("clean_text_100k: {MESSAGES} messages, {bytes} bytes of text");

    let runtimes: Vec<Runtime> = [true, false]
        .map(|epochs| {
            Runtime::new(RuntimeConfig {
                epoch_interruption: epochs,
                ..RuntimeConfig::default()
            })
            .unwrap()
        })
        .to_vec();
    let plugins: Vec<Plugin> = runtimes.iter().map(|r| load(r, "clean-text")).collect();
    let (params, effective) = plugins[0].effective_grant(&[]).unwrap();

    // 0 native, 1 wasm with the CPU limit, 2 wasm without (ms per pass)
    let mut passes: Vec<Vec<f64>> = vec![Vec::new(); 3];
    interleave(ROUNDS + 1, 3, |variant, round| {
        let time = if variant == 0 {
            let input = native.clone();
            let started = Instant::now();
            let mut step =
                clean_text::CleanText::open(sdk_params::<clean_text::CleanText>(&[]), None)
                    .unwrap();
            for chunk in input {
                std::hint::black_box(step.process(chunk).unwrap());
            }
            millis(started)
        } else {
            let plugin = &plugins[variant - 1];
            let input = host.clone();
            let started = Instant::now();
            let mut session = plugin.session(&params, &effective, None).unwrap();
            for chunk in input {
                std::hint::black_box(session.process(chunk).unwrap());
            }
            millis(started)
        };
        if round > 0 {
            passes[variant].push(time); // round 0 warms up
        }
    });
    results.dist("clean_text_100k", "native", "ms", &passes[0]);
    results.dist("clean_text_100k", "wasm_cpu_limit", "ms", &passes[1]);
    results.dist("clean_text_100k", "wasm_no_cpu_limit", "ms", &passes[2]);
    let per_round = |a: usize, b: usize| -> Vec<f64> {
        passes[a]
            .iter()
            .zip(&passes[b])
            .map(|(x, y)| x / y)
            .collect()
    };
    results.dist(
        "clean_text_100k",
        "ratio_wasm_cpu_limit_over_native",
        "×",
        &per_round(1, 0),
    );
    let overhead: Vec<f64> = per_round(1, 2).iter().map(|r| (r - 1.0) * 100.0).collect();
    results.dist("clean_text_100k", "cpu_limit_overhead", "%", &overhead);
}

fn main() {
    let mut results = Results::new("boundary");
    type Bench = fn(&mut Results);
    let all: [(&str, Bench); 2] = [("chunk", chunk), ("clean_text_100k", clean_text_100k)];
    for (name, bench) in all {
        if selected(name) {
            bench(&mut results);
        }
    }
    results.finish();
}
