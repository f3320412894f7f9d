//! Pipeline benchmarks (issue: the pipeline engine), each next to its
//! baseline in the same run. Runs the release `sluice` binary as a user
//! would, in a temporary project:
//! - `orchestration`: a chain of 100 trivial plugin steps over 1,000 rows,
//!   total time / 100, vs starting one Python interpreter per step (the
//!   floor of process-per-task orchestrators);
//! - `streaming`: 2,000,000 CSV rows through 3 row-wise plugin steps to
//!   Parquet: rows/s and peak RSS, vs the same work as a pandas script;
//! - `cache`: re-running an unchanged 10-step pipeline, end to end;
//! - `memory`: wide rows (about 2 KB each) through 3 plugin steps at several
//!   input sizes (`SLUICE_BENCH_GB`, default `0.5,2`): peak RSS of the
//!   `sluice run` process alone, which must stay flat as the input grows.
//!
//! Run: `cargo bench -p sluice --bench pipeline` (needs python3 with pandas
//! and pyarrow for the streaming baseline); one benchmark:
//! `cargo bench -p sluice --bench pipeline -- memory`.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// Runs a command; returns wall time and the child's peak RSS in bytes.
fn measure(command: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let output = command.output().expect("spawn");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{:?} failed:\n{}\n{}",
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    (elapsed, usage.ru_maxrss as u64 * 1024)
}

/// Runs a command; returns wall time and the peak RSS of that process alone
/// (`wait4`, not the maximum over every child so far).
// the child is reaped by `wait4`, which std's `wait` cannot replace: it
// alone returns this child's own rusage
#[allow(clippy::zombie_processes)]
fn measure_alone(command: &mut Command) -> (Duration, u64) {
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

fn orchestration(report: &mut String) {
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
    // warm the compile cache and the store once, then time a full run
    measure(&mut sluice(dir.path(), &["check", "p.toml"]));
    let (elapsed, _) = measure(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
    let mut python = Duration::ZERO;
    for _ in 0..10 {
        python += measure(Command::new("python3").args(["-c", "pass"])).0;
    }
    writeln!(report, "orchestration: 100-step chain over 1,000 rows: {:.1} ms total, {:.2} ms/step (sluice run --no-cache, incl. process start, plan, store)", elapsed.as_secs_f64() * 1e3, elapsed.as_secs_f64() * 10.0).unwrap();
    writeln!(
        report,
        "  baseline: one `python3 -c pass` per step: {:.1} ms/step",
        python.as_secs_f64() * 100.0
    )
    .unwrap();
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

fn streaming(report: &mut String) {
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
    let (elapsed, rss) = measure(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
    writeln!(
        report,
        "streaming: {rows} CSV rows through 3 plugin steps to Parquet: {:.2} s, {:.0} rows/s, peak RSS {:.0} MiB (child rusage; includes earlier children's max)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        rss as f64 / 1048576.0
    )
    .unwrap();
    std::fs::write(dir.path().join("baseline.py"), PANDAS).unwrap();
    let output = Command::new("python3")
        .arg("baseline.py")
        .arg("big.csv")
        .arg("pandas.parquet")
        .current_dir(dir.path())
        .output()
        .unwrap();
    if output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        writeln!(report, "  baseline pandas (chunksize 4096, NFKC+lower+url mask+split, word count, spam regex): {:.2} s, {:.0} rows/s, peak RSS {:.0} MiB", fields[1], fields[0] / fields[1], fields[2] / 1048576.0).unwrap();
    } else {
        writeln!(
            report,
            "  baseline pandas: not run ({})",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )
        .unwrap();
    }
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

fn memory(report: &mut String) {
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
        measure_alone(&mut sluice(dir.path(), &["check", "p.toml"]));
        let (elapsed, rss) =
            measure_alone(&mut sluice(dir.path(), &["run", "p.toml", "--no-cache"]));
        writeln!(
            report,
            "memory: {gb} GB CSV ({rows} rows of ~2 KB; generated in {:.0} s) through 3 plugin steps: {:.1} s, {:.1} MB/s of input, peak RSS of `sluice run` {:.0} MiB",
            generated.as_secs_f64(),
            elapsed.as_secs_f64(),
            gb * 1e3 / elapsed.as_secs_f64(),
            rss as f64 / 1048576.0
        )
        .unwrap();
        print!("{report}");
        report.clear();
    }
}

fn cache(report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    write_messages(&dir.path().join("m.csv"), 10_000);
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text\"]\n",
    )
    .unwrap();
    let mut pipeline = String::from(
        "[pipeline]\nname = \"ten\"\npolicy = \"policy.toml\"\n[source.m]\npath = \"m.csv\"\n",
    );
    for i in 0..10 {
        let input = if i == 0 {
            "m".to_string()
        } else {
            format!("s{}", i - 1)
        };
        writeln!(pipeline, "[step.s{i}]\nplugin = \"clean-text\"\ninput = \"{input}\"\nparams = {{ output = \"text\", max_repeat = {} }}", i + 1).unwrap();
    }
    std::fs::write(dir.path().join("p.toml"), pipeline).unwrap();
    measure(&mut sluice(dir.path(), &["run", "p.toml"]));
    let mut times = Vec::new();
    for _ in 0..10 {
        times.push(measure(&mut sluice(dir.path(), &["run", "p.toml"])).0);
    }
    times.sort();
    writeln!(report, "cache: re-run of an unchanged 10-step pipeline, end to end (process start to exit): median {:.1} ms, min {:.1} ms, max {:.1} ms over 10 runs", times[5].as_secs_f64() * 1e3, times[0].as_secs_f64() * 1e3, times[9].as_secs_f64() * 1e3).unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one benchmark
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut report = String::new();
    type Bench = fn(&mut String);
    let all: [(&str, Bench); 4] = [
        ("orchestration", orchestration),
        ("cache", cache),
        ("streaming", streaming),
        ("memory", memory),
    ];
    for (name, bench) in all {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            bench(&mut report);
            print!("{report}");
            report.clear();
        }
    }
}
