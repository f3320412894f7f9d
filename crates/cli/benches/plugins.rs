//! Standard-library plugin benchmarks (issue: the standard plugin library),
//! each next to its baseline in the same run:
//! - `lexicon-detector` on offensive-language rows: the human-labelled
//!   insults set (path given with `--insults PATH`, not part of the
//!   repository; see docs/BENCHMARKS.md) and the SMS ham of
//!   examples/chat-moderation (flag rate on ordinary messages), next to
//!   `rustrict` (`is_inappropriate`) and, when their venv exists
//!   (crates/cli/benches/offensive_venv.sh), alt-profanity-check 1.9.1 and
//!   better-profanity 0.7.0 on the same rows (offensive_baseline.py): rows
//!   flagged, precision / recall / F1 of the flag and ROC-AUC of the score;
//!   then throughput through the host vs native vs the baselines, and the
//!   cost of opening a session;
//! - the same detectors on the spam-labelled sets (a proxy only);
//! - `hash-features`: rows/s in Wasm through the host vs the same code native.
//!
//! Run: `cargo bench -p sluice --bench plugins -- --insults ../shared/data/insults_dev.csv`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustrict::CensorStr;
use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnType, ColumnValues};
use sluice_data::{TableReader, batch_to_chunk};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Runtime, RuntimeConfig};

fn load(path: &str) -> (Vec<String>, Vec<bool>) {
    load_path(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/chat-moderation/data")
            .join(path),
    )
}

/// `text` and `label` (1 = positive) of a CSV file.
fn load_path(path: &Path) -> (Vec<String>, Vec<bool>) {
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for batch in TableReader::open(path, 8192).unwrap() {
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

/// One detector's figures on one set of rows.
fn report(detector: &str, scores: &[f64], labels: Option<&[bool]>) {
    let flags: Vec<bool> = scores.iter().map(|&s| s >= 0.5).collect();
    let flagged = flags.iter().filter(|f| **f).count();
    let rate = 100.0 * flagged as f64 / flags.len().max(1) as f64;
    match labels {
        Some(labels) => {
            let (p, r, f) = prf(&flags, labels);
            let auc = sluice_metrics::roc_auc(labels, scores).unwrap_or(f64::NAN);
            println!(
                "  {detector:<20} flags {flagged:>5} ({rate:>5.2} %)  P {p:.3}  R {r:.3}  F1 {f:.3}  ROC-AUC {auc:.3}"
            );
        }
        None => println!("  {detector:<20} flags {flagged:>5} ({rate:>5.2} %)"),
    }
}

/// A named set of rows: texts and, when labelled, 1 = offensive.
type RowSet = (&'static str, Vec<String>, Option<Vec<bool>>);

/// The Python baselines' venv (crates/cli/benches/offensive_venv.sh).
fn baseline_python() -> Option<PathBuf> {
    let python = std::env::var_os("SLUICE_OFFENSIVE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/offensive-venv/bin/python")
        });
    python.exists().then_some(python)
}

/// Writes `set,text,label` rows for offensive_baseline.py.
fn baseline_rows(sets: &[RowSet]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sluice-offensive-{}.csv", std::process::id()));
    let mut csv = String::from("set,text,label\n");
    for (name, texts, labels) in sets {
        for (row, text) in texts.iter().enumerate() {
            let label = labels
                .as_ref()
                .map_or(String::new(), |l| u8::from(l[row]).to_string());
            csv.push_str(&format!(
                "{name},\"{}\",{label}\n",
                text.replace('"', "\"\"")
            ));
        }
    }
    std::fs::write(&path, csv).unwrap();
    path
}

/// Offensive-language quality on the insults set and SMS ham, every
/// detector on the same rows, then throughput.
fn offensive(insults: Option<&Path>) {
    let lexicon = lexicon_detector::Lexicon::builtin();
    let langs = lexicon_detector::Langs::BOTH;
    let mut sets: Vec<RowSet> = Vec::new();
    match insults {
        Some(path) => {
            let (texts, labels) = load_path(path);
            sets.push(("insults", texts, Some(labels)));
        }
        None => println!(
            "offensive: no `--insults PATH` given: the insults set is skipped (see docs/BENCHMARKS.md)"
        ),
    }
    let (texts, labels) = load("messages.csv");
    let ham: Vec<String> = texts
        .into_iter()
        .zip(labels)
        .filter(|(_, spam)| !spam)
        .map(|(text, _)| text)
        .collect();
    sets.push(("sms_ham", ham, None));
    let python = baseline_python().map(|python| {
        let rows = baseline_rows(&sets);
        let output = std::process::Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/offensive_baseline.py"))
            .arg(&rows)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&rows);
        assert!(
            output.status.success(),
            "offensive_baseline.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    });
    if python.is_none() {
        println!(
            "offensive: Python baselines skipped (run crates/cli/benches/offensive_venv.sh first)"
        );
    }
    let mut all_rows = 0;
    let (mut ours_time, mut rustrict_time) = (Duration::ZERO, Duration::ZERO);
    for (name, texts, labels) in &sets {
        all_rows += texts.len();
        println!(
            "offensive/{name}: {} rows{}",
            texts.len(),
            labels.as_ref().map_or(String::new(), |l| format!(
                ", {} labelled offensive",
                l.iter().filter(|x| **x).count()
            ))
        );
        let started = Instant::now();
        let ours: Vec<f64> = texts
            .iter()
            .map(|t| lexicon.detect(t, langs).score)
            .collect();
        ours_time += started.elapsed();
        let started = Instant::now();
        let theirs: Vec<f64> = texts
            .iter()
            .map(|t| f64::from(u8::from(t.as_str().is_inappropriate())))
            .collect();
        rustrict_time += started.elapsed();
        report("lexicon-detector", &ours, labels.as_deref());
        report("rustrict", &theirs, labels.as_deref());
        for baseline in ["alt-profanity-check", "better-profanity"] {
            let Some(set) = python.as_ref().map(|p| &p[baseline]["sets"][name]) else {
                continue;
            };
            let get = |key: &str| set[key].as_f64().unwrap_or(f64::NAN);
            let flagged = get("flagged");
            let rate = 100.0 * flagged / get("rows");
            if labels.is_some() {
                println!(
                    "  {baseline:<20} flags {flagged:>5} ({rate:>5.2} %)  P {:.3}  R {:.3}  F1 {:.3}  ROC-AUC {:.3}",
                    get("precision"),
                    get("recall"),
                    get("f1"),
                    get("roc_auc")
                );
            } else {
                println!("  {baseline:<20} flags {flagged:>5} ({rate:>5.2} %)");
            }
        }
    }
    // throughput: the two native detectors interleaved, 5 rounds each over
    // every row above (the first round is the quality pass)
    let all: Vec<&str> = sets
        .iter()
        .flat_map(|(_, texts, _)| texts.iter().map(String::as_str))
        .collect();
    let (mut ours_rates, mut rustrict_rates) = (vec![], vec![]);
    let rate = |d: Duration| all_rows as f64 / d.as_secs_f64();
    ours_rates.push(rate(ours_time));
    rustrict_rates.push(rate(rustrict_time));
    for _ in 1..5 {
        let started = Instant::now();
        for text in &all {
            std::hint::black_box(lexicon.detect(text, langs).score);
        }
        ours_rates.push(rate(started.elapsed()));
        let started = Instant::now();
        for text in &all {
            std::hint::black_box(text.is_inappropriate());
        }
        rustrict_rates.push(rate(started.elapsed()));
    }
    let spread = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        format!(
            "{:.0} rows/s (median of 5; {:.0}–{:.0})",
            rates[2], rates[0], rates[4]
        )
    };
    let mut line = format!(
        "offensive throughput over those {all_rows} rows: lexicon-detector native {}, rustrict native {}",
        spread(&mut ours_rates),
        spread(&mut rustrict_rates)
    );
    for baseline in ["alt-profanity-check", "better-profanity"] {
        if let Some(python) = &python {
            line.push_str(&format!(
                ", {baseline} (Python, one pass) {:.0} rows/s",
                python[baseline]["rows_per_s"].as_f64().unwrap_or(f64::NAN)
            ));
        }
    }
    println!("{line}");
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
    // what a session start pays: instantiate, `open` (builds the index)
    let mut opens: Vec<Duration> = (0..31)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(plugin.session(&params, &effective, None).unwrap());
            started.elapsed()
        })
        .collect();
    opens.sort();
    println!(
        "lexicon-detector session open (instantiate + open), 31 opens: median {:.3} ms, min {:.3} ms, max {:.3} ms",
        opens[15].as_secs_f64() * 1e3,
        opens[0].as_secs_f64() * 1e3,
        opens[30].as_secs_f64() * 1e3
    );
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
    // `cargo bench` passes `--bench`; the only option of ours is `--insults PATH`
    let args: Vec<String> = std::env::args().collect();
    let insults = args
        .iter()
        .position(|a| a == "--insults")
        .map(|at| PathBuf::from(args.get(at + 1).expect("--insults needs a path")));
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    offensive(insults.as_deref());
    lexicon(&runtime);
    hash_features(&runtime);
}
