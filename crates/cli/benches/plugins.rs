//! Standard-library plugin benchmarks (issue: the standard plugin library),
//! each next to its baseline in the same run:
//! - `lexicon-detector` on the two labelled sets of examples/chat-moderation
//!   (SMS, SpamAssassin): precision / recall / F1 of "fires" against the
//!   labels, for the plugin and for the `rustrict` crate (`is_inappropriate`),
//!   plus their agreement; the labels are spam / not spam, so these are proxy
//!   figures (see docs/BENCHMARKS.md); throughput through the host vs native;
//! - `hash-features`: rows/s in Wasm through the host vs the same code native.
//!
//! Run: `cargo bench -p sluice --bench plugins`

use std::path::Path;
use std::time::Instant;

use rustrict::CensorStr;
use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnType, ColumnValues};
use sluice_data::{TableReader, batch_to_chunk};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Runtime, RuntimeConfig};

fn load(path: &str) -> (Vec<String>, Vec<bool>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/chat-moderation/data")
        .join(path);
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for batch in TableReader::open(&path, 8192).unwrap() {
        let chunk = batch_to_chunk(
            &batch.unwrap(),
            &[
                ("text".into(), ColumnType::Text),
                ("label".into(), ColumnType::Int64),
            ],
        )
        .unwrap();
        let ColumnValues::Int64 { values, .. } = chunk.column("label").unwrap() else {
            unreachable!()
        };
        for (row, label) in values.iter().enumerate() {
            texts.push(chunk.text("text", row).unwrap_or("").to_string());
            labels.push(*label == 1);
        }
    }
    (texts, labels)
}

fn prf(predicted: &[bool], truth: &[bool]) -> (f64, f64, f64) {
    let tp = predicted
        .iter()
        .zip(truth)
        .filter(|(p, t)| **p && **t)
        .count() as f64;
    let fp = predicted
        .iter()
        .zip(truth)
        .filter(|(p, t)| **p && !**t)
        .count() as f64;
    let fn_ = predicted
        .iter()
        .zip(truth)
        .filter(|(p, t)| !**p && **t)
        .count() as f64;
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

fn chunks(texts: &[&str], rows: usize) -> Vec<Chunk> {
    texts
        .chunks(rows)
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
                ColumnValues::Text {
                    data,
                    offsets,
                    valid: vec![],
                },
            );
            chunk
        })
        .collect()
}

fn lexicon(runtime: &Runtime) {
    let lexicon = lexicon_detector::Lexicon::builtin();
    let langs = lexicon_detector::Langs::from_param("auto").unwrap();
    for file in ["messages.csv", "spamassassin.csv"] {
        let (texts, labels) = load(file);
        let ours: Vec<bool> = texts
            .iter()
            .map(|t| lexicon.detect(t, langs).fired())
            .collect();
        let theirs: Vec<bool> = texts
            .iter()
            .map(|t| t.as_str().is_inappropriate())
            .collect();
        let (p, r, f) = prf(&ours, &labels);
        let (rp, rr, rf) = prf(&theirs, &labels);
        let (ap, ar, af) = prf(&ours, &theirs);
        println!(
            "lexicon/{file}: {} messages, {} labelled spam",
            texts.len(),
            labels.iter().filter(|l| **l).count()
        );
        println!(
            "  lexicon-detector fires on {:>5}: P {p:.3} R {r:.3} F1 {f:.3} (vs spam labels)",
            ours.iter().filter(|x| **x).count()
        );
        println!(
            "  rustrict         fires on {:>5}: P {rp:.3} R {rr:.3} F1 {rf:.3} (vs spam labels)",
            theirs.iter().filter(|x| **x).count()
        );
        println!("  lexicon-detector vs rustrict as reference: P {ap:.3} R {ar:.3} F1 {af:.3}");
    }
    // throughput: 100,000 SMS messages (the 3,627 real ones, cycled)
    let (texts, _) = load("messages.csv");
    let all: Vec<&str> = texts
        .iter()
        .map(String::as_str)
        .cycle()
        .take(100_000)
        .collect();
    let started = Instant::now();
    let mut fired = 0;
    for text in &all {
        fired += usize::from(lexicon.detect(text, langs).fired());
    }
    let native = started.elapsed();
    let started = Instant::now();
    for text in &all {
        std::hint::black_box(text.is_inappropriate());
    }
    let rustrict_time = started.elapsed();
    let policy = Policy::parse(
        "[plugin.lexicon-detector]\nread = [\"text\"]\nwrite = [\"offensive_label\", \"offensive_score\", \"offensive_rules\"]\n",
        Path::new("bench.toml"),
        Path::new("."),
    )
    .unwrap();
    let plugin = runtime
        .load(
            sluice_stdlib::get("lexicon-detector").unwrap().bytes,
            Some("lexicon-detector"),
            &policy,
        )
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let input = chunks(&all, 4096);
    let started = Instant::now();
    let mut session = plugin.session(&params, &effective, None).unwrap();
    for chunk in &input {
        std::hint::black_box(session.process(chunk.clone()).unwrap());
    }
    let wasm = started.elapsed();
    let rate = |d: std::time::Duration| all.len() as f64 / d.as_secs_f64();
    println!(
        "lexicon throughput, 100,000 messages: wasm through host {:.0} msg/s, native {:.0} msg/s ({} fired), rustrict native {:.0} msg/s",
        rate(wasm),
        rate(native),
        fired,
        rate(rustrict_time)
    );
}

fn hash_features(runtime: &Runtime) {
    let (texts, _) = load("messages.csv");
    let all: Vec<&str> = texts
        .iter()
        .map(String::as_str)
        .cycle()
        .take(100_000)
        .collect();
    let input = chunks(&all, 4096);
    let config = hash_features::Config {
        n_features_log2: 18,
        ..hash_features::Config::default()
    };
    let started = Instant::now();
    let mut featurizer = hash_features::Featurizer::new(config);
    for chunk in &input {
        let ColumnValues::Text { data, offsets, .. } = chunk.column("text").unwrap() else {
            unreachable!()
        };
        let (mut row_offsets, mut indices, mut values) = (vec![0u32], Vec::new(), Vec::new());
        for w in offsets.windows(2) {
            for (i, v) in featurizer.row(&data[w[0] as usize..w[1] as usize]).unwrap() {
                indices.push(*i);
                values.push(*v);
            }
            row_offsets.push(indices.len() as u32);
        }
        std::hint::black_box((row_offsets, indices, values));
    }
    let native = started.elapsed();
    let policy = Policy::parse(
        "[plugin.hash-features]\nread = [\"text\"]\nwrite = [\"features\"]\n",
        Path::new("bench.toml"),
        Path::new("."),
    )
    .unwrap();
    let plugin = runtime
        .load(
            sluice_stdlib::get("hash-features").unwrap().bytes,
            Some("hash-features"),
            &policy,
        )
        .unwrap();
    let (params, effective) = plugin
        .effective_grant(&[("column".into(), ParamValue::Text("text".into()))])
        .unwrap();
    let started = Instant::now();
    let mut fit = plugin.session(&params, &effective, None).unwrap();
    fit.fit(input[0].clone()).unwrap();
    let state = fit.finish_fit().unwrap();
    let mut session = plugin.session(&params, &effective, Some(&state)).unwrap();
    for chunk in &input {
        std::hint::black_box(session.process(chunk.clone()).unwrap());
    }
    let wasm = started.elapsed();
    println!(
        "hash-features (word 1-2-grams, 2^18 dims, tf, l2), 100,000 messages: wasm through host {:.0} rows/s, native {:.0} rows/s ({:.2}x)",
        all.len() as f64 / wasm.as_secs_f64(),
        all.len() as f64 / native.as_secs_f64(),
        wasm.as_secs_f64() / native.as_secs_f64()
    );
}

fn main() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    lexicon(&runtime);
    hash_features(&runtime);
}
