//! Every hostile plugin in tests/guests/src/bin has a test here (the
//! `foreach_hostile!` check below fails the build otherwise). Each asserts
//! the outcome, that the error names the plugin and the limit or capability,
//! and that the same host process then runs a well-behaved plugin.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_runtime::capture::ENTRY_OVERHEAD;
use sluice_runtime::policy::Policy;
use sluice_runtime::{GuestOutput, Plugin, Runtime, RuntimeError, SessionStats};
use sluice_tests::*;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
sluice_tests::foreach_hostile!(assert_test_exists);

const TEXT_POLICY: &str = "read = [\"text\"]\nwrite = [\"out\"]\n";

fn policy_for(name: &str, extra: &str) -> Policy {
    policy(
        &format!("[plugin.{name}]\n{TEXT_POLICY}{extra}"),
        Path::new("."),
    )
}

fn load(runtime: &Runtime, path: &str, name: &str, extra: &str) -> Result<Plugin, RuntimeError> {
    runtime.load_file(Path::new(path), Some(name), &policy_for(name, extra))
}

/// Loads, opens a session and processes one chunk of `rows` rows.
fn process(
    runtime: &Runtime,
    path: &str,
    name: &str,
    extra: &str,
    rows: usize,
) -> Result<sluice_core::Chunk, RuntimeError> {
    let plugin = load(runtime, path, name, extra)?;
    let (params, effective) = plugin.effective_grant(&[])?;
    let mut session = plugin.session(&params, &effective, None)?;
    let input: Vec<String> = (0..rows).map(|i| format!("message {i}")).collect();
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    session.process(text_chunk("text", &input))
}

fn expect_err(result: Result<impl std::fmt::Debug, RuntimeError>) -> RuntimeError {
    result.expect_err("the hostile plugin must fail")
}

#[test]
fn infinite_loop() {
    let runtime = runtime();
    let started = Instant::now();
    let err = expect_err(process(
        &runtime,
        INFINITE_LOOP,
        "infinite-loop",
        "cpu = \"300ms\"\n",
        10,
    ));
    let elapsed = started.elapsed();
    assert!(matches!(err, RuntimeError::CpuLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("infinite-loop") && message.contains("cpu") && message.contains("300ms"),
        "{message}"
    );
    // stopped within its budget (plus scheduling slack), not after the default 10s
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_host_still_works(&runtime);
}

#[test]
fn deep_recursion() {
    let runtime = runtime();
    let err = expect_err(process(&runtime, DEEP_RECURSION, "deep-recursion", "", 10));
    assert!(matches!(err, RuntimeError::StackOverflow { .. }), "{err}");
    assert!(
        err.to_string().contains("deep-recursion") && err.to_string().contains("stack overflow"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn memory_bomb() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        MEMORY_BOMB,
        "memory-bomb",
        "memory = \"64MiB\"\n",
        10,
    ));
    assert!(matches!(err, RuntimeError::MemoryLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("memory-bomb")
            && message.contains("64.0 MiB")
            && message.contains("policy `memory`"),
        "{message}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn big_table() {
    let runtime = runtime();
    // the same plugin runs under a grant whose table bound fits it...
    let out =
        process(&runtime, BIG_TABLE, "big-table", "", 3).expect("fits the default table bound");
    assert_eq!(out.rows, 3);
    // ...and is stopped when the grant is smaller than its table
    let err = expect_err(process(
        &runtime,
        BIG_TABLE,
        "big-table",
        "table_elements = 64\n",
        3,
    ));
    assert!(matches!(err, RuntimeError::TableLimit { .. }), "{err}");
    assert!(
        err.to_string().contains("big-table") && err.to_string().contains("table_elements"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn huge_output() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        HUGE_OUTPUT,
        "huge-output",
        "max_output_bytes = \"8MiB\"\n",
        16,
    ));
    assert!(
        matches!(
            err,
            RuntimeError::OutputLimit {
                field: "max_output_bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("huge-output"), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn many_rows() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        MANY_ROWS,
        "many-rows",
        "max_output_rows = 5000\n",
        10,
    ));
    assert!(
        matches!(
            err,
            RuntimeError::OutputLimit {
                field: "max_output_rows",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("many-rows") && err.to_string().contains("10000 rows"),
        "{err}"
    );
    // without the row bound it is still refused: not row-aligned
    let err = expect_err(process(&runtime, MANY_ROWS, "many-rows", "", 10));
    assert!(
        matches!(err, RuntimeError::BadOutput { .. }) && err.to_string().contains("row-aligned"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn wrong_row_count() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        WRONG_ROW_COUNT,
        "wrong-row-count",
        "",
        10,
    ));
    assert!(matches!(err, RuntimeError::BadOutput { .. }), "{err}");
    assert!(
        err.to_string().contains("wrong-row-count")
            && err
                .to_string()
                .contains("returned 9 rows for a 10-row chunk"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn wrong_column_type() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        WRONG_COLUMN_TYPE,
        "wrong-column-type",
        "",
        4,
    ));
    assert!(
        err.to_string().contains("wrong-column-type")
            && err
                .to_string()
                .contains("column `out` is float64, declared text"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn undeclared_column() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        UNDECLARED_COLUMN,
        "undeclared-column",
        "",
        4,
    ));
    assert!(
        err.to_string().contains("undeclared-column")
            && err.to_string().contains("`sneaky`")
            && err.to_string().contains("did not declare"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn writing_a_declared_but_ungranted_column_is_refused_before_running() {
    let runtime = runtime();
    let plugin = runtime
        .load_file(
            Path::new(UNDECLARED_COLUMN),
            Some("undeclared-column"),
            &policy(
                "[plugin.undeclared-column]\nread = [\"text\"]\n",
                Path::new("."),
            ),
        )
        .unwrap();
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("undeclared-column")
            && err.contains("writes column `out`")
            && err.contains("write = []"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn bad_offsets() {
    let runtime = runtime();
    let err = expect_err(process(&runtime, BAD_OFFSETS, "bad-offsets", "", 4));
    assert!(matches!(err, RuntimeError::BadOutput { .. }), "{err}");
    assert!(
        err.to_string().contains("bad-offsets") && err.to_string().contains("column `out`"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn panic_mid_chunk() {
    let runtime = runtime();
    let plugin = load(&runtime, PANIC_MID_CHUNK, "panic-mid-chunk", "").unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let mut session = plugin.session(&params, &effective, None).unwrap();
    let err = session
        .process(text_chunk("text", &["a", "b", "c", "d"]))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Trap { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("panic-mid-chunk") && message.contains("boom at row 2"),
        "the guest's panic message is captured: {message}"
    );
    // the trapped session is never used again
    let again = session.process(text_chunk("text", &["a"])).unwrap_err();
    assert!(matches!(again, RuntimeError::Poisoned { .. }), "{again}");
    assert_host_still_works(&runtime);
}

#[test]
fn column_snoop() {
    let runtime = runtime();
    // `secret` is declared (optional) but not granted: the step never sees
    // it, nor the undeclared `password`, and asking for `secret` errors
    let mut input = text_chunk("text", &["hi", "there"]);
    for name in ["secret", "password"] {
        let extra = text_chunk(name, &["s3cr3t", "hunter2"]);
        input.columns.extend(extra.columns);
    }
    let plugin = load(&runtime, COLUMN_SNOOP, "column-snoop", "").unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    assert_eq!(effective.withheld, vec!["secret".to_string()]);
    let mut session = plugin.session(&params, &effective, None).unwrap();
    let err = session.process(input.clone()).unwrap_err();
    assert!(matches!(err, RuntimeError::Step { .. }), "{err}");
    assert!(
        err.to_string().contains("column-snoop")
            && err
                .to_string()
                .contains("column `secret` is not in the input chunk"),
        "{err}"
    );

    // granted: it sees exactly text and secret, never password
    let granted = policy(
        "[plugin.column-snoop]\nread = [\"text\", \"secret\", \"password\"]\nwrite = [\"out\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load_file(Path::new(COLUMN_SNOOP), Some("column-snoop"), &granted)
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(texts(&out, "out")[0].as_deref(), Some("text,secret"));
    assert_host_still_works(&runtime);
}

#[test]
fn env_snoop() {
    let runtime = runtime();
    let out = process(&runtime, ENV_SNOOP, "env-snoop", "", 1).unwrap();
    assert_eq!(
        texts(&out, "out")[0].as_deref(),
        Some("vars=[] args=[]"),
        "no host environment leaks"
    );
    let out = process(
        &runtime,
        ENV_SNOOP,
        "env-snoop",
        "env = { LANG = \"C\" }\n",
        1,
    )
    .unwrap();
    assert_eq!(
        texts(&out, "out")[0].as_deref(),
        Some("vars=[LANG=C] args=[]"),
        "only granted variables"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn fs_escape() {
    let runtime = runtime();
    // without a directory grant there is no preopen: every path is denied
    let out = process(&runtime, FS_ESCAPE, "fs-escape", "", 1).unwrap();
    let report = texts(&out, "out")[0].clone().unwrap();
    assert!(report.lines().all(|l| l.contains("denied")), "{report}");

    // with a read-only grant: every escape and every write is denied
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("inside.txt"), "granted").unwrap();
    std::fs::write(root.path().join("outside.txt"), "host secret").unwrap();
    std::os::unix::fs::symlink(
        root.path().join("outside.txt"),
        data.join("link-to-outside"),
    )
    .unwrap();
    let grant = format!(
        "[plugin.fs-escape]\n{TEXT_POLICY}dirs = [{{ host = \"{}\", guest = \"/data\", mode = \"ro\" }}]\n",
        data.display()
    );
    let plugin = runtime
        .load_file(
            Path::new(FS_ESCAPE),
            Some("fs-escape"),
            &policy(&grant, root.path()),
        )
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["x"]))
        .unwrap();
    let report = texts(&out, "out")[0].clone().unwrap();
    for line in report.lines() {
        if line.starts_with("read granted") {
            assert!(line.contains("ok \"granted\""), "{report}");
        } else {
            assert!(
                line.contains("denied"),
                "escape or write not denied: {line}\n{report}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(data.join("inside.txt")).unwrap(),
        "granted"
    );
    let mut left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["inside.txt", "link-to-outside"],
        "nothing created, renamed or removed"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn network() {
    let runtime = runtime();
    let err = expect_err(load(&runtime, NETWORK, "network", ""));
    assert!(matches!(err, RuntimeError::ImportsRefused { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("network")
            && message.contains("wasi:sockets/")
            && message.contains("network access is never granted"),
        "{message}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn future_contract() {
    let runtime = runtime();
    let err = expect_err(load(&runtime, FUTURE_CONTRACT, "future-contract", ""));
    assert!(
        matches!(err, RuntimeError::UnsupportedVersion { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("future-contract")
            && err.to_string().contains("1.0.0")
            && err.to_string().contains("0.1.x"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn tampered_bytes_under_a_pinned_name_are_refused_before_compiling() {
    let runtime = runtime();
    let genuine = sluice_stdlib::get("clean-text").unwrap().bytes;
    let digest = sluice_core::Digest::of(genuine);
    let pinned = policy(
        &format!(
            "[plugin.clean-text]\ndigest = \"{digest}\"\nread = [\"text\"]\nwrite = [\"text_clean\"]\n"
        ),
        Path::new("."),
    );
    runtime
        .load(genuine, Some("clean-text"), &pinned)
        .expect("the pinned bytes load");
    // one flipped byte near the end (inside a custom section or code)
    let mut tampered = genuine.to_vec();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x55;
    let err = expect_err(runtime.load(&tampered, Some("clean-text"), &pinned));
    let message = err.to_string();
    assert!(
        message.contains("clean-text")
            && message.contains("refused before compiling")
            && message.contains(&digest.to_string()),
        "{message}"
    );
    // the step's own name is pinned too, even when loaded under another name
    let err = expect_err(runtime.load(&tampered, Some("innocent-name"), &pinned));
    assert!(err.to_string().contains("pins `clean-text`"), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn malformed_binary_is_refused_with_its_name() {
    let runtime = runtime();
    let err = expect_err(runtime.load(
        b"\0asm\x0d\0\x01\0garbage that is not a component",
        Some("garbage"),
        &Policy::deny_all(),
    ));
    assert!(matches!(err, RuntimeError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("garbage")
            && err
                .to_string()
                .contains("not a valid WebAssembly component"),
        "{err}"
    );
    let err = expect_err(runtime.load(&[0u8; 64], Some("zeros"), &Policy::deny_all()));
    assert!(matches!(err, RuntimeError::Invalid { .. }), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn oversized_plugin_is_refused_before_hashing() {
    let runtime = Runtime::new(sluice_runtime::RuntimeConfig {
        max_plugin_bytes: 1024,
        ..Default::default()
    })
    .unwrap();
    let err = expect_err(runtime.load(&vec![0u8; 4096], Some("huge"), &Policy::deny_all()));
    assert!(
        matches!(err, RuntimeError::TooLarge { .. }) && err.to_string().contains("huge"),
        "{err}"
    );
}

// ---- what a guest can make the host keep, and what reaches people --------

/// As [`process`], also returning what the session kept and its stats
/// (read after the call, whether it succeeded or not).
fn process_keeping_output(
    runtime: &Runtime,
    path: &str,
    name: &str,
    extra: &str,
    rows: usize,
) -> (
    Result<sluice_core::Chunk, RuntimeError>,
    GuestOutput,
    SessionStats,
) {
    let plugin = load(runtime, path, name, extra).expect("loads");
    let (params, effective) = plugin.effective_grant(&[]).expect("grant");
    let mut session = plugin.session(&params, &effective, None).expect("session");
    let input: Vec<String> = (0..rows).map(|i| format!("message {i}")).collect();
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let result = session.process(text_chunk("text", &input));
    (result, session.output(), session.stats().clone())
}

/// What the host keeps for `output`, measured from what it holds: text
/// plus the per-entry overhead of each log line and metric.
fn held_bytes(output: &GuestOutput) -> usize {
    let lines: usize = output
        .log
        .iter()
        .map(|l| l.message.len() + ENTRY_OVERHEAD)
        .sum();
    let metrics: usize = (output.metrics.iter())
        .map(|(n, _)| n.len() + ENTRY_OVERHEAD)
        .sum();
    lines + metrics + output.stdout.len() + output.stderr.len()
}

#[test]
fn log_flood() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, LOG_FLOOD, "log-flood", "log = \"64KiB\"\n", 3);
    result.expect("a chatty plugin is not failed for it");
    // 200,000 empty lines: each costs its overhead, so the bound fills
    let kept = (64 << 10) / ENTRY_OVERHEAD;
    assert_eq!(output.log.len(), kept);
    assert!(held_bytes(&output) <= 64 << 10);
    assert_eq!(output.charged as usize, held_bytes(&output));
    assert_eq!(output.dropped.log_lines, (200_000 - kept) as u64);
    assert_eq!(stats.log_dropped, (200_000 - kept) as u64);
    assert_host_still_works(&runtime);
}

#[test]
fn metric_flood() {
    let runtime = runtime();
    let (result, output, stats) = process_keeping_output(
        &runtime,
        METRIC_FLOOD,
        "metric-flood",
        "log = \"64KiB\"\n",
        3,
    );
    result.expect("a plugin recording too much is not failed for it");
    // names of 1 MiB are never kept; short names until the bound is full
    assert!(
        output
            .metrics
            .iter()
            .all(|(n, _)| n.starts_with("short_name_"))
    );
    assert!(held_bytes(&output) <= 64 << 10);
    assert_eq!(output.charged as usize, held_bytes(&output));
    assert!(output.metrics.len() > 500, "{}", output.metrics.len());
    assert_eq!(
        output.metrics.len() as u64 + output.dropped.metrics,
        64 + 5_000
    );
    assert_eq!(stats.log_dropped, output.dropped.metrics);
    assert_host_still_works(&runtime);
}

#[test]
fn stdio_flood() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, STDIO_FLOOD, "stdio-flood", "log = \"1MiB\"\n", 3);
    // 4 MiB to each stream: kept up to one shared bound, the rest counted,
    // and the guest runs on (it used to trap past its own stream's bound)
    result.expect("writing past the bound is not a trap");
    assert_eq!(output.log[0].message, "before the flood");
    assert!(!output.stdout.is_empty() && !output.stderr.is_empty());
    assert!(held_bytes(&output) <= 1 << 20, "{}", held_bytes(&output));
    assert_eq!(
        held_bytes(&output),
        1 << 20,
        "the bound is used, not exceeded"
    );
    let written = 2 * 4096 * 1024;
    let dropped = output.dropped.stdout_bytes + output.dropped.stderr_bytes;
    assert_eq!(
        (output.stdout.len() + output.stderr.len()) as u64 + dropped,
        written
    );
    assert_eq!(stats.stdio_dropped, dropped);
    assert_host_still_works(&runtime);
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.contains(['\x1b', '\u{9b}', '\x07', '\r']),
        "{what} carries raw control characters: {:?}",
        &text[..text.len().min(200)]
    );
}

#[test]
fn escape_injection() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, ESCAPE_INJECTION, "escape-injection", "", 3);
    let err = expect_err(result);
    assert!(matches!(err, RuntimeError::Step { .. }), "{err}");
    let message = err.to_string();
    // a 16 MiB failure is cut to the message bound, with a note
    assert!(message.len() <= 4096 + 200, "{}", message.len());
    assert!(message.contains("escape-injection") && message.contains("MiB more cut]"));
    assert!(message.contains("\\x1b[2J\\x1b]0;pwned\\x07"), "{message}");
    assert_no_raw_controls("the error", &message);
    // the log line is one line, escaped; the metric name too
    assert_eq!(output.log.len(), 1);
    assert!(
        output.log[0].message.contains("\\x1b[2J") && output.log[0].message.contains("\\nFAKE")
    );
    assert_no_raw_controls("the log", &output.log[0].message);
    assert_no_raw_controls("the metric name", &output.metrics[0].0);
    // a failed call still reports what it used
    assert!(stats.peak_memory >= 16 << 20, "{stats:?}");
    assert_host_still_works(&runtime);
}

/// The same plugin in a pipeline: what is stored with the failed step and
/// the run, and what the report shows, is bounded and escaped; the step
/// records the CPU and memory it used before it failed, and its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_injection_in_a_pipeline_is_stored_bounded_and_escaped() {
    use sluice_store::{StepLogKind, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // referred to by its policy name, whose entry says where the bytes are
    let policy = format!("[plugin.escape-injection]\npath = \"{ESCAPE_INJECTION}\"\n{TEXT_POLICY}");
    std::fs::write(path("policy.toml"), policy).unwrap();
    std::fs::write(path("messages.csv"), "text\nhello\nworld\n").unwrap();
    let pipeline = format!(
        "[pipeline]\nname = \"hostile\"\npolicy = \"policy.toml\"\n\
         [source.messages]\npath = \"messages.csv\"\n\
         [step.inject]\nplugin = \"escape-injection\"\ninput = \"messages\"\n"
    );
    std::fs::write(path("pipeline.toml"), pipeline).unwrap();
    let home = path(".sluice");
    let runtime = runtime();
    let loaded = sluice_pipeline::Pipeline::load(&path("pipeline.toml")).unwrap();
    let plan = std::sync::Arc::new(sluice_pipeline::plan(loaded, &runtime, &home).unwrap());
    let store = Store::open_default(&home).await.unwrap();
    let summary = sluice_pipeline::execute(
        plan,
        &store,
        &home,
        &Default::default(),
        std::sync::Arc::new(sluice_pipeline::Quiet),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let step = &summary.steps[0];
    assert_eq!(step.status, sluice_store::StepStatus::Failed);
    assert_no_raw_controls("the summary's error", step.error.as_deref().unwrap());

    let run = store.run(summary.run_id).await.unwrap().unwrap();
    let step_run = &store.step_runs(summary.run_id).await.unwrap()[0];
    for (what, error) in [
        ("the run's error", &run.error),
        ("the step's error", &step_run.error),
    ] {
        let error = error.as_deref().unwrap();
        assert!(
            error.len() <= sluice_core::text::MESSAGE_LIMIT,
            "{what}: {}",
            error.len()
        );
        assert_no_raw_controls(what, error);
    }
    // item: failed steps recorded 0 CPU and 0 memory
    assert!(step_run.peak_memory.unwrap() >= 16 << 20, "{step_run:?}");
    assert!(
        step_run.cpu_ms.is_some() && step.stats.calls >= 2,
        "{step_run:?}"
    );

    let logs = store.step_logs(summary.run_id).await.unwrap();
    let kinds: Vec<StepLogKind> = logs.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            StepLogKind::Log,
            StepLogKind::Metric,
            StepLogKind::Stdout,
            StepLogKind::Stderr
        ]
    );
    for log in &logs {
        assert_no_raw_controls("a stored log row", &log.message);
        assert!(log.message.contains("\\x1b]0;pwned\\x07"), "{log:?}");
    }
    let report = sluice_report::collect::collect(&store, summary.run_id)
        .await
        .unwrap()
        .unwrap();
    let html = sluice_report::render_html(&report).unwrap();
    assert!(html.contains("id=\"logs\""));
    assert_no_raw_controls("the report", &html);
    store.close().await;
}
