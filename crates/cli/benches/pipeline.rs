//! Pipeline benchmarks (issue: the pipeline engine), each next to its
//! baseline in the same run. Runs the release `sluice` binary as a user
//! would, in a temporary project:
//! - `orchestration`: a chain of 100 trivial plugin steps over 1,000 rows,
//!   total time / 100, vs starting one Python interpreter per step (the
//!   floor of process-per-task orchestrators), interleaved, 10 rounds;
//! - `streaming`: 2,000,000 CSV rows through 3 row-wise plugin steps to
//!   Parquet: rows/s and peak RSS, vs similar work as a pandas script
//!   (whole process against whole process), interleaved, 3 rounds;
//! - `cache`: re-running an unchanged pipeline, end to end, on 10k rows and
//!   on a 130 MB source, interleaved, 10 rounds;
//! - `memory`: wide rows (about 2 KB each) through 3 plugin steps at several
//!   input sizes (`SLUICE_BENCH_GB`, default `0.5,2`): peak RSS of the
//!   `sluice run` process alone, which must stay flat as the input grows.
//!
//! Peak RSS is always that of the measured process alone (`wait4`).
//!
//! Run: `cargo bench -p sluice --bench pipeline` (the streaming baseline
//! needs pandas and pyarrow: `SLUICE_BENCH_PYTHON`, as `scripts/bench.sh`
//! sets it, or `python3`; without them it is reported "not run"); one
//! benchmark: `cargo bench -p sluice --bench pipeline -- memory`.

mod common;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Results, selected};

/// Rounds of the interleaved variants; heavy ones (seconds a pass) fewer.
const ROUNDS: usize = 10;
const HEAVY_ROUNDS: usize = 3;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// Runs a command; returns wall time and the peak RSS of that process alone
/// (`wait4`, not the maximum over every child so far).
// the child is reaped by `wait4`, which std's `wait` cannot replace: it
// alone returns this child's own rusage
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: wait4 on our own child, writing into the structs we pass; the
    // `Child` is never waited on again.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: {}",
        std::io::read_to_string(child.stderr.unwrap()).unwrap_or_default()
    );
    (elapsed, usage.ru_maxrss as u64 * 1024)
}

fn sluice(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(SLUICE);
    command
        .args(args)
        .current_dir(dir)
        .env("SLUICE_HOME", dir.join(".sluice"))
        .env_remove("SLUICE_DATABASE_URL");
    command
}

/// Deterministic chat-like messages (seeded LCG over a fixed vocabulary).
fn write_messages(path: &Path, rows: usize) {
    const WORDS: &[&str] = &[
        "hello",
        "FREE",
        "win",
        "cash",
        "now",
        "call",
        "me",
        "later",
        "ok",
        "see",
        "you",
        "tomorrow",
        "prize",
        "claim",
        "www.example.com",
        "@bob",
        "lol",
        "thanks",
        "URGENT",
        "meeting",
        "at",
        "5pm",
        "love",
        "the",
        "a",
        "sooooo",
        "good",
    ];
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,text").unwrap();
    let mut state: u64 = 7;
    for id in 0..rows {
        let mut line = String::new();
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = 3 + (state >> 60) as usize;
        for w in 0..n {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if w > 0 {
                line.push(' ');
            }
            line.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
        }
        writeln!(out, "{id},{line}").unwrap();
    }
}

fn orchestration(results: &mut Results) {
    let dir = tempfile::tempdir().unwrap();
    write_messages(&dir.path().join("m.csv"), 1000);
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.word-count]\nread = [\"text\"]\nwrite = [\"n\"]\n",
    )
    .unwrap();
    let mut pipeline = String::from(
        "[pipeline]\nname = \"chain\"\npolicy = \"policy.toml\"\n[source.m]\npath = \"m.csv\"\n",
    );
    for i in 0..100 {
        let input = if i == 0 {
            "m".to_string()
        } else {
            format!("s{}", i - 1)
        };
        writeln!(pipeline, "[step.s{i}]\nplugin = \"word-count\"\ninput = \"{input}\"\nparams = {{ output = \"n\" }}").unwrap();
    }
    std::fs::write(dir.path().join("p.toml"), pipeline).unwrap();
    // warm the compile cache and the store once, then alternate full runs
    // with the baseline
    measure(&mut sluice(dir.path(), &["check", "p.toml"]));
    let (mut sluice_ms, mut python_ms, mut rss) = (Vec::new(), Vec::new(), 0);
    common::interleave(ROUNDS, 2, |variant, _| {
        if variant == 0 {
            // every round writes its 100 artifacts anew (a run with --no-cache
            // skips writing content that is already stored)
            let _ = std::fs::remove_dir_all(dir.path().join(".sluice/artifacts"));
            let (elapsed, peak) =
                measure(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
            sluice_ms.push(elapsed.as_secs_f64() * 1e3 / 100.0);
            rss = rss.max(peak);
        } else {
            for _ in 0..5 {
                let (elapsed, _) = measure(Command::new(python()).args(["-c", "pass"]));
                python_ms.push(elapsed.as_secs_f64() * 1e3);
            }
        }
    });
    results.dist(
        "orchestration",
        "sluice_run_no_cache_100_steps_per_step",
        "ms/step",
        &sluice_ms,
    );
    results.dist(
        "orchestration",
        "baseline_python3_c_pass",
        "ms/step",
        &python_ms,
    );
    results.note(
        "orchestration",
        "peak_rss_sluice_run",
        serde_json::json!({ "mib": rss as f64 / 1048576.0 }),
    );
}

const PANDAS: &str = r#"
import re, sys, time, resource
import pandas as pd
t = time.time()
rows = 0
writer = None
import pyarrow as pa, pyarrow.parquet as pq
url = re.compile(r"(https?://\S+|www\.\S+)")
for chunk in pd.read_csv(sys.argv[1], chunksize=4096):
    text = chunk["text"].astype(str)
    clean = text.str.normalize("NFKC").str.lower().str.replace(url, "<url>", regex=True).str.split().str.join(" ")
    chunk["text_clean"] = clean
    chunk["word_count"] = clean.str.split().str.len()
    chunk["spam"] = text.str.contains(r"\b(?:free|win|cash|prize|claim|urgent)\b", case=False, regex=True)
    table = pa.Table.from_pandas(chunk, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(sys.argv[2], table.schema)
    writer.write_table(table)
    rows += len(chunk)
writer.close()
print(rows, time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"#;

fn streaming(results: &mut Results) {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2_000_000;
    write_messages(&dir.path().join("big.csv"), rows);
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n[plugin.word-count]\nread = [\"text_clean\"]\nwrite = [\"word_count\"]\n[plugin.spam-detector]\nread = [\"text\"]\nwrite = [\"spam_label\", \"spam_score\", \"spam_rules\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[pipeline]\nname = \"stream\"\npolicy = \"policy.toml\"\nchunk_rows = 4096\n[source.big]\npath = \"big.csv\"\n\
         [step.clean]\nplugin = \"clean-text\"\ninput = \"big\"\n\
         [step.count]\nplugin = \"word-count\"\ninput = \"clean\"\nparams = { column = \"text_clean\" }\n\
         [step.spam]\nplugin = \"spam-detector\"\ninput = \"count\"\n\
         [output.out]\nstep = \"spam\"\npath = \"out.parquet\"\n",
    )
    .unwrap();
    measure(&mut sluice(dir.path(), &["check", "p.toml"]));
    std::fs::write(dir.path().join("baseline.py"), PANDAS).unwrap();
    let python = python();
    // whole process against whole process: interpreter start and imports
    // count for pandas as process start and plugin loading do for sluice
    let pandas_runs = Command::new(&python)
        .args(["-c", "import pandas, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    let (mut sluice_s, mut sluice_rss, mut pandas_s, mut pandas_rss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    common::interleave(HEAVY_ROUNDS, 2, |variant, _| {
        if variant == 0 {
            let (elapsed, rss) = measure(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
            sluice_s.push(elapsed.as_secs_f64());
            sluice_rss.push(rss as f64 / 1048576.0);
        } else if pandas_runs {
            let (elapsed, rss) = measure(
                Command::new(&python)
                    .args(["baseline.py", "big.csv", "pandas.parquet"])
                    .current_dir(dir.path()),
            );
            pandas_s.push(elapsed.as_secs_f64());
            pandas_rss.push(rss as f64 / 1048576.0);
        }
    });
    let group = "streaming_2m_rows_3_steps";
    let throughput =
        |seconds: &[f64]| -> Vec<f64> { seconds.iter().map(|s| rows as f64 / s).collect() };
    results.dist(group, "sluice_wall", "s", &sluice_s);
    results.dist(group, "sluice_rows_per_s", "rows/s", &throughput(&sluice_s));
    results.dist(group, "sluice_peak_rss", "MiB", &sluice_rss);
    if pandas_runs {
        results.dist(group, "baseline_pandas_wall", "s", &pandas_s);
        results.dist(
            group,
            "baseline_pandas_rows_per_s",
            "rows/s",
            &throughput(&pandas_s),
        );
        results.dist(group, "baseline_pandas_peak_rss", "MiB", &pandas_rss);
    } else {
        results.note(
            group,
            "baseline_pandas",
            serde_json::json!({ "not_run": format!("{python} cannot import pandas and pyarrow (scripts/bench.sh installs them)") }),
        );
    }
}

/// The Python the baselines run with: `SLUICE_BENCH_PYTHON` (the venv
/// `scripts/bench.sh` makes), else `python3`.
fn python() -> String {
    std::env::var("SLUICE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Writes a CSV of about `bytes` bytes of wide rows (`id`, a ~1.5 KB
/// message, a ~0.5 KB note), deterministic (seeded LCG over a vocabulary);
/// returns the rows written.
fn write_wide_rows(path: &Path, bytes: u64) -> u64 {
    const WORDS: &[&str] = &[
        "hello",
        "FREE",
        "win",
        "cash",
        "now",
        "call",
        "me",
        "later",
        "ok",
        "see",
        "you",
        "tomorrow",
        "prize",
        "claim",
        "www.example.com",
        "@bob",
        "lol",
        "thanks",
        "URGENT",
        "meeting",
        "at",
        "5pm",
        "love",
        "the",
        "a",
        "sooooo",
        "good",
        "ｆｕｌｌｗｉｄｔｈ",
    ];
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(out, "id,text,note").unwrap();
    let mut state: u64 = 11;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state
    };
    let (mut written, mut rows) = (0u64, 0u64);
    let mut line = String::new();
    while written < bytes {
        line.clear();
        write!(line, "{rows},\"").unwrap();
        for (column, target) in [(0, 1500), (1, 500)] {
            if column == 1 {
                line.push_str("\",\"");
            }
            let start = line.len();
            while line.len() - start < target {
                line.push_str(WORDS[(next() >> 33) as usize % WORDS.len()]);
                line.push(' ');
            }
        }
        line.push_str("\"\n");
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

fn memory(results: &mut Results) {
    let sizes = std::env::var("SLUICE_BENCH_GB").unwrap_or_else(|_| "0.5,2".into());
    for gb in sizes.split(',').map(|s| {
        s.trim()
            .parse::<f64>()
            .expect("SLUICE_BENCH_GB: sizes in GB")
    }) {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let started = Instant::now();
        let rows = write_wide_rows(&dir.path().join("wide.csv"), (gb * 1e9) as u64);
        let generated = started.elapsed();
        std::fs::write(
            dir.path().join("policy.toml"),
            "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n[plugin.word-count]\nread = [\"text_clean\"]\nwrite = [\"word_count\"]\n[plugin.spam-detector]\nread = [\"text\"]\nwrite = [\"spam_label\", \"spam_score\", \"spam_rules\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("p.toml"),
            "[pipeline]\nname = \"wide\"\npolicy = \"policy.toml\"\nchunk_rows = 4096\n[source.wide]\npath = \"wide.csv\"\n\
             [step.clean]\nplugin = \"clean-text\"\ninput = \"wide\"\n\
             [step.count]\nplugin = \"word-count\"\ninput = \"clean\"\nparams = { column = \"text_clean\" }\n\
             [step.spam]\nplugin = \"spam-detector\"\ninput = \"count\"\n",
        )
        .unwrap();
        measure(&mut sluice(dir.path(), &["check", "p.toml"]));
        let (elapsed, rss) = measure(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
        // one pass per size: a pass takes minutes and the figure is memory
        results.note(
            "memory_wide_rows",
            &format!("{gb}_gb"),
            serde_json::json!({
                "rows": rows,
                "generated_s": generated.as_secs_f64(),
                "wall_s": elapsed.as_secs_f64(),
                "input_mb_per_s": gb * 1e3 / elapsed.as_secs_f64(),
                "peak_rss_mib_sluice_run": rss as f64 / 1048576.0,
            }),
        );
    }
}

/// A chain of `steps` `clean-text` steps over `source` in `dir`.
fn write_chain(dir: &Path, source: &str, steps: usize) {
    std::fs::write(
        dir.join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text\"]\n",
    )
    .unwrap();
    let mut pipeline = format!(
        "[pipeline]\nname = \"chain\"\npolicy = \"policy.toml\"\n[source.m]\npath = \"{source}\"\n"
    );
    for i in 0..steps {
        let input = if i == 0 {
            "m".to_string()
        } else {
            format!("s{}", i - 1)
        };
        writeln!(pipeline, "[step.s{i}]\nplugin = \"clean-text\"\ninput = \"{input}\"\nparams = {{ output = \"text\", max_repeat = {} }}", i + 1).unwrap();
    }
    std::fs::write(dir.join("p.toml"), pipeline).unwrap();
}

/// Re-running an unchanged pipeline, small and large input interleaved:
/// the cost must not grow with the input (sources and cached artifacts are
/// known by their fingerprints, not re-hashed). `SLUICE_BENCH_CACHE_MB`
/// sets the large source's size (default 130 MB).
fn cache(results: &mut Results) {
    let megabytes: f64 = std::env::var("SLUICE_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(130.0);
    let small = tempfile::tempdir().unwrap();
    write_messages(&small.path().join("m.csv"), 10_000);
    write_chain(small.path(), "m.csv", 10);
    let large = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // about 40 bytes a row
    let rows = (megabytes * 1e6 / 40.0) as usize;
    write_messages(&large.path().join("m.csv"), rows);
    let bytes = std::fs::metadata(large.path().join("m.csv")).unwrap().len();
    write_chain(large.path(), "m.csv", 3);
    let (first, _) = measure(&mut sluice(large.path(), &["run", "p.toml"]));
    measure(&mut sluice(small.path(), &["run", "p.toml"]));
    // the first re-run is timed too: nothing is hashed once more after a run
    let (mut small_ms, mut large_ms, mut small_rss, mut large_rss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    common::interleave(ROUNDS, 2, |variant, _| {
        let (dir, times, rss) = match variant {
            0 => (small.path(), &mut small_ms, &mut small_rss),
            _ => (large.path(), &mut large_ms, &mut large_rss),
        };
        let (elapsed, peak) = measure(&mut sluice(dir, &["run", "p.toml"]));
        times.push(elapsed.as_secs_f64() * 1e3);
        rss.push(peak as f64 / 1048576.0);
    });
    results.dist("cache_rerun", "10_steps_10k_rows", "ms", &small_ms);
    results.dist(
        "cache_rerun",
        &format!("3_steps_{:.0}_mb_source", bytes as f64 / 1e6),
        "ms",
        &large_ms,
    );
    results.dist(
        "cache_rerun_peak_rss",
        "10_steps_10k_rows",
        "MiB",
        &small_rss,
    );
    results.dist(
        "cache_rerun_peak_rss",
        &format!("3_steps_{:.0}_mb_source", bytes as f64 / 1e6),
        "MiB",
        &large_rss,
    );
    results.note(
        "cache_rerun",
        "first_run_of_the_large_pipeline",
        serde_json::json!({ "rows": rows, "source_bytes": bytes, "wall_s": first.as_secs_f64() }),
    );
    let (verify, _) = measure(&mut sluice(large.path(), &["run", "p.toml", "--verify"]));
    results.note(
        "cache_rerun",
        "large_with_verify_hashing_everything",
        serde_json::json!({ "wall_ms": verify.as_secs_f64() * 1e3 }),
    );
}

fn main() {
    let mut results = Results::new("pipeline");
    type Bench = fn(&mut Results);
    let all: [(&str, Bench); 4] = [
        ("orchestration", orchestration),
        ("cache", cache),
        ("streaming", streaming),
        ("memory", memory),
    ];
    for (name, bench) in all {
        if selected(name) {
            bench(&mut results);
        }
    }
    results.finish();
}
